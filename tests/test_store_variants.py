"""Offline training variants (``store.variants``): pitch-, tempo- and gain-perturbed copies of the
training clips, prepared once beside the store and read by the training loader only."""

from __future__ import annotations

import hashlib
import shutil
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from autotag.data import prepare_variants
from autotag.data.datamodule import TagDataModule
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.data.excerpt import Excerpt
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.data.labelled import LabelledStore
from autotag.data.prepare import build_store, labelled_store_of
from autotag.data.prepare_variants import ensure_variants
from autotag.data.variants import Variants, VariantStore, variants_path
from autotag.inference.perturb import Condition
from tests.helpers import MTAT, compose_train, mini_overrides, store_content, train_run

SPEC = Variants(k=2, pitch_semitones=2.0, tempo=1.15, gain_db=6.0, seed=0)
LOADER = dict(
    batch_size=8, num_workers=0, in_memory=False, random_crop=None, eval_chunks=1,
    crops_per_item=1, train_fraction=1.0,
)  # fmt: skip


def _build(store: Path, manifest, spec: Variants = SPEC, workers: int = 0, **kw) -> Path:
    return ensure_variants(store, manifest, spec, workers=workers, shard_size=8,
                           min_audio_seconds=1.0, progress=False, **kw)  # fmt: skip


def _store_in(folder: Path, mini_store: Path) -> Path:
    """A copy of the mini store in ``folder`` (its variants are written beside it)."""
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(mini_store, folder / mini_store.name))


def _train(manifest) -> list[str]:
    return [p for p, s in zip(manifest.paths, manifest.split) if s == "train"]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def few(mini_mtat):
    """The mini corpus's first 12 clips, all in training (folders 0-b)."""
    return read_mtat(mini_mtat, **MTAT).subset(range(12))


@pytest.fixture(scope="module")
def varied(mini_store, mini_mtat, tmp_path_factory) -> LabelledStore:
    """The mini store with the copies of all its 120 training clips, joined with its labels."""
    manifest = read_mtat(mini_mtat, **MTAT)
    store = _store_in(tmp_path_factory.mktemp("varied"), mini_store)
    return LabelledStore(store, manifest, VariantStore(_build(store, manifest)))


def test_variants_are_deterministic_given_the_seed(mini_store, few, tmp_path):
    a = _build(_store_in(tmp_path / "a", mini_store), few, workers=0)
    b = _build(_store_in(tmp_path / "b", mini_store), few, workers=2)  # the process pool
    assert a.name == b.name == variants_path(mini_store, SPEC).name
    assert _sha(a) == _sha(b)  # byte for byte, in this process or in workers
    other = Variants(**{**SPEC.to_dict(), "seed": 1})
    c = _build(_store_in(tmp_path / "c", mini_store), few, other)
    assert c.name != a.name
    va, vc = VariantStore(a), VariantStore(c)
    assert list(va.paths) == list(vc.paths) == _train(few) and len(va) == 12
    assert not np.array_equal(va.params, vc.params)
    for row in range(len(va)):
        for j in range(SPEC.k):
            assert not np.array_equal(va.mel(row, j), vc.mel(row, j))
    # the draws are numpy's, per clip: row j of a (k, 3) uniform draw seeded by (seed, path)
    for row, path in enumerate(va.paths):
        name = few.rel_paths[few.paths.index(path)]
        u = np.random.default_rng([0, zlib.crc32(name.encode())]).uniform(-1, 1, (2, 3))
        np.testing.assert_allclose(va.params[row], np.c_[2 * u[:, 0], 1.15 ** u[:, 1], 6 * u[:, 2]])
    assert np.abs(va.params[:, :, 0]).max() <= 2 and va.params[:, :, 1].min() >= 1 / 1.15


def test_a_variant_is_the_robustness_perturbation_of_the_same_strength(
    mini_store, few, mini_features, tmp_path
):
    """Decode, perturb with ``autotag robustness``'s conditions (stretch, then pitch, then
    gain) of the stored strengths, featurize as the store does: the stored copy, bit for bit."""
    v = VariantStore(_build(_store_in(tmp_path, mini_store), few))
    front = FrontEnd(FeatureConfig.from_dict(mini_features))
    original = LabelledStore(mini_store, few)
    for row in (0, 5, 11):
        x = front.load(v.paths[row])
        for j in range(v.k):
            semitones, rate, gain = v.params[row, j]
            y = Condition("tempo", "stretch", rate).apply(x, 16000)
            y = Condition("pitch", "pitch", semitones).apply(y, 16000)
            y = Condition("gain", "gain", gain).apply(y, 16000)
            expected = front.mels(front.centre(y)[None])[0].astype(np.float16)
            np.testing.assert_array_equal(v.mel(row, j), expected)
            clip = original.mel(list(original.paths).index(v.paths[row]))
            assert np.abs(v.mel(row, j).astype(float) - clip).mean() > 0.5  # not the clip


def test_an_interrupted_prepare_resumes_to_the_same_file(mini_store, few, tmp_path, monkeypatch):
    whole = _build(_store_in(tmp_path / "whole", mini_store), few)
    store = _store_in(tmp_path / "cut", mini_store)
    real_save, saved = prepare_variants.save_unit, []

    def save_then_stop(parts, res):
        if saved:
            raise KeyboardInterrupt
        real_save(parts, res)
        saved.append(res["shard"])

    monkeypatch.setattr(prepare_variants, "save_unit", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        _build(store, few)
    path = variants_path(store, SPEC)
    assert not path.exists() and len(list(path.with_suffix(".parts").glob("shard-*.npz"))) == 1
    monkeypatch.setattr(prepare_variants, "save_unit", real_save)
    units: list[int] = []
    real_vary = prepare_variants.vary_unit
    monkeypatch.setattr(prepare_variants, "vary_unit", lambda t: units.append(t[0]) or real_vary(t))
    assert _build(store, few) == path
    assert units == [1]  # the unit not written before (12 clips, 8 a unit)
    assert _sha(path) == _sha(whole) and not path.with_suffix(".parts").exists()


def test_more_training_clips_are_added_and_the_others_keep_their_rows(
    mini_store, mini_mtat, few, tmp_path
):
    grown = read_mtat(mini_mtat, **MTAT).subset(range(24))
    store = _store_in(tmp_path / "grow", mini_store)
    first = VariantStore(_build(store, few))
    before = [first.mel(r, 1) for r in range(len(first))]
    stamp = first.path.stat().st_mtime_ns
    assert _build(store, few) == first.path and first.path.stat().st_mtime_ns == stamp  # no-op
    after = VariantStore(_build(store, grown))
    n = len(_train(grown))
    assert n == 20 and len(after) == n and list(after.paths[:12]) == list(first.paths)
    for r, mel in enumerate(before):
        np.testing.assert_array_equal(after.mel(r, 1), mel)
    fresh = VariantStore(_build(_store_in(tmp_path / "fresh", mini_store), grown))
    rows = fresh.rows_of(after.paths)
    np.testing.assert_array_equal(after.mels(np.arange(n)), fresh.mels(rows))
    np.testing.assert_array_equal(after.params, fresh.params[rows])


def test_copies_of_a_file_changed_since_are_made_again(mini_store, few, tmp_path, monkeypatch):
    path = _build(_store_in(tmp_path, mini_store), few)
    before = store_content(path)
    with h5py.File(path, "r+") as f:  # row 3 made from an older version of its file
        f["file_mtime"][3] -= 1
        f["mel"][3] = 0
    redone: list[str] = []
    real_vary = prepare_variants.vary_unit
    monkeypatch.setattr(
        prepare_variants, "vary_unit", lambda t: redone.extend(t[1]) or real_vary(t)
    )
    _build(path.parent / mini_store.name, few)
    assert redone == [before["path"][3].decode()]
    after = store_content(path)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_a_copy_of_a_changed_file_is_not_served(varied):
    index = varied.indices("train")
    rows = varied.variant_rows(index)
    assert (rows >= 0).all()
    items = varied.items
    stamps = items.stamps.copy()
    stamps[varied.rows[index[0]], 1] += 1  # its file was prepared again since
    items.stamps, saved = stamps, items.stamps
    try:
        assert varied.variant_rows(index[:2]).tolist() == [-1, rows[1]]
    finally:
        items.stamps = saved


def _plain(overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose_train(overrides), resolve=True)  # type: ignore[return-value]


def _versions(store: LabelledStore, i: int) -> list[bytes]:
    """The bytes of clip ``i``'s versions: itself, then its copies."""
    row = store.variant_rows(np.array([i]))[0]
    copies = [store.variants.mel(row, j) for j in range(store.variants.k)]
    return [np.ascontiguousarray(x).tobytes() for x in (store.mel(i), *copies)]


def _module(store: LabelledStore, **loader) -> TagDataModule:
    dm = TagDataModule(store, **{**LOADER, **loader}, top_k=4, norm="global",
                       shuffle_labels=False, seed=0)  # fmt: skip
    dm.setup()
    return dm


@pytest.mark.parametrize("in_memory", [False, True])
def test_the_loader_serves_clips_and_copies_to_training_only(varied, in_memory):
    plain = LabelledStore(varied.items, varied.manifest)  # the same store without variants
    on, off = _module(varied, in_memory=in_memory), _module(plain, in_memory=in_memory)
    for split in ("val", "test"):  # untouched: what the k = 0 loaders give
        ds, ref = on.datasets[split], off.datasets[split]
        assert ds.variant_rows is None and ds.k == 0
        np.testing.assert_array_equal(ds.labels, ref.labels)
        if in_memory:  # the batches are gathered from these
            np.testing.assert_array_equal(ds.cache, ref.cache)
            continue
        loaders = getattr(on, f"{split}_dataloader")(), getattr(off, f"{split}_dataloader")()
        batches = [list(loader) for loader in loaders]
        assert len(batches[0]) == len(batches[1]) > 0
        for (xa, ya), (xb, yb) in zip(*batches):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)
    train = on.datasets["train"]
    label_of = {}
    kind = {}  # bytes of every version of every training clip → 0 (the clip) or j + 1
    for n, i in enumerate(train.index):
        for v, key in enumerate(_versions(varied, i)):
            kind[key] = v
            label_of[key] = train.labels[n]
    seen = []
    torch.manual_seed(0)
    np.random.seed(0)
    for _ in range(3):  # epochs
        for batch in on.train_dataloader():
            x, y = on.on_after_batch_transfer(batch, 0)
            for xi, yi in zip(x, y):
                key = xi.half().numpy().tobytes()
                assert key in kind  # a clip or one of its copies, with the clip's labels
                np.testing.assert_array_equal(yi.numpy(), label_of[key])
                seen.append(kind[key])
    counts = np.bincount(seen, minlength=3)
    assert len(seen) == 3 * len(train.index) and (counts > 0.25 * len(seen)).all(), counts


def test_off_draws_nothing_and_reads_the_clips_as_before(mini_labelled):
    """k = 0: the items are the clips with the random crops a run without variants draws."""
    dm = _module(mini_labelled, random_crop=64)
    train = dm.datasets["train"]
    assert train.variant_rows is None and train.k == 0
    np.random.seed(3)
    got = [train[i][0].numpy() for i in range(20)]
    np.random.seed(3)
    for i, x in enumerate(got):
        clip = mini_labelled.mel(train.index[i])
        start = np.random.randint(0, clip.shape[-1] - 64 + 1)  # random_crop's one draw
        np.testing.assert_array_equal(x, clip[:, start : start + 64])


def test_the_config_turns_them_on_and_off(mini_mtat, tmp_path):
    over = mini_overrides(mini_mtat, tmp_path / "stores")
    off = labelled_store_of(_plain(over))
    assert off.variants is None and not list((tmp_path / "stores").glob("*variants*"))
    on = labelled_store_of(_plain([*over, "store.variants.k=1"]))
    assert on.path == off.path and on.variants.k == 1
    assert on.variants.path == variants_path(off.path, Variants(1, 2.0, 1.15, 0.0, 0))
    index = on.indices("train")
    assert (on.variant_rows(index) >= 0).all() and len(on.variants) == len(index)
    res = train_run([*over, "store.variants.k=1", "epochs=1"], tmp_path / "run")
    assert res["test"]["roc_auc"] > 0.8  # one epoch of clips and copies learns the tones


def test_bad_specs_and_whole_tracks_are_refused(mini_mtat, mini_features, tmp_path):
    for bad in ({"k": -1}, {"tempo": 0.9}, {"pitch_semitones": -1.0}):
        with pytest.raises(ValueError, match="store.variants"):
            Variants.from_dict({**SPEC.to_dict(), **bad})
    with pytest.raises(ValueError, match="unknown: \\['pitch'\\]"):
        Variants.from_dict({**SPEC.to_dict(), "pitch": 1})
    few = read_mtat(mini_mtat, **MTAT).subset(range(4))
    excerpt = Excerpt(policy="full", seconds=30.0, k=1, max_minutes=10.0, seed=0)
    tracks = build_store(few, FeatureConfig.from_dict(mini_features), tmp_path / "t.h5",
                         workers=0, shard_size=8, min_audio_seconds=1.0, progress=False,
                         excerpt=excerpt)  # fmt: skip
    with pytest.raises(ValueError, match="whole tracks"):
        _build(tracks, few)


def test_the_file_holds_what_its_docstring_says(varied):
    content = store_content(varied.variants.path)
    n, k = len(varied.variants), 2
    assert content["mel"].shape == (n, k, 24, 188) and content["mel"].dtype == np.float16
    assert content["params"].shape == (n, k, 3) and set(content["status"]) == {b"ok"}
    assert content["@store"] == varied.path.name and content["@complete"]
    with h5py.File(varied.variants.path) as f:
        assert f["mel"].chunks == (1, 1, 24, 188)  # one copy: one chunk
