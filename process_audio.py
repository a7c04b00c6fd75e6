#!/usr/bin/env python3
"""SurroundYou: the one entry point. See README.md or ``process_audio.py --help``."""

import sys

from surroundyou.cli import main

if __name__ == "__main__":
    sys.exit(main())
