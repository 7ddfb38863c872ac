"""``bench predict``: classify the beats (or records) of new files with a kept model."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench predict --run r1 --model cnn_lstm data/mitdb/213.hea               # beats from 213.atr
  bench predict --run r1 --model cnn_lstm --detect data/mitdb/213.hea      # beats found by wfdb's XQRS
  bench predict --run r1 --model cnn_lstm rec.hea --out beats.csv --plot beats.png
  bench predict --run r1 --model cnn_lstm rec.hea --resample --leads II   # a 250 Hz record with lead II
  bench predict --run r2 --model fcn_wang data/ptbxl/records100/00000/00001_lr.hea   # record model
  bench predict --run r3 --model cnn_lstm mitbih_test.csv --out beats.json        # Kaggle beats, one per row
  bench predict --onnx export/mitbih_sample__cnn_lstm__seed0.onnx rec.hea         # the exported file

Beat models write one row per beat (class, confidence, the second class, position); record
models one row per record (probabilities and the labels: argmax, or the validation
thresholds of a multi-label model). The console shows a per-class summary.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="classify beats or records of WFDB, CSV or NumPy files with a kept model",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("records", nargs="+", type=Path, metavar="RECORD",
                   help="WFDB header (.hea), CSV (Chapman record or Kaggle beats) or .npy examples")
    p.add_argument("--run", help="run id or folder (default: the latest run)")
    p.add_argument("--model", help="model name (required unless --onnx)")
    p.add_argument("--seed", type=int, help="final-run seed (default: the lowest kept)")
    p.add_argument("--dataset", help="dataset, when the run trained the model on several")
    p.add_argument("--onnx", type=Path, help="score with an exported ONNX file (its .json beside it) instead")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--out", type=Path, help="write the rows to FILE.csv or FILE.json")
    p.add_argument("--plot", type=Path, help="PNG of the signal with beats coloured by class (beat models)")
    p.add_argument("--plot-seconds", type=float, default=20.0, help="seconds shown by --plot (default 20)")
    p.add_argument("--detect", action="store_true", help="find beats with the QRS detector even if annotated")
    p.add_argument("--annotator", default="atr", help="annotation file extension (default atr)")
    p.add_argument("--resample", action="store_true", help="resample records at another rate (where safe)")
    p.add_argument("--leads", help="the record's leads to use for the model's, comma-separated, in order")
    p.add_argument("--low-confidence", type=float, default=0.6, help="flag beats below this confidence (0.6)")
    p.set_defaults(func=run)


def _predictor(args: argparse.Namespace):
    from ecgharness.errors import ConfigError

    if args.onnx:
        from ecgharness.inference.onnx_model import OnnxModel

        return OnnxModel(args.onnx)
    if not args.model:
        raise ConfigError("name the model with --model (as on the leaderboard), or give an exported --onnx file")
    from ecgharness.inference.bundle import load_bundle
    from ecgharness.inference.locate import locate

    return load_bundle(locate(args.results_dir, args.run, args.model, args.seed, args.dataset).path)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ecgharness.errors import ConfigError
    from ecgharness.inference.predict import beat_agreement, predict_input
    from ecgharness.inference.records import read_input

    if args.out and args.out.suffix.lower() not in (".csv", ".json"):
        raise ConfigError(f"--out {args.out}: use a .csv or .json file name")
    predictor = _predictor(args)
    leads = [s.strip() for s in args.leads.split(",")] if args.leads else None
    tables = []
    for path in args.records:
        if not path.exists() and not path.with_suffix(".hea").exists():
            raise FileNotFoundError(f"{path}: no such file")
        pred = predict_input(predictor, read_input(path, args.annotator), resample=args.resample, leads=leads,
                             detect=args.detect)
        table = pred.table(args.low_confidence)
        tables.append(table)
        print(f"{path}: {predictor.model_name} ({predictor.dataset}); {pred.source}" +
              "".join(f"; {n}" for n in pred.notes))
        if pred.level == "beat":
            print(f"  {len(table)} beat(s); {int(table['low_confidence'].sum())} below confidence {args.low_confidence:g}")
            print(pred.summary(args.low_confidence).to_string(index=False))
            agreement = beat_agreement(pred)
            if agreement:
                print(f"  agrees with the annotation on {agreement['agree']} of {agreement['beats']} beats "
                      f"({agreement['share']:.1%})")
            if args.plot:
                from ecgharness.inference.plot import plot_prediction

                target = args.plot if len(args.records) == 1 else args.plot.with_name(
                    f"{args.plot.stem}_{pred.record}{args.plot.suffix or '.png'}")
                plot_prediction(pred, seconds=args.plot_seconds, low=args.low_confidence).savefig(target)
                print(f"  plot: {target}")
        else:
            print(table.to_string(index=False))
    if args.out:
        rows = pd.concat(tables, ignore_index=True)
        if args.out.suffix.lower() == ".csv":
            rows.to_csv(args.out, index=False)
        else:
            rows.to_json(args.out, orient="records", indent=1)
        print(f"wrote {len(rows)} row(s) to {args.out}")
    return 0
