"""The ground floor: mechanics every layer uses, written once, importing nothing else of autotag's.

* :mod:`~autotag.common.pool` -- one crash-safe process pool over files (prepare, tagging, embedding).
* :mod:`~autotag.common.worker` -- worker process setup (one torch thread, the allocator), cores.
* :mod:`~autotag.common.console` -- progress (a bar on a terminal, lines in a log) and messages.
* :mod:`~autotag.common.files` -- atomic writes (bytes, text, JSON, or any writer of a path).
* :mod:`~autotag.common.signal` -- centre crop/pad, random crops, evenly spread starts, peak level.
* :mod:`~autotag.common.perturb_signal` -- gain, time stretch (phase vocoder), pitch shift.
* :mod:`~autotag.common.metrics` -- macro ROC-AUC / PR-AUC over the tags a set can score.
* :mod:`~autotag.common.mp3` -- mp3 encoding; :mod:`~autotag.common.figures` -- figure saving.
"""
