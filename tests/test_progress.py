"""Progress: a live bar on a terminal, short lines in a log."""

from __future__ import annotations

import io

from tqdm.auto import tqdm

from autotag.common.console import LogLines, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_lines_and_a_terminal_gets_a_bar():
    log = io.StringIO()
    bar = progress(10, "prepare", "clip", file=log)
    assert isinstance(bar, LogLines)
    bar.interval = 0.0  # a line at every update (30 s in real use)
    for _ in range(4):
        bar.update(2)
    bar.set_postfix_str("900x real time")
    bar.close()
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 5
    assert lines[0].startswith("prepare: 2/10 clips (20%), ")
    assert lines[-1].startswith("prepare: 8/10 clips (80%), ") and lines[-1].endswith(
        "900x real time"
    )
    assert isinstance(progress(10, "prepare", "clip", file=Terminal()), tqdm)
    quiet = io.StringIO()
    with progress(10, "tag", "song", file=quiet, final=False) as b:
        b.update(3)  # well within the 30 s interval: nothing, and no final line
    assert quiet.getvalue() == ""


def test_prepare_in_a_log_writes_a_closing_line(tmp_path, mini_mtat, mini_features, capsys):
    from autotag.data.datasets.mtat.reader import read_mtat
    from autotag.data.features import FeatureConfig
    from autotag.data.prepare import build_store
    from tests.helpers import MTAT

    build_store(read_mtat(mini_mtat, **MTAT), FeatureConfig.from_dict(mini_features),
                tmp_path / "s.h5", workers=0, shard_size=64, min_audio_seconds=1.0)  # fmt: skip
    err = capsys.readouterr().err
    assert "\r" not in err and "prepare: 160/160 clips (100%)" in err
