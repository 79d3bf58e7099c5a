"""Static files served by the app itself (WhiteNoise), as `make run` and a Procfile deploy do."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory

from chatapp.static_files import StaticFilesMiddleware
from tests.conftest import spool_env
from tests.support.daphne import DaphneServer, collect_static, run_daphne

ONE_YEAR_S = 365 * 24 * 3600
HASHED_CSS = re.compile(r'href="(/static/css/spool\.[0-9a-f]{12}\.css)"')


@pytest.fixture(scope="module")
def collected_server(tmp_path_factory, fake_llm) -> Iterator[DaphneServer]:
    """daphne as `make run` starts it: collectstatic first, hashed files served."""
    tmp = tmp_path_factory.mktemp("collected")
    static_root = tmp / "staticfiles"
    collect_static(static_root)
    env = spool_env(fake_llm, SPOOL_STATIC_MANIFEST="1", SPOOL_STATIC_ROOT=str(static_root))
    with run_daphne(tmp, env) as server:
        yield server


def hashed_stylesheet(server: DaphneServer) -> str:
    page = httpx.get(f"{server.url}/accounts/login/")
    found = HASHED_CSS.search(page.text)
    assert found, "the page does not link a hashed stylesheet"
    return found.group(1)


@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_hashed_files_are_compressed_and_cached_for_a_year(collected_server, encoding) -> None:
    url = collected_server.url + hashed_stylesheet(collected_server)
    r = httpx.get(url, headers={"Accept-Encoding": encoding})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == encoding
    assert r.headers["content-type"].startswith("text/css")
    assert r.headers["cache-control"] == f"max-age={10 * ONE_YEAR_S}, public, immutable"
    assert "Accept-Encoding" in r.headers["vary"]
    assert ".msg-assistant" in r.text  # httpx decoded it: the compressed copy is whole
    plain = httpx.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert int(r.headers["content-length"]) < int(plain.headers["content-length"])


def test_a_cached_copy_is_revalidated_without_a_body(collected_server) -> None:
    url = collected_server.url + hashed_stylesheet(collected_server)
    etag = httpx.get(url).headers["etag"]
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


def test_files_get_the_security_headers(collected_server) -> None:
    url = collected_server.url + hashed_stylesheet(collected_server)
    assert httpx.get(url).headers["x-content-type-options"] == "nosniff"


def test_without_collectstatic_files_come_from_static_dir(spool_server) -> None:
    """Tests and development need no collectstatic: plain names, short cache."""
    page = httpx.get(f"{spool_server.url}/accounts/login/")
    assert 'href="/static/css/spool.css"' in page.text
    r = httpx.get(f"{spool_server.url}/static/css/spool.css")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "max-age=60, public"
    assert r.text == (Path(__file__).parents[1] / "static/css/spool.css").read_text()
    assert httpx.get(f"{spool_server.url}/static/css/missing.css").status_code == 404


async def test_other_requests_pass_straight_through_without_a_thread() -> None:
    """Natively async, unlike WhiteNoise's own middleware: Django would run a
    sync middleware (and everything it wraps) through a thread per request."""
    seen: list[str] = []

    async def view(request: HttpRequest) -> HttpResponse:
        seen.append(request.path)
        return HttpResponse("page")

    middleware = StaticFilesMiddleware(view)
    assert iscoroutinefunction(middleware)
    response = await middleware(AsyncRequestFactory().get("/c/"))
    assert response.content == b"page"
    assert seen == ["/c/"]
