"""Writes the tiny TensorFlow V2 checkpoint that tests/test_pretrained_checkpoint.py reads.

Runs only in a scratch virtualenv with tensorflow-cpu 2.15.1 (autotag itself never imports
tensorflow), from the repository root:

    python -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu==2.15.1
    /tmp/tfvenv/bin/python tests/data/tf_checkpoint/make_checkpoint.py

It saves `tiny.index` + `tiny.data-00000-of-00001` with tf.compat.v1.train.Saver (V2 format) and
`expected.npz`: every variable as TensorFlow's own checkpoint reader returns it.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
# TF packs 256 KiB of index entries per table block, so these variables all fit in one; the
# tests re-pack the table into small blocks themselves.
N_MANY = 100


def values() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {
        "dense/kernel": rng.standard_normal((3, 4)).astype(np.float32),
        "dense/bias": np.array([0.0, -0.0, np.inf, -1.5], np.float32),
        "conv/block_1/kernel": rng.standard_normal((2, 3, 1, 5)).astype(np.float32),
        "stats/mean": rng.standard_normal(6),
        "counts": rng.integers(-(2**31), 2**31, 7).astype(np.int32),
        "global_step": np.array(2**40 + 3, np.int64),
        "scale": np.array(0.125, np.float32),
        "half": rng.standard_normal((3, 2)).astype(np.float16),
        "mask": np.array([True, False, False, True, True]),
        "empty": np.zeros((0, 3), np.float32),
        "small/uint8": np.array([0, 1, 255], np.uint8),
        "small/int8": np.array([-128, 0, 127], np.int8),
        "small/int16": np.array([[-32768, 7], [32767, -1]], np.int16),
    }
    for i in range(N_MANY):
        out[f"many/layer_{i:03d}/w"] = np.array([i, -i], np.int32)
    return out


def main() -> None:
    tf.compat.v1.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.Variable(v, name=k) for k, v in values().items()]
        saver = tf.compat.v1.train.Saver(variables, write_version=tf.compat.v1.train.SaverDef.V2)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(HERE / "tiny"), write_meta_graph=False, write_state=False)
    reader = tf.compat.v1.train.NewCheckpointReader(str(HERE / "tiny"))
    names = sorted(reader.get_variable_to_shape_map())
    np.savez_compressed(HERE / "expected.npz", **{k: reader.get_tensor(k) for k in names})
    print(f"{len(names)} variables; index {(HERE / 'tiny.index').stat().st_size} bytes")


if __name__ == "__main__":
    main()
