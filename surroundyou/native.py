"""The package's loops in C (``_binaural.c``, ``_energy.c``, ``_limiter.c``), built when the project is installed."""

try:
    from . import _binaural, _energy, _limiter
except ImportError as exc:  # a checkout used without installing it
    raise ImportError("the C loops (surroundyou/*.c) are not built: run ./dev run once, or pip install -e .") from exc

__all__ = ["_binaural", "_energy", "_limiter"]
