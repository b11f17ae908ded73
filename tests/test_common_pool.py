"""The ground floor's crash-safe pool: a worker that dies fails the item it was on, and nothing
waits for it; ``prepare`` built on it records a file that kills its decoder as broken."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from autotag.common.pool import WorkerCrash, crash_safe_map
from autotag.data.datasets.mtat.reader import read_mtat
from autotag.data.features import FeatureConfig
from autotag.data.frontend import FrontEnd
from autotag.data.prepare import build_store
from autotag.data.store import MelStore
from tests.helpers import MTAT

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the patches reach forked workers")


@contextmanager
def deadline(seconds: int):
    """Fail instead of hanging: a pool that waits for a dead worker never returns."""

    def expired(*_):
        raise TimeoutError(f"still running after {seconds} s: the pool hangs")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def die_on_three(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
    return x * x


@pytest.mark.parametrize("ordered", [True, False])
def test_a_killed_worker_fails_only_its_item(ordered):
    with deadline(60):
        out = list(crash_safe_map(die_on_three, range(10), 3, prefetch=2, ordered=ordered))
    got = dict(out)
    assert sorted(got) == list(range(10))  # every item once
    assert isinstance(got[3], WorkerCrash)
    assert {k: v for k, v in got.items() if k != 3} == {k: k * k for k in range(10) if k != 3}
    if ordered:
        assert [k for k, _ in out] == list(range(10))


def test_a_decoder_crash_during_prepare_fails_only_that_file(
    tmp_path, mini_mtat, mini_features, monkeypatch
):
    m, cfg = read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features)
    run = dict(shard_size=16, min_audio_seconds=1.0, progress=False)
    ref = MelStore(build_store(m, cfg, tmp_path / "ref.h5", workers=0, **run))
    victim = str(m.paths[21])  # in the second unit: the first and the others go on
    real_load = FrontEnd.load

    def load_or_die(self, path, min_seconds=0.0):
        if str(path) == victim:
            os._exit(3)  # a segfault in the decoder: the worker process is gone
        return real_load(self, path, min_seconds)

    monkeypatch.setattr(FrontEnd, "load", load_or_die)  # forked workers inherit it
    with deadline(120):
        store = MelStore(build_store(m, cfg, tmp_path / "crash.h5", workers=2, **run))
    i = list(store.paths).index(victim)
    assert store.status[i].startswith("broken") and "crashed" in store.status[i]
    assert not store.valid[i]
    others = [j for j in range(len(store)) if j != i]
    assert list(store.status[others]) == list(ref.status[others])
    for j in others:  # every other file stored as without the crash
        np.testing.assert_array_equal(store.mel(j), ref.mel(j))
    assert Path(store.path).exists() and not store.path.with_suffix(".parts").exists()
