"""Make reference.npz: outputs of the ORIGINAL TensorFlow musicnn on the clips in this folder.

Run ONCE, by hand, in a scratch virtualenv (it is NOT part of the test suite and
nothing in the project imports it; the committed reference.npz is its output):

    python3.11 -m venv v && v/bin/pip install tensorflow-cpu==2.15.1 librosa && v/bin/pip install --no-deps musicnn==0.1.0
    v/bin/python tests/data/musicnn/make_reference.py        # writes tests/data/musicnn/reference.npz

(The committed file was made with tensorflow-cpu 2.15.1, librosa 0.11.0, numpy 1.26.4,
soundfile 0.14.0, soxr 1.1.0, musicnn 0.1.0 on Python 3.11; the `versions` entry
of the npz records them.)

For every clip ``*.wav`` here (16 kHz mono PCM16, so librosa reads the samples
as they are: no resampling, no decoding differences) and every model in MODELS,
it runs ``musicnn.extractor.extractor(path, model=M, input_length=3,
input_overlap=False, extract_features=True)`` and stores, as float32:

    {clip}/logmel                 musicnn.extractor.batch_data(path, 187, 187)[1]: the whole
                                  log-mel spectrogram, shape (frames, 96)
    {clip}/{model}/taggram        (n_windows, 50) sigmoid tag probabilities
    {clip}/{model}/mean_pool      (n_windows, 753)   musicnn models only
    {clip}/{model}/max_pool       (n_windows, 753)   musicnn models only
    {clip}/{model}/penultimate    (n_windows, 200)   musicnn models only, see below
    {clip}/{model}/pool5          (n_windows, 2, 128)  vgg models only: musicnn returns the
                                  windows' squeezed (2, 128) pool5 outputs concatenated as
                                  (n_windows * 2, 128); stored reshaped to (n_windows, 2, 128)
    versions                      JSON string: library versions and the date

n_windows = number of non-overlapping 187-frame (3 s) patches; leftover frames at
the end are dropped by musicnn.

musicnn 0.1.0's extractor has a stale-variable bug for every batch after the
first (its BATCH_SIZE is 1, so every window after the first): cnn1/cnn2/cnn3 AND
penultimate are concatenated from the first window's values instead of the
current ones (mean_pool, max_pool, taggram, timbral, temporal and the vgg pools
are right). So `penultimate` is taken from a second extractor run with
musicnn.configuration.BATCH_SIZE raised above n_windows (all windows in one
session run, so no concatenation happens); that run's taggram is checked to
match the default run's. Everything else comes from the default run as shipped.
The per-frame features (timbral, temporal, cnn1..3) and pool1..pool4 are not
stored, to keep the file small.

musicnn's log-mel: librosa.load(sr=16000) -> librosa.feature.melspectrogram(
n_fft=512, hop_length=256, n_mels=96) (power 2, slaney mel, center=True, reflect
pad) -> .astype(float16) -> log10(10000 * x + 1) (numpy 1.26 promotes this to
float32).
"""

import datetime
import glob
import json
import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ["MTT_musicnn", "MTT_vgg", "MSD_musicnn", "MSD_vgg"]
N_FRAMES = 187  # 3 s at 16 kHz, hop 256: what extractor(input_length=3) uses
OUT = os.path.join(HERE, "reference.npz")


def main(out_path=OUT):
    import librosa
    import musicnn
    import musicnn.configuration as mconfig
    import soundfile
    import soxr
    import tensorflow as tf
    from musicnn.extractor import batch_data, extractor

    try:
        from importlib.metadata import version as _v

        musicnn_version = _v("musicnn")
    except Exception:  # pragma: no cover
        musicnn_version = getattr(musicnn, "__version__", "unknown")

    clips = sorted(glob.glob(os.path.join(HERE, "*.wav")))
    if not clips:
        sys.exit("no clips found")
    out = {}
    checks = {}
    for path in clips:
        stem = os.path.splitext(os.path.basename(path))[0]
        info = soundfile.info(path)
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16"), (path, info)
        batch, spec = batch_data(path, N_FRAMES, N_FRAMES)
        out[f"{stem}/logmel"] = np.asarray(spec, dtype=np.float32)
        n_windows = batch.shape[0]
        for model in MODELS:
            key = f"{stem}/{model}"
            mconfig.BATCH_SIZE = 1  # as shipped
            taggram, labels, feats = extractor(
                path, model=model, input_length=3, input_overlap=False, extract_features=True
            )
            assert taggram.shape == (n_windows, 50), taggram.shape
            out[f"{key}/taggram"] = np.asarray(taggram, dtype=np.float32)
            if "vgg" in model:
                pool5 = np.asarray(feats["pool5"], dtype=np.float32)
                out[f"{key}/pool5"] = pool5.reshape(n_windows, -1, pool5.shape[-1])
            else:
                out[f"{key}/mean_pool"] = np.asarray(feats["mean_pool"], dtype=np.float32)
                out[f"{key}/max_pool"] = np.asarray(feats["max_pool"], dtype=np.float32)
                # penultimate: one session run over all windows (see module docstring)
                mconfig.BATCH_SIZE = 10_000
                tg_one, _, feats_one = extractor(
                    path, model=model, input_length=3, input_overlap=False, extract_features=True
                )
                mconfig.BATCH_SIZE = 1
                diff = float(np.abs(tg_one - taggram).max())
                assert diff < 1e-4, (key, diff)
                pen = np.asarray(feats_one["penultimate"], dtype=np.float32)
                assert pen.shape[0] == n_windows, pen.shape
                assert np.allclose(pen[0], feats["penultimate"][0], atol=1e-4)
                out[f"{key}/penultimate"] = pen
                checks[key] = {"taggram_maxdiff_batch1_vs_one_run": diff}
            top = [labels[i] for i in np.argsort(-taggram.mean(0))[:5]]
            print(f"{key}: windows={n_windows} top5={top}", flush=True)

    versions = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "soundfile": soundfile.__version__,
        "soxr": getattr(soxr, "__version__", "unknown"),
        "musicnn": musicnn_version,
        "date": datetime.date.today().isoformat(),
        "models": MODELS,
        "clips": [os.path.basename(c) for c in clips],
        "checks": checks,
    }
    out["versions"] = np.array(json.dumps(versions, sort_keys=True))
    np.savez_compressed(out_path, **out)
    print(f"wrote {out_path} ({os.path.getsize(out_path)} bytes, {len(out)} keys)")


if __name__ == "__main__":
    main(*sys.argv[1:])
