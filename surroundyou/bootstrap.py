"""Hand a script over to the checkout's .venv when the Python that started it lacks the project's packages.

Standard library only, and loaded by its path (process_audio.py, infra/deploy.py), not imported as part of
the package: it runs exactly when the package's dependencies cannot be imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path


def hand_over(checkout: Path, needs: Sequence[str], message: str) -> None:
    """Return if this Python can import every module in ``needs``. Otherwise run this same command with
    ``checkout``'s .venv Python (never returns), or, with no .venv (or if this already is it), write
    ``message`` as one line to stderr and exit 2."""
    if all(importlib.util.find_spec(name) is not None for name in needs):
        return
    venv = checkout / ".venv"
    python = venv / "bin" / "python"
    if python.exists() and Path(sys.prefix).resolve() != venv.resolve():
        os.execv(python, [str(python), *sys.argv])  # noqa: S606 - our own virtualenv, our own arguments
    sys.stderr.write(message + "\n")
    sys.exit(2)
