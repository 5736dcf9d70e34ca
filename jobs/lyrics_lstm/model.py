"""The tutorial's word-level lyrics model, TensorFlow GPU set-up, and text generation from a trained model.

``Embedding(vocab, embedding_size, mask_zero) -> LSTM(hidden_size) -> LSTM(hidden_size) -> Dense(vocab, softmax)``,
every layer per time step: the model predicts the next word at every position of the input. Padding (id 0) is
masked from the embedding onwards, so neither the LSTMs nor the loss see it. The input length is left open
(``shape=(None,)``): training uses :data:`~jobs.lyrics_lstm.data.MAX_TOKENS` - 1 steps, generation any number.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from jobs.lyrics_lstm.data import END, PAD, START, UNK, Vocabulary, tokenize_line

logger = logging.getLogger(__name__)


def enable_memory_growth() -> list[str]:
    """Make TensorFlow allocate GPU memory as it needs it instead of reserving (nearly) the whole card.

    Why: Ray's fractional GPUs are logical only, Ray isolates no memory (ray#13680, ray#41432). With
    ``resourcesPerTrial.gpu: 0.5`` two trials share one card, and TensorFlow's default of mapping the whole card
    at start-up makes the second trial fail with an out-of-memory error. The setting only takes effect before
    TensorFlow initialises its GPUs, so ``train`` calls this before any TensorFlow op.

    Idempotent: a GPU that already grows is left alone, so a reused trial process may call it again. If the
    runtime was initialised without it (too late to change), that is logged as a WARNING, not raised: the trial
    still runs, it just holds its card. Returns the names of the GPUs this process sees (``[]`` on CPU).
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        try:
            if not tf.config.experimental.get_memory_growth(gpu):
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as e:  # "Physical devices cannot be modified after being initialized"
            logger.warning("no memory growth on %s, trials sharing it may run out of memory: %s", gpu.name, e)
    return [gpu.name for gpu in gpus]


def build_model(*, vocab_size: int, embedding_size: int, hidden_size: int, lr: float) -> keras.Model:
    """The compiled two-layer LSTM language model: Adam(``lr``), sparse categorical cross-entropy."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(vocab_size, embedding_size, mask_zero=True, name="embedding")(tokens)
    x = keras.layers.LSTM(hidden_size, return_sequences=True, name="lstm_1")(x)
    x = keras.layers.LSTM(hidden_size, return_sequences=True, name="lstm_2")(x)
    next_word = keras.layers.Dense(vocab_size, activation="softmax", name="next_word")(x)
    model = keras.Model(tokens, next_word, name="lyrics_lstm")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr), loss="sparse_categorical_crossentropy")
    return model


def generate(
    model: keras.Model,
    vocab: Vocabulary,
    seed_text: str,
    n_words: int,
    *,
    temperature: float = 0.0,
    seed: int | None = None,
) -> str:
    """``seed_text`` continued by up to ``n_words`` words (fewer if the model ends the line), as one string.

    The seed is cleaned like the training text and prefixed with ``<start>``; words outside the vocabulary
    become ``<unk>``. ``temperature`` 0 picks the most likely word each step (the tutorial's greedy decoding);
    above 0 samples from the softmax sharpened (< 1) or flattened (> 1) by it, reproducibly for a given ``seed``.
    ``<pad>``, ``<start>`` and ``<unk>`` are never generated.
    """
    if n_words < 0:
        raise ValueError(f"n_words must be >= 0, got {n_words}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    rng = np.random.default_rng(seed)
    banned = [vocab.index[token] for token in (PAD, START, UNK)]
    end = vocab.index[END]
    ids = vocab.ids([START, *tokenize_line(seed_text)])
    for _ in range(n_words):
        probs = np.asarray(model(np.array([ids], dtype=np.int32), training=False))[0, -1].astype(np.float64)
        probs[banned] = 0.0
        if temperature == 0:
            next_id = int(np.argmax(probs))
        else:
            logits = np.log(np.maximum(probs, 1e-12)) / temperature
            weights = np.where(probs > 0, np.exp(logits - logits.max()), 0.0)
            next_id = int(rng.choice(len(weights), p=weights / weights.sum()))
        if next_id == end:
            break
        ids.append(next_id)
    return detokenize(vocab.decode(ids[1:]))


def detokenize(tokens: list[str]) -> str:
    """Tokens as readable text: ``["hello", ",", "world", "!"]`` -> ``"hello, world!"``."""
    text = " ".join(tokens)
    for mark in ("?", ".", "!", ","):
        text = text.replace(f" {mark}", mark)
    return text
