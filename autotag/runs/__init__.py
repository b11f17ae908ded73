"""The run folder's one owner: where a run's files are (:mod:`~autotag.runs.folder`), how
``results.json`` and ``predictions.npz`` are written and read (:mod:`~autotag.runs.results`,
:mod:`~autotag.runs.predictions`), the
end of a run (:mod:`~autotag.runs.end`) and the tagger file (:mod:`~autotag.runs.tagger_file`).

Below training, inference and experiments, above data and models: every layer that leaves or
reads a run folder goes through here."""
