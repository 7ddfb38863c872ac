"""Ray orchestration only: a suite (:mod:`~ecgharness.benchmark.suite`) is run by
:func:`~ecgharness.benchmark.runner.run_suite` (prepare -> search -> final -> store), which
reports each step to the run's observers (:mod:`~ecgharness.benchmark.observers`).
Training itself lives in :mod:`ecgharness.training`, metrics in :mod:`ecgharness.evaluation`.
"""
