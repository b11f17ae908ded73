"""Test helpers: small MTAT-format corpora written directly (independent of the synthetic
generator), overrides that train in seconds, composing the real configs."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import h5py
import numpy as np
import soundfile as sf

from autotag.data.datasets.mtat.layout import CLIP_INFO_COLUMNS

FOLDERS = "0123456789abcdef"
TAGS188 = resources.files("autotag.data.resources").joinpath("tags188.txt").read_text().split("\n")
TAGS188 = [t for t in TAGS188 if t]
# learnable tags: each is a tone in its own frequency band
TONE_TAGS = {"guitar": 300.0, "classical": 700.0, "techno": 1500.0, "slow": 3000.0}


def quote_row(values: list) -> str:
    return "\t".join(f'"{v}"' for v in values)


def write_mini_mtat(
    root: Path,
    n_clips: int = 64,
    seconds: float = 3.0,
    seed: int = 0,
    sr: int = 16000,
    fmt: str = "MP3",
) -> Path:
    """An MTAT-layout corpus whose four most frequent tags are audible tones.

    Tag probabilities fall with the tag order of TONE_TAGS, so the top-4 is guitar, classical,
    techno, slow. Every clip has low background noise. Clip ``i`` is in folder ``FOLDERS[i % 16]``.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    probs = {"guitar": 0.5, "classical": 0.4, "techno": 0.35, "slow": 0.3}
    t = np.arange(int(seconds * sr)) / sr
    ann, info = [], []
    for i in range(n_clips):
        folder = FOLDERS[i % 16]
        (root / folder).mkdir(exist_ok=True)
        rel = f"{folder}/artist_{folder}-album_{folder}-{i:02d}-title_{i}-0-29.mp3"
        labels = np.zeros(len(TAGS188), dtype=int)
        x = 0.01 * rng.standard_normal(len(t))
        for tag, f in TONE_TAGS.items():
            if rng.random() < probs[tag]:
                labels[TAGS188.index(tag)] = 1
                x += 0.2 * np.sin(2 * np.pi * f * t + rng.random() * 6.28)
        labels[TAGS188.index("rock")] = int(rng.random() < 0.1)  # a rarer, inaudible tag
        sf.write(root / rel, x.astype(np.float32), sr, format=fmt)
        cid = 2 + 3 * i
        ann.append([cid, *labels.tolist(), rel])
        info.append(
            [
                cid,
                1,
                f"title {i}",
                f"artist {folder}",
                f"album {folder}",
                "http://example",
                0,
                29,
                "http://example",
                rel,
            ]
        )
    (root / "annotations_final.csv").write_text(
        "\n".join([quote_row(["clip_id", *TAGS188, "mp3_path"]), *map(quote_row, ann)]) + "\n"
    )
    cols = list(CLIP_INFO_COLUMNS)
    (root / "clip_info_final.csv").write_text(
        "\n".join([quote_row(cols), *map(quote_row, info)]) + "\n"
    )
    return root


ROOT = Path(__file__).resolve().parents[1]


def _reader_args(name: str, keys: tuple[str, ...]) -> dict:
    """Reader arguments as the shipped ``conf/data/<name>.yaml`` sets them (its own keys)."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.load(ROOT / f"conf/data/{name}.yaml").data  # a global YAML: its data: block
    return {k: cfg[k] for k in keys}


MTAT = _reader_args("mtat", ("split", "top_k"))  # folds, top 50
CATALOG = _reader_args("csv", ("split", "top_k", "val_percent", "test_percent", "audio_root"))
MINI_POOLS = "[[2,4],[2,4],[2,4],[1,2]]"


def mini_overrides(mini_mtat: Path, store_dir: Path) -> list[str]:
    """Overrides that train a narrow FCN on the mini corpus in seconds."""
    return [
        "data=mtat",
        f"data.root={mini_mtat}",
        f"store.dir={store_dir}",
        "data.top_k=4",
        "loader.batch_size=8",
        "loader.num_workers=0",
        "store.workers=0",
        "features.n_mels=24",
        "features.n_fft=512",
        "features.hop_length=256",
        "features.clip_seconds=3.0",
        "features.n_frames=188",
        "model.width=0.0625",
        f"model.pools={MINI_POOLS}",
        "trainer=cpu",
        "trainer.enable_model_summary=false",
        "logger=csv",
        "progress_refresh=1000",
    ]


def compose_train(overrides: list[str]):
    """Compose conf/train.yaml like `python train.py ...` would (no Hydra state is left set)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=overrides)


def train_run(overrides: list[str], run_dir: Path) -> dict:
    """Compose the config and fit it in ``run_dir`` (paths in the overrides are absolute)."""
    from autotag.training.run import fit

    return fit(compose_train(overrides), out_dir=run_dir)


SR = 16000


def tone(seconds: float, tags: tuple[str, ...] = ("guitar",), sr: int = SR, seed: int = 0):
    """Low noise plus the tones of ``tags`` (as in the mini corpus)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.01 * rng.standard_normal(len(t))
    for tag in tags:
        x += 0.2 * np.sin(2 * np.pi * TONE_TAGS[tag] * t + rng.random() * 6.28)
    return x.astype(np.float32)


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    """``autotag ARGV...`` in this process: (exit code, stdout, stderr)."""
    from autotag.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def labelled(store: str | Path, root: Path, **read):
    """The store at ``store`` joined with the mini MTAT corpus at ``root`` (read as :data:`MTAT`
    says, or with ``read``'s arguments)."""
    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.labelled import LabelledStore

    return LabelledStore(store, read_mtat(root, **{**MTAT, **read}))


def store_digest(path: Path, manifest=None) -> str:
    """sha256 of what a store gives training, joined with ``manifest`` (spectrograms, labels,
    clip list, statuses, durations, training statistics, features): equal digests mean stores
    that train identically. The bytes are those a store of one split held before stores were
    shared (its datasets, its statistics' attributes as h5py read them back), so a digest taken
    then still holds."""
    import hashlib

    from autotag.data.labelled import LabelledStore

    s = LabelledStore(path, manifest)
    h = hashlib.sha256()
    if s.ragged:  # whole tracks: each one's frames
        for i in range(len(s)):
            h.update(np.ascontiguousarray(s.mel(i)).tobytes())
    else:
        h.update(np.ascontiguousarray(s.mels(np.arange(len(s)))).tobytes())
    h.update(np.ascontiguousarray(s.labels, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(s.valid).tobytes())
    h.update(np.ascontiguousarray(s.duration, dtype=np.float32).tobytes())
    h.update(np.ascontiguousarray(s.clip_ids, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(s.tag_counts, dtype=np.int64).tobytes())
    rel = s.manifest.included().rel_paths if s.manifest is not None else s.items.rel_paths
    for values in (s.status, s.split, s.tag_names, rel):
        h.update("\n".join(map(str, values)).encode())
    for name in ("band_mean", "band_std"):
        h.update(np.asarray(s.stats[name], dtype=np.float64).tobytes())
    for key, kind in (("global_mean", np.float64), ("global_std", np.float64)):
        h.update(repr(kind(s.stats[key])).encode())
    for key in ("n_clips", "n_values"):
        h.update(repr(np.int64(s.stats[key])).encode())
    # the features by name and digest: keys added later (at their defaults) change neither
    h.update(f"{s.features.name}:{s.features.digest()}".encode())
    return h.hexdigest()


JAMENDO_TONES = {  # learnable tags of the mini Jamendo corpus: a tone each
    "genre---rock": 300.0,
    "instrument---piano": 700.0,
    "mood/theme---happy": 1500.0,
    "genre---jazz": 3000.0,
}
JAMENDO_HEADER = "TRACK_ID\tARTIST_ID\tALBUM_ID\tPATH\tDURATION\tTAGS"
JAMENDO_SUBSETS = {"all": "", "top50tags": "_top50tags", "genre": "_genre"}
JAMENDO_SUBSETS |= {"instrument": "_instrument", "moodtheme": "_moodtheme"}


def write_mini_jamendo(
    root: Path,
    n_tracks: int = 40,
    seconds: tuple[float, float] = (3.0, 9.0),
    seed: int = 0,
    sr: int = 16000,
    n_artists: int = 10,
    orphans: int = 0,
) -> Path:
    """An MTG-Jamendo-layout corpus (metadata, subsets, 5 artist-disjoint splits, audio/NN/ID.mp3)
    whose tags are tones, tracks of ``seconds`` lengths; written here, independent of the
    synthetic generator. Every track also has the inaudible ``instrument---voice`` half the time.
    The split ``i`` puts artists ``a`` with ``(a + i) % 5`` in 0-2 in train, 3 validation, 4 test.
    The last ``orphans`` tracks are in the metadata but in no split (as MTG-Jamendo's splits
    leave some tracks out).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(n_tracks):
        tid = 1000 + 37 * k  # not contiguous: a reader mapping by position would fail
        artist = k % n_artists
        dur = float(rng.uniform(*seconds))
        t = np.arange(int(dur * sr)) / sr
        x = 0.01 * rng.standard_normal(len(t))
        tags = []
        for j, (tag, f) in enumerate(JAMENDO_TONES.items()):
            if rng.random() < 0.55 - 0.08 * j:
                tags.append(tag)
                x += 0.2 * np.sin(2 * np.pi * f * t + rng.random() * 6.28)
        if rng.random() < 0.5:
            tags.append("instrument---voice")
        if not tags:
            tags.append("genre---rock")
            x += 0.2 * np.sin(2 * np.pi * JAMENDO_TONES["genre---rock"] * t)
        rel = f"{tid % 100:02d}/{tid}.mp3"
        (root / "audio" / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(root / "audio" / rel, x.astype(np.float32), sr, format="MP3")
        fields = [f"track_{tid:07d}", f"artist_{artist:06d}", f"album_{artist * 2:06d}", rel]
        rows.append((-1 if k >= n_tracks - orphans else artist, [*fields, f"{dur:.1f}", *tags]))
    data = root / "data"
    category = {"genre": "genre", "instrument": "instrument", "moodtheme": "mood/theme"}
    for subset, suffix in JAMENDO_SUBSETS.items():
        keep = []
        for artist, f in rows:
            tags = [t for t in f[5:] if subset not in category or t.startswith(category[subset])]
            if tags:
                keep.append((artist, f[:5] + tags))
        _write_tsv(data / f"autotagging{suffix}.tsv", [f for _, f in keep])
        for i in range(5):
            for part, where in (("train", (0, 1, 2)), ("validation", (3,)), ("test", (4,))):
                chosen = [f for a, f in keep if a >= 0 and (a + i) % 5 in where]
                _write_tsv(
                    data / "splits" / f"split-{i}" / f"autotagging{suffix}-{part}.tsv", chosen
                )
    return root


def _write_tsv(path: Path, rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([JAMENDO_HEADER, *("\t".join(r) for r in rows)]) + "\n")


def store_content(path: Path) -> dict:
    """Every dataset and attribute of an HDF5 store."""
    out = {}
    with h5py.File(path) as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
        for k, v in f.attrs.items():
            out[f"@{k}"] = v
    return out


def assert_same_store(a: Path, b: Path) -> None:
    """Two stores hold the same datasets and attributes, value for value."""
    ca, cb = store_content(a), store_content(b)
    assert ca.keys() == cb.keys()
    for k in ca:
        np.testing.assert_array_equal(np.asarray(ca[k]), np.asarray(cb[k]), err_msg=k)


def band_mean_arch() -> type:
    """A toy network, registered as ``test_band_mean`` on first use: each mel band's mean over
    the frames, projected to ``hidden`` and classified. Any frame counts, padding too."""
    import torch
    from torch import nn

    from autotag.models import register
    from autotag.models.registry import MODELS

    if "test_band_mean" in MODELS:
        return MODELS["test_band_mean"]

    @register("test_band_mean")
    class BandMean(nn.Module):
        def __init__(self, n_mels: int, n_frames: int, n_classes: int, *, hidden: int) -> None:
            super().__init__()
            self.proj = nn.Linear(n_mels, hidden)
            self.embedding_dim = hidden
            self.classifier = nn.Linear(hidden, n_classes)

        def embed(self, x: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.proj(x.reshape(len(x), -1, x.shape[-1]).mean(-1)))

        def head(self, emb: torch.Tensor) -> torch.Tensor:
            return self.classifier(emb)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.embed(x))

    return BandMean
