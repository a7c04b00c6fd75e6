"""Tags: the input's title, artist, album, track, genre, date and cover art, carried to the output.

mutagen reads them from whatever the input is (ID3 frames in MP3 and WAV,
Vorbis comments and picture blocks in FLAC and Ogg, and mutagen's common "easy"
names for the rest, such as MP4 atoms), and writes them the way the output
format keeps them: ID3 frames for MP3 and WAV, Vorbis comments with a FLAC
picture block for FLAC and Ogg.
Tags are a courtesy: a tag that cannot be read or written is logged and the
conversion goes on.

Memory: bounded, whatever the file. Before mutagen reads anything, the metadata's
size is measured from the file's own headers (``metadata_bytes``: the ID3v2 tag,
FLAC's metadata blocks, Ogg's header pages, the chunks of WAV and AIFF besides the
audio, MP4's atoms besides ``mdat``, ASF's header object); over ``MAX_TAG_BYTES``
the tags are skipped with a warning. Headers can lie (mutagen trusts a FLAC
picture's own length over its block's), so mutagen then reads through
``_Budget``, which refuses to hand it more than ``MAX_TAG_BYTES`` in all. An output
carries a cover of at most ``MAX_COVER_BYTES`` and text values of at most
``MAX_TEXT_CHARS``, ``MAX_VALUES`` per field.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from surroundyou.audio.containers import MAX_TAG_BYTES, metadata_over_limit
from surroundyou.logs import log

# The fields carried over, by mutagen's "easy" name, and the ID3 frame that holds each.
ID3_FRAMES = {
    "title": "TIT2",
    "artist": "TPE1",
    "album": "TALB",
    "tracknumber": "TRCK",
    "genre": "TCON",
    "date": "TDRC",
}
FIELDS = tuple(ID3_FRAMES)
FRONT_COVER = 3  # the picture type both ID3 and FLAC use for a front cover
MARKER = "SurroundYou"  # a user text tag on our outputs: the settings and the input they came from

MAX_COVER_BYTES = 8 << 20  # the largest cover an output carries (a 3000 px JPEG is 1-3 MB)
MAX_TEXT_CHARS = 1000  # a longer text value is cut to this
MAX_VALUES = 16  # text values kept per field


@dataclass(frozen=True)
class Cover:
    mime: str
    data: bytes


@dataclass(frozen=True)
class Tags:
    text: dict[str, list[str]] = field(default_factory=dict)  # FIELDS that the input has, non-empty
    cover: Cover | None = None
    marker: str = ""  # written as MARKER, read back by read_marker

    def __bool__(self) -> bool:
        return bool(self.text) or self.cover is not None or bool(self.marker)


def read_tags(path: Path) -> Tags:
    """The input's tags; empty if it has none, they cannot be read, or they are over MAX_TAG_BYTES."""
    if (size := metadata_over_limit(path)) is not None:
        log.warning(
            "%s: its tags take %s, over the limit of %s: the output will have none",
            path.name,
            _mb(size),
            _mb(MAX_TAG_BYTES),
        )
        return Tags()
    try:
        with _Budget(path) as budget:
            try:
                return _read(path.name, budget)
            except Exception as exc:  # noqa: BLE001 - mutagen raises many kinds on damaged tags; tags are optional
                why = f"they take more than {_mb(MAX_TAG_BYTES)}" if budget.exceeded else str(exc)
    except OSError as exc:
        why = exc.strerror or str(exc)
    log.warning("%s: its tags cannot be read (%s); the output will have none", path.name, why)
    return Tags()


def _read(file_name: str, budget: _Budget) -> Tags:
    audio = budget.open()
    tags = getattr(audio, "tags", None)
    if tags is None:
        return Tags(cover=_bounded_cover(file_name, _read_cover(audio)))
    if hasattr(tags, "getall"):  # ID3, also inside WAV and AIFF, where mutagen has no "easy" view
        found = {name: [str(t) for t in tags[frame].text] for name, frame in ID3_FRAMES.items() if frame in tags}
    else:
        easy = budget.open(easy=True)
        found = {name: [str(v) for v in easy.tags[name]] for name in FIELDS if _has(easy.tags, name)}
    return Tags(_bounded_text(file_name, found), _bounded_cover(file_name, _read_cover(audio)))


def _mb(size: int) -> str:
    return f"{size / (1 << 20):.0f} MB" if size >= 1 << 20 else f"{size} bytes"


def _bounded_text(name: str, found: dict[str, list[str]]) -> dict[str, list[str]]:
    """The non-empty values of each field, at most MAX_VALUES of at most MAX_TEXT_CHARS each."""
    text = {key: [v.strip() for v in values if v.strip()] for key, values in found.items()}
    text = {key: values for key, values in text.items() if values}
    bounded = {key: [v[:MAX_TEXT_CHARS] for v in values[:MAX_VALUES]] for key, values in text.items()}
    if bounded != text:
        log.warning("%s: tag values over %d characters or %d per field were cut", name, MAX_TEXT_CHARS, MAX_VALUES)
    return bounded


def _bounded_cover(name: str, cover: Cover | None) -> Cover | None:
    if cover is not None and len(cover.data) > MAX_COVER_BYTES:
        log.warning(
            "%s: its cover of %s is over the limit of %s: the output has none (its text tags are kept)",
            name,
            _mb(len(cover.data)),
            _mb(MAX_COVER_BYTES),
        )
        return None
    return cover


class _OverBudget(Exception):
    """mutagen asked for more of a file than ``_Budget`` allows."""


class _Budget:
    """The file as mutagen reads it: at most ``budget`` bytes per ``open``, then every read raises.

    A read that would pass the budget is refused before anything is allocated for it, so a
    lying length field (or a read to the end of a huge file) costs nothing."""

    def __init__(self, path: Path, budget: int = MAX_TAG_BYTES) -> None:
        self.name = str(path)
        self._file: IO[bytes] = path.open("rb")
        self._budget = self._left = budget
        self.exceeded = False  # a read was refused (mutagen may wrap what we raise)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            here = self._file.tell()
            size = max(0, self._file.seek(0, 2) - here)
            self._file.seek(here)
        if size > self._left:
            self.exceeded = True
            raise _OverBudget(f"a read of {size} bytes with {self._left} left of {self._budget}")
        data = self._file.read(size)
        self._left -= len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def open(self, easy: bool = False) -> Any:
        """mutagen's view of the file (None if it knows no such format), from a full budget."""
        import mutagen

        self._file.seek(0)
        self._left = self._budget
        return mutagen.File(self, easy=easy)

    def __enter__(self) -> _Budget:
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.close()


def _has(tags: object, name: str) -> bool:
    try:
        return name in tags  # type: ignore[operator]
    except (KeyError, ValueError):  # a key this format's easy view cannot map
        return False


def _read_cover(audio: object) -> Cover | None:
    """The first picture of a file mutagen opened (not in its easy view)."""
    from mutagen.flac import Picture

    if audio is None:
        return None
    tags = getattr(audio, "tags", None)
    pictures = getattr(audio, "pictures", None)  # FLAC
    if pictures:
        return Cover(pictures[0].mime, pictures[0].data)
    if tags is None:
        return None
    if hasattr(tags, "getall"):  # ID3 (MP3, WAV, AIFF)
        frames = tags.getall("APIC")
        return Cover(frames[0].mime, frames[0].data) if frames else None
    if "covr" in tags:  # MP4
        art = tags["covr"][0]
        return Cover("image/png" if art.imageformat == art.FORMAT_PNG else "image/jpeg", bytes(art))
    blocks = tags.get("metadata_block_picture") if hasattr(tags, "get") else None
    if blocks:  # Ogg Vorbis and Opus: a base64 FLAC picture block
        picture = Picture(base64.b64decode(blocks[0]))
        return Cover(picture.mime, picture.data)
    return None


def write_tags(path: Path, kind: str, tags: Tags) -> None:
    """Write ``tags`` into the finished file at ``path``, as its format's ``kind`` of tags (formats.py)."""
    if not tags:
        return
    try:
        if kind in ("id3", "wav-id3"):
            _write_id3(path, tags, riff=kind == "wav-id3")
        else:
            _write_vorbis(path, tags, kind)
    except Exception as exc:  # noqa: BLE001 - as in read_tags: the audio is what matters
        log.warning("%s: the tags could not be written (%s); the output has none", path.name, exc)


def _write_id3(path: Path, tags: Tags, riff: bool) -> None:
    from mutagen.id3 import APIC, ID3, TALB, TCON, TDRC, TIT2, TPE1, TRCK, TXXX
    from mutagen.wave import WAVE

    frames = {"TIT2": TIT2, "TPE1": TPE1, "TALB": TALB, "TRCK": TRCK, "TCON": TCON, "TDRC": TDRC}
    id3 = ID3()
    for name, values in tags.text.items():
        id3.add(frames[ID3_FRAMES[name]](encoding=3, text=values))
    if tags.cover is not None:
        id3.add(APIC(encoding=3, mime=tags.cover.mime, type=FRONT_COVER, desc="Cover", data=tags.cover.data))
    if tags.marker:
        id3.add(TXXX(encoding=3, desc=MARKER, text=[tags.marker]))
    if not riff:
        id3.save(path)
        return
    wave = WAVE(path)  # WAV keeps ID3 frames in an "id3 " chunk
    if wave.tags is None:
        wave.add_tags()
    assert wave.tags is not None
    for frame in id3.values():
        wave.tags.add(frame)
    wave.save()


def _write_vorbis(path: Path, tags: Tags, kind: str) -> None:
    """Vorbis comments: FLAC's own block, or the comment header of Ogg Vorbis and Ogg Opus."""
    from mutagen.flac import FLAC, Picture
    from mutagen.oggopus import OggOpus
    from mutagen.oggvorbis import OggVorbis

    audio = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus}[kind](path)
    if audio.tags is None:
        audio.add_tags()
    for name, values in tags.text.items():
        audio[name] = values
    if tags.marker:
        audio[MARKER] = [tags.marker]
    if tags.cover is not None:
        picture = Picture()
        picture.type, picture.mime, picture.desc, picture.data = FRONT_COVER, tags.cover.mime, "Cover", tags.cover.data
        if isinstance(audio, FLAC):
            audio.add_picture(picture)
        else:
            audio["metadata_block_picture"] = [base64.b64encode(picture.write()).decode("ascii")]
    audio.save()


def read_marker(path: Path) -> str:
    """The MARKER tag of one of our outputs; empty if there is none or the file cannot be read."""
    try:
        if metadata_over_limit(path) is not None:
            return ""  # not one of ours as it is now
        with _Budget(path) as budget:
            tags = getattr(budget.open(), "tags", None)
        if tags is None:
            return ""
        if hasattr(tags, "getall"):  # ID3
            frames = tags.getall(f"TXXX:{MARKER}")
            return str(frames[0].text[0]) if frames and frames[0].text else ""
        values = tags.get(MARKER.lower()) or tags.get(MARKER)
        return str(values[0]) if values else ""
    except Exception:  # noqa: BLE001 - an unreadable output is simply not up to date
        return ""


# ---- How much metadata a file holds, from its own headers ----
