"""A real Kubernetes control plane for the tests: etcd, kube-apiserver and kube-controller-manager on 127.0.0.1.

envtest's convention: the binaries come from ``KUBEBUILDER_ASSETS`` when it names a directory holding
``kube-apiserver`` and ``etcd`` (``setup-envtest``, any Kubernetes version), else from
``tests/cluster/build-control-plane.sh``, which builds Kubernetes 1.20.2 from Debian's source into a cache once
(``make control-plane`` runs it). Nothing here is emulated: objects are stored, validated against their schemas,
admitted, RBAC-checked, watched and garbage-collected by the real code. There is no kubelet and no scheduler, so
pods never run (the KubeRay stand-in, :mod:`tests.cluster.kuberay_standin`, plays that part for RayJobs).

The controller manager runs only the controllers the tests rely on: the garbage collector (ownerReferences),
namespace deletion, service accounts and their tokens, and ClusterRole aggregation. An envtest directory has no
controller manager; tests that need one then skip, saying why.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "tests" / "cluster" / "build-control-plane.sh"
#: The cluster-admin user of the static token file (group system:masters).
ADMIN_USER = "kubetune-test-admin"


class ControlPlaneError(RuntimeError):
    """The control plane could not be obtained or started; the message says what to look at."""


def find_binaries() -> Path:
    """The directory holding kube-apiserver and etcd: ``KUBEBUILDER_ASSETS``, the build cache, or a fresh build."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ControlPlaneError(f"{BUILD_SCRIPT.name} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _version(binary: Path) -> tuple[int, int]:
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"v(\d+)\.(\d+)", out)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


@dataclass
class ControlPlane:
    """One control plane under ``workdir``; :meth:`start` it, use :attr:`kubeconfig`, :meth:`stop` it."""

    bin_dir: Path
    workdir: Path
    etcd_port: int = field(default_factory=free_port)
    etcd_peer_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    kcm_port: int = field(default_factory=free_port)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, init=False)
    #: Seconds from start() to a ready API server, and to everything up.
    ready_after: float = field(default=0.0, init=False)
    started_after: float = field(default=0.0, init=False)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def audit_log(self) -> Path:
        """One JSON line per write request (create, update, patch, delete), with its user and object."""
        return self.workdir / "logs" / "audit.log"

    @property
    def has_controller_manager(self) -> bool:
        return (self.bin_dir / "kube-controller-manager").is_file()

    @property
    def version(self) -> tuple[int, int]:
        return _version(self.bin_dir / "kube-apiserver")

    @property
    def admin_token(self) -> str:
        return (self.workdir / "pki" / "admin.token").read_text().strip()

    @property
    def ca_file(self) -> Path:
        return self.workdir / "pki" / "serving" / "apiserver.crt"

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self._pki()
        try:
            self._start_etcd()
            self._start_apiserver()
            self._wait(lambda: self._get("/readyz", auth=False) == 200, "kube-apiserver /readyz", "kube-apiserver")
            self.ready_after = time.monotonic() - started
            self._write_kubeconfig()
            if self.has_controller_manager:
                self._start_controller_manager()
        except BaseException:
            self.stop()
            raise
        self.started_after = time.monotonic() - started

    def stop(self) -> None:
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5)  # the API server drains open watches for a minute: not worth waiting for
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)

    def restart_apiserver(self, *, compact: bool = True) -> None:
        """Stop the API server (every watch breaks), optionally compact etcd meanwhile, start it again: what a
        control-plane upgrade does. Its watch cache starts afresh, so a watch resuming from an older
        resourceVersion than the new cache holds is answered 410 Gone."""
        proc = self._procs.pop("kube-apiserver")
        proc.kill()  # a graceful stop waits for open watches to drain (a minute)
        proc.wait(timeout=30)
        if compact:
            self.compact()
        self._start_apiserver()
        self._wait(lambda: self._get("/readyz", auth=False) == 200, "kube-apiserver /readyz", "kube-apiserver")

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self._procs.items()}

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each process, in MiB (from /proc)."""
        found = {}
        for name, proc in self._procs.items():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{proc.pid}/status").read_text()
                kib = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
                found[name] = kib / 1024
        return found

    def log(self, name: str, tail: int = 4000) -> str:
        with contextlib.suppress(OSError):
            return (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")[-tail:]
        return ""

    # -- etcd ------------------------------------------------------------------------------------------------

    def compact(self) -> int:
        """Compact etcd's history up to now, as etcd does on a live cluster every few minutes: watches started
        before that revision then get ``410 Gone``. Returns the revision compacted to."""
        header = self._etcd("/v3/kv/range", {"key": base64.b64encode(b"/").decode(), "limit": 1})["header"]
        revision = int(header["revision"])
        self._etcd("/v3/kv/compaction", {"revision": revision, "physical": True})
        return revision

    def _etcd(self, path: str, body: dict[str, object]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.etcd_port}{path}", data=json.dumps(body).encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
        return answer

    # -- internals -------------------------------------------------------------------------------------------

    def _pki(self) -> None:
        pki = self.workdir / "pki"
        (pki / "serving").mkdir(parents=True, exist_ok=True)
        if not (pki / "sa.key").exists():
            subprocess.run(["openssl", "genrsa", "-out", str(pki / "sa.key"), "2048"], check=True, capture_output=True)
            subprocess.run(
                ["openssl", "rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub")],
                check=True,
                capture_output=True,
            )
        token_file = pki / "admin.token"
        if not token_file.exists():
            token_file.write_text(os.urandom(24).hex())
        (pki / "tokens.csv").write_text(f'{self.admin_token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
        for path in (pki / "sa.key", pki / "tokens.csv", token_file):
            path.chmod(0o600)

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.workdir / "logs" / f"{name}.log").open("wb")
        self._procs[name] = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()

    def _start_etcd(self) -> None:
        etcd = self.bin_dir / "etcd"
        if not etcd.exists():
            etcd = Path(shutil.which("etcd") or "etcd")
        peer, client = f"http://127.0.0.1:{self.etcd_peer_port}", f"http://127.0.0.1:{self.etcd_port}"
        self._spawn(
            "etcd",
            [
                str(etcd),
                "--name",
                "kubetune-test",
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"kubetune-test={peer}",
                "--initial-cluster-state",
                "new",
                "--quota-backend-bytes",
                str(2 * 1024**3),
                "--log-level",
                "warn",
                # Unsafe but fine for a throwaway test store: no fsync on every write (several times faster).
                "--unsafe-no-fsync",
            ],
        )

        def healthy() -> bool:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{client}/health", timeout=1) as response:
                return bool(response.status == 200)
            return False

        self._wait(healthy, "etcd /health", "etcd")

    def _start_apiserver(self) -> None:
        pki = self.workdir / "pki"
        argv = [
            str(self.bin_dir / "kube-apiserver"),
            "--etcd-servers",
            f"http://127.0.0.1:{self.etcd_port}",
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
            "--secure-port",
            str(self.api_port),
            "--cert-dir",
            str(pki / "serving"),
            "--token-auth-file",
            str(pki / "tokens.csv"),
            "--authorization-mode",
            "RBAC",
            "--service-account-issuer",
            "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file",
            str(pki / "sa.pub"),
            "--service-account-signing-key-file",
            str(pki / "sa.key"),
            "--service-cluster-ip-range",
            "10.0.0.0/24",
            "--endpoint-reconciler-type",
            "none",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
            # Every write, with who made it: what tests read to count an operator's writes (Cluster.writes).
            "--audit-policy-file",
            str(self._audit_policy()),
            "--audit-log-path",
            str(self.audit_log),
            "--audit-log-format",
            "json",
        ]
        if self.version < (1, 24):
            argv += ["--insecure-port", "0"]  # removed in 1.24; before it, 8080 would be served without auth
        # madvdontneed=1: freed heap leaves RSS at once (Go <= 1.15 use MADV_FREE, which overstates RSS).
        self._spawn("kube-apiserver", argv, env={"GODEBUG": "madvdontneed=1"})

    def _audit_policy(self) -> Path:
        policy = {
            "apiVersion": "audit.k8s.io/v1",
            "kind": "Policy",
            "omitStages": ["RequestReceived"],
            "rules": [{"level": "None", "verbs": ["get", "list", "watch"]}, {"level": "Metadata"}],
        }
        path = self.workdir / "audit-policy.json"
        path.write_text(json.dumps(policy))
        return path

    def _start_controller_manager(self) -> None:
        pki = self.workdir / "pki"
        kubeconfig = str(self.kubeconfig)
        argv = [
            str(self.bin_dir / "kube-controller-manager"),
            "--kubeconfig",
            kubeconfig,
            "--authentication-kubeconfig",
            kubeconfig,
            "--authorization-kubeconfig",
            kubeconfig,
            "--authentication-skip-lookup",
            "--bind-address",
            "127.0.0.1",
            "--secure-port",
            str(self.kcm_port),
            "--cert-dir",
            str(pki / "kcm-serving"),
            "--controllers",
            "garbagecollector,namespace,serviceaccount,serviceaccount-token,clusterrole-aggregation",
            "--service-account-private-key-file",
            str(pki / "sa.key"),
            "--root-ca-file",
            str(self.ca_file),
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--v=1",
        ]
        if _version(self.bin_dir / "kube-controller-manager") < (1, 24):
            argv += ["--port", "0"]
        self._spawn("kube-controller-manager", argv, env={"GODEBUG": "madvdontneed=1"})

        def healthy() -> bool:
            return self._get(f"https://127.0.0.1:{self.kcm_port}/healthz", auth=False) == 200

        self._wait(healthy, "kube-controller-manager /healthz", "kube-controller-manager")

    def _get(self, path: str, *, auth: bool = True) -> int:
        url = path if path.startswith("https://") else f"{self.url}{path}"
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.admin_token}"} if auth else {})
        try:
            with urllib.request.urlopen(request, timeout=2, context=context) as response:
                return int(response.status)
        except urllib.error.HTTPError as e:
            return int(e.code)
        except OSError:
            return 0

    def _wait(self, ready: object, what: str, process: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while not ready():  # type: ignore[operator]
            proc = self._procs[process]
            if proc.poll() is not None:
                raise ControlPlaneError(f"{process} exited with {proc.returncode}:\n{self.log(process)}")
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{what} not ready after {timeout:.0f} s:\n{self.log(process)}")
            time.sleep(0.1)

    def _write_kubeconfig(self) -> None:
        ca = base64.b64encode(self.ca_file.read_bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubetune-test", "cluster": {"server": self.url, "certificate-authority-data": ca}}],
            "users": [{"name": "admin", "user": {"token": self.admin_token}}],
            "contexts": [
                {
                    "name": "kubetune-test",
                    "context": {"cluster": "kubetune-test", "user": "admin", "namespace": "default"},
                }
            ],
            "current-context": "kubetune-test",
        }
        self.kubeconfig.write_text(json.dumps(config, indent=1))
        self.kubeconfig.chmod(0o600)
