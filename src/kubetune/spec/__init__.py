"""The experiment spec: typed models, the search-space grammar, and validation that names the field."""

from kubetune.spec.errors import FieldError, SpecError
from kubetune.spec.loading import Experiment, load_file, load_object, load_text
from kubetune.spec.models import API_VERSION, KIND, TuneExperiment

__all__ = [
    "API_VERSION",
    "KIND",
    "Experiment",
    "FieldError",
    "SpecError",
    "TuneExperiment",
    "load_file",
    "load_object",
    "load_text",
]
