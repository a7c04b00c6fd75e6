"""The package's loops in C (``_binaural.c``, ``_energy.c``, ``_limiter.c``), built when the project is installed.

In a checkout, ``pip install -e .`` (which ``./dev`` runs) compiles each ``.c`` file once into a
module beside it. A source edited or checked out since then would leave the old loops running,
silently, so this import refuses them, in one line naming the command that rebuilds them. An
installed package (the container image) is built once and never edited, so it is not checked (pip
copies the ``.c`` files into it too, with the times of the copy).
"""

from __future__ import annotations

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

REBUILD = "run ./dev test, or pip install -e . --no-build-isolation --no-deps"


def stale_sources(folder: Path) -> list[Path]:
    """The C sources in ``folder`` changed since a module was built from them: a ``.c`` file or a
    header (every module includes them) newer than the module built from a ``.c`` file beside it."""
    headers = sorted(folder.glob("*.h"))
    stale: set[Path] = set()
    for source in sorted(folder.glob("*.c")):
        # The file the import system would load for this source, as it searches the suffixes.
        built = next((b for b in (folder / (source.stem + s) for s in EXTENSION_SUFFIXES) if b.exists()), None)
        if built is not None:
            built_at = built.stat().st_mtime
            stale.update(path for path in (source, *headers) if path.stat().st_mtime > built_at)
    return sorted(stale)


def in_checkout(folder: Path) -> bool:
    """Whether ``folder`` (the package's ``dsp``) lies in the project's source tree, beside pyproject.toml."""
    return (folder.parents[1] / "pyproject.toml").is_file()


def check_built(folder: Path) -> None:
    """Raises ImportError, one line naming the command, when C sources in ``folder`` (in a checkout) are newer
    than their modules."""
    stale = stale_sources(folder) if in_checkout(folder) else []
    if stale:
        changed = ", ".join(path.name for path in stale)
        raise ImportError(f"the C loops are out of date ({changed} changed since they were built): {REBUILD}")


check_built(Path(__file__).parent)  # before the import, so that a stale module is never loaded

try:
    from surroundyou.dsp import _binaural, _energy, _limiter
except ImportError as exc:  # a checkout used without installing it
    raise ImportError(f"the C loops (surroundyou/dsp/*.c) are not built: {REBUILD}") from exc

__all__ = ["_binaural", "_energy", "_limiter"]
