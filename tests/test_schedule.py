"""The one schedule: per-pair Optuna studies and ASHA brackets inside one Tune experiment, pairs
in flight together, time budgets, the suite's progress and ``status.json``."""

from __future__ import annotations

import io
import json
import sys
import time

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, TrialScheduler

from ecgharness.benchmark.multiplex import PAIR_KEY, TRIAL_KEY, Budgets, PairASHA, PairSearch, PairSearcher
from ecgharness.benchmark.observers import BestTrial, FinalDone, Pair, SearchDone, TrialEnd, TrialInfo
from ecgharness.benchmark.progress import ProgressTracker, SuiteProgress
from ecgharness.search_spaces.compiler import parse_space

A, B, C = Pair("ds", "cnn_lstm"), Pair("ds", "resnet_se"), Pair("other", "gru")


def _search(pair: Pair, space: dict | None = None, **kw) -> PairSearch:
    space = space or {"lr": {"loguniform": [1.0e-4, 1.0e-2]}, "batch_size": {"choice": [16, 32, 64]}}
    args = dict(num_samples=6, max_concurrent=2, seed=0, grace_period=1, reduction_factor=2, max_epochs=4)
    return PairSearch(pair, parse_space(pair.model, space, "test"), **{**args, **kw})


def _trial(pair: Pair, trial_id: str) -> Trial:
    return Trial("stand_in", config={PAIR_KEY: pair.label, TRIAL_KEY: trial_id}, trial_id=trial_id, stub=True)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_asha_stops_a_trial_against_its_own_pairs_siblings_only() -> None:
    """Strong cnn_lstm trials at rung 1 must not stop a resnet_se trial that is the first of its pair."""
    searches = [_search(A), _search(B)]
    asha = PairASHA(searches, Budgets(searches))
    shared = ASHAScheduler(time_attr="epoch", metric="best_score", mode="max", max_t=4, grace_period=1,
                           reduction_factor=2)
    strong = [_trial(A, "a1"), _trial(A, "a2")]
    weak = _trial(B, "b1")
    for scheduler in (asha, shared):
        for t in (*strong, weak):
            scheduler.on_trial_add(None, t)
        for t, score in zip(strong, (0.8, 0.9)):
            assert scheduler.on_trial_result(None, t, {"epoch": 1, "best_score": score}) == TrialScheduler.CONTINUE
    assert asha.on_trial_result(None, weak, {"epoch": 1, "best_score": 0.1}) == TrialScheduler.CONTINUE
    # the same events through one ASHA for both pairs: the weak architecture is cut by the other's
    assert shared.on_trial_result(None, weak, {"epoch": 1, "best_score": 0.1}) == TrialScheduler.STOP
    # within its own pair ASHA still stops: a weaker resnet_se sibling after two better ones
    for trial_id, score in (("b2", 0.5), ("b3", 0.05)):
        asha.on_trial_add(None, t := _trial(B, trial_id))
        action = asha.on_trial_result(None, t, {"epoch": 1, "best_score": score})
    assert action == TrialScheduler.STOP


def _drive(searcher: PairSearcher, rounds: int) -> dict[str, list[dict]]:
    """Suggest and complete trials in turn, each scored from its own config; configs per pair."""
    seen: dict[str, list[dict]] = {}
    for i in range(rounds):
        config = searcher.suggest(f"t{i}")
        if config in (None, PairSearcher.FINISHED):
            break
        seen.setdefault(config[PAIR_KEY], []).append({k: v for k, v in config.items() if k != TRIAL_KEY})
        score = -abs(config["lr"] - 3e-3) if "lr" in config else 0.0
        searcher.on_trial_result(f"t{i}", {"best_score": score, "training_iteration": 1})
        searcher.on_trial_complete(f"t{i}", {"best_score": score})
    return seen


def test_each_pair_has_its_own_seeded_optuna_study() -> None:
    """resnet_se's suggestions are the same whether or not cnn_lstm shares the experiment."""
    other = {"lr": {"loguniform": [1.0e-5, 1.0e-1]}, "base_channels": {"choice": [8, 16]}}
    both = PairSearcher([_search(A, num_samples=12), _search(B, other, num_samples=12)], Budgets([]))
    alone = PairSearcher([_search(B, other, num_samples=12)], Budgets([]))
    together, single = _drive(both, 30), _drive(alone, 30)
    assert len(together[B.label]) == len(single[B.label]) == 12 and len(together[A.label]) == 12
    assert together[B.label] == single[B.label]  # TPE after its 10 random trials too
    studies = {k: s._ot_study for k, s in both.studies.items()}  # noqa: SLF001
    assert [len(s.trials) for s in studies.values()] == [12, 12]
    assert all(set(t.params) == {"lr", "base_channels"} for t in studies[B.label].trials)
    assert all(c["batch_size"] in (16, 32, 64) for c in together[A.label])


def test_a_free_slot_goes_to_the_pair_with_fewest_trials_in_flight() -> None:
    searches = [_search(A, num_samples=3), _search(B, num_samples=3), _search(C, {"lr": 1.0e-3}, num_samples=3)]
    searcher = PairSearcher(searches, Budgets(searches))
    got = [searcher.suggest(f"t{i}")[PAIR_KEY] for i in range(5)]
    assert got == [A.label, B.label, C.label, A.label, B.label]
    assert searcher.suggest("t5") is None  # two in flight per pair, C's fixed space runs once
    searcher.on_trial_complete("t1")  # a B trial ends: the next trial is B's
    assert searcher.suggest("t7")[PAIR_KEY] == B.label
    for trial_id in list(searcher.owner):
        searcher.on_trial_complete(trial_id)
    assert searcher.suggest("t8")[PAIR_KEY] == A.label and searcher.suggest("t9") == PairSearcher.FINISHED


def test_budgets_stop_running_trials_at_their_next_report_and_pending_ones_before_they_start() -> None:
    clock = _Clock()
    searches = [_search(A, time_budget_s=10), _search(B)]
    budgets = Budgets(searches, suite_s=100, clock=clock)
    asha, searcher = PairASHA(searches, budgets), PairSearcher(searches, budgets)
    running, waiting, other = _trial(A, "a1"), _trial(A, "a2"), _trial(B, "b1")
    for t in (running, waiting, other):
        asha.on_trial_add(None, t)
    running.set_status(Trial.RUNNING)
    budgets.pair_started(A.label)
    assert asha.on_trial_result(None, running, {"epoch": 1, "best_score": 0.5}) == TrialScheduler.CONTINUE
    clock.now = 10.5  # A's budget is spent, the suite's is not
    assert asha.on_trial_result(None, running, {"epoch": 2, "best_score": 0.6}) == TrialScheduler.STOP
    assert budgets.stopped == {"a1"} and "pair's time budget (10 s)" in budgets.cut_reason[A.label]
    assert searcher.has_work(B.label) and not searcher.has_work(A.label)

    class Controller:
        stopped: list = []

        def get_trials(self):
            return [running, waiting, other]

        def stop_trial(self, trial):
            self.stopped.append(trial.trial_id)
            trial.set_status(Trial.TERMINATED)

    controller = Controller()
    assert asha.choose_trial_to_run(controller) is other and controller.stopped == ["a2"]
    clock.now = 100.0  # the suite's budget: B is cut as well, even though its own has no limit
    assert not searcher.has_work(B.label) and "suite's time budget (100 s)" in budgets.cut_reason[B.label]
    assert searcher.suggest("x") == PairSearcher.FINISHED


def _tracker(written: list, shown: list) -> ProgressTracker:
    return ProgressTracker("s", "r1", {A: 3, B: 3}, seeds=2, slots=4, emit=shown.append,
                           write=lambda snap: written.append(snap.to_dict()), every_s=3600)


def test_progress_counts_pairs_trials_slots_and_writes_them_for_bench_status(tmp_path, capsys) -> None:
    from ecgharness.cli import main
    from ecgharness.leaderboard.store import write_status

    written, shown = [], []
    tracker = _tracker(written, shown)
    info = {p: [TrialInfo(p, f"{p.model}{i}", {}, 0, 4) for i in range(3)] for p in (A, B)}
    for t in info[A] + info[B][:1]:
        tracker.trial_started(t)
    for t in info[A]:
        tracker.trial_ended(TrialEnd(t, "completed", 4, 0.5, 10.0))
    tracker.search_finished(SearchDone(A, "macro_f1", 30.0, BestTrial(0.5, {}, "a"), budget_cut=""))
    tracker.final_finished(FinalDone(A, 0, {}))
    snap = shown[-1]
    assert (snap.count("searching"), snap.count("final"), snap.count("done")) == (1, 1, 0)
    assert (snap.trials_done, snap.trials_total, snap.finals_done, snap.finals_total) == (3, 6, 1, 4)
    assert (snap.trials_running, snap.slots_busy, snap.slots_total) == (1, 2, 4)  # B's trial + A's 2nd seed
    assert snap.remaining_s == pytest.approx((3 + 3) * 10.0 / 4)  # units left x mean unit time / slots
    line = snap.line()
    assert "1 searching, 1 in final, 0/2 done" in line and "trials 3/6" in line and "slots 2/4 busy" in line
    assert written[-1]["pairs_searching"] == 1 and written[-1]["trials_done"] == 3
    tracker.final_finished(FinalDone(A, 1, {}))
    assert shown[-1].pairs[0].state == "done"

    run_dir = tmp_path / "s" / "r1"
    run_dir.mkdir(parents=True)
    write_status(run_dir, written[-1])
    assert SuiteProgress.from_dict(json.loads((run_dir / "status.json").read_text())).line() == shown[-1].line()
    assert main(["status", "r1", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "0 searching" not in out and "1 searching, 0 in final, 1/2 done" in out
    assert "ds/cnn_lstm" in out and "trials 3/3  final 2/2" in out and "trials 0/3  final 0/2" in out
    assert "--resume" not in out  # it runs, and wrote just now
    assert main(["status", "nope", "--results-dir", str(tmp_path)]) == 2
    assert "no status.json" in capsys.readouterr().err

    write_status(run_dir, {**written[-1], "updated": time.time() - 600})  # a killed driver's last word
    assert main(["status", "r1", "--results-dir", str(tmp_path)]) == 0
    assert f"no update for 10 min: if the run's process is gone" in capsys.readouterr().out
    write_status(run_dir, {**written[-1], "state": "stopped"})
    assert main(["status", "r1", "--results-dir", str(tmp_path)]) == 0
    assert f"the run was stopped; go on with: bench run --resume {run_dir.resolve()}" in capsys.readouterr().out


def test_console_redraws_one_status_line_on_a_terminal_and_prints_plain_lines_otherwise() -> None:
    from ecgharness.tracking.console import ConsoleObserver

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream in (Tty(), io.StringIO()):
        console = ConsoleObserver(stream=stream)
        tracker = ProgressTracker("s", "r1", {A: 1, B: 1}, 1, 2, emit=console.progress, write=lambda s: None,
                                  every_s=0)
        tracker.trial_started(t := TrialInfo(A, "a", {}, 0, 4))
        console.trial_ended(TrialEnd(t, "completed", 4, 0.5, 1.0))
        tracker.trial_ended(TrialEnd(t, "completed", 4, 0.5, 1.0))
        tracker.search_finished(SearchDone(A, "macro_f1", 1.0, None))
        tracker.close("finished")
        text = stream.getvalue()
        if stream.isatty():  # each drawing clears the line first; the trial's line pushes the status down
            assert text.count("\r\033[K") >= 5 and "completed" in text.split("\n")[0]
            assert text.endswith("\n") and text.rstrip("\n").rsplit("\r\033[K", 1)[1].startswith(
                "[finished] pairs: 0 searching, 0 in final, 1/2 done | trials 1/2 | final runs 0/1")
        else:
            assert "\r" not in text and "\033" not in text
            lines = text.splitlines()
            assert lines[0].startswith("progress [running]") and lines[-1].startswith("progress [finished]")
            assert sum(line.startswith("progress") for line in lines) == 3  # start, pair moved on, end


@pytest.fixture(scope="module")
def ray_local():
    import ray
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def stand_in(config: dict, epoch_s: dict, log: str) -> None:
    """A trial that sleeps per epoch and logs when it starts and reports."""
    from ray import tune

    key, trial_id = config[PAIR_KEY], tune.get_context().get_trial_id()
    with open(log, "a") as f:
        f.write(f"{key} {trial_id} start {time.time()}\n")
    best = 0.0
    for epoch in range(1, 5):
        time.sleep(epoch_s[key])
        best = max(best, config["lr"] * 100 + epoch / 10)
        with open(log, "a") as f:  # Tune may end the trial at any report: each is its end so far
            f.write(f"{key} {trial_id} end {time.time()}\n")
        tune.report({"epoch": epoch, "score": best, "best_score": best})


@pytest.mark.slow
def test_pairs_overlap_finals_start_early_and_a_budget_cuts_one_pair(ray_local, tmp_path) -> None:
    import ray
    from ray import tune

    from ecgharness.benchmark.observers import Observers
    from ecgharness.benchmark.schedule import run_schedule
    from ecgharness.leaderboard.store import BUDGET_STATUS, RunWriter

    log = tmp_path / "events.log"
    space = {"lr": {"loguniform": [1.0e-4, 1.0e-2]}}
    searches = [_search(A, space, num_samples=2, max_concurrent=1), _search(B, space, num_samples=4, max_concurrent=1),
                _search(C, space, num_samples=3, max_concurrent=1, time_budget_s=1.5)]
    epoch_s = {A.label: 0.3, B.label: 1.0, C.label: 0.6}
    trainable = tune.with_resources(tune.with_parameters(stand_in, epoch_s=epoch_s, log=str(log)), {"cpu": 1})

    @ray.remote(num_cpus=0)
    def final(label: str) -> None:
        with open(log, "a") as f:
            f.write(f"{label} final start {time.time()}\n")

    finals, searched = [], {}

    def on_searched(pair: Pair, best) -> None:
        searched[pair] = best
        finals.append(final.remote(pair.label))

    (tmp_path / "run").mkdir()
    writer = RunWriter(tmp_path / "run", "s")
    order = run_schedule(searches, trainable, storage=str(tmp_path / "tune"), name="t", writer=writer,
                         observers=Observers(), budgets=Budgets(searches), on_searched=on_searched, slots=2)
    ray.get(finals)
    spans, final_start = {}, {}
    for label, what, edge, at in (line.split() for line in log.read_text().splitlines()):
        if what == "final":
            final_start[label] = float(at)
        else:
            span = spans.setdefault((label, what), {})
            span[edge] = max(span.get(edge, 0.0), float(at))
    whole = {k: (v["start"], v["end"]) for k, v in spans.items() if len(v) == 2}
    # trials of different pairs ran at the same time
    assert any(ka[0] != kb[0] and a[0] < b[1] and b[0] < a[1] for ka, a in whole.items() for kb, b in whole.items())
    # A (2 short trials) ended before B (4 longer ones) and A's final started while B still searched
    assert order.index(A.label) < order.index(B.label)
    assert final_start[A.label] < max(end for (label, _), (_, end) in whole.items() if label == B.label)
    # C's budget stopped its trial mid-way and no other C trial started; its best so far goes to final
    trials = [r for r in writer.trials if r["model"] == "gru"]
    assert [r["status"] for r in trials] == [BUDGET_STATUS] and 1 <= trials[0]["epochs"] < 4
    assert searched[C] is not None and C.label in final_start
    rows = {r["model"]: r for r in writer.searches}
    assert "pair's time budget (1.5 s)" in rows["gru"]["budget_cut"] and rows["resnet_se"]["budget_cut"] == ""
    assert [r["model"] for r in writer.trials].count("resnet_se") == 4


def test_the_leaderboard_says_which_searches_a_time_budget_cut(tmp_path) -> None:
    import pandas as pd
    from report_fixtures import write_run

    from ecgharness.leaderboard import read_run, render_leaderboard

    folder = write_run(tmp_path / "tiny" / "r1", models=("strong", "weak"))
    assert "time budget" not in render_leaderboard(read_run(folder))
    pd.DataFrame([{"dataset": "mitbih", "model": "strong", "trials": 3, "seconds": 60.2,
                   "budget_cut": "the suite's time budget (60 s) ran out"},
                  {"dataset": "mitbih", "model": "weak", "trials": 4, "seconds": 50.0, "budget_cut": ""}]
                 ).to_csv(folder / "searches.csv", index=False)
    text = render_leaderboard(read_run(folder))
    assert "Search cut short by a time budget" in text
    assert "- mitbih/strong: the suite's time budget (60 s) ran out after 3 trial(s)" in text
    assert "weak: " not in text.split("time budget", 1)[1]
