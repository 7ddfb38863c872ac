"""Kill -9 at a random moment, resume, count what was lost.

Each round starts ``bench run`` on a small suite (synthetic data, 2 pairs x 4 trials x 5 epochs,
2 final seeds), kills the driver with SIGKILL after a random delay, runs ``bench run --resume``
and counts from the run's journal:

- finished trials run again (target 0): trials that had ended before the kill and started again;
- epochs trained twice (target 0 beyond the epoch in flight): epochs a resumed trial had reported
  before the kill and trained again (its checkpoint is written before each report);
- whether the resumed run is complete: as many trials per pair and scored seeds as the suite plans.

Usage: python benchmarks/resume.py [--rounds 5] [--seed 0] [--min-s 5] [--max-s 25]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

TRIALS, EPOCHS, SEEDS = 4, 5, [0, 1]
SUITE = {
    "name": "killed",
    "datasets": [{"name": "synthetic", "config": {"n_per_class": 150, "length": 192, "noise": 0.8}}],
    "models": [{"name": "cnn_lstm", "space": {"lr": {"loguniform": [1e-3, 1e-2]}, "batch_size": 16, "conv_width": 8,
                                              "lstm_hidden": {"choice": [8, 16]}, "fc_hidden": 16}},
               {"name": "resnet_se", "space": {"lr": {"loguniform": [1e-3, 1e-2]}, "batch_size": 16,
                                               "base_channels": 8, "stages": 2, "blocks_per_stage": 1}}],
    "search": {"num_samples": TRIALS, "max_concurrent_trials": 1, "grace_period": EPOCHS},
    "training": {"max_epochs": EPOCHS, "patience": EPOCHS},
    "final": {"seeds": SEEDS},
    "resources": {"cpus_per_trial": 1},
}


def bench(folder: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ECGHARNESS_CACHE": str(folder / "cache")}
    return subprocess.Popen([sys.executable, "-m", "ecgharness", "run", *args, "--num-cpus", "2"], cwd=folder,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def journal(run_dir: Path) -> list[dict]:
    events = []
    for line in (run_dir / "journal.jsonl").read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:  # the line the kill cut short
            pass
    return events


def count(run_dir: Path) -> dict:
    events = journal(run_dir)
    killed = [e for e in events if e["session"] == 0]
    ended = {e["trial"] for e in killed if e["kind"] == "end"}
    heard: dict[str, int] = {}
    for e in killed:
        if e["kind"] == "result":
            heard[e["trial"]] = max(heard.get(e["trial"], 0), e["row"]["epoch"])
    rerun = {e["trial"] for e in events if e["session"] > 0 and e["kind"] == "start"} & ended
    went_on: dict[str, int] = {}
    for e in events:
        if e["session"] > 0 and e["kind"] == "resumed":
            went_on.setdefault(e["trial"], e["epoch"])
    twice = sum(max(0, heard.get(t, 0) - k) for t, k in went_on.items())
    trials, finals = pd.read_csv(run_dir / "trials.csv"), pd.read_csv(run_dir / "final_runs.csv")
    complete = (trials.groupby("model").size() == TRIALS).all() and len(trials) == 2 * TRIALS \
        and (finals["kind"] == "model").sum() == 2 * len(SEEDS)
    return {"finished at kill": len(ended), "running at kill": len(set(heard) - ended),
            "finished re-run": len(rerun), "epochs trained twice": twice,
            "final seeds scored at kill": sum(1 for e in killed if e["kind"] == "rows" and "final_runs" in e["tables"]
                                              and e["tables"]["final_runs"][0].get("kind") == "model"),
            "complete": bool(complete)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-s", type=float, default=5.0)
    parser.add_argument("--max-s", type=float, default=25.0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "suite.yaml").write_text(yaml.safe_dump(SUITE))
        for i in range(args.rounds):
            delay = rng.uniform(args.min_s, args.max_s)
            run_dir = folder / "results" / "killed" / f"r{i}"
            first = bench(folder, "--suite", "suite.yaml", "--run-id", f"r{i}")
            time.sleep(delay)
            if first.poll() is not None:
                rows.append({"kill after s": round(delay, 1), "note": "finished before the kill"})
                continue
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
            resumed = bench(folder, "--resume", str(run_dir))
            status = resumed.wait()
            rows.append({"kill after s": round(delay, 1), "resume exit": status, **count(run_dir)})
            print(rows[-1], flush=True)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row.get(c, "")) for c in columns) + " |")


if __name__ == "__main__":
    main()
