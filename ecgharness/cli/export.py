"""``bench export``: a kept model as ONNX or TorchScript, checked on real test examples, with a model card."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench export --run 20261207-101500 --model cnn_lstm             # ONNX + model card in <run>/export/
  bench export --run results/quick/r1 --model resnet_se --seed 1 --out exported/
  bench export --run r1 --model cnn_lstm --format torchscript
  bench export --model alexnet --data-root /data/ecg              # latest run; datasets outside the package

The exported graph takes signals (batch, leads, samples) prepared as in training (and the
metadata of signal + metadata models) and returns probabilities; image models compute their
GASF/GADF images inside the graph (MTF images need --format torchscript). onnxruntime is
compared with torch on real test examples: the largest absolute difference is printed and
must be <= 1e-4.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a kept model (ONNX or TorchScript) with a model card",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="run id or folder (default: the latest run)")
    p.add_argument("--model", required=True, help="model name as on the leaderboard")
    p.add_argument("--seed", type=int, help="final-run seed (default: the lowest kept)")
    p.add_argument("--dataset", help="dataset, when the run trained the model on several")
    p.add_argument("--format", choices=("onnx", "torchscript"), default="onnx", help="default onnx")
    p.add_argument("--out", type=Path, help="output folder (default: export/ inside the run folder)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--data-root", help="raw data root of the run's dataset (default $ECGHARNESS_DATA or ./data)")
    p.add_argument("--examples", type=int, default=256, help="real test examples for the check (default 256)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil

    import numpy as np

    from ecgharness.datasets import load_dataset
    from ecgharness.errors import ConfigError
    from ecgharness.inference.bundle import load_bundle
    from ecgharness.inference.export import export_onnx, export_torchscript
    from ecgharness.inference.locate import locate
    from ecgharness.inference.model_card import model_card

    if args.examples < 2:
        raise ConfigError(f"--examples {args.examples}: use at least 2 test examples")
    found = locate(args.results_dir, args.run, args.model, args.seed, args.dataset)
    bundle = load_bundle(found.path)
    ds = load_dataset(bundle.dataset, bundle.preprocessing["config"], root=args.data_root)
    test = ds.splits["test"]
    n = min(args.examples, len(test))
    x, meta = np.asarray(test.x[:n]), None if test.meta is None else np.asarray(test.meta[:n])
    stored = found.run.predictions(found.dataset, found.model, found.seed)["scores"][:n]
    again = float(np.max(np.abs(bundle.predict_proba(x, meta) - stored)))
    if again > 1e-4:
        raise ConfigError(f"the kept weights of {found.model} seed {found.seed} do not reproduce the run's stored "
                          f"test predictions (max difference {again:.3g}): the dataset at --data-root differs "
                          "from the one the run was trained on")
    out = args.out or found.run.path / "export"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{found.dataset}__{found.model}__seed{found.seed}"
    if args.format == "onnx":
        exported = export_onnx(bundle, out / f"{stem}.onnx", x, meta)
    else:
        exported = export_torchscript(bundle, out / f"{stem}.pt", x, meta)
    shutil.copy(found.path.with_suffix(".json"), exported.path.with_suffix(".json"))  # for bench predict --onnx
    card = out / f"{stem}.md"
    card.write_text(model_card(bundle, found.run, exported))
    print(f"{found.model} ({found.dataset}, seed {found.seed}) -> {exported.path}")
    print(f"checked with {exported.runtime} on {exported.examples} real test examples of {found.dataset}: "
          f"max abs difference of probabilities {exported.max_abs_diff:.2e} (tolerance 1e-4)")
    print(f"the kept weights reproduce the run's stored test predictions to {again:.2e}")
    print(f"model card: {card}")
    return 0
