"""Plain ``nn.Module`` taggers (no Lightning here)."""

from autotag.models.fcn import FCN, build_model

__all__ = ["FCN", "build_model"]
