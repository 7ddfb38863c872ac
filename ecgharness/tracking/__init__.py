"""Observers of a run (:class:`ecgharness.benchmark.observers.RunObserver`): the console
(:mod:`~ecgharness.tracking.console`) and Weights & Biases (:mod:`~ecgharness.tracking.wandb`).
The command line decides which ones a run gets; the runner never imports this package.
"""
