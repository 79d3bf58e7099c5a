"""Browser tests: Playwright driving Debian's chromium (no browser downloads here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page
from pytest_playwright.pytest_playwright import CreateContextCallback

from tests.e2e import live_regions
from tests.e2e.a11y import install_reader

CHROMIUM = "/usr/bin/chromium"
# Playwright's sync API runs an event loop in the test thread; pytest-django's
# DB fixtures would otherwise refuse to run beside it.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not shutil.which("chromium") and not os.path.exists(CHROMIUM):
        pytest.fail(
            "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
        )
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        # This machine has no network: keep chromium from phoning home.
        "args": ["--disable-background-networking", "--disable-component-update", "--no-first-run"],
    }


@pytest.fixture
def a11y_page(new_context: CreateContextCallback) -> Callable[..., Page]:
    """A page factory for the accessibility tests: each new context records its
    live regions (live_regions.py) and runs the virtual screen reader (a11y.py).
    The tools are injected scripts, so these contexts bypass Spool's CSP."""

    def make(**context_args: Any) -> Page:
        context = new_context(bypass_csp=True, **context_args)
        live_regions.install(context)
        install_reader(context)
        return context.new_page()

    return make
