#!/usr/bin/env python3
"""SurroundYou: the one entry point. See README.md or ``process_audio.py --help``."""

import importlib.util
import sys
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent  # ./dev installs the packages into its .venv


def _hand_over_without_packages() -> None:
    """Started by a Python without the packages (./process_audio.py, python3 process_audio.py): hand over
    to the project's virtualenv when there is one (surroundyou/bootstrap.py, loaded by its path)."""
    spec = importlib.util.spec_from_file_location("surroundyou_bootstrap", CHECKOUT / "surroundyou" / "bootstrap.py")
    assert spec is not None and spec.loader is not None
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    bootstrap.hand_over(
        CHECKOUT,
        ("numpy", "pedalboard"),
        "error: this Python has no numpy and pedalboard: run ./dev run once (it installs them into .venv), "
        "then ./process_audio.py",
    )


if __name__ == "__main__":
    # Checked here first: the image holds this file alone in /app, with the packages installed.
    if not all(importlib.util.find_spec(name) is not None for name in ("numpy", "pedalboard")):
        _hand_over_without_packages()
    from surroundyou.run.cli import main

    sys.exit(main())
