"""The command line: listing, help, and bad input answered with one clear error (no Ray started)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ecgharness.cli import main


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ecgharness", *args], capture_output=True, text=True, timeout=120)


def test_help_does_not_import_heavy_packages() -> None:
    code = ("import sys; from ecgharness.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'ray', 'wfdb', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "examples:" in bench("run", "--help").stdout


def test_list(capsys) -> None:
    assert main(["list", "models"]) == 0
    models = capsys.readouterr().out
    assert all(m in models for m in ("cnn_lstm", "rhythm_attention", "resnet_se"))
    assert main(["list", "datasets"]) == 0
    assert "mitbih_sample" in capsys.readouterr().out
    assert main(["list", "suites"]) == 0
    assert "quick" in capsys.readouterr().out


@pytest.mark.parametrize("args,message", [
    (["run", "--suite", "quik"], "unknown suite 'quik'; valid suites:"),
    (["run", "--models", "cnn_lstm,transformer"], "unknown model 'transformer'"),
    (["run", "--datasets", "ptb"], "unknown dataset 'ptb'"),
    (["run", "--datasets", "mitbih", "--data-root", "/nonexistent/x"], "no MIT-BIH records found in /nonexistent/x/mitdb"),
    (["leaderboard", "--results-dir", "/nonexistent/r"], "no completed runs under /nonexistent/r"),
    (["run", "--time-budget", "-5"], "--time-budget -5: give a positive number of seconds"),
    (["status", "--results-dir", "/nonexistent/r"], "no run with a status.json under /nonexistent/r"),
])
def test_bad_input_is_one_clear_error(args, message, tmp_path) -> None:
    result = bench(*args, "--results-dir", str(tmp_path)) if args[0] == "run" else bench(*args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written for a run that could not start
