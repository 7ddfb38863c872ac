"""A run on a cluster (``bench run --address``) drives Ray from a child process that this one
watches. When the cluster's head goes away, Ray ends its driver process at once, with no
Python code run on the way out; the watcher then says what happened and how to go on, rather
than leaving a bare exit status. (A driver whose cluster stops answering without dying is
ended by the run's own cluster watch, see :mod:`ecgharness.benchmark.lifeline`.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

DRIVER_ENV = "ECGHARNESS_DRIVER"  # set in the child that drives Ray
_OURS = (0, 2, 75, 130, 143)  # the exit statuses bench run gives itself


def supervise(argv: list[str], run_dir: Path, address: str) -> int:
    """Run ``bench`` with ``argv`` in a child process; its exit status, or a clear error (75)
    when it died without finishing the run in ``run_dir``."""
    from ecgharness.benchmark.lifeline import CLUSTER_LOST_EXIT
    from ecgharness.leaderboard.journal import read_journal

    child = subprocess.Popen([sys.executable, "-m", "ecgharness", *argv], env={**os.environ, DRIVER_ENV: "1"})
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child too: it stops the run itself
    signal.signal(signal.SIGTERM, lambda number, frame: child.send_signal(signal.SIGTERM))
    try:
        status = child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    if status in _OURS:
        return status
    try:
        finished = any(e["kind"] == "finished" for e in read_journal(run_dir))
    except (OSError, ValueError):
        finished = False
    if finished:
        return status
    print(f"error: the run's driver ended abruptly (exit status {status}): its Ray cluster at {address} went away "
          f"(a lost head node) or killed it. What finished is saved in {run_dir}. Start a cluster and go on with: "
          f"bench run --resume {run_dir} --address <the new cluster>", file=sys.stderr, flush=True)
    return CLUSTER_LOST_EXIT
