"""The OpenAPI document kept in step with the code: its paths are the router's, its enumerations
the code's, and real bodies (every optional key present somewhere) validate against it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import jsonschema_rs
import pytest
from aiohttp import web

from server.api import openapi
from server.api.convert import PreparedSnapshot
from server.api.rest import RestRunner, build_app, get_paths
from server.api.validation import SYMBOL_PATTERN
from server.core.hub import SnapshotHub
from server.core.sources import SOURCE_IDS, SourceState, SourceStatusView
from tests.api.test_markets_symbols import explained_snapshot

# Paths API.md defines whose routes land separately: documented ahead, served once routed.
DOCUMENTED_AHEAD: Final[frozenset[str]] = frozenset()
# Routes outside the JSON API the document describes: the dashboard's page and files (HTML, scripts)
# and the Server-Sent Events stream (never ends: a fuzzer would wait on it), documented in the README.
NOT_JSON_API: Final = frozenset({"/", "/assets/{name}", "/v1/stream"})


def routed_paths() -> list[str]:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(explained_snapshot()))
    return get_paths(build_app(hub))


def test_every_route_is_documented() -> None:
    missing = [path for path in routed_paths() if path not in openapi.PATHS and path not in NOT_JSON_API]
    assert not missing, (
        f"GET {', '.join(missing)} is served but not documented: add PATHS[{missing[0]!r}] = get(...) "
        "in server/api/openapi.py, with its parameters (patterns, enums, bounds), its 200 body "
        "schema (exact keys, null where null can appear) and its error statuses"
    )


def test_every_documented_path_is_routed() -> None:
    unrouted = set(openapi.PATHS) - set(routed_paths()) - DOCUMENTED_AHEAD
    assert not unrouted, (
        f"{sorted(unrouted)} documented in server/api/openapi.py PATHS but not routed by "
        "server/api/rest.py build_app: route it, or delete the entry"
    )


def test_paths_documented_ahead_are_still_unrouted() -> None:
    """Once a path documented ahead is routed, it leaves DOCUMENTED_AHEAD (it is then checked
    like every other route)."""
    now_routed = DOCUMENTED_AHEAD & set(routed_paths())
    assert not now_routed, (
        f"{sorted(now_routed)} is routed now: remove it from DOCUMENTED_AHEAD in {__file__}"
    )


def test_enumerations_are_the_codes() -> None:
    assert tuple(s.value for s in SourceState) == openapi.SOURCE_STATES
    assert f"^{SYMBOL_PATTERN.pattern}$" == openapi.SYMBOL_RE
    markets = openapi.PATHS["/v1/markets"]["get"]["parameters"]
    assert markets[1]["schema"]["enum"] == list(SOURCE_IDS)


async def test_served_document_is_the_routed_paths() -> None:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(explained_snapshot()))
    app = build_app(hub)
    runner = RestRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{runner.addresses[0][1]}/openapi.json") as response,
        ):
            assert response.status == 200 and response.content_type == "application/json"
            document = json.loads(await response.read())
    finally:
        await runner.cleanup()
    assert document["openapi"] == "3.1.0"
    assert list(document["paths"]) == [p for p in get_paths(app) if p in openapi.PATHS]
    for path, item in document["paths"].items():
        assert set(item) == {"get"}, path
        responses = item["get"]["responses"]
        assert "200" in responses and all(
            r["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
            for status, r in responses.items()
            if status != "200"
        )


def test_document_is_valid_openapi_3_1() -> None:
    """Every schema in the document is a valid JSON Schema 2020-12 (the dialect of OpenAPI 3.1)."""
    document = openapi.openapi_document(list(openapi.PATHS))
    for name, schema in document["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(schema), name
    for path, item in document["paths"].items():
        operation = item["get"]
        for parameter in operation["parameters"]:
            assert set(parameter) == {"name", "in", "required", "schema", "description"}, path
            assert jsonschema_rs.meta.is_valid(parameter["schema"]), (path, parameter["name"])
        for answer in operation["responses"].values():
            for media in answer["content"].values():  # JSON everywhere; Prometheus text on /metrics
                assert jsonschema_rs.meta.is_valid(media["schema"]), path


# --- real bodies against the schemas ---------------------------------------------------------


def validator(path: str, status: str = "200") -> Any:
    schema = openapi.PATHS[path]["get"]["responses"][status]["content"]["application/json"]["schema"]
    return jsonschema_rs.validator_for({**schema, "components": {"schemas": openapi.SCHEMAS}})


@pytest.fixture
async def base() -> AsyncIterator[str]:
    hub: SnapshotHub[PreparedSnapshot] = SnapshotHub(PreparedSnapshot(explained_snapshot()))
    board = (
        SourceStatusView(
            source="bybit",
            state=SourceState.OK,
            last_success_ms=1,
            last_error=None,
            last_error_ms=None,
            consecutive_failures=0,
            markets=3,
            skipped_rows=0,
            last_poll_duration_ms=12,
            readings_rejected=0,
            poll_interval_s=30.0,
        ),
        SourceStatusView(
            source="okx",
            state=SourceState.DOWN,
            last_success_ms=None,
            last_error="timed out",
            last_error_ms=2,
            consecutive_failures=4,
            markets=0,
            skipped_rows=1,
            last_poll_duration_ms=None,
            readings_rejected=2,
            poll_interval_s=30,
        ),
    )
    runner = RestRunner(build_app(hub, lambda: board))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/v1/open-interest", "", "200"),
        ("/v1/open-interest", "?symbol=btc", "200"),
        ("/v1/open-interest", "?symbol=DOGE", "404"),
        ("/v1/open-interest", "?symbol=B-TC", "400"),
        ("/v1/markets", "?symbol=BTC", "200"),  # funding, price kinds, borrow_rate_1h, null raw
        ("/v1/markets", "?symbol=PEPE", "200"),  # base_factor
        ("/v1/markets", "?symbol=BTC,PEPE,NOPE", "200"),
        ("/v1/markets", "?symbol=BTC&source=nowhere", "400"),
        ("/v1/symbols", "", "200"),
        ("/v1/symbols", "?symbol=btc,pepe", "200"),
        ("/v1/symbols", "?symbol=NOPE", "404"),
        ("/v1/symbols", "?explain=1", "200"),
        ("/v1/signals", "?window=1m", "200"),
        ("/v1/signals", "?window=2m", "400"),
        ("/v1/sources", "", "200"),
        ("/healthz", "", "200"),
        ("/readyz", "", "200"),
        ("/v1/history", "?symbol=BTC&interval=1h", "503"),  # history off here; 200 in test_history
        ("/v1/history", "?symbol=BTC&interval=7h", "400"),
        ("/v1/history/status", "", "200"),
    ],
)
async def test_bodies_match_their_schemas(base: str, path: str, query: str, status: str) -> None:
    async with aiohttp.ClientSession() as session, session.get(base + path + query) as response:
        assert str(response.status) == status
        body = json.loads(await response.read())
    errors = [f"{e.instance_path}: {e.message}" for e in validator(path, status).iter_errors(body)]
    assert not errors, errors[:5]


def test_schemas_refuse_what_the_api_never_sends() -> None:
    """The schemas are exact: an extra key, a missing one or a wrong type fails them."""
    good = {"status": "ok", "timestamp": 1, "data": {"BTC": {"total_oi_usd": 1.5, "exchange_count": 2}}}
    check = validator("/v1/open-interest")
    assert check.is_valid(good)
    assert not check.is_valid({**good, "extra": 1})
    assert not check.is_valid({**good, "data": {"BTC": {"total_oi_usd": 1.5}}})
    assert not check.is_valid({**good, "data": {"BTC": {"total_oi_usd": "1.5", "exchange_count": 2}}})
    assert not validator("/v1/open-interest", "404").is_valid(good)
