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
  bench report --low-confidence 0.8                      # error analysis: "low confidence" is below 0.8
  bench report --robustness                              # + the leader on noisy test signals, 24..0 dB SNR
  bench report --robustness --robustness-models all --noise-seed 1 --data-root ~/ecg-data
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
    p.add_argument("--low-confidence", type=float, default=0.6,
                   help="error analysis: decisions below this confidence are low-confidence (default 0.6)")
    p.add_argument("--data-root", help="data root of the run's datasets, to reload test signals for the gallery and "
                                       "the robustness test (default $ECGHARNESS_DATA or ./data)")
    p.add_argument("--cache-dir", help="prepared-array cache (default $ECGHARNESS_CACHE or ~/.cache/ecgharness)")
    p.add_argument("--robustness", action="store_true",
                   help="score models on the test split with added baseline wander, muscle artefact, electrode "
                        "motion and powerline noise at 24, 18, 12, 6 and 0 dB SNR (uses the run's kept weights)")
    p.add_argument("--robustness-models", choices=("leader", "all"), default="leader",
                   help="which models the robustness test scores (default: each dataset's leader)")
    p.add_argument("--noise-seed", type=int, default=0, help="seed of the added noise, the same for every model")
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
    from ecgharness.reports.writer import ReportOptions, write_report

    from ecgharness.errors import ConfigError

    if args.bootstrap < 100:
        raise ConfigError(f"--bootstrap {args.bootstrap}: use at least 100 resamples (1000 is the default)")
    if args.bootstrap_seed < 0:
        raise ConfigError(f"--bootstrap-seed {args.bootstrap_seed}: use a seed of 0 or more")
    if not 0 < args.low_confidence <= 1:
        raise ConfigError(f"--low-confidence {args.low_confidence}: give a probability in (0, 1], say 0.6")
    options = ReportOptions(low_confidence=args.low_confidence, data_root=args.data_root, cache_dir=args.cache_dir,
                            robustness=args.robustness, robustness_models=args.robustness_models,
                            noise_seed=args.noise_seed)
    results = load_runs(args)
    out = args.out or results.path / "report"
    try:
        report = write_report(results, out, n_resamples=args.bootstrap, seed=args.bootstrap_seed, options=options)
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
