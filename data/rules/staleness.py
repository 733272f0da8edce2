"""When a sensor counts as stale in the registry: no reading for longer than STALE_INTERVALS of its
layer's reporting interval (traffic and parking report every 15-minute bucket, air quality hourly).

Three intervals: one late report is a busy broker, three in a row is a sensor (or its feed) gone quiet.
"""

from __future__ import annotations

REPORTING_INTERVAL_S = {"traffic": 900, "parking": 900, "air_quality": 3600}
STALE_INTERVALS = 3


def stale_after_s(layer: str) -> int:
    """Seconds without a reading after which a sensor of `layer` is stale."""
    return STALE_INTERVALS * REPORTING_INTERVAL_S[layer]


def is_stale(layer: str, last_seen: float | None, now: float) -> bool:
    """True when the sensor never reported, or its newest reading is older than `stale_after_s(layer)`."""
    if last_seen is None or last_seen != last_seen:  # None or NaN: never seen
        return True
    return now - last_seen > stale_after_s(layer)
