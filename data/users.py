"""Users, roles, passwords and API tokens — and the command line that manages them.

    python -m cli.users add NAME --role ROLE   # password from standard input
    python -m cli.users token NAME             # prints a new bearer token for scripts
    python -m cli.users list | disable NAME | enable NAME
    python -m cli.users tokens NAME | revoke-token HASH_PREFIX
    python -m cli.users setup-link [--url URL] # no user yet: a one-time link to create the first admin

Passwords are hashed with werkzeug.security (scrypt); tokens are random and stored as SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from data import store
from data.config import load_settings
from data.rules.workflow import ROLES, role_at_least
from data.store import operations as ops_store

MIN_PASSWORD_LENGTH = 8
MAX_FAILURES = 5  # failed sign-ins per name ...
LOCK_SECONDS = 15 * 60  # ... within this window lock the name for the rest of it
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True)
class User:
    name: str
    role: str

    def can(self, role: str) -> bool:
        return role_at_least(self.role, role)


class UserError(ValueError):
    pass


def _engine():
    return store.get_engine(load_settings().database_url)


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not 2 <= len(name) <= 64 or not set(name) <= NAME_CHARS:
        raise UserError("a user name is 2–64 characters: a-z, 0-9, '.', '_' or '-'")
    return name


def add_user(name: str, role: str, password: str, actor: str = "cli") -> User:
    name = check_name(name)
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    ops_store.save_user(_engine(), name, role, generate_password_hash(password), actor, int(time.time()))
    return User(name, role)


def has_users() -> bool:
    return ops_store.count_users(_engine()) > 0


def new_token(name: str, actor: str = "cli") -> str:
    engine = _engine()
    row = ops_store.get_user(engine, check_name(name))
    if row is None or row["disabled"]:
        raise UserError(f"no enabled user {name!r}")
    token = "cb_" + secrets.token_urlsafe(32)
    ops_store.add_token(engine, row["name"], _token_hash(token), actor, int(time.time()))
    return token


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(token: str) -> User | None:
    if not token.startswith("cb_") or len(token) > 100:
        return None
    max_age = load_settings().token_days * 86400
    row = ops_store.user_for_token(_engine(), _token_hash(token), int(time.time()), max_age)
    return User(row["name"], row["role"]) if row else None


def start_session(user: User, lifetime_s: int) -> str:
    """A new server-side session for `user`; returns the random id for the cookie."""
    sid, now = secrets.token_urlsafe(32), int(time.time())
    ops_store.start_session(_engine(), _token_hash(sid), user.name, now, now + lifetime_s)
    return sid


def session_user(sid: str) -> User | None:
    """The user of a live session, re-read so sign-out, a disabled user or a changed role take effect at once."""
    row = ops_store.session_user(_engine(), _token_hash(sid), int(time.time()))
    return User(row["name"], row["role"]) if row else None


def renew_session(sid: str, lifetime_s: int, max_age_s: int) -> int | None:
    """Keep a session in use alive another `lifetime_s`, at most `max_age_s` after sign-in; its new end
    (epoch seconds), or None when it has ended."""
    now = int(time.time())
    return ops_store.renew_session(_engine(), _token_hash(sid), now, now + lifetime_s, max_age_s)


def end_session(sid: str) -> None:
    ops_store.end_session(_engine(), _token_hash(sid))


class LoginLocked(Exception):
    pass


def authenticate(name: str, password: str, remote: str = "", now: float | None = None) -> User | None:
    """The user if name and password match; None otherwise. Raises LoginLocked after MAX_FAILURES."""
    now = int(now or time.time())
    engine = _engine()
    key = name.strip().lower()[:64]
    # Per name *and* address: someone else failing on purpose cannot lock a user out (LOGIN_RATE_LIMIT
    # bounds how fast one address may guess at all).
    if ops_store.login_failures_since(engine, key, now - LOCK_SECONDS, remote) >= MAX_FAILURES:
        raise LoginLocked(key)
    row = ops_store.get_user(engine, key)
    # Check a hash even for unknown names, so timing does not tell which names exist.
    ok = check_password_hash(row["password_hash"] if row else _DUMMY_HASH, password) and row is not None
    if not ok or row["disabled"]:
        ops_store.record_login_failure(engine, key, remote, now)
        return None
    ops_store.clear_login_failures(engine, key)
    return User(row["name"], row["role"])


_DUMMY_HASH = generate_password_hash("not a password")

# --- first run: a one-time link that creates the first admin (as Jupyter prints its token) -----------

SETUP_META = "first_run_setup"
SETUP_SECONDS = 30 * 60


def issue_setup_token(now: float | None = None) -> str | None:
    """A new single-use token for creating the first admin, valid SETUP_SECONDS (it replaces any
    earlier one); None once any user exists. Only its hash is stored."""
    if has_users():
        return None
    token = secrets.token_urlsafe(32)
    expires = int(now or time.time()) + SETUP_SECONDS
    store.set_meta(_engine(), SETUP_META, json.dumps({"hash": _token_hash(token), "expires": expires}))
    return token


def _setup_record(token: str, now: float | None) -> str | None:
    """The stored record `token` matches while unexpired and no user exists, else None."""
    if not token or len(token) > 100 or has_users():
        return None
    raw = store.get_meta(_engine(), SETUP_META)
    try:
        record = json.loads(raw) if raw else None
        matches = record is not None and hmac.compare_digest(str(record["hash"]), _token_hash(token))
        alive = matches and int(record["expires"]) > int(now or time.time())
    except (ValueError, KeyError, TypeError):
        return None
    return raw if alive else None


def setup_token_valid(token: str, now: float | None = None) -> bool:
    return _setup_record(token, now) is not None


def create_first_admin(token: str, name: str, password: str, now: float | None = None) -> User:
    """Spend the setup token on the first admin. Raises UserError for a bad name or password (the
    token stays valid) or for a used, expired or wrong token, or when a user already exists."""
    name = check_name(name)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    raw = _setup_record(token, now)
    # Taking the stored record is atomic: of two requests with the same token only one gets it.
    if raw is None or not store.take_meta(_engine(), SETUP_META, raw) or has_users():
        raise UserError("this sign-in link is no longer valid (used, expired, or a user exists)")
    return add_user(name, "admin", password, actor="first-run")


def setup_banner(base_url: str) -> str | None:
    """The console text with a new one-time link, or None when a user exists."""
    token = issue_setup_token()
    if token is None:
        return None
    minutes = SETUP_SECONDS // 60
    return (
        "\n    No user exists yet. Open this link to create the first administrator and set a password\n"
        f"    (valid once, for {minutes} minutes; restart the server for a new one):\n\n"
        f"        {base_url.rstrip('/')}/setup?token={token}\n\n"
        "    Other users later: python -m cli.users add NAME --role ROLE\n"
    )


def base_url(host: str, port: int | str) -> str:
    """The URL a browser on this machine opens for a server bound to host:port."""
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host
    return f"http://{host}:{port}"
