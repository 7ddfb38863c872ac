"""`bench report`: literature-style tables, plots and the report files of stored runs.

The numbers come from :mod:`ecgharness.evaluation` (metrics, bootstrap) through
:mod:`ecgharness.leaderboard.statistics`; this package only lays them out
(:mod:`~ecgharness.reports.tables`), draws them (:mod:`~ecgharness.reports.plots`) and
writes Markdown, HTML and LaTeX (:mod:`~ecgharness.reports.render`,
:mod:`~ecgharness.reports.writer`).
"""
