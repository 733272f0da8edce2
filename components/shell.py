"""The app shell: header with navigation, language and theme switches (remembered in the browser)."""

from __future__ import annotations

from collections.abc import Iterable

from dash import ClientsideFunction, Input, Output, State, clientside_callback, dcc, html
from markupsafe import Markup

from components.markup import join, pair, static, tag

ROLE_LABELS = {"viewer": ("viewer", "查看"), "operator": ("operator", "值班员"), "supervisor": ("supervisor", "值班长"),
               "admin": ("admin", "管理员")}  # fmt: skip


def _account(user) -> Markup:
    if user is None:
        return tag("a", pair("Sign in", "登录"), href="/login", class_="btn btn-ghost", id="app-signin")
    role = ROLE_LABELS.get(user.role, (user.role, user.role))
    return tag(
        "span",
        tag("span", user.name, " · ", pair(*role), id="app-user"),
        # A form, not a link: signing out changes state, so it is a POST (a cross-site link cannot do it).
        tag(
            "form",
            tag("button", pair("Sign out", "退出"), type="submit", class_="btn btn-ghost", id="app-signout"),
            action="/logout",
            method="POST",
            class_="signout-form",
        ),
        class_="account",
    )


SIM_BADGES = {  # how much of what is shown is simulated (SIMULATE): all, some layers, or nothing
    "all": (("SIMULATED DATA", "模拟数据"), "Observations are simulated; see README"),
    "some": (
        ("PARTLY SIMULATED", "部分模拟"),
        "Some cities' layers are simulated: the data note on each map says which",
    ),
}


def _brand_and_nav(nav: Iterable[tuple[str, tuple[str, str]]], simulated: str) -> Markup:
    brand = tag("a", tag("span", "城市大脑", class_="brand-zh"), tag("span", "City Brain", class_="brand-en"),
                href="/", class_="brand")  # fmt: skip
    links = tag("nav", *(tag("a", pair(*label), href=href, class_="nav-link") for href, label in nav), class_="nav")
    badge = ""
    if simulated in SIM_BADGES:
        badge = tag("span", pair(*SIM_BADGES[simulated][0]), class_="sim-badge", title=SIM_BADGES[simulated][1])
    return join([brand, links, badge])


def shell(nav: Iterable[tuple[str, tuple[str, str]]], content, user=None, simulated: str = "all") -> html.Div:
    return html.Div(
        [
            dcc.Store(id="app-lang", storage_type="local", data="zh"),
            dcc.Store(id="app-theme", storage_type="local", data="light"),
            html.Header(
                [
                    # The fixed part of the header is written HTML (components/markup.py): a component
                    # per link and text cost the renderer ~40 components on every page open.
                    static(html.Div, _brand_and_nav(nav, simulated), className="header-static"),
                    static(
                        html.Button,
                        pair("中文", "English"),
                        id="app-lang-toggle",
                        className="btn btn-ghost",
                        title="Language / 语言",
                    ),
                    static(  # names the theme a click switches to, as the language button does
                        html.Button,
                        pair("Dark", "深色", "to-dark"),
                        pair("Light", "浅色", "to-light"),
                        id="app-theme-toggle",
                        className="btn btn-ghost",
                        title="Theme / 主题",
                    ),
                    static(html.Div, _account(user), className="header-static"),
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
# The two applies write <html data-lang/data-theme> and have no Dash output.
clientside_callback(ClientsideFunction("citybrain", "applyLang"), Input("app-lang", "data"))
clientside_callback(ClientsideFunction("citybrain", "applyTheme"), Input("app-theme", "data"))
