"""Render a report.html in headless Chromium and save a screenshot (PNG).

Usage: python scripts/screenshot_report.py REPORT.html OUT.png [--width 1400] [--height 3000]

Needs Chromium (Debian: ``apt-get install chromium``). Runs offline: background networking,
sync and component updates are switched off, and a fresh profile folder is used.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=3000)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        print("no chromium on PATH; install it (Debian: apt-get install chromium)", file=sys.stderr)
        return 2
    if not args.html.is_file():
        print(f"{args.html}: no such report file (write one with `bench report`)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={args.width},{args.height}",
               f"--screenshot={args.out.resolve()}", args.html.resolve().as_uri()]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not args.out.exists():
        print(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}", file=sys.stderr)
        return 1
    print(f"wrote {args.out} ({args.width}x{args.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
