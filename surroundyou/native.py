"""The package's loops in C (``_ear.c``, ``_energy.c``, ``_true_peak.c``), built when the project is installed."""

try:
    from . import _ear, _energy, _true_peak
except ImportError as exc:  # a checkout used without installing it
    raise ImportError(
        "the C loops (surroundyou/_ear.c, _energy.c) are not built: run ./dev run once, or pip install -e ."
    ) from exc

__all__ = ["_ear", "_energy", "_true_peak"]
