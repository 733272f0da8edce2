"""Service-level targets for incidents: time to acknowledge and time to dispatch (contact).

Defaults follow the report (ch. 3, Haidian's Baidu City Brain emergency platform): a reported
emergency is answered within 60 seconds and the responsible unit is contacted within 3 minutes.
The report gives no targets for less urgent events; the 10- and 30-minute dispatch targets for
severity 2 and 1 are ours. All targets can be overridden per type and severity with a JSON file
named by `SLA_FILE`:

    {"default": {"ack_s": 60}, "severity": {"2": {"dispatch_s": 900}},
     "kinds": {"gas_sensor": {"ack_s": 30, "severity": {"4": {"dispatch_s": 120}}}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Targets:
    ack_s: int
    dispatch_s: int


DEFAULT_ACK_S = 60
DEFAULT_DISPATCH_S = {1: 1800, 2: 600, 3: 180, 4: 180}  # 3 and 4 are "urgent": report's 3 minutes


class SlaConfigError(ValueError):
    pass


def _apply(base: Targets, override: Any, where: str) -> Targets:
    if not isinstance(override, dict):
        raise SlaConfigError(f"{where}: expected an object")
    values = {}
    for name in ("ack_s", "dispatch_s"):
        if name in override:
            value = override[name]
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 7 * 86400:
                raise SlaConfigError(f"{where}.{name}: seconds between 1 and 604800")
            values[name] = value
    return replace(base, **values)


@dataclass(frozen=True)
class SlaTable:
    config: dict[str, Any]

    def targets(self, kind: str, severity: int) -> Targets:
        cfg = self.config
        base = Targets(DEFAULT_ACK_S, DEFAULT_DISPATCH_S.get(int(severity), DEFAULT_DISPATCH_S[1]))
        base = _apply(base, cfg.get("default", {}), "default")
        base = _apply(base, cfg.get("severity", {}).get(str(severity), {}), f"severity.{severity}")
        kind_cfg = cfg.get("kinds", {}).get(kind, {})
        base = _apply(base, {k: v for k, v in kind_cfg.items() if k != "severity"}, f"kinds.{kind}")
        return _apply(base, kind_cfg.get("severity", {}).get(str(severity), {}), f"kinds.{kind}.severity.{severity}")

    def arrays(self, kinds: np.ndarray, severities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ack and dispatch targets (seconds) for arrays of kinds and severities."""
        keys = [(str(k), int(s)) for k, s in zip(kinds.tolist(), severities.tolist(), strict=True)]
        found = {key: self.targets(*key) for key in set(keys)}
        ack = np.array([found[key].ack_s for key in keys], dtype=float)
        dispatch = np.array([found[key].dispatch_s for key in keys], dtype=float)
        return ack, dispatch


def parse(config: Any) -> SlaTable:
    """Validate an SLA override document (raises SlaConfigError naming the bad entry)."""
    if not isinstance(config, dict):
        raise SlaConfigError("the SLA file must hold a JSON object")
    table = SlaTable(config)
    for kind in [None, *config.get("kinds", {})]:
        for severity in (1, 2, 3, 4):
            table.targets(kind or "", severity)
    return table


@lru_cache(maxsize=4)
def _load(path: str) -> SlaTable:
    return parse(json.loads(Path(path).read_text(encoding="utf-8")))


def current(path: str | None) -> SlaTable:
    """The SLA table in force: defaults, or the overrides in the JSON file at `path` (SLA_FILE)."""
    return _load(path) if path else SlaTable({})


def breached(reported: np.ndarray, done: np.ndarray, target_s: np.ndarray, at: int) -> np.ndarray:
    """Whether each step missed its target by `at`: done late, or not done and already overdue.

    `done` holds the step's timestamp or NaN when it has not happened by `at`.
    """
    due = reported + target_s
    finished = ~np.isnan(done) & (done <= at)
    return np.where(finished, done > due, at > due)
