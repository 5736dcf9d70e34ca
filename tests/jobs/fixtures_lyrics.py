"""Lyrics files as people save them: bracketed annotations, labels, repeats, and learnable lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SONG_A = """[Verse 1]
Hold on, hold on to me
I'm never letting go (x2)

[Chorus: Both]
Hold on to me tonight
"""
SONG_B = """Chorus:
Rain falls down on the city
I'm never letting go tonight
"""


def write_lyrics_dir(directory: Path, songs: dict[str, str]) -> Path:
    """A folder of lyrics files, named as given (UTF-8); returns it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in songs.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def song_lines(n: int, *, seed: int) -> str:
    """``n`` learnable lines: a subject, its fixed verb, then an object, as lyrics with a section tag."""
    rng = np.random.default_rng(seed)
    pairs = [("i", "love"), ("you", "need"), ("we", "feel"), ("they", "see")]
    objects = ["the night", "the rain", "your heart", "the light"]
    lines = ["[Verse]"]
    for _ in range(n):
        subject, verb = pairs[rng.integers(len(pairs))]
        lines.append(f"{subject.capitalize()} {verb} {objects[rng.integers(len(objects))]},")
    return "\n".join(lines)


def make_lyrics_dir(directory: Path) -> Path:
    """Two songs of 120 learnable lines each."""
    return write_lyrics_dir(directory, {"one.txt": song_lines(120, seed=1), "two.txt": song_lines(120, seed=2)})
