"""The floor: event and topic names, ``Event``, ``Message``, argument checks and exceptions.

Plain data and pure functions: nothing here starts a task or imports another part of mtbus.
"""
