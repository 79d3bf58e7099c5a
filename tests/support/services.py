"""The services some tests need (PostgreSQL, Redis): where they are, and the rule
for their absence: skip with the reason, or fail when CI requires them."""

from __future__ import annotations

import os
import socket

import pytest

# CI sets this: a test that needs PostgreSQL or Redis must fail there, not skip.
REQUIRE_SERVICES = os.environ.get("SPOOL_REQUIRE_SERVICES") == "1"
POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)


def service_reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, address: tuple[str, int]) -> None:
    if service_reachable(address):
        return
    reason = f"{name} is not reachable at {address[0]}:{address[1]}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} and SPOOL_REQUIRE_SERVICES=1")
    pytest.skip(reason)
