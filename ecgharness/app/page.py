"""The `bench app` page (Streamlit): pick a kept model of a run, choose or upload a record,
see the ECG with each beat's class and confidence, the per-class counts, and the run's
leaderboard and report plots.

Started by ``bench app --run RUN`` (``streamlit run page.py -- --run RUN``); the run folder
may also come from ``$ECGHARNESS_APP_RUN``. Query parameters preselect what to show, so a
link (or a screenshot script) can open the page with a record loaded:
``?model=cnn_lstm&record=213``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import streamlit as st

from ecgharness.errors import ConfigError
from ecgharness.inference.bundle import load_bundle
from ecgharness.inference.locate import kept_models
from ecgharness.inference.predict import BEAT_DATASETS, Prediction, predict_input
from ecgharness.inference.records import read_input
from ecgharness.leaderboard import read_run, render_leaderboard

SOURCES = ("Example record", "Upload", "Path on this machine")
UPLOAD_TYPES = ["hea", "dat", "atr", "csv", "npy"]


def run_folder() -> Path | None:
    """``--run DIR`` after ``--`` on the streamlit command line, else ``$ECGHARNESS_APP_RUN``."""
    args = sys.argv[1:]
    if "--run" in args and args.index("--run") + 1 < len(args):
        return Path(args[args.index("--run") + 1])
    env = os.environ.get("ECGHARNESS_APP_RUN")
    return Path(env) if env else None


@st.cache_resource(show_spinner=False)
def _bundle(path: str):
    return load_bundle(Path(path))


def example_records(dataset: str) -> list[str]:
    """Records shipped with the package that a model of ``dataset`` can score."""
    if dataset not in BEAT_DATASETS:
        return []
    from ecgharness.datasets.mitbih import sample_root

    return sorted(p.stem for p in sample_root().glob("*.hea"))


def _index(options: list[str], wanted: str | None, default: int = 0) -> int:
    matches = [i for i, o in enumerate(options) if wanted and (o == wanted or o.split(" · ")[0] == wanted)]
    return matches[0] if matches else default


def _uploaded(files) -> Path | None:
    """The uploaded files in a temporary folder; the record to read (.hea, else .csv/.npy)."""
    if not files:
        return None
    folder = Path(tempfile.mkdtemp(prefix="ecgharness-app-"))
    for f in files:
        (folder / Path(f.name).name).write_bytes(f.getvalue())
    names = [Path(f.name).name for f in files]
    header = [n for n in names if n.lower().endswith(".hea")]
    if header:
        if not (folder / Path(header[0]).with_suffix(".dat")).exists():
            raise ConfigError(f"{header[0]}: upload the record's .dat file together with its .hea header")
        return folder / header[0]
    return folder / names[0]


def choose_record(dataset: str) -> Path | None:
    """The sidebar's record choice as a path (None until one is given)."""
    query = st.query_params
    examples = example_records(dataset)
    sources = list(SOURCES) if examples else list(SOURCES[1:])
    source = st.sidebar.radio("Record", sources, index=_index(sources, query.get("source")), key="source")
    if source == "Example record":
        name = st.sidebar.selectbox("Embedded MIT-BIH sample record", examples,
                                    index=_index(examples, query.get("record")), key="example")
        from ecgharness.datasets.mitbih import sample_root

        return sample_root() / f"{name}.hea"
    if source == "Upload":
        files = st.sidebar.file_uploader("WFDB (.hea + .dat, optional .atr), CSV or .npy", type=UPLOAD_TYPES,
                                         accept_multiple_files=True, key="upload")
        return _uploaded(files)
    text = st.sidebar.text_input("Path of a .hea, .csv or .npy file", value=query.get("path", ""), key="path")
    return Path(text) if text else None


def show_prediction(pred: Prediction) -> None:
    st.subheader(f"{pred.record}: {pred.model}")
    st.caption(f"{'Beats from ' if pred.level == 'beat' else 'Scored as '}{pred.source}"
               + "".join(f"; {n}" for n in pred.notes))
    table = pred.table()
    if pred.level == "record":
        st.dataframe(table, hide_index=True)
        return
    summary = pred.summary()
    left, mid, right = st.columns(3)
    left.metric("Beats", len(table))
    mid.metric("Low confidence (< 0.6)", int(table["low_confidence"].sum()))
    right.metric("Most frequent class", str(summary.sort_values("beats").iloc[-1]["class"]))
    from ecgharness.inference.plot import plot_prediction

    seconds = st.slider("Seconds shown", 5, 60, 20, key="seconds")
    start = st.slider("Start (s)", 0, max(0, int(len(pred.signal) / pred.fs) - seconds), 0, key="start")
    st.pyplot(plot_prediction(pred, start_s=start, seconds=seconds), clear_figure=True)
    st.markdown("**Beats per predicted class**")
    st.dataframe(summary, hide_index=True)
    st.markdown("**Every beat**")
    st.dataframe(table, hide_index=True)
    st.download_button("Download the beats (CSV)", table.to_csv(index=False), f"{pred.record}_beats.csv",
                       "text/csv")


def show_run(results) -> None:
    st.markdown(render_leaderboard(results, "markdown"))
    plots = sorted((results.path / "report" / "plots").glob("*.png"))
    if not plots:
        st.info(f"No report plots yet: `bench report --run {results.path}` writes them, and they appear here.")
    for plot in plots[:24]:
        st.image(str(plot), caption=plot.stem)


def main() -> None:
    st.set_page_config(page_title="ecgharness", layout="wide")
    folder = run_folder()
    if folder is None or not (folder / "final_runs.csv").exists():
        st.error(f"No run folder to show ({folder}): start the page with `bench app --run RUN`.")
        return
    results = read_run(folder)
    st.title(f"ecgharness · {results.label}")
    kept = kept_models(results)
    if not kept:
        st.error("This run kept no weights (runs of format version 1 did not): run `bench run` again.")
        return
    labels = [f"{m} · {d} · seed {s}" for d, m, s in kept]
    choice = st.sidebar.selectbox("Model", labels, index=_index(labels, st.query_params.get("model")), key="model")
    dataset, model, seed = kept[labels.index(choice)]
    record_tab, run_tab = st.tabs(["Record", "Leaderboard and report"])
    with run_tab:
        show_run(results)
    with record_tab:
        try:
            path = choose_record(dataset)
            if path is None:
                st.info("Choose an example record, upload one or give a path in the sidebar.")
                return
            bundle = _bundle(str(results.weights(dataset, model, seed)))
            show_prediction(predict_input(bundle, read_input(path)))
        except (ConfigError, FileNotFoundError, ValueError) as exc:
            st.error(str(exc))
        except Exception as exc:  # the page shows a message, never a traceback
            st.error(f"could not score the record: {type(exc).__name__}: {exc}")


main()
