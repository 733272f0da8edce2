"""The background process's heartbeat: a small file in DATA_DIR that its supervisor watches.

`python -m data.jobs.background` writes `<pid> <unix time>` about every second while its jobs are
making progress; gunicorn.conf.py kills and restarts a process whose heartbeat is older than
`STALE_INTERVALS` refresh intervals (frozen, or a job thread stuck far past its interval).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

STALE_INTERVALS = 2  # the supervisor restarts the process past this many refresh intervals without a beat
JOB_STALL_INTERVALS = 10  # a job thread silent this long (at least a minute) stops the beat
_beats: dict[str, float] = {}
_lock = threading.Lock()


def path(data_dir: Path) -> Path:
    return data_dir / "background.heartbeat"


def job_beat(job: str) -> None:
    """A job's loop is alive (called once per iteration, whether or not this process leads)."""
    with _lock:
        _beats[job] = time.monotonic()


def write(data_dir: Path, refresh_seconds: int) -> bool:
    """Beat unless a job thread has been silent too long; True if it beat."""
    stall = max(60.0, JOB_STALL_INTERVALS * refresh_seconds)
    with _lock:
        if any(time.monotonic() - at > stall for at in _beats.values()):
            return False
    target = path(data_dir)
    temporary = target.with_suffix(".tmp")
    temporary.write_text(f"{os.getpid()} {time.time():.3f}")
    temporary.replace(target)
    return True


def read(data_dir: Path) -> tuple[int, float] | None:
    """(pid, unix time) of the last beat, or None."""
    try:
        pid, at = path(data_dir).read_text().split()
        return int(pid), float(at)
    except (OSError, ValueError):
        return None
