"""Layer 1, the model: events and their parts, the hybrid logical clock, names,
Kuzu types, the schema state and its apply, the persistent map. Pure: no
I/O, no clock reads, imports only ``schemalog.errors``.
"""
