"""A band of a measured value and how it is shown: the congestion and occupancy scales are made of them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Band:
    key: str
    low: float  # inclusive
    high: float  # exclusive; math.inf for the last band
    name_zh: str
    name_en: str
    color: str
