"""The downloaders' command-line mechanics: exit codes and ``key=value`` tokens, and
``python -m autotag.data.download``, the old form of ``autotag download <dataset>``.

Each data set's flags and run live in its folder (``autotag/data/datasets/<name>/commands.py``).
The old form takes ``--dataset`` (MTAT by default) and bare ``key=value`` tokens
(``dataset=jamendo audio=audio-low``), as the Hydra commands of the project. Exit codes: 0
success, 1 download/verification error (or a disk error), 2 host unreachable (with
instructions), 130 interrupted (run again to resume).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable

from autotag.data.datasets.registry import Command, datasets
from autotag.data.download.errors import DownloadError, HostUnreachableError

PROG = "python -m autotag.data.download"
#: Flags without a value: ``key=true`` gives the flag, ``key=false`` drops it.
_SWITCHES = {"--keep-zip", "--keep-tars", "--no-extract", "--no-progress", "--metadata-only"}
_KEY_VALUE = re.compile(r"([A-Za-z][\w-]*)=(.*)", re.DOTALL)


def rewrite_key_values(argv: list[str]) -> list[str]:
    """Turn bare ``key=value`` tokens into ``--key value`` (``_`` in a key becomes ``-``)."""
    out: list[str] = []
    takes_value = False  # the previous token is a flag whose value this token is
    for tok in argv:
        m = None if takes_value else _KEY_VALUE.fullmatch(tok)
        if m is None:
            out.append(tok)
            takes_value = tok.startswith("--") and "=" not in tok and tok not in _SWITCHES
            continue
        flag, value = "--" + m.group(1).replace("_", "-"), m.group(2)
        if flag in _SWITCHES:
            if value.lower() in ("true", "1", "yes", ""):
                out.append(flag)
            elif value.lower() not in ("false", "0", "no"):
                out.append(f"{flag}={value}")  # argparse reports it
        else:
            out += [flag, value]
        takes_value = False
    return out


def run_job(job: Callable[[], object], unreachable: Callable[[HostUnreachableError], str]) -> int:
    """Run ``job``; map its errors to a message on stderr and an exit code."""
    try:
        job()
    except HostUnreachableError as e:
        print(unreachable(e), file=sys.stderr)
        return 2
    except (DownloadError, OSError) as e:  # OSError: disk full, permissions, ...
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def downloads() -> dict[str, Command]:
    """The download command of every data set that has one, by name."""
    return {name: d.download for name, d in datasets().items() if d.download is not None}


def parser(name: str, command: Command, prog: str = PROG) -> argparse.ArgumentParser:
    """The old form's parser of data set ``name`` (its flags plus ``--dataset``)."""
    ap = argparse.ArgumentParser(
        prog=prog if name == "mtat" else f"{prog} dataset={name}", description=command.help
    )
    ap.add_argument(
        "--dataset",
        choices=list(downloads()),
        default=name,
        help="mtat (the default) or jamendo (`--dataset jamendo --help`: its options)",
    )
    command.add_arguments(ap)
    return ap


def main(argv: list[str] | None = None) -> int:
    """``python -m autotag.data.download``; returns the exit code (0 ok, 1 error, 2 unreachable)."""
    argv = rewrite_key_values(list(sys.argv[1:] if argv is None else argv))
    commands = downloads()
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--dataset", choices=list(commands), default="mtat")
    name = pre.parse_known_args(argv)[0].dataset
    return commands[name].run(parser(name, commands[name]).parse_args(argv))
