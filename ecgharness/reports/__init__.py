"""`bench report`: literature-style tables, plots and the report files of stored runs.

The numbers come from :mod:`ecgharness.evaluation` (metrics, bootstrap) through
:mod:`ecgharness.leaderboard.statistics`; this package only lays them out
(:mod:`~ecgharness.reports.tables`), draws them (:mod:`~ecgharness.reports.plots`), analyses the
leader's errors (:mod:`~ecgharness.reports.errors`), scores kept models on noisy test signals
(:mod:`~ecgharness.reports.robustness`) and
writes the report folder (:mod:`~ecgharness.reports.writer`, with the table renderers of
:mod:`ecgharness.rendering`).
"""
