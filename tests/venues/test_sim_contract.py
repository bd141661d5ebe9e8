"""Simulator and parsers keep each other honest, for every registered venue (a new venue is
covered the moment it is registered)."""

from __future__ import annotations

import pytest

from server.sim.render import SIM_VENUES
from server.venues import REGISTRY
from tests.support import assert_sim_contract


def test_every_venue_has_a_simulator_and_back() -> None:
    assert set(SIM_VENUES) == set(REGISTRY)


@pytest.mark.parametrize("venue", sorted(REGISTRY))
async def test_parse_of_render_gives_back_the_state(venue: str) -> None:
    await assert_sim_contract(REGISTRY[venue], SIM_VENUES[venue])
