"""The only metric code: per-class tables, headline metrics, the flat summary of a run,
multi-label thresholds, bootstrap intervals and paired tests, confidence and calibration, and the published
reference numbers the report prints beside ours.

No Ray, no torch: every function takes labels and scores as NumPy arrays.
"""
