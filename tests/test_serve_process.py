"""`autotag serve` as its own process, as users run it: concurrent uploads share batches, and
SIGTERM lets the request in flight finish before the process exits 0."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import soundfile as sf

from tests.helpers import SR, tone
from tests.serve_helpers import post_file, start_server


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "health", timeout=10) as r:
        return json.loads(r.read())


def test_concurrent_uploads_share_batches_and_sigterm_drains(model, mini_mtat, tmp_path):
    songs = sorted((mini_mtat / "6").glob("*.mp3"))[:8]
    long = tmp_path / "three minutes.wav"
    sf.write(long, tone(180.0, ("classical",), seed=5), SR)
    # a batch waits up to 2 s for company: uploads sent together land in one forward call
    proc, url = start_server(
        "-m", model, "--max-wait-ms", "2000", "--max-batch", "8", log=tmp_path / "serve.log"
    )
    assert url.startswith("http://127.0.0.1:")  # loopback unless --host says otherwise
    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda s: post_file(url + "tag", s), songs))
        assert [code for code, _ in answers] == [200] * 8, answers
        h = health(url)
        assert h["songs_batched"] == 8 and h["batches"] < 8, h

        leave_mid_upload(url)
        assert health(url)["status"] == "ok"

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(post_file, url + "tag", long)
            deadline = time.monotonic() + 30
            while health(url)["in_flight"] == 0:  # the upload is being decoded or batched
                assert time.monotonic() < deadline and not pending.done()
                time.sleep(0.05)
            # to the whole group, as systemd and Ctrl-C signal: the decoders must outlive it
            os.killpg(proc.pid, signal.SIGTERM)
            code, body = pending.result(timeout=60)
        assert code == 200 and body["file"] == long.name and body["windows"] == 60, body
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "serve.log").read_text()
    assert "Shutting down" in log and "Traceback" not in log


def leave_mid_upload(url: str) -> None:
    """A client that sends half of its upload and hangs up."""
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port))) as s:
        head = b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\n'
        s.sendall(
            b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n"
            b"Content-Length: 900000\r\n\r\n" + head + os.urandom(300_000)
        )
        time.sleep(0.3)


def test_ctrl_c_drains_too(model, tmp_path):
    """SIGINT to the group (a terminal's Ctrl-C): the request in flight is answered, exit 0."""
    long = tmp_path / "long.wav"
    sf.write(long, tone(120.0, ("slow",), seed=6), SR)
    proc, url = start_server("-m", model, "--max-wait-ms", "1500", log=tmp_path / "serve.log")
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(post_file, url + "tag", long)
            deadline = time.monotonic() + 30
            while health(url)["in_flight"] == 0:
                assert time.monotonic() < deadline and not pending.done()
                time.sleep(0.05)
            os.killpg(proc.pid, signal.SIGINT)
            code, body = pending.result(timeout=60)
        assert code == 200 and body["windows"] == 40, body
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
