"""Synthetic logs and replicas for tests, benchmarks and the demo (layer 5:
builds on model and encoding).
"""
