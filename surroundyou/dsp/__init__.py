"""The signal processing: pure functions and small stateful processors on numpy arrays.

Motion around the head, the binaural renderer and its head model (and SOFA HRTFs), the
room, the limiter, the loudness meters and the motion meter, with their loops in C
(``_binaural.c``, ``_energy.c``, ``_limiter.c``). No file, process or network I/O except
reading a SOFA file that the caller names.

May import: the top-level modules (``errors``, ``logs``, ``settings``, ``children``, ``progress``).
"""
