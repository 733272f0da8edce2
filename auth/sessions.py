"""Signing a browser in and out: a server-side session record (data/users) named by the cookie."""

from __future__ import annotations

import time

from flask import session

from data import users
from data.config import load_settings


def _limits() -> tuple[int, int]:
    """(idle lifetime, most age) of a session in seconds: SESSION_HOURS and SESSION_MAX_DAYS."""
    settings = load_settings()
    most = int(settings.session_max_days * 86400)
    return min(int(settings.session_hours * 3600), most), most


def sign_in(user: users.User) -> None:
    lifetime, _most = _limits()
    if session.get("sid"):  # signing in again ends the session this browser had
        users.end_session(session["sid"])
    session.clear()
    session.permanent = True
    session.update(sid=users.start_session(user, lifetime), expires=time.time() + lifetime)


def keep_alive() -> None:
    """A session in use lives on: past half its idle lifetime a request moves its end another
    SESSION_HOURS on, never past SESSION_MAX_DAYS after sign-in (a wall screen runs for days without
    a mouse; a forgotten browser ends after SESSION_HOURS). At most one write per half lifetime."""
    sid, ends = session.get("sid"), float(session.get("expires", 0))
    lifetime, most = _limits()
    if not sid or ends - time.time() > lifetime / 2:
        return
    renewed = users.renew_session(sid, lifetime, most)
    if renewed is not None and renewed > ends:
        session["expires"] = renewed  # the cookie is written again (Flask: the session changed)


def sign_out() -> None:
    if session.get("sid"):
        users.end_session(session["sid"])
    session.clear()
