"""Which classes a dataset's metrics average over and which confusions are not errors, as
its preparation recorded them (by class name, in the dataset's notes)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence


def scoring_rules(notes: Mapping[str, Any], class_names: Sequence[str]
                  ) -> tuple[tuple[int, ...] | None, tuple[tuple[int, int], ...]]:
    """(scored, forgive) as class indices, from a dataset's notes (``scored_classes``, ``forgive``,
    by class name) as its preparation recorded them."""
    names = list(class_names)
    scored = notes.get("scored_classes")
    forgive = tuple((names.index(t), names.index(p)) for t, p in notes.get("forgive", ()))
    return (None if not scored else tuple(names.index(c) for c in scored)), forgive
