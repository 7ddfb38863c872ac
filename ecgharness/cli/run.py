"""``bench run``: search, final evaluation and a leaderboard for one suite."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ecgharness.cli.supervise import DRIVER_ENV

EXAMPLES = """examples:
  bench run                                         # quick suite, embedded sample, offline
  bench run --suite mitbih --data-root ~/ecg-data   # full MIT-BIH, inter-patient
  bench run --models cnn_lstm --num-samples 8 --max-epochs 10
  bench run --suite my_suite.yaml --address auto --gpus-per-trial 0.25
  bench run --suite ptbxl --address auto --workers-per-trial 4 --gpus-per-trial 1   # DDP on 4 GPUs per trial
  bench run --suite ptbxl --data-root ~/ecg-data --num-samples 2 --max-epochs 2
  bench run --suite all --time-budget 7200         # search two hours at most, then final evaluation
  bench run --wandb --wandb-project ecg --wandb-entity my-team   # also log to Weights & Biases
  bench run --resume results/quick/20261207-101500  # go on with a run that was stopped, killed or lost its cluster
"""


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run a benchmark suite", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="quick", help="packaged suite name or path to a suite YAML (default quick)")
    p.add_argument("--models", type=_csv, help="comma-separated model names, or 'all'")
    p.add_argument("--datasets", type=_csv, help="comma-separated dataset names")
    p.add_argument("--num-samples", type=int, help="trials per (dataset, model) pair")
    p.add_argument("--max-epochs", type=int, help="epoch budget of each trial")
    p.add_argument("--seeds", type=lambda s: [int(x) for x in _csv(s)], help="final-evaluation seeds, e.g. 0,1,2")
    p.add_argument("--cpus-per-trial", type=float, help="CPUs per trial")
    p.add_argument("--gpus-per-trial", type=float, help="GPUs per trial; fractions pack trials on one GPU")
    p.add_argument("--workers-per-trial", type=int, metavar="N",
                   help="processes training each trial together (DDP with Ray Train; each takes --cpus-per-trial "
                        "CPUs and --gpus-per-trial GPUs unless the suite sets cpus_per_worker / gpus_per_worker)")
    p.add_argument("--max-concurrent", type=int, help="trials running at once per pair")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="seconds the whole suite may search; then running trials finish their epoch and each "
                        "pair's best trial so far goes to final evaluation (per pair: search.time_budget_s)")
    p.add_argument("--address", help="Ray cluster to join ('auto' or ray://host:10001); default: start a new local "
                                     "Ray, never one `ray start` left running")
    p.add_argument("--storage", help="checkpoints and Tune state: a path every node sees, or a URI such as "
                                     "s3://bucket/ecg (default: inside the run folder)")
    p.add_argument("--cluster-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="end the run (resumable) once the Ray cluster's head has not answered for this long "
                        "(default 60)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="go on with the run in RUN_DIR (stopped by Ctrl-C or SIGTERM, killed, or left by a lost "
                        "cluster): finished trials and scored seeds are kept, unfinished trials go on from their "
                        "checkpoints; the suite is the run's own (suite options are refused)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--data-root", help="raw data root (default $ECGHARNESS_DATA or ./data)")
    p.add_argument("--cache-dir", help="prepared-array cache (default $ECGHARNESS_CACHE or ~/.cache/ecgharness)")
    p.add_argument("--run-id", help="name of the run folder (default: a timestamp)")
    p.add_argument("--max-lost-share", type=float,
                   help="largest share of quarantined records a dataset may lose (default: the suite's, 0.05)")
    p.add_argument("--num-cpus", type=int, help="CPUs of a locally started Ray (default: all)")
    p.add_argument("-v", "--verbose", action="store_true", help="print every reported epoch")
    p.add_argument("--wandb", action="store_true",
                   help="log every trial and final run to Weights & Biases (key from WANDB_API_KEY or "
                        "`wandb login`; without one, offline runs in the run folder)")
    p.add_argument("--wandb-project", default="ecgharness", help="W&B project (default ecgharness)")
    p.add_argument("--wandb-entity", help="W&B user or team (default: the key's default entity)")
    p.set_defaults(func=run)


def observers(args: argparse.Namespace) -> list:
    """The console, and W&B with ``--wandb`` (wandb itself is imported only then)."""
    from ecgharness.tracking.console import ConsoleObserver

    console = ConsoleObserver(verbose=args.verbose)
    chosen = [console]
    if args.wandb:
        from ecgharness.tracking.wandb import WandbObserver, WandbOptions

        chosen.append(WandbObserver(WandbOptions(project=args.wandb_project, entity=args.wandb_entity),
                                    out=console.print))
    return chosen


_SUITE_OPTIONS = ("models", "datasets", "num_samples", "max_epochs", "seeds", "cpus_per_trial", "gpus_per_trial",
                  "max_concurrent", "run_id")


def run(args: argparse.Namespace) -> int:
    from ecgharness.benchmark.lifeline import CLUSTER_LOST_EXIT, ClusterLost, RunStopped
    from ecgharness.benchmark.runner import RunOptions, resume_suite, run_suite
    from ecgharness.errors import ConfigError
    from ecgharness.leaderboard import read_run, render_leaderboard

    if args.time_budget is not None and args.time_budget <= 0:
        raise ConfigError(f"--time-budget {args.time_budget:g}: give a positive number of seconds")
    options = RunOptions(
        results_dir=args.results_dir, data_root=args.data_root, cache_dir=args.cache_dir,
        address=args.address, storage=args.storage, run_id=args.run_id, num_cpus=args.num_cpus,
        max_lost_share=args.max_lost_share, time_budget_s=args.time_budget, cluster_timeout_s=args.cluster_timeout,
    )
    if args.cluster_timeout <= 0:
        raise ConfigError(f"--cluster-timeout {args.cluster_timeout:g}: give a positive number of seconds")
    if args.address and not os.environ.get(DRIVER_ENV):  # a cluster may take the driver down with it: watch it
        return _supervised(args)
    try:
        if args.resume is not None:
            given = [f"--{o.replace('_', '-')}" for o in _SUITE_OPTIONS if getattr(args, o) is not None]
            if given or args.suite != "quick":
                raise ConfigError(f"--resume goes on with the run's own suite; drop {', '.join(given) or '--suite'}")
            run_dir = resume_suite(args.resume, options, observers(args))
        else:
            run_dir = run_suite(_suite(args), options, observers(args))
    except RunStopped as stop:
        print(f"\n{stop}", flush=True)
        return 130 if stop.signal_name == "SIGINT" else 143
    except ClusterLost as lost:
        print(f"\nerror: {lost}", flush=True)
        return CLUSTER_LOST_EXIT
    print()
    print(render_leaderboard(read_run(run_dir), "table"))
    print(f"\nresults written to {run_dir}")
    return 0


def _supervised(args: argparse.Namespace) -> int:
    """``bench run --address``: the same command in a watched child process (see :mod:`ecgharness.cli.supervise`)."""
    from datetime import datetime

    from ecgharness.cli.supervise import supervise

    argv = list(args.argv)
    if args.resume is not None:
        run_dir = args.resume.resolve()
    else:
        run_id = args.run_id or datetime.now().strftime("%Y%m%d-%H%M%S")
        argv += [] if args.run_id else ["--run-id", run_id]
        run_dir = (args.results_dir / _suite(args).name / run_id).resolve()
    return supervise(argv, run_dir, args.address)


def _suite(args: argparse.Namespace):
    """The suite of ``--suite`` with the command line's overrides."""
    from ecgharness.benchmark.suite import load_suite, with_overrides

    return with_overrides(
        load_suite(args.suite),
        models=args.models, datasets=args.datasets, num_samples=args.num_samples,
        max_epochs=args.max_epochs, seeds=args.seeds, cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial, max_concurrent_trials=args.max_concurrent,
        workers_per_trial=args.workers_per_trial,
    )
