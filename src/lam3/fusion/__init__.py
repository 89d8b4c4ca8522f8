"""Fusion: pure arithmetic on scored records (merge, strategies, calibration, agreement, intervals, ASR)."""
