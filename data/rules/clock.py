"""China Standard Time and the 15-minute buckets every view is keyed on.

China has one time zone, UTC+8, without daylight saving: a fixed offset is exact."""

from __future__ import annotations

import time

HOUR = 3600
DAY = 24 * HOUR
CST = 8 * HOUR  # China Standard Time: the simulator's day, the shifts, every label on screen
BUCKET_SECONDS = 15 * 60


def floor_bucket(t: float, size: int = BUCKET_SECONDS) -> int:
    """Start of the `size`-second bucket holding `t` (epoch seconds)."""
    return int(t // size * size)


def local_label(t: float) -> str:
    """`t` as "YYYY-MM-DD HH:MM" in China Standard Time."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(int(t) + CST))


def local_day_start(t: float) -> int:
    """Epoch second of the China Standard Time midnight that starts `t`'s day."""
    return int((t + CST) // DAY * DAY - CST)
