"""Storage for operations: users, API tokens, failed sign-ins, the incident workflow and the audit log.

Part of the store (its tables are declared with the others in data/store/__init__.py), kept apart
because it holds records of what people did rather than sensor data. Every workflow write and its audit entry go in
one transaction; the audit log is append-only, enforced by database triggers as well.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import case, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from data.store import (
    api_token,
    app_session,
    app_user,
    audit_log,
    bump_feed,
    incident,
    login_failure,
    read_frame,
)


def _audit(
    conn: Connection,
    at: int,
    actor: str,
    entity: str,
    entity_id: Any,
    action: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    note: str = "",
) -> None:
    conn.execute(
        audit_log.insert().values(
            at=at,
            actor=actor,
            entity=entity,
            entity_id=str(entity_id),
            action=action,
            before=json.dumps(dict(before), ensure_ascii=False, default=str),
            after=json.dumps(dict(after), ensure_ascii=False, default=str),
            note=note,
        )
    )


# --- users and tokens ---------------------------------------------------------------------------


def count_users(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(app_user.c.name)).all())


def get_user(engine: Engine, name: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(app_user).where(app_user.c.name == name)).mappings().first()
    return dict(row) if row else None


def list_users(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(app_user.c.name, app_user.c.role, app_user.c.disabled).order_by(app_user.c.name))
        return [dict(r) for r in rows.mappings()]


def save_user(engine: Engine, name: str, role: str, password_hash: str, actor: str, now: int) -> None:
    """Add a user or replace an existing user's role and password (audited; hashes are not logged)."""
    with engine.begin() as conn:
        before = conn.execute(select(app_user).where(app_user.c.name == name)).mappings().first()
        if before is None:
            conn.execute(app_user.insert().values(name=name, role=role, password_hash=password_hash, created_at=now))
        else:
            conn.execute(
                app_user.update().where(app_user.c.name == name).values(role=role, password_hash=password_hash)
            )
            # A new password ends every session and token of the old one (they may be what leaked).
            conn.execute(api_token.delete().where(api_token.c.user_name == name))
            conn.execute(app_session.delete().where(app_session.c.user_name == name))
        old = {"role": before["role"], "disabled": before["disabled"]} if before else {}
        _audit(conn, now, actor, "user", name, "update" if before else "create", old, {"role": role, "disabled": False})


def set_disabled(engine: Engine, name: str, disabled: bool, actor: str, now: int) -> bool:
    with engine.begin() as conn:
        done = conn.execute(app_user.update().where(app_user.c.name == name).values(disabled=disabled)).rowcount
        if done:
            if disabled:  # a disabled user's scripts and open sessions stop working at once
                conn.execute(api_token.delete().where(api_token.c.user_name == name))
                conn.execute(app_session.delete().where(app_session.c.user_name == name))
            _audit(conn, now, actor, "user", name, "disable" if disabled else "enable", {}, {"disabled": disabled})
        return bool(done)


def add_token(engine: Engine, name: str, token_hash: str, actor: str, now: int) -> None:
    with engine.begin() as conn:
        conn.execute(api_token.insert().values(token_hash=token_hash, user_name=name, created_at=now))
        _audit(conn, now, actor, "user", name, "token", {}, {"token": token_hash[:8] + "…"})


TOKEN_USE_RESOLUTION_S = 60  # last_used_at is kept to the minute: not a write on every request


def user_for_token(engine: Engine, token_hash: str, now: int, max_age_s: int | None = None) -> dict[str, Any] | None:
    """The enabled user a token belongs to (and mark the token used), or None.

    The mark is written only when the stored one is a minute old: a write per request was a commit
    (a WAL flush on PostgreSQL) on every map refresh of a token-holding client."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(app_user, api_token.c.last_used_at)
                .join(api_token, api_token.c.user_name == app_user.c.name)
                .where(api_token.c.token_hash == token_hash, app_user.c.disabled.is_(False))
                .where(api_token.c.created_at > (now - max_age_s if max_age_s else -1))
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    user = dict(row)
    last_used = user.pop("last_used_at")
    if last_used is None or now - last_used >= TOKEN_USE_RESOLUTION_S:
        with engine.begin() as conn:
            conn.execute(api_token.update().where(api_token.c.token_hash == token_hash).values(last_used_at=now))
    return user


def tokens(engine: Engine, name: str) -> list[dict[str, Any]]:
    """A user's tokens: the first 8 characters of their hash name them (as in the audit log)."""
    with engine.connect() as conn:
        rows = conn.execute(select(api_token).where(api_token.c.user_name == name).order_by(api_token.c.created_at))
        return [dict(r) for r in rows.mappings()]


def revoke_token(engine: Engine, hash_prefix: str, actor: str, now: int) -> int:
    """Delete the one token whose hash starts with `hash_prefix` (at least 8 characters); 0 when none or several."""
    with engine.begin() as conn:
        found = conn.execute(
            select(api_token.c.token_hash, api_token.c.user_name).where(api_token.c.token_hash.startswith(hash_prefix))
        ).all()
        if len(hash_prefix) < 8 or len(found) != 1:
            return 0
        conn.execute(api_token.delete().where(api_token.c.token_hash == found[0].token_hash))
        _audit(conn, now, actor, "user", found[0].user_name, "revoke_token", {"token": hash_prefix[:8] + "…"}, {})
        return 1


def start_session(engine: Engine, sid_hash: str, name: str, now: int, expires_at: int) -> None:
    with engine.begin() as conn:
        conn.execute(app_session.delete().where(app_session.c.expires_at < now))
        conn.execute(app_session.insert().values(sid=sid_hash, user_name=name, created_at=now, expires_at=expires_at))


def session_user(engine: Engine, sid_hash: str, now: int) -> dict[str, Any] | None:
    """The enabled user of a live session, or None."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(app_user)
                .join(app_session, app_session.c.user_name == app_user.c.name)
                .where(app_session.c.sid == sid_hash, app_session.c.expires_at > now, app_user.c.disabled.is_(False))
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def renew_session(engine: Engine, sid_hash: str, now: int, expires_at: int, max_age_s: int) -> int | None:
    """Move a live session's end to `expires_at`, never past `max_age_s` after it began; the new end,
    or None when the session is gone or has ended."""
    latest = app_session.c.created_at + max_age_s
    ends = case((latest < expires_at, latest), else_=expires_at)  # the smaller, in SQLite and PostgreSQL alike
    with engine.begin() as conn:
        live = (app_session.c.sid == sid_hash) & (app_session.c.expires_at > now)
        conn.execute(app_session.update().where(live).values(expires_at=ends))
        row = conn.execute(select(app_session.c.expires_at).where(live)).first()
    return int(row.expires_at) if row else None


def end_session(engine: Engine, sid_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(app_session.delete().where(app_session.c.sid == sid_hash))


def record_login_failure(engine: Engine, name: str, remote: str, now: int) -> None:
    with engine.begin() as conn:
        conn.execute(login_failure.insert().values(name=name[:64], remote=remote[:64], at=now))
        conn.execute(login_failure.delete().where(login_failure.c.at < now - 86400))


def login_failures_since(engine: Engine, name: str, since: int, remote: str | None = None) -> int:
    """Failed sign-ins for `name` since `since`, from `remote` only when given."""
    query = select(login_failure.c.id).where(login_failure.c.name == name[:64], login_failure.c.at >= since)
    if remote is not None:
        query = query.where(login_failure.c.remote == remote[:64])
    with engine.connect() as conn:
        return len(conn.execute(query).all())


def clear_login_failures(engine: Engine, name: str) -> None:
    with engine.begin() as conn:
        conn.execute(login_failure.delete().where(login_failure.c.name == name[:64]))


# --- incidents ----------------------------------------------------------------------------------

WORKFLOW_COLUMNS = (
    "acknowledged_at",
    "dispatched_at",
    "on_scene_at",
    "resolved_at",
    "closed_at",
    "unit",
    "resolution_code",
)


def get_incident(engine: Engine, incident_id: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = conn.execute(select(incident).where(incident.c.id == incident_id)).mappings().first()
    return dict(row) if row else None


def incident_rows(
    engine: Engine, city: str | None, since: int, until: int, crew: str | None = None, open_only: bool = False
) -> pd.DataFrame:
    """Incidents reported in [since, until] or reported earlier and not closed by `until`
    (with `open_only`, just those not closed by `until`; with `crew`, only that crew's)."""
    c = incident.c
    still_open = c.closed_at.is_(None) | (c.closed_at > until)
    q = select(incident).where(
        c.reported_at <= until, still_open if open_only else (c.reported_at >= since) | still_open
    )
    if crew:
        q = q.where(c.crew == crew)
    if city:
        q = q.where(c.city == city)
    return read_frame(engine, q.order_by(c.reported_at.desc()))


class StaleVersion(Exception):
    """The incident changed since the caller read it; `current` is the stored record now."""

    def __init__(self, current: dict[str, Any] | None) -> None:
        super().__init__("incident changed since it was read")
        self.current = current


def apply_incident_change(
    engine: Engine,
    incident_id: int,
    expected_version: int | None,
    values: Mapping[str, Any],
    actor: str,
    action: str,
    now: int,
    before_state: str,
    after_state: str,
    note: str = "",
) -> dict[str, Any]:
    """Apply a planned change if the stored version is still `expected_version`; audit it; return the row.

    A note (no `values`) is appended without a version check: it overwrites nothing.
    """
    with engine.begin() as conn:
        current = conn.execute(select(incident).where(incident.c.id == incident_id)).mappings().first()
        if current is None:
            raise KeyError(incident_id)
        if values:
            done = conn.execute(
                update(incident)
                .where(incident.c.id == incident_id, incident.c.version == expected_version)
                .values(**values, version=incident.c.version + 1)
            ).rowcount
            if not done:
                raise StaleVersion(dict(current))
        before = {"status": before_state, "version": current["version"]} | {k: current[k] for k in values}
        after = {"status": after_state, "version": current["version"] + (1 if values else 0)} | dict(values)
        _audit(conn, now, actor, "incident", incident_id, action, before, after, note)
        bump_feed(conn, current["city"], "incidents", None)
        row = conn.execute(select(incident).where(incident.c.id == incident_id)).mappings().first()
    return dict(row)


def open_alert_keys(engine: Engine, city: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(incident.c.alert_key).where(
                incident.c.city == city, incident.c.alert_key.is_not(None), incident.c.closed_at.is_(None)
            )
        )
        return {r[0] for r in rows}


def open_alert_incidents(engine: Engine, city: str, rows: Sequence[Mapping[str, Any]], actor: str, now: int) -> int:
    """Insert incidents opened by alert rules; one whose rule and object already has an open one is
    skipped (the partial unique index decides, so two evaluators racing cannot both open it)."""
    opened = 0
    with engine.begin() as conn:
        for row in rows:
            try:
                with conn.begin_nested():
                    new_id = conn.execute(incident.insert().values(**row)).inserted_primary_key[0]
                    after = {"status": "new", "rule": row["alert_key"]}
                    _audit(conn, now, actor, "incident", new_id, "open", {}, after)
                opened += 1
            except IntegrityError:
                continue
        if opened:
            bump_feed(conn, city, "incidents", now)
    return opened


def audit_entries(
    engine: Engine,
    since: int | None,
    until: int | None,
    entity: str | None = None,
    entity_id: str | None = None,
    limit: int = 5000,
) -> pd.DataFrame:
    """Audit entries, newest first; `since`/`until` None: unbounded."""
    c = audit_log.c
    q = select(audit_log)
    if since is not None:
        q = q.where(c.at >= since)
    if until is not None:
        q = q.where(c.at <= until)
    if entity:
        q = q.where(c.entity == entity)
    if entity_id is not None:
        q = q.where(c.entity_id == str(entity_id))
    return read_frame(engine, q.order_by(c.id.desc()).limit(limit))
