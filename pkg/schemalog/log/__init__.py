"""Layer 4, the log: the event store port and adapters, the lease port and
adapters, replay (stages), snapshots, tracing, concurrent writes. Imports
model, encoding and history.
"""
