"""Inference: tag new audio with a trained ``tagger.pt``; embed a catalogue, find similar songs,
export to TorchScript/ONNX.

>>> from autotag.inference import Tagger
>>> tagger = Tagger.load("run/tagger.pt")
>>> tagger.top_k(tagger.tag_file("song.mp3").probs, 5)
"""

from autotag.inference.decode import AUDIO_EXTENSIONS, find_audio
from autotag.inference.tagger import SongPrediction, Tagger
from autotag.runs.tagger_file import TaggerError

__all__ = ["AUDIO_EXTENSIONS", "SongPrediction", "Tagger", "TaggerError", "find_audio"]
