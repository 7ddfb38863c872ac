"""Which Ray a run uses: without ``--address`` always a new local one, never a cluster that
``ray start`` left on the machine; with ``--address`` that cluster, named with its resources."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CONNECT = """
import json, sys
from pathlib import Path
from ecgharness.benchmark.ray_session import start_ray, stop_ray
cluster = start_ray(sys.argv[1] or None, 2, Path(sys.argv[2]))
print(json.dumps({"address": cluster.address, "local": cluster.local, "cpus": cluster.resources.get("CPU"),
                  "nodes": cluster.nodes}))
stop_ray(cluster, Path(sys.argv[2]))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _connect(address: str, logs: Path, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", CONNECT, address, str(logs)], capture_output=True, text=True,
                         env=env, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_local_run_never_joins_the_cluster_ray_start_left_running(tmp_path) -> None:
    port = _free_port()
    head_address = f"127.0.0.1:{port}"
    temp = tempfile.mkdtemp(prefix="rs", dir="/tmp")  # short: Ray's socket paths must stay short
    ray_cli = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}  # no token to hand around for a test cluster
    head = subprocess.Popen([str(ray_cli), "start", "--head", "--block", "--port", str(port), "--num-cpus", "1",
                             "--node-ip-address", "127.0.0.1", "--include-dashboard", "false", "--temp-dir", temp],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        env = {**env, "RAY_ADDRESS": head_address}  # what `ray start` tells a shell to export
        deadline = time.time() + 60
        while True:  # the head is up once a driver can join it
            try:
                joined = _connect(head_address, tmp_path / "joined", env)
                break
            except AssertionError:
                if time.time() > deadline or head.poll() is not None:
                    raise
                time.sleep(2)
        port_of = lambda address: int(address.rsplit(":", 1)[1])  # noqa: E731  (Ray names the node's own IP)
        assert (port_of(joined["address"]), joined["local"], joined["cpus"], joined["nodes"]) == (port, False, 1, 1)
        local = _connect("", tmp_path / "local", env)
        assert local["local"] and port_of(local["address"]) != port and local["cpus"] == 2
    finally:
        head.terminate()  # `ray start --block` stops the processes it started
        head.wait(timeout=60)
