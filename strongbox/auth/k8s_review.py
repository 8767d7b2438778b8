"""Kubernetes service-account tokens: who a token names, and the API server's TokenReview.

Contract
--------
- `service_account(claims)` reads the identity out of verified (or TokenReview-backed)
  claims. Two shapes are accepted:

  * **projected** (bound) tokens: `sub` "system:serviceaccount:<ns>:<name>" and a
    nested `kubernetes.io` claim `{namespace, serviceaccount: {name, uid}, pod: {name,
    uid}}`; they always carry `exp` (the caller checks it);
  * **legacy** secret-based tokens: flat `kubernetes.io/serviceaccount/namespace`,
    `.../service-account.name`, `.../service-account.uid`, `.../secret.name` claims,
    no `exp` (they never expire; only a TokenReview sees them revoked).

  Anything else is a 403 "not a Kubernetes service account token".
- `TokenReviewer.review(host, ca_pem, bearer, token, audiences)` POSTs a TokenReview
  (`/apis/authentication.k8s.io/v1/tokenreviews`) and returns a `Review`
  (authenticated, username, uid, the pod name the API server reports). Definitive
  answers are cached for `CACHE_S` seconds, keyed by a hash of (host, token,
  audiences), so a burst of logins with one token costs one API call while a
  revocation is seen within `CACHE_S`. Failures to reach the API server are not
  cached and raise `KeyFetchError` (400).
- `local_reviewer_files()`: the pod's own service-account token and CA (when
  StrongBox runs in a pod), read at each use because the kubelet rotates them.

Event loop only (the cache is unsynchronised; the HTTP call is async).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from strongbox.auth.jwt_keys import https_json
from strongbox.errors import PermissionDenied

REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"
CACHE_S = 5.0
MAX_CACHED = 10_000
POD_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
LEGACY = "kubernetes.io/serviceaccount/"
POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    name: str
    namespace: str
    uid: str
    pod_name: str = ""
    pod_uid: str = ""
    secret_name: str = ""
    legacy: bool = False

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def metadata(self) -> dict[str, str]:
        """The token metadata Vault's kubernetes method sets (plus the pod when known)."""
        meta = {"service_account_name": self.name,
                "service_account_namespace": self.namespace,
                "service_account_uid": self.uid}
        extra = {"service_account_secret_name": self.secret_name, "pod_name": self.pod_name,
                 "pod_uid": self.pod_uid}
        return {**meta, **{k: v for k, v in extra.items() if v}}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def service_account(claims: dict[str, Any]) -> ServiceAccount:
    """The service account a token's claims name (see the module contract)."""
    nested = claims.get("kubernetes.io")
    if isinstance(nested, dict):
        account = nested.get("serviceaccount")
        pod = nested.get("pod")
        account = account if isinstance(account, dict) else {}
        pod = pod if isinstance(pod, dict) else {}
        found = ServiceAccount(_text(account.get("name")), _text(nested.get("namespace")),
                               _text(account.get("uid")), _text(pod.get("name")),
                               _text(pod.get("uid")))
    else:
        found = ServiceAccount(_text(claims.get(LEGACY + "service-account.name")),
                               _text(claims.get(LEGACY + "namespace")),
                               _text(claims.get(LEGACY + "service-account.uid")),
                               secret_name=_text(claims.get(LEGACY + "secret.name")),
                               legacy=True)
    if not (found.name and found.namespace and found.uid):
        raise PermissionDenied("the JWT is not a Kubernetes service account token (no "
                               "service account name, namespace and uid claims)")
    if not found.legacy and claims.get("sub") not in (None, found.username):
        raise PermissionDenied("the JWT's 'sub' claim does not name its service account")
    return found


@dataclass(frozen=True, slots=True)
class Review:
    authenticated: bool
    username: str = ""
    uid: str = ""
    pod_name: str = ""  # user.extra["authentication.kubernetes.io/pod-name"], if any


def _review(answer: dict[str, Any]) -> Review:
    status = answer.get("status")
    status = status if isinstance(status, dict) else {}
    user = status.get("user")
    user = user if isinstance(user, dict) else {}
    extra = user.get("extra")
    pods = extra.get(POD_NAME_EXTRA) if isinstance(extra, dict) else None
    pod = pods[0] if isinstance(pods, list) and len(pods) == 1 else ""
    return Review(status.get("authenticated") is True, _text(user.get("username")),
                  _text(user.get("uid")), _text(pod))


class TokenReviewer:
    """TokenReview calls with a short cache (see the module contract)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._cache: OrderedDict[str, tuple[float, Review]] = OrderedDict()
        self.calls = 0

    async def review(self, host: str, ca_pem: str, bearer: str, token: str,
                     audiences: list[str]) -> Review:
        key = hashlib.sha256(json.dumps([host, token, audiences]).encode()).hexdigest()
        now = self._monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        spec: dict[str, Any] = {"token": token}
        if audiences:
            spec["audiences"] = audiences
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
        self.calls += 1
        answer = await https_json(host.rstrip("/") + REVIEW_PATH, ca_pem, body=body,
                                  headers={"Authorization": f"Bearer {bearer}"},
                                  ok=(200, 201))
        result = _review(answer)
        self._cache[key] = (now + CACHE_S, result)
        self._cache.move_to_end(key)
        while len(self._cache) > MAX_CACHED:
            self._cache.popitem(last=False)
        return result


def local_reviewer_files(directory: Path = POD_DIR) -> tuple[str, str]:
    """(the pod's service-account token, its CA bundle), "" for what is not there."""
    def read(name: str) -> str:
        try:
            return (directory / name).read_text().strip()
        except OSError:
            return ""
    return read("token"), read("ca.crt")
