"""Signing a browser in and out: a server-side session record (data/users) named by the cookie."""

from __future__ import annotations

import time

from flask import session

from data import users
from data.config import load_settings


def sign_in(user: users.User) -> None:
    lifetime = int(load_settings().session_hours * 3600)
    if session.get("sid"):  # signing in again ends the session this browser had
        users.end_session(session["sid"])
    session.clear()
    session.permanent = True
    session.update(sid=users.start_session(user, lifetime), expires=time.time() + lifetime)


def sign_out() -> None:
    if session.get("sid"):
        users.end_session(session["sid"])
    session.clear()
