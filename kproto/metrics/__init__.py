"""Metrics and statistics in NumPy: calibration, conformal prediction, ranking and sequence metrics."""
