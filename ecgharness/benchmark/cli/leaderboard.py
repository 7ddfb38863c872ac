"""``bench leaderboard``: rankings of a stored run."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench leaderboard                          # latest run under ./results
  bench leaderboard --run 20261122-101500    # a run by id (or a path to its folder)
  bench leaderboard --suite mitbih --format markdown
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="print the rankings of a stored run", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="run id or run folder (default: the latest)")
    p.add_argument("--suite", help="latest run of this suite")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--format", choices=("table", "markdown", "csv"), default="table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ecgharness.leaderboard import read_run, render_leaderboard, resolve_run

    path = resolve_run(args.results_dir, args.run, args.suite)
    print(render_leaderboard(read_run(path), args.format))
    return 0
