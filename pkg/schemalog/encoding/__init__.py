"""Layer 2, encoding: canonical JSON (RFC 8785), checksums, stored records and
the hash chain, and the decoding fast paths that prove validity by shape.
Pure; imports the model.
"""
