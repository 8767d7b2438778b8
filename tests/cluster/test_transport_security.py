"""The cluster port refuses strangers and survives garbage from members."""

from __future__ import annotations

import os
import pickle

import grpc
import pytest

from strongbox.pb import cluster_pb2 as pb
from strongbox.pb import cluster_pb2_grpc as pb_grpc
from strongbox.raft import safe_pickle
from strongbox.raft.cluster_tls import ClusterTls
from strongbox.testing import CertificateAuthority, LocalCluster

pytestmark = pytest.mark.cluster


def channel_as(cluster: LocalCluster, tls: ClusterTls, node_index: int = 0) -> grpc.Channel:
    target = f"127.0.0.1:{cluster.cluster_ports[node_index]}"
    return grpc.secure_channel(target, tls.channel_credentials(), options=[
        ("grpc.ssl_target_name_override", cluster.nodes[node_index].node_id)])


def load(files: object) -> ClusterTls:
    return ClusterTls.load(str(files.ca_cert), str(files.cert), str(files.key))  # type: ignore[attr-defined]


def test_stranger_with_a_cluster_certificate_is_not_a_member(shared_cluster: LocalCluster,
                                                             tmp_path: object) -> None:
    tls = load(shared_cluster.ca.issue(shared_cluster.directory / "tls", "node-9"))
    with channel_as(shared_cluster, tls) as channel:
        stub = pb_grpc.ClusterStub(channel)
        assert stub.Hello(pb.HelloRequest(), timeout=5).member is False
        with pytest.raises(grpc.RpcError) as raised:
            stub.Raft(iter([pb.RaftFrame(payload=b"\x00")]), timeout=5)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_certificate_from_another_ca_fails_the_handshake(shared_cluster: LocalCluster,
                                                         tmp_path: object) -> None:
    from pathlib import Path

    rogue = CertificateAuthority.create(Path(str(tmp_path)) / "rogue", "rogue")
    tls = load(rogue.issue(Path(str(tmp_path)) / "rogue", "node-2"))
    tls = ClusterTls(ca=shared_cluster.ca.cert_file.read_bytes(), cert=tls.cert, key=tls.key)
    with channel_as(shared_cluster, tls) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.ClusterStub(channel).Hello(pb.HelloRequest(), timeout=5)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_garbage_frames_from_a_member_identity_do_not_hurt_the_node(
        shared_cluster: LocalCluster) -> None:
    # The test holds node-3's certificate and talks to node-1 as if it were node-3.
    tls = load(shared_cluster.nodes[2].tls)
    frames = [pb.RaftFrame(payload=os.urandom(n)) for n in (0, 1, 7, 64, 4096)]
    with channel_as(shared_cluster, tls) as channel:
        with pytest.raises(grpc.RpcError) as raised:
            pb_grpc.ClusterStub(channel).Raft(iter(frames), timeout=5)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    leader = shared_cluster.wait_leader()
    with leader.client(shared_cluster.root_token) as client:
        assert client.post("/v1/secret/data/garbage/ok", json={"data": {"v": 1}}) \
            .status_code == 200
    with shared_cluster.nodes[0].client() as client:
        assert client.get("/v1/sys/health?standbyok=true").status_code == 200


class Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/strongbox-pwned",))


def test_crafted_pickle_in_a_log_entry_is_rejected() -> None:
    import pysyncobj.serializer
    import pysyncobj.syncobj

    payload = pickle.dumps((0, (Exploit(),)), 2)
    assert pysyncobj.syncobj.pickle is safe_pickle  # installed by importing strongbox.raft
    assert pysyncobj.serializer.pickle is safe_pickle
    with pytest.raises(safe_pickle.UnsafePickleError):
        pysyncobj.syncobj.pickle.loads(payload)
    assert not os.path.exists("/tmp/strongbox-pwned")
    # What a legitimate entry looks like still loads.
    assert pysyncobj.syncobj.pickle.loads(pickle.dumps((0, (b"command",)), 2)) == \
        (0, (b"command",))
