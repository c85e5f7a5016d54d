"""The :class:`~mtbus.EventEmitter`, assembled from one part per job.

``_listener`` and ``_registry`` keep the registrations and their dispatch plans; ``_dispatch``
holds the state every part shares and runs emits; ``_composition``, ``_batching`` and
``_background`` each add one feature on top; ``_event_emitter`` assembles them and owns the
lifecycle. Builds on ``mtbus._core`` only.
"""
