"""``bench list``: what is registered."""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  bench list models
  bench list models --details
  bench list datasets
  bench list suites
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list registered models, datasets or suites", epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("models", "datasets", "suites"))
    p.add_argument("--details", action="store_true",
                   help="models: parameter counts (5 classes, 1 and 12 leads, default hyperparameters) and inputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.what == "models":
        from ecgmodels import list_models, model_info

        if args.details:
            _model_details()
            return 0
        for name in list_models():
            info = model_info(name)
            print(f"{name:<22} {info.input_kind.value:<13} {info.doc}")
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


def _model_details() -> None:
    """Parameter counts at default hyperparameters and the input each model takes."""
    from ecgmodels import InputKind, create_model, list_models, model_info

    print(f"{'model':<22} {'input':<34} {'params (1 lead)':>16} {'params (12 leads)':>18}  hyperparameters")
    for name in list_models():
        info = model_info(name)
        counts = []
        for leads in (1, 12):
            model = create_model(name, num_classes=5, in_channels=leads)
            counts.append(sum(p.numel() for p in model.parameters()))
        described = info.input_kind.value
        if info.input_kind in (InputKind.IMAGE, InputKind.SIGNAL_IMAGE):
            described += f" ({'+'.join(model.image_kinds)} {model.image_size}x{model.image_size} per lead)"
        elif info.input_kind == InputKind.SIGNAL_META:
            described += " (13 metadata features)"
        print(f"{name:<22} {described:<34} {counts[0]:>16,} {counts[1]:>18,}  {', '.join(info.hyperparameters)}")
