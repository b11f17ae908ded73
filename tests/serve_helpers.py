"""Running `autotag serve` as users do, for the tests (and docs/serve_screenshot.py): a server
process of its own, and an upload with the standard library only."""

from __future__ import annotations

import json
from pathlib import Path


def start_server(*argv: str, log: Path, timeout: float = 60.0):
    """``autotag serve ARGV... --port 0`` as a process of its own (its output in ``log``);
    (the process, its base URL) once it answers ``/health``."""
    import re
    import subprocess
    import sys
    import time
    import urllib.request

    out = open(log, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "autotag.cli", "serve", *map(str, argv), "--port", "0"],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a service manager starts it
    )
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline and proc.poll() is None:
        if url is None and (m := re.search(r"autotag serve: (http://\S+/)", log.read_text())):
            url = m.group(1)
        if url is not None:
            try:
                with urllib.request.urlopen(url + "health", timeout=5) as r:
                    if r.status == 200:
                        return proc, url
            except OSError:
                pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


def post_file(url: str, path: Path, field: str = "file", timeout: float = 120.0):
    """POST ``path`` as multipart field ``field``: (status, JSON body), with the standard library
    only (what a client of the service needs)."""
    import secrets
    import urllib.error
    import urllib.request

    boundary = secrets.token_hex(16)
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    req = urllib.request.Request(
        url, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
