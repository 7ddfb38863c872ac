"""Shared fixtures: isolated cache, the real-data root when available."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own prepared-array cache, never the user's."""
    monkeypatch.setenv("ECGHARNESS_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The folder with the full real datasets (``$ECGHARNESS_DATA``), or skip."""
    env = os.environ.get("ECGHARNESS_DATA")
    if not env or not (Path(env) / "mitdb" / "100.hea").exists():
        pytest.skip("ECGHARNESS_DATA is not set to a folder holding mitdb/ (the full MIT-BIH database); "
                    "set it to run the real-data tests")
    return Path(env)


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    from ecgharness.datasets.mitbih import sample_root

    return sample_root()


@pytest.fixture(scope="session")
def kept_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run folder whose final runs kept their weights (see tests/kept_run.py), made once."""
    from kept_run import write_kept_run

    return write_kept_run(tmp_path_factory.mktemp("results") / "kept" / "k1")
