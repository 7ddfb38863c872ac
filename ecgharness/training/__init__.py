"""One model x one dataset x one seed, without Ray.

:mod:`~ecgharness.training.config` holds the loop's options and which of them a search
space may tune, :mod:`~ecgharness.training.loop` the loop itself,
:mod:`~ecgharness.training.techniques` losses, sampling, augmentation and schedules,
:mod:`~ecgharness.training.noise` realistic ECG noise at a given SNR (augmentation and the
report's robustness test), and
:mod:`~ecgharness.training.inputs` how a model's declared input is built from a batch and
which datasets a model can take.
"""
