"""Export a ``tagger.pt`` to TorchScript (waveform in, probabilities out) and ONNX.

TorchScript (``autotag export --model tagger.pt --out tagger.ts``): one file that needs only
``torch`` to run::

    m = torch.jit.load("tagger.ts")
    probs = m(wav)          # wav: (n_samples,) or (batch, n_samples), mono, m.sample_rate Hz
    emb = m.embed(wav)      # penultimate layer
    m.tag_names, m.thresholds, m.sample_rate, m.n_samples   # also in the extra file autotag.json

The mel front end, the normalization and the FCN are folded in; the input is exactly one window
(``features.clip_seconds`` at the model's rate; cut longer audio into windows yourself and average).

ONNX (``--onnx tagger.onnx``; needs the ``onnx`` extra): the same graph from the waveform when the
exporter handles the STFT, else from the log-mel ``(batch, n_mels, n_frames)``; the sidecar
``tagger.onnx.json`` says which (``"input"``) with the tags, thresholds and features.
"""

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autotag.common.signal import centre_span
from autotag.data.audio import native_stderr_silenced
from autotag.data.features import compress
from autotag.inference.tagger import Tagger


class WaveformCore(nn.Module):
    """Mono waveform windows ``(batch, n_samples)`` → ``(probabilities, embeddings)``."""

    def __init__(self, tagger: Tagger) -> None:
        super().__init__()
        self.logmel = tagger.front.logmel
        self.core = MelCore(tagger)

    def forward(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.core(self.logmel(wav))


class DftLogMel(nn.Module):
    """:class:`autotag.data.features.LogMel` for one fixed input length, with the STFT written as
    a strided convolution with windowed DFT kernels (exports to ONNX, which has no complex STFT
    through the TorchScript exporter). Same values up to float32 rounding."""

    def __init__(self, tagger: Tagger) -> None:
        super().__init__()
        logmel = tagger.front.logmel
        cfg = tagger.features
        spec = logmel.mel.spectrogram
        n_fft, window = int(spec.n_fft), spec.window.double()
        freqs = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
        angle = 2 * torch.pi * freqs * torch.arange(n_fft, dtype=torch.float64)[None] / n_fft
        kernels = torch.cat([torch.cos(angle) * window, -torch.sin(angle) * window])
        self.register_buffer("kernels", kernels.float()[:, None, :])
        self.register_buffer("fb", logmel.mel.mel_scale.fb.T.contiguous())  # (n_mels, n_freqs)
        self.n_fft, self.hop, self.n_bins = n_fft, int(spec.hop_length), n_fft // 2 + 1
        self.features = cfg
        self.pad_mode = cfg.pad_mode
        # what a short window is padded with: the compression's value for silence
        self.floor = float(compress(torch.zeros(()), cfg))
        # the window's frames fitted to the model's: the shape is fixed, so the slice and the
        # padding are constants of the traced graph
        start, stop, left, right = centre_span(1 + tagger.front.window_samples // self.hop,
                                               cfg.n_frames)  # fmt: skip
        self.crop, self.pad = (start, stop), (left, right)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        x = nn.functional.pad(wav.unsqueeze(1), (self.n_fft // 2, self.n_fft // 2), self.pad_mode)
        z = nn.functional.conv1d(x, self.kernels, stride=self.hop)
        power = z[:, : self.n_bins] ** 2 + z[:, self.n_bins :] ** 2
        db = compress(torch.matmul(self.fb, power), self.features)
        db = db[..., self.crop[0] : self.crop[1]]
        if any(self.pad):  # a window shorter than the model's frames (never for store presets)
            db = nn.functional.pad(db, self.pad, value=self.floor)
        return db


class OnnxWaveformCore(WaveformCore):
    """:class:`WaveformCore` with the convolutional STFT."""

    def __init__(self, tagger: Tagger) -> None:
        super().__init__(tagger)
        self.logmel = DftLogMel(tagger)


class MelCore(nn.Module):
    """Spectrogram ``(batch, n_rows, n_frames)`` → ``(probabilities, embeddings)`` (a chunk
    model's: the means over its chunks)."""

    def __init__(self, tagger: Tagger) -> None:
        super().__init__()
        self.normalizer = tagger.normalizer
        self.net = tagger.net
        self.chunks = tagger.chunks  # fixed shapes: traced into constant slices

    def forward(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        probs, emb = self.chunks.mean(self._probs_and_embeddings, mel)
        return probs, emb

    def _probs_and_embeddings(self, chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.net.embed(self.normalizer(chunks))
        return torch.sigmoid(self.net.head(emb)), emb


class ExportedTagger(nn.Module):
    """The scripted wrapper: shape checks, a single window or a batch, metadata attributes."""

    tag_names: list[str]
    thresholds: list[float]
    sample_rate: int
    n_samples: int

    def __init__(
        self,
        core: nn.Module,
        tag_names: list[str],
        thresholds: list[float],
        sample_rate: int,
        n_samples: int,
    ) -> None:
        super().__init__()
        self.core = core
        self.tag_names = tag_names
        self.thresholds = thresholds
        self.sample_rate = sample_rate
        self.n_samples = n_samples

    def _run(self, wav: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2 or wav.size(1) != self.n_samples:
            raise RuntimeError(
                "expected a mono window of "
                + str(self.n_samples)
                + " samples at "
                + str(self.sample_rate)
                + " Hz, shape (n_samples,) or (batch, n_samples)"
            )
        return self.core(wav.float())

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        probs = self._run(wav)[0]
        return probs.squeeze(0) if wav.dim() == 1 else probs

    @torch.jit.export
    def embed(self, wav: torch.Tensor) -> torch.Tensor:
        emb = self._run(wav)[1]
        return emb.squeeze(0) if wav.dim() == 1 else emb


def metadata(tagger: Tagger, input_kind: str = "waveform") -> dict[str, Any]:
    """What a consumer of an exported file needs besides the graph."""
    return {
        "format": "autotag-export/1",
        "input": input_kind,
        "tag_names": tagger.tag_names,
        "thresholds": [float(t) for t in tagger.thresholds],
        "sample_rate": tagger.sample_rate,
        "n_samples": tagger.front.window_samples,
        "input_shape": [tagger.features.n_rows, tagger.features.n_frames],
        "features": tagger.features.to_dict(),
        "source_sha256": tagger.sha256,
        # a pretrained model's credit and licence (musicnn's ISC notice) travel with its exports
        **{k: tagger.origin[k] for k in ("credit", "license") if k in tagger.origin},
    }


def to_torchscript(tagger: Tagger) -> torch.jit.ScriptModule:
    """The tagger as one scripted module (mel front end + normalization + FCN)."""
    core = WaveformCore(tagger).eval()
    example = torch.randn(2, tagger.front.window_samples) * 0.1
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings: shapes are fixed by design
        traced = torch.jit.trace(core, example)
    wrapper = ExportedTagger(
        traced,
        list(tagger.tag_names),
        [float(t) for t in tagger.thresholds],
        int(tagger.sample_rate),
        int(tagger.front.window_samples),
    )
    return torch.jit.script(wrapper.eval())


def export_torchscript(tagger: Tagger, out: str | Path) -> Path:
    """Write the TorchScript file (metadata also as the extra file ``autotag.json``)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    module = to_torchscript(tagger)
    torch.jit.save(module, str(out), _extra_files={"autotag.json": json.dumps(metadata(tagger))})
    return out


def load_torchscript(path: str | Path) -> tuple[torch.jit.ScriptModule, dict[str, Any]]:
    """An exported file and its metadata (plain ``torch.jit.load``)."""
    extra = {"autotag.json": ""}
    module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra["autotag.json"] or "{}")


def onnx_available() -> bool:
    try:
        import onnx  # noqa: F401
    except ImportError:
        return False
    return True


def export_onnx(tagger: Tagger, out: str | Path, opset: int = 18) -> tuple[Path, str]:
    """Write ONNX; returns ``(path, input kind)``: ``"waveform"`` if the STFT exports, else
    ``"log-mel"``. Raises ``ImportError`` when ``onnx`` is missing."""
    import onnx  # noqa: F401  (the exporter needs it; fail early with a clear ImportError)

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    n_mels, n_frames = tagger.features.n_rows, tagger.features.n_frames
    attempts = [("log-mel", MelCore(tagger), torch.randn(2, n_mels, n_frames) * 10 - 40)]
    if tagger.features.kind == "mel":  # the convolutional STFT is written for mel features
        wav = torch.randn(2, tagger.front.window_samples) * 0.1
        attempts.insert(0, ("waveform", OnnxWaveformCore(tagger), wav))
    errors = []
    for kind, module, example in attempts:
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad(), native_stderr_silenced():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    module.eval(),
                    (example,),
                    buf,
                    input_names=[kind.replace("-", "_")],
                    output_names=["probabilities", "embedding"],
                    dynamic_axes={kind.replace("-", "_"): {0: "batch"}},
                    opset_version=opset,
                    dynamo=False,
                )
        except Exception as e:
            errors.append(f"{kind}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
            continue
        out.write_bytes(buf.getvalue())
        sidecar = out.with_name(out.name + ".json")
        sidecar.write_text(json.dumps(metadata(tagger, kind), indent=2))
        return out, kind
    raise RuntimeError("ONNX export failed: " + "; ".join(errors))
