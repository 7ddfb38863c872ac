"""Start `bench app` on a run, open it in headless Chromium with a record loaded, save a PNG.

Usage: python scripts/screenshot_app.py --run RUN [--model M] [--record 213] [--port 8765] OUT.png

Needs Chromium (Debian: ``apt-get install chromium``). The page is served on 127.0.0.1 only
and the server is stopped afterwards. Chromium runs offline with a fresh profile and is driven
through its DevTools protocol (the ``websockets`` package, installed with Streamlit): the
screenshot is taken once the page shows the scored record and Streamlit has stopped running.
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode


def _wait(url: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False


READY = """(() => {
  const text = document.body ? document.body.innerText : "";
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const running = status !== null && status.innerText.includes("Running");
  const images = Array.from(document.images).every(i => i.complete && i.naturalWidth > 0);
  const plotted = document.querySelectorAll('[data-testid="stImage"] img, [data-testid="stPyplot"] img, main img').length > 0;
  const grids = Array.from(document.querySelectorAll('[data-testid="stDataFrame"]'));
  const drawn = grids.every(g => g.querySelector("canvas") !== null);
  const scored = text.includes("Beats per predicted class") && plotted && drawn;
  return (scored || text.includes("rror")) && !running && images;
})()"""


def _capture(debug_port: int, url: str, seconds: float) -> bytes | None:
    """Open ``url`` in the running Chromium, wait until the page is READY, return a PNG."""
    import asyncio

    import websockets

    if not _wait(f"http://127.0.0.1:{debug_port}/json/version", 60):
        return None
    with urllib.request.urlopen(f"http://127.0.0.1:{debug_port}/json/list", timeout=5) as reply:
        target = next(t for t in json.loads(reply.read()) if t.get("type") == "page")

    async def drive() -> bytes | None:
        socket = await websockets.connect(target["webSocketDebuggerUrl"], max_size=256 * 2**20)
        ids = iter(range(1, 1_000_000))

        async def call(method: str, **params):
            n = next(ids)
            await socket.send(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                message = json.loads(await socket.recv())
                if message.get("id") == n:
                    return message.get("result", {})

        await call("Page.navigate", url=url)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            result = await call("Runtime.evaluate", expression=READY, returnByValue=True)
            if result.get("result", {}).get("value") is True:
                await asyncio.sleep(4.0)  # let the grids and the last image paint
                shot = await call("Page.captureScreenshot", format="png")
                return base64.b64decode(shot["data"])
        return None

    return asyncio.run(asyncio.wait_for(drive(), timeout=seconds + 30))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--run", required=True, help="run id or folder")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--model", help="model to preselect")
    parser.add_argument("--record", default="213", help="embedded sample record to load (default 213)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1800)
    parser.add_argument("--wait-ms", type=int, default=120000, help="longest wait for the page to render (ms)")
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("no chromium on PATH; install it (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    if _wait(f"http://127.0.0.1:{args.port}/", 1):
        print(f"port {args.port} is already serving something; stop it or choose another --port", file=sys.stderr)
        return 2
    server = subprocess.Popen([sys.executable, "-m", "ecgharness", "app", "--run", args.run, "--results-dir",
                               args.results_dir, "--port", str(args.port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{args.port}"
        if not _wait(f"{base}/_stcore/health", 90):
            print(f"the app did not start on {base}: {server.stderr.read()[-2000:] if server.poll() is not None else ''}",
                  file=sys.stderr)
            return 1
        query = urlencode({k: v for k, v in (("model", args.model), ("record", args.record)) if v})
        with tempfile.TemporaryDirectory() as profile:
            browser_proc = subprocess.Popen(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={args.width},{args.height}",
                 f"--remote-debugging-port={args.port + 1}", "about:blank"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                png = _capture(args.port + 1, f"{base}/?{query}", args.wait_ms / 1000)
            finally:
                browser_proc.terminate()
                browser_proc.wait(timeout=20)
        if png is None:
            print(f"the page did not finish rendering within {args.wait_ms / 1000:g} s", file=sys.stderr)
            return 1
        args.out.write_bytes(png)
        print(f"wrote {args.out} ({args.width}x{args.height}) of {base}/?{query}")
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    raise SystemExit(main())
