"""``autotag serve``: a tagger (and a song index) as an HTTP service with a web page.

:mod:`~autotag.serve.service` is the service without HTTP (the tagger, the index, decoding
processes, the model's batcher); :mod:`~autotag.serve.app` its FastAPI routes;
:mod:`~autotag.serve.uploads` the size limit and temporary copies; :mod:`~autotag.serve.decoders`
the crash-safe decoding slots; :mod:`~autotag.serve.batcher` the batching of the network.
It sits above :mod:`autotag.inference` and below the CLI: the only layer that speaks HTTP.
"""
