"""Errors that the CLI turns into one line on stderr and exit status 2, and the signal of an
optimizer that has nothing left to propose."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class SearchExhausted(RuntimeError):
    """Raised by an optimizer's ``ask`` when it has nothing left to propose (every point of a
    finite space evaluated): the runner ends that run as finished, ``stopped_by="exhausted"``,
    rather than failed, since its incumbent can no longer change."""


class UsageError(Exception):
    """Bad input from the user: unknown option, malformed config, foreign or corrupt file."""


def read_json(path: str | Path, hint: str = "") -> Any:
    """The JSON document in ``path``; invalid JSON is a one-line ``UsageError`` (manifests are
    user-facing files: a half-written or hand-edited one must not end in a traceback)."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}){hint}") from None
