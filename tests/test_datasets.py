"""The data set registry: a new data set is one folder plus one YAML; the reader's keys are
checked against its signature; ``autotag synth`` and the config's twin write the same corpus."""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
from omegaconf import OmegaConf

import autotag.data.datasets as datasets_package
from autotag.data.datasets import datasets, load_manifest
from autotag.data.labelled import LabelledStore
from autotag.data.manifest import DataError
from autotag.data.prepare import ensure_store
from tests.helpers import SR, compose_train, run_cli, tone

TOY_READER = '''
from pathlib import Path

import numpy as np

from autotag.data.manifest import Manifest


def read_toy(root, *, labels: str, tag_sep: str = ","):
    """A tab-separated list in root: file, tags, split."""
    rows = [line.split("\\t") for line in (Path(root) / labels).read_text().splitlines()]
    tags = sorted({t for _, ts, _ in rows for t in ts.split(tag_sep)})
    y = np.array([[t in ts.split(tag_sep) for t in tags] for _, ts, _ in rows], np.uint8)
    return Manifest(
        source="toy",
        clip_ids=np.arange(len(rows), dtype=np.int64),
        paths=[str(Path(root) / f) for f, _, _ in rows],
        rel_paths=[f for f, _, _ in rows],
        split=[s for _, _, s in rows],
        tag_names=tags,
        labels=y,
    )
'''
TOY_ENTRY = """
from autotag.data.datasets.registry import Dataset
from autotag.data.datasets.toy.reader import read_toy

DATASET = Dataset(name="toy", reader=read_toy)
"""
TOY_YAML = """# @package _global_
data:
  name: toy
  reader: toy
  root: ???
  split: folds
  top_k: 2
  labels: labels.tsv
"""
FEATURES = ["features.n_mels=24", "features.n_fft=512", "features.hop_length=256"]
FEATURES += ["features.clip_seconds=3.0", "features.n_frames=188"]


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The toy data set's folder and YAML, both in tmp_path: its folder is found because the
    datasets package's search path (its ``__path__``, as for any package) includes it."""
    folder = tmp_path / "datasets" / "toy"
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text('"""A toy data set."""\n')
    (folder / "reader.py").write_text(TOY_READER)
    (folder / "entry.py").write_text(TOY_ENTRY)
    (tmp_path / "conf" / "data").mkdir(parents=True)
    (tmp_path / "conf" / "data" / "toy.yaml").write_text(TOY_YAML)
    paths = [*datasets_package.__path__, str(tmp_path / "datasets")]
    monkeypatch.setattr(datasets_package, "__path__", paths)
    for name in [m for m in sys.modules if m.startswith("autotag.data.datasets.toy")]:
        monkeypatch.delitem(sys.modules, name)
    yield tmp_path
    for name in [m for m in sys.modules if m.startswith("autotag.data.datasets.toy")]:
        del sys.modules[name]


def test_a_new_data_set_is_one_folder_and_one_yaml(toy: Path) -> None:
    root = toy / "audio"
    root.mkdir()
    clips = [("a.wav", ("guitar",), "train"), ("b.wav", ("techno",), "train")]
    clips += [("c.wav", ("guitar", "techno"), "val"), ("d.wav", ("slow",), "test")]
    for i, (name, tags, _) in enumerate(clips):
        sf.write(root / name, tone(3.0, tags, seed=i), SR)
    (root / "labels.tsv").write_text("".join(f"{n}\t{','.join(t)}\t{s}\n" for n, t, s in clips))
    assert "toy" in datasets()
    cfg = compose_train(
        ["data=toy", f"data.root={root}", f"store.dir={toy / 'stores'}"]
        + ["store.workers=0", f"hydra.searchpath=[file://{toy / 'conf'}]", *FEATURES]
    )
    data = OmegaConf.to_container(cfg.data, resolve=True)
    features = OmegaConf.to_container(cfg.features, resolve=True)
    store_cfg = OmegaConf.to_container(cfg.store, resolve=True)
    store = ensure_store(data, features, **store_cfg, progress=False)
    with h5py.File(store, "r") as f:
        assert list(f["rel_path"].asstr()[()]) == [n for n, _, _ in clips]
    joined = LabelledStore(store, load_manifest(data))
    assert joined.tag_names == ["guitar", "slow", "techno"]
    assert list(joined.split) == [s for _, _, s in clips]
    want = [[t in tags for t in ("guitar", "slow", "techno")] for _, tags, _ in clips]
    np.testing.assert_array_equal(joined.labels, np.array(want, np.uint8))
    # the toy reader's own key is checked like any reader's
    with pytest.raises(DataError, match=r"data\.labelz: .*its keys: labels, tag_sep"):
        load_manifest({**{k: v for k, v in data.items() if k != "labels"}, "labelz": "x"})


def test_unknown_and_missing_reader_keys_name_the_valid_ones(tmp_path: Path) -> None:
    cfg = compose_train(["data=mtat", f"data.root={tmp_path}", "+data.subset=genre"])
    data = OmegaConf.to_container(cfg.data, resolve=True)
    with pytest.raises(DataError, match=r"data\.subset: .*read_mtat \(its keys: split, top_k\)"):
        load_manifest(data)
    with pytest.raises(DataError, match=r"data: subset, split_index.* missing"):
        load_manifest({"reader": "jamendo", "root": str(tmp_path), "audio": "audio"})
    with pytest.raises(DataError, match=r"data\.reader='nope': choose one of csv, jamendo, mtat"):
        load_manifest({"reader": "nope", "root": str(tmp_path)})
    csv = compose_train(["data=csv", f"data.root={tmp_path / 'c.csv'}", "+data.generate={}"])
    with pytest.raises(DataError, match="the csv data set has no synthetic twin"):
        load_manifest(OmegaConf.to_container(csv.data, resolve=True))


def test_config_twin_and_autotag_synth_write_the_same_corpus(tmp_path, capsys) -> None:
    """`data=synthetic` with generate keys and `autotag synth mtat` with the same flags: the
    same files, byte for byte (one generator, its defaults read from one signature)."""
    gen = ["+data.generate.n_clips=20", "+data.generate.clip_seconds=2.0"]
    gen += ["+data.generate.workers=1", "+data.generate.broken=false"]
    cfg = compose_train(["data=synthetic", f"data.root={tmp_path / 'a'}", *gen])
    manifest = load_manifest(OmegaConf.to_container(cfg.data, resolve=True))
    assert len(manifest) == 20
    argv = ["synth", "mtat", "--root", tmp_path / "b", "--clips", "20", "--seconds", "2"]
    code, out, _ = run_cli(capsys, *argv, "--workers", "1", "--no-broken", "--quiet")
    assert code == 0 and "synthetic MTAT" in out
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    assert len(files) == 23  # 20 clips, the two CSVs and the info file
    for rel in files:
        a, b = (tmp_path / "a" / rel).read_bytes(), (tmp_path / "b" / rel).read_bytes()
        assert a == b or rel.name == "synthetic_info.json", rel  # the info names its root
    # another corpus in the same root is refused in one line (exit 2), not a traceback
    code, _, err = run_cli(capsys, *argv[:4], "--clips", "21", "--quiet")
    assert code == 2 and "other parameters" in err


def test_every_data_set_entry_is_complete() -> None:
    found = datasets()
    assert set(found) >= {"mtat", "jamendo", "csv"}
    for name in ("mtat", "jamendo"):
        d = found[name]
        assert d.twin and d.download and d.synth, name


def test_a_twin_that_failed_to_render_a_file_is_an_error_not_a_partial_corpus(
    tmp_path, monkeypatch
):
    from autotag.data.datasets import registry
    from autotag.data.manifest import DataError

    calls = []
    twin = registry.Twin(
        generate=lambda root, n: calls.append(n) or {"failed": [7, 9]},
        exists=lambda root: False,
    )
    fake = registry.Dataset(
        "fake", reader=lambda root: pytest.fail("read a partial corpus"), twin=twin
    )
    monkeypatch.setattr(registry, "get_dataset", lambda name: fake)
    data = {"reader": "fake", "root": str(tmp_path), "name": "fake", "generate": {"n": 3}}
    with pytest.raises(
        DataError, match=r"incomplete: 2 file\(s\) failed to render \(7, 9\); run again"
    ):
        registry.load_manifest(data)
    assert calls == [3]
