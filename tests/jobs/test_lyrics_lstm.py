"""The Keras LSTM lyrics job's own parts: the tutorial's cleaning, the vocabulary, the loader and its fallback,
the model and generation. Settings, checkpoints, a sweep and a retry are in test_contract.py."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pytest

from jobs.lyrics_lstm import data as lyrics_data
from jobs.lyrics_lstm.data import (
    END,
    MAX_TOKENS,
    PAD,
    SOURCE_BUILTIN,
    SOURCE_FILES,
    START,
    UNK,
    Vocabulary,
    builtin_corpus,
    load_lyrics,
    next_word_pairs,
    sentences_from_text,
    to_sentence,
    tokenize_line,
)
from jobs.lyrics_lstm.model import build_model, detokenize, enable_memory_growth, generate
from kubetune.spec import load_file
from tests.conftest import REPO
from tests.jobs.fixtures_lyrics import SONG_A, SONG_B, write_lyrics_dir

# --- cleaning, one rule at a time ----------------------------------------------------------------------


def test_cleaning_removes_bracketed_annotations() -> None:
    assert tokenize_line("[Chorus] hold on (x2) to me [Verse 2: Artist]") == ["hold", "on", "to", "me"]


def test_cleaning_lower_cases_every_word() -> None:
    assert tokenize_line("HOLD On tO Me") == ["hold", "on", "to", "me"]


def test_cleaning_puts_spaces_around_punctuation() -> None:
    assert tokenize_line("Wait,what?!Stop.") == ["wait", ",", "what", "?", "!", "stop", "."]


@pytest.mark.parametrize("apostrophe", ["'", "\u2019"], ids=["ascii", "typographic"])
def test_cleaning_keeps_apostrophes_inside_words(apostrophe: str) -> None:
    assert tokenize_line(f"I{apostrophe}m rock{apostrophe}n{apostrophe}roll") == ["i'm", "rock'n'roll"]


def test_cleaning_replaces_other_characters_with_spaces_and_folds_accents() -> None:
    assert tokenize_line('100% "Café" - del-mar; ¿qué?') == ["cafe", "del", "mar", "¿", "que", "?"]


@pytest.mark.parametrize("line", ["", "   ", "Chorus:", "[Chorus]", "(x2)", "123 -- 456"])
def test_lines_with_nothing_left_or_labels_give_no_tokens(line: str) -> None:
    assert tokenize_line(line) == []
    assert sentences_from_text(line) == []


def test_sentences_are_wrapped_in_start_and_end_markers() -> None:
    assert sentences_from_text("Hold on\n\nLet go!") == [
        [START, "hold", "on", END],
        [START, "let", "go", "!", END],
    ]


def test_sentences_of_at_most_15_tokens_with_their_markers_are_kept() -> None:
    longest = [chr(ord("a") + i) * 2 for i in range(MAX_TOKENS - 2)]  # "aa", "bb", ...: 13 words

    assert MAX_TOKENS == 15
    assert to_sentence(longest) == [START, *longest, END]
    assert to_sentence([*longest, "zz"]) is None
    assert to_sentence([]) is None
    assert sentences_from_text(" ".join(longest) + "\n" + " ".join([*longest, "zz"])) == [[START, *longest, END]]


# --- vocabulary and sequences --------------------------------------------------------------------------


def test_vocabulary_keeps_the_most_frequent_words_and_maps_the_rest_to_unk() -> None:
    sentences = sentences_from_text("a a a b b c\nd a b")  # a:4, b:3, c:1, d:1

    vocab = Vocabulary.build(sentences, size=6)

    assert vocab.tokens == (PAD, UNK, START, END, "a", "b")
    assert vocab.ids([START, "a", "c", "zzz", END]) == [2, 4, 1, 1, 3]


def test_vocabulary_is_capped_at_20000_ids_by_default() -> None:
    words = [f"w{i}" for i in range(20_100)]  # tokens as the vocabulary sees them, not cleaned text

    vocab = Vocabulary.build([words])

    assert len(vocab) == 20_000
    assert vocab.tokens[:4] == (PAD, UNK, START, END)


def test_vocabulary_breaks_ties_by_first_appearance_so_every_process_agrees() -> None:
    assert Vocabulary.build([["z", "y", "x"], ["y"]]).tokens[4:] == ("y", "z", "x")


def test_vocabulary_round_trips_through_json() -> None:
    vocab = Vocabulary.build(sentences_from_text("hold on, don't go"))

    assert Vocabulary.from_json(vocab.to_json()) == vocab


def test_vocabulary_rejects_a_token_list_without_the_reserved_ids_first() -> None:
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary(tokens=("a", PAD, UNK, START, END))


def test_encoding_pads_after_each_sentence_and_pairs_shift_by_one_word() -> None:
    vocab = Vocabulary.build([["hold", "on"]])
    ids = vocab.encode([[START, "hold", "on", END], [START, "on", END]], length=6)

    inputs, targets = next_word_pairs(ids)

    assert ids.dtype == np.int32
    assert ids.tolist() == [[2, 4, 5, 3, 0, 0], [2, 5, 3, 0, 0, 0]]
    assert inputs.tolist() == [[2, 4, 5, 3, 0], [2, 5, 3, 0, 0]]
    assert targets.tolist() == [[4, 5, 3, 0, 0], [5, 3, 0, 0, 0]]


# --- loading and the loud fallback ---------------------------------------------------------------------


def test_loader_reads_every_txt_file_of_the_folder_in_name_order(tmp_path: Path) -> None:
    folder = write_lyrics_dir(tmp_path / "lyrics", {"b.txt": SONG_B, "a.txt": SONG_A, "notes.md": "Not lyrics"})
    write_lyrics_dir(folder / "nested", {"c.txt": "Not read either"})

    corpus = load_lyrics(folder)

    assert corpus.source == SOURCE_FILES
    assert corpus.files == 2
    assert [" ".join(s[1:-1]) for s in corpus.sentences] == [
        "hold on , hold on to me",
        "i'm never letting go",
        "hold on to me tonight",
        "rain falls down on the city",
        "i'm never letting go tonight",
    ]


def test_loader_reads_a_folder_given_as_a_uri(tmp_path: Path) -> None:
    folder = write_lyrics_dir(tmp_path / "lyrics", {"a.txt": SONG_A})

    assert load_lyrics(folder.as_uri()).sentences == load_lyrics(folder).sentences


@pytest.mark.parametrize("make_folder", [False, True], ids=["missing-folder", "folder-without-txt-files"])
def test_no_lyrics_files_fall_back_loudly_to_the_builtin_corpus(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make_folder: bool
) -> None:
    folder = tmp_path / "nothing-here"
    if make_folder:
        write_lyrics_dir(folder, {"readme.md": "no lyrics"})

    with caplog.at_level(logging.WARNING, logger=lyrics_data.__name__):
        corpus = load_lyrics(folder)

    assert corpus.source == SOURCE_BUILTIN
    assert len(corpus.sentences) > 100
    assert all(s[0] == START and s[-1] == END and len(s) <= MAX_TOKENS for s in corpus.sentences)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "FALLING BACK" in warnings[0].getMessage()
    assert str(folder) in warnings[0].getMessage()


def test_builtin_corpus_is_the_same_in_every_call_and_exercises_the_cleaning() -> None:
    lines = builtin_corpus()

    assert lines == builtin_corpus()
    assert "[Chorus]" in lines
    assert any(line.endswith("(x2)") for line in lines)


def test_lyrics_files_without_a_usable_line_raise_instead_of_falling_back(tmp_path: Path) -> None:
    folder = write_lyrics_dir(tmp_path / "lyrics", {"a.txt": "[Intro]\n(x2)\n\n"})

    with pytest.raises(ValueError, match=re.escape(str(folder))):
        load_lyrics(folder)


def test_split_is_80_20_and_the_same_in_every_process(tmp_path: Path) -> None:
    corpus = load_lyrics(tmp_path / "missing")

    train, val = corpus.split()

    assert len(val) == round(0.2 * len(corpus.sentences))
    assert len(train) + len(val) == len(corpus.sentences)
    assert (train, val) == corpus.split()


# --- model, generation, checkpoints ---------------------------------------------------------------------


def test_model_predicts_a_next_word_distribution_at_every_position() -> None:
    model = build_model(vocab_size=12, embedding_size=4, hidden_size=6, lr=1e-3)

    probs = np.asarray(model(np.array([[2, 5, 7, 3, 0, 0]], dtype=np.int32)))

    assert probs.shape == (1, 6, 12)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
    assert [layer.name for layer in model.layers[1:]] == ["embedding", "lstm_1", "lstm_2", "next_word"]
    assert model.layers[1].mask_zero


def test_memory_growth_can_be_enabled_again_and_again() -> None:
    assert enable_memory_growth() == enable_memory_growth()  # [] on this CPU machine, the GPUs' names on a GPU one


class ScriptedModel:
    """A stand-in at ``generate``'s seam: the next-word distribution after each last id is fixed in advance."""

    def __init__(self, vocab_size: int, next_ids: dict[int, list[float]]) -> None:
        self.vocab_size = vocab_size
        self.next_ids = next_ids
        self.calls: list[list[int]] = []

    def __call__(self, ids: np.ndarray, *, training: bool) -> np.ndarray:
        assert not training
        self.calls.append(ids[0].tolist())
        out = np.zeros((1, ids.shape[1], self.vocab_size), dtype=np.float32)
        out[0, -1] = self.next_ids[int(ids[0, -1])]
        return out


def test_generate_continues_the_cleaned_seed_greedily_until_the_end_marker() -> None:
    vocab = Vocabulary(tokens=(PAD, UNK, START, END, "hold", "on", ","))
    # After "hold": <pad>/<start>/<unk> are likelier than "on", but are never generated.
    model = ScriptedModel(
        len(vocab),
        {
            4: [0.3, 0.3, 0.2, 0.0, 0.0, 0.2, 0.0],  # hold -> on
            5: [0.0, 0.0, 0.0, 0.1, 0.0, 0.0, 0.9],  # on -> ,
            6: [0.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.0],  # , -> <end>
        },
    )

    text = generate(model, vocab, "[Intro] HOLD", 10)  # a fake at the model's seam

    assert text == "hold on,"
    assert model.calls[0] == [2, 4]
    assert len(model.calls) == 3


def test_generate_stops_after_n_words_and_samples_reproducibly_with_a_seed() -> None:
    vocab = Vocabulary(tokens=(PAD, UNK, START, END, "la"))
    model = ScriptedModel(len(vocab), {2: [0, 0, 0, 0, 1.0], 4: [0, 0, 0, 0.4, 0.6]})

    assert generate(model, vocab, "", 3) == "la la la"
    sampled = [generate(model, vocab, "", 8, temperature=1.0, seed=s) for s in range(4)]
    assert sampled == [generate(model, vocab, "", 8, temperature=1.0, seed=s) for s in range(4)]
    assert len(set(sampled)) > 1


def test_detokenize_attaches_punctuation_to_the_word_before() -> None:
    assert detokenize(["hold", "on", ",", "baby", "!"]) == "hold on, baby!"


def test_experiment_file_tunes_the_tutorials_sizes_with_a_gpu_per_trial() -> None:
    exp = load_file(REPO / "jobs" / "lyrics_lstm" / "experiment.yaml")

    assert exp.name == "lyrics-lstm"
    assert (exp.spec.metric, exp.spec.mode) == ("val_loss", "min")
    assert set(exp.spec.search_space) == {"lr", "embedding_size", "hidden_size"}
    assert (exp.spec.resources_per_trial.cpu, exp.spec.resources_per_trial.gpu) == (2, 1)
    assert exp.spec.checkpoint.num_to_keep == 1
    assert exp.total_trials == 30
