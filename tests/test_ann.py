"""The approximate index (autotag/inference/ann.py) and `autotag index` / `similar --ann`."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf

from autotag.cli import main
from autotag.inference.ann import ModelMismatchError, build, load
from autotag.inference.embed import INDEX_FORMAT, IndexFileError, read_index
from autotag.inference.similar import similar, similar_ann
from tests.helpers import SR, run_cli, tone

TAGS = ["rock", "jazz", "pop"]


def clustered(n: int, dim: int = 32, n_clusters: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim))
    return (centres[rng.integers(0, n_clusters, n)] + 0.4 * rng.standard_normal((n, dim))).astype(
        np.float32
    )


def write_embeddings(path: Path, vecs: np.ndarray, names: list[str], sha: str = "a" * 64) -> Path:
    """An embedding file in the layout `autotag embed` writes (autotag/inference/embed.py)."""
    s = h5py.string_dtype()
    n = len(names)
    with h5py.File(path, "w") as f:
        f["embeddings"] = vecs.astype(np.float32)
        f["probabilities"] = np.random.default_rng(n).random((n, len(TAGS)), dtype=np.float32)
        f.create_dataset("paths", (n,), s, data=[f"/music/{x}" for x in names])
        f.create_dataset("ids", (n,), s, data=names)
        f["durations"] = np.full(n, 30.0, np.float32)
        f.create_dataset("tag_names", data=TAGS, dtype=s)
        f["thresholds"] = np.full(len(TAGS), 0.5, np.float32)
        f.attrs.update({"format": INDEX_FORMAT, "model_path": "/m/tagger.pt", "model_name": ""})
        f.attrs.update({"model_sha256": sha, "hop_seconds": 29.1, "agg": "mean", "features": "{}"})
        f.attrs.update({"embedding_dim": vecs.shape[-1], "embedding_layer": "penultimate"})
    return path


def names(n: int, start: int = 0) -> list[str]:
    return [f"song{i:05d}.mp3" for i in range(start, start + n)]


def test_recall_at_10_against_exact_search(tmp_path):
    x = clustered(3200)
    ann = build(read_index(write_embeddings(tmp_path / "e.h5", x[:3000], names(3000))))
    data = x[:3000] / np.linalg.norm(x[:3000], axis=1, keepdims=True)
    queries = x[3000:] / np.linalg.norm(x[3000:], axis=1, keepdims=True)
    exact = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    found = [[r for r, _ in ann.search(q, 10)] for q in queries]
    recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
    assert recall >= 0.95, recall
    sims = [s for _, s in ann.search(queries[0], 10)]  # cosine similarities, best first
    np.testing.assert_allclose(sims[0], (queries[0] @ data.T).max(), atol=1e-5)
    assert sims == sorted(sims, reverse=True)


def test_add_replace_remove_and_save(tmp_path):
    x = clustered(600)
    ann = build(read_index(write_embeddings(tmp_path / "e.h5", x[:500], names(500))))
    # 100 new songs, and song 0 re-tagged: its new vector is song 450's
    new = np.concatenate([x[500:], x[450:451] + 0.01])
    write_embeddings(tmp_path / "new.h5", new, [*names(100, 500), "song00000.mp3"])
    assert ann.add(read_index(tmp_path / "new.h5")) == (100, 1)
    ann.save(tmp_path / "songs.ann")
    ann = load(tmp_path / "songs.ann")
    assert len(ann) == 600 and ann.ids[0] == "song00000.mp3"
    for i in (500, 555, 599):  # added songs are found
        assert ann.search(x[i], 1)[0][0] == i
    info, rows = similar_ann(ann, "song00000.mp3", n=3)
    assert info.in_index and rows[0].id == "song00000.mp3" and rows[1].id == "song00450.mp3"
    assert rows[1].similarity > 0.99
    # removed songs are not found; brought back by an add
    assert ann.remove(["song00450.mp3", "/music/song00451.mp3", "nope"]) == ["nope"]
    assert len(ann) == 598 and ann.find("song00450.mp3") is None
    assert 450 not in [r for r, _ in ann.search(x[450], 10)]
    ann.save(tmp_path / "songs.ann")
    ann = load(tmp_path / "songs.ann")
    assert ann.find("song00451.mp3") is None and len(ann) == 598
    write_embeddings(tmp_path / "back.h5", x[450:451], ["song00450.mp3"])
    assert ann.add(read_index(tmp_path / "back.h5")) == (0, 1)
    assert ann.search(x[450], 1)[0][0] == 450


def test_k_larger_than_the_catalogue(tmp_path):
    x = clustered(12)
    ann = build(read_index(write_embeddings(tmp_path / "e.h5", x, names(12))))
    assert len(ann.search(x[0], 50)) == 12
    info, rows = similar_ann(ann, "song00003.mp3", n=50)
    assert len(rows) == 12 and rows[0].id == "song00003.mp3"
    exact = similar(read_index(tmp_path / "e.h5"), "song00003.mp3", n=50)[1]
    assert [r.id for r in rows] == [r.id for r in exact]
    ann.remove(names(11))
    assert [r for r, _ in ann.search(x[0], 5)] == [11]


def test_a_graph_that_finds_too_few_falls_back_to_exact_search(tmp_path):
    import voyager

    x = clustered(40)
    ann = build(read_index(write_embeddings(tmp_path / "e.h5", x, names(40))))
    ann.remove(names(5))
    want = ann.search(x[7], 10)

    class Thin:  # a graph thinned by removals: fewer results than asked
        def query(self, *a, **kw):
            raise voyager.RecallError("only found 3 of 10")

        def get_vectors(self, ids):
            return graph.get_vectors(ids)

    graph, ann.index = ann.index, Thin()
    got = ann.search(x[7], 10)
    assert [r for r, _ in got] == [r for r, _ in want] and all(r >= 5 for r, _ in got)
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)


def test_another_model_or_dimension_is_refused(tmp_path):
    x = clustered(40)
    ann = build(read_index(write_embeddings(tmp_path / "e.h5", x, names(40))))
    write_embeddings(tmp_path / "b.h5", x[:3], names(3, 100), sha="b" * 64)
    with pytest.raises(ModelMismatchError, match="aaaaaaaaaaaa.*bbbbbbbbbbbb"):
        ann.add(read_index(tmp_path / "b.h5"))
    write_embeddings(tmp_path / "d.h5", clustered(3, dim=16), names(3, 100))
    with pytest.raises(ModelMismatchError, match="32-d.*16-d"):
        ann.add(read_index(tmp_path / "d.h5"))
    with pytest.raises(ModelMismatchError, match="16-d query.*32-d"):
        ann.search(np.ones(16), 3)


def test_bad_files_are_clear_errors(tmp_path, capsys):
    write_embeddings(tmp_path / "e.h5", clustered(50), names(50))
    write_embeddings(tmp_path / "empty.h5", np.zeros((0, 32)), [])
    with pytest.raises(IndexFileError, match="no songs"):
        build(read_index(tmp_path / "empty.h5"))
    code, _, err = run_cli(capsys, "index", "build", "--from", tmp_path / "empty.h5",
                           "--out", tmp_path / "x.ann")  # fmt: skip
    assert code == 2 and "no songs" in err and not (tmp_path / "x.ann").exists()
    assert main(["index", "build", "--from", str(tmp_path / "e.h5"), "--out",
                 str(tmp_path / "songs.ann")]) == 0  # fmt: skip
    good = (tmp_path / "songs.ann").read_bytes()
    (tmp_path / "cut.ann").write_bytes(good[: len(good) // 2])
    (tmp_path / "junk.ann").write_bytes(b"\x89HDF garbage" * 100)
    with h5py.File(tmp_path / "blob.ann", "w") as f:  # a valid HDF5 whose Voyager bytes are not
        with h5py.File(tmp_path / "songs.ann") as g:
            for k in g:
                g.copy(k, f)
            f.attrs.update(g.attrs)
        del f["voyager"]
        f["voyager"] = np.frombuffer(good[:4000], np.uint8)
    for bad in ("cut", "junk", "blob", "missing"):
        with pytest.raises(IndexFileError, match=f"{bad}.ann"):
            load(tmp_path / f"{bad}.ann")
        code, out, err = run_cli(
            capsys, "similar", "song00001.mp3", "--ann", tmp_path / f"{bad}.ann"
        )
        assert code == 2 and f"{bad}.ann" in err and "Traceback" not in err + out
    code, _, err = run_cli(capsys, "index", "add", "--index", tmp_path / "junk.ann",
                           "--from", tmp_path / "e.h5")  # fmt: skip
    assert code == 2 and "junk.ann" in err
    # an embedding file of another dimension
    write_embeddings(tmp_path / "d.h5", clustered(3, dim=8), names(3, 100))
    code, _, err = run_cli(capsys, "index", "add", "--index", tmp_path / "songs.ann",
                           "--from", tmp_path / "d.h5")  # fmt: skip
    assert code == 2 and "32-d" in err and "8-d" in err


def test_index_commands_and_similar_ann(tmp_path, capsys):
    x = clustered(300)
    write_embeddings(tmp_path / "e.h5", x[:250], names(250))
    write_embeddings(tmp_path / "new.h5", x[250:], names(50, 250))
    ann = tmp_path / "songs.ann"
    code, _, err = run_cli(capsys, "index", "build", "--from", tmp_path / "e.h5", "--out", ann)
    assert code == 0 and "250 songs, 32-d" in err
    code, _, err = run_cli(capsys, "index", "add", "--index", ann, "--from", tmp_path / "new.h5")
    assert code == 0 and "added 50, replaced 0" in err
    code, out, _ = run_cli(capsys, "similar", "song00260.mp3", "--ann", ann, "-n", "5", "--json")
    res = json.loads(out)
    assert code == 0 and res["in_index"] and [r["id"] for r in res["results"]][0] == "song00260.mp3"
    exact = json.loads(run_cli(capsys, "similar", "song00260.mp3", "--index", tmp_path / "new.h5",
                               "-n", "1", "--json")[1])  # fmt: skip
    assert exact["results"][0]["id"] == "song00260.mp3"
    code, out, _ = run_cli(capsys, "similar", "/music/song00007.mp3", "--ann", ann, "--ef", "20")
    assert code == 0 and out.splitlines()[2].split()[2] == "song00007.mp3"
    code, _, err = run_cli(capsys, "index", "remove", "song00007.mp3", "nope", "--index", ann)
    assert code == 1 and "nope: not in the index" in err and "removed 1" in err
    code, _, err = run_cli(capsys, "similar", "song00007.mp3", "--ann", ann)
    assert code == 1 and "not in the index" in err
    code, _, err = run_cli(capsys, "similar", "x", "--ann", ann, "--index", tmp_path / "e.h5")
    assert code == 2 and "not allowed with" in err


def test_similar_ann_embeds_an_audio_query(model, mini_mtat, tmp_path, capsys):
    emb = tmp_path / "catalogue.h5"
    assert main(["embed", str(mini_mtat / "0"), "--model", str(model), "--out", str(emb),
                 "--workers", "0", "--no-progress"]) == 0  # fmt: skip
    ann = tmp_path / "songs.ann"
    assert run_cli(capsys, "index", "build", "--from", emb, "--out", ann)[0] == 0
    new = tmp_path / "new_song.wav"
    sf.write(new, tone(7.0, ("techno",)), SR)
    code, out, _ = run_cli(capsys, "similar", new, "--ann", ann, "--json", "-n", "3")
    res = json.loads(out)
    exact = json.loads(run_cli(capsys, "similar", new, "--index", emb, "--json", "-n", "3")[1])
    assert code == 0 and not res["in_index"] and res["query_tags"] == exact["query_tags"]
    assert [r["id"] for r in res["results"]] == [r["id"] for r in exact["results"]]
    # another model is refused, naming both
    import torch

    other = tmp_path / "other.pt"
    blob = torch.load(model, weights_only=True)
    blob["thresholds"] = [0.5] * len(blob["thresholds"])
    torch.save(blob, other)
    code, _, err = run_cli(capsys, "similar", new, "--ann", ann, "--model", other)
    assert code == 2 and "not the model that made" in err and "sha256" in err
