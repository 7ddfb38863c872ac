"""``bench status``: the progress of a run, from the ``status.json`` it keeps in its folder."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench status                                  # the run under ./results that wrote last
  bench status 20261207-101500                  # a run by id
  bench status /shared/ecg/results/all/run-3    # a run folder on shared storage
  bench status --json RUN                       # the counts as JSON
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="print the progress of a run (also while it runs)", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", nargs="?", help="run folder or run id (default: the run that wrote its status last)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--json", action="store_true", help="print status.json as it is")
    p.set_defaults(func=run)


def find_run(results_dir: Path, run: str | None) -> Path:
    """The folder of ``run`` (a path or a run id under ``results_dir``), or the latest with a status."""
    from ecgharness.leaderboard.store import STATUS_FILE

    if run is None:
        found = sorted(results_dir.glob(f"*/*/{STATUS_FILE}"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise FileNotFoundError(f"no run with a {STATUS_FILE} under {results_dir}; "
                                    "pass the run folder or use --results-dir")
        return found[-1].parent
    for candidate in (Path(run), results_dir / run, *results_dir.glob(f"*/{run}")):
        if (candidate / STATUS_FILE).exists():
            return candidate
    raise FileNotFoundError(f"run {run!r}: no {STATUS_FILE} in {run} nor under {results_dir}/*/{run} "
                            "(has its search started? is --results-dir right?)")


def run(args: argparse.Namespace) -> int:
    import json

    from ecgharness.benchmark.progress import SuiteProgress
    from ecgharness.leaderboard.store import read_status

    folder = find_run(args.results_dir, args.run)
    data = read_status(folder)
    if args.json:
        print(json.dumps(data, indent=1))
        return 0
    status = SuiteProgress.from_dict(data)
    print(f"run {status.suite}/{status.run_id} ({folder})")
    print(status.line())
    for p in status.pairs:
        best = "" if p.best_score is None else f"  best val {p.best_score:.4f}"
        cut = f"  (search cut: {p.budget_cut})" if p.budget_cut else ""
        print(f"  {p.pair:<32} {p.state:<9} trials {p.trials_done}/{p.trials_total}  "
              f"final {p.finals_done}/{p.finals_total}{best}{cut}")
    hint = resume_hint(status, folder)
    if hint:
        print(hint)
    return 0


STALE_S = 120.0  # a running run rewrites its status every few seconds at most


def resume_hint(status, folder: Path, now: float | None = None) -> str:
    """How to go on with a run that stopped, or that says it runs but has not written for long
    (its driver was killed, or its cluster went away)."""
    import time

    resume = f"go on with: bench run --resume {folder.resolve()}"
    if status.state == "stopped":
        return f"the run was stopped; {resume}"
    quiet = (now or time.time()) - status.updated
    if status.state == "running" and quiet > STALE_S:
        return (f"no update for {quiet / 60:.0f} min: if the run's process is gone (killed, or its cluster went "
                f"away), {resume}")
    return ""
