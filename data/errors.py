"""Domain errors: what went wrong in the data layer's own words. The HTTP layer (api/errors.py) alone
turns a kind into a status code; the data layer knows no transport."""

from __future__ import annotations

from typing import Any, Literal

Kind = Literal["invalid", "forbidden", "not_found", "conflict", "unprocessable"]


class DomainError(Exception):
    """Refused: `kind` says which sort of refusal, `code` the specific reason (stable, for clients),
    `current` optionally the thing as it stands now (so a client can refresh its view)."""

    def __init__(self, kind: Kind, code: str, message: str, current: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.kind, self.code, self.current = kind, code, current
