"""HTTP transfer of one file with :mod:`urllib`: resumable (``Range``) and retried with backoff.

A file is written to ``<name>.part``; a partial ``.part`` is resumed with ``Range: bytes=N-``
(a server that ignores the header restarts it, a 416 means it is already complete). Transient
errors are retried with exponential backoff; a host that has never answered gets a smaller budget
and ends in :class:`HostUnreachableError`. The ``.part`` is renamed to the final name only once
its size matches ``Content-Length`` and the caller's ``check`` (a data set's md5 or sha256 test)
accepted it.
"""

from __future__ import annotations

import http.client
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from autotag.common.console import byte_bar, log
from autotag.data.download.errors import DownloadError, HostUnreachableError

MAX_RETRIES = 6  # per file, for errors after the host has answered at least once
CONNECT_RETRIES = 2  # while the host has never answered (offline, refused, timing out)
BACKOFF_S = 2.0  # first wait; doubles each retry, capped at BACKOFF_MAX_S
BACKOFF_MAX_S = 60.0
TIMEOUT_S = 30.0  # socket timeout (connect and each read)
CHUNK = 1 << 20  # bytes per read from the connection
USER_AGENT = "autotag-mtat-downloader/1.0 (+python-urllib)"
TRANSIENT_HTTP = {408, 425, 429, 500, 502, 503, 504}


class _Transient(Exception):
    """Internal: a retryable failure (``answered`` tells whether the host replied)."""

    def __init__(self, reason: str, answered: bool) -> None:
        super().__init__(reason)
        self.answered = answered


class Session:
    """Remembers whether the host has answered during this run (changes the retry budget).

    ``url_option`` is what an HTTP error message tells the user to check (the option setting the
    address, with its default).
    """

    def __init__(self, url_option: str = "the download address") -> None:
        self.answered = False
        self.url_option = url_option


def part_path(path: Path) -> Path:
    """Where the download of ``path`` is written until it is complete: ``<name>.part``."""
    return path.with_name(path.name + ".part")


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """Parse ``bytes a-b/total`` (or ``bytes */total``) into ``(a, total)``."""
    if not value or not value.strip().lower().startswith("bytes"):
        return None, None
    spec = value.strip()[5:].strip()
    rng, _, total = spec.partition("/")
    start = None
    if rng != "*":
        try:
            start = int(rng.split("-", 1)[0])
        except ValueError:
            start = None
    try:
        total_i = int(total) if total.strip() != "*" else None
    except ValueError:
        total_i = None
    return start, total_i


def _describe(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    if isinstance(reason, BaseException):
        return _describe(reason)
    text = str(reason if reason is not None else err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if reason is None else text


def _is_dns_failure(err: BaseException) -> bool:
    reason = getattr(err, "reason", err)
    return isinstance(reason, socket.gaierror)


def _fetch_once(
    url: str, dest: Path, expected: int | None, session: Session, progress: bool
) -> None:
    """One attempt: (re)start or resume ``dest.part``; return when it holds the complete file."""
    part = part_path(dest)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if expected is not None and offset > expected:  # stale/foreign .part
        part.unlink()
        offset = 0
    if offset:
        headers["Range"] = f"bytes={offset}-"
    req = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        session.answered = True
        if e.code == 416:  # range not satisfiable: .part is complete, or longer than the file
            _, total = _parse_content_range(e.headers.get("Content-Range"))
            e.close()
            if total is not None and offset == total:
                return
            part.unlink(missing_ok=True)
            raise _Transient("server refused the resume range; restarting", True) from e
        if e.code in TRANSIENT_HTTP:
            raise _Transient(f"HTTP {e.code} {e.reason}", True) from e
        raise DownloadError(
            f"{url} answered HTTP {e.code} {e.reason}. Check {session.url_option}, "
            f"or download {dest.name} by hand into {dest.parent}/ and run again."
        ) from e
    except urllib.error.URLError as e:
        if _is_dns_failure(e) and not session.answered:
            raise HostUnreachableError(url, _describe(e)) from e
        raise _Transient(_describe(e), session.answered) from e
    except (TimeoutError, ConnectionError, http.client.HTTPException, ssl.SSLError, OSError) as e:
        raise _Transient(_describe(e), session.answered) from e

    session.answered = True
    with resp:
        status = resp.status
        length = resp.headers.get("Content-Length")
        length_i = int(length) if length and length.isdigit() else None
        if status == 206:
            start, total = _parse_content_range(resp.headers.get("Content-Range"))
            if start != offset:  # server sent another range than asked: start over
                part.unlink(missing_ok=True)
                raise _Transient(f"unexpected Content-Range {start}, wanted {offset}", True)
            mode = "ab"
        elif status == 200:
            offset, mode = 0, "wb"  # the server ignored the Range header: restart
            total = length_i
        else:
            raise _Transient(f"unexpected HTTP status {status}", True)
        if expected is not None and total is not None and total != expected:
            raise DownloadError(
                f"{dest.name}: the server reports {total} bytes, expected {expected}; "
                "is --base-url pointing to the right files?"
            )
        total = expected if expected is not None else total
        received = offset
        with (
            open(part, mode) as f,
            byte_bar(total, dest.name, progress, initial=offset) as bar,
        ):
            while True:
                try:
                    block = resp.read(CHUNK)
                except (TimeoutError, http.client.HTTPException, ssl.SSLError, OSError) as e:
                    msg = f"connection lost at byte {received}: {_describe(e)}"
                    raise _Transient(msg, True) from e
                if not block:
                    break
                f.write(block)  # disk errors (OSError) propagate: not worth a retry
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        if received > total:
            part.unlink(missing_ok=True)
        raise _Transient(f"connection closed at byte {received} of {total}", True)


def download_file(
    url: str, dest: Path, expected_size: int | None = None, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` (resumable, retried); return ``dest``.

    Raises :class:`HostUnreachableError` when the host never answers and :class:`DownloadError`
    for permanent failures (HTTP 4xx, size or checksum mismatch).
    """
    return download(url, dest, expected_size, Session(), progress)


def download(
    url: str,
    dest: Path,
    expected: int | None,
    session: Session,
    progress: bool,
    check: Callable[[Path], None] | None = None,
) -> Path:
    """:func:`download_file` sharing ``session`` (whether the host has answered) across files.

    ``check`` (e.g. a sha256 test) gets the complete ``.part`` before it is renamed; it deletes
    the file and raises when the file is bad.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    attempt = 0
    while True:
        try:
            _fetch_once(url, dest, expected, session, progress)
            break
        except _Transient as e:
            attempt += 1
            limit = MAX_RETRIES if (e.answered or session.answered) else CONNECT_RETRIES
            if attempt > limit:
                if not (e.answered or session.answered):
                    raise HostUnreachableError(url, str(e)) from e
                raise DownloadError(
                    f"{dest.name}: giving up after {attempt} attempts ({e}). "
                    f"The partial file {part_path(dest).name} is kept: run again to resume."
                ) from e
            wait = min(BACKOFF_S * 2 ** (attempt - 1), BACKOFF_MAX_S)
            log(f"{dest.name}: {e}; retry {attempt}/{limit} in {wait:.0f} s")
            time.sleep(wait)
    part = part_path(dest)
    if check is not None:
        check(part)
    os.replace(part, dest)
    return dest
