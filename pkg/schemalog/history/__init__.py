"""Layer 3, history: causal order and cycles, merge and its conflicts,
duplicate creations, replicas. Pure; imports model and encoding.
"""
