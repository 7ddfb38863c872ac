"""``bench app``: a local web page to score records with the kept models of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  bench app --run 20261207-101500            # http://127.0.0.1:8501
  bench app --run results/quick/r1 --port 8600
  bench app                                  # the latest run under ./results

The page binds to 127.0.0.1 (this machine only) unless --address says otherwise.
Link to a record directly: http://127.0.0.1:8501/?model=cnn_lstm&record=213
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="local web page: pick a model, load a record, see each beat's class",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", help="run id or folder (default: the latest run)")
    p.add_argument("--results-dir", type=Path, default=Path("results"), help="results store root (default ./results)")
    p.add_argument("--port", type=int, default=8501, help="port (default 8501)")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    import sys

    from ecgharness.errors import ConfigError
    from ecgharness.leaderboard.store import resolve_run

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: use a port between 1 and 65535")
    folder = resolve_run(args.results_dir, args.run).resolve()
    page = Path(__file__).resolve().parent.parent / "app" / "page.py"
    print(f"serving {folder} on http://{args.address}:{args.port}  (Ctrl-C stops)", flush=True)
    cmd = [sys.executable, "-m", "streamlit", "run", str(page), "--server.address", args.address,
           "--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
           "--", "--run", str(folder)]
    # Streamlit takes over this process, so stopping `bench app` (Ctrl-C, a signal) stops the server
    os.execve(sys.executable, cmd, {**os.environ, "ECGHARNESS_APP_RUN": str(folder)})
    return 0
