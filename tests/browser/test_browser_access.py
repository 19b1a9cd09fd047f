"""Phone, loading and accessibility in Chromium (issue 13, point 6).

Every page, as every role it is for, at 390×844: no sideways scroll, no unlabelled control,
and axe-core's wcag2a/wcag2aa rules (axe.min.js from the ``axe-playwright-python`` package,
evaluated in the page: nothing comes from the internet). The header collapses into a burger
menu under 768 px (a button with aria-expanded, keyboard operable); the server writes
``<html lang>``, a skip link and a skeleton into the first paint; every chart has a name and
the numbers behind it in a visually hidden table. Screenshots go to test-output/screenshots/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pages_published
import pytest
from browser_helpers import Server, new_page, open_browser, require_chromium, serve_app, sign_in

require_chromium()
pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
ROLES = ("viewer", "analyst", "admin")
# Pages outside the navigation, opened too (a profile's detail).
EXTRA_PATHS = ("/profiles/P-MID",)
# "before" while the fixes are not in, "after" otherwise (screenshots for the README tour).
STAGE = os.environ.get("CUSTOMS_KPI_SCREENSHOT_STAGE", "after")

# Every form control without an accessible name tied to it: label[for=id], aria-labelledby
# (pointing at text) or aria-label; a radio or checkbox may sit inside its option's label.
UNLABELLED_JS = """() => {
  const named = (el) => {
    const by = el.getAttribute('aria-labelledby');
    if (by && by.split(/\\s+/).some(id => {
      const t = document.getElementById(id); return t && t.textContent.trim();
    })) return true;
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    if (el.id && Array.from(document.querySelectorAll('label[for]')).some(
        l => l.htmlFor === el.id && l.textContent.trim())) return true;
    // A native radio or checkbox inside its option's <label> (HTML's implicit label).
    const own = el.closest('label');
    return /^(radio|checkbox)$/.test(el.type || '') && !!own && !!own.textContent.trim();
  };
  const controls = document.querySelectorAll(
    'input:not([type=hidden]):not([type=submit]):not([type=button]), select, textarea, '
    + '[role=combobox], [role=listbox], [role=slider], [role=spinbutton]');
  return Array.from(controls).filter(el => !named(el)).map(
    el => el.outerHTML.slice(0, 160));
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with serve_app(pages_published.published_home(tmp_path_factory.mktemp("access"))) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with open_browser() as running:
        yield running


def _signed_in(browser: Any, server: Server, role: str, viewport: dict[str, int]) -> Any:
    page, _errors = new_page(browser)
    page.set_viewport_size(viewport)
    page.goto(server.url + "/login")
    sign_in(page, server, role)
    page.wait_for_url(server.url + "/")
    page.wait_for_selector(".ck-user-name", state="attached")
    return page


def _settle(page: Any) -> None:
    # A page's frame (the admin page has its own), then its content instead of the skeleton.
    page.wait_for_selector("#shell-main .page, #shell-main .ck-admin", state="attached")
    page.wait_for_load_state("networkidle")
    page.locator("[data-dash-is-loading]").first.wait_for(state="detached")
    page.locator(".ck-skeleton").first.wait_for(state="detached")


def _paths(page: Any) -> list[str]:
    hrefs = page.locator("a.ck-nav-link").evaluate_all("links => links.map(a => a.pathname)")
    return list(dict.fromkeys([*hrefs, *EXTRA_PATHS]))


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "overview"


def _axe(page: Any) -> list[str]:
    from axe_playwright_python import sync_playwright as axe_package

    source = (Path(axe_package.__file__).parent / "axe.min.js").read_text()
    page.evaluate(source)
    result = page.evaluate(
        """async () => {
          const r = await window.axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}, resultTypes: ['violations']});
          return r.violations.map(v => v.id + ': ' + v.help + ' — ' + v.nodes.slice(0, 3).map(
            n => n.target.join(' ') + ' (' + (n.failureSummary || '').replace(/\\s+/g, ' ')
                 .slice(0, 200) + ')').join('; '));
        }"""
    )
    return list(result)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_on_a_phone_fits_is_labelled_and_passes_axe(
    browser: Any, server: Server, role: str
) -> None:
    page = _signed_in(browser, server, role, PHONE)
    problems: dict[str, list[str]] = {}
    try:
        for path in _paths(page):
            page.goto(server.url + path)
            _settle(page)
            found: list[str] = []
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - window.innerWidth"
            )
            if overflow > 0:
                found.append(f"scrolls sideways by {overflow}px")
            found += [f"unlabelled: {c}" for c in page.evaluate(UNLABELLED_JS)]
            found += _axe(page)
            if role == "analyst" or path.startswith("/admin"):
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                shot = SCREENSHOTS / f"phone-{_slug(path)}-{STAGE}.png"
                page.screenshot(path=str(shot), full_page=True)
            if found:
                problems[path] = found
    finally:
        page.context.close()
    report = "\n".join(f"{p}: {x}" for p, xs in problems.items() for x in xs)
    assert not problems, report


def test_header_collapses_into_an_accessible_burger_menu(browser: Any, server: Server) -> None:
    page = _signed_in(browser, server, "analyst", PHONE)
    try:
        _settle(page)
        burger = page.locator("button.ck-burger")
        nav = page.locator("#shell-nav")
        assert burger.is_visible() and not nav.is_visible()
        assert burger.get_attribute("aria-expanded") == "false"
        assert burger.get_attribute("aria-controls") == "shell-header-menu"
        # One row of header on a phone.
        assert page.locator(".ck-header").bounding_box()["height"] < 80
        burger.focus()
        page.keyboard.press("Enter")
        assert burger.get_attribute("aria-expanded") == "true"
        nav.wait_for(state="visible")
        page.screenshot(path=str(SCREENSHOTS / f"phone-menu-open-{STAGE}.png"))
        # Escape closes it and gives the focus back to the button.
        page.keyboard.press("Escape")
        assert burger.get_attribute("aria-expanded") == "false"
        nav.wait_for(state="hidden")
        assert page.evaluate("() => document.activeElement.classList.contains('ck-burger')")
        # Space opens it; following a link closes it again.
        page.keyboard.press(" ")
        nav.wait_for(state="visible")
        page.click("a.ck-nav-link[href='/offices']")
        page.wait_for_url("**/offices*")
        nav.wait_for(state="hidden")
        assert burger.get_attribute("aria-expanded") == "false"
        # On a desktop the navigation is a row and there is no burger.
        page.set_viewport_size(DESKTOP)
        nav.wait_for(state="visible")
        assert not burger.is_visible()
        _settle(page)
        page.goto(server.url + "/")
        _settle(page)
        page.screenshot(path=str(SCREENSHOTS / f"desktop-overview-{STAGE}.png"), full_page=True)
        page.set_viewport_size(PHONE)
        page.screenshot(path=str(SCREENSHOTS / f"phone-overview-top-{STAGE}.png"))
    finally:
        page.context.close()


def test_first_paint_has_lang_skip_link_and_skeleton(browser: Any, server: Server) -> None:
    page = _signed_in(browser, server, "analyst", PHONE)
    try:
        response = page.goto(server.url + "/clearance")
        first_paint = response.text()
        assert '<html lang="en"' in first_paint
        assert "Loading..." not in first_paint and "Loading…" not in first_paint
        assert "ck-skeleton" in first_paint
        assert 'href="#shell-main"' in first_paint
        _settle(page)
        assert page.evaluate("() => document.documentElement.lang") == "en"
        # The skip link is the first stop of the keyboard and moves the focus to the content.
        page.keyboard.press("Tab")
        skip = page.locator("a.ck-skip-link")
        assert page.evaluate("() => document.activeElement.classList.contains('ck-skip-link')")
        assert skip.is_visible()
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "shell-main"
    finally:
        page.context.close()


def test_every_chart_has_a_name_and_its_numbers(browser: Any, server: Server) -> None:
    page = _signed_in(browser, server, "analyst", DESKTOP)
    try:
        for path in ("/", "/clearance", "/offices", "/profiles/P-MID"):
            page.goto(server.url + path)
            _settle(page)
            page.wait_for_selector(".page-content .main-svg")
            charts = page.locator(".page-content .chart-block")
            assert charts.count() >= 1, path
            for i in range(charts.count()):
                block = charts.nth(i)
                assert block.get_attribute("role") == "figure", path
                name = block.get_attribute("aria-label") or ""
                assert name.strip(), path
                alternative = block.locator(".sr-only")
                assert alternative.count() == 1, path
                text = alternative.text_content() or ""
                assert any(ch.isdigit() for ch in text), (path, name, text[:200])
                # Visually hidden, not display:none (screen readers read it).
                box = alternative.bounding_box()
                assert box is not None and box["width"] <= 1 and box["height"] <= 1
    finally:
        page.context.close()
