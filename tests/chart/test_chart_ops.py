"""The ops programs' own logic, without nodes: retention, the Kubernetes calls (against a
fake API server), the podlabel heartbeat, bootstrap's refusals."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongbox.ops import backup, bootstrap, podlabel
from strongbox.ops.kube import KubeApi, KubeError
from strongbox.testing import CertificateAuthority
from tests.chart.fake_kube import FakeKube


@pytest.fixture
def kube(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKube]:
    fake = FakeKube(tmp_path / "sa").start(CertificateAuthority.create(tmp_path / "ca"))
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield fake
    finally:
        fake.stop()


def test_prune_keeps_the_newest_snapshots_and_nothing_else_is_touched(tmp_path: Path) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    names = [backup.snapshot_name(start + dt.timedelta(hours=h)) for h in range(5)]
    for name in names:
        (tmp_path / name).write_bytes(b"snap")
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / ".partial").write_bytes(b"half")
    deleted = backup.prune(tmp_path, keep=2)
    assert [p.name for p in deleted] == names[:3]
    assert [p.name for p in backup.snapshots(tmp_path)] == names[3:]
    assert (tmp_path / "notes.txt").exists() and (tmp_path / ".partial").exists()


def test_backup_refuses_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        backup.parse_args(["save", "--addr", "https://x", "--token-file", "t", "--keep", "0"])
    with pytest.raises(SystemExit):
        backup.parse_args(["restore", "--addr", "https://x", "--token-file", "t"])


def test_kube_api_creates_secrets_once_with_the_service_account_token(kube: FakeKube) -> None:
    api = KubeApi.in_cluster()
    assert api.namespace == "vault"
    assert api.create_secret("sb-dev-share-1", {"key": "k1"}, {"a": "b"}) is True
    (kube.sa_dir / "token").write_text("sa-token-2")        # the kubelet rotated it
    assert api.create_secret("sb-dev-share-1", {"key": "k1"}, {"a": "b"}) is False  # 409
    assert [c.token for c in kube.calls] == ["sa-token-1", "sa-token-2"]
    assert kube.calls[0].path == "/api/v1/namespaces/vault/secrets"
    assert kube.secrets["sb-dev-share-1"]["stringData"] == {"key": "k1"}


def test_kube_api_patches_pod_labels_with_a_merge_patch(kube: FakeKube) -> None:
    KubeApi.in_cluster().label_pod("strongbox-1", {podlabel.LABEL: "true"})
    [call] = kube.calls
    assert (call.method, call.path) == ("PATCH", "/api/v1/namespaces/vault/pods/strongbox-1")
    assert call.content_type == "application/merge-patch+json"
    assert kube.labels == {"strongbox-1": {"strongbox.io/active": "true"}}


def test_kube_errors_name_the_call_not_the_token(kube: FakeKube) -> None:
    api = KubeApi(f"https://127.0.0.1:{kube.port}", kube.sa_dir, "vault")
    kube.stop()
    with pytest.raises(httpx.TransportError):  # refused: podlabel logs it and retries
        api.label_pod("strongbox-0", {"x": "y"})
    assert issubclass(KubeError, RuntimeError)


def test_insecure_dev_secrets_one_per_holder(kube: FakeKube) -> None:
    names = bootstrap.store_dev_secrets("sb-dev", {"keys": ["k1", "k2", "k3"],
                                                   "root_token": "sbs.root"})
    assert names == ["sb-dev-share-1", "sb-dev-share-2", "sb-dev-share-3", "sb-dev-root-token"]
    assert kube.secrets["sb-dev-share-2"]["stringData"] == {"key": "k2"}
    assert kube.secrets["sb-dev-root-token"]["stringData"] == {"token": "sbs.root"}


def test_podlabel_heartbeat_is_its_probe(tmp_path: Path) -> None:
    beat = tmp_path / "alive"
    assert podlabel.main(["--pod", "p", "--heartbeat", str(beat), "--check"]) == 1
    beat.touch()
    assert podlabel.main(["--pod", "p", "--heartbeat", str(beat), "--check"]) == 0
    old = time.time() - 60
    os.utime(beat, (old, old))
    assert podlabel.main(["--pod", "p", "--heartbeat", str(beat), "--check"]) == 1


def test_podlabel_reports_no_role_for_an_unreachable_node() -> None:
    assert podlabel.role_label("https://127.0.0.1:9", "") is None


def test_bootstrap_refuses_a_missing_ca_file(tmp_path: Path) -> None:
    args = bootstrap.parse_args(["--node", "https://127.0.0.1:9", "--ca-file",
                                 str(tmp_path / "nope.crt")])
    assert bootstrap.run(args) == 1


def test_bootstrap_asks_for_recovery_keys_from_an_auto_unseal_node() -> None:
    assert bootstrap.init_request("shamir", 5, 3) == {"secret_shares": 5,
                                                      "secret_threshold": 3}
    for kind in ("pkcs11", "transit", "static"):
        assert bootstrap.init_request(kind, 3, 2) == {"recovery_shares": 3,
                                                      "recovery_threshold": 2}


AUTO_INIT = {"keys": [], "keys_base64": [], "recovery_keys": ["aa11", "bb22", "cc33"],
             "recovery_keys_base64": ["qhE=", "uyI=", "zDM="], "root_token": "sbs.root"}


def test_bootstrap_ceremony_sheet_for_recovery_keys(capsys: pytest.CaptureFixture[str]) -> None:
    bootstrap.print_ceremony(AUTO_INIT, 2, "text", "pkcs11")
    sheet = capsys.readouterr().out
    assert "pkcs11 seal" in sheet and "3 recovery key shares, any 2" in sheet
    assert "Recovery keys cannot unseal" in sheet and "generate-root" in sheet
    assert [line for line in sheet.splitlines() if line.startswith("Recovery key ")] == [
        "Recovery key 1: aa11", "Recovery key 2: bb22", "Recovery key 3: cc33"]
    assert "Unseal key" not in sheet and "Initial root token: sbs.root" in sheet
    bootstrap.print_ceremony({"keys": ["k1", "k2"], "root_token": "r"}, 2, "text")
    shamir = capsys.readouterr().out
    assert "Unseal key 1: k1" in shamir and "recovery" not in shamir.lower()


def test_insecure_dev_secrets_name_recovery_keys_as_such(kube: FakeKube) -> None:
    names = bootstrap.store_dev_secrets("sb-dev", AUTO_INIT)
    assert names == ["sb-dev-recovery-key-1", "sb-dev-recovery-key-2",
                     "sb-dev-recovery-key-3", "sb-dev-root-token"]
    assert kube.secrets["sb-dev-recovery-key-3"]["stringData"] == {"key": "cc33"}
    assert not [n for n in kube.secrets if "share" in n]


def test_bootstrap_refuses_nodes_configured_with_different_seals(
        monkeypatch: pytest.MonkeyPatch) -> None:
    nodes = ["https://a:8200", "https://b:8200"]
    monkeypatch.setattr(bootstrap, "wait_for_nodes", lambda *a: [{"initialized": False}] * 2)
    monkeypatch.setattr(bootstrap, "find_leader", lambda *a: nodes[0])
    monkeypatch.setattr(bootstrap, "seal_type",
                        lambda node, *a: "static" if node == nodes[0] else "shamir")
    sent = []
    monkeypatch.setattr(bootstrap, "initialize", lambda *a: sent.append(a))
    args = bootstrap.parse_args(["--node", nodes[0], "--node", nodes[1]])
    assert bootstrap.run(args) == 1 and sent == []
