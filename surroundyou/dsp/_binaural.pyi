import numpy as np

GRID: int
TAPS: int
BASE_DELAY: int
BASS_STATE: int
SHADE_STATE: int
BAND_FIELDS: int
BAND_STATE: int
BANDS: int

def ear(
    out: np.ndarray,
    line: np.ndarray,
    low: np.ndarray,
    x: np.ndarray,
    g_low: np.ndarray,
    g_direct: np.ndarray,
    delay: np.ndarray | None,
    skip: int,
    /,
) -> None: ...
def split_bass(
    highs: np.ndarray, bass: np.ndarray, block: np.ndarray, coefficients: np.ndarray, state: np.ndarray, /
) -> None: ...
def shade(
    mixed: np.ndarray,
    low: np.ndarray,
    x: np.ndarray,
    rear: np.ndarray | None,
    skip: int,
    rear_gain: float,
    coefficients: np.ndarray,
    state: np.ndarray,
    facing: np.ndarray | None,
    bands: np.ndarray,
    band_state: np.ndarray,
    /,
) -> None: ...
