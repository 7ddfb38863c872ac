"""Results store -> rankings and tables."""

from ecgharness.leaderboard.rankings import leaderboard_frames, render_leaderboard
from ecgharness.leaderboard.store import RunResults, find_runs, read_run, resolve_run

__all__ = ["RunResults", "find_runs", "leaderboard_frames", "read_run", "render_leaderboard", "resolve_run"]
