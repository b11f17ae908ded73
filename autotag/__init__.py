"""autotag: content-based music auto-tagging with PyTorch Lightning and Hydra."""

__version__ = "0.1.0"
