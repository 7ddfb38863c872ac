"""Downloading datasets from their official sources, with every file verified.

Each downloadable dataset is a :class:`Source` in :data:`SOURCES`: where its files live
(PhysioNet or figshare), the SHA-256 of each file, and the folder under the data root its
loader reads. PhysioNet publishes a ``SHA256SUMS.txt`` beside every release; it is
fetched first and every file is checked against it. figshare publishes MD5 sums only, so
the Chapman-Shaoxing workbooks are checked against SHA-256 sums recorded here (see
:data:`CHAPMAN_SHA256`).

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
import re
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
    "CHAPMAN_SHA256", "ChecksumMismatchError", "DownloadError", "DownloadOptions", "DownloadSummary",
    "MIRROR_ENV", "RemoteFile", "SOURCES", "Source", "UnsafePathError", "download_dataset", "download_file",
    "extract_zip", "file_sha256", "get_source", "mirror_url", "parse_sha256sums", "safe_join",
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


def _select_mitbih(sums: Mapping[str, str] | None, options: DownloadOptions) -> list[RemoteFile]:
    from ecgharness.datasets.mitbih import ALL_RECORDS

    records = [str(r) for r in ALL_RECORDS] if options.records is None else list(options.records)
    unknown = [r for r in records if not r.isdigit() or int(r) not in ALL_RECORDS]
    if unknown:
        raise ConfigError(f"mitbih: unknown record(s) {unknown}; valid: {', '.join(map(str, ALL_RECORDS))}")
    if sums is None:
        return []  # options checked; the files come from the checksum list
    names = ["RECORDS", "ANNOTATORS"] + [f"{r}.{ext}" for r in records for ext in ("hea", "dat", "atr")]
    return _listed(sums, names, "mitbih")


def _select_ptbxl(sums: Mapping[str, str] | None, options: DownloadOptions) -> list[RemoteFile]:
    rate = options.sampling_rate or 100
    if rate not in (100, 500):
        raise ConfigError(f"ptbxl: sampling_rate must be 100 (records100/) or 500 (records500/), got {rate}")
    pattern = re.compile(rf"^records{rate}/\d{{5}}/(\d{{5}})_{'lr' if rate == 100 else 'hr'}\.(hea|dat)$")
    bad = [r for r in options.records or () if not r.isdigit()]
    if bad:
        raise ConfigError(f"ptbxl: records are ecg_id numbers, got {bad}")
    wanted = None if options.records is None else {int(r) for r in options.records}
    if sums is None:
        return []
    names = ["ptbxl_database.csv", "scp_statements.csv"]
    for path in sums:
        match = pattern.match(path)
        if match and (wanted is None or int(match.group(1)) in wanted):
            names.append(path)
    if wanted is not None:
        found = {int(pattern.match(n).group(1)) for n in names[2:]}
        missing = sorted(wanted - found)
        if missing:
            raise ConfigError(f"ptbxl: ecg_id(s) {missing[:10]} are not in the publisher's checksum list")
    return _listed(sums, names, "ptbxl")


def _listed(sums: Mapping[str, str] | None, names: Iterable[str], dataset: str) -> list[RemoteFile]:
    sums = sums or {}
    missing = [n for n in names if n not in sums]
    if missing:
        raise DownloadError(
            f"{dataset}: {len(missing)} needed file(s) are not in the publisher's checksum list "
            f"(first: {missing[:5]}); is the mirror serving the right release?"
        )
    return [RemoteFile(n, n, sums[n]) for n in names]


# figshare publishes only MD5 sums. These SHA-256 sums were computed from verified copies
# of the workbooks (Diagnostics.xlsx byte-identical in three independent copies; see
# the shared data folder's SHA256SUMS.txt and README), so a download is checked as
# strictly as a PhysioNet one.
CHAPMAN_SHA256 = {
    "Diagnostics.xlsx": "5c508faccf394bdeef092963ce3e6a8ce0bd7388f07a9ee6c25043375533a899",
    "RhythmNames.xlsx": "a2d49618f32ba054955816058855d8adb86ffeb51a2085024f1fecdd5ec1f741",
    "ConditionNames.xlsx": "c665fa6cb42f85d6ea3f84b64da96a466e3901580490e967427820fcd4d68b49",
    "AttributesDictionary.xlsx": "7aa157a0579ac0d72eb6c63b42bb6d7ef3a0d5aad181ad16f3ea042f340487e8",
}
# figshare file ids of collection 4560497 (https://figshare.com/ndownloader/files/<id>).
CHAPMAN_FILE_IDS = {
    "Diagnostics.xlsx": "15653771",
    "RhythmNames.xlsx": "15651296",
    "ConditionNames.xlsx": "15651293",
    "AttributesDictionary.xlsx": "15653762",
    "ECGDataDenoised.zip": "15652862",
    "ECGData.zip": "15651326",
}


def _select_chapman(sums: Mapping[str, str] | None, options: DownloadOptions) -> list[RemoteFile]:
    signals = options.signals or "denoised"
    archives = {"denoised": ["ECGDataDenoised.zip"], "raw": ["ECGData.zip"],
                "both": ["ECGDataDenoised.zip", "ECGData.zip"]}
    if signals not in archives:
        raise ConfigError(f"chapman: signals must be one of {', '.join(archives)}, got {signals!r}")
    files = [RemoteFile(CHAPMAN_FILE_IDS[n], n, sha) for n, sha in CHAPMAN_SHA256.items()]
    # No SHA-256 or MD5 of the waveform archives is recorded here: the transfer is checked
    # against the server's Content-Length and every member's CRC-32 while extracting.
    files += [RemoteFile(CHAPMAN_FILE_IDS[n], n, None, extract=True) for n in archives[signals]]
    return files


for _source in (
    Source(
        name="mitbih", folder="mitdb", base_url="https://physionet.org/files/mitdb/1.0.0/",
        landing="https://physionet.org/content/mitdb/1.0.0/", licence="ODC-By 1.0",
        checksum_list="SHA256SUMS.txt", select=_select_mitbih, options=("records",),
        note="48 records, about 94 MB; every file checked against PhysioNet's SHA256SUMS.txt",
    ),
    Source(
        name="ptbxl", folder="ptbxl", base_url="https://physionet.org/files/ptb-xl/1.0.1/",
        landing="https://physionet.org/content/ptb-xl/1.0.1/", licence="CC BY 4.0",
        checksum_list="SHA256SUMS.txt", select=_select_ptbxl, options=("records", "sampling_rate"),
        note="21,837 records: about 0.7 GB at 100 Hz, 2.5 GB at 500 Hz; every file checked against "
             "PhysioNet's SHA256SUMS.txt",
    ),
    Source(
        name="chapman", folder="chapman", base_url="https://figshare.com/ndownloader/files/",
        landing="https://doi.org/10.6084/m9.figshare.c.4560497", licence="CC BY 4.0",
        select=_select_chapman, options=("signals",),
        note="4 workbooks checked against SHA-256 sums of verified copies (figshare publishes MD5 only); "
             "ECGDataDenoised.zip (about 2 GB) has no recorded checksum: it is checked for completeness "
             "and its members' CRC-32 while extracting, and its SHA-256 and MD5 are printed so you can "
             "compare the MD5 with the one figshare shows on the file's page",
    ),
    Source(name="mitbih_sample", embedded=True,
           note="embedded in the package (ecgharness/datasets/sample/); nothing to download"),
    Source(name="synthetic", embedded=True, note="generated in code; nothing to download"),
    Source(
        name="mitbih_kaggle", folder="kaggle_heartbeat", manual=True,
        landing="https://www.kaggle.com/datasets/shayanfazeli/heartbeat", licence="see Kaggle",
        note="Kaggle downloads need a Kaggle account, so bench cannot fetch them: download the "
             "dataset from https://www.kaggle.com/datasets/shayanfazeli/heartbeat and put "
             "mitbih_train.csv and mitbih_test.csv in <data root>/kaggle_heartbeat/",
    ),
):
    SOURCES.add(_source.name, _source)


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
