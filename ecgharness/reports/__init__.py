"""`bench report`: every metric recomputed from the stored test predictions, with uncertainty.

:mod:`~ecgharness.reports.metrics` holds the per-class metric table and the headline
metrics, :mod:`~ecgharness.reports.bootstrap` the seeded bootstrap intervals and the paired
bootstrap test.
"""
