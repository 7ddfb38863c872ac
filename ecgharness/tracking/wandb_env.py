"""Weights & Biases without surprises: which mode a run logs in, and never a secret.

The API key is read by wandb itself from ``WANDB_API_KEY`` or ``~/.netrc``; this module
only checks whether one exists (:func:`resolve_mode`). Without one (or with
``WANDB_MODE=offline``) runs are written offline and can be uploaded later with
:func:`sync_command`. :func:`scrub` and :func:`redact` keep credentials out of every
config, summary and warning.
"""

from __future__ import annotations

import netrc
import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# credential names: api_key, ..._token (not num_tokens or token_dim), secrets, passwords
_SECRET_NAME = re.compile(r"api[_-]?key|(^|[_-])token$|secret|password|passwd|credential", re.IGNORECASE)
# the shapes of W&B keys: 40 hex characters, or the prefixed forms of local and newer keys
_KEY_LIKE = re.compile(r"^([0-9a-f]{40}|local-[0-9a-f]{40,}|wandb_v\d+_[A-Za-z0-9_-]{20,})$")


def _netrc_key() -> str | None:
    """The password of the ``.netrc`` entry for the W&B host, if there is one."""
    host = urlsplit(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").netloc
    candidates = [os.environ["NETRC"]] if os.environ.get("NETRC") else [
        str(Path.home() / ".netrc"), str(Path.home() / "_netrc")]
    for path in candidates:
        try:
            creds = netrc.netrc(path).authenticators(host)
        except (OSError, netrc.NetrcParseError):
            continue
        if creds and creds[2]:
            return creds[2]
    return None


def has_api_key() -> bool:
    """Whether wandb will find credentials: ``WANDB_API_KEY`` or a ``.netrc`` entry for the host."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    return _netrc_key() is not None


def resolve_mode() -> tuple[str, str]:
    """The W&B mode to use and why: ``online``, ``offline`` or ``disabled``."""
    env = (os.environ.get("WANDB_MODE") or "").strip().lower()
    if env in ("offline", "dryrun"):
        return "offline", f"WANDB_MODE={env}"
    if env == "disabled":
        return "disabled", "WANDB_MODE=disabled"
    if not has_api_key():
        return "offline", "no API key in WANDB_API_KEY or ~/.netrc"
    return "online", "API key from the environment"


def _env_secrets() -> set[str]:
    """Values never to write anywhere: secret-named environment variables and the netrc key."""
    secrets = {v for k, v in os.environ.items() if v and len(v) >= 8 and _SECRET_NAME.search(k)}
    key = _netrc_key()
    return secrets | ({key} if key and len(key) >= 8 else set())


def redact(text: str) -> str:
    """``text`` with the values of secret-named environment variables blanked out."""
    for secret in _env_secrets():
        text = text.replace(secret, "<redacted>")
    return text


def scrub(config: Any) -> Any:
    """``config`` without anything that looks like a credential (by key name or by value)."""
    secrets = _env_secrets()
    if isinstance(config, dict):
        return {k: scrub(v) for k, v in config.items() if not _SECRET_NAME.search(str(k))}
    if isinstance(config, (list, tuple)):
        return [scrub(v) for v in config]
    if isinstance(config, str) and (_KEY_LIKE.match(config) or any(s in config for s in secrets)):
        return "<redacted>"
    return config


def sync_command(wandb_dir: Path) -> str:
    return f"wandb sync {shlex.quote(str(wandb_dir))}/offline-run-*"


def quiet_settings(wandb: Any) -> Any:
    """Quiet settings: no console capture, no system metrics, no code or requirements saved."""
    wanted = {"silent": True, "console": "off", "x_disable_stats": True, "x_disable_meta": True,
              "x_disable_machine_info": True, "x_save_requirements": False, "save_code": False,
              "disable_git": True, "disable_code": True, "disable_job_creation": True}
    known = getattr(wandb.Settings, "model_fields", None)
    return wandb.Settings(**{k: v for k, v in wanted.items() if known is None or k in known})
