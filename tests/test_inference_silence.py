"""Silence when tagging: a file peaking below -60 dBFS gets a warning and no tag marked present,
in the table, JSON and CSV, decoded in this process or in the pool; its probabilities stay."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from autotag.common.signal import peak_dbfs
from autotag.inference.prediction import SILENCE_DBFS, SongPrediction
from tests.helpers import SR, run_cli, tone


def noise_at(dbfs: float, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """White noise scaled so that its peak is ``dbfs`` exactly."""
    x = np.random.default_rng(seed).standard_normal(int(seconds * SR))
    return (x / np.abs(x).max() * 10 ** (dbfs / 20)).astype(np.float32)


def measured_dbfs(path: Path) -> float:
    """20·log10(max |x|) of the samples in the file (-inf when all are 0)."""
    x, sr = sf.read(path, dtype="float32")
    assert sr == SR and x.ndim == 1
    peak = float(np.abs(x).max())
    return 20 * math.log10(peak) if peak > 0 else -math.inf


@pytest.fixture
def files(tmp_path, tagger) -> dict[str, Path]:
    """16 kHz mono float WAVs (the model's rate: decoded samples are the written ones)."""
    assert tagger.sample_rate == SR
    audio = {
        "zeros.wav": np.zeros(3 * SR, np.float32),
        "noise_70.wav": noise_at(-70.0),
        "noise_50.wav": noise_at(-50.0, seed=1),
        "tone.wav": tone(3.0, ("guitar", "slow")),
    }
    paths = {}
    for name, x in audio.items():
        paths[name] = tmp_path / name
        sf.write(paths[name], x, SR, subtype="FLOAT")
    assert measured_dbfs(paths["zeros.wav"]) == -math.inf
    assert measured_dbfs(paths["noise_70.wav"]) <= -60.0
    assert measured_dbfs(paths["noise_50.wav"]) > -60.0
    return paths


SILENT = {"zeros.wav": True, "noise_70.wav": True, "noise_50.wav": False, "tone.wav": False}


def check_warnings(err: str, files: dict[str, Path]) -> None:
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, err
    for name, silent in SILENT.items():
        hits = [w for w in warnings if f"{files[name]}:" in w]
        assert len(hits) == int(silent), (name, warnings)
        if silent:
            assert "the audio is silent" in hits[0] and "below -60 dBFS" in hits[0]
            assert hits[0].endswith("no tag is marked present")
    assert "peak -inf dBFS" in err and "peak -70.0 dBFS" in err
    assert "error:" not in err and "2 silent" in err


def test_json_silent_files_have_no_present_tags(tagger, model, files, capsys):
    code, out, err = run_cli(
        capsys, "tag", *files.values(), "--model", model, "--json", "--workers", "0"
    )
    assert code == 0, err  # silence is not a failure
    check_warnings(err, files)
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(rows) == set(files)
    for name, silent in SILENT.items():
        r = rows[name]
        assert r["silent"] is silent
        assert len(r["top"]) == 4 and len(r["probabilities"]) == 4  # still reported
        if silent:
            assert r["present"] == []
        else:  # unchanged: Tagger.present of the probabilities
            song = tagger.tag_file(files[name])
            assert r["present"] == [t for t, _ in tagger.present(song.probs)]
        db = measured_dbfs(files[name])
        if math.isinf(db):
            assert r["peak_dbfs"] is None  # -inf is not JSON
        else:
            assert r["peak_dbfs"] == pytest.approx(db, abs=0.1)
    assert rows["tone.wav"]["present"]  # the tone file does get tags
    # the rule holds whatever the threshold: --threshold 0 marks every tag of the others
    _, out, _ = run_cli(capsys, "tag", *files.values(), "-m", model, "--json", "--threshold", "0")
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    for name, silent in SILENT.items():
        assert len(rows[name]["present"]) == (0 if silent else 4)


def test_csv_with_a_decoding_pool_carries_the_peak(tagger, model, files, capsys):
    code, out, err = run_cli(
        capsys, "tag", *files.values(), "--model", model, "--csv", "--workers", "2"
    )
    assert code == 0, err
    check_warnings(err, files)
    rows = {Path(r["path"]).name: r for r in csv.DictReader(io.StringIO(out))}
    assert set(rows) == set(files)
    for name, silent in SILENT.items():
        r = rows[name]
        assert r["silent"] == str(int(silent))
        assert float(r["peak_dbfs"]) == pytest.approx(measured_dbfs(files[name]), abs=0.1)
        if silent:
            assert r["present_tags"] == ""
        assert all(0.0 <= float(r[t]) <= 1.0 for t in tagger.tag_names)


def test_table_shows_a_dash_for_silent_files(model, files, capsys):
    code, out, err = run_cli(
        capsys, "tag", files["zeros.wav"], files["tone.wav"], "-m", model, "-k", "2"
    )
    assert code == 0 and "warning:" in err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    silent, loud = lines[str(files["zeros.wav"])], lines[str(files["tone.wav"])]
    assert silent.endswith("  -") and len(silent.split()) == 8  # path, "3.0 s", 2 top tags, "-"
    assert not loud.endswith("  -")
    # one silent file alone: the warning, exit 0, no summary line
    code, out, err = run_cli(capsys, "tag", files["noise_70.wav"], "-m", model)
    assert code == 0 and out.splitlines()[1].endswith("  -")
    assert err.startswith(f"warning: {files['noise_70.wav']}: the audio is silent")


def test_library_rule_and_peak(tagger, files):
    assert SILENCE_DBFS == -60.0
    for name, silent in SILENT.items():
        song = tagger.tag_file(files[name])
        assert song.silent is silent and song.probs.shape == (4,)
        assert song.peak_dbfs == pytest.approx(measured_dbfs(files[name]), abs=0.1)
        want = [] if silent else tagger.present(song.probs)
        assert tagger.present_tags(song) == want
        assert tagger.present_tags(song, threshold=0.0) == (
            [] if silent else tagger.present(song.probs, 0.0)
        )
    # tag_audio and tag_files measure it too; the edge is the threshold
    for amp, silent in ((0.0009, True), (0.0011, False)):
        song = tagger.tag_audio(noise_at(20 * math.log10(amp)))
        assert song.silent is silent and song.peak_dbfs == pytest.approx(20 * math.log10(amp))
    songs = list(tagger.tag_files(list(files.values()), workers=0))
    assert [s.silent for s in songs] == list(SILENT.values())
    # the peak is of the song, not of its zero padding: a short quiet clip stays quiet
    assert tagger.tag_audio(noise_at(-40.0, seconds=0.5)).peak_dbfs == pytest.approx(-40.0)
    # a failed or hand-made result is never silent
    assert not SongPrediction("x", error="x: broken").silent
    assert not SongPrediction("x", probs=np.zeros(4, np.float32)).silent  # peak not measured
    with pytest.raises(ValueError, match="broken"):
        tagger.present_tags(SongPrediction("x", error="x: broken"))
    assert peak_dbfs(np.zeros(0, np.float32)) == -math.inf
    assert peak_dbfs(np.array([0.5, -1.0], np.float32)) == 0.0
