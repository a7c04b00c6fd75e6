"""SurroundYou: turn a song into streaming-rendered "8D audio".

The layers, each a subpackage whose docstring says what it may import (tests/base/test_layers.py holds
every module to it), from the bottom up:
  dsp      the signal processing on numpy arrays, with its C loops
  audio    audio files: sniffing, decoding, encoding, tags
  convert  one conversion, file to file
  aws      S3 and the AWS clients
  run      the ways to run it: the command line, local runs, cloud, the queue service
Beneath them all, the top-level modules every layer may use, which import only each other:
errors, logs, settings, formats (the output formats), children (ffmpeg processes), progress.
"""

import os

__version__ = "0.1.0"

# The conversion runs its own threads (decode, room, encode) on 1-2 vCPUs; OpenBLAS's
# busy-waiting worker threads on top of them cost 40 % more CPU for nothing (measured on a 2-core
# machine in November 2026, when the limiter interpolated with matrix products). Read when numpy
# loads, so set before any import of it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
