"""Which role a Dash callback request needs, decided from the server's own callback map.

A request to `/_dash-update-component` names its callback by `output`; Dash looks that string up in
`app.callback_map` and hands the body's inputs and state to the function *by position*. So the gate
does the same: the callback is found by `output` in the server's map (unknown: refused), the body's
outputs, inputs and state must be exactly the ones that callback declares (else 400), and the role
comes from the page module that registered the callback and the id prefixes of its declared outputs,
never from ids the client wrote. The page-routing callback gets the role of the page Dash will
render: its first input's value, through `strip_relative_path` and `_path_to_page`, as Dash does.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dash
from dash._pages import _path_to_page
from dash._utils import split_callback_id

log = logging.getLogger(__name__)

ORDER = ("public", "viewer", "operator", "supervisor", "admin")
ROUTER_OUTPUT = ".._pages_content.children..._pages_store.data.."
ROUTER_INPUTS = [{"id": "_pages_location", "property": "pathname"}, {"id": "_pages_location", "property": "search"}]
MAX_ID_CHARS = 512  # callback keys and component ids of this app are far shorter
MAX_PATH_CHARS = 2048
WILDCARDS = (["ALL"], ["MATCH"], ["ALLSMALLER"])


class BadCallback(ValueError):
    """The body does not describe a call of this app's callback (400)."""


def _spec_id(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str) and raw.startswith("{") else raw


def _id_matches(spec: Any, given: Any) -> bool:
    if not isinstance(spec, dict):
        return isinstance(given, str) and given == spec
    if not isinstance(given, dict) or set(given) != set(spec):
        return False
    for key, value in spec.items():
        if value in WILDCARDS:
            if not isinstance(given[key], (str, int, float)) or isinstance(given[key], bool):
                return False
        elif given[key] != value:
            return False
    return True


def _many(spec_id: Any) -> bool:
    """ALL and ALLSMALLER ids arrive as a list of concrete items."""
    return isinstance(spec_id, dict) and any(v in (["ALL"], ["ALLSMALLER"]) for v in spec_id.values())


def _check_item(spec: dict[str, Any], given: Any, where: str) -> None:
    spec_id, prop = _spec_id(spec["id"]), str(spec["property"]).split("@", 1)[0]
    items = given if _many(spec_id) else [given]
    if not isinstance(items, list):
        raise BadCallback(f"{where}: expected a list")
    for item in items:
        given = item.get("property") if isinstance(item, dict) else None
        if not (isinstance(given, str) and given.split("@", 1)[0] == prop and _id_matches(spec_id, item["id"])):
            raise BadCallback(f"{where}: not the callback's {spec['id']}.{prop}")


def _check_list(specs: list[dict[str, Any]], given: Any, where: str) -> None:
    given = [] if given is None and not specs else given
    if not isinstance(given, list) or len(given) != len(specs):
        raise BadCallback(f"{where}: expected {len(specs)} items")
    for index, (spec, item) in enumerate(zip(specs, given, strict=True)):
        _check_item(spec, item, f"{where}[{index}]")


def check_body(app: dash.Dash, body: Any) -> tuple[str, dict[str, Any]]:
    """(output key, callback map entry) when `body` is a well-formed call of a server callback."""
    if not isinstance(body, dict):
        raise BadCallback("the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or len(output) > MAX_ID_CHARS * 8:
        raise BadCallback("output must name a callback")
    entry = app.callback_map.get(output)
    if output == ROUTER_OUTPUT and entry is None:  # Dash registers the router on its first request
        entry = {"inputs": ROUTER_INPUTS, "state": [], "callback": True}
    if entry is None or "callback" not in entry:  # clientside callbacks have no server function
        raise LookupError(output[:80])
    declared, outputs = split_callback_id(output), body.get("outputs")
    if not isinstance(declared, list):  # one output: sent alone (a list would make Dash expect a wildcard)
        declared, outputs = [declared], [outputs]
    _check_list(declared, outputs, "outputs")
    _check_list(entry["inputs"], body.get("inputs"), "inputs")
    _check_list(entry.get("state") or [], body.get("state"), "state")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) and len(c) <= MAX_ID_CHARS for c in changed):
        raise BadCallback("changedPropIds must be a list of strings")
    return output, entry


def _strictest(roles: list[str | None]) -> str | None:
    if any(r is None for r in roles):
        return None
    return max(roles, key=ORDER.index, default="public")


def _output_names(output: str) -> list[str]:
    declared = split_callback_id(output)
    items = declared if isinstance(declared, list) else [declared]
    names = []
    for item in items:
        spec = _spec_id(item["id"])
        names.append(str(spec.get("type", "")) if isinstance(spec, dict) else str(spec))
    return names


def callback_role(output: str, entry: dict[str, Any], policy: Policy) -> str | None:
    """The strictest of: the access of the page module that registered the callback, and the role
    of each declared output's id prefix. None (refused) when an output belongs to no page."""
    module = getattr(entry.get("callback"), "__module__", None)
    roles: list[str | None] = [policy.modules[module]] if module in policy.modules else []
    for name in _output_names(output):
        best = max((p for p in policy.prefixes if name == p or name.startswith(p + "-")), key=len, default=None)
        roles.append(policy.prefixes[best] if best is not None else None)
    return _strictest(roles)


class Policy:
    """Roles from the page registry: per page module and per id prefix."""

    def __init__(self, component_prefixes: dict[str, str]) -> None:
        self.modules: dict[str, str] = {}
        self.prefixes = dict(component_prefixes)
        for page in dash.page_registry.values():
            access = page.get("access", "viewer")
            self.modules[page["module"]] = access
            if page.get("id_prefix"):
                self.prefixes[page["id_prefix"]] = access
            for prefix, role in (page.get("roles") or {}).items():
                self.prefixes[prefix] = _strictest([role, access])


def page_role(app: dash.Dash, pathname: Any) -> str:
    """The role of the page Dash renders for `pathname`, resolved the way Dash's router does."""
    if not isinstance(pathname, str) or not pathname.startswith("/") or len(pathname) > MAX_PATH_CHARS:
        raise BadCallback("pathname must be a path")
    page, _variables = _path_to_page(app.strip_relative_path(pathname))
    return page.get("access", "viewer") if page else "public"  # no page: Dash renders its 404 layout


def needed_role(app: dash.Dash, body: Any, policy: Policy) -> str | None:
    """The role this callback request needs; BadCallback (400) or LookupError (404) when malformed."""
    output, entry = check_body(app, body)
    if output == ROUTER_OUTPUT:
        return page_role(app, body["inputs"][0].get("value"))
    return callback_role(output, entry, policy)


def _bad(status: int, code: str, message: str) -> tuple[Any, int]:
    from flask import jsonify

    return jsonify({"error": code, "message": message}), status


def failed_callback(exc: Exception) -> Any:
    """A callback that raised on what the client sent is a bad request, logged in one line: the
    inputs are the client's to choose (null, garbage), and a traceback per such request is noise."""
    from flask import request
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        return exc
    if not request.path.endswith("/_dash-update-component"):
        raise exc  # a fault of ours: Flask logs it and answers 500
    log.warning("callback %.80s refused its inputs: %s: %.200s", request.path, type(exc).__name__, exc)
    return _bad(400, "bad_request", "the callback could not use these inputs")


def install_shape_guard(app: dash.Dash) -> None:
    """For an app without roles (the embeds): malformed callback bodies get 400/404, never a 500."""
    from flask import request
    from werkzeug.exceptions import BadRequest

    def guard() -> Any:
        if request.method != "POST" or not request.path.endswith("/_dash-update-component"):
            return None
        try:
            check_body(app, request.get_json(force=True))
        except (BadCallback, BadRequest, RecursionError, ValueError) as exc:
            return _bad(400, "bad_request", str(exc) if isinstance(exc, BadCallback) else "the body is not JSON")
        except LookupError:
            return _bad(404, "not_found", "no such callback")
        return None

    app.server.before_request(guard)
    app.server.register_error_handler(Exception, failed_callback)
