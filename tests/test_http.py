"""The HTTP layer against a real loopback server: limits, faults, decoding and concurrency."""

from __future__ import annotations

import gzip
import pickle
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from httpserver import LoopbackServer, peak_bytes_during

from newsbeam.transforms.errors import (
    BlockedURLError,
    ConfigError,
    ConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    ResponseTooLarge,
    TooManyRedirects,
)
from newsbeam.transforms.fetch.concurrent import fetch_many
from newsbeam.transforms.fetch.decode import decode_html
from newsbeam.transforms.fetch.http import HttpConfig, HttpResponse, HttpxClient

MB = 1024 * 1024
LOCAL = HttpConfig(allow_private_networks=True)
"""Defaults, but allowed to reach the loopback test server (the SSRF guard refuses it otherwise)."""
FAST = HttpConfig(
    connect_timeout=1.0, read_timeout=1.0, total_timeout=1.5, max_bytes=1 * MB, allow_private_networks=True
)


@pytest.fixture
def client() -> Iterator[HttpxClient]:
    with HttpxClient(FAST) as http:
        yield http


# -- success -------------------------------------------------------------------------------


def test_200_keeps_headers_body_and_charset(http_server: LoopbackServer, client: HttpxClient) -> None:
    body = "<p>Grüße aus Köln</p>".encode("iso-8859-1")
    url = http_server.add("/page", body, content_type='Text/HTML; Charset="ISO-8859-1"', headers={"X-Trace": "abc"})
    before = datetime.now(UTC)

    response = client.get(url, accept="text/html")

    assert (response.status, response.url, response.requested_url) == (200, url, url)
    assert response.body == body
    assert response.headers["x-trace"] == "abc"
    assert all(name == name.lower() for name in response.headers)
    assert response.content_type == "text/html"
    assert response.charset == "iso-8859-1"
    assert response.fetched_at.tzinfo is UTC
    assert before <= response.fetched_at <= datetime.now(UTC)
    sent = http_server.headers_for("/page")
    assert sent["user-agent"] == FAST.user_agent
    assert sent["accept"] == "text/html"
    assert sent["accept-encoding"] == "gzip, deflate"


def test_missing_content_type_gives_none(http_server: LoopbackServer, client: HttpxClient) -> None:
    response = client.get(http_server.add("/raw", b"abc", content_type=None))
    assert (response.content_type, response.charset) == (None, None)


@pytest.mark.parametrize(
    ("encoding", "compress"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as many servers send
    ],
)
def test_compressed_bodies_are_decoded(
    http_server: LoopbackServer, client: HttpxClient, encoding: str, compress: Callable[[bytes], bytes]
) -> None:
    text = b"<p>" + b"news " * 2000 + b"</p>"
    url = http_server.add("/z", compress(text), headers={"Content-Encoding": encoding})
    assert client.get(url).body == text


def test_wrong_type_is_returned_for_the_caller_to_judge(http_server: LoopbackServer, client: HttpxClient) -> None:
    response = client.get(http_server.url("/fault/wrong-type"), accept="text/html")
    assert response.content_type == "application/pdf"
    assert response.body.startswith(b"%PDF-")


# -- status and redirects ------------------------------------------------------------------


def test_404_raises_http_status_error(http_server: LoopbackServer, client: HttpxClient) -> None:
    url = http_server.url("/missing")
    with pytest.raises(HTTPStatusError) as caught:
        client.get(url)
    assert caught.value.status == 404
    assert caught.value.reason.startswith(f"HTTP 404 Not Found for {url}")


@pytest.mark.parametrize(("path", "status", "hint"), [("/fault/500", 500, "try again later"),
                                                       ("/fault/503", 503, "try again later"),
                                                       ("/fault/429", 429, "retry after 1 s")])  # fmt: skip
def test_server_errors_carry_status_and_hint(
    http_server: LoopbackServer, client: HttpxClient, path: str, status: int, hint: str
) -> None:
    with pytest.raises(HTTPStatusError) as caught:
        client.get(http_server.url(path))
    assert caught.value.status == status
    assert hint in caught.value.reason


def test_redirect_chain_within_cap_records_final_url(http_server: LoopbackServer) -> None:
    start = http_server.url("/fault/redirect-chain/5")
    with HttpxClient(LOCAL) as http:
        response = http.get(start)
    assert response.requested_url == start
    assert response.url == http_server.url("/fault/redirect-chain/0")
    assert response.body == b"<p>end of redirect chain</p>"
    assert len(http_server.requests) == 6


def test_redirect_status_error_names_both_urls(http_server: LoopbackServer, client: HttpxClient) -> None:
    url = http_server.add("/moved", b"", status=301, headers={"Location": "/gone"})
    with pytest.raises(HTTPStatusError) as caught:
        client.get(url)
    assert caught.value.reason.startswith(
        f"HTTP 404 Not Found for {http_server.url('/gone')} (requested {url}, after 1 redirect)"
    )


def test_redirect_without_location_is_an_error(http_server: LoopbackServer, client: HttpxClient) -> None:
    with pytest.raises(HTTPStatusError, match="without a Location header") as caught:
        client.get(http_server.add("/nowhere", b"", status=302))
    assert caught.value.status == 302


def test_redirect_chain_over_cap(http_server: LoopbackServer) -> None:
    with HttpxClient(LOCAL) as http, pytest.raises(TooManyRedirects) as caught:
        http.get(http_server.url("/fault/redirect-chain/6"))
    assert "more than 5 redirects" in caught.value.reason
    # The sixth hop is refused before it is requested.
    assert http_server.requests == [f"/fault/redirect-chain/{n}" for n in range(6, 0, -1)]


def test_redirect_loop_is_detected_at_once(http_server: LoopbackServer, client: HttpxClient) -> None:
    with pytest.raises(TooManyRedirects) as caught:
        client.get(http_server.url("/fault/redirect-loop"))
    assert "redirect loop" in caught.value.reason
    assert http_server.requests == ["/fault/redirect-loop", "/fault/redirect-loop/b"]


@pytest.mark.parametrize("url", ["ftp://example.com/file.txt", "file:///etc/passwd", "example.com/page"])
def test_non_http_urls_are_blocked(client: HttpxClient, url: str) -> None:
    with pytest.raises(BlockedURLError) as caught:
        client.get(url)
    assert url in caught.value.reason


def test_redirect_to_file_url_is_blocked(http_server: LoopbackServer, client: HttpxClient) -> None:
    url = http_server.add("/sneaky", b"", status=302, headers={"Location": "file:///etc/passwd"})
    with pytest.raises(BlockedURLError) as caught:
        client.get(url)
    assert "file:///etc/passwd" in caught.value.reason
    assert f"redirected from {url}" in caught.value.reason


# -- size caps -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/fault/huge", "/fault/huge?declare=1"])
def test_huge_body_stops_at_cap_quickly_with_bounded_memory(
    http_server: LoopbackServer, client: HttpxClient, path: str
) -> None:
    def fetch() -> None:
        with pytest.raises(ResponseTooLarge) as caught:
            client.get(http_server.url(path))
        assert "1,048,576" in caught.value.reason

    started = time.monotonic()
    peak = peak_bytes_during(fetch)
    assert time.monotonic() - started < 3  # 50 MB never read
    assert peak < 6 * MB


def test_gzip_bomb_is_capped_on_decompressed_size(http_server: LoopbackServer, client: HttpxClient) -> None:
    bomb = http_server.gzip_bomb()  # built before measuring: the server shares our process
    assert len(bomb) < 200 * 1024

    def fetch() -> None:
        with pytest.raises(ResponseTooLarge) as caught:
            client.get(http_server.url("/fault/gzip-bomb"))
        assert "decompressed" in caught.value.reason

    assert peak_bytes_during(fetch) < 6 * MB


# -- timeouts and broken connections -------------------------------------------------------


def test_slow_drip_ends_with_total_timeout(http_server: LoopbackServer, client: HttpxClient) -> None:
    started = time.monotonic()
    with pytest.raises(FetchTimeout) as caught:
        client.get(http_server.url("/fault/slow"))
    elapsed = time.monotonic() - started
    assert FAST.total_timeout <= elapsed < FAST.total_timeout + 1.0
    assert "total_timeout" in caught.value.reason


def test_silent_server_ends_with_read_timeout(http_server: LoopbackServer) -> None:
    url = http_server.add("/stuck", b"late", delay=3)
    config = HttpConfig(read_timeout=0.3, total_timeout=5, allow_private_networks=True)
    started = time.monotonic()
    with HttpxClient(config) as http, pytest.raises(FetchTimeout) as caught:
        http.get(url)
    assert time.monotonic() - started < 1.5
    assert "read_timeout" in caught.value.reason


@pytest.mark.parametrize("path", ["/fault/reset", "/fault/truncated"])
def test_reset_and_truncated_are_connect_errors(http_server: LoopbackServer, client: HttpxClient, path: str) -> None:
    with pytest.raises(ConnectError) as caught:
        client.get(http_server.url(path))
    assert http_server.url(path) in caught.value.reason


def test_refused_connection_is_connect_error(client: HttpxClient) -> None:
    with LoopbackServer() as server:
        url = server.url("/")
    with pytest.raises(ConnectError):
        client.get(url)


# -- client life cycle ---------------------------------------------------------------------


def test_client_pickles_and_reconnects(http_server: LoopbackServer, client: HttpxClient) -> None:
    url = http_server.add("/p", "ok")
    assert client.get(url).body == b"ok"
    with pickle.loads(pickle.dumps(client)) as copy:
        assert copy.config == FAST
        assert copy.get(url).body == b"ok"


def test_invalid_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="total_timeout"):
        HttpConfig(total_timeout=0)


# -- decoding ------------------------------------------------------------------------------

FRENCH = (
    "<html><body><p>Le ministre a déclaré « c’est une réussite » — l’été prochain, "
    "les élèves étudieront à Noël.</p></body></html>"
)
RUSSIAN = (
    "<html><body><p>Правительство России в понедельник объявило о новых мерах поддержки "
    "экономики. Министр финансов заявил, что бюджет будет исполнен в полном объеме.</p></body></html>"
)
JAPANESE = (
    "<html><body><p>東京都は十五日、新たな感染者が確認されたと発表した。政府は対策本部を開き、"
    "今後の方針について協議する予定だ。専門家は引き続き警戒が必要だと指摘している。</p></body></html>"
)


def test_bom_wins_over_everything() -> None:
    body = b"\xff\xfe" + FRENCH.encode("utf-16-le")
    assert decode_html(body, "iso-8859-1") == (FRENCH, "utf-16-le")


def test_valid_declared_charset_wins_over_meta() -> None:
    page = '<meta charset="utf-8">' + FRENCH
    assert decode_html(page.encode("cp1252"), "windows-1252") == (page, "cp1252")


def test_meta_is_used_when_the_header_is_wrong() -> None:
    page = '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">' + RUSSIAN
    assert decode_html(page.encode("cp1251"), "utf-8") == (page, "cp1251")


def test_wrong_declared_utf8_over_cp1252_bytes_is_not_mojibake() -> None:
    text, codec = decode_html(FRENCH.encode("cp1252"), "utf-8")
    assert (text, codec) == (FRENCH, "cp1252")
    assert "\ufffd" not in text


def test_latin1_label_means_windows_1252_and_utf8_bytes_win_over_it() -> None:
    assert decode_html(FRENCH.encode("cp1252"), "ISO-8859-1") == (FRENCH, "cp1252")
    assert decode_html(FRENCH.encode("utf-8"), "ISO-8859-1") == (FRENCH, "utf-8")


@pytest.mark.parametrize(("text", "encoding"), [(JAPANESE, "shift_jis"), (RUSSIAN, "koi8-r")])
def test_undeclared_legacy_encodings_are_detected(text: str, encoding: str) -> None:
    decoded, _codec = decode_html(text.encode(encoding), None)
    assert decoded == text


def test_garbage_charset_labels_are_ignored() -> None:
    assert decode_html(b"<p>plain</p>", "base64") == ("<p>plain</p>", "utf-8")
    assert decode_html(b"<p>plain</p>", "no-such-charset") == ("<p>plain</p>", "utf-8")
    assert decode_html(b"", None) == ("", "utf-8")


# -- concurrency ---------------------------------------------------------------------------


def test_fetch_many_respects_per_host_and_keeps_order(http_server: LoopbackServer) -> None:
    # Two host names for one server: 127.0.0.1 and localhost. All of host a comes first,
    # so a pool that blocked on a busy host would never overlap the two.
    urls = [http_server.add(f"/a/{n}", f"a{n}", delay=0.2) for n in range(6)]
    for n in range(6):
        http_server.add(f"/b/{n}", f"b{n}", delay=0.2)
        urls.append(http_server.url(f"/b/{n}", host="localhost"))
    urls.insert(3, "ftp://127.0.0.1/nope")
    urls.append(http_server.url("/missing"))

    with HttpxClient(LOCAL) as http:
        results = fetch_many(http, urls, max_workers=8, per_host=2, accept="text/html")

    assert [url for url, _ in results] == urls
    bodies = [r.body.decode() for _, r in results if isinstance(r, HttpResponse)]
    assert bodies == [f"a{n}" for n in range(6)] + [f"b{n}" for n in range(6)]
    assert isinstance(results[3][1], BlockedURLError)
    assert isinstance(results[-1][1], HTTPStatusError) and results[-1][1].status == 404
    assert http_server.max_in_flight("/a/") == 2
    assert http_server.max_in_flight("/b/") == 2
    assert http_server.max_in_flight("/") == 4  # both hosts at their limit at once


class _BrokenClient:
    """A client with a bug: raises something that is not a FetchError for one URL."""

    def get(
        self, url: str, *, accept: str | None = None, etag: str | None = None, last_modified: str | None = None
    ) -> HttpResponse:
        if url.endswith("/bug"):
            raise KeyError("oops")
        return HttpResponse(url, url, 200, {}, url.encode(), datetime.now(UTC))

    def close(self) -> None:
        pass


def test_fetch_many_wraps_unexpected_errors() -> None:
    urls = ["http://x/1", "http://x/bug", "http://y/2"]
    results = fetch_many(_BrokenClient(), urls, max_workers=2, per_host=1)
    assert [url for url, _ in results] == urls
    error = results[1][1]
    assert type(error) is FetchError
    assert "unexpected KeyError" in error.reason and "http://x/bug" in error.reason
    assert isinstance(error.__cause__, KeyError)
    assert [r.body for _, r in (results[0], results[2]) if isinstance(r, HttpResponse)] == [
        b"http://x/1",
        b"http://y/2",
    ]


def test_lying_utf8_header_over_western_cp1252_text_is_read_as_cp1252() -> None:
    """Several accents make cp1257/cp775 readings as clean as cp1252; the web's fallback wins."""
    body = "<p>Zoë Müller opened a café serving crêpes and rye bread on the quay.</p>".encode("cp1252")
    text, codec = decode_html(body, "utf-8")
    assert codec == "cp1252" and "Zoë Müller" in text and "crêpes" in text
