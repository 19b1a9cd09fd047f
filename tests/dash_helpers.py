"""Reading Dash component trees in tests (what a callback returned, as a user would read it)."""

from __future__ import annotations


def component_text(component: object) -> str:
    """Every text of a component tree, joined by spaces."""
    if isinstance(component, list | tuple):
        return " ".join(component_text(c) for c in component)
    if component is None or isinstance(component, str | int | float):
        return "" if component is None else str(component)
    return component_text(getattr(component, "children", None))
