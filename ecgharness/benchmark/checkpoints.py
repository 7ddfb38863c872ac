"""Per-epoch checkpoints of trials and final retrains, kept in the run's storage.

Each trial (and each final seed) has one checkpoint file, named by the trial's id, that its
training loop replaces after every epoch. The storage is a folder or a URI that pyarrow
understands (``s3://``, ``gs://``, ``hdfs://``): on a cluster, a path every node sees, so a
trial that restarts on another node, or in a resumed run, goes on from its last epoch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ecgharness.training.state import from_bytes, to_bytes

CHECKPOINTS_DIR = "checkpoints"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)


def join_uri(base: str, *parts: str) -> str:
    """``base`` (a folder or URI) with ``parts`` appended to its path, before any query string
    (``s3://bucket/ecg?endpoint_override=host:9000`` + ``run`` ->
    ``s3://bucket/ecg/run?endpoint_override=host:9000``)."""
    path, mark, query = base.partition("?") if "://" in base else (base, "", "")
    return "/".join([path.rstrip("/"), *parts]) + mark + query


def _filesystem(root: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) of a folder or URI."""
    from pyarrow import fs

    if "://" in root:
        return fs.FileSystem.from_uri(root)
    return fs.LocalFileSystem(), str(Path(root).resolve())


class CheckpointFile:
    """The checkpoint of one trial: ``<root>/<key>.pt``, replaced in one step after every epoch
    (written beside it, then renamed), so a reader finds the previous epoch or the new one,
    never half a file.

    Args:
        root: Folder or URI of the run's checkpoints.
        key: The trial's id (or ``final-<pair>-seed<k>``).
    """

    def __init__(self, root: str, key: str) -> None:
        self.root, self.key = root, _safe(key)
        self.restored_epoch = 0  # the epoch the last load went on from (0: started afresh)
        self.restored_history: list[dict[str, Any]] = []

    @property
    def uri(self) -> str:
        return join_uri(self.root, f"{self.key}.pt")

    def _file(self) -> tuple[Any, str, str]:
        """(filesystem, folder inside it, checkpoint path inside it)."""
        filesystem, base = _filesystem(self.root)
        return filesystem, base, f"{base}/{self.key}.pt"

    def load(self) -> dict[str, Any] | None:
        from pyarrow import fs as pafs

        filesystem, _, path = self._file()
        if filesystem.get_file_info(path).type == pafs.FileType.NotFound:
            return None
        with filesystem.open_input_stream(path) as f:
            state = from_bytes(f.read(), f"checkpoint {self.uri}")
        self.restored_epoch = int(state.get("epoch", 0))
        self.restored_history = list(state.get("history", []))
        return state

    def save(self, state: dict[str, Any]) -> None:
        filesystem, base, path = self._file()
        filesystem.create_dir(base, recursive=True)
        tmp = f"{base}/.{self.key}.pt.tmp"
        with filesystem.open_output_stream(tmp) as f:
            f.write(to_bytes(state))
        filesystem.move(tmp, path)


def checkpoints_root(storage: str) -> str:
    """Where a run whose Tune storage is ``storage`` (a folder or URI) keeps its checkpoints."""
    return join_uri(storage, CHECKPOINTS_DIR)


def clear(root: str) -> None:
    """Remove every checkpoint of a run (once it has finished, none will be resumed)."""
    from pyarrow import fs as pafs

    filesystem, base = _filesystem(root)
    if filesystem.get_file_info(base).type == pafs.FileType.Directory:
        filesystem.delete_dir(base)
