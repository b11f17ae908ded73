"""The catalogue job: the same numbers as `autotag tag`/`autotag embed`, broken files listed,
bad inputs refused in one line, a killed run resumed to the uninterrupted result, and two shards
through Hydra's submitit_local launcher equal to one process."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from autotag.inference import catalogue as catalogue_mod
from autotag.inference.catalogue import run_catalogue
from autotag.inference.catalogue_file import read_table
from autotag.inference.catalogue_input import catalogue_songs
from autotag.inference.embed import read_index
from tests.helpers import MTAT, ROOT, SR, run_cli, tone

TAGS = (("guitar",), ("techno",), ("classical", "slow"), ("slow",), ("guitar", "techno"))


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> Path:
    """11 songs in nested folders (one silent), a text file, an empty file: 13 files."""
    root = tmp_path_factory.mktemp("songs")
    for i in range(10):
        folder = root / ("a" if i % 2 else "b/c")
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"song{i:02d}.wav", tone(2.0 + i % 4, TAGS[i % 5], seed=i), SR)
    sf.write(root / "silence.wav", np.zeros(3 * SR, np.float32), SR)
    (root / "a" / "notes.mp3").write_text("not audio")
    (root / "b" / "empty.wav").write_bytes(b"")
    return root


def datasets_of(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {name: f[name][:] for name in f}


def assert_same_result(a: Path, b: Path) -> None:
    """Every dataset of the merged table and index equal, value for value; the same errors."""
    for name in ("catalogue.h5", "index.h5"):
        one, two = datasets_of(a / name), datasets_of(b / name)
        assert one.keys() == two.keys()
        for key in one:
            np.testing.assert_array_equal(one[key], two[key], err_msg=f"{name}:{key}")
    assert (a / "errors.csv").read_text() == (b / "errors.csv").read_text()


def test_the_catalogue_gives_what_tag_and_embed_give_and_lists_broken_files(
    songs, model, tmp_path, capsys
):
    out = tmp_path / "cat"
    code, _, err = run_cli(capsys, "catalogue", songs, "-m", model, "-o", out, "--unit-size", 4,
                           "--workers", 0, "--device", "cpu")  # fmt: skip
    assert code == 1  # two files failed, each named on its own line
    assert "notes.mp3" in err and "empty.wav" in err and "\r" not in err
    assert "songs/s" in err and "catalogued 11 of 13 songs" in err
    assert not (out / "parts").exists()
    table = read_table(out / "catalogue.h5")
    paths = list(table.columns["paths"])
    assert paths == sorted(str(p.resolve()) for p in songs.rglob("*.*"))
    assert list(table.columns["ids"]) == [str(Path(p).relative_to(songs)) for p in paths]
    with open(out / "errors.csv", newline="") as f:
        errors = {Path(r["path"]).name: r["error"] for r in csv.DictReader(f)}
    assert errors.keys() == {"notes.mp3", "empty.wav"} and all(errors.values())
    # `autotag tag` on the same folder: probabilities, tags present, silence, duration
    code, text, _ = run_cli(capsys, "tag", songs, "-m", model, "--json", "--workers", 0)
    tagged = {str(Path(r["path"]).resolve()): r for r in json.loads(text)}
    c = table.columns
    ok = [i for i, p in enumerate(paths) if not c["errors"][i]]
    assert len(ok) == 11 == len(tagged)
    for i in ok:
        row = tagged[paths[i]]
        got = [table.tag_names[j] for j in np.flatnonzero(c["present"][i])]
        assert sorted(got) == sorted(row["present"]) and c["silent"][i] == row["silent"]
        assert c["durations"][i] == pytest.approx(row["duration_s"], abs=1e-3)
        for tag, p in row["probabilities"].items():
            assert c["probabilities"][i, table.tag_names.index(tag)] == pytest.approx(p, abs=1e-4)
    assert c["silent"][paths.index(str((songs / "silence.wav").resolve()))]
    # `autotag embed`: the same embeddings; the job's index is one `autotag similar` reads
    run_cli(capsys, "embed", songs, "-m", model, "-o", tmp_path / "embed.h5", "--workers", 0)
    embedded, index = read_index(tmp_path / "embed.h5"), read_index(out / "index.h5")
    assert index.paths == embedded.paths and index.ids == embedded.ids
    np.testing.assert_allclose(index.embeddings, embedded.embeddings, atol=1e-5)
    np.testing.assert_allclose(index.probabilities, embedded.probabilities, atol=1e-6)
    query = songs / "a" / "song03.wav"
    code, text, _ = run_cli(capsys, "similar", query, "--index", out / "index.h5", "--json")
    assert code == 0 and json.loads(text)["results"][0]["path"] == str(query.resolve())


def test_a_killed_run_resumes_to_the_uninterrupted_result(songs, tagger, tmp_path, monkeypatch):
    paths, ids = catalogue_songs([songs])
    run = dict(unit_size=3, workers=0, progress=False)
    ref = run_catalogue(tagger, paths, ids, tmp_path / "ref", **run)
    assert ref.complete and ref.n_failed == 2 and ref.tagged == 13
    real_write, written = catalogue_mod.write_table, []

    def killed_after_two(path, table):
        if len(written) == 2:
            raise KeyboardInterrupt  # the job stops while tagging its third unit
        written.append(Path(path).name)
        return real_write(path, table)

    monkeypatch.setattr(catalogue_mod, "write_table", killed_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_catalogue(tagger, paths, ids, tmp_path / "cat", **run)
    assert written == ["part-000000.h5", "part-000001.h5"]
    assert not (tmp_path / "cat" / "catalogue.h5").exists()
    monkeypatch.setattr(catalogue_mod, "write_table", real_write)
    tagged = []
    real_tag = tagger.tag_files
    monkeypatch.setattr(tagger, "tag_files", lambda p, *a: tagged.append(p) or real_tag(p, *a))
    again = run_catalogue(tagger, paths, ids, tmp_path / "cat", **run)
    assert again.complete and again.tagged == 13 - 6  # units 2, 3, 4 only
    assert [p[0] for p in tagged] == [paths[6], paths[9], paths[12]]
    assert_same_result(tmp_path / "ref", tmp_path / "cat")
    done = run_catalogue(tagger, paths, ids, tmp_path / "cat", **run)  # nothing left to do
    assert done.complete and done.tagged == 0 and len(tagged) == 3


def test_bad_inputs_get_one_line_and_missing_files_are_listed(songs, model, tmp_path, capsys):
    base = ["-m", model, "--workers", 0, "--device", "cpu"]
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(capsys, "catalogue", tmp_path / "empty", *base, "-o", tmp_path / "o")
    assert code == 2 and "no audio files" in err and "Traceback" not in err
    bad = tmp_path / "bad.csv"
    bad.write_text("file,tags\na.wav,rock\n")
    code, _, err = run_cli(capsys, "catalogue", bad, *base, "-o", tmp_path / "o")
    assert code == 2 and "no 'path' column (columns: file, tags)" in err
    code, _, err = run_cli(capsys, "catalogue", tmp_path / "nope.csv", *base, "-o", tmp_path / "o")
    assert code == 2 and "nope.csv: CSV file not found" in err
    listed = tmp_path / "list.csv"
    listed.write_text(f"path\n{songs / 'a' / 'song01.wav'}\nmissing.wav\n")
    code, _, err = run_cli(capsys, "catalogue", listed, *base, "-o", tmp_path / "o")
    assert code == 1 and "missing.wav" in err
    with open(tmp_path / "o" / "errors.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["id"] == "missing.wav" and row["path"] == str(tmp_path / "missing.wav")
    assert read_index(tmp_path / "o" / "index.h5").ids == [str(songs / "a" / "song01.wav")]
    (tmp_path / "busy" / "parts").mkdir(parents=True)  # another job's parts, written just now
    (tmp_path / "busy" / "parts" / "key.json").write_text('{"songs": "others"}')
    code, _, err = run_cli(capsys, "catalogue", listed, *base, "-o", tmp_path / "busy")
    assert code == 2 and "another catalogue job" in err and "Traceback" not in err


def test_a_data_sets_manifest_is_a_catalogue(mini_mtat):
    from autotag.data.datasets import load_manifest

    data = {"name": "mtat", "reader": "mtat", "root": str(mini_mtat), **MTAT}
    paths, ids = catalogue_songs(data=data)
    manifest = load_manifest(data)
    assert paths == sorted(str(Path(p).resolve()) for p in manifest.paths)
    assert set(ids) == set(manifest.rel_paths)


def test_two_shards_through_submitit_local_equal_one_process(songs, model, tmp_path):
    common = [f"tagger={model}", f"input={songs}", "unit_size=3", "workers=0", "device=cpu"]
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    entry = [sys.executable, "-m", "autotag.catalogue"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*entry, *args], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip

    single = run(*common, f"out={tmp_path / 'one'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert single.returncode == 0, single.stderr[-3000:]
    assert "catalogue ready" in single.stdout and "notes.mp3" in single.stderr
    sharded = run("-m", *common, "out=two", "hydra/launcher=local", "num_shards=2",
                  "shard=range(2)", f"hydra.sweep.dir={tmp_path / 'multirun'}")  # fmt: skip
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert_same_result(tmp_path / "one", tmp_path / "two")  # out=two: relative to the launch
    logs = "".join(p.read_text() for p in (tmp_path / "multirun").rglob("*_log.out"))
    assert "catalogue ready" in logs and logs.count("of 2 tagged") <= 1, logs
    (tmp_path / "no_path.csv").write_text("file\nx.wav\n")
    bad = run(f"tagger={model}", f"input={tmp_path / 'no_path.csv'}", f"out={tmp_path / 'x'}",
              f"hydra.run.dir={tmp_path / 'run2'}")  # fmt: skip
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "python -m autotag.catalogue: error: " in bad.stderr and "no 'path' column" in bad.stderr


def test_kill_9_then_rerun_gives_the_uninterrupted_result(songs, model, tmp_path):
    """A real SIGKILL of the Hydra entry point once two parts are written, then a rerun."""
    import shutil
    import signal
    import time

    long = tmp_path / "songs"  # songs long enough that a kill lands while parts are written
    shutil.copytree(songs, long)
    for i in range(12):
        sf.write(long / f"long{i:02d}.wav", tone(40.0, TAGS[i % 5], seed=50 + i), SR)
    common = [f"tagger={model}", f"input={long}", "unit_size=1", "workers=0", "device=cpu"]
    env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    entry = [sys.executable, "-m", "autotag.catalogue", *common]
    ref = subprocess.run([*entry, f"out={tmp_path / 'ref'}", f"hydra.run.dir={tmp_path / 'r0'}"],
                         env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ref.returncode == 0, ref.stderr[-3000:]  # two files fail: listed, not fatal
    out, parts = tmp_path / "cat", tmp_path / "cat" / "parts"
    job = subprocess.Popen([*entry, f"out={out}", f"hydra.run.dir={tmp_path / 'r1'}"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    t0 = time.time()
    while len(list(parts.glob("part-*.h5"))) < 2 and time.time() - t0 < 120:
        time.sleep(0.01)
    job.send_signal(signal.SIGKILL)
    job.wait()
    written = len(list(parts.glob("part-*.h5")))
    assert 2 <= written < 25, "killed too late: every part was written"
    again = subprocess.run([*entry, f"out={out}", f"hydra.run.dir={tmp_path / 'r2'}"], env=env,
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert_same_result(tmp_path / "ref", out)
    assert not parts.exists()
