"""Layer 5, analysis: compatibility modes and rules, versions, evolution
metrics. Pure over the model; reads logs through the log layer.
"""
