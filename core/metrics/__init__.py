"""Metrics of a set of predictions: classification metrics with intervals, calibration."""
