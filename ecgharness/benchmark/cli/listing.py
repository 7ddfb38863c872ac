"""``bench list``: what is registered."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  bench list models
  bench list datasets
  bench list suites
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models, datasets or suites", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("models", "datasets", "suites"))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "models":
        from ecgmodels import list_models, model_info

        for name in list_models():
            info = model_info(name)
            print(f"{name:<20} {info.input_kind.value:<8} {info.doc}")
    elif args.what == "datasets":
        from ecgharness.datasets import DATASETS

        for name in DATASETS:
            spec = DATASETS.get(name)
            print(f"{name:<16} headline {spec.headline:<10} {spec.description}")
    else:
        from ecgharness.benchmark.suite import list_suites, load_suite

        for name in list_suites():
            suite = load_suite(name)
            print(f"{name:<10} {suite.description}")
    return 0
