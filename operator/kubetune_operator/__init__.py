"""kubetune's operator: TuneExperiment resources in, KubeRay RayJobs and experiment status out.

This module is the public surface; everything else is a private layer. Nothing happens on import: load
:class:`OperatorSettings` (:func:`load_settings`), build one ``ApiClient`` (:func:`connect`), read the ingest
token (:func:`read_token`), then ``Operator(...).start()``; :func:`configure_logging` sets up its JSON logs.
:func:`crd_main` writes or checks the CRD (``python -m kubetune_operator.crds``, ``kubetune crd``). The
Kubernetes client layer it stands on (:mod:`kubetune.kube.api`, ``connecting``, ``errors``) is kubetune's,
shared with the CLI.
"""

from kubetune.kube.connecting import Connection, connect
from kubetune_operator.errors import APIError, OperatorError, PermanentError, SettingsError, TemporaryError
from kubetune_operator.logs import configure as configure_logging
from kubetune_operator.running import Operator
from kubetune_operator.settings import OperatorSettings, load_settings, read_token


def crd_main(argv: list[str] | None = None) -> int:
    """``python -m kubetune_operator.crds``: write (``-o``) or check (``--check``) the generated CRD."""
    from kubetune_operator.crds import main  # imported here: ``python -m`` runs that module as __main__

    return main(argv)


__all__ = [
    "APIError",
    "Connection",
    "Operator",
    "OperatorError",
    "OperatorSettings",
    "PermanentError",
    "SettingsError",
    "TemporaryError",
    "configure_logging",
    "connect",
    "crd_main",
    "load_settings",
    "read_token",
]
