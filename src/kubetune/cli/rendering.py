"""``kubetune render``: the RayJob the operator would create, for ``kubectl apply`` without the operator."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kubetune.cli.formatting import HelpFormatter
from kubetune.kube.rayjobs import Ingest, RayJobSettings, StorageMount, build_rayjob, dump_yaml
from kubetune.kube.standalone import standalone_rayjob
from kubetune.spec import load_file


def register(commands: Any) -> None:
    p = commands.add_parser(
        "render",
        help="print the KubeRay RayJob for an experiment",
        formatter_class=HelpFormatter,
    )
    p.add_argument("file", metavar="FILE", help="TuneExperiment YAML")
    p.add_argument("--image", help="image when spec.image is unset")
    p.add_argument("--namespace", help="namespace of the RayJob (default: metadata.namespace)")
    p.add_argument("--storage", help="storage.path when the spec has none (shared storage)")
    p.add_argument("--pvc", metavar="CLAIM[:MOUNT]", help="RWX PersistentVolumeClaim mounted in every Ray pod")
    p.add_argument("--ingest-url", help="kubetune exporter URL the driver reports trial metrics to")
    p.add_argument("--token-secret", metavar="NAME[:KEY]", help="Secret holding the ingest token (key default token)")
    p.add_argument(
        "--annotated",
        action="store_true",
        help="the documented standalone form used for jobs/<name>/rayjob.yaml (comments included)",
    )
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.set_defaults(handler=render)


def render(args: argparse.Namespace) -> int:
    exp = load_file(args.file)
    if args.namespace:
        data = exp.to_dict()
        data["metadata"]["namespace"] = args.namespace
        from kubetune.spec import load_object

        exp = load_object(data)
    if args.annotated:
        text = standalone_rayjob(exp, source=args.file)
    else:
        settings = RayJobSettings(
            **({"default_image": args.image} if args.image else {}),
            default_storage_path=args.storage,
            storage=_mount(args.pvc),
            ingest=_ingest(args.ingest_url, args.token_secret),
        )
        text = dump_yaml(build_rayjob(exp, settings=settings))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _mount(value: str | None) -> StorageMount | None:
    if not value:
        return None
    claim, _, path = value.partition(":")
    return StorageMount(claim_name=claim, mount_path=path) if path else StorageMount(claim_name=claim)


def _ingest(url: str | None, secret: str | None) -> Ingest | None:
    if not url:
        return None
    name, _, key = (secret or "").partition(":")
    return Ingest(url=url, secret_name=name or None, secret_key=key or "token")
