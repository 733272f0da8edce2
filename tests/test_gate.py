"""The gate probed as an attacker would: crafted Dash callback requests, anonymous and as a viewer,
against the served app (issue 14, findings 1, 2, 8 and 14), and a fuzz over every callback's shape."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import signed_in_client

ROUTER = ".._pages_content.children..._pages_store.data.."
ROUTER_OUTPUTS = [{"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}]
# Ids only the signed-in pages carry: an anonymous answer holding one leaked operator data.
PRIVATE_IDS = ('"cc-', '"inc-', '"aud-', '"ho-', '"dq-')
ABOVE_VIEWER_IDS = ('"aud-', '"ho-', '"inc-act-msg', '"inc-act-bulk-msg')
PUBLIC_OUTPUT_PREFIXES = ("pov-", "pcity-", "pcb-", "prec-", "ptech-", "sh-", "rg-", "app-")


def _router(client, inputs: list[dict]) -> object:
    body = {"output": ROUTER, "outputs": ROUTER_OUTPUTS, "inputs": inputs, "changedPropIds": []}
    return client.post("/_dash-update-component", json=body)


def _location(pathname: object, search: object = "") -> list[dict]:
    return [
        {"id": "_pages_location", "property": "pathname", "value": pathname},
        {"id": "_pages_location", "property": "search", "value": search},
    ]


@pytest.mark.parametrize("target", ["/", "/incidents", "/audit", "/handover", "/data-quality"])
def test_swapped_router_inputs_do_not_render_a_private_page_anonymously(anon_client, target):
    """Finding 1: Dash passes the router's inputs by position; the gate must not read `pathname` by name."""
    swapped = [
        {"id": "_pages_location", "property": "search", "value": target},
        {"id": "_pages_location", "property": "pathname", "value": "/pilots"},
    ]
    answer = _router(anon_client, swapped)
    text = answer.get_data(as_text=True)
    assert answer.status_code in (400, 401) and not any(marker in text for marker in PRIVATE_IDS), text[:200]
    assert _router(anon_client, _location(target)).status_code == 401
    assert _router(anon_client, _location("/pilots")).status_code == 200


def _multi_output_deps(client) -> list[dict]:
    deps = client.get("/_dash-dependencies").get_json()
    return [d for d in deps if d["output"].startswith("..") and not d.get("clientside_function")]


def _specs(output: str) -> list[dict]:
    pairs = [part.rsplit(".", 1) for part in output[2:-2].split("...")]
    return [{"id": json.loads(i) if i.startswith("{") else i, "property": p} for i, p in pairs]


def _body(dep: dict, outputs: object, value: object = None) -> dict:
    return {
        "output": dep["output"],
        "outputs": outputs,
        "inputs": [{"id": i["id"], "property": i["property"], "value": value} for i in dep["inputs"]],
        "state": [{"id": s["id"], "property": s["property"], "value": value} for s in dep["state"]],
        "changedPropIds": [],
    }


def test_wrapped_or_missing_outputs_do_not_make_a_callback_public(dash_app, anon_client, caplog):
    """Finding 2: outputs wrapped in lists, or no outputs at all, used to read as 'no ids: public'."""
    viewer = signed_in_client(dash_app, "viewer")
    private = [d for d in _multi_output_deps(anon_client) if not d["output"][2:].startswith(PUBLIC_OUTPUT_PREFIXES)]
    assert len(private) >= 8, [d["output"] for d in private]
    for dep in private:
        wrapped = [[spec] for spec in _specs(dep["output"])]
        for outputs in (wrapped, None, [], {}):
            body = _body(dep, outputs)
            if outputs is None:
                body.pop("outputs")
            answer = anon_client.post("/_dash-update-component", json=body)
            assert answer.status_code in (400, 401), (dep["output"], outputs, answer.status_code)
            if any(str(s["id"]).startswith(("inc-act", "aud-", "ho-")) for s in _specs(dep["output"])):
                assert viewer.post("/_dash-update-component", json=body).status_code in (400, 403)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.parametrize("path", ["//audit", "///handover", "/audit/", "//audit//"])
def test_extra_slashes_do_not_reach_a_stricter_page(dash_app, path):
    """Finding 8: Dash strips every slash (`strip("/")`), so `//audit` is /audit for the router."""
    viewer = signed_in_client(dash_app, "viewer")
    answer = _router(viewer, _location(path))
    assert answer.status_code == 403 and '"aud-' not in answer.get_data(as_text=True)
    assert viewer.get("/", environ_overrides={"PATH_INFO": path}).status_code == 403
    assert _router(signed_in_client(dash_app, "supervisor"), _location("//audit")).status_code == 200


@pytest.mark.parametrize(
    "raw",
    ["[]", '"x"', "null", "{}", "[" * 100_000 + "]" * 100_000, '{"output": 5}', '{"output": "nope.children"}',
     '{"output": "cc-trend-key.data", "outputs": {"id": "cc-trend-key", "property": "data"}, "inputs": "x"}',
     '{"output": "app-lang.data", "outputs": {"id": "app-lang", "property": "data"}, "inputs": []}',
     "{not json"],
)  # fmt: skip
def test_malformed_callback_bodies_are_4xx_without_a_traceback(dash_app, anon_client, raw, caplog):
    """Finding 14: a list, a string, null, deep nesting, `{}`: 400 or 404, nothing logged as an error."""
    for client in (anon_client, signed_in_client(dash_app, "viewer")):
        for path in ("/_dash-update-component", "/embed/_dash-update-component"):
            answer = client.post(path, data=raw, content_type="application/json")
            assert answer.status_code in (400, 404), (path, raw[:40], answer.status_code)
            assert answer.get_json()["error"] in ("bad_request", "not_found")
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_garbage_inputs_to_a_callback_are_a_bad_request(dash_app, caplog):
    operator = signed_in_client(dash_app, "operator")
    deps = [d for d in operator.get("/_dash-dependencies").get_json() if not d.get("clientside_function")]
    statuses = set()
    for dep in deps:
        outputs = _specs(dep["output"]) if dep["output"].startswith("..") else _specs(f"..{dep['output']}..")[0]
        if dep["output"] == ROUTER:
            continue
        for value in ({"$": [1]}, "\ud800", 10**30, [None]):
            answer = operator.post("/_dash-update-component", json=_body(dep, outputs, value))
            statuses.add(answer.status_code)
            assert answer.status_code != 500, (dep["output"], value)
    assert 400 in statuses
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


# --- the fuzz -------------------------------------------------------------------------------------

PATHNAMES = ["/", "//", "/audit", "//audit", "///handover", "/incidents", "/pilots", "/share", "/data-quality",
             "", None, 7, "audit", "/%2e%2e/audit", "/pilots/../audit", "/AUDIT", "/audit?x=1"]  # fmt: skip
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20), st.sampled_from(PATHNAMES),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)  # fmt: skip


def _shape(rng: random.Random, item: dict, value: object) -> object:
    """One input/output spec as a client might send it, honest or not."""
    honest = {"id": item["id"], "property": item["property"], "value": value}
    return rng.choice([honest, honest, honest, [honest], {"id": item["id"]}, {"property": "pathname", "value": value},
                       item["id"], None, {**honest, "property": "pathname"}])  # fmt: skip


@st.composite
def callback_bodies(draw, deps: list[dict]) -> dict:
    dep = draw(st.sampled_from(deps))
    rng = random.Random(draw(st.integers(0, 2**32)))
    outputs = _specs(dep["output"]) if dep["output"].startswith("..") else _specs(f"..{dep['output']}..")
    inputs = [_shape(rng, i, draw(VALUES)) for i in dep["inputs"]]
    if rng.random() < 0.3:
        rng.shuffle(inputs)
    shaped_outputs = [_shape(rng, o, None) for o in outputs]
    body = {
        "output": dep["output"] if rng.random() < 0.9 else dep["output"] + rng.choice(["x", ".", "@1", ""]),
        "outputs": rng.choice([shaped_outputs, shaped_outputs[0], [shaped_outputs], outputs, outputs[0]]),
        "inputs": inputs if rng.random() < 0.9 else draw(VALUES),
        "state": [_shape(rng, s, draw(VALUES)) for s in dep["state"]],
        "changedPropIds": rng.choice([[], [f"{dep['inputs'][0]['id']}.x"], None, "x"]),
    }
    for key in list(body):
        if rng.random() < 0.05:
            del body[key]
    return body


def _private(dep_output: str) -> bool:
    names = [s["id"]["type"] if isinstance(s["id"], dict) else s["id"] for s in _specs(f"..{dep_output.strip('.')}..")]
    return not all(n.startswith(PUBLIC_OUTPUT_PREFIXES) for n in names)


@pytest.mark.parametrize("role", ["anonymous", "viewer"])
def test_fuzzed_callback_requests_never_leak_or_fail(dash_app, role):
    client = dash_app.server.test_client() if role == "anonymous" else signed_in_client(dash_app, role)
    client.environ_base["REMOTE_ADDR"] = f"10.250.0.{1 + (role == 'viewer')}"  # a budget of its own
    deps = client.get("/_dash-dependencies").get_json()
    deps = [d for d in deps if not d.get("clientside_function")]
    assert any(d["output"] == ROUTER for d in deps)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(body=callback_bodies(deps))
    def probe(body: dict) -> None:
        answer = client.post("/_dash-update-component", json=body)
        text = answer.get_data(as_text=True)
        assert answer.status_code != 500, (body, text[:300])
        if answer.status_code != 200:
            return
        output = str(body.get("output"))
        if role == "anonymous":
            assert output == ROUTER or not _private(output), body
            assert not any(marker in text for marker in PRIVATE_IDS), (body, text[:300])
        else:
            assert not any(marker in text for marker in ABOVE_VIEWER_IDS), (body, text[:300])

    probe()
