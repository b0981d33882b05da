"""Operator controls shared by the service and the monitoring: the scoring pause.

A data-quality breach (or an operator) *pauses* scoring: the service then answers every
scoring request with 503 and the reason, until an operator resumes it. The switch is a small
JSON file under ``<home>/control/``, so it survives restarts and every worker sees it.

A pause file that cannot be read (truncated, not JSON, unreadable) is not taken as "not
paused": someone meant to pause. :func:`status` raises :class:`PauseFileError` naming the file
and the problem; the service refuses to score with a 503 saying so, ``loanctl service status``
prints that one line (exit 2), and ``loanctl service pause``/``resume`` replace or remove it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from loan_default.errors import PauseFileError
from loan_default.traffic import utcnow

PAUSE_FILE = "pause.json"


class PauseState(BaseModel):
    """Why and since when scoring is paused."""

    reason: str
    since: datetime
    by: str


def pause_path(home: str | Path) -> Path:
    return Path(home) / "control" / PAUSE_FILE


def pause(home: str | Path, reason: str, *, by: str = "operator") -> PauseState:
    """Pause scoring (idempotent: the first reason is kept; an unreadable file is replaced)."""
    try:
        if (current := status(home)) is not None:
            return current
    except PauseFileError:
        pass
    state = PauseState(reason=reason, since=utcnow(), by=by)
    path = pause_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(state.model_dump_json())
    tmp.replace(path)
    _audit("scoring.paused", home, by, reason=reason)
    return state


def resume(home: str | Path) -> bool:
    """Clear the pause; returns whether scoring was paused."""
    try:
        pause_path(home).unlink()
    except FileNotFoundError:
        return False
    _audit("scoring.resumed", home, "operator")
    return True


def _audit(event: str, home: str | Path, by: str, **details: Any) -> None:
    from loan_default.security.guard import record_control
    from loan_default.security.rbac import actor

    record_control(event, actor(by), home=Path(home), **details)


def status(home: str | Path) -> PauseState | None:
    """The pause in force, or None.

    Raises:
        PauseFileError: the pause file exists but cannot be read or is not a pause record.
    """
    path = pause_path(home)
    try:
        return PauseState.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValidationError) as exc:
        problem = exc.strerror if isinstance(exc, OSError) else "not a valid pause record"
        raise PauseFileError(
            f"the pause file {path} is unreadable ({problem}): scoring is refused until it is "
            "fixed, or replaced with `loanctl service pause` or removed with "
            "`loanctl service resume`"
        ) from None
