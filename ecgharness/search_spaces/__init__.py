"""YAML search spaces per model family and their compiler to Ray Tune / Optuna.

Grammar of one entry (STYLE.md)::

    lr: {loguniform: [1.0e-4, 1.0e-2]}
    batch_size: {choice: [64, 128, 256]}
    dropout: {uniform: [0.1, 0.5]}
    res_blocks: {randint: [2, 4]}      # inclusive bounds
    heads: 4                            # a plain value is fixed

Keys are training hyperparameters (``lr``, ``batch_size``, ``weight_decay``) or
hyperparameters of the model's builder; anything else is an error.
"""

from ecgharness.search_spaces.compiler import (
    TRAINING_KEYS,
    Param,
    SearchSpace,
    load_search_space,
    parse_space,
    search_space_files,
    space_for,
)

__all__ = ["TRAINING_KEYS", "Param", "SearchSpace", "load_search_space", "parse_space", "search_space_files", "space_for"]
