"""Atomic writes of the ground floor: a file is replaced whole or not at all."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autotag.common.files import atomic_path, remove_temps, temp_beside, write_json, write_text


def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "results.json"
    write_json(target, {"roc_auc": 0.9}, indent=1)
    assert json.loads(target.read_text()) == {"roc_auc": 0.9}
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"roc_auc": 0.')  # half written, then the writer dies
        raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"roc_auc": 0.9}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_any_writer_of_a_path_and_text(tmp_path):
    unit = tmp_path / "shard-000001.npz"
    with atomic_path(unit, suffix=".npz") as tmp:  # np.savez appends .npz to other names
        np.savez(tmp, mel=np.arange(3))
    np.testing.assert_array_equal(np.load(unit)["mel"], np.arange(3))
    write_text(tmp_path / "a.tsv", "1\ta\n")
    assert (tmp_path / "a.tsv").read_text() == "1\ta\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tsv", "shard-000001.npz"]


def test_remove_temps_takes_what_killed_writers_left_and_nothing_else(tmp_path):
    keep = [tmp_path / "a.mp3", tmp_path / ".hidden", tmp_path / "b.tmp", tmp_path / ".x.tmpl"]
    keep += [tmp_path / ".notes.tmp"]  # hidden and .tmp, but no host and pid: not ours
    left = [tmp_path / ".a.mp3.node7.1234.tmp", tmp_path / ".u.npz.node7.99.tmp.npz"]
    left += [tmp_path / ".b.wav.n1.cluster.local.5.tmp"]  # a host name with dots
    for p in keep + left:  # the left ones are named as temp_beside names them
        p.write_bytes(b"x")
    assert temp_beside(tmp_path / "a.mp3").name.startswith(".a.mp3.")
    assert remove_temps(tmp_path) == 3
    assert sorted(tmp_path.iterdir()) == sorted(keep)
