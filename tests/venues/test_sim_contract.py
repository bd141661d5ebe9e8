"""Simulator and parsers keep each other honest, for every registered venue (a new venue is
covered the moment it is registered); below, the listing helpers every render module shares."""

from __future__ import annotations

import pytest

from server.core.model import MarketOI, VenueReading
from server.core.readings import accept_all
from server.poll.poller import VenuePoller
from server.poll.status import SourceStatus
from server.sim.inprocess import InProcessFetch
from server.sim.market import CORE_ASSETS, Asset, Listing, ListingState, synthetic_assets
from server.sim.render import SIM_VENUES
from server.sim.venue import real_assets, significant, sub_dollar_size, with_synthetic
from server.venues import REGISTRY
from tests.support import sim_world

# Venues with no funding at all (API.md section 4: ``funding`` is null there).
NO_FUNDING = frozenset({"jupiter"})


async def poll_simulated(venue: str) -> tuple[tuple[MarketOI, ...], dict[str, ListingState]]:
    """One poll of the simulated venue through the shared poller: the parsed markets and the truth."""
    sim_venue = SIM_VENUES[venue]
    world = sim_world(sim_venue)
    world.step()
    readings: list[VenueReading] = []
    status = SourceStatus(venue, poll_interval_s=30)
    poller = VenuePoller(
        REGISTRY[venue],
        fetch=InProcessFetch(sim_venue, world),
        interval_s=30,
        status=status,
        submit=accept_all(readings.append),
    )
    await poller.poll_once()
    assert len(readings) == 1, status.last_error
    truth = {state.listing.venue_symbol: state for state in world.venues[venue]}
    return readings[0].markets, truth


@pytest.mark.parametrize("venue", sorted(REGISTRY))
async def test_every_market_carries_its_provenance(venue: str) -> None:
    markets, truth = await poll_simulated(venue)
    for market in markets:
        state = truth[market.venue_symbol]
        assert market.raw is not None and market.raw.value.strip(), market.venue_symbol
        float(market.raw.value)  # verbatim text of a number
        assert (market.price_kind is None) == (market.price_usd is None), market.venue_symbol
        assert market.kind is state.listing.kind, market.venue_symbol
        assert market.margin_asset, market.venue_symbol


@pytest.mark.parametrize("venue", sorted(REGISTRY))
async def test_funding_of_render_gives_back_the_state(venue: str) -> None:
    markets, truth = await poll_simulated(venue)
    for market in markets:
        if venue in NO_FUNDING:
            assert market.funding is None, market.venue_symbol
            continue
        state = truth[market.venue_symbol]
        assert market.funding is not None, market.venue_symbol
        assert market.funding.interval_hours == state.listing.funding_interval_h, market.venue_symbol
        # venues round rates to 4-8 decimals: compare per 8 h within 1e-7 (0.00001 %)
        assert market.funding.rate_8h == pytest.approx(state.funding_8h, abs=1e-7), market.venue_symbol


# --- the listing helpers every render module shares (server/sim/venue.py) ----------------------------


def usdt(asset: Asset) -> Listing:
    return Listing(venue_symbol=f"{asset.symbol}USDT", asset=asset.symbol)


def test_real_assets_leave_out_the_synthetic_coins() -> None:
    assets = CORE_ASSETS + synthetic_assets(5)
    assert real_assets(assets) == list(CORE_ASSETS)


def test_with_synthetic_pads_real_listings_up_to_the_market_count() -> None:
    assets = CORE_ASSETS + synthetic_assets(50)
    real = [usdt(a) for a in real_assets(assets)] + [
        Listing(venue_symbol="BTCUSDC", asset="BTC", settle="USDC")
    ]
    listed = with_synthetic(real, assets, 40, usdt)
    assert listed[: len(real)] == tuple(real)  # real ones first, in their order
    assert [x.venue_symbol for x in listed[len(real) :]] == [f"SIM{i:03d}USDT" for i in range(40 - len(real))]


def test_with_synthetic_adds_none_without_synthetic_coins_or_room() -> None:
    real = [usdt(a) for a in CORE_ASSETS]
    assert with_synthetic(real, CORE_ASSETS, 500, usdt) == tuple(real)
    assert with_synthetic(real, CORE_ASSETS + synthetic_assets(50), 3, usdt) == tuple(real)


@pytest.mark.parametrize("venue", sorted(SIM_VENUES))
def test_full_scale_listings_stay_within_the_venue_count(venue: str) -> None:
    sim = SIM_VENUES[venue]
    listed = sim.listings(CORE_ASSETS + synthetic_assets(800))
    synthetic = [x for x in listed if x.asset.startswith("SIM")]
    assert len(listed) <= sim.market_count and (not synthetic or len(listed) == sim.market_count)
    assert [x for x in listed if x not in synthetic] == list(sim.listings(CORE_ASSETS))


def test_significant_and_sub_dollar_size() -> None:
    assert significant(62_074.8712345, 7) == 62_074.87
    assert significant(0.000012345678, 3) == 1.23e-05
    assert sub_dollar_size(60_000.0) == pytest.approx(1e-5)  # 0.6 USD of BTC
    assert sub_dollar_size(0.2) == 1.0  # 0.2 USD of ARB
    assert sub_dollar_size(0.00001) == pytest.approx(1e5)  # 1 USD of a coin at 1e-5
