"""components/markup.py: fixed text written as HTML by the browser, escaped by the server."""

from __future__ import annotations

from dash import html
from markupsafe import Markup

from components.markup import pair, static, tag, text
from tests.written import written_elements, written_text


def test_text_and_attributes_are_escaped():
    written = tag("a", "<script>alert(1)</script> & co", href='/x?a=1&b="2"', title="<b>")
    assert "<script>" not in written and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in written
    assert 'href="/x?a=1&amp;b=&#34;2&#34;"' in written and 'title="&lt;b&gt;"' in written


def test_markup_made_here_is_kept_and_a_plain_string_is_not_trusted():
    inner = tag("em", "x")
    assert tag("p", inner) == Markup("<p><em>x</em></p>")
    assert tag("p", "<em>x</em>") == Markup("<p>&lt;em&gt;x&lt;/em&gt;</p>")


def test_attribute_names_and_flags():
    assert tag("div", class_="a b", data_pick="k", role="alert") == Markup(
        '<div class="a b" data-pick="k" role="alert"></div>'
    )
    assert tag("div", hidden=True, open=False, title=None) == Markup("<div hidden></div>")
    assert tag("br") == Markup("<br>")  # a void element: "</br>" would be read as a second <br>


def test_a_pair_has_the_same_dom_as_the_component_pair():
    assert pair("Alerts", "告警", "x") == Markup(
        '<span class="x"><span class="lang-en">Alerts</span><span class="lang-zh">告警</span></span>'
    )


def test_static_is_one_component_holding_the_html():
    heading = static(html.H2, pair("Alerts", "告警"), className="h", id="h1")
    assert isinstance(heading, html.H2) and heading.children is None and heading.id == "h1"
    assert getattr(heading, "data-html") == str(pair("Alerts", "告警"))
    assert written_text(heading) == "Alerts告警 "
    label = text(("Live", "实时"))
    assert isinstance(label, html.Span) and written_text(label) == "Live实时 "


def test_a_user_name_in_the_header_is_text():
    from components.shell import shell

    class Visitor:
        name, role = '<img src=x onerror="alert(1)">', "operator"

    header = shell([("/", ("Home", "首页"))], [], Visitor())
    assert written_elements(header, "img") == []
    assert '<img src=x onerror="alert(1)">' in written_text(header)
    assert [a["href"] for a in written_elements(header, "a", "nav-link")] == ["/"]
