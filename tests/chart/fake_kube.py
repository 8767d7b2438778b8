"""A stand-in for the Kubernetes API server, for the ops programs' calls (HTTPS on loopback).

It serves exactly what `strongbox.ops.kube` sends: `POST /api/v1/namespaces/NS/secrets`
(201, or 409 when the name exists) and `PATCH /api/v1/namespaces/NS/pods/NAME` with a merge
patch of labels (200). Every request is recorded with its bearer token. `sa_dir` holds
what the kubelet mounts for a pod (token, ca.crt, namespace).
"""

from __future__ import annotations

import json
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from strongbox.testing import CertificateAuthority


@dataclass
class Call:
    method: str
    path: str
    token: str
    content_type: str
    body: dict[str, Any]


@dataclass
class FakeKube:
    sa_dir: Path
    port: int = 0
    calls: list[Call] = field(default_factory=list)
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    def env(self) -> dict[str, str]:
        return {"STRONGBOX_KUBE_SA_DIR": str(self.sa_dir), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
                "KUBERNETES_SERVICE_PORT": str(self.port)}

    def start(self, ca: CertificateAuthority, namespace: str = "vault") -> FakeKube:
        tls = ca.issue(self.sa_dir / "server", "kubernetes")
        self.sa_dir.mkdir(parents=True, exist_ok=True)
        (self.sa_dir / "token").write_text("sa-token-1")
        (self.sa_dir / "ca.crt").write_bytes(ca.cert_file.read_bytes())
        (self.sa_dir / "namespace").write_text(namespace)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Call:
                length = int(self.headers.get("Content-Length", "0"))
                call = Call(self.command, self.path,
                            self.headers.get("Authorization", "").removeprefix("Bearer "),
                            self.headers.get("Content-Type", ""),
                            json.loads(self.rfile.read(length) or b"{}"))
                fake.calls.append(call)
                return call

            def do_POST(self) -> None:
                call = self._record()
                name = call.body["metadata"]["name"]
                if name in fake.secrets:
                    self._answer(409, {"reason": "AlreadyExists"})
                    return
                fake.secrets[name] = call.body
                self._answer(201, call.body)

            def do_PATCH(self) -> None:
                call = self._record()
                pod = call.path.rsplit("/", 1)[1]
                fake.labels.setdefault(pod, {}).update(call.body["metadata"]["labels"])
                self._answer(200, {"metadata": {"name": pod, "labels": fake.labels[pod]}})

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(tls.cert), str(tls.key))
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server, self.port = server, server.server_address[1]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
