"""Downloads against a local HTTP mirror: verified, resumable, refusing unsafe paths. No network."""

from __future__ import annotations

import hashlib
import shutil
import stat
import zipfile
from pathlib import Path

import pytest

from ecgharness.datasets import chapman
from ecgharness.datasets.download import (
    ChecksumMismatchError,
    DownloadError,
    UnsafePathError,
    download_dataset,
    download_file,
    extract_zip,
    parse_sha256sums,
    safe_join,
)
from ecgharness.errors import ConfigError
from http_mirror import Mirror, mitdb_release, write_sha256sums

FIXTURES = Path(__file__).parent / "fixtures"
RECORDS = ("118", "124")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def served(tmp_path: Path, sample_dir: Path):
    """A mirror of a MIT-BIH-like release (two real sample records) at ``/mitdb/1.0.0/``."""
    release = mitdb_release(tmp_path / "server", sample_dir, list(RECORDS))
    with Mirror(tmp_path / "server") as mirror:
        mirror.release = release
        yield mirror


def test_download_file_success(served, tmp_path: Path) -> None:
    src = served.release / "118.dat"
    dest = tmp_path / "out" / "118.dat"
    assert download_file(served.url("mitdb/1.0.0/118.dat"), dest, sha256(src), progress=False) is True
    assert dest.read_bytes() == src.read_bytes()
    assert not dest.with_name("118.dat.part").exists()


def test_resume_after_a_cut_transfer(served, tmp_path: Path) -> None:
    src = served.release / "118.dat"
    served.state.cut["mitdb/1.0.0/118.dat"] = 10_000
    dest = tmp_path / "118.dat"
    assert download_file(served.url("mitdb/1.0.0/118.dat"), dest, sha256(src), progress=False, retry_wait=0)
    assert served.state.requests_for("mitdb/1.0.0/118.dat") == [None, "bytes=10000-"]
    assert dest.read_bytes() == src.read_bytes()


def test_resume_in_a_later_run(served, tmp_path: Path) -> None:
    src = served.release / "118.dat"
    url, dest = served.url("mitdb/1.0.0/118.dat"), tmp_path / "118.dat"
    served.state.cut["mitdb/1.0.0/118.dat"] = 4096
    with pytest.raises(DownloadError, match="run the download again to resume"):
        download_file(url, dest, sha256(src), progress=False, retries=0)
    part = tmp_path / "118.dat.part"
    assert part.stat().st_size == 4096 and not dest.exists()
    assert download_file(url, dest, sha256(src), progress=False) is True
    assert served.state.requests_for("mitdb/1.0.0/118.dat")[-1] == "bytes=4096-"
    assert dest.read_bytes() == src.read_bytes() and not part.exists()


def test_server_ignoring_range_restarts_the_file(served, tmp_path: Path) -> None:
    src = served.release / "118.atr"
    dest = tmp_path / "118.atr"
    (tmp_path / "118.atr.part").write_bytes(b"\xff" * 100)
    served.state.ignore_range = True  # answers 200 with the whole file
    assert download_file(served.url("mitdb/1.0.0/118.atr"), dest, sha256(src), progress=False)
    assert served.state.requests_for("mitdb/1.0.0/118.atr") == ["bytes=100-"]
    assert dest.read_bytes() == src.read_bytes()


def test_stale_part_file_is_fetched_again_from_the_start(served, tmp_path: Path) -> None:
    src = served.release / "118.atr"
    dest = tmp_path / "118.atr"
    (tmp_path / "118.atr.part").write_bytes(b"\x00" * 100)  # not a prefix of the real file
    assert download_file(served.url("mitdb/1.0.0/118.atr"), dest, sha256(src), progress=False)
    assert served.state.requests_for("mitdb/1.0.0/118.atr") == ["bytes=100-", None]
    assert dest.read_bytes() == src.read_bytes()


def test_checksum_mismatch_is_rejected_and_nothing_kept(served, tmp_path: Path) -> None:
    src = served.release / "118.hea"
    wrong = "0" * 64
    dest = tmp_path / "118.hea"
    with pytest.raises(ChecksumMismatchError) as info:
        download_file(served.url("mitdb/1.0.0/118.hea"), dest, wrong, progress=False)
    message = str(info.value)
    assert "118.hea" in message and wrong in message and sha256(src) in message
    assert not dest.exists() and not (tmp_path / "118.hea.part").exists()


def test_present_file_is_not_fetched_again(served, tmp_path: Path) -> None:
    src = served.release / "124.hea"
    dest = tmp_path / "124.hea"
    shutil.copy(src, dest)
    assert download_file(served.url("mitdb/1.0.0/124.hea"), dest, sha256(src), progress=False) is False
    assert served.state.requests_for("mitdb/1.0.0/124.hea") == []


def test_http_error_names_the_url(served, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"nothing\.dat: HTTP 404"):
        download_file(served.url("mitdb/1.0.0/nothing.dat"), tmp_path / "x", progress=False, retry_wait=0)


def test_download_dataset_fetches_verifies_and_skips(served, tmp_path: Path) -> None:
    root = tmp_path / "data"
    base = served.url("mitdb/1.0.0/")
    first = download_dataset("mitbih", root, mirror=base, records=[118, 124], progress=False)
    assert first.ok and first.present == [] and len(first.downloaded) == 8
    for name in first.downloaded:
        assert (root / "mitdb" / name).read_bytes() == (served.release / name).read_bytes()
    assert (root / "mitdb" / "SHA256SUMS.txt").exists()
    second = download_dataset("mitbih", root, mirror=base, records=["118", "124"], progress=False)
    assert second.downloaded == [] and sorted(second.present) == sorted(first.downloaded)


def test_download_dataset_reports_a_corrupt_file_and_keeps_the_others(served, tmp_path: Path) -> None:
    names = [line.split()[1] for line in (served.release / "SHA256SUMS.txt").read_text().splitlines()]
    write_sha256sums(served.release, names, overrides={"124.dat": "ab" * 32})
    root = tmp_path / "data"
    summary = download_dataset("mitbih", root, mirror=served.url("mitdb/1.0.0/"), records=[118, 124],
                               progress=False)
    assert [name for name, _ in summary.failed] == ["124.dat"]
    assert "ab" * 32 in summary.failed[0][1]
    assert not (root / "mitdb" / "124.dat").exists() and not (root / "mitdb" / "124.dat.part").exists()
    assert (root / "mitdb" / "118.dat").exists()


def test_mirror_from_environment(served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mirror_root = tmp_path / "server" / "mitbih"  # $ECGHARNESS_MIRROR/<dataset>/
    shutil.copytree(served.release, mirror_root)
    monkeypatch.setenv("ECGHARNESS_MIRROR", served.url())
    summary = download_dataset("mitbih", tmp_path / "data", records=[118], progress=False)
    assert summary.ok and summary.base_url == served.url("mitbih/")
    assert (tmp_path / "data" / "mitdb" / "118.dat").exists()


@pytest.mark.parametrize("entry", ["../x", "/etc/passwd", "a/../../x", "..", "C:\\x", "ok/..\\..\\x"])
def test_unsafe_paths_in_a_checksum_list_are_refused(entry: str) -> None:
    text = f"{'a' * 64} RECORDS\n{'b' * 64}  {entry}\n"
    with pytest.raises(UnsafePathError, match="line 2"):
        parse_sha256sums(text)


def test_unsafe_checksum_list_stops_the_download_before_any_file(served, tmp_path: Path) -> None:
    sums = served.release / "SHA256SUMS.txt"
    sums.write_text(sums.read_text() + f"{'c' * 64} ../../evil.hea\n")
    with pytest.raises(UnsafePathError, match="evil"):
        download_dataset("mitbih", tmp_path / "data", mirror=served.url("mitdb/1.0.0/"), records=[118],
                         progress=False)
    assert not (tmp_path / "evil.hea").exists() and not (tmp_path / "data" / "mitdb" / "118.dat").exists()


def test_parse_sha256sums_formats() -> None:
    a, b, c = "a" * 64, "B" * 64, "c" * 64
    sums = parse_sha256sums(f"{a} 100.hea\n{b}  records100/00000/00001_lr.dat\r\n\n{c} *bin.zip\n")
    assert sums == {"100.hea": a, "records100/00000/00001_lr.dat": "b" * 64, "bin.zip": c}
    with pytest.raises(DownloadError, match="line 1"):
        parse_sha256sums("not a checksum line\n")


def test_safe_join(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "records100/00000/x.hea") == tmp_path / "records100/00000/x.hea"
    for bad in ("../x", "/abs", "a/../../b", ""):
        with pytest.raises(UnsafePathError, match="refusing path"):
            safe_join(tmp_path, bad)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (tmp_path / "link").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UnsafePathError, match="outside"):
        safe_join(tmp_path, "link/x")


def test_zip_slip_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    for evil in ("../evil.txt", "/tmp/evil-abs.txt", "ECGDataDenoised/../../evil.txt"):
        archive = tmp_path / "a.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("ECGDataDenoised/ok.csv", "1,2\n")
            zf.writestr(zipfile.ZipInfo(evil), "pwned")
        target = tmp_path / "target"
        with pytest.raises(UnsafePathError, match="refusing"):
            extract_zip(archive, target)
        assert not target.exists()
        assert not (tmp_path / "evil.txt").exists()


def test_damaged_zip_member_is_a_download_error(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ECGDataDenoised/x.csv", "0.125,0.25,0.5\n" * 2000)
    data = bytearray(archive.read_bytes())
    for i in range(60, 100):  # inside the deflate stream of the only member
        data[i] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="damaged member"):
        extract_zip(archive, tmp_path / "target")


def test_part_file_that_is_a_symlink_is_refused(served, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    dest = tmp_path / "root" / "118.dat"
    dest.parent.mkdir()
    dest.with_name("118.dat.part").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        download_file(served.url("mitdb/1.0.0/118.dat"), dest, sha256(served.release / "118.dat"), progress=False)
    assert outside.read_text() == "keep me" and not dest.exists()


def test_zip_symlink_member_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        link = zipfile.ZipInfo("ECGDataDenoised/link")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        extract_zip(archive, tmp_path / "target")


def test_chapman_download_extracts_the_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """figshare layout (files by id), workbooks checked by SHA-256, waveform zip unpacked in place."""
    pd = pytest.importorskip("pandas")
    server = tmp_path / "server"
    server.mkdir()
    table = pd.read_csv(FIXTURES / "chapman" / "Diagnostics.csv")
    for name, file_id in chapman.CHAPMAN_FILE_IDS.items():
        if name.endswith(".xlsx"):
            (table if name == "Diagnostics.xlsx" else table.head(1)).to_excel(server / file_id, index=False)
            monkeypatch.setitem(chapman.CHAPMAN_SHA256, name, sha256(server / file_id))
    with zipfile.ZipFile(server / chapman.CHAPMAN_FILE_IDS["ECGDataDenoised.zip"], "w") as zf:
        for csv in sorted((FIXTURES / "chapman" / "ECGDataDenoised").glob("*.csv")):
            zf.write(csv, f"ECGDataDenoised/{csv.name}")
    root = tmp_path / "data"
    with Mirror(server) as mirror:
        summary = download_dataset("chapman", root, mirror=mirror.url(), progress=False)
        again = download_dataset("chapman", root, mirror=mirror.url(), progress=False)
    assert summary.ok and summary.extracted == {"ECGDataDenoised.zip": 3}
    assert set(summary.unverified) == {"ECGDataDenoised.zip"}
    folder = root / "chapman"
    assert sorted(p.name for p in (folder / "ECGDataDenoised").iterdir()) == sorted(
        p.name for p in (FIXTURES / "chapman" / "ECGDataDenoised").iterdir())
    assert not (folder / "ECGDataDenoised.zip").exists()  # removed once extracted
    assert again.downloaded == [] and len(again.present) == 5

    from ecgharness.datasets.chapman import read_diagnostics

    assert len(read_diagnostics(folder)) == len(table)


def test_options_a_source_does_not_take_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="sampling_rate do not apply"):
        download_dataset("mitbih", tmp_path, sampling_rate=500)
    with pytest.raises(ConfigError, match="Kaggle"):
        download_dataset("mitbih_kaggle", tmp_path)
    with pytest.raises(ConfigError, match="unknown record"):
        download_dataset("mitbih", tmp_path, mirror="http://127.0.0.1:9/", records=[999], retries=0)
    assert download_dataset("mitbih_sample", tmp_path).folder is None


def test_unreachable_checksum_list_is_one_clear_error(served, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot fetch the checksum list .*HTTP 404"):
        download_dataset("mitbih", tmp_path, mirror=served.url("nothing/"), progress=False)
    with pytest.raises(DownloadError, match="cannot fetch the checksum list .*--mirror"):
        download_dataset("mitbih", tmp_path, mirror="http://127.0.0.1:1/", progress=False)


def test_ptbxl_download_selects_the_rate_and_records(tmp_path: Path) -> None:
    """A PhysioNet-style PTB-XL release from the committed fixture records; the loader reads the result."""
    release = tmp_path / "server" / "ptb-xl" / "1.0.1"
    shutil.copytree(FIXTURES / "ptbxl", release)
    names = sorted(p.relative_to(release).as_posix() for p in release.rglob("*") if p.is_file())
    (release / "records500" / "00000").mkdir(parents=True)
    (release / "records500" / "00000" / "00001_hr.hea").write_text("not fetched at 100 Hz\n")
    write_sha256sums(release, names + ["records500/00000/00001_hr.hea"])
    root = tmp_path / "data"
    with Mirror(tmp_path / "server") as mirror:
        base = mirror.url("ptb-xl/1.0.1/")
        some = download_dataset("ptbxl", root, mirror=base, records=[1, 2], progress=False)
        assert sorted(some.downloaded) == ["ptbxl_database.csv", "records100/00000/00001_lr.dat",
                                           "records100/00000/00001_lr.hea", "records100/00000/00002_lr.dat",
                                           "records100/00000/00002_lr.hea", "scp_statements.csv"]
        every = download_dataset("ptbxl", root, mirror=base, sampling_rate=100, progress=False)
        with pytest.raises(ConfigError, match="not in the publisher's checksum list"):
            download_dataset("ptbxl", root, mirror=base, records=[99999], progress=False)
    assert every.ok and len(every.present) == 6 and len(every.downloaded) == len(names) - 6
    assert not (root / "ptbxl" / "records500").exists()

    from ecgharness.datasets import load_dataset

    ds = load_dataset("ptbxl", root=root)
    assert not ds.quarantined and sum(len(s) for s in ds.splits.values()) > 0
