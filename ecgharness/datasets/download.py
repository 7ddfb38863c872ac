"""Downloading datasets from their official sources, with every file verified.

Each downloadable dataset is a :class:`Source` in :data:`SOURCES`: where its files live
(PhysioNet or figshare), the SHA-256 of each file, and the folder under the data root its
loader reads. Each dataset module defines and registers its own source
(:func:`register_source`); this module holds only the machinery and imports none of them.
PhysioNet publishes a ``SHA256SUMS.txt`` beside every release; it is fetched first and
every file is checked against it. figshare publishes MD5 sums only, so the
Chapman-Shaoxing workbooks are checked against SHA-256 sums recorded in
:mod:`ecgharness.datasets.chapman` (``CHAPMAN_SHA256``).

Transfers resume after an interruption and a file already present with the right
checksum is not fetched again (see :mod:`ecgharness.datasets.fetch`), so running a
download twice is cheap. The base URL can point at a mirror (``mirror=`` or
``$ECGHARNESS_MIRROR``).

>>> from ecgharness.datasets.download import download_dataset
>>> summary = download_dataset("mitbih", "data")                 # doctest: +SKIP
>>> summary = download_dataset("mitbih", "data", records=[100])   # doctest: +SKIP
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

from ecgharness.datasets.fetch import (
    USER_AGENT,
    ChecksumMismatchError,
    DownloadError,
    UnsafePathError,
    download_file,
    extract_zip,
    file_digest,
    file_sha256,
    parse_sha256sums,
    safe_join,
)
from ecgharness.errors import ConfigError
from ecgmodels.registry import Registry

log = logging.getLogger(__name__)

MIRROR_ENV = "ECGHARNESS_MIRROR"

__all__ = [
    "ChecksumMismatchError", "DownloadError", "DownloadOptions", "DownloadSummary", "MIRROR_ENV", "RemoteFile",
    "SOURCES", "Source", "UnsafePathError", "download_dataset", "download_file", "extract_zip", "file_sha256",
    "get_source", "listed", "mirror_url", "parse_sha256sums", "register_source", "safe_join",
]


# --------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source.

    Attributes:
        remote: Path relative to the source's base URL.
        local: Path relative to the dataset's folder under the data root.
        sha256: Expected digest, or None where no publisher's or verified sum is known.
        size: Expected size in bytes, when known.
        extract: A zip archive to unpack into the dataset folder after download.
    """

    remote: str
    local: str
    sha256: str | None = None
    size: int | None = None
    extract: bool = False


@dataclass(frozen=True)
class DownloadOptions:
    """What of a source to fetch; each source accepts only the options it names."""

    records: tuple[str, ...] | None = None
    sampling_rate: int | None = None
    signals: str | None = None


@dataclass(frozen=True)
class Source:
    """Where a dataset comes from.

    Attributes:
        name: Dataset name, as registered in ``ecgharness.datasets``.
        folder: Folder under the data root that the dataset's loader reads.
        base_url: Official base URL; each file's ``remote`` path is relative to it.
        landing: Page describing the release (shown to users).
        licence: Licence of the data.
        checksum_list: File under ``base_url`` listing the publisher's SHA-256 sums, if any.
        select: ``select(checksums, options) -> files`` to fetch; raises ConfigError for bad
            options, and with ``checksums=None`` only checks them (before any transfer).
        options: Names of :class:`DownloadOptions` fields the source accepts.
        note: Shown before downloading (size, checks that are weaker than SHA-256).
        embedded: Nothing to download; ``note`` says why.
        manual: Cannot be downloaded by the harness; ``note`` says how to get it.
    """

    name: str
    folder: str = ""
    base_url: str = ""
    landing: str = ""
    licence: str = ""
    checksum_list: str | None = None
    select: Callable[[Mapping[str, str] | None, DownloadOptions], list[RemoteFile]] | None = None
    options: tuple[str, ...] = ()
    note: str = ""
    embedded: bool = False
    manual: bool = False


SOURCES: Registry[Source] = Registry("download source")


def register_source(source: Source) -> Source:
    """Register ``source`` under its dataset name (each dataset module registers its own)."""
    SOURCES.add(source.name, source)
    return source


def listed(sums: Mapping[str, str] | None, names: Iterable[str], dataset: str) -> list[RemoteFile]:
    """The files ``names``, each with its SHA-256 from the publisher's checksum list ``sums``.

    Raises:
        DownloadError: a name is not in the list (the mirror serves another release).
    """
    sums = sums or {}
    missing = [n for n in names if n not in sums]
    if missing:
        raise DownloadError(
            f"{dataset}: {len(missing)} needed file(s) are not in the publisher's checksum list "
            f"(first: {missing[:5]}); is the mirror serving the right release?"
        )
    return [RemoteFile(n, n, sums[n]) for n in names]


def get_source(name: str) -> Source:
    try:
        return SOURCES.get(name)
    except KeyError as exc:
        raise ConfigError(exc.args[0]) from None


# --------------------------------------------------------------------------- one dataset


@dataclass
class DownloadSummary:
    """What :func:`download_dataset` did."""

    name: str
    folder: Path | None
    base_url: str = ""
    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    extracted: dict[str, int] = field(default_factory=dict)  # archive -> members written
    unverified: dict[str, dict[str, str]] = field(default_factory=dict)  # file -> digests computed here
    bytes_downloaded: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed


def mirror_url(name: str, mirror: str | None = None) -> str | None:
    """Base URL replacing the official one: ``mirror``, else ``$ECGHARNESS_MIRROR/<name>/``."""
    if mirror:
        return mirror if mirror.endswith("/") else mirror + "/"
    env = os.environ.get(MIRROR_ENV)
    if env:
        return env.rstrip("/") + f"/{name}/"
    return None


def download_dataset(
    name: str,
    root: str | os.PathLike | None = None,
    *,
    mirror: str | None = None,
    records: Sequence[int | str] | None = None,
    sampling_rate: int | None = None,
    signals: str | None = None,
    keep_archives: bool = False,
    workers: int = 4,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
    retry_wait: float = 2.0,
) -> DownloadSummary:
    """Fetch dataset ``name`` into ``<root>/<folder>`` and verify every file.

    Args:
        name: A name of :data:`SOURCES` (``mitbih``, ``ptbxl``, ``chapman``).
        root: Data root (default: ``$ECGHARNESS_DATA``, else ``./data``).
        mirror: Base URL serving the release's files under the same relative paths
            (default ``$ECGHARNESS_MIRROR/<name>/``, else the official source).
        records: Only these records (mitbih: record numbers; ptbxl: ``ecg_id``).
        sampling_rate: ptbxl: 100 (``records100/``, default) or 500 (``records500/``).
        signals: chapman: ``denoised`` (default), ``raw`` or ``both`` waveform archives.
        keep_archives: Keep zip archives after extracting them.
        workers: Files fetched at once (archives are fetched one at a time, after the others).
        progress: tqdm progress bars.
        timeout, retries, retry_wait: See :func:`download_file`.

    Returns:
        The summary; files that failed are listed in ``failed`` (the others are kept).

    Raises:
        ConfigError: unknown dataset or an option it does not take.
        DownloadError: the checksum list cannot be fetched or names an unsafe path.
    """
    from tqdm.auto import tqdm

    from ecgharness.datasets.base import data_root

    source = get_source(name)
    options = DownloadOptions(
        records=None if records is None else tuple(dict.fromkeys(str(r) for r in records)),  # no repeats
        sampling_rate=sampling_rate, signals=signals,
    )
    given = [k for k, v in vars(options).items() if v is not None and k not in source.options]
    if given:
        accepted = ", ".join(source.options) or "none"
        raise ConfigError(f"{name}: option(s) {', '.join(given)} do not apply (it accepts: {accepted})")
    if source.manual:
        raise ConfigError(f"{name}: {source.note}")
    if source.embedded:
        return DownloadSummary(name=name, folder=None, note=source.note)

    folder = data_root(root) / source.folder
    base = mirror_url(name, mirror) or source.base_url
    summary = DownloadSummary(name=name, folder=folder, base_url=base, note=source.note)
    source.select(None, options)  # bad options fail before any transfer
    sums = None
    if source.checksum_list:
        sums_url = urllib.parse.urljoin(base, source.checksum_list)
        text = _fetch_text(sums_url, timeout)
        sums = parse_sha256sums(text, where=sums_url)
        folder.mkdir(parents=True, exist_ok=True)
        _write_atomic(safe_join(folder, source.checksum_list), text)
    files = source.select(sums, options)
    for item in files:
        safe_join(folder, item.local)  # raises before any transfer if the list is unsafe
    plain = [f for f in files if not f.extract]
    # many small files (PTB-XL: 43,674) download in parallel; one byte bar per file only when serial
    file_bars = progress and workers == 1

    def fetch(item: RemoteFile) -> tuple[bool | None, str]:
        url = urllib.parse.urljoin(base, urllib.parse.quote(item.remote))
        try:
            return download_file(url, safe_join(folder, item.local), item.sha256, size=item.size,
                                 progress=file_bars, timeout=timeout, retries=retries, retry_wait=retry_wait), ""
        except (DownloadError, OSError) as exc:
            log.error("%s: %s", item.local, exc)
            return None, str(exc)

    with tqdm(total=len(plain), desc=name, unit="file", disable=not progress or len(plain) < 2) as bar, \
            ThreadPoolExecutor(max(1, workers)) as pool:
        for item, (fetched, error) in zip(plain, pool.map(fetch, plain)):
            if fetched is None:
                summary.failed.append((item.local, error))
            elif fetched:
                summary.downloaded.append(item.local)
                summary.bytes_downloaded += safe_join(folder, item.local).stat().st_size
            else:
                summary.present.append(item.local)
            bar.update()
    for item in files:
        if item.extract:
            url = urllib.parse.urljoin(base, urllib.parse.quote(item.remote))
            try:
                _fetch_archive(item, url, safe_join(folder, item.local), folder, summary, keep_archives, progress,
                               timeout, retries, retry_wait)
            except (DownloadError, OSError) as exc:
                log.error("%s: %s", item.local, exc)
                summary.failed.append((item.local, str(exc)))
    return summary


def _fetch_archive(item: RemoteFile, url: str, dest: Path, folder: Path, summary: DownloadSummary,
                   keep: bool, progress: bool, timeout: float, retries: int, retry_wait: float) -> None:
    """Download, extract and (unless ``keep``) delete one archive; a marker records it as done."""
    marker = folder / f".{item.local}.done.json"
    if marker.exists() and (folder / Path(item.local).stem).is_dir():
        summary.present.append(item.local)
        return
    if item.sha256 is None and item.size is None and dest.exists():
        dest.unlink()  # a kept archive without its done-marker cannot be told from a damaged one
    if download_file(url, dest, item.sha256, size=item.size, progress=progress, timeout=timeout,
                     retries=retries, retry_wait=retry_wait):
        summary.downloaded.append(item.local)
        summary.bytes_downloaded += dest.stat().st_size
    else:
        summary.present.append(item.local)
    digests = {"sha256": file_digest(dest, "sha256"), "md5": file_digest(dest, "md5")}
    if item.sha256 is None:
        summary.unverified[item.local] = digests
    stem = Path(item.local).stem
    try:
        with zipfile.ZipFile(dest) as zf:
            tops = {PurePosixPath(m).parts[0] for m in zf.namelist() if not m.startswith("__MACOSX/")}
    except zipfile.BadZipFile as exc:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"{item.local}: not a valid zip archive ({exc}); deleted, run again to re-download") from None
    # the figshare archives hold their own top folder (ECGDataDenoised/...); one without it
    # is unpacked into a folder named like the archive, where the loader looks
    target = folder if tops == {stem} else folder / stem
    try:
        written = extract_zip(dest, target)
    except Exception:
        dest.unlink(missing_ok=True)  # a damaged archive is fetched afresh next time, never trusted
        raise
    summary.extracted[item.local] = len(written)
    _write_atomic(marker, json.dumps({"archive": item.local, "url": url, "size": dest.stat().st_size,
                                      "members": len(written), **digests}, indent=1))
    if not keep:
        dest.unlink()


def _fetch_text(url: str, timeout: float) -> str:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot fetch the checksum list {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, UnicodeDecodeError) as exc:
        raise DownloadError(
            f"cannot fetch the checksum list {url}: {getattr(exc, 'reason', exc)}. Check the network "
            f"connection, or give a mirror with --mirror / ${MIRROR_ENV}."
        ) from None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text)
    os.replace(tmp, path)
