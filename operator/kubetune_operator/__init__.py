"""kubetune's operator: TuneExperiment resources in, KubeRay RayJobs and experiment status out.

This module is the public surface; everything else is a private layer. Nothing happens on import: load
:class:`OperatorSettings` (:func:`load_settings`), build one ``ApiClient`` (:func:`connect`), read the ingest
token (:func:`read_token`), then ``Operator(...).start()``. ``python -m kubetune_operator.crds`` writes the CRD.
"""

from kubetune_operator.connecting import Connection, connect
from kubetune_operator.errors import APIError, OperatorError, PermanentError, SettingsError, TemporaryError
from kubetune_operator.running import Operator
from kubetune_operator.settings import OperatorSettings, load_settings, read_token

__all__ = [
    "APIError",
    "Connection",
    "Operator",
    "OperatorError",
    "OperatorSettings",
    "PermanentError",
    "SettingsError",
    "TemporaryError",
    "connect",
    "load_settings",
    "read_token",
]
