"""The OpenAPI 3.1 document of the REST shim, served at ``GET /openapi.json``.

Built from Python data so the enumerations come from the same constants the code validates
against (source ids, symbol pattern, limits). ``PATHS`` describes every route API.md defines;
the served document holds the ones the application routes (``openapi_json(routed)``), so a
path documented ahead of its route (``/v1/history``, API.md section 6) appears once it is served.
``tests/api/test_openapi.py`` fails, saying what to add, when a route has no entry here;
``tests/test_schemathesis.py`` checks the running service against the served document.

Response schemas are exact: every key of every body, ``additionalProperties: false`` on fixed
objects, ``null`` where a value can be null, maps (symbol → ..., source → ...) as
``additionalProperties``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final

from server.core.model import ContractKind, Convention, MarginType, PriceKind, RawUnit, VenueType
from server.core.sources import SOURCE_IDS

Schema = dict[str, Any]

SYMBOL_RE: Final = "^[A-Za-z0-9]{1,20}$"
SYMBOL_LIST_RE: Final = "^[A-Za-z0-9]{1,20}(,[A-Za-z0-9]{1,20}){0,99}$"
SOURCE_STATES: Final = ("ok", "degraded", "stale", "down")  # poll.status.SourceState (a test checks)
HISTORY_INTERVALS: Final = ("1m", "5m", "15m", "1h", "4h", "1d")
SIGNAL_WINDOWS: Final = ("1m", "5m", "15m", "1h", "4h", "24h")
SIGNALS: Final = ("new_longs", "new_shorts", "short_covering", "long_liquidation", "neutral")


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None) -> Schema:
    """A fixed object: exactly these keys (``optional`` ones may be absent), nothing else."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
        "additionalProperties": False,
    }


def nullable(schema: Schema) -> Schema:
    if "$ref" in schema or "enum" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    return {**schema, "type": [schema["type"], "null"]}


NUMBER: Final[Schema] = {"type": "number"}
INTEGER: Final[Schema] = {"type": "integer"}
STRING: Final[Schema] = {"type": "string"}
MS: Final[Schema] = {"type": "integer", "description": "unix time, milliseconds"}
SHARE: Final[Schema] = {"type": "number", "minimum": 0, "maximum": 1}
SYMBOL_KEY: Final[Schema] = {"type": "string", "minLength": 1}


def enum(values: Sequence[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def symbol_map(value: Schema) -> Schema:
    return {"type": "object", "propertyNames": SYMBOL_KEY, "additionalProperties": value}


def envelope(data: Schema) -> Schema:
    return obj({"status": {"const": "ok"}, "timestamp": MS, "data": data})


MARKET: Final = obj(
    {
        "source": enum(SOURCE_IDS),
        "venue_symbol": STRING,
        "venue_type": enum([v.value for v in VenueType]),
        "kind": enum([k.value for k in ContractKind]),
        "margin_asset": STRING,
        "margin_type": enum([m.value for m in MarginType]),
        "contract_size": nullable(NUMBER),
        "raw": nullable(obj({"field": STRING, "value": STRING, "unit": enum([u.value for u in RawUnit])})),
        "convention": enum([c.value for c in Convention]),
        "oi_contracts": nullable(NUMBER),
        "oi_usd": NUMBER,
        "price": nullable(
            obj(
                {"usd": NUMBER, "kind": nullable(enum([k.value for k in PriceKind]))},
                {"base_factor": NUMBER},
            )
        ),
        "funding": nullable(
            obj(
                {
                    "rate": NUMBER,
                    "interval_hours": NUMBER,
                    "rate_8h": nullable(NUMBER),
                    "apr": nullable(NUMBER),
                    "next_at": nullable(MS),
                },
                {"short_rate": NUMBER},
            )
        ),
        "updated_at": MS,
    },
    {"borrow_rate_1h": NUMBER},
)

THEN_NOW: Final[Schema] = {"type": "array", "items": NUMBER, "minItems": 2, "maxItems": 2}
EXPLAIN: Final = obj(
    {
        "now": MS,
        "then": MS,
        "oldest": MS,
        "oi_coins": nullable(THEN_NOW),
        "oi_usd": THEN_NOW,
        "price_usd": nullable(THEN_NOW),
        "coverage": SHARE,
        "coins_coverage": SHARE,
        "sources": INTEGER,
    }
)
CHANGE: Final = obj(
    {
        "oi_pct": nullable(NUMBER),
        "oi_usd_pct": nullable(NUMBER),
        "price_pct": nullable(NUMBER),
        "signal": enum(SIGNALS),
        "crowding": nullable(enum(("longs", "shorts"))),
    },
    {"explain": EXPLAIN},
)
SIGNAL_ROW: Final = obj(
    {
        "symbol": STRING,
        "oi_pct": nullable(NUMBER),
        "oi_usd_pct": nullable(NUMBER),
        "price_pct": nullable(NUMBER),
        "signal": enum(SIGNALS),
        "crowding": nullable(enum(("longs", "shorts"))),
        "funding_8h": nullable(NUMBER),
        "total_oi_usd": NUMBER,
    }
)

SCHEMAS: Final[dict[str, Schema]] = {
    "Error": obj(
        {
            "status": {"const": "error"},
            "timestamp": MS,
            "error": obj(
                {
                    "code": {
                        "type": "string",
                        "examples": ["INVALID_ARGUMENT", "NOT_FOUND", "UNAVAILABLE"],
                    },
                    "message": {"type": "string", "minLength": 1},
                }
            ),
        }
    ),
    "SymbolTotal": obj({"total_oi_usd": NUMBER, "exchange_count": {"type": "integer", "minimum": 1}}),
    "SymbolDetail": obj(
        {
            "symbol": STRING,
            "total_oi_usd": NUMBER,
            "exchanges": {
                "type": "object",
                "propertyNames": enum(SOURCE_IDS),
                "additionalProperties": obj({"oi_usd": NUMBER, "updated_at": MS}, {"oi_contracts": NUMBER}),
            },
        }
    ),
    "Market": MARKET,
    "SymbolMarkets": obj({"symbol": STRING, "markets": {"type": "array", "items": ref("Market")}}),
    "SymbolStats": obj(
        {
            "total_oi_usd": NUMBER,
            "exchange_count": INTEGER,
            "total_oi_coins": nullable(NUMBER),
            "coins_coverage": SHARE,
            "price_usd": nullable(NUMBER),
            "funding_8h": nullable(NUMBER),
            "funding_apr": nullable(NUMBER),
            "funding_coverage": SHARE,
            "by_margin": obj({m.value: NUMBER for m in MarginType}),
            "by_venue_type": obj({v.value: NUMBER for v in VenueType}),
        },
        {
            "changes": {
                "type": "object",
                "propertyNames": enum(SIGNAL_WINDOWS),
                "additionalProperties": CHANGE,
            }
        },
    ),
    "SourceStatus": obj(
        {
            "state": enum(SOURCE_STATES),
            "last_success": nullable(MS),
            "last_error": nullable(STRING),
            "last_error_at": nullable(MS),
            "consecutive_failures": INTEGER,
            "markets": INTEGER,
            "rows_skipped": INTEGER,
            "last_poll_duration_ms": nullable(INTEGER),
            "readings_rejected": INTEGER,
            "poll_interval_s": NUMBER,
        }
    ),
    "Candle": obj(
        {
            "t": MS,
            "oi_usd": obj({"o": NUMBER, "h": NUMBER, "l": NUMBER, "c": NUMBER}),
            "oi_coins": nullable(NUMBER),
            "price_usd": nullable(NUMBER),
            "funding_8h": nullable(NUMBER),
            "exchange_count": INTEGER,
        }
    ),
}

ERROR_TEXT: Final = {
    400: "Malformed or unknown query parameter (code INVALID_ARGUMENT).",
    404: "Nobody reports the symbol, or no data yet (code NOT_FOUND).",
    503: "Not available (code UNAVAILABLE).",
}


def responses(ok: Schema, description: str, *errors: int) -> dict[str, Any]:
    """The 200 answer and the error envelopes an operation can give (400 on every GET with
    parameters: an unknown parameter is one)."""
    answers: dict[str, Any] = {
        "200": {"description": description, "content": {"application/json": {"schema": ok}}}
    }
    for status in errors:
        answers[str(status)] = {
            "description": ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref("Error")}},
        }
    return answers


def query(name: str, schema: Schema, description: str, *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


SYMBOL_PARAM: Final = query(
    "symbol",
    {"type": "string", "pattern": SYMBOL_RE, "examples": ["BTC", "eth", "XBT"]},
    "One symbol, case-insensitive (XBT means BTC); answered upper-case.",
)
SYMBOL_LIST: Final[Schema] = {
    "type": "string",
    "pattern": SYMBOL_LIST_RE,
    "examples": ["BTC", "btc,ETH", "ETH,SOL,NOPE"],
}
SYMBOL_LIST_DOC: Final = (
    "One symbol, or up to 100 separated by commas (BTC,ETH), each case-insensitive; duplicates collapse."
)
SOURCE_PARAM: Final = query(
    "source", {"type": "string", "enum": list(SOURCE_IDS)}, "Only this source's figures."
)


def get(summary: str, operation_id: str, params: list[dict[str, Any]], answers: dict[str, Any]) -> Schema:
    return {
        "get": {
            "summary": summary,
            "operationId": operation_id,
            "parameters": params,
            "responses": answers,
        }
    }


PATHS: Final[dict[str, Schema]] = {
    "/v1/open-interest": get(
        "Open interest: every symbol's total, or one symbol per exchange (API.md section 1)",
        "getOpenInterest",
        [SYMBOL_PARAM],
        responses(
            envelope(
                {
                    "anyOf": [
                        {**symbol_map(ref("SymbolTotal")), "description": "no symbol: every symbol"},
                        ref("SymbolDetail"),
                    ]
                }
            ),
            "Without symbol: data maps symbol to its total, by total_oi_usd descending ({} before "
            "the first poll). With symbol: that symbol's figures per exchange.",
            400,
            404,
        ),
    ),
    "/v1/markets": get(
        "Every counted market of a symbol, with provenance and funding (API.md section 4)",
        "listMarkets",
        [
            {
                **query(
                    "symbol",
                    SYMBOL_LIST,
                    SYMBOL_LIST_DOC + " One symbol: data is {symbol, markets}. A list (any comma): "
                    "data maps each reported symbol to its {symbol, markets}, by total descending; "
                    "symbols nobody reports are left out.",
                    required=True,
                ),
            },
            SOURCE_PARAM,
        ],
        responses(
            envelope({"anyOf": [ref("SymbolMarkets"), symbol_map(ref("SymbolMarkets"))]}),
            "The markets, by oi_usd descending.",
            400,
            404,
        ),
    ),
    "/v1/symbols": get(
        "Per-symbol statistics (API.md section 5)",
        "listSymbols",
        [
            query(
                "symbol",
                SYMBOL_LIST,
                SYMBOL_LIST_DOC + " Symbols nobody reports are left out; 404 when none is reported.",
            ),
            query(
                "explain",
                enum(("1", "0", "true", "false")),
                "1: each window of changes adds explain (the two instants, the values compared, "
                "the coverage; API.md section 7).",
            ),
        ],
        responses(
            envelope(symbol_map(ref("SymbolStats"))),
            "data maps symbol to its statistics, by total_oi_usd descending.",
            400,
            404,
        ),
    ),
    "/v1/signals": get(
        "The OI / price screener of one window (API.md section 7)",
        "listSignals",
        [
            query("window", enum(SIGNAL_WINDOWS), "The window.", required=True),
            query("signal", enum(SIGNALS), "Only symbols with this signal."),
            query("crowding", enum(("longs", "shorts")), "Only symbols crowded on this side."),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "At most this many rows."),
        ],
        responses(
            envelope({"type": "array", "items": SIGNAL_ROW}),
            "Every symbol history covers for the window, by abs(oi_pct) descending.",
            400,
        ),
    ),
    "/v1/history": get(
        "OI candles of a symbol, aggregate or one source (API.md section 6)",
        "getHistory",
        [
            query("symbol", {"type": "string", "pattern": SYMBOL_RE}, "The symbol.", required=True),
            query("interval", enum(HISTORY_INTERVALS), "Bucket size, aligned to UTC.", required=True),
            SOURCE_PARAM,
            query("start", {"type": "integer", "minimum": 0}, "First bucket start, unix ms, inclusive."),
            query("end", {"type": "integer", "minimum": 0}, "Last bucket start, unix ms, inclusive."),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "At most this many (500)."),
        ],
        responses(
            envelope(
                obj(
                    {
                        "symbol": STRING,
                        "source": nullable(enum(SOURCE_IDS)),
                        "interval": enum(HISTORY_INTERVALS),
                        "candles": {"type": "array", "items": ref("Candle")},
                    }
                )
            ),
            "Candles ascending by t; gaps stay gaps.",
            400,
            404,
            503,
        ),
    ),
    "/v1/history/status": get(
        "The history recorder's state: last error, failures, queue, drops (README History)",
        "getHistoryStatus",
        [],
        responses(
            envelope(
                obj(
                    {"state": enum(["ok", "degraded", "unavailable", "off"]), "store": STRING},
                    {
                        "last_error": nullable(STRING),
                        "last_error_at": nullable(MS),
                        "failures": INTEGER,
                        "last_write_at": nullable(MS),
                        "last_write_duration_ms": nullable(NUMBER),
                        "candles_written": INTEGER,
                        "queue_depth": INTEGER,
                        "queued_candles": INTEGER,
                        "dropped_minutes": INTEGER,
                        "dropped_candles": INTEGER,
                        "open_series": INTEGER,
                    },
                )
            ),
            "state off (--history none) comes with store only.",
            400,
        ),
    ),
    "/v1/sources": get(
        "Each polled source's state",
        "listSources",
        [],
        responses(
            envelope(
                {
                    "type": "object",
                    "propertyNames": enum(SOURCE_IDS),
                    "additionalProperties": ref("SourceStatus"),
                }
            ),
            "data maps source id to its status, in configuration order.",
            400,
        ),
    ),
    "/healthz": get(
        "Liveness: 200 while the process serves (API.md section 9)",
        "healthz",
        [],
        responses(envelope(obj({"serving": {"const": True}})), "Serving.", 400),
    ),
    "/readyz": get(
        "Readiness: 200 once a snapshot with data is held, 503 before and during shutdown",
        "readyz",
        [],
        responses(envelope(obj({"ready": {"const": True}})), "Ready.", 400, 503),
    ),
    "/openapi.json": get(
        "This document",
        "openapi",
        [],
        responses({"type": "object"}, "The OpenAPI 3.1 document of the routes this service serves.", 400),
    ),
    "/metrics": get(
        "Prometheus metrics (API.md section 9): sources, polls, snapshots, requests, history",
        "metrics",
        [],
        {
            "200": {
                "description": "Prometheus text exposition format 0.0.4.",
                "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": STRING}},
            },
            **{k: v for k, v in responses(STRING, "", 400).items() if k != "200"},
        },
    ),
}

DESCRIPTION: Final = (
    "Open interest of crypto perpetual futures, aggregated across venues. Every answer but "
    "/metrics (Prometheus text) is JSON: "
    '{"status": "ok", "timestamp", "data"} or the error envelope. Every GET route also answers '
    "HEAD (no body). Bodies of 1 KB or more are compressed (br, gzip) when Accept-Encoding allows. "
    "An unknown query parameter, or one given twice, is a 400. With --cors-origin, OPTIONS "
    "answers CORS preflights."
)


def openapi_document(routed: Sequence[str]) -> Schema:
    """The document for the routes in ``routed`` (each must be in ``PATHS``: KeyError otherwise)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "oi-service REST", "version": "1", "description": DESCRIPTION},
        "paths": {path: PATHS[path] for path in routed},
        "components": {"schemas": SCHEMAS},
    }


def openapi_json(routed: Sequence[str]) -> bytes:
    return json.dumps(openapi_document(routed), indent=1, sort_keys=False).encode()
