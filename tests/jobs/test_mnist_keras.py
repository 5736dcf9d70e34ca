"""The Keras MNIST job's own parts: Keras arrays from the shared reader, GPU set-up, the model, PBT on a real Tune.

The reader itself is tested in test_mnist_data.py; settings, checkpoints, a sweep and a retry in test_contract.py.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from jobs.mnist import read_idx
from jobs.mnist_keras import model as keras_model
from jobs.mnist_keras import trainable as keras_trainable
from jobs.mnist_keras.data import SOURCE_IDX, load_mnist_arrays, to_keras_images
from jobs.mnist_keras.model import build_model, enable_gpu_memory_growth
from jobs.mnist_keras.trainable import train
from tests.conftest import experiment_doc

REPO = Path(__file__).resolve().parents[2]
JOB_DIR = REPO / "jobs" / "mnist_keras"
EXPERIMENT_FILES = ("experiment.yaml", "experiment.pbt.yaml", "experiment.hyperopt.yaml")
# Small enough to build and fit in well under a second on a CPU.
TINY: dict[str, Any] = {
    "kernel1": 3,
    "kernel2": 3,
    "poolsize": 2,
    "dropout1": 0.1,
    "dropout2": 0.1,
    "hidden": 16,
    "lr": 0.05,
    "momentum": 0.5,
}

# Keras 3.15 on numpy 2 warns from inside its own TensorFlow backend on every conversion; nothing to fix here.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning:keras"
)


# --- data ----------------------------------------------------------------------------------------------


def test_loader_hands_keras_channels_last_floats_in_zero_one(mnist_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        data = load_mnist_arrays(mnist_dir, download=False)

    assert data.source == SOURCE_IDX
    assert data.train_images.shape == (256, 28, 28, 1)
    assert data.test_images.shape == (128, 28, 28, 1)
    assert data.train_images.dtype == np.float32
    assert data.train_images.min() >= 0.0
    assert data.train_images.max() == 1.0
    raw = read_idx(mnist_dir / "train-images-idx3-ubyte")
    np.testing.assert_allclose(data.train_images[7, :, :, 0], raw[7] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(data.train_labels, read_idx(mnist_dir / "train-labels-idx1-ubyte"))
    assert data.train_labels.dtype == np.int64
    assert not caplog.records


def test_images_get_a_trailing_channel_and_scale_to_zero_one() -> None:
    images = (np.arange(2 * 28 * 28) % 256).astype(np.uint8).reshape(2, 28, 28)

    out = to_keras_images(images)

    assert out.shape == (2, 28, 28, 1)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[1, 3, 5, 0], float(images[1, 3, 5]) / 255.0)


# --- GPU memory growth ---------------------------------------------------------------------------------


def test_memory_growth_is_a_no_op_on_a_cpu_machine_and_can_run_twice() -> None:
    assert enable_gpu_memory_growth() == []
    assert enable_gpu_memory_growth() == []


@dataclass(frozen=True)
class _FakeGpu:
    """What ``tf.config.list_physical_devices("GPU")`` returns on a GPU machine: a name and a type."""

    name: str
    device_type: str = "GPU"


class _FakeGpuConfig:
    """TensorFlow's per-device memory-growth flags, including its refusal once the devices are initialised."""

    def __init__(self, *, growing: frozenset[str] = frozenset(), initialised: frozenset[str] = frozenset()) -> None:
        self.growing = set(growing)
        self.initialised = set(initialised)
        self.calls: list[tuple[str, bool]] = []

    def get_memory_growth(self, device: _FakeGpu) -> bool:
        return device.name in self.growing

    def set_memory_growth(self, device: _FakeGpu, enable: bool) -> None:
        self.calls.append((device.name, enable))
        if device.name in self.initialised:
            raise RuntimeError("Physical devices cannot be modified after being initialized")
        self.growing.add(device.name)


def _install(monkeypatch: pytest.MonkeyPatch, gpus: list[_FakeGpu], config: _FakeGpuConfig) -> None:
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_memory_growth", config.get_memory_growth)
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth", config.set_memory_growth)


def test_memory_growth_is_enabled_on_every_visible_gpu_once(monkeypatch: pytest.MonkeyPatch) -> None:
    gpus = [_FakeGpu("/physical_device:GPU:0"), _FakeGpu("/physical_device:GPU:1")]
    config = _FakeGpuConfig()
    _install(monkeypatch, gpus, config)

    assert enable_gpu_memory_growth() == [g.name for g in gpus]
    assert enable_gpu_memory_growth() == [g.name for g in gpus]  # a reused actor's second trial

    assert config.calls == [(gpus[0].name, True), (gpus[1].name, True)]


def test_memory_growth_too_late_is_a_warning_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    gpus = [_FakeGpu("/physical_device:GPU:0"), _FakeGpu("/physical_device:GPU:1")]
    _install(monkeypatch, gpus, _FakeGpuConfig(initialised=frozenset({gpus[0].name})))

    with caplog.at_level(logging.WARNING, logger=keras_model.__name__):
        growing = enable_gpu_memory_growth()

    assert growing == [gpus[1].name]
    assert gpus[0].name in caplog.text
    assert "before any TensorFlow op" in caplog.text


def test_importing_the_trainable_leaves_tensorflow_devices_configurable() -> None:
    # A fresh process: this one may have run TensorFlow already. Splitting the CPU into two logical devices is
    # refused, like memory growth, once TensorFlow has initialised its devices.
    probe = (
        "import jobs.mnist_keras.trainable as t, tensorflow as tf\n"
        "cpu = tf.config.list_physical_devices('CPU')[0]\n"
        "tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)\n"
        "t.enable_gpu_memory_growth()\n"
        "print(len(tf.config.list_logical_devices('CPU')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "2"


class _Stop(Exception):
    """Ends a trainable at model building: the order of the steps before it is what is under test."""


def test_trainable_enables_memory_growth_before_it_touches_tensorflow(
    monkeypatch: pytest.MonkeyPatch, mnist_dir: Path
) -> None:
    steps: list[str] = []

    def grow() -> list[str]:
        steps.append("memory growth")
        return []

    def build(**hyperparameters: Any) -> None:
        steps.append("build model")
        raise _Stop

    def load(*args: Any, **kwargs: Any) -> Any:
        steps.append("load data")
        return load_mnist_arrays(*args, **kwargs)

    monkeypatch.setattr(keras_trainable, "enable_gpu_memory_growth", grow)
    monkeypatch.setattr(keras_trainable, "build_model", build)
    monkeypatch.setattr(keras_trainable, "load_mnist_arrays", load)
    keras_trainable._data.cache_clear()

    with pytest.raises(_Stop):
        train({**TINY, "data_dir": str(mnist_dir), "download": False})

    assert steps == ["memory growth", "load data", "build model"]


# --- model and checkpoints -----------------------------------------------------------------------------


@pytest.mark.parametrize(("kernel1", "kernel2", "poolsize"), [(3, 3, 2), (5, 5, 3), (4, 3, 2)])
def test_model_maps_images_to_class_probabilities(kernel1: int, kernel2: int, poolsize: int) -> None:
    model = build_model(**{**TINY, "kernel1": kernel1, "kernel2": kernel2, "poolsize": poolsize})

    out = np.asarray(model(np.zeros((5, 28, 28, 1), dtype=np.float32)))

    assert out.shape == (5, 10)
    np.testing.assert_allclose(out.sum(axis=1), np.ones(5), rtol=1e-5)
    assert [layer.name for layer in model.layers][:3] == ["conv1", "conv2", "pool"]
    assert model.optimizer.__class__.__name__ == "SGD"


def test_model_rejects_kernels_that_leave_no_feature_map() -> None:
    with pytest.raises(ValueError, match="kernel1=24"):
        build_model(**{**TINY, "kernel1": 24, "kernel2": 5})  # 28 -> 5 -> 1, pooled by 2 -> 0


@pytest.mark.parametrize("name", EXPERIMENT_FILES)
def test_shipped_experiments_stop_at_the_examples_accuracy(name: str) -> None:
    """The ASHA experiment ends the whole search at the example's accuracy (spec.goal); the variants stop only
    the trial that reaches it (spec.stop), as the example did, and search on."""
    from kubetune.spec import load_file

    exp = load_file(JOB_DIR / name)

    assert (exp.spec.metric, exp.spec.mode) == ("mean_accuracy", "max")
    epochs = exp.spec.config["epochs"]
    if name == "experiment.yaml":
        assert (exp.spec.goal, exp.spec.stop) == (0.95, {"training_iteration": epochs})
    else:
        assert (exp.spec.goal, exp.spec.stop) == (None, {"mean_accuracy": 0.95, "training_iteration": epochs})
    assert set(TINY) <= set(exp.spec.config) | set(exp.spec.search_space)  # every model hyperparameter is set


def test_pbt_experiment_searches_only_what_keeps_the_weights_shapes() -> None:
    from kubetune.spec import load_file

    exp = load_file(JOB_DIR / "experiment.pbt.yaml")

    assert exp.scheduler_type == "pbt"
    assert exp.spec.scheduler.perturbation_interval == 2
    assert not set(exp.spec.search_space) & set(keras_trainable.ARCHITECTURE_KEYS)
    assert set(keras_trainable.ARCHITECTURE_KEYS) <= set(exp.spec.config)


# --- real kubetune runs --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_pbt_pauses_exploits_and_resumes_trials_from_their_keras_checkpoints(tmp_path: Path, mnist_dir: Path) -> None:
    from ray import tune

    from kubetune.engine.running import RunOptions, run_experiment
    from kubetune.spec import load_object

    doc = experiment_doc(
        "mnist-keras-pbt-smoke",
        "jobs.mnist_keras.trainable:train",
        # PBT ranks on the loss here, which unlike a small-sample accuracy never ties. With the same seed both
        # trials start from the same weights; the second one (lr 1e-6) barely moves, so it is always the worse.
        metric="loss",
        mode="min",
        searchSpace={"lr": {"grid": [0.05, 1.0e-6]}, "momentum": {"choice": [0.5, 0.9]}},
        config={
            **{k: v for k, v in TINY.items() if k not in ("lr", "momentum")},
            # Three epochs, because Ray's PBT only copies a trial that was already ranked on top at a
            # perturbation of its own, which cannot happen before both have reported once: the weak trial
            # copies the strong one's epoch-2 checkpoint at its own epoch 2, then trains epoch 3 from it.
            "epochs": 3,
            "batch_size": 32,
            "train_limit": 256,
            "test_limit": 64,
            "seed": 0,
            "data_dir": str(mnist_dir),
            "download": False,
        },
        scheduler={"type": "pbt", "perturbationInterval": 1},
        numSamples=1,
        # Two CPUs each on the 2-CPU test Ray: one trial at a time, so PBT pauses each at every perturbation
        # and resumes it later from its checkpoint.
        resourcesPerTrial={"cpu": 2},
        stop={"training_iteration": 3},
    )

    summary = run_experiment(load_object(doc), options=RunOptions(verbose=0, storage_path=str(tmp_path)))

    assert summary.trials_by_state == {"TERMINATED": 2}
    trials = tune.ExperimentAnalysis(summary.experiment_path).trials
    assert [t.status for t in trials] == ["TERMINATED", "TERMINATED"]
    # Each trial was paused and resumed, one was also exploited, yet epochs and iterations stayed in step: no
    # epoch was trained twice or skipped. (Per-epoch rows are not asserted here: after a pause, Ray 2.60's JSON
    # logger copies back a result.json that can lack the row reported just before the pause.)
    for trial in trials:
        assert trial.last_result["epoch"] == trial.last_result["training_iteration"] == 3
        assert math.isfinite(trial.last_result["loss"])
        assert trial.config["lr"] == 0.05  # the weak trial now runs with the strong one's lr
    exploits = [
        json.loads(line) for line in (Path(summary.experiment_path) / "pbt_global.txt").read_text().splitlines()
    ]
    assert len(exploits) == 1
    target, clone, _, clone_iteration, _, new_config = exploits[0]
    assert target.startswith("1_lr=0.0000")  # the lr 1e-6 trial ...
    assert clone.startswith("0_lr=0.0500")  # ... copied the lr 0.05 one's epoch-2 checkpoint
    assert clone_iteration == 2
    assert new_config["lr"] == 0.05
