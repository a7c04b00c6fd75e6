"""The Markdown a reader follows: every relative link and #anchor in README.md and docs/ resolves as
GitHub renders it, and every page of docs/ is in mkdocs.yml's nav.

Links are ``[text](target)``, ``![alt](target)`` and ``[name]: target`` definitions, outside code
blocks and code spans; http(s), mailto and other schemes are not followed. A path resolves from the
linking file's folder and must stay inside the repository; an anchor must be the GitHub slug of a
heading of the target (or of the linking file, for ``#anchor`` alone). ``./dev docs`` builds the site
with MkDocs, which checks links inside docs/ again with its own anchors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)[\s\S]*?(?<!`)\1(?!`)")
# The text may hold one level of brackets and wrap across lines; an optional "title" follows the target.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]*)>?(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)")
DEFINITION = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?", re.MULTILINE)
ATX = re.compile(r"^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$")
SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
HTML_ID = re.compile(r"<a\s[^>]*\b(?:id|name)=\"([^\"]+)\"")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
CODE_LINE = re.compile(r"^L\d+(-L\d+)?$")  # GitHub's anchors to lines of a non-Markdown file


def markdown_files(root: Path) -> list[Path]:
    """README.md and the other top-level pages, docs/ (at any depth), and the folders' own READMEs."""
    docs = root / "docs"
    return sorted({*root.glob("*.md"), *root.glob("*/README.md"), *(docs.rglob("*.md") if docs.is_dir() else ())})


def prose(text: str) -> str:
    """``text`` with fenced code blocks blanked, lines and offsets kept (so a match's offset gives its line)."""
    lines, fence = text.split("\n"), ""
    for i, line in enumerate(lines):
        opened = FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
            lines[i] = ""
        elif opened:
            fence, lines[i] = opened.group(1), ""
    return "\n".join(lines)


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line, target) of each link outside code."""
    plain = CODE_SPAN.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), prose(text))
    for pattern in (LINK, DEFINITION):
        for m in pattern.finditer(plain):
            yield plain.count("\n", 0, m.start(1)) + 1, m.group(1)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text lowercased, punctuation but hyphens and underscores
    dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts by its text
    text = re.sub(r"<[^>]+>|[`*]", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def headings(text: str) -> Iterator[str]:
    previous = ""
    for line in prose(text).split("\n"):
        if m := ATX.match(line):
            yield m.group(1)
        elif SETEXT.match(line) and previous.strip() and not previous.lstrip().startswith(("|", "-", "*", ">")):
            yield previous.strip()
        previous = "" if ATX.match(line) else line


def anchors(text: str) -> set[str]:
    """Every anchor of a page: a heading's slug, repeated ones numbered -1, -2 as GitHub does; HTML ids."""
    found: set[str] = set()
    for heading in headings(text):
        slug = base = github_slug(heading)
        n = 0
        while slug in found:
            n += 1
            slug = f"{base}-{n}"
        found.add(slug)
    return found | set(HTML_ID.findall(text))


def problem(page: Path, target: str, root: Path) -> str | None:
    """Why ``target``, linked from ``page``, does not resolve; None when it does."""
    if SCHEME.match(target):
        return None
    path, _, anchor = target.partition("#")
    if path.startswith("/"):
        return "an absolute path (a relative one resolves on GitHub and in the site alike)"
    file = (page.parent / unquote(path)).resolve() if path else page
    if not file.is_relative_to(root.resolve()):
        return "outside the repository"
    if not file.exists():
        return "no such file"
    if not anchor:
        return None
    if file.suffix != ".md":
        return None if CODE_LINE.match(anchor) else f"#{anchor} in a file that is not Markdown"
    if unquote(anchor) not in anchors(file.read_text()):
        return f"no heading of {file.name} has the anchor #{anchor}"
    return None


def broken_links(pages: list[Path], root: Path) -> list[str]:
    """``page:line: target: why`` for each link that does not resolve."""
    found = []
    for page in pages:
        for line, target in links(page.read_text()):
            if (why := problem(page, target, root)) is not None:
                found.append(f"{page.relative_to(root)}:{line}: {target}: {why}")
    return found


def nav_pages(nav: Any) -> Iterator[str]:
    """The page paths of a MkDocs nav: strings at any depth, bare or as a title's value."""
    if isinstance(nav, str):
        if not SCHEME.match(nav):
            yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def nav_mismatches(root: Path) -> list[str]:
    """Pages of the docs folder that mkdocs.yml's nav leaves out, and nav entries with no page."""
    import yaml

    class Loader(yaml.SafeLoader):
        """Reads mkdocs.yml's Python tags (``!!python/name:...``, ``!ENV``) as nothing: only the nav counts."""

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    config = yaml.load((root / "mkdocs.yml").read_text(), Loader=Loader)  # SafeLoader's, plus the tags above
    docs = root / config.get("docs_dir", "docs")
    listed = set(nav_pages(config.get("nav", [])))
    present = {p.relative_to(docs).as_posix() for p in docs.rglob("*.md")}
    return [f"{page}: not in mkdocs.yml's nav" for page in sorted(present - listed)] + [
        f"{page}: in mkdocs.yml's nav, not in {docs.name}/" for page in sorted(listed - present)
    ]


def test_every_relative_link_and_anchor_of_the_repositorys_markdown_resolves() -> None:
    pages = markdown_files(ROOT)
    assert ROOT / "README.md" in pages and any(p.parent.name == "docs" for p in pages), pages
    assert broken_links(pages, ROOT) == []


def test_every_page_of_docs_is_in_the_mkdocs_nav() -> None:
    assert nav_mismatches(ROOT) == []


def test_github_slugs_of_headings() -> None:
    cases = {
        "Quick start": "quick-start",
        "Quick start (fresh Debian or Ubuntu, Python 3.11+)": "quick-start-fresh-debian-or-ubuntu-python-311",
        "`--jobs N`: songs at once": "--jobs-n-songs-at-once",
        "Cost of 1,000 songs": "cost-of-1000-songs",
        "What's in a [name](https://example.com)?": "whats-in-a-name",
        "Deploy & tear down": "deploy--tear-down",
        "snake_case and Über": "snake_case-and-über",
    }
    assert {heading: github_slug(heading) for heading in cases} == cases


def test_broken_links_and_anchors_are_found_and_good_ones_pass(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "run.py").write_text("print()\n")
    (tmp_path / "docs" / "guide.md").write_text(
        "# Guide\n\n## Set up\n\ntext\n\n## Set up\n\nAgain\n=====\n\n"
        "[back](../README.md#read-me) [self](#set-up-1) [other](#again)\n"
    )
    (tmp_path / "README.md").write_text(
        "# Read me\n\n"
        "A link whose text\nwraps: [the guide](docs/guide.md#set-up), [code](bench/run.py#L1-L3),\n"
        "[site](https://example.com/missing.md), [mail](mailto:a@b.c), `[not](a-link.md)`.\n\n"
        "```sh\n[in a fence](nowhere.md)\n```\n\n"
        "[gone](docs/gone.md) [no anchor](docs/guide.md#setup) [here](#nothing)\n"
        "![image](docs/missing.png) [up](../outside.md) [root](/docs/guide.md) [code](bench/run.py#main)\n\n"
        "[ref]: docs/guide.md#no-such\n"
    )
    assert markdown_files(tmp_path) == [tmp_path / "README.md", tmp_path / "docs" / "guide.md"]
    assert broken_links(markdown_files(tmp_path), tmp_path) == [
        "README.md:11: docs/gone.md: no such file",
        "README.md:11: docs/guide.md#setup: no heading of guide.md has the anchor #setup",
        "README.md:11: #nothing: no heading of README.md has the anchor #nothing",
        "README.md:12: docs/missing.png: no such file",
        "README.md:12: ../outside.md: outside the repository",
        "README.md:12: /docs/guide.md: an absolute path (a relative one resolves on GitHub and in the site alike)",
        "README.md:12: bench/run.py#main: #main in a file that is not Markdown",
        "README.md:14: docs/guide.md#no-such: no heading of guide.md has the anchor #no-such",
    ]


def test_a_docs_page_left_out_of_the_nav_is_found(tmp_path: Path) -> None:
    (tmp_path / "docs" / "deploy").mkdir(parents=True)
    for page in ("index.md", "deploy/aws.md", "forgotten.md"):
        (tmp_path / "docs" / page).write_text("# A page\n")
    (tmp_path / "mkdocs.yml").write_text(
        "site_name: x\nnav:\n  - Home: index.md\n  - Deploying:\n    - deploy/aws.md\n    - Gone: gone.md\n"
        "  - GitHub: https://github.com/\nmarkdown_extensions:\n  - toc:\n"
        "      slugify: !!python/name:markdown.extensions.toc.slugify_unicode\n"
    )
    assert nav_mismatches(tmp_path) == [
        "forgotten.md: not in mkdocs.yml's nav",
        "gone.md: in mkdocs.yml's nav, not in docs/",
    ]
