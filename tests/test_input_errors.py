"""Files handed to the wrong place get one clear line naming the file and what to use instead,
never a traceback, and never an invitation to delete a file that is not ours to delete."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from autotag.data.store import MelStore
from autotag.inference.decode import find_audio
from autotag.training.run import check_start_files
from tests.helpers import run_cli


def _start(ckpt=None, init=None) -> dict:
    return {"ckpt_path": None if ckpt is None else str(ckpt), "init_from": init}  # the settings


def test_resume_and_init_files_are_checked_before_anything_runs(tmp_path):
    tagger = tmp_path / "tagger.pt"
    torch.save({"format": "autotag-tagger/2", "weights": {}}, tagger)
    best = tmp_path / "epoch003-auc0.9.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, best)
    last = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "optimizer_states": [{}], "epoch": 3}, last)
    with pytest.raises(ValueError, match=r"tagger.pt is a tagger file.*use init_from="):
        check_start_files(**_start(ckpt=tagger))
    with pytest.raises(ValueError, match=r"weights only.*last.ckpt"):
        check_start_files(**_start(ckpt=best))
    with pytest.raises(ValueError, match=r"ckpt_path=.*nope.ckpt: no such file"):
        check_start_files(**_start(ckpt=tmp_path / "nope.ckpt"))
    with pytest.raises(ValueError, match=r"init_from=.*gone.pt: no such file"):
        check_start_files(**_start(init=str(tmp_path / "gone.pt")))
    check_start_files(**_start(ckpt=last, init="musicnn:MTT_musicnn"))  # fine


def test_a_store_path_holding_something_else_is_never_to_be_deleted(tmp_path):
    pt = tmp_path / "tagger.pt"
    torch.save({"format": "autotag-tagger/2"}, pt)
    index = tmp_path / "catalogue.h5"
    with h5py.File(index, "w") as f:
        f.create_dataset("embeddings", data=np.zeros((2, 3)))
    half = tmp_path / "store.h5"
    with h5py.File(half, "w") as f:
        f.attrs["features"] = "{}"
        f.create_dataset("mel", data=np.zeros((1, 2, 3)))
    for path, why in ((pt, "not an HDF5 file"), (index, "embedding index"), (half, "interrupted")):
        with pytest.raises(ValueError, match=why) as e:
            MelStore(path)
        assert "delete" not in str(e.value)


def test_compare_refuses_files_that_are_not_predictions(tmp_path, capsys):
    pt = tmp_path / "tagger.pt"
    torch.save({"format": "autotag-tagger/2"}, pt)
    h5 = tmp_path / "x.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("a", data=np.zeros(3))
    good = tmp_path / "predictions.npz"
    np.savez(good, tag_names=np.array(["a"]), test_scores=np.zeros((2, 1)),
             test_labels=np.zeros((2, 1)), test_clip_ids=np.arange(2))  # fmt: skip
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[:100])
    for bad in (pt, h5, cut):
        code, _, err = run_cli(capsys, "compare", good, bad)
        assert code == 2 and f"{bad}: " in err and "predictions.npz" in err, err
        assert "Traceback" not in err


def test_a_file_named_twice_is_tagged_once(tmp_path):
    (tmp_path / "music").mkdir()
    song = tmp_path / "music" / "a.wav"
    song.write_bytes(b"")
    files, problems = find_audio([song, tmp_path / "music", str(song)])
    assert files == [str(song)] and problems == []


def test_hydra_entries_end_input_errors_with_one_line(tmp_path, capsys):
    import subprocess
    import sys

    from autotag.entry import reporting_input_errors
    from tests.helpers import ROOT

    def ours():  # raised by autotag's own code: an input error
        check_start_files(**_start(ckpt=tmp_path / "x.ckpt"))

    with pytest.raises(SystemExit) as e:
        reporting_input_errors(ours, "train.py")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"train.py: error: ckpt_path={tmp_path}/x.ckpt: no such file (resume from <run>/checkpoints/last.ckpt)\n"
    )

    def a_bug():  # a ValueError raised inside numpy: shown whole
        np.zeros(3).reshape(2)

    with pytest.raises(ValueError, match="reshape"):
        reporting_input_errors(a_bug, "train.py")
    proc = subprocess.run(
        [sys.executable, "train.py", f"init_from={tmp_path}/gone.pt", "logger=none",
         f"hydra.run.dir={tmp_path}/run"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"train.py: error: init_from={tmp_path}/gone.pt: no such file" in proc.stderr
    assert "Traceback" not in proc.stderr and "Error executing job" not in proc.stderr
