"""The Keras LSTM lyrics job: the tutorial's cleaning, the vocabulary, the loader and its fallback, a real Tune run."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from jobs.lyrics_lstm import data as lyrics_data
from jobs.lyrics_lstm.data import (
    DATA_DIR_ENV,
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
    resolve_data_dir,
    sentences_from_text,
    to_sentence,
    tokenize_line,
)
from jobs.lyrics_lstm.model import build_model, detokenize, enable_memory_growth, generate
from jobs.lyrics_lstm.trainable import (
    MODEL_FILE,
    STATE_FILE,
    VOCAB_FILE,
    TrialSettings,
    evaluate,
    load_checkpoint,
    train,
)
from kubetune.engine.running import RunOptions, run_experiment
from kubetune.spec import load_file, load_object
from tests.conftest import REPO, experiment_doc
from tests.jobs.retrying import fail_once, run_retried

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


@pytest.fixture(scope="module")
def module_lyrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small songs of learnable lines, shared by a module's Ray runs (trials read them by absolute path)."""
    directory = tmp_path_factory.mktemp("lyrics")
    return write_lyrics_dir(directory, {"one.txt": song_lines(120, seed=1), "two.txt": song_lines(120, seed=2)})


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


def test_data_dir_defaults_to_the_environment_variable_then_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert resolve_data_dir(None) == str(tmp_path)
    monkeypatch.setenv(DATA_DIR_ENV, "s3://bucket/lyrics")
    assert resolve_data_dir(None) == "s3://bucket/lyrics"
    monkeypatch.delenv(DATA_DIR_ENV)
    assert resolve_data_dir(None) == str(Path.home() / "data" / "lyrics")
    assert Path(resolve_data_dir("relative")).is_absolute()


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


def test_load_checkpoint_of_a_directory_without_the_model_names_it(tmp_path: Path) -> None:
    (tmp_path / VOCAB_FILE).write_text(Vocabulary.build([]).to_json())

    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))) as caught:
        load_checkpoint(tmp_path)

    assert MODEL_FILE in str(caught.value)


def test_trial_settings_fill_defaults_and_name_a_bad_key() -> None:
    settings = TrialSettings.from_config({"lr": np.float64(0.01), "embedding_size": np.int64(128), "hidden_size": 192})
    assert (settings.epochs, settings.batch_size, settings.vocab_size) == (10, 256, 20_000)
    assert settings.train_limit is None
    assert type(settings.lr) is float
    assert type(settings.embedding_size) is int

    with pytest.raises(ValueError, match="'hidden_size'"):
        TrialSettings.from_config({"lr": 0.01, "embedding_size": 128})
    with pytest.raises(ValueError, match="'lr'"):
        TrialSettings.from_config({"lr": 0.0, "embedding_size": 128, "hidden_size": 192})
    with pytest.raises(ValueError, match="'vocab_size'"):
        TrialSettings.from_config({"lr": 0.01, "embedding_size": 128, "hidden_size": 192, "vocab_size": 4})


def test_experiment_file_is_valid_and_tunes_this_trainable() -> None:
    exp = load_file(REPO / "jobs" / "lyrics_lstm" / "experiment.yaml")

    assert exp.name == "lyrics-lstm"
    assert exp.spec.trainable == "jobs.lyrics_lstm.trainable:train"
    assert (exp.spec.metric, exp.spec.mode) == ("val_loss", "min")
    assert set(exp.spec.search_space) == {"lr", "embedding_size", "hidden_size"}
    assert (exp.spec.resources_per_trial.cpu, exp.spec.resources_per_trial.gpu) == (2, 1)
    assert exp.spec.checkpoint.num_to_keep == 1
    assert exp.total_trials == 30


# --- a real Ray Tune run --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_sweep_runs_two_trials_and_leaves_a_best_checkpoint_that_loads_and_generates(
    tmp_path: Path, module_lyrics_dir: Path
) -> None:
    from ray import tune

    exp = load_object(
        experiment_doc(
            "lyrics-smoke",
            "jobs.lyrics_lstm.trainable:train",
            metric="val_loss",
            mode="min",
            searchSpace={
                "lr": {"uniform": [5.0e-3, 2.0e-2]},
                "embedding_size": {"randint": [8, 16]},
                "hidden_size": {"randint": [8, 16]},
            },
            config={"epochs": 2, "batch_size": 32, "train_limit": 160, "data_dir": str(module_lyrics_dir)},
            numSamples=2,
            search={"algorithm": "random", "seed": 1},
            scheduler={"type": "fifo"},  # both trials run every epoch (the default ASHA may stop one early)
            resourcesPerTrial={"cpu": 1},
            checkpoint={"numToKeep": 1},
            storage={"path": str(tmp_path)},
        )
    )

    summary = run_experiment(exp, options=RunOptions(verbose=0))

    assert summary.trials_by_state == {"TERMINATED": 2}
    trials = tune.ExperimentAnalysis(summary.experiment_path).trials
    for trial in trials:
        assert trial.status == "TERMINATED"
        assert {"val_loss", "loss", "epoch"} <= set(trial.last_result)
        assert trial.last_result["epoch"] == trial.last_result["training_iteration"] == 2
        assert math.isfinite(trial.last_result["val_loss"])
    best = summary.best
    assert best is not None
    assert best.checkpoint is not None
    checkpoint_dir = Path(best.checkpoint)
    assert {MODEL_FILE, VOCAB_FILE, STATE_FILE} <= {p.name for p in checkpoint_dir.iterdir()}
    state: dict[str, Any] = json.loads((checkpoint_dir / STATE_FILE).read_text())
    assert state["source"] == SOURCE_FILES
    assert state["epoch"] == best.metrics["epoch"]

    trained = load_checkpoint(best.checkpoint)

    assert trained.vocabulary.index["love"] > 3
    scores = evaluate(trained, best.config)
    assert scores["val_loss"] == pytest.approx(best.metric_value, rel=0.05)
    line = trained.generate("I", 4)
    assert line.startswith("i")
    assert len(line.split()) <= 5  # the seed and at most 4 words (punctuation attaches to the word before)


def _fail_once_after_the_first_epoch(config: dict[str, Any]) -> None:
    """Train one epoch and crash the first time; the retry must pick up from that epoch's checkpoint."""
    fail_once(train, config, {"epochs": 1}, "injected failure after epoch 1")


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_a_retried_trial_resumes_after_its_last_checkpoint(tmp_path: Path, module_lyrics_dir: Path) -> None:
    result = run_retried(
        _fail_once_after_the_first_epoch,
        {
            "lr": 0.01,
            "embedding_size": 8,
            "hidden_size": 8,
            "epochs": 3,
            "batch_size": 32,
            "train_limit": 64,
            "data_dir": str(module_lyrics_dir),
        },
        metric="val_loss",
        mode="min",
        name="lyrics-retry",
        storage_path=tmp_path,
    )

    assert result.metrics is not None
    assert result.metrics_dataframe is not None
    assert result.metrics["epoch"] == result.metrics["training_iteration"] == 3
    assert result.metrics_dataframe["epoch"].tolist() == [1, 2, 3]  # epoch 1 was not trained or reported twice
