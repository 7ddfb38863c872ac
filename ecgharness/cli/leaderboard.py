"""``bench leaderboard``: rankings of a stored run."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench leaderboard                          # latest run under ./results
  bench leaderboard --run 20261122-101500    # a run by id (or a path to its folder)
  bench leaderboard --suite mitbih --format markdown
  bench leaderboard --format latex > table.tex
  bench leaderboard --run part-a --run part-b       # merge runs of one suite made in parts
  bench leaderboard --no-ci                         # skip the bootstrap intervals
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="print the rankings of a stored run", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", help="run id or folder; repeat to merge runs (default: the latest)")
    p.add_argument("--suite", help="latest run of this suite")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--format", choices=("table", "markdown", "csv", "latex"), default="table",
                   help="table (default), markdown, csv (all columns) or latex (booktabs)")
    p.add_argument("--no-ci", dest="intervals", action="store_false",
                   help="leave out the 95%% bootstrap intervals and the paired test against #1")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ecgharness.cli.report import load_runs
    from ecgharness.leaderboard import render_leaderboard

    print(render_leaderboard(load_runs(args), args.format, intervals=args.intervals))
    return 0
