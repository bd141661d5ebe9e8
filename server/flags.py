"""Value parsers and help layout shared by ``oi-server`` and ``oi-sim``.

Each parser raises ``argparse.ArgumentTypeError`` with the value in the message, so argparse
prints ``argument --poll-interval: 'abc' is not a number`` rather than ``invalid _positive value``;
the same functions check the ``OI_*`` environment values, whose errors name the variable instead.
"""

from __future__ import annotations

import argparse
import math
import sys
import textwrap
from typing import Final, NoReturn

TRUE: Final = frozenset({"1", "true", "yes", "on"})
FALSE: Final = frozenset({"0", "false", "no", "off", ""})


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``oi-server: error: --flag: 'value' is ...``, exit 2
    (argparse's own repeats the whole usage block above the line that matters)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(
            f"{self.prog}: error: {message.removeprefix('argument ')} (see {self.prog} --help)\n"
        )
        sys.exit(2)


class HelpFormatter(argparse.HelpFormatter):
    """argparse's layout, but never breaking a word: source ids and flag names stay whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False, break_on_hyphens=False)


def number(text: str) -> float:
    """A finite number; ``inf`` and ``nan`` parse as floats but make no sense as seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def positive(text: str) -> float:
    value = number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def at_least_one(text: str) -> int:
    value = integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number 0-65535 (0 = any free port)")
    return value


def host(text: str) -> str:
    """A listen address; ``[::1]`` (the bracketed form of URLs) is taken as ``::1``."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if not value or any(c.isspace() or c in "[]/" for c in value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a host name or IP address")
    return value


def switch(text: str) -> bool:
    """An on/off environment value."""
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not on or off (1/0, true/false, yes/no)")
