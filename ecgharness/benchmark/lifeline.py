"""How a run stops: on Ctrl-C or SIGTERM, cleanly within seconds and resumable; when its Ray
cluster goes away, within a bounded time and with a clear error.

Both leave the run folder as ``bench run --resume`` expects it: the journal already holds
everything that finished (each event is synced as it happens) and every unfinished trial has
the checkpoint of its last epoch.
"""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

CLUSTER_LOST_EXIT = 75  # exit status of a run whose cluster went away (EX_TEMPFAIL: try again, with --resume)


class StopFlag:
    """Set once the run is to stop. Tune pickles its searcher, stopper and callbacks with the
    experiment; a copy made that way is a fresh, unset flag (the lock of an event cannot travel)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self._event = threading.Event()


class RunStopped(Exception):
    """The run was asked to stop (Ctrl-C, SIGTERM); it can be resumed."""

    def __init__(self, run_dir: object, signal_name: str) -> None:
        super().__init__(f"run stopped by {signal_name}; what finished is saved in {run_dir}. "
                         f"Go on with: bench run --resume {run_dir}")
        self.signal_name = signal_name


class ClusterLost(RuntimeError):
    """The Ray cluster of the run went away (``reason`` says how); it can be resumed on another."""

    def __init__(self, reason: str, run_dir: object) -> None:
        super().__init__(f"{reason}; what finished is saved in {run_dir}. Start a cluster and go on with: "
                         f"bench run --resume {run_dir}")


@contextmanager
def stop_on_signals(stopping: StopFlag) -> Iterator[dict[str, str]]:
    """Set ``stopping`` on the first SIGINT or SIGTERM; a second one stops at once
    (KeyboardInterrupt). Yields a dict that holds the name of the signal received, if any.
    Outside the main thread (where Python cannot install handlers) nothing is installed."""
    received: dict[str, str] = {}
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handle(number: int, frame: object) -> None:
        if stopping.is_set():
            raise KeyboardInterrupt
        received["signal"] = signal.Signals(number).name
        print(f"\n{received['signal']} received: stopping the run (its trials stay resumable); "
              "send it again to stop at once", file=sys.stderr, flush=True)
        stopping.set()

    before = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def gcs_reachable(address: str, timeout_s: float = 3.0) -> bool:
    """Whether the cluster's GCS (``host:port``) accepts a connection."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


class ClusterWatch:
    """Watches the cluster's GCS from a thread. Once it has been unreachable for ``lost_after_s``
    it calls ``on_lost`` (which asks the run to stop); if the run has not ended ``grace_s`` later
    (Ray calls block while they retry the GCS), ``hard_exit`` ends the process.

    Args:
        address: The GCS address (``host:port``).
        on_lost: Called once with the error message when the cluster is lost.
        hard_exit: Called with the message if the run does not end after ``on_lost`` (default:
            :func:`exit_lost`).
        probe: Tells whether the GCS answers (default: a TCP connection to it).
    """

    def __init__(self, address: str, on_lost: Callable[[str], None], lost_after_s: float = 60.0,
                 every_s: float = 5.0, grace_s: float = 30.0, hard_exit: Callable[[str], None] | None = None,
                 probe: Callable[[str], bool] = gcs_reachable) -> None:
        self.address, self.on_lost, self.probe = address, on_lost, probe
        self.lost_after_s, self.every_s, self.grace_s = lost_after_s, every_s, grace_s
        self.hard_exit = hard_exit or exit_lost
        self.lost: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="ecgharness-cluster-watch", daemon=True)

    def __enter__(self) -> "ClusterWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _watch(self) -> None:
        down_since = None
        while not self._done.wait(self.every_s):
            if self.probe(self.address):
                down_since = None
                continue
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since >= self.lost_after_s:
                self.lost = (f"the Ray cluster at {self.address} has not answered for {self.lost_after_s:g} s "
                             "(its head node is gone)")
                self.on_lost(self.lost)
                if not self._done.wait(self.grace_s):
                    self.hard_exit(self.lost)
                return


def exit_lost(message: str) -> None:
    """End the process at once with :data:`CLUSTER_LOST_EXIT`, saying why (Ray calls that retry
    a lost cluster would block a clean shutdown)."""
    import os

    print(f"error: {message}; the run could not shut down cleanly and exits now", file=sys.stderr, flush=True)
    os._exit(CLUSTER_LOST_EXIT)
