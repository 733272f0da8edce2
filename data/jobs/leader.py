"""Which process runs a background job (the live simulator, the alert rules): exactly one at a time.

- SQLite (one machine): an exclusive file lock in DATA_DIR, as before.
- PostgreSQL (any number of machines with the same configuration): a session-level advisory lock
  on a connection of its own. When the leader dies its session ends and the lock with it (at once
  for a killed process; for a lost machine when the server's TCP keepalives give up, ~20 s), and
  the next `held()` of another process takes it.

Each job asks `held()` before every tick, so a process whose session was lost (a database
restart) stops ticking before another one can start.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import socket
from typing import IO

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from data import outage
from data.config import Settings

log = logging.getLogger("citybrain.leader")
# The server drops a silent client's session (and its lock) after idle + interval * count seconds.
KEEPALIVE = {"tcp_keepalives_idle": 5, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


def lock_key(job: str) -> int:
    """A stable signed 64-bit advisory lock key for `job`."""
    return int.from_bytes(hashlib.sha1(f"citybrain:{job}".encode()).digest()[:8], "big", signed=True)


class JobLock:
    def __init__(self, settings: Settings, job: str) -> None:
        self.job = job
        self.postgres = settings.database_url.startswith("postgresql")
        self._path = settings.data_dir / f"{job}.lock"
        self._file: IO[str] | None = None
        self._conn: Connection | None = None
        # (pg_stat_activity names the leader: application_name "citybrain jobs <host> <pid>")
        name = {"application_name": f"citybrain jobs {socket.gethostname()[:30]} {os.getpid()}"}
        self._engine = (
            create_engine(settings.database_url, poolclass=NullPool, connect_args=name) if self.postgres else None
        )

    def held(self) -> bool:
        """Does this process lead `job` now? Takes the lock when it is free."""
        return self._advisory() if self.postgres else self._flock()

    def _flock(self) -> bool:
        if self._file is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self._path, "w")  # noqa: SIM115 - held for the process life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _advisory(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))  # the session, and so the lock, is still ours
                return True
            except Exception as exc:
                log.warning("%s: lost the leader session (%s); stepping down", self.job, type(exc).__name__)
                self._close()
                return False
        assert self._engine is not None
        try:
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:
            if outage.is_unavailable(exc):
                outage.failed(exc)
                return False
            raise
        try:
            for name, value in KEEPALIVE.items():
                conn.execute(text(f"SET {name} = {int(value)}"))
            got = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self.job)}).scalar()
        except Exception:
            conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        log.info("%s: this process leads (PostgreSQL advisory lock)", self.job)
        return True

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                conn.close()
        except Exception:
            conn.invalidate()
