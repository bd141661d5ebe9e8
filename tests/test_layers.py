"""Layers only look down: core imports nothing of the service above it, the API layer only core
(and its own generated code), never the pollers, the venues, the simulator or the history's
writer and stores (it reads history through the narrow interface the composition root gives it)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVER = Path(__file__).resolve().parents[1] / "server"
FORBIDDEN = {
    "core": ("server.api", "server.poll", "server.venues", "server.sim", "server.history", "server.app"),
    "api": (
        "server.poll",
        "server.venues",
        "server.sim",
        "server.app",
        "server.history.recorder",
        "server.history.stores",
        "server.history.sqlite",
        "server.history.postgres",
    ),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_never_imports_the_layers_above_it(layer: str) -> None:
    offending = {
        f"{path.relative_to(SERVER)} imports {name}"
        for path in (SERVER / layer).rglob("*.py")
        if "gen" not in path.parts
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN[layer])
    }
    assert not offending, sorted(offending)
