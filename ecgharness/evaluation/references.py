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


def _applying(dataset: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    return [ref for ref in load_references()
            if ref["dataset"] == dataset and all(config.get(k) == v for k, v in ref["when"].items())]


def references_for(dataset: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Published rows that apply to ``dataset`` prepared with ``config`` and can sit beside ours."""
    return [ref for ref in _applying(dataset, config) if ref.get("comparable", True)]


def related_for(dataset: str, config: dict[str, Any]) -> list[dict[str, Any]]:
    """Publications on the same task that are not comparable (another dataset, say), with why."""
    return [ref for ref in _applying(dataset, config) if not ref.get("comparable", True)]


def match(ref: dict[str, Any], row: dict[str, Any], ours: set[str], training: dict[str, Any]) -> str:
    """How a published row relates to ours: same architecture and protocol, same architecture
    under another protocol, or neither ("")."""
    model = row.get("same_as")
    if not model or model not in ours:
        return ""
    wanted = ref.get("training", {})
    if all(training.get(k) == v for k, v in wanted.items()):
        return f"same model and protocol as our {model}"
    return f"same model as our {model}, other protocol"
