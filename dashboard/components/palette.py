"""Colour-blind-safe palette (Okabe & Ito, 2008) and the fixed colour of each category.

Colour never carries meaning alone: statuses also have a word and a symbol, series have labels.
"""

from __future__ import annotations

from kpis.domain import Channel, SelectionSource

BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#7A7A7A"
INK = "#1F2933"  # text
MUTED = "#5F6B7A"  # secondary text, axes
GRID = "#E4E7EB"

# Series order for anything without a fixed colour.
SEQUENCE: tuple[str, ...] = (
    BLUE,
    ORANGE,
    BLUISH_GREEN,
    REDDISH_PURPLE,
    SKY_BLUE,
    VERMILLION,
    YELLOW,
    BLACK,
)

# Channels keep their customs meaning (green lane, red lane) but in Okabe-Ito hues that stay
# distinct for deuteranopes: green → bluish green, red → vermillion.
CHANNEL_COLOURS: dict[Channel, str] = {
    Channel.GREEN: BLUISH_GREEN,
    Channel.YELLOW: ORANGE,
    Channel.RED: VERMILLION,
    Channel.BLUE: BLUE,
}

# The one lane order on every chart, legend and table: green, yellow, red, blue (the order of
# the control's intensity, then post-clearance audit), never alphabetical.
CHANNEL_ORDER: tuple[str, ...] = tuple(c.value for c in Channel)

# Clearance stages get their own hues, none of them a lane colour: a stage bar inside a lane's
# row must not read as another lane.
STAGE_SEQUENCE: tuple[str, ...] = (SKY_BLUE, REDDISH_PURPLE, YELLOW, "#4D4D4D")

SOURCE_COLOURS: dict[SelectionSource, str] = {
    SelectionSource.PROFILE: BLUE,
    SelectionSource.RANDOM: ORANGE,
    SelectionSource.OFFICER: REDDISH_PURPLE,
    SelectionSource.INTELLIGENCE: BLUISH_GREEN,
    SelectionSource.NONE: GREY,
    SelectionSource.UNKNOWN: SKY_BLUE,
}


def channel_colour(channel: str) -> str:
    try:
        return CHANNEL_COLOURS[Channel(channel)]
    except ValueError:
        return GREY


def stage_colour(index: int) -> str:
    """The colour of the ``index``-th clearance stage (in the stages' own order)."""
    return STAGE_SEQUENCE[index % len(STAGE_SEQUENCE)]


def source_colour(source: str) -> str:
    try:
        return SOURCE_COLOURS[SelectionSource(source)]
    except ValueError:
        return GREY
