"""Execution: the per-item loop (and, next, the scheduler and the integration of item branches)."""
