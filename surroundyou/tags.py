"""Tags: the input's title, artist, album, track, genre, date and cover art, carried to the output.

mutagen reads them from whatever the input is (ID3 frames in MP3 and WAV,
Vorbis comments and picture blocks in FLAC and Ogg, and mutagen's common "easy"
names for the rest, such as MP4 atoms), and writes them the way the output
format keeps them: ID3 frames for MP3 and WAV, Vorbis comments with a FLAC
picture block for FLAC and Ogg.
Tags are a courtesy: a tag that cannot be read or written is logged and the
conversion goes on.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from .logs import log

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
    """The input's tags; empty if it has none or they cannot be read."""
    import mutagen

    try:
        audio = mutagen.File(path)
        tags = getattr(audio, "tags", None)
        if tags is None:
            return Tags(cover=_read_cover(audio))
        if hasattr(tags, "getall"):  # ID3, also inside WAV and AIFF, where mutagen has no "easy" view
            found = {name: [str(t) for t in tags[frame].text] for name, frame in ID3_FRAMES.items() if frame in tags}
        else:
            easy = mutagen.File(path, easy=True)
            found = {name: [str(v) for v in easy.tags[name]] for name in FIELDS if _has(easy.tags, name)}
        text = {name: [v.strip() for v in values if v.strip()] for name, values in found.items()}
        return Tags({name: values for name, values in text.items() if values}, _read_cover(audio))
    except Exception as exc:  # noqa: BLE001 - mutagen raises many kinds on damaged tags; tags are optional
        log.warning("%s: its tags cannot be read (%s); the output will have none", path.name, exc)
        return Tags()


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


def write_tags(path: Path, tags: Tags) -> None:
    """Write ``tags`` into the finished file at ``path`` (its suffix names the format)."""
    if not tags:
        return
    suffix = path.suffix.lower()
    try:
        if suffix in (".mp3", ".wav"):
            _write_id3(path, tags, suffix)
        elif suffix in (".flac", ".ogg"):
            _write_vorbis(path, tags, suffix)
    except Exception as exc:  # noqa: BLE001 - as in read_tags: the audio is what matters
        log.warning("%s: the tags could not be written (%s); the output has none", path.name, exc)


def _write_id3(path: Path, tags: Tags, suffix: str) -> None:
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
    if suffix == ".mp3":
        id3.save(path)
        return
    wave = WAVE(path)  # WAV keeps ID3 frames in an "id3 " chunk
    if wave.tags is None:
        wave.add_tags()
    assert wave.tags is not None
    for frame in id3.values():
        wave.tags.add(frame)
    wave.save()


def _write_vorbis(path: Path, tags: Tags, suffix: str) -> None:
    from mutagen.flac import FLAC, Picture
    from mutagen.oggvorbis import OggVorbis

    audio = FLAC(path) if suffix == ".flac" else OggVorbis(path)
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
    import mutagen

    try:
        tags = getattr(mutagen.File(path), "tags", None)
        if tags is None:
            return ""
        if hasattr(tags, "getall"):  # ID3
            frames = tags.getall(f"TXXX:{MARKER}")
            return str(frames[0].text[0]) if frames and frames[0].text else ""
        values = tags.get(MARKER.lower()) or tags.get(MARKER)
        return str(values[0]) if values else ""
    except Exception:  # noqa: BLE001 - an unreadable output is simply not up to date
        return ""
