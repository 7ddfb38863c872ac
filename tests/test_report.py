"""`bench report` and the leaderboard's intervals, on a small stored run with known predictions."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from report_fixtures import CLASSES, stored_labels, write_run

from ecgharness.leaderboard.store import merge_runs, read_run
from ecgharness import rendering as render
from ecgharness.evaluation.bootstrap import resample_indices
from ecgharness.evaluation.metrics import per_class_table
from ecgharness.reports.tables import build_reports, comparison_table
from ecgharness.reports.writer import write_report

GOLDEN = Path(__file__).resolve().parent / "golden" / "report_comparison.md"


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("results") / "tiny" / "r1")


@pytest.fixture(scope="module")
def report(stored_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report(read_run(stored_run), out, n_resamples=300, seed=0)


def test_markdown_comparison_table_matches_the_golden_file(stored_run) -> None:
    reports = build_reports(read_run(stored_run), n_resamples=300, seed=0)
    table = render.markdown(comparison_table(reports["mitbih"]))
    assert table + "\n" == GOLDEN.read_text()


def test_report_folder_holds_every_artefact(report) -> None:
    folder = report.folder
    for name in ("report.md", "report.html", "tables.tex", "macro_comparison.csv", "per_class_f1.csv",
                 "per_class_sensitivity.csv", "per_class_auroc.csv", "best_model_detail.csv",
                 "bootstrap/mitbih.npy"):
        assert (folder / name).is_file(), name
    plots = sorted(p.name for p in (folder / "plots").glob("*.png"))
    assert plots == sorted(f"mitbih_{k}.png" for k in (
        "comparison", "heatmap_f1", "heatmap_sensitivity", "heatmap_specificity", "heatmap_auroc",
        "confusion", "roc_pr", "training", "search", "confidence", "reliability"))  # no gallery: no mitdb here
    assert all((folder / "plots" / p).stat().st_size > 5000 for p in plots)


def test_html_is_self_contained_and_marks_published_rows(report) -> None:
    page = (report.folder / "report.html").read_text()
    sources = re.findall(r'src="([^"]+)"', page)
    assert len(sources) == 11 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert page.count('class="published"') == 4  # 2 published rows (de Chazal, Niu) x (comparison + AAMI)
    assert "inter-patient" in page


def test_latex_uses_booktabs_and_bolds_the_best(report) -> None:
    tex = (report.folder / "tables.tex").read_text()
    assert tex.count(r"\toprule") == 6 and r"\bottomrule" in tex and r"\midrule" in tex
    assert r"\textbf{0.8" in tex and r"$\pm$" in tex and "_" not in tex.replace(r"\_", "")


def test_csvs_recompute_from_predictions(report, stored_run) -> None:
    run = read_run(stored_run)
    labels = stored_labels()
    f1 = pd.read_csv(report.folder / "per_class_f1.csv").set_index("model")
    for model in ("strong", "weak"):
        tables = [per_class_table(labels, run.predictions("mitbih", model, s)["scores"], CLASSES, "multiclass")
                  for s in (0, 1)]
        expected = np.mean([t.loc["S", "f1"] for t in tables])
        assert f1.loc[model, "S"] == pytest.approx(expected)
        assert np.isnan(f1.loc[model, "Q"])  # no Q in the test set: undefined, not 0
    detail = pd.read_csv(report.folder / "best_model_detail.csv")
    assert set(detail["model"]) == {"strong"}
    counts = detail.set_index("class").loc[list(CLASSES[:4]), [f"predicted {c}" for c in CLASSES]].to_numpy()
    assert counts.sum() == 2 * len(labels)  # confusion counts summed over the two seeds


def test_intervals_cover_the_estimate_and_the_leader_is_significantly_better(report) -> None:
    macro = pd.read_csv(report.folder / "macro_comparison.csv").set_index("model")
    assert list(macro.index) == ["strong", "fair", "weak"]
    assert ((macro["ci_low"] <= macro["headline_mean"]) & (macro["headline_mean"] <= macro["ci_high"])).all()
    assert np.isnan(macro.loc["strong", "p_vs_leader"])
    assert (macro.loc[["fair", "weak"], "p_vs_leader"] < 0.05).all()


def test_bootstrap_indices_are_stored_and_reproducible(report, stored_run, tmp_path) -> None:
    stored = np.load(report.folder / "bootstrap" / "mitbih.npy")
    np.testing.assert_array_equal(stored, resample_indices(stored_labels(), n_resamples=300, seed=0))
    again = write_report(read_run(stored_run), tmp_path, n_resamples=300, seed=0)
    a = pd.read_csv(report.folder / "macro_comparison.csv")
    b = pd.read_csv(again.folder / "macro_comparison.csv")
    pd.testing.assert_frame_equal(a, b)


def test_merged_parts_rank_like_the_whole(tmp_path, stored_run) -> None:
    a = write_run(tmp_path / "tiny" / "part-a", models=("strong",))
    b = write_run(tmp_path / "tiny" / "part-b", models=("fair", "weak"))
    merged = merge_runs([read_run(a), read_run(b)])
    whole = build_reports(read_run(stored_run), n_resamples=300)["mitbih"].ranking
    parts = build_reports(merged, n_resamples=300)["mitbih"].ranking
    pd.testing.assert_frame_equal(whole.reset_index(drop=True), parts.reset_index(drop=True))


def test_merge_refuses_different_dataset_configurations_and_duplicates(tmp_path) -> None:
    a = write_run(tmp_path / "tiny" / "a", models=("strong",))
    b = write_run(tmp_path / "tiny" / "b", models=("weak",), config={"split": "intrapatient", "leads": ["MLII"]})
    with pytest.raises(ValueError, match="'mitbih' was prepared with different configurations.*split"):
        merge_runs([read_run(a), read_run(b)])
    c = write_run(tmp_path / "tiny" / "c", models=("strong", "fair"))
    with pytest.raises(ValueError, match="both .* hold final results for mitbih/strong seed 0"):
        merge_runs([read_run(a), read_run(c)])
    d = write_run(tmp_path / "tiny" / "d", models=("strong",), seeds=(5,), hparams={"lr": 0.01})
    with pytest.raises(ValueError, match="mitbih/strong was retrained with a different configuration"):
        merge_runs([read_run(a), read_run(d)])
    e = write_run(tmp_path / "tiny" / "e", models=("strong",), seeds=(5,))  # same configuration, more seeds
    merged = merge_runs([read_run(a), read_run(e)])
    assert sorted(merged.final_runs["seed"]) == [0, 1, 5]


def test_cli_report_and_latex_leaderboard_with_intervals(tmp_path) -> None:
    root = tmp_path / "results"
    write_run(root / "tiny" / "part-a", models=("strong", "fair"))
    write_run(root / "tiny" / "part-b", models=("weak",))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "ecgharness", "report", "--results-dir", str(root),
                           "--run", "part-a", "--run", "part-b", "--out", str(out), "--bootstrap", "200"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "leader strong, 3 model(s)" in done.stdout and (out / "report.html").exists()
    board = subprocess.run([sys.executable, "-m", "ecgharness", "leaderboard", "--results-dir", str(root),
                            "--run", "part-a", "--run", "part-b", "--format", "latex"],
                           capture_output=True, text=True, check=True).stdout
    assert r"\toprule" in board and "95\\% CI" in board and board.count(r"\\") >= 4
    bad = subprocess.run([sys.executable, "-m", "ecgharness", "report", "--results-dir", str(root),
                          "--run", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no completed run 'nope'" in bad.stderr and "part-a" in bad.stderr


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium for the screenshot")
def test_report_html_renders_in_headless_chromium(report, tmp_path) -> None:
    shot = tmp_path / "report.png"
    subprocess.run([sys.executable, str(Path(__file__).resolve().parent.parent / "scripts" / "screenshot_report.py"),
                    str(report.folder / "report.html"), str(shot)], check=True, capture_output=True, timeout=120)
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size[0] >= 1200 and image.size[1] >= 1000
        colours = image.convert("RGB").resize((64, 64)).getcolors(64 * 64)
    assert colours is not None and len(colours) > 50  # tables and plots, not a blank page


def test_cli_report_logs_its_plots_to_an_offline_wandb_run(tmp_path) -> None:
    root = tmp_path / "results"
    write_run(root / "tiny" / "r1", models=("strong", "weak"))
    env = {k: v for k, v in os.environ.items() if k != "WANDB_API_KEY"} | {"WANDB_MODE": "offline"}
    done = subprocess.run([sys.executable, "-m", "ecgharness", "report", "--results-dir", str(root),
                           "--bootstrap", "100", "--wandb"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "11 image(s) logged offline" in done.stdout and "wandb sync" in done.stdout
    assert len(list((root / "tiny" / "r1" / "report" / "wandb").glob("offline-run-*"))) == 1


def test_missing_predictions_are_explained_not_hidden(tmp_path) -> None:
    root = tmp_path / "results"
    run_dir = write_run(root / "tiny" / "r1", models=("strong", "weak"))
    (run_dir / "predictions" / "mitbih__weak__seed1.npz").unlink()
    board = subprocess.run([sys.executable, "-m", "ecgharness", "leaderboard", "--results-dir", str(root)],
                           capture_output=True, text=True, check=True).stdout
    assert "95% CI not available: no stored test predictions mitbih__weak__seed1.npz" in board
    done = subprocess.run([sys.executable, "-m", "ecgharness", "report", "--results-dir", str(root)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "mitbih__weak__seed1.npz" in done.stderr and "Traceback" not in done.stderr


def test_the_run_folder_names_its_format_and_a_newer_one_is_refused(tmp_path) -> None:
    import json

    folder = write_run(tmp_path / "tiny" / "v")
    assert json.loads((folder / "format.json").read_text()) == {"format": "ecgharness-run", "version": 2}
    (folder / "format.json").unlink()  # folders without the format file read as the current version
    assert len(read_run(folder).final_runs) == 6
    (folder / "format.json").write_text(json.dumps({"format": "ecgharness-run", "version": 3}))
    with pytest.raises(ValueError, match="format version 3; this ecgharness reads up to version 2"):
        read_run(folder)


def test_published_rows_say_whether_our_row_is_the_same_model_and_protocol() -> None:
    from ecgharness.evaluation.references import match, references_for, related_for

    (ptbxl,) = references_for("ptbxl", {"task": "superdiagnostic", "sampling_rate": 100})
    rows = {r["model"]: r for r in ptbxl["rows"]}
    benchmark = {"crop_s": 2.5, "tta_window_s": 2.5, "tta_stride_s": 1.25, "tta_aggregate": "max",
                 "scheduler": "onecycle", "select": "last", "max_epochs": 50}
    assert match(ptbxl, rows["lstm"], {"lstm_ptbxl"}, benchmark) == "same model and protocol as our lstm_ptbxl"
    assert match(ptbxl, rows["lstm"], {"lstm"}, benchmark) == ""  # our attention lstm is another model
    assert match(ptbxl, rows["resnet1d_wang"], {"resnet1d_wang"}, {"scheduler": "none"}) == \
        "same model as our resnet1d_wang, other protocol"
    assert match(ptbxl, rows["Wavelet+NN"], {"resnet1d_wang"}, benchmark) == ""
    assert ptbxl["source"]  # every PTB-XL number was checked against the authors' table
    (yildirim,) = references_for("chapman", {"labels": "groups"})  # the public release; Zheng et al.: not
    assert "Yildirim" in yildirim["reference"] and "own random" in yildirim["protocol"]
    (zheng,) = related_for("chapman", {"labels": "groups"})
    assert "not on the public" in zheng["why"]
