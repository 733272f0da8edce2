"""Throwaway PostgreSQL (+PostGIS) and Redis servers for the tests, on free loopback ports.

Each server lives in its own temporary directory (data, unix socket, log) and is stopped and removed
by `stop()`. PostgreSQL refuses to run as root, so as root the cluster is created and run as the
Debian `postgres` user (runuser) in a directory that user owns. Missing binaries raise
`ServerMissing`: the fixtures turn that into a test failure, never a skip, so a machine without
the Debian packages (`postgresql postgresql-15-postgis-3 redis-server`) cannot pass silently.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
PG_USER = "citybrain"  # the cluster's superuser (trust authentication, loopback and socket only)
INSTALL_HINT = "install the Debian packages: apt-get install postgresql postgresql-15-postgis-3 redis-server"


class ServerMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


@dataclass
class Postgres:
    root: Path
    port: int
    as_user: list[str] = field(default_factory=list)
    options: str = ""  # the server options it was started with (to start it again after `pause`)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres", driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, postgis: bool = True) -> str:
        """A new database (with the PostGIS extension) and its SQLAlchemy URL."""
        import psycopg

        with psycopg.connect(self.url(driver="postgresql"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        if postgis:
            with psycopg.connect(self.url(name, driver="postgresql"), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url(name)

    def pause(self) -> None:
        """Stop the server (fast shutdown: sessions are ended) and keep its data, for `resume`."""
        _run([*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def resume(self) -> None:
        """Start a paused server again on the same port; returns once it accepts connections."""
        _run(
            [
                *self.as_user,
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-o",
                self.options,
                "-l",
                str(self.root / "postgres.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> Postgres:
    """initdb a fresh cluster in a temporary directory and start it on 127.0.0.1:<free port>."""
    for binary in ("initdb", "pg_ctl", "postgres"):
        if not (PG_BIN / binary).exists():
            raise ServerMissing(f"{PG_BIN / binary} not found: {INSTALL_HINT}")
    share = subprocess.run([str(PG_BIN / "pg_config"), "--sharedir"], capture_output=True, text=True).stdout.strip()
    if not (Path(share) / "extension" / "postgis.control").exists():
        raise ServerMissing(f"PostGIS extension for PostgreSQL 15 not found: {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="citybrain-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses root: run it as the Debian `postgres` user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerMissing(f"running as root and no `postgres` user exists: {INSTALL_HINT}") from exc
        os.chown(root, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    server = Postgres(root, free_port(), as_user)
    try:
        _run(
            [
                *as_user,
                str(PG_BIN / "initdb"),
                "-D",
                str(server.data_dir),
                "-U",
                PG_USER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ]
        )
        server.options = (
            f"-p {server.port} -k {root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        server.resume()
    except Exception:
        server.stop()
        raise
    return server


@dataclass
class Redis:
    root: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def start_redis(timeout_s: float = 20) -> Redis:
    """redis-server on 127.0.0.1:<free port>, no persistence, in a temporary directory."""
    if not Path(REDIS_SERVER).exists():
        raise ServerMissing(f"{REDIS_SERVER} not found: {INSTALL_HINT}")
    root = Path(tempfile.mkdtemp(prefix="citybrain-redis-"))
    port = free_port()
    log = open(root / "redis.log", "w")  # noqa: SIM115 - the server's own log, kept with its directory
    process = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(root),
            "--unixsocket",
            str(root / "redis.sock"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Redis(root, port, process)
    import redis

    deadline = time.time() + timeout_s
    while True:
        if process.poll() is not None:
            text = (root / "redis.log").read_text()
            server.stop()
            raise RuntimeError(f"redis-server exited: {text[-2000:]}")
        try:
            if redis.Redis(port=port, socket_connect_timeout=0.5).ping():
                return server
        except redis.exceptions.ConnectionError:
            if time.time() > deadline:
                server.stop()
                raise RuntimeError(f"redis-server did not answer within {timeout_s:.0f} s") from None
            time.sleep(0.1)
