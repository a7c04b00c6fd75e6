import numpy as np

STATE: int

def energy(out: np.ndarray, block: np.ndarray, coefficients: np.ndarray, state: np.ndarray, /) -> None: ...
