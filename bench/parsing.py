"""Parsing: our parser against CCXT's on the same payload, for every venue at its real market count.

Payloads come from the simulator (``InProcessFetch`` over a full-scale ``MarketWorld``): each
venue's real response format (the recorded responses are the simulator's templates, rows repeated
under new names up to the venue's real market count, which is what enlarging a trimmed recorded
sample means), decoded JSON as both parsers receive it. Ours: ``spec.parse(catalog, bodies)``, the
catalog parsed beforehand (it is refreshed hourly, not per cycle). CCXT: its own offline parse
methods (never a network call) on the same decoded bodies, its markets loaded beforehand by its
own ``fetch_markets`` from the same catalog bodies, as a live CCXT call has them (see the loaders
below: a parse without loaded markets builds a stub market per row and is slower, which would
flatter us).

The CCXT side is what CCXT itself does with that payload after its HTTP call: CCXT's
open-interest parser where it is written for rows of this shape; otherwise the parse step of the
CCXT fetch method that reads this endpoint (``parse_tickers`` as ``fetch_tickers`` returns it,
``parse_markets`` as ``fetch_markets`` does...), the lighter one where two CCXT methods read it;
where that fetch method does more than one parse step (Hyperliquid), the method itself with its
HTTP call answered by our body. CCXT's structures do not all carry open interest; the "compared
work" column says which do. The "CCXT method" column names the call.
The figure is the median over repeats of the time for the whole cycle's bodies; markets/s is
the venue's market count over that time.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import random
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from bench.common import Figure, Section, fmt_int, fmt_ratio, judged
from server.sim.inprocess import InProcessFetch
from server.sim.market import CORE_ASSETS, MarketWorld, synthetic_assets
from server.sim.render import SIM_VENUES
from server.sim.server import FULL_SCALE_SYNTHETIC
from server.venues import REGISTRY
from server.venues.base import Bodies, Catalog

TARGET: Final = 10.0
JSON = Any  # decoded JSON, handed to CCXT as it is


def _rows(body: JSON) -> list[JSON]:
    """The row list of a venue body in the envelopes our venues use."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for path in (("result", "list"), ("data",), ("result",), ("products",), ("markets",)):
            found: JSON = body
            for key in path:
                found = found.get(key) if isinstance(found, dict) else None
            if isinstance(found, list):
                return found
            if isinstance(found, dict) and path == ("markets",):
                return list(found.values())
    raise ValueError(f"no rows in a {type(body).__name__} body")


def _bodies(bodies: Bodies, prefix: str) -> Iterable[JSON]:
    for key, pages in bodies.pages_by_key.items():
        if key == prefix or key.startswith(prefix + ":"):
            yield from pages


def _useful(parsed: Any) -> int:
    """How many of CCXT's results carry something: an open-interest structure counts only with an
    amount or a value (a parse that silently reads nothing must not pass for a fast one)."""
    results = (
        parsed.values() if isinstance(parsed, dict) else parsed if isinstance(parsed, list) else [parsed]
    )
    count = 0
    for result in results:
        if not isinstance(result, dict):
            continue
        if "openInterestAmount" in result:
            count += result["openInterestAmount"] is not None or result.get("openInterestValue") is not None
        else:
            count += 1
    return count


def _each(method: str, prefix: str) -> Callable[[Any, Bodies], int]:
    """Call CCXT's ``method`` on every row of the bodies under ``prefix``; count useful results."""

    def run(exchange: Any, bodies: Bodies) -> int:
        parse = getattr(exchange, method)
        return sum(_useful(parse(row)) for body in _bodies(bodies, prefix) for row in _rows(body))

    return run


def _all(method: str, prefix: str) -> Callable[[Any, Bodies], int]:
    """Call CCXT's list-level ``method`` (``parse_tickers``, ``parse_open_interests``...) on each
    body's rows under ``prefix``, as CCXT's fetch method returns it; count useful results."""

    def run(exchange: Any, bodies: Bodies) -> int:
        parse = getattr(exchange, method)
        return sum(_useful(parse(_rows(body))) for body in _bodies(bodies, prefix))

    return run


def _both(*runs: Callable[[Any, Bodies], int]) -> Callable[[Any, Bodies], int]:
    def run(exchange: Any, bodies: Bodies) -> int:
        return sum(one(exchange, bodies) for one in runs)

    return run


def _binance_oi(exchange: Any, bodies: Bodies) -> int:
    count = 0
    for key, pages in bodies.pages_by_key.items():
        if key.startswith("oi:"):
            for body in pages:
                count += _useful(exchange.parse_open_interest(body))
    return count


def _no_network(*_: object, **__: object) -> Any:
    raise RuntimeError("the parsing benchmark never reaches a network")


def _hyperliquid(exchange: Any, bodies: Bodies) -> int:
    """CCXT's own ``fetch_open_interests``, its HTTP call answered with our body: it merges
    ``universe`` with the asset contexts, parses them as markets (``fetch_swap_markets``) and reads
    each market's OI (``parse_open_interests``); markets are loaded once beforehand, as our catalog
    is. Counts the results that carry an open-interest amount."""
    body = bodies.one("metaAndAssetCtxs")
    exchange.fetch = _no_network
    exchange.publicPostInfo = lambda *_, **__: body
    if exchange.markets is None:
        exchange.set_markets(exchange.fetch_swap_markets())
    return _useful(exchange.fetch_open_interests())


def _coinbase_products(exchange: Any, bodies: Bodies) -> int:
    count = 0
    for body in _bodies(bodies, "products"):
        for row in _rows(body):
            count += _useful(exchange.parse_contract_market(row, {}))
    return count


# --- CCXT's markets, loaded by CCXT's own fetch_markets from the same catalog bodies ---------------
#
# A live CCXT call parses with its markets loaded (every fetch method calls load_markets first),
# and a parse with loaded markets is 1.05-1.85x faster than one building a stub market per row.
# So each exchange loads its markets once, untimed, as our catalog is parsed once: CCXT's own
# fetch_markets runs with its HTTP calls answered by our catalog bodies (the cycle body where the
# venue has no catalog), restricted to the market types we poll. A catalog we do not poll (a
# product type CCXT also lists) is answered as an empty list in that endpoint's envelope.

MarketsLoader = Callable[[Any, Bodies, Bodies], None]  # (exchange, catalog bodies, cycle bodies)


def _answer(exchange: Any, **answers: Callable[[dict[str, Any]], JSON]) -> None:
    """Answer CCXT's implicit API methods ``answers`` with our bodies; nothing else reaches out."""
    exchange.fetch = _no_network
    exchange.has["fetchCurrencies"] = False
    for name, answer in answers.items():
        setattr(exchange, name, functools.partial(_call_answer, answer))


def _call_answer(
    answer: Callable[[dict[str, Any]], JSON], params: Any = None, *_: object, **__: object
) -> JSON:
    return answer(params if isinstance(params, dict) else {})


def _load(**options: object) -> Callable[[Callable[[Any, Bodies, Bodies], None]], MarketsLoader]:
    """A loader: set CCXT ``options``, answer its HTTP calls (the decorated function), load_markets."""

    def wrap(answer_calls: Callable[[Any, Bodies, Bodies], None]) -> MarketsLoader:
        def load(exchange: Any, catalog: Bodies, cycle: Bodies) -> None:
            exchange.options.update(options)
            answer_calls(exchange, catalog, cycle)
            exchange.load_markets()

        return load

    return wrap


@_load(fetchMarkets={"types": ["linear"]})
def _binance_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(exchange, fapiPublicGetExchangeInfo=lambda _: catalog.one("exchangeInfo"))


@_load(fetchMarkets={"types": ["inverse"]})
def _binance_coinm_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(exchange, dapiPublicGetExchangeInfo=lambda _: catalog.one("exchangeInfo"))


@_load(fetchMarkets={"types": ["linear", "inverse"]})
def _bybit_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(exchange, publicGetV5MarketInstrumentsInfo=lambda p: catalog.one(f"instruments:{p['category']}"))


@_load(fetchMarkets={"types": ["swap"]})
def _okx_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(exchange, publicGetPublicInstruments=lambda _: catalog.one("instruments"))


@_load(fetchMarkets={"types": ["swap"]})
def _bitget_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    def contracts(params: dict[str, Any]) -> JSON:
        found = catalog.get(f"contracts:{params['productType']}")
        return found if found is not None else {"code": "00000", "msg": "success", "data": []}

    _answer(exchange, publicMixGetV2MixMarketContracts=contracts)


@_load(fetchMarkets={"types": ["swap"]})
def _gate_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(exchange, publicFuturesGetSettleContracts=lambda p: catalog.one(f"contracts:{p['settle']}"))


@_load()
def _mexc_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(
        exchange,
        contractPublicGetDetail=lambda _: catalog.one("detail"),
        spotPublicGetExchangeInfo=lambda _: {"symbols": []},  # spot markets: not polled
    )


def _htx_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    """HTX's fetch_markets also asks for dated coin-M futures (not polled) and refuses an empty
    answer, so the two swap halves it is made of are called directly."""
    _answer(
        exchange,
        contractPublicGetLinearSwapApiV1SwapContractInfo=lambda _: catalog.one("contracts:linear"),
        contractPublicGetSwapApiV1SwapContractInfo=lambda _: catalog.one("contracts:coinm"),
    )
    exchange.set_markets(
        exchange.fetch_markets_by_type_and_sub_type(None, "linear")
        + exchange.fetch_markets_by_type_and_sub_type("swap", "inverse")
    )


@_load()
def _kucoin_markets(exchange: Any, _: Bodies, cycle: Bodies) -> None:
    _answer(exchange, futuresPublicGetContractsActive=lambda _: cycle.one("contracts"))


@_load()
def _backpack_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    _answer(
        exchange,
        publicGetApiV1Markets=lambda _: catalog.one("markets"),
        publicGetApiV1Securities=lambda _: [],
    )


@_load(fetchMarkets={"fetchAllMarkets": False})
def _deribit_markets(exchange: Any, catalog: Bodies, _: Bodies) -> None:
    currencies = [key.split(":", 1)[1] for key in catalog.pages_by_key]
    _answer(
        exchange,
        publicGetGetCurrencies=lambda _: {"result": [{"currency": currency} for currency in currencies]},
        publicGetGetInstruments=lambda p: catalog.one(f"instruments:{p['currency']}"),
    )


@_load()
def _dydx_markets(exchange: Any, _: Bodies, cycle: Bodies) -> None:
    _answer(exchange, indexerGetPerpetualMarkets=lambda _: cycle.one("perpetualMarkets"))


@dataclass(frozen=True, slots=True)
class CcxtParser:
    """Which CCXT exchange class and method parse a venue's cycle bodies, and how CCXT's markets
    are loaded for it (None: the method loads them itself, Hyperliquid)."""

    exchanges: tuple[str, ...]  # CCXT class names, one per run (coinbase needs two)
    method: str  # as shown in the table
    runs: tuple[Callable[[Any, Bodies], int], ...]
    same_work: str
    markets: MarketsLoader | None = None


CCXT: Final[Mapping[str, CcxtParser | str]] = {
    "binance": CcxtParser(
        ("binanceusdm", "binanceusdm"),
        "parse_open_interest (each OI body: fetch_open_interest) + parse_funding_rates (premiumIndex: "
        "fetch_funding_rates, lighter than fetch_mark_prices' parse_tickers)",
        (_binance_oi, _all("parse_funding_rates", "premiumIndex")),
        "same work",
        markets=_binance_markets,
    ),
    "binance_coinm": CcxtParser(
        ("binancecoinm", "binancecoinm"),
        "parse_open_interest (each OI body) + parse_funding_rates (premiumIndex)",
        (_binance_oi, _all("parse_funding_rates", "premiumIndex")),
        "same work",
        markets=_binance_coinm_markets,
    ),
    "bybit": CcxtParser(
        ("bybit",),
        "parse_funding_rates (tickers: fetch_funding_rates, lighter than fetch_tickers' parse_tickers; "
        "CCXT's OI method reads another endpoint, one symbol per call)",
        (_all("parse_funding_rates", "tickers"),),
        "same rows, OI in info only",
        markets=_bybit_markets,
    ),
    "okx": CcxtParser(
        ("okx", "okx"),
        "parse_open_interests (fetch_open_interests) + parse_tickers (mark prices: fetch_mark_prices)",
        (_all("parse_open_interests", "openInterest"), _all("parse_tickers", "markPrice")),
        "same work",
        markets=_okx_markets,
    ),
    "bitget": CcxtParser(
        ("bitget",),
        "parse_tickers (fetch_tickers; holdingAmount stays in info)",
        (_all("parse_tickers", "tickers"),),
        "same rows, no OI",
        markets=_bitget_markets,
    ),
    "gateio": CcxtParser(
        ("gate",),
        "parse_tickers (fetch_tickers)",
        (_all("parse_tickers", "tickers"),),
        "same rows, no OI",
        markets=_gate_markets,
    ),
    "mexc": CcxtParser(
        ("mexc",),
        "parse_tickers (fetch_tickers)",
        (_all("parse_tickers", "ticker"),),
        "same rows, no OI",
        markets=_mexc_markets,
    ),
    "htx": CcxtParser(
        ("htx",),
        "parse_open_interests (fetch_open_interests)",
        (_all("parse_open_interests", "openInterest"),),
        "same work",
        markets=_htx_markets,
    ),
    "kucoin": CcxtParser(
        ("kucoinfutures",),
        "parse_tickers (contracts/active: fetch_tickers' default for swaps)",
        (_all("parse_tickers", "contracts"),),
        "same rows, no OI",
        markets=_kucoin_markets,
    ),
    "coinbase": CcxtParser(
        ("coinbaseinternational", "coinbase"),
        "coinbaseinternational.parse_market (INTX; 4.5.90 reads instrument_name/base_currency, which INTX "
        "does not send, and raises on the recorded response too) + coinbase.parse_contract_market (CDE)",
        (_each("parse_market", "instruments"), _coinbase_products),
        "same rows, OI not read",
    ),
    "backpack": CcxtParser(
        ("backpack", "backpack"),
        "parse_open_interest (OI rows: fetch_open_interest's parser) + parse_funding_rate (mark-price rows)",
        (_each("parse_open_interest", "openInterest"), _each("parse_funding_rate", "markPrices")),
        "same work",
        markets=_backpack_markets,
    ),
    "deribit": CcxtParser(
        ("deribit",),
        "parse_open_interest (book-summary rows: fetch_open_interest's parser, same row shape; lighter "
        "than fetch_tickers' parse_ticker on this very endpoint)",
        (_each("parse_open_interest", "summary"),),
        "same work",
        markets=_deribit_markets,
    ),
    "bitmex": "CCXT 4.5.90 has no BitMEX exchange",
    "hyperliquid": CcxtParser(
        ("hyperliquid",),
        "fetch_open_interests (HTTP answered with the same body: merge, parse_markets, parse_open_interests)",
        (_hyperliquid,),
        "same work",
    ),
    "dydx": CcxtParser(
        ("dydx",),
        "parse_markets (fetch_markets)",
        (_all("parse_markets", "perpetualMarkets"),),
        "same rows, OI not read",
        markets=_dydx_markets,
    ),
    "drift": "no Drift parser in CCXT",
    "avantis": "no Avantis parser in CCXT",
    "jupiter": "no Jupiter Perps parser in CCXT",
}


@dataclass(frozen=True, slots=True)
class Payloads:
    """One venue's catalog bodies (parsed once, as the poller does hourly) and one cycle's bodies."""

    catalog_bodies: Bodies
    catalog: Catalog
    bodies: Bodies


async def venue_payloads(world: MarketWorld, venue: str) -> Payloads:
    spec = REGISTRY[venue]
    fetch = InProcessFetch(SIM_VENUES[venue], world)
    catalog_bodies = Bodies({r.key: ((await fetch(r)).body,) for r in spec.catalog_requests})
    catalog = spec.parse_catalog(catalog_bodies)
    bodies = Bodies({r.key: ((await fetch(r)).body,) for r in spec.cycle_requests(catalog)})
    return Payloads(catalog_bodies, catalog, bodies)


def timed(call: Callable[[], object], budget_s: float, at_least: int = 3) -> Figure:
    """Seconds per call over repeats, until ``budget_s`` is spent (at least ``at_least`` calls)."""
    figure = Figure()
    spent = 0.0
    while len(figure.values) < at_least or spent < budget_s:
        started = time.perf_counter()
        call()
        took = time.perf_counter() - started
        figure.add(took)
        spent += took
        if len(figure.values) >= 200:
            break
    return figure


def full_scale_world(seed: int = 7) -> MarketWorld:
    assets = CORE_ASSETS + synthetic_assets(FULL_SCALE_SYNTHETIC)
    world = MarketWorld(assets={a.symbol: a for a in assets}, rng=random.Random(seed))
    for venue_id, venue in SIM_VENUES.items():
        world.add_venue(venue_id, venue.listings(assets), venue_share=venue.venue_share)
    world.step()
    return world


async def run_parsing(quick: bool) -> Section:
    try:
        ccxt: Any = importlib.import_module("ccxt")  # the bench extra: pip install -e '.[bench]'
    except ImportError:
        ccxt = None
    budget_s = 0.02 if quick else 0.4
    world = full_scale_world()
    section = Section(
        "4. Parsing one poll cycle: ours against CCXT's parser, same payload, real market counts",
        ("venue", "markets", "ours markets/s", "CCXT markets/s", "ours/CCXT", "CCXT method", "compared work"),
    )
    ratios: list[float] = []
    for venue, spec in REGISTRY.items():
        payloads = await venue_payloads(world, venue)
        catalog, bodies = payloads.catalog, payloads.bodies
        parsed = spec.parse(catalog, bodies)
        markets = len(parsed.markets)
        ours = timed(functools.partial(spec.parse, catalog, bodies), budget_s)
        ours_rate = markets / ours.median
        entry = CCXT[venue]
        if isinstance(entry, str) or ccxt is None:
            reason = entry if isinstance(entry, str) else "ccxt not installed (pip install -e '.[bench]')"
            section.row(venue, f"{markets:,}", fmt_int(ours_rate), "–", "–", reason, "–")
            continue
        exchanges = [getattr(ccxt, name)({"enableRateLimit": False}) for name in entry.exchanges]

        def run_ccxt(
            entry: CcxtParser = entry, exchanges: list[Any] = exchanges, bodies: Bodies = bodies
        ) -> int:
            return sum(run(ex, bodies) for run, ex in zip(entry.runs, exchanges, strict=True))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                if entry.markets is not None:
                    for exchange in exchanges:
                        entry.markets(exchange, payloads.catalog_bodies, bodies)
                rows = run_ccxt()
            except Exception as error:  # CCXT's parser refusing this payload is a finding, not a crash
                failure = f"{entry.method}: raised {type(error).__name__}: {str(error)[:80]}"
                section.row(venue, f"{markets:,}", fmt_int(ours_rate), "–", "–", failure, entry.same_work)
                continue
            theirs = timed(run_ccxt, budget_s)
        ratio = theirs.median / ours.median
        ratios.append(ratio)
        section.row(
            venue,
            f"{markets:,}",
            fmt_int(ours_rate),
            fmt_int(markets / theirs.median),
            fmt_ratio(ratio),
            f"{entry.method}; {rows:,} results with data",
            entry.same_work,
        )
    if ratios:
        section.notes.append(
            f"ours/CCXT over the {len(ratios)} venues CCXT parses: median {statistics.median(ratios):.1f}×, "
            f"lowest {min(ratios):.1f}×"
        )
    section.target(
        f"ours ≥ {TARGET:g}× CCXT's markets/s on every venue CCXT parses",
        judged(bool(ratios) and min(ratios) >= TARGET, quick),
    )
    section.notes.append(
        "time per whole cycle (every body of one poll), median over repeats; "
        "markets = markets our parser returns"
    )
    return section


if __name__ == "__main__":
    print(asyncio.run(run_parsing(False)).markdown())
