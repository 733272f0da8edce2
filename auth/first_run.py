"""/setup: the one-time link the start command prints while no user exists (data/users.py) opens a
form that creates the first administrator, sets its password and signs it in."""

from __future__ import annotations

import html

from flask import Blueprint, Response, redirect, request

from data import users

blueprint = Blueprint("first_run", __name__)

PAGE = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>First run · 首次使用 — City Brain</title><link rel="stylesheet" href="/assets/style.css">
<link rel="stylesheet" href="/assets/dark.css"><script src="/assets/theme_boot.js"></script></head>
<body class="login-body"><main class="login-card" id="setup-card">
<h1><span class="brand-zh">城市大脑</span> <span class="brand-en">City Brain</span></h1>
{body}
</main></body></html>"""

FORM = """<p class="login-sub">Create the first administrator · 创建第一个管理员</p>
{message}
<form method="post" action="/setup" class="login-form">
<input type="hidden" name="token" value="{token}">
<label for="setup-name">User name · 用户名</label>
<input id="setup-name" name="name" autocomplete="username" required value="{name}">
<label for="setup-password">Password (8+ characters) · 密码（至少 8 位）</label>
<input id="setup-password" name="password" type="password" autocomplete="new-password" required autofocus>
<label for="setup-again">Password again · 再次输入密码</label>
<input id="setup-again" name="again" type="password" autocomplete="new-password" required>
<button type="submit" class="btn btn-primary" id="setup-submit">Create and sign in · 创建并登录</button>
</form>"""

REFUSED = """<p class="login-error" role="alert" id="setup-refused">This link is no longer valid: it was used,
it expired (30 minutes), or a user already exists · 此链接已失效：已使用、已过期（30 分钟）或已有用户。</p>
<p>Restart the server for a new link while no user exists, or sign in ·
若仍无用户，请重启服务获取新链接；否则请 <a href="/login">登录 · Sign in</a>.</p>"""


def _page(body: str, status: int = 200) -> Response:
    response = Response(PAGE.format(body=body), status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    return response


def _form(token: str, name: str = "admin", message: str = "", status: int = 200) -> Response:
    error = f'<p class="login-error" role="alert">{html.escape(message)}</p>' if message else ""
    return _page(FORM.format(token=html.escape(token), name=html.escape(name), message=error), status)


@blueprint.get("/setup")
def setup_form() -> Response:
    token = request.args.get("token", "")[:100]
    if not users.setup_token_valid(token):
        return _page(REFUSED, 403)
    return _form(token)


@blueprint.post("/setup")
def setup_submit() -> Response:
    from auth.sessions import sign_in
    from auth.views import _cross_site

    if _cross_site():
        return _page(REFUSED, 403)
    token = request.form.get("token", "")[:100]
    name = request.form.get("name", "")[:64]
    password = request.form.get("password", "")[:1024]
    if not users.setup_token_valid(token):
        return _page(REFUSED, 403)
    if password != request.form.get("again", "")[:1024]:
        return _form(token, name, "The two passwords differ · 两次输入的密码不一致", 400)
    try:
        user = users.create_first_admin(token, name, password)
    except users.UserError as exc:
        if not users.setup_token_valid(token):  # lost a race for the token
            return _page(REFUSED, 403)
        return _form(token, name, str(exc), 400)
    sign_in(user)
    return redirect("/")
