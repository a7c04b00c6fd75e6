"""The C loops as built modules (native.py): a build older than its sources is refused, and the one
formula C and Python still both write, the motion grid's ramp, gives the same values.
(The stubs are checked against the built modules by ./dev lint: mypy's stubtest.)"""

from __future__ import annotations

import importlib.util
import os
import shutil
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import numpy as np
import pytest

from surroundyou.dsp import native
from surroundyou.dsp.motion import GridCurves
from surroundyou.dsp.native import _binaural, check_built, stale_sources

BUILT_AT = 1_000_000_000.0  # seconds since the epoch: when the fake modules were built


def fake_checkout(root: Path, sources: dict[str, float], built: list[str]) -> Path:
    """root/pyproject.toml and root/surroundyou/dsp holding ``sources`` (name: mtime) and an empty
    "built module" per name in ``built``, made at BUILT_AT; returns the dsp folder."""
    folder = root / "surroundyou" / "dsp"
    folder.mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    for name, mtime in sources.items():
        (folder / name).write_text("")
        os.utime(folder / name, (mtime, mtime))
    for stem in built:
        module = folder / (stem + EXTENSION_SUFFIXES[0])
        module.write_bytes(b"")
        os.utime(module, (BUILT_AT, BUILT_AT))
    return folder


BEFORE, AFTER = BUILT_AT - 60.0, BUILT_AT + 60.0


@pytest.mark.parametrize(
    ("sources", "built", "stale"),
    [
        ({"_a.c": BEFORE, "_b.c": BEFORE, "_buffers.h": BEFORE}, ["_a", "_b"], []),
        ({"_a.c": AFTER, "_b.c": BEFORE, "_buffers.h": BEFORE}, ["_a", "_b"], ["_a.c"]),
        ({"_a.c": BEFORE, "_b.c": BEFORE, "_buffers.h": AFTER}, ["_a", "_b"], ["_buffers.h"]),
        # A source without its module: the import says it is not built.
        ({"_a.c": BEFORE, "_b.c": AFTER}, ["_a"], []),
    ],
    ids=["built after every source", "a .c edited since", "a header edited since", "a module not built"],
)
def test_stale_sources_are_those_newer_than_a_module_built_from_them(
    tmp_path: Path, sources: dict[str, float], built: list[str], stale: list[str]
) -> None:
    folder = fake_checkout(tmp_path, sources, built)
    assert [path.name for path in stale_sources(folder)] == stale


def test_a_stale_build_is_refused_in_one_line_naming_the_command(tmp_path: Path) -> None:
    folder = fake_checkout(tmp_path, {"_a.c": AFTER, "_buffers.h": BEFORE}, ["_a"])
    with pytest.raises(ImportError) as refused:
        check_built(folder)
    message = str(refused.value)
    assert "\n" not in message
    assert "_a.c" in message
    assert "./dev test" in message
    assert "pip install -e . --no-build-isolation --no-deps" in message


def test_an_installed_package_is_not_checked(tmp_path: Path) -> None:
    # pip copies the .c files into site-packages too, with the times of the copy; no pyproject.toml there.
    folder = fake_checkout(tmp_path, {"_a.c": AFTER}, ["_a"])
    (tmp_path / "pyproject.toml").unlink()
    check_built(folder)


def test_importing_native_beside_a_changed_source_refuses_before_loading_a_module(tmp_path: Path) -> None:
    # native.py itself, in a checkout whose _binaural.c changed after its (fake, unloadable) module
    # was built: the import stops at the check, before it would load the module.
    folder = fake_checkout(tmp_path, {"_binaural.c": AFTER, "_buffers.h": BEFORE}, ["_binaural"])
    shutil.copy(native.__file__, folder / "native.py")
    spec = importlib.util.spec_from_file_location("copied_native", folder / "native.py")
    assert spec is not None and spec.loader is not None
    with pytest.raises(ImportError, match=r"_binaural\.c changed since .*: run \./dev test"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


@pytest.mark.parametrize("start", [0, 37, 64 * 5 + 63])
def test_the_c_loops_ramp_between_grid_points_exactly_as_motion_does(start: int) -> None:
    # _binaural.ear's gains (here g_direct on x = 1, g_low on silence) against motion's own
    # interpolation of the same grid values, bit for bit: the ramp j / GRID is written in both.
    n = 1000
    curves = GridCurves(start, n, 44100.0, 3.0, lambda theta: np.stack((np.sin(theta), 1.0 + np.cos(3.0 * theta))))
    line = np.zeros(_binaural.TAPS + n, np.float32)
    out = np.empty(n, np.float32)
    low, x = np.zeros(n, np.float32), np.ones(n, np.float32)
    _binaural.ear(out, line, low, x, curves.at_grid[0], curves.at_grid[1], None, curves.skip)
    delay = _binaural.BASE_DELAY
    assert np.array_equal(out[delay:], curves.row(1)[:-delay])
