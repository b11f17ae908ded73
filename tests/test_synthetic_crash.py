"""A render worker of the synthetic generators that dies (a segfault, the OOM killer) fails its
clip or track only: the generation returns, names it, leaves the corpus incomplete, and a
re-run renders the missing file into the same corpus as an undisturbed run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autotag.data.datasets.jamendo import synth as jamendo_synth
from autotag.data.datasets.jamendo import synth_audio as jamendo_synth_audio
from autotag.data.datasets.mtat import layout
from autotag.data.datasets.mtat import synth as mtat_synth
from autotag.data.datasets.mtat.entry import has_corpus
from autotag.data.datasets.mtat.synth_plan import corpus_plan
from tests.test_common_pool import deadline

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the patches reach forked workers")

N_CLIPS, SECONDS, SEED, VICTIM = 16, 2.0, 4, 5
JAMENDO = {"n_tracks": 12, "min_seconds": 2.0, "max_seconds": 4.0, "seed": SEED, "broken": False}


def files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (hidden temporaries included) but the info JSON, which holds
    the root's path."""
    out = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    out.pop(layout.INFO, None), out.pop(jamendo_synth.JAMENDO_INFO, None)
    return out


def test_a_clip_whose_worker_dies_fails_alone(tmp_path, monkeypatch, caplog):
    reference = tmp_path / "reference"
    mtat_synth.generate(reference, N_CLIPS, SECONDS, seed=SEED, broken=False, workers=1, progress=False)  # fmt: skip
    victim = corpus_plan(N_CLIPS, SEED, broken=False)[0][VICTIM]
    synthesize = mtat_synth.synthesize

    def dies_on_victim(plan, *args):
        if plan.index == VICTIM:
            os._exit(1)  # as a crashing native library would: no exception, no clean-up
        return synthesize(plan, *args)

    monkeypatch.setattr(mtat_synth, "synthesize", dies_on_victim)
    root = tmp_path / "crashed"
    args = {"seed": SEED, "broken": False, "progress": False}
    with deadline(120):
        summary = mtat_synth.generate(root, N_CLIPS, SECONDS, workers=2, **args)
    assert summary["failed"] == [victim.clip_id]
    assert f"clip {victim.clip_id}: its worker died" in caplog.text
    assert summary["generated"] == N_CLIPS - 1
    assert not (root / victim.path).exists()
    assert "run again" in mtat_synth.format_summary(summary)
    assert json.loads((root / layout.INFO).read_text())["complete"] is False
    got, want = files(root), files(reference)
    # the others: the same; the annotations (has_corpus's mark) wait for a whole corpus
    missing = {victim.path, layout.ANNOTATIONS, layout.CLIP_INFO}
    assert got == {k: v for k, v in want.items() if k not in missing}
    assert not has_corpus(root)
    monkeypatch.setattr(mtat_synth, "synthesize", synthesize)
    resumed = mtat_synth.generate(root, N_CLIPS, SECONDS, workers=1, **args)
    assert resumed["generated"] == 1 and resumed["failed"] == []
    assert json.loads((root / layout.INFO).read_text())["complete"] is True
    assert files(root) == want


def test_a_track_whose_worker_dies_fails_alone(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    jamendo_synth.generate_jamendo(reference, **JAMENDO, workers=1, progress=False)
    render = jamendo_synth_audio.render_jamendo_track
    tracks = jamendo_synth.jamendo_plan(12, 2.0, 4.0, SEED, False, 16000)
    victim = tracks[3]

    def dies_on_victim(track, *args):
        if track.track_id == victim.track_id:
            os._exit(1)
        return render(track, *args)

    monkeypatch.setattr(jamendo_synth_audio, "render_jamendo_track", dies_on_victim)
    root = tmp_path / "crashed"
    with deadline(120):
        summary = jamendo_synth.generate_jamendo(root, **JAMENDO, workers=2, progress=False)
    assert summary["failed"] == [victim.track_id]
    assert summary["generated"] == len(tracks) - 1
    assert "run again" in jamendo_synth.format_jamendo_summary(summary)
    info = json.loads((root / jamendo_synth.JAMENDO_INFO).read_text())
    assert info["complete"] is False
    got, want = files(root), files(reference)
    missing = {f"audio/{victim.path}", jamendo_synth.subset_file("")}  # the root is incomplete
    assert set(want) - set(got) == missing
    assert all(got[k] == want[k] for k in got if not k.startswith("data/"))  # the other mp3s
    monkeypatch.setattr(jamendo_synth_audio, "render_jamendo_track", render)
    resumed = jamendo_synth.generate_jamendo(root, **JAMENDO, workers=1, progress=False)
    assert resumed["generated"] == 1 and resumed["failed"] == []
    assert files(root) == want
