"""Errors raised for bad user input; the CLI prints their message without a traceback."""


class ConfigError(ValueError):
    """A suite, search space or dataset config is invalid; the message says how to fix it."""


class DataNotFoundError(FileNotFoundError):
    """A dataset's files are not where they are expected; the message says how to get them."""
