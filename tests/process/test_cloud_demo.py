"""`./dev cloud-demo`: cloud mode tried locally, end to end over moto's HTTP server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.audio import decode, loudness_lufs
from tests.support.processes import ROOT


def test_cloud_demo_uploads_converts_and_lists_the_result(tmp_path: Path) -> None:
    script = ROOT / "tools" / "cloud_demo.py"
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "worker exit code 0" in result.stdout
    assert "processed/demo song.mp3" in result.stdout and "'source-key': 'input/demo song.wav'" in result.stdout
    assert '"event": "converted"' in result.stderr and "127.0.0.1 - -" not in result.stderr  # no request log noise
    y, rate = decode(tmp_path / "output" / "cloud-demo_8d.mp3")
    assert 24.0 <= y.shape[1] / rate <= 28.5 and abs(loudness_lufs(y, rate) + 14.0) < 0.5
