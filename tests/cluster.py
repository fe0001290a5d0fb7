"""A local Kubernetes control plane for the engine tier, on 127.0.0.1 only.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok of the versions
`tools/engine/build.sh` builds (tools/engine/cluster/go.mod), with certificates made at start in the plane's own folder: a
CA, the API server's serving certificate (127.0.0.1 and the in-cluster names), a client
certificate in `system:masters` for the kubeconfig, and the service-account signing key. The
API server runs its default admission plugins, PodSecurity among them, so a namespace's
`restricted` label really judges the Pods the controllers create.

There is no kubelet. kube-scheduler places Pods on one simulated node that kwok (the
Kubernetes SIG's kubelet simulator) keeps Ready and whose Pods it marks Running and Ready, so
the Pulumi provider's readiness waits run for real; and a small static provisioner here binds
each PersistentVolumeClaim to a PersistentVolume of its size, standing in for a storage
driver. No container starts, so images are never pulled and probes never run.
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import signal
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests import servers
from tests.tools import cache_dir, required, wait_for_engine_build

T = TypeVar("T")

CLUSTER_MODULE = Path(__file__).resolve().parent.parent / "tools" / "engine" / "cluster" / "go.mod"
SERVICE_RANGE = "10.0.0.0/24"
API_SERVICE_IP = "10.0.0.1"  # the first address of SERVICE_RANGE: the `kubernetes` Service
# The account the controller manager makes in every namespace: its presence says it is working.
DEFAULT_ACCOUNT = "/api/v1/namespaces/default/serviceaccounts/default"


def binaries() -> Path:
    """The folder tools/engine/build.sh builds the control plane into."""
    wait_for_engine_build()
    kube = required(CLUSTER_MODULE, "k8s.io/kubernetes")
    etcd = required(CLUSTER_MODULE, "go.etcd.io/etcd/server/v3")
    folder = cache_dir() / f"kubernetes-{kube}-etcd-{etcd}"
    names = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
    for name in (*names, "kwok-stages.yaml"):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing: run tools/engine/build.sh")
    return folder


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    *,
    ca: bool = False,
    usage: x509.ObjectIdentifier | None = None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common: str, organisation: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organisation:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(parts)


def make_pki(folder: Path) -> Pki:
    """A CA and every certificate and key the plane needs, valid for a day, in FOLDER."""
    folder.mkdir(parents=True, exist_ok=True)
    pem = serialization.Encoding.PEM
    ca_key, ca_name = _key(), _name("mlops-engine-tier-ca")
    ca_cert = _certificate(ca_name, ca_key, None, ca=True)
    signer = (ca_name, ca_key)
    server_key = _key()
    server_cert = _certificate(
        _name("kube-apiserver"),
        server_key,
        signer,
        usage=x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
        san=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address(API_SERVICE_IP)),
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes.default.svc"),
        ],
    )
    admin_key = _key()
    admin_cert = _certificate(
        _name("engine-tier-admin", "system:masters"),
        admin_key,
        signer,
        usage=x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
    )
    sa_key = _key()
    pki = Pki(
        ca=folder / "ca.crt",
        server_cert=folder / "apiserver.crt",
        server_key=folder / "apiserver.key",
        admin_cert=folder / "admin.crt",
        admin_key=folder / "admin.key",
        service_account_key=folder / "sa.key",
        service_account_pub=folder / "sa.pub",
    )
    pki.ca.write_bytes(ca_cert.public_bytes(pem))
    pki.server_cert.write_bytes(server_cert.public_bytes(pem))
    _write_key(pki.server_key, server_key)
    pki.admin_cert.write_bytes(admin_cert.public_bytes(pem))
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki


def kubeconfig(server: str, pki: Pki, context: str = "engine-tier") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority": str(pki.ca)}}
        ],
        "users": [
            {
                "name": context,
                "user": {
                    "client-certificate": str(pki.admin_cert),
                    "client-key": str(pki.admin_key),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }


@dataclass
class ControlPlane:
    """A running plane: its API server's URL, a kubeconfig file and an authenticated client."""

    url: str
    kubeconfig: Path
    pki: Pki
    ports: tuple[int, ...] = ()

    def client(self) -> httpx.Client:
        context = ssl.create_default_context(cafile=str(self.pki.ca))
        context.load_cert_chain(str(self.pki.admin_cert), str(self.pki.admin_key))
        return httpx.Client(base_url=self.url, verify=context, timeout=10)

    def get(self, path: str) -> dict[str, Any]:
        with self.client() as client:
            response = client.get(path)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    def items(self, path: str) -> list[dict[str, Any]]:
        """The objects of a list PATH."""
        found: list[dict[str, Any]] = self.get(path)["items"]
        return found

    def status(self, path: str) -> int:
        with self.client() as client:
            return client.get(path).status_code

    def failed_creates(self, namespace: str) -> list[str]:
        """The messages of the namespace's FailedCreate events (a controller refused a Pod)."""
        events = self.items(f"/api/v1/namespaces/{namespace}/events")
        return [e["message"] for e in events if e["reason"] == "FailedCreate"]


def wait_for(check: Callable[[], T], what: str, timeout: float = 60) -> T:
    """CHECK's first truthy answer, polled every half second for up to TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.5)
    raise TimeoutError(f"{what} not seen in {timeout}s")


def is_ready(obj: dict[str, Any]) -> bool:
    """A Node or Pod whose Ready condition is True."""
    conditions = obj.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def etcd_argv(binary: Path, data: Path, client_port: int, peer_port: int) -> list[str | Path]:
    client = f"http://127.0.0.1:{client_port}"
    peer = f"http://127.0.0.1:{peer_port}"
    return [
        binary,
        f"--data-dir={data}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}",
        "--log-level=warn",
    ]


def apiserver_argv(binary: Path, pki: Pki, etcd_port: int, port: int) -> list[str | Path]:
    return [
        binary,
        f"--etcd-servers=http://127.0.0.1:{etcd_port}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        # The reconciler would publish the advertise address as the `kubernetes` Service's
        # endpoint, and refuses a loopback one; nothing in this cluster dials that Service.
        "--endpoint-reconciler-type=none",
        f"--secure-port={port}",
        f"--tls-cert-file={pki.server_cert}",
        f"--tls-private-key-file={pki.server_key}",
        f"--client-ca-file={pki.ca}",
        f"--service-account-key-file={pki.service_account_pub}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-cluster-ip-range={SERVICE_RANGE}",
        "--authorization-mode=RBAC",
        # As kubeadm, kind and managed clusters run it: privileged Pods are judged per namespace by
        # Pod Security admission (the default false refuses them cluster-wide, before it).
        "--allow-privileged=true",
        "--v=1",
    ]


def _controller_flags(config: Path, port: int) -> list[str | Path]:
    """What the controller manager and the scheduler share: the plane's kubeconfig for the API
    and for checking their own callers, their HTTPS port on loopback, no leader election."""
    return [
        f"--kubeconfig={config}",
        f"--authentication-kubeconfig={config}",
        f"--authorization-kubeconfig={config}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--v=1",
    ]


def controller_manager_argv(binary: Path, pki: Pki, config: Path, port: int) -> list[str | Path]:
    return [
        binary,
        *_controller_flags(config, port),
        f"--service-account-private-key-file={pki.service_account_key}",
        f"--root-ca-file={pki.ca}",
    ]


def scheduler_argv(binary: Path, config: Path, port: int) -> list[str | Path]:
    return [binary, *_controller_flags(config, port)]


KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
NODE_NAME = "kwok-node-0"


def kwok_argv(binary: Path, config: Path, port: int) -> list[str | Path]:
    key, value = KWOK_ANNOTATION
    return [
        binary,
        f"--config={binary.parent / 'kwok-stages.yaml'}",  # tools/engine/build.sh copies them
        f"--kubeconfig={config}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={key}={value}",
        f"--server-address=127.0.0.1:{port}",
        "--node-ip=127.0.0.1",
        "--cidr=10.0.1.0/24",
    ]


def node() -> dict[str, Any]:
    """The simulated node kwok keeps Ready: room for every platform Pod."""
    capacity = {"cpu": "32", "memory": "128Gi", "pods": "110", "ephemeral-storage": "500Gi"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {KWOK_ANNOTATION[0]: KWOK_ANNOTATION[1]},
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def volume_for(claim: dict[str, Any]) -> dict[str, Any]:
    """A PersistentVolume pre-bound to CLAIM, of its size, class and access modes."""
    meta, spec = claim["metadata"], claim["spec"]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"pv-{meta['uid']}", "labels": {"engine-tier/provisioned": "true"}},
        "spec": {
            "capacity": {"storage": spec["resources"]["requests"]["storage"]},
            "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
            "storageClassName": spec.get("storageClassName") or "",
            "persistentVolumeReclaimPolicy": "Delete",
            "hostPath": {"path": f"/var/lib/engine-tier/{meta['uid']}"},
            "claimRef": {
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def provision(plane: ControlPlane, stop: threading.Event) -> None:
    """Until STOP: give every unbound claim its own volume (what a storage driver would do)."""
    done: set[str] = set()
    with plane.client() as client:
        while not stop.wait(0.5):
            try:
                claims = client.get("/api/v1/persistentvolumeclaims").json()["items"]
                for claim in claims:
                    uid = claim["metadata"]["uid"]
                    if uid in done or claim["spec"].get("volumeName"):
                        continue
                    response = client.post("/api/v1/persistentvolumes", json=volume_for(claim))
                    if response.status_code in (201, 409):
                        done.add(uid)
            except httpx.HTTPError:
                continue


@contextmanager
def control_plane(folder: Path) -> Iterator[ControlPlane]:
    """Start the plane (etcd, API server, controller manager, scheduler, kwok and its node, the
    claim provisioner) in FOLDER; stop all of it on exit."""
    bin_dir = binaries()
    pki = make_pki(folder / "pki")
    etcd_port, peer_port, api_port, cm_port, sched_port, kwok_port = (
        servers.free_port() for _ in range(6)
    )
    url = f"https://127.0.0.1:{api_port}"
    config = folder / "kubeconfig"
    plane = ControlPlane(
        url, config, pki, (etcd_port, peer_port, api_port, cm_port, sched_port, kwok_port)
    )
    config.write_text(yaml.safe_dump(kubeconfig(url, pki)))
    config.chmod(0o600)
    with ExitStack() as stack:
        etcd = servers.start(
            "etcd",
            etcd_argv(bin_dir / "etcd", folder / "etcd", etcd_port, peer_port),
            f"http://127.0.0.1:{etcd_port}",
            folder / "etcd.log",
        )
        stack.enter_context(
            servers.running(etcd, servers.http_ok(f"http://127.0.0.1:{etcd_port}/health"))
        )
        apiserver = servers.start(
            "kube-apiserver",
            apiserver_argv(bin_dir / "kube-apiserver", pki, etcd_port, api_port),
            url,
            folder / "kube-apiserver.log",
        )
        stack.enter_context(
            servers.running(apiserver, lambda: plane.status("/readyz") == 200, timeout=180)
        )

        def component(name: str, argv: list[str | Path]) -> servers.Server:
            return servers.start(name, argv, url, folder / f"{name}.log")

        manager = component(
            "kube-controller-manager",
            controller_manager_argv(bin_dir / "kube-controller-manager", pki, config, cm_port),
        )
        stack.enter_context(
            servers.running(manager, lambda: plane.status(DEFAULT_ACCOUNT) == 200, timeout=120)
        )
        for name, argv in (
            ("kube-scheduler", scheduler_argv(bin_dir / "kube-scheduler", config, sched_port)),
            ("kwok", kwok_argv(bin_dir / "kwok", config, kwok_port)),
        ):
            stack.enter_context(servers.running(component(name, argv), None))
        with plane.client() as client:
            client.post("/api/v1/nodes", json=node()).raise_for_status()
        servers.wait_until(
            lambda: is_ready(plane.get(f"/api/v1/nodes/{NODE_NAME}")), 60, "the kwok node Ready"
        )
        stop = threading.Event()
        provisioner = threading.Thread(target=provision, args=(plane, stop), daemon=True)
        provisioner.start()
        stack.callback(provisioner.join, 5)
        stack.callback(stop.set)
        yield plane


def main() -> None:
    """`make cluster`: run the plane in the foreground until Ctrl-C; print its kubeconfig."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--dir", type=Path, help="folder for certificates, data and logs")
    args = parser.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="mlops-cluster-"))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop cleanly, as on Ctrl-C
    with control_plane(folder) as plane:
        print(f"API server {plane.url}\nexport KUBECONFIG={plane.kubeconfig}", flush=True)
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            print("stopping the control plane", flush=True)


if __name__ == "__main__":
    main()
