"""`autotag tag`: files and folders, formats, errors and exit codes, thresholds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from autotag.cli import main as cli_main
from autotag.inference import Tagger, TaggerError, find_audio
from tests.helpers import MTAT, ROOT, SR, TONE_TAGS, run_cli, tone


def test_files_that_are_not_taggers_get_clear_errors(tmp_path, tagger_run, capsys):
    marker = tmp_path / "code_ran"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"format": "autotag-tagger/1", "x": Evil()}, tmp_path / "evil.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pt")
    (tmp_path / "notes.txt").write_text("hello")
    cases = {
        tmp_path / "missing.pt": "model file not found",
        tmp_path / "evil.pt": "not an autotag tagger file",
        tmp_path / "plain.pt": "no 'autotag-tagger/' format",
        tmp_path / "notes.txt": "not an autotag tagger file",
        tagger_run / "checkpoints" / "last.ckpt": "Lightning checkpoint",
    }
    for path, msg in cases.items():
        with pytest.raises(TaggerError, match=msg) as e:
            Tagger.load(path)
        assert str(path) in str(e.value)
    assert not marker.exists()  # weights_only: loading never runs code
    code, out, err = run_cli(capsys, "tag", tmp_path, "--model", tmp_path / "missing.pt")
    assert code == 2 and "model file not found" in err and "Traceback" not in err


def test_usage_errors_exit_2(model, mini_mtat, capsys):
    clip = next((mini_mtat / "0").glob("*.mp3"))
    for bad in (["--top-k", "0"], ["--threshold", "1.5"], ["--hop", "-1"], ["--agg", "median"]):
        code, _, err = run_cli(capsys, "tag", clip, "--model", model, *bad)
        assert code == 2 and "error" in err
    assert run_cli(capsys, "tag", clip)[0] == 2  # --model is required
    assert run_cli(capsys, "--help")[0] == 0
    code, _, err = run_cli(capsys, "tag", clip, "--model", model, "--device", "gpu7")
    assert code == 2 and "device 'gpu7'" in err and "Traceback" not in err
    if not torch.cuda.is_available():
        code, _, err = run_cli(capsys, "embed", clip, "-m", model, "-o", "x.h5", "--device", "cuda")
        assert code == 2 and "device 'cuda': CUDA is not available" in err


def test_tags_of_test_folder_clips_are_mostly_right(model, mini_mtat, capsys):
    from autotag.data.datasets.mtat.reader import read_mtat

    m = read_mtat(mini_mtat, **MTAT)
    cols = [m.tag_names.index(t) for t in TONE_TAGS]
    truth = {str(Path(p).resolve()): m.labels[i, cols] for i, p in enumerate(m.paths)}
    folders = [mini_mtat / f for f in "def"]
    code, out, _ = run_cli(capsys, "tag", *folders, "--model", model, "--json", "--workers", "0")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == len(find_audio(folders)[0]) == 30
    hits, n, exact = 0, 0, 0
    for r in rows:
        y = truth[str(Path(r["path"]).resolve())]
        assert len(r["top"]) == 4 and r["windows"] == 1 and r["duration_s"] == pytest.approx(3.0)
        present = {t for t, v in zip(TONE_TAGS, y) if v}
        exact += set(r["present"]) == present
        if y.any():
            n += 1
            hits += r["top"][0]["tag"] in present
    assert hits / n > 0.7, (hits, n)
    assert exact / len(rows) > 0.6


def test_any_rate_channels_length_and_format(tagger, tmp_path, capsys, model):
    guitar = tone(10.0)
    stereo44 = np.stack([tone(10.0, sr=44100), tone(10.0, sr=44100, seed=1)], axis=1)
    files = {
        "stereo44k.wav": (stereo44, 44100),
        "short_1s.wav": (tone(1.0), SR),
        "long_60s.flac": (tone(60.0, ("classical",)), SR),
        "clip.ogg": (guitar, SR),
        "clip.mp3": (guitar, SR),
        "clip22k.flac": (tone(10.0, sr=22050), 22050),
    }
    for name, (x, sr) in files.items():
        sf.write(tmp_path / name, x, sr)
    code, out, err = run_cli(capsys, "tag", tmp_path, "--model", model, "--json", "--workers", "0")
    assert code == 0, err
    rows = {Path(r["path"]).name: r for r in json.loads(out)}
    assert set(rows) == set(files)
    assert rows["short_1s.wav"]["windows"] == 1
    assert rows["long_60s.flac"]["windows"] == 20
    assert rows["stereo44k.wav"]["duration_s"] == pytest.approx(10.0, abs=0.01)
    for name, r in rows.items():
        assert all(0.0 <= p <= 1.0 for p in r["probabilities"].values())
        if name != "short_1s.wav":  # 2 s of zero padding: unlike any training clip
            want = "classical" if name.startswith("long") else "guitar"
            assert r["top"][0]["tag"] == want, (name, r["top"])
    # --hop and --agg change the windows and the aggregation
    long = tmp_path / "long_60s.flac"
    hop = tagger.tag_file(long, hop=1.5)
    mx = tagger.tag_file(long, agg="max")
    mean = tagger.tag_file(long)
    assert hop.n_windows == 39 and (mx.probs >= mean.probs - 1e-6).all()


def test_table_output_and_python_m_entry(model, mini_mtat, capsys):
    from autotag.predict import main as predict_main

    folder = mini_mtat / "0"
    code, out, err = run_cli(capsys, "tag", folder, "--model", model, "-k", "2", "--workers", "0")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:2] == ["file", "length"]
    n = len(list(folder.glob("*.mp3")))
    assert len(lines) == n + 1 and "tagged 10 of 10 files" in err
    first = lines[1]
    assert first.startswith(str(folder)) and " 3.0 s " in first
    assert len({line.index(" s ") for line in lines[1:]}) == 1  # aligned columns
    assert predict_main([str(folder), "--model", str(model), "--workers", "0", "-k", "2"]) == 0
    assert capsys.readouterr().out == out


def test_corrupt_and_missing_files_do_not_stop_the_batch(model, mini_mtat, tmp_path, capsys):
    good = sorted((mini_mtat / "1").glob("*.mp3"))[:5]
    folder = tmp_path / "mixed"
    folder.mkdir()
    for f in good:
        (folder / f.name).write_bytes(f.read_bytes())
    (folder / "corrupt.mp3").write_bytes(np.random.default_rng(0).bytes(5000))
    (folder / "empty.wav").write_bytes(b"")
    (folder / "notes.txt").write_text("not audio, not picked up from a folder")
    missing = tmp_path / "missing.flac"
    # the decoding pool (2 workers) is used here
    code, out, err = run_cli(
        capsys, "tag", folder, missing, "--model", model, "--csv", "--workers", "2"
    )
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    assert any("corrupt.mp3" in e and "cannot decode" in e for e in errors)
    assert any("empty.wav" in e and "empty file" in e for e in errors)
    assert any(str(missing) in e and "not found" in e for e in errors)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(Path(r["path"]).name for r in rows) == sorted(f.name for f in good)
    assert "tagged 5 of 8 files" in err and "3 failed" in err
    # an empty folder is an error line too
    (tmp_path / "void").mkdir()
    code, out, err = run_cli(capsys, "tag", tmp_path / "void", "--model", model)
    assert code == 1 and "no audio files" in err


def test_thresholds_decide_presence_and_can_be_overridden(tagger, model, mini_mtat, capsys):
    th = tagger.thresholds
    probs = np.where(np.arange(4) % 2 == 0, th + 0.01, th - 0.01).astype(np.float32)
    assert [t for t, _ in tagger.present(probs)] == [
        tagger.tag_names[j] for j in np.argsort(-probs) if j % 2 == 0
    ]
    assert len(tagger.present(probs, threshold=0.0)) == 4 and tagger.present(probs, 1.0) == []
    clip = sorted((mini_mtat / "2").glob("*.mp3"))[0]
    outs = {}
    for extra in ([], ["--threshold", "0"], ["--threshold", "1"]):
        code, out, _ = run_cli(capsys, "tag", clip, "--model", model, "--json", *extra)
        outs[tuple(extra)] = json.loads(out)[0]
    row = outs[()]
    assert row["present"] == [
        t
        for t, p in sorted(row["probabilities"].items(), key=lambda kv: -kv[1])
        if p >= th[tagger.tag_names.index(t)] - 1e-4
    ]
    assert len(outs[("--threshold", "0")]["present"]) == 4
    assert outs[("--threshold", "1")]["present"] == []


def test_json_and_csv_agree(model, mini_mtat, capsys):
    clips = sorted((mini_mtat / "3").glob("*.mp3"))[:3]
    _, js, _ = run_cli(capsys, "tag", *clips, "--model", model, "--json", "--workers", "0")
    _, cs, _ = run_cli(capsys, "tag", *clips, "--model", model, "--csv", "--workers", "0")
    rows_j = json.loads(js)
    rows_c = list(csv.DictReader(io.StringIO(cs)))
    assert [r["path"] for r in rows_j] == [r["path"] for r in rows_c] == [str(c) for c in clips]
    for j, c in zip(rows_j, rows_c):
        assert c["top_tags"].split(";")[0] == j["top"][0]["tag"]
        assert c["present_tags"] == ";".join(j["present"])
        for t in TONE_TAGS:
            assert float(c[t]) == pytest.approx(j["probabilities"][t], abs=1e-4)


def test_console_script_is_declared():
    """The declared entry is autotag.cli.command (the program: it keeps freed memory, then
    runs main); ``python -m autotag.cli`` is the same program."""
    import importlib
    import subprocess
    import sys

    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, name = scripts["autotag"].split(":")
    from autotag.cli import command

    assert getattr(importlib.import_module(module), name) is command
    p = subprocess.run([sys.executable, "-m", "autotag.cli", "--help"], capture_output=True)
    assert p.returncode == 0 and b"usage: autotag" in p.stdout


def test_corrupt_mp3s_give_one_clear_line_and_no_decoder_chatter(model, tmp_path, capfd):
    """libmpg123 prints notes on fd 2 for a damaged mp3; the user sees autotag's line only."""
    sf.write(tmp_path / "good.mp3", tone(3.0), SR, format="MP3")
    data = (tmp_path / "good.mp3").read_bytes()
    half = len(data) // 2
    (tmp_path / "damaged.mp3").write_bytes(data[:half] + b"\0" * 3000 + data[half:])
    (tmp_path / "notes.mp3").write_text("this is text, not audio")
    code = cli_main(
        ["tag", str(tmp_path), "--model", str(model), "--workers", "0", "--no-progress"]
    )
    out, err = capfd.readouterr()
    assert code == 1 and "good.mp3" in out
    for chatter in ("Illegal Audio-MPEG-Header", "resync", "Xing", "libmpg123", "regular file"):
        assert chatter not in err, err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 2 and all("cannot decode audio" in line for line in lines)
    assert any("notes.mp3" in line and "not audio in a format" in line for line in lines)
