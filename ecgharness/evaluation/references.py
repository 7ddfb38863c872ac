"""Published reference numbers (``references.yaml``) and the protocol each applies to.

Each entry names its paper, the dataset and the dataset configuration it was measured
under (``when``), and its rows; the report prints a row beside ours only when our dataset
was prepared with that configuration.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml


def load_references() -> list[dict[str, Any]]:
    text = resources.files("ecgharness.evaluation").joinpath("references.yaml").read_text()
    return yaml.safe_load(text)


def references_for(dataset: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Published rows that apply to ``dataset`` prepared with ``config``."""
    return [ref for ref in load_references()
            if ref["dataset"] == dataset and all(config.get(k) == v for k, v in ref["when"].items())]
