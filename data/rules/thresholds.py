"""The levels the alert rules open incidents at (ALERT_* settings), also drawn on the KPI trend charts."""

from __future__ import annotations

from dataclasses import dataclass

from data.config import Settings


@dataclass(frozen=True)
class Thresholds:
    aqi: float = 200
    congestion_index: float = 2.0
    parking_full_pct: float = 100
    silent_group: int = 20

    @classmethod
    def from_settings(cls, settings: Settings) -> Thresholds:
        return cls(
            aqi=settings.alert_aqi,
            congestion_index=settings.alert_congestion_index,
            parking_full_pct=settings.alert_parking_full_pct,
            silent_group=settings.alert_silent_group,
        )
