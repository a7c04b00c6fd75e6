import numpy as np

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
