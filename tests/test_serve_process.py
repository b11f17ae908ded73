"""`autotag serve` as its own process, as users run it: concurrent uploads share batches, and
SIGTERM lets the request in flight finish before the process exits 0."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import soundfile as sf

from tests.helpers import SR, post_file, start_server, tone


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

        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(post_file, url + "tag", long)
            deadline = time.monotonic() + 30
            while health(url)["in_flight"] == 0:  # the upload is being decoded or batched
                assert time.monotonic() < deadline and not pending.done()
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            code, body = pending.result(timeout=60)
        assert code == 200 and body["file"] == long.name and body["windows"] == 60
        assert proc.wait(timeout=60) == 0, (tmp_path / "serve.log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "serve.log").read_text()
    assert "Shutting down" in log and "Traceback" not in log
