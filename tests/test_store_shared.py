"""One store per audio collection: every split and tag set of a data set reads it, labels and
splits joined at load time; files it lacks are added, changed files redone, old stores read."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from omegaconf import OmegaConf

from autotag.data.datamodule import TagDataModule
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.data.frontend import FrontEnd
from autotag.data.labelled import LabelledStore, StoreMismatch
from autotag.data.manifest import top_k_tags
from autotag.data.prepare import build_store, labelled_store_of, store_of
from autotag.data.store import MelStore
from tests.helpers import MTAT, compose_train, store_digest, train_run, write_mini_mtat

SUBSETS = ("top50tags", "genre", "instrument", "moodtheme", "all")
JAMENDO = [  # the synthetic Jamendo corpus, small: 40 tracks of 3-6 s
    "data=jamendo_synthetic", "+data.generate.n_tracks=40", "+data.generate.min_seconds=3.0",
    "+data.generate.max_seconds=6.0", "features=won128", "store.workers=0",
    "store.min_audio_seconds=1.0", "loader.num_workers=0", "loader.batch_size=4",
]  # fmt: skip


@pytest.fixture
def decodes(monkeypatch) -> list[str]:
    """Every file decoded from now on (prepare runs in this process: store.workers=0)."""
    seen: list[str] = []
    real = FrontEnd.load

    def load(self, path, *args, **kwargs):
        seen.append(str(path))
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(FrontEnd, "load", load)
    return seen


def _plain(overrides: list[str]) -> dict:
    return OmegaConf.to_container(compose_train(overrides), resolve=True)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def jamendo(tmp_path_factory) -> tuple[list[str], Path]:
    """The synthetic Jamendo corpus and its store, prepared once (top50tags, split 0)."""
    tmp = tmp_path_factory.mktemp("shared")
    over = [*JAMENDO, f"data.root={tmp / 'corpus'}", f"store.dir={tmp / 'stores'}"]
    return over, store_of(_plain(over))


def test_every_split_and_subset_reads_the_one_store_without_decoding(jamendo, decodes):
    over, path = jamendo
    seen_stats = {}
    for subset in SUBSETS:
        for index in range(5):
            cfg = _plain([*over, f"data.subset={subset}", f"data.split_index={index}"])
            store = labelled_store_of(cfg)
            assert store.path == path
            dm = TagDataModule.from_config(
                store, {**cfg["loader"], "random_crop": 32}, top_k=cfg["data"]["top_k"],
                norm="global", shuffle_labels=False, seed=0,
            )  # fmt: skip
            x, y = next(iter(dm.train_dataloader()))
            assert x.shape[1:] == (128, 32) and y.shape[1] == len(dm.tag_names)
            # the split's statistics: numpy's over its training tracks' frames
            frames = np.concatenate([store.mel(i) for i in store.indices("train")], axis=1).astype(
                np.float64
            )
            assert store.stats["global_mean"] == pytest.approx(frames.mean(), rel=1e-9)
            np.testing.assert_allclose(store.stats["band_std"], frames.std(axis=1), rtol=1e-6)
            seen_stats[subset, index] = store.stats["global_mean"]
    assert decodes == []
    assert len(set(seen_stats.values())) > 5  # the splits differ, so do their statistics
    assert len(list(path.with_suffix(".stats").glob("*.json"))) >= 5  # cached beside the store
    assert list(path.parent.glob("*.h5")) == [path]


def test_another_split_trains_from_the_store_without_decoding(jamendo, decodes, tmp_path):
    over, path = jamendo
    res = train_run(
        [*over, "data.subset=genre", "data.split_index=3", "model=short_res",
         "model.width=0.125", "epochs=1", "trainer=cpu", "logger=csv", "progress_refresh=1000"],
        tmp_path,
    )  # fmt: skip
    assert decodes == [] and res["store"] == str(path)
    assert res["n_clips"]["train"] > 0 and 0.0 <= res["test"]["roc_auc"] <= 1.0


def _mtat(root: Path, stores: Path, *extra: str) -> dict:
    from tests.helpers import mini_overrides

    return _plain([*mini_overrides(root, stores), *extra])


def test_mtat_folds_and_clean_share_one_store(mini_mtat, tmp_path, decodes):
    folds = labelled_store_of(_mtat(mini_mtat, tmp_path))
    n = len(decodes)
    clean = labelled_store_of(_mtat(mini_mtat, tmp_path, "data.split=clean"))
    assert n == 160 and len(decodes) == n  # the second split decoded nothing
    assert clean.path == folds.path
    # clean's rule on the shared store: clips with a top-4 tag, >= 29.1 s (none here: 3 s clips)
    assert not clean.valid.any() and all(s.startswith("excluded: 3.00 s") for s in clean.status)
    manifest = read_mtat(mini_mtat, **MTAT)
    np.testing.assert_array_equal(folds.labels, manifest.labels)
    assert list(folds.split) == manifest.split


def _copy_without(src: Path, dst: Path, n: int) -> list[Path]:
    shutil.copytree(src, dst, copy_function=shutil.copy2)
    gone = sorted(dst.rglob("*.mp3"))[3 : 3 + n]
    for p in gone:
        p.rename(p.with_suffix(".held"))
    return gone


def test_files_added_later_are_prepared_alone_and_the_store_equals_a_fresh_one(
    mini_mtat, tmp_path, decodes, caplog
):
    root = tmp_path / "corpus"
    gone = _copy_without(mini_mtat, root, 5)  # a partial download: 5 files not there yet
    stores = tmp_path / "stores"
    first = store_of(_mtat(root, stores))
    partial = MelStore(first)
    assert sum(s.startswith("broken: file not found") for s in partial.status) == 5
    for p in gone:  # the download completes
        p.with_suffix(".held").rename(p)
    decodes.clear()
    caplog.set_level("INFO")
    again = store_of(_mtat(root, stores))
    assert again == first and sorted(decodes) == sorted(map(str, gone))  # only those 5
    assert "lacks 5 of the 160 audio files" in caplog.text
    decodes.clear()
    assert store_of(_mtat(root, stores)) == first and decodes == []  # complete now
    # what training reads equals a store prepared from the whole corpus at once
    manifest = read_mtat(root, **MTAT)
    fresh = build_store(manifest, MelStore(first).features, tmp_path / "fresh.h5",
                        workers=0, shard_size=32, min_audio_seconds=1.0, progress=False)  # fmt: skip
    assert store_digest(first, manifest) == store_digest(fresh, manifest)


def test_a_changed_file_is_prepared_again_and_add_missing_false_names_it(
    mini_mtat, tmp_path, decodes
):
    root = tmp_path / "corpus"
    shutil.copytree(mini_mtat, root)
    stores = tmp_path / "stores"
    path = store_of(_mtat(root, stores))
    before = LabelledStore(path, read_mtat(root, **MTAT))
    changed, want, kept = Path(before.paths[7]), before.mel(8), before.mel(9)
    shutil.copy(before.paths[8], changed)  # another clip's audio under this name
    decodes.clear()
    with pytest.raises(StoreMismatch, match=rf"lacks 1 of the 160 .*first: {changed}"):
        store_of(_mtat(root, stores, "store.add_missing=false"))
    assert decodes == [] and MelStore(path).valid.all()  # nothing lost
    store_of(_mtat(root, stores))
    assert decodes == [str(changed)]
    after = LabelledStore(path, read_mtat(root, **MTAT))
    np.testing.assert_array_equal(after.mel(7), want)
    np.testing.assert_array_equal(after.mel(9), kept)
    np.testing.assert_array_equal(after.rows, before.rows)  # replaced in its row: none moved


def test_a_manifest_clip_the_store_lacks_is_an_error_not_a_drop(mini_store, tmp_path):
    root = write_mini_mtat(tmp_path / "other", n_clips=16, seconds=3.0, seed=9)
    with pytest.raises(StoreMismatch, match=r"lacks 16 clip\(s\) of the manifest"):
        LabelledStore(mini_store, read_mtat(root, **MTAT))
    with pytest.raises(StoreMismatch, match="holds audio features only"):
        LabelledStore(mini_store)


def _write_version_1(store: LabelledStore, path: Path) -> None:
    """A store of one split as autotag wrote them before stores were shared (the layout its
    docstring gave): the audio, and the manifest's labels, splits and training statistics."""
    with h5py.File(store.path) as src, h5py.File(path, "w") as f:
        for name in ("mel", "clip_id", "path", "rel_path", "status", "valid", "duration"):
            src.copy(name, f)
        strings = h5py.string_dtype()
        f.create_dataset("labels", data=store.labels)
        f.create_dataset("tag_names", data=np.array(store.tag_names, dtype=object), dtype=strings)
        f.create_dataset("tag_counts", data=store.tag_counts)
        f.create_dataset("split", data=np.array(store.split, dtype=object), dtype=strings)
        st = f.create_group("stats")
        st.create_dataset("band_mean", data=store.stats["band_mean"])
        st.create_dataset("band_std", data=store.stats["band_std"])
        st.attrs.update({k: store.stats[k] for k in ("global_mean", "global_std")})
        st.attrs.update(n_clips=int(store.stats["n_clips"]), n_values=int(store.stats["n_values"]))
        f.attrs.update(features=src.attrs["features"], complete=True)


def test_a_store_made_before_sharing_still_loads_and_trains(mini_labelled, tmp_path):
    old = tmp_path / "mtat-folds-mini-0123456789.h5"
    _write_version_1(mini_labelled, old)
    legacy = LabelledStore(old)  # no manifest: it holds its own
    assert store_digest(old) == store_digest(mini_labelled.path, mini_labelled.manifest)
    dm = TagDataModule(old, top_k=4, norm="global", batch_size=8, num_workers=0,
                       in_memory=True, random_crop=None, eval_chunks=1, crops_per_item=1,
                       shuffle_labels=False, seed=0, train_fraction=1.0)  # fmt: skip
    dm.setup()
    assert dm.tag_names == top_k_tags(mini_labelled.tag_names, mini_labelled.tag_counts, 4)
    assert legacy.stats["global_mean"] == mini_labelled.stats["global_mean"]
    assert len(next(iter(dm.train_dataloader()))) == 8  # in memory: the batch's item indices
    with pytest.raises(ValueError, match="a store of one split, made before"):
        build_store(mini_labelled.manifest, mini_labelled.features, old, workers=0,
                    shard_size=32, min_audio_seconds=1.0, progress=False)  # fmt: skip


def test_old_stores_in_the_store_folder_are_pointed_at(mini_labelled, mini_mtat, tmp_path, caplog):
    stores = tmp_path / "stores"
    stores.mkdir()
    old = stores / "mtat-folds-seed-0123456789.h5"  # data.name, split, features.name, hash
    _write_version_1(mini_labelled, old)
    caplog.set_level("WARNING")
    path = store_of(_mtat(mini_mtat, stores))  # the shared store is new: it is prepared
    assert old.name in caplog.text and "not used" in caplog.text and path != old


def test_whole_tracks_added_later_and_changed_keep_the_others_in_place(
    tmp_path, decodes, mini_features
):
    from autotag.data.datasets.jamendo.reader import read_jamendo
    from autotag.data.excerpt import Excerpt
    from autotag.data.features import FeatureConfig
    from tests.helpers import write_mini_jamendo

    root = write_mini_jamendo(tmp_path / "corpus", n_tracks=24)
    held = sorted((root / "audio").rglob("*.mp3"))[:3]
    for p in held:
        p.rename(p.with_suffix(".held"))
    read = dict(subset="top50tags", split_index=0, categories=None, audio="audio")
    read |= dict(audio_root=None, missing_audio="skip")
    feats = FeatureConfig.from_dict(mini_features)
    build = dict(workers=0, shard_size=5, min_audio_seconds=1.0, progress=False)
    build["excerpt"] = Excerpt.from_dict({"policy": "full", "seconds": 30.0, "k": 3,
                                          "max_minutes": 10.0, "seed": 0})  # fmt: skip
    path = build_store(read_jamendo(root, **read), feats, tmp_path / "s.h5", **build)
    first = MelStore(path)
    for p in held:
        p.with_suffix(".held").rename(p)
    manifest = read_jamendo(root, **read)
    keep = LabelledStore(path, manifest)
    before = {p: keep.mel(i) for i, p in enumerate(keep.paths)}
    fine = [p for p in keep.paths if p not in map(str, held)]
    changed, source = Path(fine[0]), fine[1]
    shutil.copy(source, changed)
    decodes.clear()
    build_store(manifest, feats, path, **build)
    assert sorted(decodes) == sorted(map(str, [*held, changed]))
    after = MelStore(path)
    # the first store's items kept their rows and their frames their columns
    assert after.paths[: len(first)].tolist() == first.paths.tolist()
    for r in range(len(first)):
        if first.paths[r] != str(changed) and first.valid[r]:
            np.testing.assert_array_equal(after.segments_of(r), first.segments_of(r))
    joined = LabelledStore(path, manifest)
    for i, p in enumerate(joined.paths):
        if p in fine:
            np.testing.assert_array_equal(joined.mel(i), before[source if p == str(changed) else p])
    fresh = build_store(manifest, feats, tmp_path / "fresh.h5", **build)
    assert store_digest(path, manifest) == store_digest(fresh, manifest)


def _catalogue(root: Path, rows: list[tuple[str, str]]) -> Path:
    csv = root / "catalogue.csv"
    csv.write_text("path,tags,split\n" + "".join(f"{p},{t},{s}\n" for p, t, s in rows))
    return csv


def test_a_catalogue_that_grows_gets_its_new_rows_appended(mini_mtat, tmp_path, decodes):
    """A fixed-size store given more rows than it has: the old rows copied, the new appended."""
    from autotag.data.datasets.catalog.reader import read_catalog

    files = sorted(mini_mtat.rglob("*.mp3"))[:37]
    rows = [(str(f), "guitar" if k % 2 else "slow", ("train", "val", "test")[k % 3])
            for k, f in enumerate(files)]  # fmt: skip
    read = dict(split="folds", top_k=2, audio_root=None, val_percent=10.0, test_percent=10.0)
    build = dict(workers=0, shard_size=8, min_audio_seconds=1.0, progress=False)
    feats = MelStore(store_of(_mtat(mini_mtat, tmp_path / "ref"))).features
    small = read_catalog(_catalogue(tmp_path, rows[:30]), **read)
    path = build_store(small, feats, tmp_path / "s.h5", **build)
    decodes.clear()
    big = read_catalog(_catalogue(tmp_path, rows), **read)
    build_store(big, feats, path, **build)
    assert sorted(decodes) == sorted(str(f) for f in files[30:])
    assert MelStore(path).paths.tolist()[:30] == [str(f) for f in files[:30]]
    fresh = build_store(big, feats, tmp_path / "fresh.h5", **build)
    assert store_digest(path, big) == store_digest(fresh, big)
    # a file listed twice reads as one row, wherever asked for
    twice = read_catalog(_catalogue(tmp_path, [*rows, rows[4]]), **read)
    joined = LabelledStore(path, twice)
    x = joined.mels(np.array([len(rows), 4, 3]))
    np.testing.assert_array_equal(x[0], x[1])
    np.testing.assert_array_equal(x[2], joined.mel(3))


def test_a_running_prepare_of_other_files_is_never_cleared(mini_mtat, mini_features, tmp_path):
    import os

    from autotag.data.features import FeatureConfig
    from autotag.data.parts import STALE_LOCK_S

    path = tmp_path / "s.h5"
    parts = path.with_suffix(".parts")
    parts.mkdir()
    (parts / "key.json").write_text('{"items": "another prepare"}')
    (parts / "shard-000000.npz").write_bytes(b"its unit")
    m, feats = read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features)
    build = dict(workers=0, shard_size=64, min_audio_seconds=1.0, progress=False)
    with pytest.raises(RuntimeError, match="another prepare of other files is under way"):
        build_store(m, feats, path, **build)
    assert (parts / "shard-000000.npz").read_bytes() == b"its unit"  # not touched
    old = time.time() - STALE_LOCK_S - 60  # that prepare stopped long ago: cleared
    for p in parts.iterdir():
        os.utime(p, (old, old))
    build_store(m, feats, path, **build)
    assert MelStore(path).valid.all() and not parts.exists()


def test_a_store_rewritten_while_preparing_is_planned_again(
    mini_mtat, mini_features, tmp_path, monkeypatch, caplog
):
    import os

    import autotag.data.prepare as prepare_mod
    from autotag.data.features import FeatureConfig

    root = tmp_path / "corpus"
    gone = _copy_without(mini_mtat, root, 4)
    feats = FeatureConfig.from_dict(mini_features)
    build = dict(workers=0, shard_size=64, min_audio_seconds=1.0, progress=False)
    path = build_store(read_mtat(root, **MTAT), feats, tmp_path / "s.h5", **build)
    for p in gone:
        p.with_suffix(".held").rename(p)
    real = prepare_mod._run_tasks

    rewrites = []

    def then_another_task_rewrites_it(*args, **kwargs):
        real(*args, **kwargs)
        if not rewrites:  # once: the second plan finds the store as it is
            rewrites.append(path)
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))

    monkeypatch.setattr(prepare_mod, "_run_tasks", then_another_task_rewrites_it)
    caplog.set_level("WARNING")
    build_store(read_mtat(root, **MTAT), feats, path, **build)
    assert "changed while this task prepared" in caplog.text
    fresh = build_store(read_mtat(root, **MTAT), feats, tmp_path / "fresh.h5", **build)
    m = read_mtat(root, **MTAT)
    assert store_digest(path, m) == store_digest(fresh, m)


def test_a_unit_of_other_files_stops_the_assembly(mini_mtat, mini_features, tmp_path, monkeypatch):
    import autotag.data.prepare as prepare_mod
    from autotag.data.features import FeatureConfig

    real = prepare_mod.save_unit

    def mislabel(parts, result):  # a unit written by a prepare of other files
        real(parts, {**result, "paths": result["paths"][::-1]})

    monkeypatch.setattr(prepare_mod, "save_unit", mislabel)
    with pytest.raises(RuntimeError, match="holds other files than this prepare planned"):
        build_store(read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features),
                    tmp_path / "s.h5", workers=0, shard_size=64, min_audio_seconds=1.0,
                    progress=False)  # fmt: skip
    assert not (tmp_path / "s.h5").exists()


def test_a_units_folder_already_assembled_and_removed_gives_no_lock(tmp_path):
    """A shard task that finished its last unit as another assembled and cleared the folder."""
    from autotag.data.parts import take_lock

    assert take_lock(tmp_path / "gone.parts", shard_task=True) is None
    assert take_lock(tmp_path / "gone.parts", shard_task=False) is None
