"""The house rules, checked on the source: imports go one way, data and models know nothing of
Hydra or the Trainer, and no module imports another in a circle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "autotag"
# common (the ground floor: pool, console, atomic files, signal crops, metrics) → data → models →
# runs → pretrained → training | inference → experiments → cli / entry points. Training and
# inference sit side by side: neither imports the other; so do experiments and serve (the HTTP
# service over inference). The run folder's owner (paths,
# results.json, predictions.npz, the tagger file, the end of a run) sits above models so that
# every layer that writes or reads a run can use it. Pretrained models (converted from other
# projects' files into tagger files) sit between models and their users, which take their names
# wherever they take a tagger file.
RANK = {"base": 0, "common": 0, "data": 1, "models": 2, "runs": 2.2, "pretrained": 2.5}
RANK |= {"training": 3, "inference": 3}
RANK |= {"experiments": 4, "serve": 4}
RANK |= {"entry": 5, "cli": 5}
ENTRY = {"entry", "prepare", "catalogue"}  # helpers and `python -m` shims of the Hydra entries
# `python -m autotag.predict` is `autotag tag`, `python -m autotag.sweep report` is
# `autotag report`: part of the CLI
CLI_ALIASES = {"predict", "sweep"}
FORBIDDEN_BELOW_TRAINING = (  # a LightningDataModule is fine; the Trainer and Hydra are not
    "hydra",
    "omegaconf",
    "pytorch_lightning.trainer",
    "pytorch_lightning.Trainer",
    "lightning.pytorch.trainer",
    "lightning.pytorch.Trainer",
    "lightning.Trainer",
)


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "base"  # autotag/__init__.py: the version string
    if parts[1] in CLI_ALIASES:
        return "cli"
    if parts[1] in ENTRY:
        return "entry"
    return parts[1]


def imports(
    path: Path, known: dict[str, Path], names: bool = False, module: str | None = None
) -> list[tuple[str, int]]:
    """Every module imported anywhere in ``path`` (function bodies too): (module, line).

    Relative imports are resolved. ``names``: give ``from a import B`` as ``a.B`` even when
    ``B`` is not a module (to catch ``from pytorch_lightning import Trainer``).
    """
    module = module or ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = (
        module[: -len(".__init__")] if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    )
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from .x import y / from .. import z
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            for a in node.names:  # `from autotag.cli import tag` names a submodule
                sub = f"{base}.{a.name}"
                out.append((sub if sub in known or names else base, node.lineno))
    return out


def test_every_module_has_a_layer():
    for module in modules():
        assert layer(module) in RANK, f"{module}: map it to a layer"


def test_imports_point_up_the_flow_only():
    known = modules()
    wrong = []
    for module, path in known.items():
        here = layer(module)
        for name, line in imports(path, known):
            if not name.startswith("autotag"):
                continue
            there = layer(name)
            side_by_side = {here, there} == {"training", "inference"}
            entry_cli = {here, there} == {"entry", "cli"}
            if RANK[there] > RANK[here] or side_by_side or entry_cli:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {here} imports {there} ({name})")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)


def test_the_ground_floor_imports_nothing_else_of_autotag():
    """``autotag.common`` is below every layer: it may import the version string
    (``autotag``) and itself, nothing more."""
    known = modules()
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {name}"
        for module, path in known.items()
        if layer(module) == "common"
        for name, line in imports(path, known)
        if name.startswith("autotag") and layer(name) not in ("common", "base")
    ]
    assert not bad, "the ground floor imports a layer above it:\n" + "\n".join(bad)


def test_nothing_outside_the_cli_imports_it():
    known = modules()
    users = [
        f"{module} imports {name}"
        for module, path in known.items()
        if layer(module) != "cli"
        for name, _ in imports(path, known)
        if name.startswith("autotag") and layer(name) == "cli"
    ]
    assert not users


def test_data_models_and_runs_import_neither_hydra_nor_the_trainer():
    known = modules()
    bad = []
    for module, path in known.items():
        if layer(module) not in ("base", "data", "models", "runs"):
            continue
        for name, line in imports(path, known, names=True):
            if name.startswith(FORBIDDEN_BELOW_TRAINING):
                bad.append(f"{path.relative_to(ROOT)}:{line}: {name}")
        text = path.read_text()
        if "pl.Trainer" in text or "HydraConfig" in text:
            bad.append(f"{path.relative_to(ROOT)}: uses the Trainer or HydraConfig")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    known = modules()
    graph = {
        m: {n for n, _ in imports(p, known) if n in known and n != m} for m, p in known.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" → ".join([*stack[stack.index(n) :], n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_import_parser_sees_what_the_checks_need(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from autotag.training.run import fit\n"
        "def f():\n    from pytorch_lightning import Trainer\n"
        "from . import store\nfrom ..models import registry\n"
    )
    found = imports(probe, modules(), names=True, module="autotag.data.probe")
    assert sorted(found, key=lambda x: x[1]) == [
        ("autotag.training.run.fit", 1),
        ("pytorch_lightning.Trainer", 3),
        ("autotag.data.store", 4),
        ("autotag.models.registry", 5),
    ]
    assert found[-1][0].startswith(FORBIDDEN_BELOW_TRAINING)  # the Trainer inside a function


def test_a_data_set_is_imported_only_from_its_own_folder():
    """Everything else reaches a data set through ``autotag.data.datasets``' registry, so a data
    set is one folder: no generic module (download, synthetic, prepare) knows one by name."""
    known = modules()
    sets = {m.split(".")[3] for m in known if m.startswith("autotag.data.datasets.")}
    sets -= {"registry"}
    wrong = []
    for module, path in known.items():
        own = module.split(".")[3] if module.startswith("autotag.data.datasets.") else None
        for target, line in imports(path, known, module=module):
            parts = target.split(".")
            if target.startswith("autotag.data.datasets.") and len(parts) > 3:
                if parts[3] in sets and parts[3] != own:
                    wrong.append(f"{module}:{line} imports {target}")
    assert sets >= {"mtat", "jamendo", "catalog"}
    assert not wrong, "\n".join(wrong)
