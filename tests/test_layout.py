"""Who may import whom: the package layering the README's "Code layout" promises, read from
every import statement (module level or inside a function), and the run's observers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ecgharness.benchmark.observers import Observers, RunObserver

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str) -> dict[str, set[str]]:
    """File -> the modules it imports, for every Python file of ``package``."""
    out = {}
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        out[str(path.relative_to(ROOT))] = names
    return out


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{file}: {name}" for file, names in _imports(package).items() for name in sorted(names)
            if any(name == f or name.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("package, forbidden", [
    ("ecgmodels", ("ecgharness",)),
    ("ecgharness.benchmark", ("wandb", "ecgharness.tracking", "ecgharness.cli", "ecgharness.reports")),
    ("ecgharness.training", ("ray", "ecgharness.benchmark", "ecgharness.leaderboard", "ecgharness.tracking",
                             "ecgharness.cli", "ecgharness.reports", "ecgharness.search_spaces")),
    ("ecgharness.evaluation", ("torch", "ray", "ecgharness.benchmark", "ecgharness.training",
                               "ecgharness.leaderboard", "ecgharness.reports", "ecgharness.datasets")),
    ("ecgharness.leaderboard", ("ray", "torch", "ecgharness.benchmark", "ecgharness.reports", "ecgharness.tracking")),
    ("ecgharness.datasets", ("ray", "ecgharness.benchmark", "ecgharness.training", "ecgharness.cli")),
    ("ecgharness.inference", ("ray", "streamlit", "ecgharness.benchmark", "ecgharness.tracking", "ecgharness.cli",
                              "ecgharness.app")),
    ("ecgharness.app", ("ray", "ecgharness.benchmark", "ecgharness.tracking", "ecgharness.cli")),
])
def test_layering(package: str, forbidden: tuple[str, ...]) -> None:
    assert _offenders(package, forbidden) == []


def test_the_layering_check_sees_imports_inside_functions(tmp_path, monkeypatch) -> None:
    """The check must be able to fail: a lazy import of the console from benchmark/ is caught."""
    fake = tmp_path / "ecgharness" / "benchmark"
    fake.mkdir(parents=True)
    (fake / "runner.py").write_text("def run():\n    from ecgharness.tracking.console import ConsoleObserver\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    assert _offenders("ecgharness.benchmark", ("ecgharness.tracking",)) == [
        "ecgharness/benchmark/runner.py: ecgharness.tracking.console",
        "ecgharness/benchmark/runner.py: ecgharness.tracking.console.ConsoleObserver"]


class _Recorder(RunObserver):
    def __init__(self, fail: bool = False) -> None:
        self.heard: list[str] = []
        self.fail = fail

    def run_finished(self, run) -> None:
        self.heard.append("run_finished")
        if self.fail:
            raise RuntimeError("observer broke")


def test_every_observer_hears_an_event_even_when_one_fails() -> None:
    broken, healthy = _Recorder(fail=True), _Recorder()
    with pytest.raises(RuntimeError, match="observer broke"):
        Observers([broken, healthy]).run_finished(None)
    assert broken.heard == healthy.heard == ["run_finished"]
    Observers([healthy]).trial_started(None)  # events an observer does not override do nothing
    with pytest.raises(AttributeError, match="not a run event"):
        Observers([healthy]).trial_begun
