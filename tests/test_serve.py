"""`autotag serve` in this process (FastAPI's TestClient runs the app and its lifespan): answers
equal to `autotag tag` / `autotag similar`, batching, and every kind of bad upload refused with
a 4xx JSON error while the service goes on."""

from __future__ import annotations

import hashlib
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tests.helpers import SR, run_cli, tone


def crashing_upload(path: str, hop, max_seconds):
    """A decoding task whose process dies on uploads that start with b"CRASH" (a segfault)."""
    from autotag.serve.decoders import decode_upload

    with open(path, "rb") as f:
        if f.read(5) == b"CRASH":
            os._exit(3)
    return decode_upload(path, hop, max_seconds)


@pytest.fixture(scope="module")
def songs(mini_mtat, tmp_path_factory) -> list[Path]:
    """Four 3 s mp3s of the mini corpus and a 7 s wav (three windows)."""
    folder = tmp_path_factory.mktemp("serve_songs")
    out = sorted((mini_mtat / "5").glob("*.mp3"))[:4]
    long = folder / "seven seconds.wav"
    sf.write(long, tone(7.0, ("guitar", "techno"), seed=3), SR)
    return [*out, long]


@pytest.fixture(scope="module")
def exact_index(model, songs, tmp_path_factory) -> Path:
    from autotag.cli import main

    out = tmp_path_factory.mktemp("serve_index") / "songs.h5"
    assert main(["embed", *map(str, songs), "-m", str(model), "-o", str(out), "--no-progress"]) == 0
    return out


def make_client(model, index=None, task=None, **settings) -> TestClient:
    from autotag.inference import Tagger
    from autotag.serve.app import build_app
    from autotag.serve.decoders import DecoderPool
    from autotag.serve.service import Service, open_index
    from autotag.serve.settings import ServeSettings

    tagger = Tagger.load(model)
    service = Service(tagger, ServeSettings(decoders=2, **settings), index and open_index(index))
    if task is not None:
        service.decoders = DecoderPool(tagger.features, 2, task=task)
    return TestClient(build_app(service))


def post(
    client, path: Path | bytes, url: str = "/tag", field: str = "file", name: str = "song.mp3"
):
    data = path.read_bytes() if isinstance(path, Path) else path
    return client.post(url, files={field: (path.name if isinstance(path, Path) else name, data)})


def test_model_and_health_describe_the_model(model, exact_index):
    from autotag.inference import Tagger

    tagger = Tagger.load(model)
    with make_client(model, exact_index) as client:
        info = client.get("/model").json()
        health = client.get("/health").json()
        page = client.get("/")
    assert info["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest() == health["sha256"]
    assert info["tags"] == tagger.tag_names and info["name"] == "tagger.pt"
    assert info["features"] == tagger.features.to_dict()
    assert info["index"]["songs"] == 5 and info["index"]["kind"] == "exact"
    assert health["status"] == "ok" and health["index_songs"] == 5
    assert health["tags"] == tagger.tag_names and health["features"] == tagger.features.name
    assert page.status_code == 200 and 'id="chart"' in page.text


def test_tag_answers_what_autotag_tag_prints(model, songs, capsys):
    code, out, _ = run_cli(capsys, "tag", *map(str, songs), "-m", model, "--json", "-k", "50")
    assert code == 0
    expected = {Path(r["path"]).name: r for r in json.loads(out)}
    from autotag.inference import Tagger

    tagger = Tagger.load(model)
    with make_client(model) as client:
        for song in songs:
            r = client.post("/tag?embedding=true", files={"file": (song.name, song.read_bytes())})
            assert r.status_code == 200, r.text
            got, want = r.json(), expected[song.name]
            assert got["file"] == song.name and got["windows"] == want["windows"]
            assert got["duration_s"] == want["duration_s"] and got["silent"] == want["silent"]
            probs = {t["tag"]: t["probability"] for t in got["tags"]}
            # decoded in a one-thread process here, in a many-thread one there: float rounding
            for tag, p in want["probabilities"].items():
                assert probs[tag] == pytest.approx(p, abs=2e-4), tag
            assert [t["probability"] for t in got["tags"]] == sorted(probs.values(), reverse=True)
            assert got["present"] == want["present"]
            assert [t["tag"] for t in got["tags"] if t["present"]] == want["present"]
            ref = tagger.tag_file(song).embedding
            np.testing.assert_allclose(got["embedding"], ref, rtol=1e-4, atol=1e-4)


def test_songs_that_arrive_together_share_forward_passes(tagger, songs):
    """The batcher tags at most max_batch songs per call, and each song's result equals the
    song tagged alone."""
    from autotag.inference.decode import decode
    from autotag.serve.batcher import Batcher

    decoded = [decode(tagger.front, str(s), None) for s in [*songs, *songs]]  # 10 songs
    batcher = Batcher(tagger, max_batch=4, max_wait_s=0.5, agg="mean", batch_size=16)
    futures = [batcher.submit(d) for d in decoded]  # queued before the thread starts
    batcher.start()
    results = [f.result(timeout=60) for f in futures]
    batcher.close()
    assert batcher.batches == 3 and batcher.songs == 10  # 4 + 4 + 2
    for d, r in zip(decoded, results):
        alone = next(tagger.tag_decoded([d]))
        np.testing.assert_allclose(r.probs, alone.probs, rtol=1e-5, atol=1e-6)
        assert r.path == d.path


def test_bad_uploads_get_4xx_json_and_the_service_goes_on(model, songs, exact_index, tmp_path):
    two_hours = tmp_path / "two hours.flac"  # digital silence compresses to almost nothing
    with sf.SoundFile(two_hours, "w", 8000, 1, format="FLAC") as f:
        block = np.zeros(8000 * 600, np.int16)
        for _ in range(12):
            f.write(block)
    assert two_hours.stat().st_size < 2**20
    big = tmp_path / "big.wav"
    sf.write(big, tone(8.0, seed=1), SR)  # 256 kB, over a 0.2 MB limit
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    with make_client(model, exact_index, max_upload_mb=0.2, temp_dir=str(temp_root)) as client:
        cases = {
            "not_audio": post(client, b"this is no song", name="notes.mp3"),
            "empty": post(client, b"", name="nothing.wav"),
            "too_large": post(client, big),
            "too_long": post(client, two_hours),
            "missing_field": post(client, songs[0], field="audio"),
            "not_multipart": client.post(
                "/tag", content=b"\xff\xfb\x90", headers={"content-type": "audio/mpeg"}
            ),  # fmt: skip
            "unknown_id": client.post("/similar?id=no-such-song"),
            "bad_parameter": post(client, songs[0], url="/similar?n=0"),
        }
        for code, r in cases.items():
            assert 400 <= r.status_code < 500, (code, r.status_code, r.text)
            body = r.json()
            assert body["code"] == code, (code, body)
            assert body["error"], code
        assert "notes.mp3" in cases["not_audio"].json()["error"]
        assert "nothing.wav" in cases["empty"].json()["error"]
        assert "0.2 MB" in cases["too_large"].json()["error"]
        assert "two hours.flac: 120.0 min" in cases["too_long"].json()["error"]
        assert "'audio'" in cases["missing_field"].json()["error"]
        assert "no-such-song" in cases["unknown_id"].json()["error"]
        assert cases["too_large"].status_code == 413
        # the service still answers, and kept no upload
        assert client.get("/health").json()["rejected"] == len(cases)
        assert post(client, songs[0]).status_code == 200
        (service_tmp,) = temp_root.iterdir()
        assert list(service_tmp.iterdir()) == []
    assert list(temp_root.iterdir()) == []  # the temporary folder goes with the service


def test_an_oversized_body_is_refused_before_it_is_read(model):
    """Content-Length over the limit: 413 at once (the ASGI middleware never calls the app)."""
    import asyncio

    from autotag.serve.uploads import BodyLimit

    called, sent = [], []

    async def app(scope, receive, send):
        called.append(scope)

    async def receive():
        raise AssertionError("the body was read")

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"500000000")]}
    asyncio.run(BodyLimit(app, 100 * 2**20)(scope, receive, send))
    assert not called and sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["code"] == "too_large"


def test_a_decoder_crash_fails_only_its_request(model, songs):
    crash = b"CRASH" + songs[0].read_bytes()
    with make_client(model, task=crashing_upload) as client:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(post, client, s) for s in songs[:3]]
            bad = pool.submit(post, client, crash, name="evil.mp3")
            answers = [f.result() for f in futures]
        assert bad.result().status_code == 422
        assert bad.result().json() == {
            "error": "evil.mp3: the decoder crashed on this file",
            "code": "decoder_crash",
        }
        assert [r.status_code for r in answers] == [200, 200, 200]
        for s in songs:  # the slot got a new process: every later upload is served
            assert post(client, s).status_code == 200
        assert client.get("/health").json()["decoder_crashes"] == 1


@pytest.mark.parametrize("kind", ["exact", "ann"])
def test_similar_answers_what_autotag_similar_prints(model, songs, exact_index, kind, capsys):
    from autotag.cli import main

    index, flag = exact_index, "--index"
    if kind == "ann":
        index = exact_index.with_suffix(".ann")
        if not index.exists():
            assert main(["index", "build", "--from", str(exact_index), "-o", str(index)]) == 0
        flag = "--ann"
    query = songs[-1]
    code, out, _ = run_cli(capsys, "similar", query, flag, index, "-n", "5", "--json")
    by_id = json.loads(out)
    code2, out2, _ = run_cli(
        capsys, "similar", str(query.resolve()) + ".copy", flag, index, "-m", model, "--json"
    )  # not in the index, no such file: the CLI says so
    assert code == 0 and code2 == 1
    with make_client(model, index) as client:
        r = client.post(f"/similar?n=5&id={query.name}")
        upload = post(client, query, url="/similar?n=5")
    assert r.status_code == 200 and upload.status_code == 200, (r.text, upload.text)
    got = r.json()["results"]
    assert [x["id"] for x in got] == [x["id"] for x in by_id["results"]]
    for a, b in zip(got, by_id["results"]):
        assert a["similarity"] == pytest.approx(b["similarity"], abs=1e-5)
        assert a["tags"] == b["tags"]
    up = upload.json()
    assert up["query"]["in_index"] is False and up["query"]["file"] == query.name
    assert up["results"][0]["id"] == query.name  # the song itself is its own nearest
    assert up["results"][0]["similarity"] == pytest.approx(1.0, abs=1e-4)
    assert [x["id"] for x in up["results"]] == [x["id"] for x in got]


def test_an_index_of_another_model_is_refused(model, exact_index, tmp_path, capsys):
    import torch

    other = tmp_path / "other.pt"  # the same network with other thresholds: another file
    blob = torch.load(model, weights_only=True)
    blob["thresholds"] = [0.5 for _ in blob["thresholds"]]
    torch.save(blob, other)
    code, _, err = run_cli(capsys, "serve", "-m", other, "--index", exact_index, "--port", "0")
    assert code == 2 and "not the model that made" in err


def test_headers_that_would_blow_up_decoding_are_refused(model, tmp_path):
    """A few kB can announce a rate whose resampling filter is huge, many channels, or more
    decoded samples than the cap: refused from the header, before decoding."""
    odd_rate = tmp_path / "odd rate.wav"
    sf.write(odd_rate, np.zeros(32, np.float32), 16001)
    many = tmp_path / "nine channels.wav"
    sf.write(many, np.zeros((100, 9), np.float32), 16000)
    wide = tmp_path / "wide.flac"  # 4 s of 8 channels at 192 kHz: 6.1 M samples
    sf.write(wide, np.zeros((4 * 192000, 8), np.int16), 192000, subtype="PCM_16")
    with make_client(model, max_seconds=5.0) as client:
        answers = {p.name: post(client, p) for p in (odd_rate, many, wide)}
        assert client.get("/health").json()["status"] == "ok"
    assert [r.status_code for r in answers.values()] == [415, 415, 413]
    got = {name: r.json() for name, r in answers.items()}
    assert (
        got["odd rate.wav"]["code"] == "unsupported_audio"
        and "16001 Hz" in got["odd rate.wav"]["error"]
    )
    assert got["nine channels.wav"]["code"] == "unsupported_audio"
    assert "9 channels" in got["nine channels.wav"]["error"]
    assert (
        got["wide.flac"]["code"] == "too_long"
        and "8 channels at 192000 Hz" in got["wide.flac"]["error"]
    )


def test_more_odd_requests(model, songs):
    """A chunked upload over the limit (no Content-Length: counted as it arrives), a text field
    where the file should be, a content type in capitals, and a burst over max_pending."""
    data = songs[-1].read_bytes()  # 224 kB
    body, kind = (
        b'--B\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n\r\n'
        + data
        + b"\r\n--B--\r\n",
        "multipart/form-data; boundary=B",
    )
    with make_client(model, max_upload_mb=0.1, max_pending=1, max_wait_ms=1500) as client:
        chunked = client.post("/tag", content=iter([body[:50_000], body[50_000:]]),
                              headers={"content-type": kind})  # fmt: skip
        assert chunked.status_code == 413 and chunked.json()["code"] == "too_large"
        text = client.post("/tag", files={"file": (None, b"song.mp3")})  # curl -F file=song.mp3
        assert text.status_code == 400 and "holds text" in text.json()["error"]
        small = songs[0].read_bytes()
        caps = client.post(
            "/tag",
            content=body.replace(data, small),
            headers={"content-type": kind.replace("multipart/form-data", "Multipart/Form-Data")},
        )
        assert caps.status_code == 200, caps.text
        with ThreadPoolExecutor(
            2
        ) as pool:  # the first waits 1.5 s for a batch: the second is one too many
            first = pool.submit(post, client, songs[0])
            time.sleep(0.5)
            second = pool.submit(post, client, songs[1])
            codes = sorted([first.result().status_code, second.result().status_code])
        assert codes == [200, 503]
        assert second.result().json()["code"] == "busy"


def test_a_cancelled_request_does_not_stop_the_model_thread(tagger, songs):
    from autotag.inference.decode import decode
    from autotag.serve.batcher import Batcher

    song = decode(tagger.front, str(songs[0]), None)
    batcher = Batcher(tagger, max_batch=4, max_wait_s=0.05, agg="mean", batch_size=16)
    given_up = batcher.submit(song)
    given_up.cancel()  # what asyncio.wrap_future does when the awaiting task is cancelled
    batcher.start()
    later = batcher.submit(song)
    assert later.result(timeout=60).ok
    batcher.close()
    assert batcher.songs == 1  # the cancelled one was not computed


def test_a_decoder_killed_while_idle_costs_no_upload(model, songs):
    """The OOM killer takes an idle decoding process: the next upload gets a fresh one."""
    import signal

    with make_client(model) as client:
        pool = client.app.state.service.decoders
        for ex in pool._all:
            for p in list(ex._processes.values()):
                os.kill(p.pid, signal.SIGKILL)
        time.sleep(0.5)
        assert [post(client, s).status_code for s in songs] == [200] * len(songs)
        assert client.get("/health").json()["decoder_crashes"] == 0
