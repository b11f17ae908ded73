"""Models: plain ``nn.Module`` networks and scikit-learn baselines, behind one registry.

Every module of this package is imported here, so a model registers itself
(``@register("arch")``) by being a file in ``autotag/models/``.
"""

import importlib
import pkgutil

from autotag.models.registry import (
    MODELS,
    build_baseline,
    build_model,
    is_network,
    model_arguments,
    register,
)

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "registry":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["MODELS", "build_baseline", "build_model", "is_network", "model_arguments", "register"]
