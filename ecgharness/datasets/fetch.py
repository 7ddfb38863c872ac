"""Fetching and checking single files: resumable HTTP downloads, SHA-256 lists, safe paths.

The building blocks of :mod:`ecgharness.datasets.download`, with no knowledge of any
dataset. A transfer goes to ``<file>.part``, resumes with an HTTP ``Range`` request after
an interruption, and is renamed into place only once its checksum matches. Paths from
checksum lists and archive members are joined with :func:`safe_join`, which refuses to
leave the target folder.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

log = logging.getLogger(__name__)

USER_AGENT = "ecgharness/0.1 (dataset download; python urllib)"
CHUNK = 1 << 20
_RETRY_HTTP = {408, 425, 429, 500, 502, 503, 504}
_SHA256_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *]?(.+)$")


class DownloadError(RuntimeError):
    """A file could not be fetched or verified; the message names it and says what to do."""


class ChecksumMismatchError(DownloadError):
    """A downloaded file's SHA-256 differs from the published one."""


class UnsafePathError(DownloadError, ValueError):
    """A path from a checksum list or an archive would land outside its target folder."""


# --------------------------------------------------------------------------- paths and checksums


def safe_join(root: str | os.PathLike, relative: str) -> Path:
    """``root / relative``, refusing anything that could land outside ``root``.

    Args:
        root: Target folder.
        relative: A relative POSIX path, e.g. from a checksum list or a zip member.

    Raises:
        UnsafePathError: ``relative`` is empty, absolute (``/x``, ``C:\\x``), holds a ``..``
            component, a backslash or a NUL, or resolves (through symbolic links) outside root.
    """
    text = str(relative)
    reason = _lexical_problem(text)
    if reason is None:
        base = Path(root).resolve()
        target = (base / text).resolve()
        if target != base and base not in target.parents:
            reason = f"resolves to {target}, outside {base}"
        else:
            return Path(root) / text
    raise UnsafePathError(f"refusing path {text!r}: {reason}")


def _lexical_problem(text: str) -> str | None:
    """Why ``text`` is not a plain relative POSIX path inside its folder, or None."""
    reason = None
    if not text or text in (".", "./"):
        reason = "empty path"
    elif "\x00" in text:
        reason = "NUL character"
    elif "\\" in text:
        reason = "backslash (not a POSIX relative path)"
    elif PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute() or PureWindowsPath(text).drive:
        reason = "absolute path"
    elif ".." in PurePosixPath(text).parts:
        reason = "'..' component"
    return reason


def parse_sha256sums(text: str, where: str = "checksum list") -> dict[str, str]:
    """Entries of a ``sha256sum`` list: ``HASH  path`` or ``HASH *path`` (PhysioNet: ``HASH path``).

    Returns:
        ``{relative path: lowercase hex digest}`` in file order.

    Raises:
        DownloadError: a line is malformed or a path is listed twice with different hashes.
        UnsafePathError: a path is absolute or climbs out of the dataset folder.
    """
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        match = _SHA256_LINE.match(line)
        if not match:
            raise DownloadError(f"{where}, line {number}: not 'SHA256 path': {line[:120]!r}")
        digest, path = match.group(1).lower(), match.group(2)
        if path.startswith("./"):
            path = path[2:]
        problem = _lexical_problem(path)  # links are checked against the real folder when joined
        if problem:
            raise UnsafePathError(f"{where}, line {number}: refusing path {path!r}: {problem}")
        if sums.get(path, digest) != digest:
            raise DownloadError(f"{where}, line {number}: {path!r} is listed twice with different hashes")
        sums[path] = digest
    return sums


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB blocks (MD5 only to compare with figshare's sums)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


# --------------------------------------------------------------------------- one file


class _Retryable(Exception):
    """A transfer failure worth another try (network error, cut connection, 5xx)."""


def _part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".part")


def _is_present(dest: Path, sha256: str | None, size: int | None) -> bool:
    if not dest.is_file():
        return False
    if size is not None and dest.stat().st_size != size:
        return False
    return sha256 is None or file_sha256(dest) == sha256.lower()


def download_file(
    url: str,
    dest: str | os.PathLike,
    sha256: str | None = None,
    *,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    retry_wait: float = 2.0,
) -> bool:
    """Fetch ``url`` into ``dest``, resuming and verifying.

    The bytes go to ``dest.part``; an existing part file is resumed with a ``Range``
    request (a server answering 200 instead of 206 restarts it). Network errors and
    transfers cut short are retried ``retries`` times, each resuming where the last
    stopped. The file is renamed into place only after its size (when known) and SHA-256
    (when given) match; a part file that resumed into a mismatch is fetched once more
    from the start.

    Args:
        url: ``http(s)://`` or ``file://`` URL.
        dest: Final path of the file.
        sha256: Expected hex digest; ``None`` skips the check (say so to the user).
        size: Expected size in bytes, when known.
        progress: Show a tqdm progress bar (on stderr).
        timeout: Seconds a connection may stall.
        retries: Further attempts after a network failure.
        retry_wait: Seconds before the first retry (doubling each time).

    Returns:
        True when the file was downloaded, False when it was already present and verified.

    Raises:
        ChecksumMismatchError: the file's SHA-256 differs (the part file is deleted).
        DownloadError: HTTP error, or still failing after the retries (the part file is
            kept, so running again resumes).
    """
    dest = Path(dest)
    if _is_present(dest, sha256, size):
        log.debug("%s already present and verified", dest)
        return False
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in ("http", "https", "file"):
        raise DownloadError(f"{url}: unsupported URL scheme {scheme!r}; use http(s):// or file://")
    if dest.exists():
        log.warning("%s exists but does not match its checksum; downloading it again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = _part_path(dest)
    if part.is_symlink():  # never write through a link planted beside the data
        raise UnsafePathError(f"refusing {part}: it is a symbolic link; remove it and run again")
    if part.exists() and sha256 is None and size is None:
        part.unlink()  # nothing could tell a stale partial file from this version: start afresh
    for fresh in (False, True):
        if fresh:
            part.unlink(missing_ok=True)
        resumed = _transfer_with_retries(url, part, size, progress, timeout, retries, retry_wait,
                                         verifiable=sha256 is not None or size is not None)
        problem = _verify(part, sha256, size)
        if problem is None:
            os.replace(part, dest)
            return True
        if not resumed or fresh:
            part.unlink(missing_ok=True)
            kind = ChecksumMismatchError if problem.startswith("SHA-256") else DownloadError
            raise kind(f"{dest.name}: {problem} (from {url}); the download was deleted")
        log.warning("%s: %s after resuming; downloading it again from the start", dest.name, problem)
    raise AssertionError("unreachable")


def _verify(path: Path, sha256: str | None, size: int | None) -> str | None:
    actual_size = path.stat().st_size if path.exists() else 0
    if size is not None and actual_size != size:
        return f"size {actual_size:,} bytes, expected {size:,}"
    if sha256 is not None:
        actual = file_sha256(path)
        if actual != sha256.lower():
            return f"SHA-256 mismatch: expected {sha256.lower()}, got {actual}"
    return None


def _transfer_with_retries(url: str, part: Path, size: int | None, progress: bool, timeout: float,
                           retries: int, retry_wait: float, verifiable: bool = True) -> bool:
    resumed = False
    for attempt in range(retries + 1):
        try:
            return _transfer(url, part, size, progress, timeout, verifiable) or resumed
        except _Retryable as exc:
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                raise DownloadError(
                    f"{url}: {exc}; gave up after {retries + 1} attempt(s). {have:,} bytes are kept in "
                    f"{part}; run the download again to resume."
                ) from None
            wait = retry_wait * 2 ** attempt
            log.warning("%s: %s; retrying in %.0f s (resuming at byte %d)", url, exc, wait, have)
            resumed = resumed or have > 0
            time.sleep(wait)
    return resumed


def _transfer(url: str, part: Path, size: int | None, progress: bool, timeout: float,
              verifiable: bool = True) -> bool:
    """One attempt; appends to ``part`` when the server honours the range. True if it resumed."""
    from tqdm.auto import tqdm

    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset and verifiable:
            return True  # the part may already hold the whole file; verification decides
        if exc.code == 416 and offset:
            part.unlink(missing_ok=True)
            raise _Retryable("server refused the resume range; starting again") from None
        if exc.code in _RETRY_HTTP:
            raise _Retryable(f"HTTP {exc.code} {exc.reason}") from None
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        if url.startswith("file:"):  # a missing local file will not appear by waiting
            raise DownloadError(f"{url}: {reason}") from None
        raise _Retryable(reason) from None
    with response:
        status = getattr(response, "status", None)
        resumed = bool(offset) and status == 206
        if resumed:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Retryable(f"server resumed at byte {start}, not {offset}; restarting")
        elif offset:
            log.info("%s: server ignored the Range request; starting again from byte 0", url)
            offset = 0
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        total = offset + expected if expected is not None else size
        received = 0
        with open(part, "ab" if resumed else "wb") as out, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name[:-5], disable=not progress, leave=False,
        ) as bar:
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException) as exc:
                raise _Retryable(f"connection lost after {offset + received:,} bytes ({exc})") from None
        # http.client reports a connection closed early as a normal end of data: check the length
        if expected is not None and received < expected:
            raise _Retryable(f"transfer cut short: {offset + received:,} of {offset + expected:,} bytes")
    return resumed


def _content_range_start(value: str | None) -> int | None:
    match = re.match(r"bytes (\d+)-", value or "")
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- archives


def extract_zip(archive: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Extract every member of ``archive`` under ``target``, refusing the whole archive if
    any member would escape it (zip-slip) or is a symbolic link.

    Each member's CRC is checked while it is read, so a damaged archive raises before its
    marker is written. Members under ``__MACOSX/`` are skipped.

    Raises:
        UnsafePathError: a member's path is absolute, climbs out with ``..`` or is a link.
        DownloadError: the archive is not a readable zip or a member fails its CRC.
    """
    target = Path(target)
    written: list[Path] = []
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.filename.startswith("__MACOSX/")]
            plan = []
            for member in members:  # check everything before writing anything
                dest = safe_join(target, member.filename.rstrip("/") or member.filename)
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise UnsafePathError(f"refusing {archive}: member {member.filename!r} is a symbolic link")
                plan.append((member, dest))
            for member, dest in plan:
                if member.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(dest.name + ".part")
                with zf.open(member) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                os.replace(tmp, dest)
                written.append(dest)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise DownloadError(f"{archive}: not a valid zip archive or a damaged member "
                            f"({type(exc).__name__}: {exc})") from None
    return written
