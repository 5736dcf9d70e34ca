"""Lyrics for the LSTM job: the tutorial's cleaning, a small vocabulary, and a loud built-in stand-in corpus.

Pipeline (:func:`load_lyrics`, then :class:`Vocabulary`):

1. Every ``*.txt`` file directly in ``data_dir`` (sorted by name; not recursive). ``data_dir`` is a local path or
   any URI ``pyarrow.fs.FileSystem.from_uri`` understands (``s3://``, ``gs://``, ``file://``); it defaults to
   ``$KUBETUNE_DATA_DIR`` and then ``~/data/lyrics``.
2. Each line is cleaned as in the tutorial (:func:`tokenize_line`): bracketed annotations (``[Chorus]``,
   ``(x2)``) are removed, text is lower-cased, ``? . ! , ¿`` get spaces around them, and every character other
   than ``a-z``, ``'`` and that punctuation becomes a space. Blank lines and labels (a line ending in ``:``) are
   skipped. Two additions, because lyrics sites write them: typographic apostrophes become ``'`` and accents are
   folded first (``café`` -> ``cafe``, where the tutorial's filter would leave ``caf``).
3. Each remaining line becomes a sentence ``<start> … <end>``; sentences longer than :data:`MAX_TOKENS` tokens,
   **both markers included**, are dropped (:func:`to_sentence`), as the tutorial filtered its padded tensor.
4. :meth:`Vocabulary.build` keeps the most frequent words (ties: first seen first) up to ``size`` ids, four of
   which are reserved: ``<pad>`` = 0, ``<unk>`` = 1, ``<start>`` = 2, ``<end>`` = 3. Every other word maps to
   ``<unk>``. (The tutorial's ``tf.keras.preprocessing.text.Tokenizer`` is gone in Keras 3.)
5. :func:`next_word_pairs` turns the padded ids into next-word pairs: input ``ids[:, :-1]``, target ``ids[:, 1:]``.

When the directory is missing or holds no ``*.txt`` file, :func:`load_lyrics` logs a WARNING and returns
:func:`builtin_corpus`, a small song-like corpus generated with a fixed seed, so the job runs anywhere (CI,
air-gapped clusters) and nobody mistakes its losses for losses on real lyrics. Files that exist but yield no
sentence are an error, not a reason to fall back.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from jobs.locations import data_location

logger = logging.getLogger(__name__)

# Environment variable naming the directory of the lyrics files.
DATA_DIR_ENV = "KUBETUNE_DATA_DIR"
# Used when neither an explicit directory nor the environment variable is given.
DEFAULT_DATA_DIR = Path("~/data/lyrics")

# Longest sentence kept, in tokens, <start> and <end> included; also the padded length of every sequence.
MAX_TOKENS = 15
# Ids in the vocabulary (reserved tokens included) unless the config says otherwise.
DEFAULT_VOCAB_SIZE = 20_000
# The tutorial's 80/20 train/validation split, with a seed shared by every trial so they compare like with like.
VAL_FRACTION = 0.2
SPLIT_SEED = 34

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
RESERVED = (PAD, UNK, START, END)

SOURCE_FILES = "lyrics-files"
SOURCE_BUILTIN = "builtin-corpus"

# Bracketed annotations, non-greedy per pair: "[Chorus]", "[Verse 2: Artist]", "(x2)", "(oh-oh)".
_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_PUNCTUATION = re.compile(r"([?.!,¿])")
_NOT_KEPT = re.compile(r"[^a-z?.!,¿']+")
# Typographic apostrophes and quotes, as lyrics sites write them, folded to ASCII before cleaning.
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> str:
    """A URI unchanged, a local path absolute, ``None`` -> ``$KUBETUNE_DATA_DIR``, else ``~/data/lyrics``.

    Absolute because a Ray Tune trial runs in its own working directory, not where the driver started.
    """
    return data_location(data_dir, env=DATA_DIR_ENV, default=DEFAULT_DATA_DIR)


def tokenize_line(line: str) -> list[str]:
    """The tutorial's cleaning of one line, as tokens without markers; ``[]`` when nothing is left.

    >>> tokenize_line("[Chorus] Don't you WORRY, baby (x2)")
    ["don't", 'you', 'worry', ',', 'baby']
    """
    text = line.strip()
    if not text or text.endswith(":"):  # blank, or a label such as "Verse 1:" or "Chorus:"
        return []
    # Accents folded first ("café" -> "cafe"), so the a-z filter below keeps the word instead of cutting it.
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = _BRACKETED.sub(" ", text).lower()
    text = _PUNCTUATION.sub(r" \1 ", text)
    return _NOT_KEPT.sub(" ", text).split()


def to_sentence(tokens: Sequence[str], *, max_tokens: int = MAX_TOKENS) -> list[str] | None:
    """``<start> tokens <end>``, or ``None`` when ``tokens`` is empty or the result exceeds ``max_tokens``."""
    if not tokens or len(tokens) + 2 > max_tokens:
        return None
    return [START, *tokens, END]


def sentences_from_text(text: str, *, max_tokens: int = MAX_TOKENS) -> list[list[str]]:
    """Every line of ``text`` that survives cleaning and the length limit, as a marked sentence."""
    sentences = []
    for line in text.splitlines():
        sentence = to_sentence(tokenize_line(line), max_tokens=max_tokens)
        if sentence is not None:
            sentences.append(sentence)
    return sentences


@dataclass(frozen=True)
class LyricsCorpus:
    """Cleaned sentences (markers included) in file and line order, and where they came from.

    ``source`` is :data:`SOURCE_FILES` or :data:`SOURCE_BUILTIN`; trials record it in their checkpoints so a
    loss can always be traced back to the text it was measured on.
    """

    sentences: tuple[tuple[str, ...], ...]
    source: str
    files: int = 0

    def split(
        self, *, val_fraction: float = VAL_FRACTION, seed: int = SPLIT_SEED
    ) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
        """``(train, validation)``: a seeded shuffle, the first ``val_fraction`` of it for validation.

        The same corpus gives the same split in every process, so every trial is scored on the same sentences.
        """
        if len(self.sentences) < 2:
            raise ValueError(f"a train/validation split needs 2 sentences or more, got {len(self.sentences)}")
        order = np.random.default_rng(seed).permutation(len(self.sentences))
        n_val = min(max(1, round(len(order) * val_fraction)), len(order) - 1)
        val = [self.sentences[i] for i in order[:n_val]]
        train = [self.sentences[i] for i in order[n_val:]]
        return train, val


@dataclass(frozen=True)
class Vocabulary:
    """Token <-> id mapping: ``tokens[i]`` is the token of id ``i``; the first four are :data:`RESERVED`."""

    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.tokens[: len(RESERVED)] != RESERVED:
            raise ValueError(f"a vocabulary starts with {RESERVED}, got {self.tokens[: len(RESERVED)]}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("a vocabulary lists every token once")

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], *, size: int = DEFAULT_VOCAB_SIZE) -> Vocabulary:
        """The ``size - 4`` most frequent words of ``sentences`` after the reserved tokens (ties: first seen first)."""
        if size <= len(RESERVED):
            raise ValueError(f"vocabulary size must leave room for words after {RESERVED}, got {size}")
        counts = Counter(token for sentence in sentences for token in sentence if token not in RESERVED)
        # most_common sorts stably, so equal counts keep first-seen order: the same corpus, the same ids.
        words = [word for word, _ in counts.most_common(size - len(RESERVED))]
        return cls(tokens=(*RESERVED, *words))

    def __len__(self) -> int:
        return len(self.tokens)

    @cached_property
    def index(self) -> dict[str, int]:
        """Token -> id."""
        return {token: i for i, token in enumerate(self.tokens)}

    def ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens``, ``<unk>`` for words outside the vocabulary."""
        unk = self.index[UNK]
        return [self.index.get(token, unk) for token in tokens]

    def encode(self, sentences: Sequence[Sequence[str]], *, length: int = MAX_TOKENS) -> np.ndarray:
        """``int32`` ids of shape ``(len(sentences), length)``, padded with ``<pad>`` (0) after each sentence."""
        out = np.zeros((len(sentences), length), dtype=np.int32)
        for row, sentence in enumerate(sentences):
            if len(sentence) > length:
                raise ValueError(f"sentence {row} has {len(sentence)} tokens, more than the length {length}")
            out[row, : len(sentence)] = self.ids(sentence)
        return out

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, padding left out."""
        return [self.tokens[i] for i in ids if i != 0]

    def to_json(self) -> str:
        """``{"tokens": [...]}``; the inverse of :meth:`from_json`."""
        return json.dumps({"tokens": list(self.tokens)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        """A vocabulary written by :meth:`to_json`."""
        return cls(tokens=tuple(json.loads(text)["tokens"]))


def next_word_pairs(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Next-word prediction pairs from padded ids ``(n, L)``: inputs ``ids[:, :-1]``, targets ``ids[:, 1:]``."""
    return ids[:, :-1], ids[:, 1:]


# --- reading ---------------------------------------------------------------------------------------------


def read_texts(data_dir: str) -> list[tuple[str, str]]:
    """``(path, text)`` of every ``*.txt`` file directly in ``data_dir`` (a path or URI), sorted by path.

    A missing directory gives ``[]``. Bytes that are not UTF-8 are replaced, not fatal: one odd character in
    one song should not fail a sweep.
    """
    import pyarrow.fs

    if "://" in data_dir:
        filesystem, root = pyarrow.fs.FileSystem.from_uri(data_dir)
    else:
        filesystem, root = pyarrow.fs.LocalFileSystem(), data_dir
    infos = filesystem.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True, recursive=False))
    paths = sorted(
        info.path for info in infos if info.type == pyarrow.fs.FileType.File and info.base_name.endswith(".txt")
    )
    texts = []
    for path in paths:
        with filesystem.open_input_stream(path) as stream:
            texts.append((path, stream.read().decode("utf-8", errors="replace")))
    return texts


_SUBJECTS = ("i", "you", "we", "they", "she", "he")
_VERBS = ("love", "need", "miss", "hold", "chase", "call", "find", "lose", "feel", "want")
_OBJECTS = ("you", "the night", "the light", "your heart", "the rain", "the fire", "my soul", "the stars", "the road")
_TAILS = ("tonight", "forever", "again", "all night long", "in the dark", "like before", "one more time", "")
_ENDINGS = ("", "", ",", "!", "?")


def builtin_corpus(*, songs: int = 24, seed: int = 0) -> list[str]:
    """Raw lines of ``songs`` generated song-like lyrics, identical in every process (fixed ``seed``).

    A tiny grammar (subject verb object [tail]) gives the model something learnable; section tags such as
    ``[Chorus]`` and repeat marks such as ``(x2)`` are included so the fallback runs the real cleaning too.
    """
    rng = random.Random(seed)

    def line() -> str:
        words = [rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS), rng.choice(_TAILS)]
        text = " ".join(w for w in words if w)
        return text[0].upper() + text[1:] + rng.choice(_ENDINGS)

    lines: list[str] = []
    for song in range(songs):
        chorus = [line() for _ in range(2)]
        lines += [f"[Verse 1: song {song + 1}]", *(line() for _ in range(4)), "", "[Chorus]"]
        lines += [f"{chorus[0]} (x2)", chorus[1], "", "[Verse 2]", *(line() for _ in range(4)), "", "[Chorus]"]
        lines += [f"{chorus[0]} (x2)", chorus[1], ""]
    return lines


def load_lyrics(data_dir: str | os.PathLike[str] | None, *, max_tokens: int = MAX_TOKENS) -> LyricsCorpus:
    """The cleaned sentences of every ``*.txt`` file in ``data_dir``, else the built-in corpus (logged WARNING).

    ``data_dir=None``: see :func:`resolve_data_dir`. Raises ``ValueError`` when the files exist but no line
    survives cleaning: that is a dataset to fix, not a reason to quietly train on something else.
    """
    directory = resolve_data_dir(data_dir)
    texts = read_texts(directory)
    if not texts:
        lines = builtin_corpus()
        logger.warning(
            "no *.txt lyrics files in %s. FALLING BACK to a built-in corpus of %d generated lines: losses from "
            "this run are NOT losses on real lyrics. Put the lyrics there or set %s (a path or a URI).",
            directory,
            len(lines),
            DATA_DIR_ENV,
        )
        sentences = sentences_from_text("\n".join(lines), max_tokens=max_tokens)
        return LyricsCorpus(tuple(tuple(s) for s in sentences), source=SOURCE_BUILTIN)
    sentences = [s for _, text in texts for s in sentences_from_text(text, max_tokens=max_tokens)]
    if not sentences:
        raise ValueError(
            f"{directory}: {len(texts)} *.txt file(s) but no line with 1 to {max_tokens - 2} words after cleaning"
        )
    logger.info("read %d sentences from %d lyrics files in %s", len(sentences), len(texts), directory)
    return LyricsCorpus(tuple(tuple(s) for s in sentences), source=SOURCE_FILES, files=len(texts))
