"""SurroundYou: turn a song into streaming-rendered "8D audio"."""

import os

__version__ = "0.1.0"

# The conversion runs its own threads (decode, room, encode) on 1-2 vCPUs; OpenBLAS's
# busy-waiting worker threads on top of them cost 40 % more CPU for nothing (measured
# with the limiter's matrix products). Read when numpy loads, so set before any import of it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
