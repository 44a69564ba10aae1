"""Beam transforms, one folder per stage, in data-flow order.

read/ -> fetch/ -> clean/ -> dedup/ -> entities/ -> lake/

Each folder holds pure functions (the work) and a thin ``PTransform`` that applies them.
"""
