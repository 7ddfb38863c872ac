"""``bench report``: a literature-style report folder from stored runs."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench report                                   # latest run -> <run folder>/report/
  bench report --run 20261122-101500 --out paper/
  bench report --run results/all/part-a --run results/all/part-b --out merged/   # one suite run in parts
  bench report --bootstrap 2000 --bootstrap-seed 1
  bench report --wandb --wandb-project ecg                # plots as images in a W&B run
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write report.md/.html, tables.tex, CSVs and plots of stored runs",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", action="append", help="run id or folder; repeat to merge runs (default: the latest)")
    p.add_argument("--suite", help="latest run of this suite")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--out", type=Path, help="report folder (default: report/ inside the (last) run folder)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the test set (default 1000)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the resamples (default 0)")
    p.add_argument("--wandb", action="store_true",
                   help="also log the report's plots to Weights & Biases (offline without an API key)")
    p.add_argument("--wandb-project", default="ecgharness", help="W&B project (default ecgharness)")
    p.add_argument("--wandb-entity", help="W&B entity (team or user)")
    p.set_defaults(func=run)


def load_runs(args: argparse.Namespace):
    """The run(s) named on the command line, merged into one."""
    from ecgharness.leaderboard.store import merge_runs, read_run, resolve_run

    names = args.run or [None]
    try:
        return merge_runs([read_run(resolve_run(args.results_dir, name, args.suite)) for name in names])
    except ValueError as exc:
        from ecgharness.errors import ConfigError

        raise ConfigError(str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    from ecgharness.reports.writer import write_report

    from ecgharness.errors import ConfigError

    if args.bootstrap < 100:
        raise ConfigError(f"--bootstrap {args.bootstrap}: use at least 100 resamples (1000 is the default)")
    if args.bootstrap_seed < 0:
        raise ConfigError(f"--bootstrap-seed {args.bootstrap_seed}: use a seed of 0 or more")
    results = load_runs(args)
    out = args.out or results.path / "report"
    try:
        report = write_report(results, out, n_resamples=args.bootstrap, seed=args.bootstrap_seed)
    except ValueError as exc:  # no final results, test sets that differ between models, ...
        raise ConfigError(f"cannot report {results.label}: {exc}") from exc
    print(f"report of {results.label}: {len(report.datasets)} dataset(s)")
    for name, ds in report.datasets.items():
        print(f"  {name}: leader {ds.leader}, {len(ds.ranking)} model(s), {len(report.plots[name])} plot(s)")
    print(f"wrote {out}/report.md, report.html, tables.tex, CSVs and plots/")
    if args.wandb:
        from ecgharness.tracking.wandb import log_report_images

        log_report_images(out, project=args.wandb_project, entity=args.wandb_entity,
                          group=str(results.suite.get("name", "report")),
                          images=[p for plots in report.plots.values() for p in plots.values()])
    return 0
