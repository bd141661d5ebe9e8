"""The dashboard in a real browser (Debian's headless Chromium, driven by Playwright) against the
whole service on the simulator, plus how its files are served.

Screenshots of the pages land in ``test-output/dashboard/`` at the repository root (gitignored) for
a reviewer to look at. Without ``/usr/bin/chromium`` the browser tests skip, except in CI
(``CI=true``), where they fail with the reason: ``.ci/run`` installs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from server.api import dashboard

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "test-output" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 30_000  # generous: two shared cores run the service, 18 simulated venues and the browser
VENUES = 18

in_module_loop = pytest.mark.asyncio(loop_scope="module")  # the service and browser live that long


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if not _playwright_importable():
        return "playwright is not installed: pip install -e '.[dev]'"
    return None


def _playwright_importable() -> bool:
    try:
        import playwright.async_api  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def require_browser() -> None:
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the dashboard's browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


# --- the service and the browser, shared by the module's tests ----------------------------------


@dataclass(frozen=True)
class Service:
    """``oi-server --simulate`` running in its own process, as ``make simulate`` runs it."""

    url: str  # the REST port, ending in "/"
    control_url: str  # the simulator's control API


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Service]:
    data_dir = tmp_path_factory.mktemp("data")  # its own history file: never another run's
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "--simulate", "--poll-interval", "1", "--http-port", "0",
        "--grpc-port", "0", "--sim-seed", "11", "--request-timeout", "5", "--data-dir", str(data_dir),
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    assert process.stderr is not None
    drain: asyncio.Task[bytes] | None = None
    try:
        async with asyncio.timeout(60):
            while True:
                line = await process.stderr.readline()
                assert line, "oi-server ended before it was ready"
                record = json.loads(line)
                if record.get("msg") == "oi-server ready":
                    break
        drain = asyncio.create_task(process.stderr.read())  # its logs must never block it
        running = Service(f"http://127.0.0.1:{record['http_port']}/", record["sim_control"])
        async with aiohttp.ClientSession() as session, asyncio.timeout(60):
            while True:  # every venue delivered once
                async with session.get(f"{running.url}v1/sources") as response:
                    states = (await response.json())["data"]
                if all(s["last_success"] is not None for s in states.values()):
                    break
                await asyncio.sleep(0.1)
        yield running
    finally:
        if process.returncode is None:
            process.terminate()
        assert await asyncio.wait_for(process.wait(), 10) == 0
        if drain is not None:
            await drain


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser_context(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    require_browser()
    from playwright.async_api import async_playwright  # noqa: PLC0415

    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),  # a new, empty user-data-dir
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
            color_scheme="light",
        )
        context.set_default_timeout(WAIT_MS)
        yield context
        await context.close()


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser_context: Any, service: Service) -> AsyncIterator[Any]:
    """A fresh tab; the test fails if the page raised a JavaScript error."""
    tab = await browser_context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    await tab.close()
    assert not errors, f"JavaScript errors: {errors}"


async def control(service: Service, method: str, path: str, body: object = None) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{service.control_url}{path}", json=body) as response,
    ):
        assert response.status < 300, await response.text()


async def shot(tab: Any, name: str, *, full_page: bool = False) -> None:
    await tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page, animations="disabled")


async def symbols_shown(tab: Any) -> list[str]:
    result: list[str] = await tab.eval_on_selector_all(
        "#symbols tbody tr", "rows => rows.map(r => r.dataset.symbol)"
    )
    return result


async def open_symbols(tab: Any, app: Service) -> None:
    await tab.goto(app.url)
    await tab.wait_for_function("document.querySelectorAll('#symbols tbody tr').length >= 10")


# --- the pages ------------------------------------------------------------------------------------


@in_module_loop
async def test_the_symbols_table_fills_with_figures_for_people(page: Any, service: Service) -> None:
    await open_symbols(page, service)
    shown = await symbols_shown(page)
    assert shown[0] == "BTC"  # the default order: OI descending, and BTC is the largest
    cells = {
        key: await page.text_content(f'tr[data-symbol=BTC] td[data-col="{key}"]')
        for key in ("total_oi_usd", "exchange_count", "price_usd", "funding_8h", "oi_1h", "signal")
    }
    assert re.fullmatch(r"\d+\.\d\d (bn|m)", cells["total_oi_usd"] or ""), cells
    assert cells["exchange_count"] == str(VENUES)
    assert re.fullmatch(r"[\d,]+(\.\d+)?", cells["price_usd"] or ""), cells
    assert re.fullmatch(r"-?\d+\.\d+ %", cells["funding_8h"] or ""), cells
    # no history behind the service yet: change and signal columns say so with a dash
    assert cells["oi_1h"] == cells["signal"] == "–"
    await page.wait_for_function("document.querySelector('#live').classList.contains('on')")
    await shot(page, "symbols")


@in_module_loop
async def test_every_column_sorts_both_ways(page: Any, service: Service) -> None:
    await open_symbols(page, service)
    await page.click('th[data-key="symbol"]')
    assert await page.get_attribute('th[data-key="symbol"]', "aria-sort") == "ascending"
    shown = await symbols_shown(page)
    assert shown == sorted(shown)
    await page.click('th[data-key="symbol"]')
    shown = await symbols_shown(page)
    assert shown == sorted(shown, reverse=True)
    await page.click('th[data-key="exchange_count"]')
    assert await page.get_attribute('th[data-key="exchange_count"]', "aria-sort") == "descending"
    counts = await page.eval_on_selector_all(
        '#symbols td[data-col="exchange_count"]', "cells => cells.map(c => Number(c.textContent))"
    )
    assert counts == sorted(counts, reverse=True) and counts[0] == VENUES
    for key in await page.eval_on_selector_all("#symbols th", "ths => ths.map(t => t.dataset.key)"):
        await page.click(f'th[data-key="{key}"]')  # every column sorts, and the table stays whole
        assert await page.get_attribute(f'th[data-key="{key}"]', "aria-sort") in {"ascending", "descending"}
        assert len(await symbols_shown(page)) == len(shown)


@in_module_loop
async def test_filtering_by_name(page: Any, service: Service) -> None:
    await open_symbols(page, service)
    every = await symbols_shown(page)
    await page.fill("#filter", "et")
    await page.wait_for_function("[...document.querySelectorAll('#symbols tbody tr')].length < 5")
    shown = await symbols_shown(page)
    assert "ETH" in shown and "BTC" not in shown and all("ET" in s for s in shown)
    assert "of" in (await page.text_content("#symbols-summary") or "")
    await page.fill("#filter", "")
    await page.wait_for_function(f"document.querySelectorAll('#symbols tbody tr').length >= {len(every)}")


@in_module_loop
async def test_a_click_opens_btc_with_venues_chart_and_markets(page: Any, service: Service) -> None:
    await open_symbols(page, service)
    await page.click("tr[data-symbol=BTC]")
    await page.wait_for_function("location.hash === '#/symbol/BTC'")
    assert await page.text_content("#sym-title") == "BTC"
    await page.wait_for_selector("#markets tbody tr")
    await page.wait_for_selector("#chart canvas")
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{service.url}v1/markets?symbol=BTC") as response,
    ):
        markets = (await response.json())["data"]["markets"]
    venues = {m["source"] for m in markets}
    await page.wait_for_function(f"document.querySelectorAll('#venues tbody tr').length === {len(venues)}")
    assert await page.locator("#venue-bars .fill").count() == len(venues)
    rows = await page.locator("#markets tbody tr").count()
    assert abs(rows - len(markets)) <= 2  # a venue may have gone stale or come back in between
    provenance = await page.text_content("#markets tbody tr:first-child")
    first = markets[0]
    assert first["venue_symbol"] in (provenance or "") and first["raw"]["field"] in (provenance or "")
    # the chart is drawn: uPlot painted axes and a series on its canvas
    painted = await page.evaluate(
        """() => { const c = document.querySelector('#chart canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""
    )
    assert painted > 1000
    note = await page.text_content("#history-note") or ""
    assert "candles" in note or "history not available" in note or "nothing recorded" in note
    await page.click('#intervals button[data-interval="5m"]')
    assert "active" in (await page.get_attribute('#intervals button[data-interval="5m"]', "class") or "")
    await shot(page, "symbol", full_page=True)


@in_module_loop
async def test_the_sources_page_lists_every_venue(page: Any, service: Service) -> None:
    await page.goto(f"{service.url}#/sources")
    await page.wait_for_function(f"document.querySelectorAll('#sources tbody tr').length === {VENUES}")
    assert (await page.text_content("#sources-summary") or "").startswith(f"{VENUES} sources")
    assert await page.get_attribute("tr[data-source=binance]", "data-state") in {"ok", "degraded"}
    await shot(page, "sources")


@in_module_loop
async def test_live_updates_change_a_cell_after_a_simulator_tick(page: Any, service: Service) -> None:
    await open_symbols(page, service)
    cell = "tr[data-symbol=BTC] td[data-col=total_oi_usd]"  # its title holds the exact figure
    await control(service, "POST", "/freeze")
    try:
        before = await page.get_attribute(cell, "title")
        await control(service, "POST", "/tick")
        await page.wait_for_function(
            f"before => document.querySelector('{cell}').title !== before", arg=before
        )
        # the title is the exact figure the service serves now, even where the rounded text
        # shown in the cell did not change (a small move: it once kept the old figure)
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                async with session.get(f"{service.url}v1/symbols?symbol=BTC") as response:
                    served = (await response.json())["data"]["BTC"]["total_oi_usd"]
                shown = await page.evaluate(
                    f"v => [document.querySelector('{cell}').title, `${{v.toLocaleString()}} USD`]", served
                )
                if shown[0] == shown[1]:
                    break
                await asyncio.sleep(0.1)  # a newer snapshot between the two reads: look again
        assert shown[0] == shown[1], shown
    finally:
        await control(service, "POST", "/unfreeze")


@in_module_loop
async def test_a_stopped_venue_shows_as_stale(page: Any, service: Service) -> None:
    await page.goto(f"{service.url}#/sources")
    await page.wait_for_selector("tr[data-source=bybit]")
    await control(service, "POST", "/faults", {"venue": "bybit", "fault": "down"})
    try:
        row = "tr[data-source=bybit]"
        await page.wait_for_selector(f"{row}[data-state=stale].alert")
        assert "stale" in (await page.text_content(f"{row} .state") or "")
        assert (await page.text_content(f"{row} td.err") or "") != ""  # the reason is shown
        await shot(page, "sources-stale")
    finally:
        await control(service, "DELETE", "/faults/bybit")


@in_module_loop
async def test_a_phone_sized_screen_in_dark_mode(page: Any, service: Service) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.emulate_media(color_scheme="dark")
    await open_symbols(page, service)
    # the page itself never scrolls sideways: the wide table scrolls inside its own box
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], width
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert red + green + blue < 150, background  # dark
    await shot(page, "phone-dark")


# --- how the files are served ---------------------------------------------------------------------


@in_module_loop
async def test_assets_come_from_the_package_with_validators(service: Service) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(service.url) as response:
            assert response.status == 200 and response.content_type == "text/html"
            html = await response.text()
        for name in re.findall(r'(?:src|href)="/assets/([^"]+)"', html):
            async with session.get(f"{service.url}assets/{name}") as response:
                assert response.status == 200, name
                etag = response.headers["ETag"]
                assert response.headers["Cache-Control"] == "no-cache"
            async with session.get(
                f"{service.url}assets/{name}", headers={"If-None-Match": etag}
            ) as response:
                assert response.status == 304 and await response.read() == b""
        links = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert links and all(link.startswith(("/", "#")) for link in links), links  # nothing off-site
        async with session.get(f"{service.url}assets/../rest.py") as response:
            assert response.status == 404 and response.content_type == "application/json"


def test_every_asset_is_package_data() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    patterns = json.loads("[" + pyproject.split('"server.api.dashboard" = [')[1].split("]")[0] + "]")
    folder = Path(dashboard.__file__).parent
    for name in dashboard.ASSET_NAMES:
        assert (folder / name).is_file(), name
        assert any(Path(name).match(p) for p in patterns), f"{name} is not in pyproject's package-data"
    assert (folder / "vendor" / "uPlot.LICENSE.txt").read_text().startswith("The MIT License")


def test_the_vendored_uplot_is_the_locked_npm_release() -> None:
    """``make web-assets`` copies it from web/'s lockfile; a hand edit or a stale copy fails here."""
    lock = json.loads((ROOT / "web" / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/uplot"]["version"]
    vendor = Path(dashboard.__file__).parent / "vendor"
    script = (vendor / "uPlot.iife.min.js").read_bytes()
    assert script.startswith(b"/*! https://github.com/leeoniya/uPlot (v%s) */" % version.encode())
    installed = ROOT / "web" / "node_modules" / "uplot"
    if not installed.is_dir():
        pytest.skip("web/node_modules is absent: `make web-assets` installs it and compares byte for byte")
    assert json.loads((installed / "package.json").read_text())["version"] == version
    assert script == (installed / "dist" / "uPlot.iife.min.js").read_bytes()
    assert (vendor / "uPlot.min.css").read_bytes() == (installed / "dist" / "uPlot.min.css").read_bytes()
    assert (vendor / "uPlot.LICENSE.txt").read_bytes() == (installed / "LICENSE").read_bytes()
