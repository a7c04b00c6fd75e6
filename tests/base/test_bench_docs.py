"""bench/bench.py --write-docs: the results it prints go into docs/performance.md between two marker
lines, with when, where, at which commit and by which command they were measured. Fake results: no
conversion runs here."""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_script", ROOT / "bench" / "bench.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = _bench()
START, END = bench.START_MARKER, bench.END_MARKER
PAGE = f"# Performance\n\nHow it is measured.\n\n{START}\nold table\n{END}\n\n## The songs\n"


def fake_results(pinned: bool) -> object:
    """Two inputs; binaural takes 1.5 times the bare transcode's wall time, pan 1.2 times."""
    rows = []
    for name, kind, bare in (("a.mp3", "real", 2.0), ("b.mp3", "generated, heavy limiting", 3.0)):
        runs = {
            "bare": bench.Run(bare, bare, 33.0),
            "binaural": bench.Run(1.5 * bare, 2 * bare, 70.0),
            "pan": bench.Run(1.2 * bare, 1.5 * bare, 67.0),
        }
        if pinned:
            runs["bare 1 core"], runs["binaural 1 core"] = bench.Run(bare, bare, 33.0), bench.Run(2 * bare, bare, 70.0)
        rows.append(bench.Row(Path(name), kind, 208.0, runs))
    return bench.Results(rows, pinned, 3, bench.Run(0.06, 0.05, 20.0), 30.0, bench.Run(22.3, 40.0, 82.0))


def between(text: str) -> str:
    return text.split(START + "\n", 1)[1].split(END, 1)[0]


def test_the_block_replaces_only_what_lies_between_the_markers() -> None:
    once = bench.replace_between_markers(PAGE, "| a |\n|---|\n| 1 |\n")
    assert between(once).strip() == "| a |\n|---|\n| 1 |"
    assert once.split(START)[0] == PAGE.split(START)[0] and once.split(END)[1] == PAGE.split(END)[1]
    again = bench.replace_between_markers(once, "| b |\n|---|\n| 2 |")
    assert between(again).strip() == "| b |\n|---|\n| 2 |" and "| a |" not in again
    assert bench.replace_between_markers(again, "| b |\n|---|\n| 2 |") == again  # a rerun changes nothing


@pytest.mark.parametrize(
    "page",
    [
        "# Performance\n",
        f"{START}\nno end\n",
        f"{END}\n{START}\n",
        f"{START}\n{START}\n{END}\n",
        f"text {START}\n{END}\n",  # a marker inside a line is not a marker line
    ],
    ids=["none", "no end", "end first", "twice", "inside a line"],
)
def test_markers_missing_or_out_of_order_fail_with_one_line(tmp_path: Path, page: str) -> None:
    with pytest.raises(ValueError, match="needs a line"):
        bench.replace_between_markers(page, "| a |")
    docs = tmp_path / "performance.md"
    docs.write_text(page)
    with pytest.raises(SystemExit) as stop:
        bench.write_docs(docs, "| a |")
    assert str(stop.value).count("\n") == 0 and str(docs) in str(stop.value) and START in str(stop.value)
    assert docs.read_text() == page


def test_a_missing_page_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match=r"performance\.md: No such file or directory$"):
        bench.write_docs(tmp_path / "performance.md")


def test_the_check_before_measuring_leaves_the_page_as_it_is(tmp_path: Path) -> None:
    docs = tmp_path / "performance.md"
    docs.write_text(PAGE)
    bench.write_docs(docs)
    assert docs.read_text() == PAGE


@pytest.mark.parametrize("pinned", [False, True])
def test_the_written_results_render_as_one_table_with_their_provenance(tmp_path: Path, pinned: bool) -> None:
    import markdown  # installed with mkdocs, which builds docs/ with it

    measured = bench.provenance(3, ["--write-docs"])
    docs = tmp_path / "performance.md"
    docs.write_text(PAGE)
    bench.write_docs(docs, "\n".join(bench.report(fake_results(pinned), measured)))
    written = between(docs.read_text())
    assert written.strip().startswith(measured)
    html = markdown.markdown(docs.read_text(), extensions=["tables"])
    assert html.count("<table>") == 1 and "old table" not in html
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.DOTALL)
    cells = [re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row) for row in rows]
    assert len(cells) == 3 and {len(row) for row in cells} == {7 + pinned}
    assert [row[0] for row in cells[1:]] == ["a.mp3 (real)", "b.mp3 (generated, heavy limiting)"]
    assert all("(1.50)" in row[3] and "(1.20)" in row[4] for row in cells[1:])  # the ratios to bare
    assert ("1 core" in cells[0][6]) == pinned
    assert "Real songs, median ratio to bare: binaural wall 1.50" in written
    assert "peak RSS 82 MB" in written


def test_the_provenance_says_when_where_at_which_commit_and_how() -> None:
    measured = bench.provenance(3, ["--repeat", "3", "--write-docs"])
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    cores = f"{os.cpu_count()} x "
    assert re.search(r"^Measured on \d{4}-\d\d-\d\d \d\d:\d\d UTC on ", measured), measured
    assert f" UTC on {cores}" in measured and f"Python {platform.python_version()}" in measured
    assert f"at commit {head.stdout.strip()}" in measured
    assert "with `./dev bench --repeat 3 --write-docs`: median of 3 rounds" in measured
