"""``bench data download | prepare | info`` end to end, against a local mirror (no network)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ecgharness.cli import main
from http_mirror import Mirror, mitdb_release, write_sha256sums

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def mitdb_mirror(tmp_path: Path, sample_dir: Path):
    """The nine embedded sample records served as a PhysioNet-style release at ``/mitdb/1.0.0/``."""
    records = (sample_dir / "RECORDS").read_text().split()
    release = mitdb_release(tmp_path / "server", sample_dir, records)
    with Mirror(tmp_path / "server") as mirror:
        mirror.release, mirror.records = release, records
        yield mirror


def test_download_prepare_info_end_to_end(mitdb_mirror, tmp_path: Path, capsys) -> None:
    root = tmp_path / "data"
    records = ",".join(mitdb_mirror.records)
    args = ["data", "download", "mitbih", "--root", str(root), "--records", records,
            "--mirror", mitdb_mirror.url("mitdb/1.0.0/"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "29 file(s) downloaded" in out and "0 failed" in out and "next: bench data prepare mitbih" in out
    for name in ("RECORDS", "118.dat", "233.atr"):
        assert (root / "mitdb" / name).read_bytes() == (mitdb_mirror.release / name).read_bytes()

    assert main(args) == 0  # again: everything verified in place, nothing fetched
    assert "0 file(s) downloaded (0.0 MB), 29 already present" in capsys.readouterr().out
    assert all(rng is None for _, rng in mitdb_mirror.state.requests)

    assert main(["data", "prepare", "mitbih", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "9 in the source, 0 quarantined" in out
    assert all(f"  {split}" in out for split in ("train", "val", "test"))
    assert "cache" in out

    assert main(["data", "info", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    block = out.split("\nmitbih\n", 1)[1].split("\n\n", 1)[0]
    assert "9 of 48 records" in block and "yes, default config" in block
    assert "quarantined  0" in block


def test_download_failure_is_reported(mitdb_mirror, tmp_path: Path, capsys) -> None:
    names = ["RECORDS", "ANNOTATORS", "118.hea", "118.dat", "118.atr"]
    write_sha256sums(mitdb_mirror.release, names, overrides={"118.dat": "0" * 64})
    rc = main(["data", "download", "mitbih", "--root", str(tmp_path / "data"), "--records", "118",
               "--mirror", mitdb_mirror.url("mitdb/1.0.0/"), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1
    assert "FAILED 118.dat: 118.dat: SHA-256 mismatch: expected " + "0" * 64 in captured.err
    assert not (tmp_path / "data" / "mitdb" / "118.dat").exists()


def test_info_on_fixture_data(tmp_path: Path, sample_dir: Path, capsys) -> None:
    root = tmp_path / "data"
    shutil.copytree(FIXTURES / "ptbxl", root / "ptbxl")
    shutil.copytree(FIXTURES / "chapman", root / "chapman")
    (root / "mitdb").mkdir(parents=True)
    for ext in ("hea", "dat", "atr"):
        shutil.copy(sample_dir / f"118.{ext}", root / "mitdb")
    shutil.copy(sample_dir / "124.hea", root / "mitdb")  # incomplete record: not counted
    hea = len(list((FIXTURES / "ptbxl" / "records100").rglob("*.hea")))
    csvs = len(list((FIXTURES / "chapman" / "ECGDataDenoised").glob("*.csv")))

    assert main(["data", "info", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    blocks = {b.split("\n", 1)[0]: b for b in out.split("\n\n")[1:]}
    assert set(blocks) >= {"mitbih", "mitbih_sample", "ptbxl", "chapman", "mitbih_kaggle", "synthetic"}
    assert "1 of 48 records" in blocks["mitbih"] and "missing: bench data download mitbih" in blocks["mitbih"]
    assert f"2 of 2 tables, records100/ {hea} records, records500/ 0 records" in blocks["ptbxl"]
    assert f"Diagnostics.csv, ECGDataDenoised/ {csvs} of 10,646 records" in blocks["chapman"]
    assert "embedded in the package" in blocks["mitbih_sample"]
    assert "0 of 2 files" in blocks["mitbih_kaggle"]
    assert all("no (bench data prepare" in b for b in blocks.values() if not b.startswith("synthetic"))


def test_info_counts_quarantined_files(tmp_path: Path, sample_dir: Path, capsys) -> None:
    root = tmp_path / "data"
    shutil.copytree(sample_dir, root / "mitdb")
    dat = root / "mitdb" / "209.dat"
    dat.write_bytes(dat.read_bytes()[:1000])  # truncated signal
    assert main(["data", "prepare", "mitbih", "--root", str(root)]) == 0
    assert "1 quarantined" in capsys.readouterr().out
    assert main(["data", "info", "--root", str(root)]) == 0
    block = capsys.readouterr().out.split("\nmitbih\n", 1)[1].split("\n\n", 1)[0]
    assert "quarantined  1 file(s): " in block and "quarantine.json" in block


def test_prepare_embedded_sample(capsys) -> None:
    assert main(["data", "prepare", "mitbih_sample"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mitbih_sample: 5 classes")
    assert "9 in the source, 0 quarantined (0.0%)" in out
    assert main(["data", "prepare", "mitbih_sample"]) == 0
    assert "(already prepared)" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["data", "download", "mitbih_kaggle"], "Kaggle downloads need a Kaggle account"),
    (["data", "download", "ptb"], "unknown download source 'ptb'"),
    (["data", "download", "mitbih", "--sampling-rate", "500"], "sampling_rate do not apply"),
    (["data", "download", "mitbih", "--records", "100,999"], "unknown record(s) ['999']"),
    (["data", "prepare", "ptbxl", "--root", "/nonexistent/x"], "bench data download ptbxl"),
])
def test_bad_input_is_one_clear_error(args, message, capsys) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err


def test_embedded_dataset_needs_no_download(capsys) -> None:
    assert main(["data", "download", "mitbih_sample"]) == 0
    assert "nothing to download" in capsys.readouterr().out


def test_help_has_examples(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["data", "download", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and "examples:" in out and "--mirror" in out
