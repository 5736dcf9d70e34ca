"""The CNN of Ray's ``tune_mnist_keras`` example, and the TensorFlow GPU set-up every trial needs first.

``Conv2D(32, kernel1, relu) -> Conv2D(64, kernel2, relu) -> MaxPooling2D(poolsize) -> Dropout(dropout1) ->
Flatten -> Dense(hidden, relu) -> Dropout(dropout2) -> Dense(10, softmax)``, compiled with
``SGD(lr, momentum)``, sparse categorical cross-entropy and accuracy, as in the example. It takes ``float32``
images ``(batch, 28, 28, 1)`` in [0, 1] (see :mod:`jobs.mnist_keras.data`).
"""

from __future__ import annotations

import logging
from typing import Any

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# The example's fixed filter counts.
FILTERS1 = 32
FILTERS2 = 64


def enable_gpu_memory_growth() -> list[str]:
    """Make TensorFlow allocate GPU memory as it needs it instead of taking the whole card at start-up.

    Why: Ray's fractional GPUs (``resourcesPerTrial.gpu: 0.25``) are only a scheduling promise; Ray isolates no
    GPU memory (ray#13680, ray#6500). TensorFlow by default maps nearly all memory of every GPU it sees, so the
    first trial on a card takes it all and the others sharing it fail with out-of-memory errors.

    TensorFlow accepts this only before it initialises the GPUs, i.e. before the first TF op: call it first
    thing in the trainable. It is idempotent: GPUs already growing are left alone, so a trial that runs in a
    reused Ray actor (whose previous trial already set this up) is fine. If the GPUs were initialised without
    growth (some earlier TF op), that is logged as a WARNING and training goes on, because the trial may still
    fit. Returns the names of the GPUs that now grow on demand (empty on a CPU-only machine).
    """
    growing: list[str] = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            if not tf.config.experimental.get_memory_growth(gpu):
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as e:  # "Physical devices cannot be modified after being initialized"
            logger.warning(
                "cannot enable memory growth on %s (%s): TensorFlow may hold the whole GPU, and other trials "
                "sharing it may run out of memory. Call enable_gpu_memory_growth() before any TensorFlow op.",
                gpu.name,
                e,
            )
            continue
        growing.append(gpu.name)
    return growing


def feature_size(*, kernel1: int, kernel2: int, poolsize: int) -> int:
    """Side of the square feature map after the two valid convolutions and the pooling (must be >= 1)."""
    return (INPUT_SHAPE[0] - kernel1 + 1 - kernel2 + 1) // poolsize


def build_model(
    *,
    kernel1: int,
    kernel2: int,
    poolsize: int,
    dropout1: float,
    dropout2: float,
    hidden: int,
    lr: float,
    momentum: float,
) -> Any:
    """The example's CNN, compiled and ready for ``fit``. Returns a ``keras.Sequential``.

    ``ValueError`` when the kernels and pool leave no feature map (28x28 inputs, valid convolutions).
    """
    side = feature_size(kernel1=kernel1, kernel2=kernel2, poolsize=poolsize)
    if side < 1:
        raise ValueError(
            f"kernel1={kernel1}, kernel2={kernel2} and poolsize={poolsize} leave no feature map of a 28x28 image"
        )
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            keras.layers.Conv2D(FILTERS1, kernel_size=kernel1, activation="relu", name="conv1"),
            keras.layers.Conv2D(FILTERS2, kernel_size=kernel2, activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(pool_size=poolsize, name="pool"),
            keras.layers.Dropout(dropout1, name="dropout1"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(hidden, activation="relu", name="hidden"),
            keras.layers.Dropout(dropout2, name="dropout2"),
            keras.layers.Dense(NUM_CLASSES, activation="softmax", name="output"),
        ],
        name="mnist_cnn",
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model
