"""The argument values several commands parse the same way: lists of integers and of names."""

from __future__ import annotations

from mfbench.core.errors import UsageError


def parse_int_list(text: str, what: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` (inclusive) or a mix."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if not part:
                continue
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if not part.startswith("-") else (part, part)
                out.extend(range(int(lo), int(hi) + 1))
            else:
                out.append(int(part))
    except ValueError:
        raise UsageError(f"{what} must be integers like 0,1,2 or 0-4, got {text!r}") from None
    if not out:
        raise UsageError(f"{what} is empty")
    return out


def names(text: str | None) -> list[str] | None:
    """``"a, b,c"`` as ``["a", "b", "c"]``; None for no text (the option was not given)."""
    return [t.strip() for t in text.split(",") if t.strip()] if text else None
