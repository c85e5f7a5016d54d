"""The ``mtbus`` command: the demo, and ``listen``/``publish`` over Redis. The top floor."""
