"""Topic pub/sub: :class:`~mtbus.Channel`, its :class:`~mtbus.Subscriber` queues and the
:class:`~mtbus.Publisher` helper. Builds on ``mtbus._core`` and ``mtbus.backends``.
"""
