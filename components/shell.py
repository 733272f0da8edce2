"""The app shell: header with navigation, language and theme switches (remembered in the browser)."""

from __future__ import annotations

from collections.abc import Iterable

from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html

from components.i18n import t

ROLE_LABELS = {"viewer": ("viewer", "查看"), "operator": ("operator", "值班员"), "supervisor": ("supervisor", "值班长"),
               "admin": ("admin", "管理员")}  # fmt: skip


def _account(user) -> html.Span:
    if user is None:
        return html.A(t("Sign in", "登录"), href="/login", className="btn btn-ghost", id="app-signin")
    return html.Span(
        [
            html.Span([user.name, " · ", t(*ROLE_LABELS.get(user.role, (user.role, user.role)))], id="app-user"),
            # A form, not a link: signing out changes state, so it is a POST (a cross-site link cannot do it).
            html.Form(
                html.Button(t("Sign out", "退出"), type="submit", className="btn btn-ghost", id="app-signout"),
                action="/logout",
                method="POST",
                className="signout-form",
            ),
        ],
        className="account",
    )


SIM_BADGES = {  # how much of what is shown is simulated (SIMULATE): all, some layers, or nothing
    "all": (("SIMULATED DATA", "模拟数据"), "Observations are simulated; see README"),
    "some": (
        ("PARTLY SIMULATED", "部分模拟"),
        "Some cities' layers are simulated: the data note on each map says which",
    ),
}


def shell(nav: Iterable[tuple[str, tuple[str, str]]], content, user=None, simulated: str = "all") -> html.Div:
    return html.Div(
        [
            dcc.Store(id="app-lang", storage_type="local", data="zh"),
            dcc.Store(id="app-theme", storage_type="local", data="light"),
            html.Header(
                [
                    html.A(
                        [html.Span("城市大脑", className="brand-zh"), html.Span("City Brain", className="brand-en")],
                        href="/",
                        className="brand",
                    ),
                    html.Nav(
                        [html.A(t(*label), href=href, className="nav-link") for href, label in nav], className="nav"
                    ),
                    *(
                        [html.Span(t(*SIM_BADGES[simulated][0]), className="sim-badge", title=SIM_BADGES[simulated][1])]
                        if simulated in SIM_BADGES
                        else []
                    ),
                    html.Button(
                        t("中文", "English"), id="app-lang-toggle", className="btn btn-ghost", title="Language / 语言"
                    ),
                    html.Button(  # names the theme a click switches to, as the language button does
                        [t("Dark", "深色", className="to-dark"), t("Light", "浅色", className="to-light")],
                        id="app-theme-toggle",
                        className="btn btn-ghost",
                        title="Theme / 主题",
                    ),
                    _account(user),
                    html.Span(id="app-lang-applied", hidden=True),
                    html.Span(id="app-theme-applied", hidden=True),
                ],
                className="app-header",
            ),
            html.Main(content, className="app-main"),
        ],
        className="app-shell",
    )


clientside_callback(
    ClientsideFunction("citybrain", "toggleLang"),
    Output("app-lang", "data"),
    Input("app-lang-toggle", "n_clicks"),
    State("app-lang", "data"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("citybrain", "toggleTheme"),
    Output("app-theme", "data"),
    Input("app-theme-toggle", "n_clicks"),
    State("app-theme", "data"),
    prevent_initial_call=True,
)
clientside_callback(
    ClientsideFunction("citybrain", "applyLang"), Output("app-lang-applied", "children"), Input("app-lang", "data")
)
clientside_callback(
    ClientsideFunction("citybrain", "applyTheme"), Output("app-theme-applied", "children"), Input("app-theme", "data")
)
