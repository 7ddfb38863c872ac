"""ecgharness: hyperparameter search and benchmarking of ECG classifiers with Ray Tune."""

__version__ = "0.1.0"
