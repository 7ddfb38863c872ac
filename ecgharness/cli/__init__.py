"""The ``bench`` command line. Heavy imports live inside each command, so ``--help`` is instant."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ecgharness.cli import app, data, export, leaderboard, listing, predict, report, run, status

COMMANDS = {"run": run, "leaderboard": leaderboard, "report": report, "list": listing, "data": data,
            "status": status, "export": export, "predict": predict, "app": app}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench",
        description="Hyperparameter search and benchmarking of ECG classifiers with Ray Tune.",
        epilog="examples:\n  bench run                       # quick suite on the embedded sample\n"
               "  bench leaderboard               # rankings of the latest run\n"
               "  bench report                    # tables, plots and statistics of the latest run\n"
               "  bench status                    # progress of the latest run, also while it runs\n"
               "  bench data info                 # datasets present, prepared, quarantined\n"
               "  bench export --model cnn_lstm   # ONNX + model card of a kept model of the latest run\n"
               "  bench list models",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--log-level", default="WARNING", help="Python logging level (default WARNING)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # as given (bench run --address re-runs it)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if not args.command:
        parser.print_help()
        return 0
    from ecgharness.errors import ConfigError, DataNotFoundError

    try:
        return int(args.func(args) or 0)
    except (ConfigError, DataNotFoundError, FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
