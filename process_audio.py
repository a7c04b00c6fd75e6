#!/usr/bin/env python3
"""SurroundYou: the one entry point. See README.md or ``process_audio.py --help``."""

import importlib.util
import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv"  # where ./dev installs the packages


def _has_packages() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("numpy", "pedalboard"))


if __name__ == "__main__":
    if not _has_packages():
        # Started by a Python without the packages (./process_audio.py, python3 process_audio.py):
        # hand over to the project's virtualenv when there is one.
        python = VENV / "bin" / "python"
        if python.exists() and Path(sys.prefix).resolve() != VENV.resolve():
            os.execv(python, [str(python), *sys.argv])  # noqa: S606 - our own virtualenv, our own arguments
        sys.stderr.write(
            "error: this Python has no numpy and pedalboard: run ./dev run once (it installs them into .venv), "
            "then ./process_audio.py\n"
        )
        sys.exit(2)
    from surroundyou.run.cli import main

    sys.exit(main())
