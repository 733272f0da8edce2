"""First run in one command: with no user yet the start command prints a one-time link (30 minutes,
single use) that creates the first admin, sets its password and signs it in."""

from __future__ import annotations

import http.cookiejar
import re
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.conftest import SESSION_DIR, _copy_store, running_app

STRONG = "a long enough password"


@pytest.fixture()
def empty_store(tmp_path, monkeypatch):
    """A store with the schema and no user: every settings read in this test points at it."""
    from data import store

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    store.create_schema(store.get_engine())
    return tmp_path


def test_the_token_creates_one_admin_once(empty_store):
    from data import users

    token = users.issue_setup_token()
    assert token and users.setup_token_valid(token)
    assert not users.setup_token_valid(token + "x") and not users.setup_token_valid("")
    with pytest.raises(users.UserError):
        users.create_first_admin(token, "admin", "short")  # a bad password does not spend the token
    assert users.setup_token_valid(token)
    assert users.create_first_admin(token, "Chief", STRONG) == users.User("chief", "admin")
    assert users.authenticate("chief", STRONG) == users.User("chief", "admin")
    assert not users.setup_token_valid(token)
    with pytest.raises(users.UserError):
        users.create_first_admin(token, "second", STRONG)
    assert users.issue_setup_token() is None  # a user exists: no more links
    assert [r["name"] for r in users.ops_store.list_users(users._engine())] == ["chief"]


def test_the_token_expires_after_30_minutes(empty_store):
    from data import users

    issued = time.time()
    token = users.issue_setup_token(now=issued)
    assert users.setup_token_valid(token, now=issued + 29 * 60)
    assert not users.setup_token_valid(token, now=issued + 30 * 60 + 1)
    with pytest.raises(users.UserError):
        users.create_first_admin(token, "admin", STRONG, now=issued + 31 * 60)
    assert not users.has_users()


def test_a_new_link_replaces_the_old_one(empty_store):
    from data import users

    old = users.issue_setup_token()
    new = users.issue_setup_token()
    assert not users.setup_token_valid(old) and users.setup_token_valid(new)


def test_setup_pages_sign_in_the_new_admin(dash_app, empty_store):
    from data import users

    client = dash_app.server.test_client()
    assert client.get("/setup?token=nope").status_code == 403
    assert client.get("/setup").status_code == 403
    token = users.issue_setup_token()
    form = client.get(f"/setup?token={token}")
    assert form.status_code == 200 and b'id="setup-submit"' in form.data
    assert form.headers["Cache-Control"] == "no-store"
    mismatch = client.post("/setup", data={"token": token, "name": "admin", "password": STRONG, "again": "other"})
    assert mismatch.status_code == 400 and users.setup_token_valid(token)
    done = client.post("/setup", data={"token": token, "name": "admin", "password": STRONG, "again": STRONG})
    assert done.status_code == 302 and done.headers["Location"] == "/"
    with client.session_transaction() as session:
        assert users.session_user(session["sid"]) == users.User("admin", "admin")
    again = dash_app.server.test_client()
    assert again.get(f"/setup?token={token}").status_code == 403
    posted = again.post("/setup", data={"token": token, "name": "evil", "password": STRONG, "again": STRONG})
    assert posted.status_code == 403 and users.ops_store.get_user(users._engine(), "evil") is None


def test_login_page_points_to_the_link_while_no_user_exists(dash_app, empty_store):
    page = dash_app.server.test_client().get("/login").get_data(as_text=True)
    assert 'id="login-first-run"' in page and "python -m cli.users setup-link" in page


def _without_users(path) -> None:
    with sqlite3.connect(path) as db:
        for table in ("app_session", "api_token", "login_failure", "app_user"):
            db.execute(f"DELETE FROM {table}")


def test_gunicorn_start_prints_a_link_that_signs_in_the_first_admin(prepared):
    """What scripts/start.sh execs (gunicorn with gunicorn.conf.py), on a store with data and no user."""
    data_dir = SESSION_DIR / "first-run"
    _copy_store(prepared / "citybrain.sqlite", data_dir / "citybrain.sqlite")
    _without_users(data_dir / "citybrain.sqlite")
    log = SESSION_DIR / "first-run.log"
    args = ("-m", "gunicorn", "-c", "gunicorn.conf.py", "-w", "1", "-b", "127.0.0.1:{port}", "--no-control-socket",
            "app:server")  # fmt: skip
    with running_app({"DATA_DIR": str(data_dir)}, log, 120, args=args) as base:
        deadline = time.time() + 30
        while not (found := re.search(r"(http://\S+/setup\?token=[\w-]+)", log.read_text())):
            assert time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.3)
        link = found.group(1)
        assert link.startswith(base + "/setup?token=")
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        assert b'id="setup-submit"' in browser.open(link, timeout=30).read()
        token = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)["token"][0]
        body = urllib.parse.urlencode({"token": token, "name": "admin", "password": STRONG, "again": STRONG}).encode()
        landed = browser.open(base + "/setup", data=body, timeout=60)  # follows the redirect to the command centre
        assert landed.status == 200 and urllib.parse.urlsplit(landed.url).path == "/"
        audit = browser.open(base + "/audit", timeout=60)  # an admin's page, with the session just made
        assert audit.status == 200 and urllib.parse.urlsplit(audit.url).path == "/audit"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(link, timeout=30)
        assert refused.value.code == 403
