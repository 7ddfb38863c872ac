"""The results store (one writer and one reader of the run folder) and the rankings."""

from ecgharness.leaderboard.rankings import leaderboard_frames
from ecgharness.leaderboard.render import render_leaderboard
from ecgharness.leaderboard.store import RunResults, find_runs, read_run, resolve_run

__all__ = ["RunResults", "find_runs", "leaderboard_frames", "read_run", "render_leaderboard", "resolve_run"]
