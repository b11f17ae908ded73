"""A local HTTP server for the downloader tests (127.0.0.1 only, nothing leaves the machine)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from autotag.data.download import archive as dl_archive
from autotag.data.download import http as dl_http


@contextmanager
def serve(handler: type[http.server.BaseHTTPRequestHandler], state: object) -> Iterator[str]:
    """Serve ``handler`` (which reads ``self.server.state``) in a thread; yields the base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def closed_port() -> int:
    """A port nothing listens on (an unreachable host, for the offline messages)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_and_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy, no retry back-off, small chunks: the downloader's tunables for tests."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setattr(dl_http, "BACKOFF_S", 0.0)
    monkeypatch.setattr(dl_http, "TIMEOUT_S", 10.0)
    monkeypatch.setattr(dl_http, "CHUNK", 4096)
    monkeypatch.setattr(dl_archive, "CHUNK", 4096)
