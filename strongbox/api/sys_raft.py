"""sys/storage/raft/* and the cluster view of sys/leader (Vault's integrated storage API).

Membership changes go through the leader; a follower forwards them. `join`
asks the configured peers (cluster.peers, like Vault's retry_join) to add this
node; the caller's identity there is this node's certificate, not the request.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from strongbox.api import forwarding
from strongbox.backend.context import Context, Route
from strongbox.backend.response import Response, json_response, no_content, ok
from strongbox.errors import BadRequest, InternalError, NotFound, ServiceUnavailable
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.pb import records_pb2 as rec

CHUNK_BYTES = 1024 * 1024
SNAPSHOT_PATHS = ("/v1/sys/storage/raft/snapshot", "/v1/sys/storage/raft/snapshot-force")


def _servers(ctx: Context) -> list[dict[str, Any]]:
    status = ctx.core.log.status()
    # `api_address` (an extension): where clients reach each member's API, so an SDK
    # given one address can find the followers; "" when a peer has not said yet.
    servers = [{"node_id": status.node_id, "address": status.address,
                "leader": status.is_leader, "voter": True, "protocol_version": "3",
                "api_address": ctx.core.config.api_addr}]
    servers += [{"node_id": peer.node_id, "address": peer.address,
                 "leader": peer.node_id == status.leader_id, "voter": True,
                 "protocol_version": "3", "api_address": peer.api_addr}
                for peer in status.peers]
    return servers


async def get_configuration(ctx: Context) -> Response:
    status = ctx.core.log.status()
    return ok(ctx.request.request_id,
              {"config": {"servers": _servers(ctx), "index": status.commit_index}})


async def get_autopilot_state(ctx: Context) -> Response:
    status = ctx.core.log.status()
    servers: dict[str, Any] = {status.node_id: {
        "id": status.node_id, "address": status.address, "healthy": True,
        "last_contact": "0s", "last_index": status.applied_index,
        "status": "leader" if status.is_leader else "voter"}}
    for peer in status.peers:
        servers[peer.node_id] = {
            "id": peer.node_id, "address": peer.address, "healthy": peer.connected,
            "last_contact": "", "last_index": peer.match_index if status.is_leader else 0,
            "status": "leader" if peer.node_id == status.leader_id else "voter"}
    healthy = all(s["healthy"] for s in servers.values()) and status.leader_id is not None
    voters = len(servers)
    return ok(ctx.request.request_id, {
        "healthy": healthy, "leader": status.leader_id or "", "servers": servers,
        "voters": sorted(servers), "failure_tolerance": max(0, (voters - 1) // 2)})


async def remove_peer(ctx: Context) -> Response:
    body = ctx.request.json_body({"server_id": (str,)}, required=("server_id",))
    status = ctx.core.log.status()
    if not status.is_leader:
        return await forwarding.forward(ctx.core, ctx.request, "/v1/" + ctx.request.path)
    server_id = body["server_id"]
    if server_id == status.node_id:
        raise BadRequest("the leader cannot remove itself: step down first, then remove it "
                         "from the new leader")
    if server_id not in {peer.node_id for peer in status.peers}:
        raise NotFound(f"no raft peer with id {server_id!r}")
    await ctx.core.log.remove_peer(server_id, ctx.core.config.limits.write_timeout_s)
    return no_content()


# What `vault operator raft join` sends (api.RaftJoinRequest). The leader address, CA
# and client certificate fields are accepted and not used: this node joins through its
# configured cluster.peers, and its identity there is its own cluster certificate.
JOIN_SCHEMA = {"leader_api_addr": (str, type(None)), "leader_ca_cert": (str, type(None)),
               "leader_client_cert": (str, type(None)), "leader_client_key": (str, type(None)),
               "retry": (bool, type(None)), "non_voter": (bool, type(None)),
               "auto_join": (str, type(None)), "auto_join_scheme": (str, type(None)),
               "auto_join_port": (int, type(None))}


def _check_join_caller(ctx: Context) -> None:
    """As in Vault: a node that is not initialized takes the join without a token (it
    has no tokens yet); once it holds the cluster's state, joining again needs sudo.

    Why a tokenless join is safe: the request only makes this node ask the members it
    is configured with (cluster.peers) to add it, which `retry_join` does anyway. The
    members accept it only if its mutual-TLS certificate is signed by the cluster CA
    (its CN is its node id). A stranger's own node, without such a certificate, is
    refused by the members; a stranger cannot point this node at another cluster."""
    if ctx.core.cluster() is None:
        return
    token = ctx.core.authenticate(ctx.request.token)
    ctx.core.authorize(token, "sudo", ctx.request.path)


async def join(ctx: Context) -> Response:
    _check_join_caller(ctx)
    body = ctx.request.json_body(JOIN_SCHEMA)
    if body.get("non_voter"):
        raise BadRequest("non-voting members are not supported")
    if body.get("auto_join"):
        raise BadRequest("auto_join (cloud auto-discovery) is not supported: list the "
                         "members in cluster.peers of this node's config")
    if not ctx.core.config.cluster.peers:
        raise BadRequest("this node has no cluster.peers to join through; set cluster.peers "
                         "(node-id=host:port of existing members) in its config")
    joined = await asyncio.get_running_loop().run_in_executor(None, ctx.core.log.join, 10.0)
    if not joined:
        raise ServiceUnavailable("no member accepted the join (is a leader elected, and is "
                                 "this node's certificate signed by the cluster CA?)")
    return json_response(200, {"joined": True})


async def get_snapshot(ctx: Context) -> Response:
    """Everything acknowledged before the request is in the snapshot, on any node.

    The leader applied every write it acknowledged; a follower first commits a no-op
    through Raft and waits until it has applied it (a read barrier), so it has too.
    `X-Strongbox-Snapshot-Index` names the applied index the file holds.
    """
    if ctx.core.config.cluster.enabled and not ctx.core.log.is_leader():
        await forwarding.consistent_barrier(ctx.core)
    body, index = await asyncio.get_running_loop().run_in_executor(None,
                                                                   ctx.core.snapshot_bytes)
    return Response(200, body, [(b"content-type", b"application/octet-stream"),
                                (b"x-strongbox-snapshot-index", str(index).encode())])


async def _restore(ctx: Context, force: bool) -> Response:
    core = ctx.core
    core.require_keyring()
    if "idempotency-key" in ctx.request.headers:
        raise BadRequest("a snapshot restore cannot take an Idempotency-Key: it is many "
                         "writes; check sys/storage/raft/configuration and retry instead")
    chunks, raw_cluster = await asyncio.get_running_loop().run_in_executor(
        None, core.restore_chunks, ctx.request.body, CHUNK_BYTES)
    if raw_cluster is None:
        raise BadRequest("the snapshot holds no initialized cluster")
    snapshot_cluster = rec.ClusterRecord.FromString(raw_cluster)
    current = core.cluster()
    other_keys = current is None or current.sealed_root_key != snapshot_cluster.sealed_root_key
    if other_keys and not force:
        raise BadRequest(f"the snapshot is from cluster {snapshot_cluster.cluster_id!r}, not "
                         "this one: use sys/storage/raft/snapshot-force to restore it anyway")
    restore_id = str(uuid.uuid4())
    commands = [cmd_pb.Command(restore_begin=cmd_pb.RestoreBegin(restore_id=restore_id))]
    commands += [cmd_pb.Command(restore_chunk=cmd_pb.RestoreChunk(
        restore_id=restore_id, records=chunk)) for chunk in chunks]
    commands.append(cmd_pb.Command(restore_end=cmd_pb.RestoreEnd(restore_id=restore_id)))
    for command in commands:
        result = await core.submit(command, origin=ctx.request)
        if result.code != result.OK:
            raise InternalError(f"snapshot restore failed: {result.message}")
    if other_keys:
        core.seal()  # the restored keyring needs the restored cluster's shares
    return no_content()


async def post_snapshot(ctx: Context) -> Response:
    return await _restore(ctx, force=False)


async def post_snapshot_force(ctx: Context) -> Response:
    return await _restore(ctx, force=True)


async def step_down(ctx: Context) -> Response:
    """Runs on the leader: the pipeline forwards it there (`Route.forward`)."""
    await ctx.core.log.step_down(ctx.core.config.limits.write_timeout_s)
    return no_content()


async def get_digest(ctx: Context) -> Response:
    """This node's store digest at its applied index (replicas compare equal at one index).

    An extension for operators and the fault campaign: a SHA-256 over every key and value
    (ciphertext, never plaintext), read in one LMDB transaction, so it names exactly the
    applied index it covers. Never forwarded: the point is this node's own copy.
    """
    applied, digest = await asyncio.to_thread(ctx.core.store.digest_at)
    return ok(ctx.request.request_id, {"node_id": ctx.core.log.status().node_id,
                                        "applied_index": applied, "digest": digest})


ROUTES: dict[str, Route] = {
    "sys/storage/raft/digest": Route({"GET": get_digest}, sudo=True),
    "sys/storage/raft/configuration": Route({"GET": get_configuration}),
    "sys/storage/raft/autopilot/state": Route({"GET": get_autopilot_state}),
    "sys/storage/raft/remove-peer": Route({"POST": remove_peer}, sudo=True),
    "sys/storage/raft/join": Route({"POST": join}, auth=False, unsealed=False),
    "sys/step-down": Route({"PUT": step_down}, sudo=True, forward=True),
    "sys/storage/raft/snapshot": Route({"GET": get_snapshot, "POST": post_snapshot}, sudo=True),
    "sys/storage/raft/snapshot-force": Route({"POST": post_snapshot_force}, sudo=True),
}
