"""``autotag robustness``: each perturbation measured on synthetic signals, the clean condition
scored exactly like ``autotag tag``, and the command's report and exit codes."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from autotag.common.metrics import macro_scores, scoreable
from autotag.inference.perturb import (
    DEFAULT_CONDITIONS,
    add_noise,
    apply_gain,
    mp3_roundtrip,
    parse_conditions,
    pitch_shift,
    time_stretch,
)
from autotag.inference.robustness import (
    COLUMNS,
    EvalClips,
    evaluate_robustness,
    load_test_clips,
    score_conditions,
)
from autotag.inference.robustness_report import saved_scores, write_report
from autotag.runs.predictions import read_predictions, write_predictions
from tests.helpers import SR, run_cli, tone


def sine(freq: float, seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    """Frequency of the FFT magnitude peak (Hann window, 8x zero-padding)."""
    n = 8 * len(x)
    mag = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    return float(np.argmax(mag) * sr / n)


def power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


# --------------------------------------------------------------------------- perturbations


@pytest.mark.parametrize("snr", [20.0, 10.0, 0.0])
def test_noise_has_the_asked_snr_and_is_seeded(snr):
    x = tone(3.0, ("guitar", "techno"))
    y = add_noise(x, snr, seed=7)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert 10 * np.log10(power(x) / power(y - x)) == pytest.approx(snr, abs=0.2)
    assert np.array_equal(y, add_noise(x, snr, seed=7))  # reproducible per clip
    assert not np.allclose(y, add_noise(x, snr, seed=8))
    assert np.array_equal(add_noise(np.zeros(100, np.float32), snr), np.zeros(100))  # silence


def test_gain_scales_the_rms():
    x = tone(2.0, ("classical",))
    y = apply_gain(x, -20.0)
    assert np.sqrt(power(y) / power(x)) == pytest.approx(0.1, rel=1e-5)


@pytest.mark.parametrize("rate", [0.8, 1.2])
def test_time_stretch_is_a_tempo_factor_and_keeps_the_pitch(rate):
    x = sine(440.0)
    y = time_stretch(x, SR, rate)
    assert abs(len(y) - len(x) / rate) <= 1  # stretch_1.2: 1.2x faster, 1/1.2 as long
    assert peak_hz(y) == pytest.approx(440.0, abs=2.0)
    # the level stays (the phase vocoder overlap-adds with the right gain)
    mid = slice(len(y) // 4, 3 * len(y) // 4)
    assert np.sqrt(power(y[mid]) / power(x)) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(("steps", "expected"), [(2, 493.88), (-2, 392.00)])
def test_pitch_shift_moves_the_peak_and_keeps_the_length(steps, expected):
    x = sine(440.0)
    y = pitch_shift(x, SR, steps)
    assert len(y) == len(x)
    assert expected == pytest.approx(440.0 * 2 ** (steps / 12), abs=0.01)
    assert peak_hz(y) == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize("kbps", [64, 32])
def test_mp3_round_trip_is_aligned_and_close(kbps):
    x = tone(3.0, ("guitar", "classical"))
    y = mp3_roundtrip(x, SR, kbps)
    assert abs(len(y) - len(x)) <= 1152  # within one mp3 frame (it is trimmed to the input's)
    n = min(len(x), len(y))
    assert np.corrcoef(x[:n], y[:n])[0, 1] > 0.9  # aligned: the codec delay is removed
    assert not np.allclose(x[:n], y[:n], atol=1e-3)  # and it did go through the codec


def test_conditions_parse_and_clean_comes_first():
    names = [c.name for c in parse_conditions(None)]
    assert names == list(DEFAULT_CONDITIONS)
    conds = parse_conditions("mp3_32k, noise_5db,mp3_32k")
    assert [c.name for c in conds] == ["clean", "mp3_32k", "noise_5db"]
    assert (conds[2].kind, conds[2].value) == ("noise", 5.0)
    assert [(c.kind, c.value) for c in parse_conditions("pitch_-1.5,gain_+6db")][1:] == [
        ("pitch", -1.5),
        ("gain", 6.0),
    ]
    for bad in ("reverb", "mp3_33k", "stretch_0", "noise_db", "pitch_two"):
        with pytest.raises(ValueError):
            parse_conditions(bad)


def test_macro_scores_leave_out_tags_without_positives_or_negatives():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, (40, 4))
    labels[:, 1] = 0  # no positive
    labels[:, 3] = 1  # no negative
    probs = rng.random((40, 4))
    roc, ap = macro_scores(probs, labels)
    scored = scoreable(labels)
    assert scored.tolist() == [True, False, True, False]
    expected = np.mean([roc_auc_score(labels[:, j], probs[:, j]) for j in (0, 2)])
    assert roc == pytest.approx(expected)
    expected_ap = np.mean([average_precision_score(labels[:, j], probs[:, j]) for j in (0, 2)])
    assert ap == pytest.approx(expected_ap)


# --------------------------------------------------------------------------- evaluation


@pytest.fixture(scope="module")
def scored(tagger, mini_store):
    """Clean and white noise at 0 and -10 dB SNR on the mini corpus's 30 test clips."""
    return evaluate_robustness(tagger, mini_store, "noise_0db,noise_-10db")


def test_clean_row_is_the_tag_commands_macro_roc_auc(tagger, mini_labelled, scored):
    clips = load_test_clips(mini_labelled, tagger.tag_names)
    probs = np.stack([tagger.tag_file(p).probs for p in clips.paths])
    expected = np.mean(
        [roc_auc_score(clips.labels[:, j], probs[:, j]) for j in range(len(tagger.tag_names))]
    )
    clean = scored[0]
    assert clean["condition"] == "clean" and clean["clips"] == len(clips.paths) == 30
    assert clean["roc_auc"] == pytest.approx(expected, abs=1e-6)
    assert clean["roc_auc_drop"] == 0.0 and clean["pr_auc_drop"] == 0.0
    assert list(clean) == list(COLUMNS)


def test_loud_noise_scores_lower_than_clean(scored):
    clean, noise_0, noise_m10 = scored
    assert [r["condition"] for r in scored] == ["clean", "noise_0db", "noise_-10db"]
    assert all(r["clips"] == clean["clips"] for r in scored)
    # the tones of the mini corpus are narrow-band, so 0 dB of white noise costs little ROC-AUC
    # (1.000 → 0.997 for the fixture's model) but some PR-AUC; -10 dB costs a lot
    assert noise_0["roc_auc"] < clean["roc_auc"] and noise_0["pr_auc"] < clean["pr_auc"]
    assert noise_m10["roc_auc"] < noise_0["roc_auc"] and noise_m10["roc_auc_drop"] > 0.05
    assert noise_0["roc_auc_drop"] == pytest.approx(clean["roc_auc"] - noise_0["roc_auc"])


def test_a_file_that_fails_is_left_out_of_every_condition(tagger, mini_labelled, tmp_path):
    clips = load_test_clips(mini_labelled, tagger.tag_names, limit=8)
    broken = tmp_path / "broken.mp3"
    broken.write_text("not audio")
    paths = [clips.paths[0], str(broken), *clips.paths[2:]]
    errors: list[str] = []
    rows = evaluate_robustness(
        tagger,
        EvalClips(paths, clips.clip_ids, clips.labels),
        "gain_-20db",
        on_error=errors.append,
    )
    assert len(errors) == 1 and str(broken) in errors[0]
    assert [r["clips"] for r in rows] == [7, 7]


def test_taggers_scored_together_score_as_each_alone(model, mini_labelled):
    """A sweep scores its runs together (one decode and one perturbation per file and
    condition): each tagger's scores are those it gets alone."""
    import torch

    from autotag.inference import Tagger

    first, second = Tagger.load(model), Tagger.load(model)
    with torch.no_grad():  # another model: the same shape, other weights
        for w in second.net.parameters():
            w.mul_(-1.5)
    clips = load_test_clips(mini_labelled, first.tag_names, limit=10)
    together = score_conditions([first, second], clips, "noise_10db,pitch_+2")
    for tagger, scores in zip((first, second), together):
        (alone,) = score_conditions([tagger], clips, "noise_10db,pitch_+2")
        assert list(scores.probs) == ["clean", "noise_10db", "pitch_+2"]
        for name, p in alone.probs.items():
            np.testing.assert_array_equal(scores.probs[name], p)
    assert not np.allclose(together[0].probs["clean"], together[1].probs["clean"])
    assert together[0].rows() == evaluate_robustness(first, clips, "noise_10db,pitch_+2")


def test_saved_scores_vouch_for_their_tagger_and_the_clips_asked_for(
    tagger, mini_labelled, tmp_path
):
    """robustness.json names the tagger and the clips asked for: scores of clips of which one
    failed are found again for the same request, and not for another tagger, other clips, or
    a predictions.npz that no longer matches it."""
    clips = load_test_clips(mini_labelled, tagger.tag_names, limit=6)
    broken = EvalClips([clips.paths[0], str(tmp_path / "gone.mp3"), *clips.paths[2:]],
                       clips.clip_ids, clips.labels, clips.units)  # fmt: skip
    (scores,) = score_conditions([tagger], broken, "gain_-20db")
    assert len(scores.clips.paths) == 5
    out = tmp_path / "robustness"
    write_report(scores.rows(), out, "t", scores)
    ids, found = saved_scores(out, tagger.sha256, broken)
    assert ids.tolist() == np.delete(clips.clip_ids, 1).tolist()
    assert list(found) == ["clean", "gain_-20db"]
    np.testing.assert_array_equal(found["gain_-20db"], scores.probs["gain_-20db"])
    assert saved_scores(out, "another tagger", broken) == (None, {})
    assert saved_scores(out, tagger.sha256, clips.head(5)) == (None, {})
    (other,) = score_conditions([tagger], clips.head(3), "gain_-20db")
    write_predictions(out, other.tag_names, other.probs, dict.fromkeys(other.probs, other.clips.labels),
                      dict.fromkeys(other.probs, other.clips.clip_ids))  # fmt: skip
    assert saved_scores(out, tagger.sha256, broken) == (None, {})  # the npz is not the json's


# --------------------------------------------------------------------------- command line


@pytest.fixture
def cli(capsys):
    """``autotag robustness ...`` through the real entry point."""
    return lambda *argv: run_cli(capsys, "robustness", *argv)


def test_cli_writes_the_report(cli, capsys, tagger_run, tmp_path):
    out = tmp_path / "report"
    code, stdout, stderr = cli("--run", tagger_run, "--limit", "12", "--out", out)
    assert code == 0, stderr
    names = {
        "robustness.md",
        "robustness.csv",
        "robustness.png",
        "predictions.npz",
        "robustness.json",
    }
    assert {p.name for p in out.iterdir()} == names
    assert stdout == (out / "robustness.md").read_text()
    assert "| condition | ROC-AUC | PR-AUC | ROC-AUC drop | PR-AUC drop | clips |" in stdout
    with (out / "robustness.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["condition"] for r in rows] == list(DEFAULT_CONDITIONS)
    assert all(r["clips"] == "12" for r in rows)
    assert float(rows[0]["roc_auc_drop"]) == 0.0
    assert (out / "robustness.png").read_bytes()[:4] == b"\x89PNG"
    run = read_predictions(tagger_run, "test")
    for row in rows:  # each condition's clip scores are saved: its AUC again, by scikit-learn
        p = read_predictions(out, row["condition"])
        assert p.scores.shape == (12, len(p.tag_names))
        song_of = dict(zip(run.clip_ids.tolist(), run.units["song"].tolist()))
        assert list(p.units) == list(run.units)  # the training run's units: the same songs
        assert p.units["song"].tolist() == [song_of[c] for c in p.clip_ids.tolist()]
        both = [j for j in range(p.labels.shape[1]) if 0 < p.labels[:, j].sum() < 12]
        expected = np.mean([roc_auc_score(p.labels[:, j], p.scores[:, j]) for j in both])
        assert float(row["roc_auc"]) == pytest.approx(expected, abs=2e-6)
    code, stdout, stderr = run_cli(
        capsys, "compare", out, out, "--split", "noise_0db", "--json", "--resamples", "50"
    )
    assert code == 0, stderr
    assert json.loads(stdout)["roc_auc"]["difference"] == 0.0


def test_cli_reports_a_file_that_fails_and_exits_1(cli, tagger_run, mini_features, tmp_path):
    """A test clip whose file went after its store was made: reported, left out, exit 1. The
    split comes from the data config in the tagger file, joined with the store given."""
    import torch

    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.features import FeatureConfig
    from autotag.data.prepare import build_store
    from tests.helpers import MTAT, write_mini_mtat

    root = write_mini_mtat(tmp_path / "corpus", n_clips=32, seconds=3.0, seed=3)
    manifest = read_mtat(root, **MTAT)
    store = build_store(manifest, FeatureConfig.from_dict(mini_features), tmp_path / "s.h5",
                        workers=0, shard_size=32, min_audio_seconds=1.0, progress=False)  # fmt: skip
    blob = torch.load(tagger_run / "tagger.pt", weights_only=True)
    blob["config"]["data"]["root"] = str(root)  # the tagger as if trained on this corpus
    torch.save(blob, tmp_path / "tagger.pt")
    gone = manifest.paths[manifest.split.index("test")]
    Path(gone).unlink()
    out = tmp_path / "report"
    code, stdout, stderr = cli(
        "--model", tmp_path / "tagger.pt", "--store", store, "--limit", "3",
        "--conditions", "clean,mp3_32k", "--out", out,
    )  # fmt: skip
    assert code == 1
    assert [ln for ln in stderr.splitlines() if ln.startswith("error:")] == [
        f"error: {gone}: file not found"
    ]
    assert "| mp3_32k |" in stdout and stdout.count("| 2 |") == 2  # the others, in both rows


def test_cli_usage_errors_exit_2(cli, tagger_run, tmp_path):
    code, _, stderr = cli("--run", tmp_path / "no_such_run")
    assert code == 2 and "run folder not found" in stderr
    code, _, stderr = cli("--run", tagger_run, "--conditions", "clean,reverb")
    assert code == 2 and "unknown condition 'reverb'" in stderr
    code, _, stderr = cli("--model", tagger_run / "tagger.pt")
    assert code == 2 and "--store" in stderr
    assert not (tagger_run / "robustness").exists()
