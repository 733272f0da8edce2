"""The sign-in and sign-out pages: plain server-rendered HTML, bilingual, no script needed."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, request

from auth.sessions import sign_in, sign_out
from data import users

blueprint = Blueprint("auth_views", __name__)

PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Sign in · 登录 — City Brain</title><link rel="stylesheet" href="/assets/style.css">
<link rel="stylesheet" href="/assets/dark.css"><script src="/assets/theme_boot.js"></script></head>
<body class="login-body"><main class="login-card">
<h1><span class="brand-zh">城市大脑</span> <span class="brand-en">City Brain</span></h1>
<p class="login-sub">Command centre sign-in · 指挥中心登录</p>
{message}
<form method="post" action="/login" class="login-form">
<input type="hidden" name="next" value="{next}">
<label for="login-name">User name · 用户名</label>
<input id="login-name" name="name" autocomplete="username" required autofocus value="{name}">
<label for="login-password">Password · 密码</label>
<input id="login-password" name="password" type="password" autocomplete="current-password" required>
<button type="submit" class="btn btn-primary" id="login-submit">Sign in · 登录</button>
</form>
{first_run}
<p class="login-public">Without an account · 无需登录:
<a href="/pilots">Pilots (report) · 试点</a> · <a href="/share">Public maps · 公开地图</a> ·
<a href="/api/ogc">Open data API · 开放数据</a></p>
</main></body></html>"""

FIRST_RUN = """<div class="login-first" id="login-first-run"><strong>No user exists yet · 尚无用户</strong>
<p>Open the one-time link the start command printed in its console to create the first administrator
(or print a new one on the server) ·
请打开启动命令在控制台打印的一次性链接创建第一个管理员（或在服务器上重新生成）：</p>
<pre>python -m cli.users setup-link</pre></div>"""


def _safe_next(target: str | None) -> str:
    """Only a local path: a crafted link must not send a signed-in user to another site."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _page(message: str = "", name: str = "", status: int = 200, next_url: str = "/") -> Response:
    body = PAGE.format(
        message=f'<p class="login-error" role="alert">{message}</p>' if message else "",
        next=html.escape(next_url),
        name=html.escape(name),
        first_run="" if users.has_users() else FIRST_RUN,
    )
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/login")
def login_form() -> Response:
    return _page(next_url=_safe_next(request.args.get("next")))


def _cross_site() -> bool:
    """A form posted from another site (login CSRF): browsers name the page's origin in `Origin`."""
    origin = request.headers.get("Origin")
    if origin is None:  # not a browser, or an old one: SameSite=Lax still keeps the session cookie home
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != request.host.lower()


@blueprint.post("/login")
def login_submit() -> Response:
    if _cross_site():
        return _page("Sign in from this site's own page · 请从本站登录页登录", "", 403)
    name = request.form.get("name", "")[:64]
    password = request.form.get("password", "")[:1024]
    next_url = _safe_next(request.form.get("next"))
    try:
        user = users.authenticate(name, password, request.remote_addr or "")
    except users.LoginLocked:
        minutes = users.LOCK_SECONDS // 60
        return _page(
            f"Too many failed attempts: try again in {minutes} minutes · 失败次数过多，请 {minutes} 分钟后再试",
            name, 429, next_url,
        )  # fmt: skip
    if user is None:
        return _page("Wrong user name or password · 用户名或密码错误", name, 401, next_url)
    sign_in(user)
    return redirect(next_url)


@blueprint.post("/logout")
def logout() -> Response:
    if _cross_site():
        return _page("Sign out from this site's own page · 请从本站退出", "", 403)
    sign_out()
    return redirect("/login")


def forbidden_page(user: users.User, needed: str) -> Response:
    body = (
        '<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>403 · City Brain</title>'
        '<link rel="stylesheet" href="/assets/style.css"><link rel="stylesheet" href="/assets/dark.css">'
        '<script src="/assets/theme_boot.js"></script></head><body class="login-body"><main class="login-card">'
        f"<h1>403</h1><p>This page needs the <strong>{html.escape(needed)}</strong> role; you are signed in as "
        f"{html.escape(user.name)} ({html.escape(user.role)}).</p><p>此页面需要 {html.escape(needed)} 权限。</p>"
        '<p><a href="/">Command centre · 指挥中心</a></p><form method="post" action="/logout">'
        '<button type="submit" class="btn">Sign out · 退出</button></form></main></body></html>'
    )
    return Response(body, status=403, mimetype="text/html")
