"""A local HTTP mirror for download tests: serves a folder on 127.0.0.1, honours ``Range``,
records every request and can cut a transfer short, like a dropped connection."""

from __future__ import annotations

import hashlib
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class MirrorState:
    root: Path
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    cut: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping, once
    ignore_range: bool = False  # answer 200 with the whole file, as some servers do
    lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_for(self, path: str) -> list[str | None]:
        return [rng for p, rng in self.requests if p == path]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        state = self.server.state
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        rng = self.headers.get("Range")
        with state.lock:
            state.requests.append((path, rng))
            cut = state.cut.pop(path, None)
        file = state.root / path
        if ".." in Path(path).parts or not file.is_file():
            self.send_error(404)
            return
        data = file.read_bytes()
        start, status = 0, 200
        if rng and not state.ignore_range:
            start, status = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1)), 206
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(body if cut is None else body[:cut])
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: MirrorState


class Mirror:
    """``with Mirror(folder) as m: m.url("mitdb/1.0.0/")``."""

    def __init__(self, root: Path) -> None:
        self.state = MirrorState(Path(root))
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = self.state
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "Mirror":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{path}"


def write_sha256sums(folder: Path, names: list[str], overrides: dict[str, str] | None = None) -> Path:
    """A PhysioNet-style ``SHA256SUMS.txt`` (``HASH path``) of ``names`` in ``folder``."""
    lines = []
    for name in names:
        digest = (overrides or {}).get(name) or hashlib.sha256((folder / name).read_bytes()).hexdigest()
        lines.append(f"{digest} {name}")
    path = folder / "SHA256SUMS.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


def mitdb_release(server_root: Path, sample_dir: Path, records: list[str]) -> Path:
    """A PhysioNet-style MIT-BIH release of ``records`` (copied from ``sample_dir``) at ``mitdb/1.0.0/``."""
    import shutil

    release = server_root / "mitdb" / "1.0.0"
    release.mkdir(parents=True)
    names = ["RECORDS", "ANNOTATORS"]
    (release / "RECORDS").write_text("\n".join(records) + "\n")
    (release / "ANNOTATORS").write_text("atr\treference beat, rhythm, and signal quality annotations\n")
    for rec in records:
        for ext in ("hea", "dat", "atr"):
            shutil.copy(sample_dir / f"{rec}.{ext}", release / f"{rec}.{ext}")
            names.append(f"{rec}.{ext}")
    write_sha256sums(release, names)
    return release
