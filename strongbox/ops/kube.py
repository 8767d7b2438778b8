"""The few Kubernetes API calls the ops programs make, as the pod's service account.

`KubeApi.in_cluster()` reads the mounted service-account token, CA and namespace
(`/var/run/secrets/kubernetes.io/serviceaccount/`, or the directory in
`STRONGBOX_KUBE_SA_DIR`) and talks plain HTTPS to `https://kubernetes.default.svc`
(or `KUBERNETES_SERVICE_HOST:PORT`). The token is re-read for every call: kubelet
rotates projected tokens. Calls: create-or-keep a Secret, merge-patch a pod's labels.
The chart's Roles grant exactly these verbs on exactly these names.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"


class KubeError(RuntimeError):
    """The Kubernetes API refused or failed a call (the message has the status, no secret)."""


@dataclass(frozen=True, slots=True)
class KubeApi:
    server: str
    sa_dir: Path
    namespace: str

    @classmethod
    def in_cluster(cls) -> KubeApi:
        sa_dir = Path(os.environ.get("STRONGBOX_KUBE_SA_DIR", SA_DIR))
        host = os.environ.get("KUBERNETES_SERVICE_HOST", "kubernetes.default.svc")
        port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        host = f"[{host}]" if ":" in host else host
        namespace = (sa_dir / "namespace").read_text().strip() if (
            sa_dir / "namespace").exists() else os.environ.get("POD_NAMESPACE", "default")
        return cls(f"https://{host}:{port}", sa_dir, namespace)

    def _client(self) -> httpx.Client:
        token = (self.sa_dir / "token").read_text().strip()
        context = ssl.create_default_context(cafile=str(self.sa_dir / "ca.crt"))
        return httpx.Client(base_url=self.server, verify=context, timeout=15.0,
                            headers={"Authorization": f"Bearer {token}"})

    def _call(self, method: str, path: str, body: dict[str, Any],
              content_type: str = "application/json") -> httpx.Response:
        with self._client() as client:
            response = client.request(method, path, json=body,
                                      headers={"Content-Type": content_type})
        if response.status_code >= 400 and response.status_code != 409:
            raise KubeError(f"{method} {path}: HTTP {response.status_code}")
        return response

    def create_secret(self, name: str, data: dict[str, str], labels: dict[str, str]) -> bool:
        """Create an Opaque Secret; False if it already exists (it is left untouched)."""
        body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "labels": labels}, "stringData": data}
        response = self._call("POST", f"/api/v1/namespaces/{self.namespace}/secrets", body)
        return response.status_code != 409

    def label_pod(self, pod: str, labels: dict[str, str]) -> None:
        self._call("PATCH", f"/api/v1/namespaces/{self.namespace}/pods/{pod}",
                   {"metadata": {"labels": labels}}, "application/merge-patch+json")
