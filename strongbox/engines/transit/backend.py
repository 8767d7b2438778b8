"""Transit as a `Backend`: its paths (Vault's), and the leader's automatic rotation.

Every path needs a token; encryption, signing and key reads work on any node
(followers read the replicated keys; writes such as rotate or the encryption
counters go through Raft from wherever they are made). `maintain` is the
sweeper's hook: on the leader, every round, a key whose latest version is older
than `auto_rotate_period` or has done `auto_rotate_max_encryptions` encryptions
gets a new version.
"""

from __future__ import annotations

import asyncio
import logging

from strongbox.backend.context import PathTable, Route
from strongbox.backend.contract import Backend
from strongbox.backend.storage import MountStorage
from strongbox.core import Core
from strongbox.engines.transit import keys_http, keystore, keytypes, ops, sign_ops, usage
from strongbox.engines.transit.policy import Policy
from strongbox.pb import records_pb2 as rec

log = logging.getLogger("strongbox.transit")
N = ops.NAME
ALGORITHM = r"(?:/(?P<algorithm>[\w-]+))?"


ROUTES: list[tuple[str, Route]] = [
    (f"keys/{N}", Route({"POST": keys_http.create_key, "GET": keys_http.read_key,
                          "DELETE": keys_http.delete_key})),
    (f"keys/{N}/config", Route({"POST": keys_http.configure})),
    (f"keys/{N}/rotate", Route({"POST": keys_http.rotate})),
    (f"keys/{N}/trim", Route({"POST": keys_http.trim})),
    (f"keys/{N}/import", Route({"POST": keys_http.import_key})),
    (f"keys/{N}/import_version", Route({"POST": keys_http.import_version})),
    (rf"export/(?P<kind>[\w-]+)/{N}(?:/(?P<version>\w+))?",
     Route({"GET": keys_http.export})),
    (f"backup/{N}", Route({"GET": keys_http.backup})),
    (f"restore(?:/{N})?", Route({"POST": keys_http.restore})),
    (f"encrypt/{N}", Route({"POST": ops.encrypt})),
    (f"decrypt/{N}", Route({"POST": ops.decrypt})),
    (f"rewrap/{N}", Route({"POST": ops.rewrap})),
    (rf"datakey/(?P<kind>\w+)/{N}", Route({"POST": ops.datakey})),
    (f"sign/{N}{ALGORITHM}", Route({"POST": sign_ops.sign})),
    (f"verify/{N}{ALGORITHM}", Route({"POST": sign_ops.verify})),
    (f"hmac/{N}{ALGORITHM}", Route({"POST": sign_ops.hmac})),
    (r"random(?:/(?P<source>[a-z]+))?(?:/(?P<bytes>\w+))?",
     Route({"POST": sign_ops.random})),
    (r"hash(?:/(?P<algorithm>[\w-]+))?", Route({"POST": sign_ops.hash_input})),
]
PATHS = PathTable(exact={"keys": Route({"LIST": keys_http.list_keys}),
                         "wrapping_key": Route({"GET": keys_http.wrapping_key})},
                  patterns=ROUTES)


async def maintain(core: Core, namespace: str, mount: rec.MountRecord, now_ns: int) -> int:
    """Rotate every key of the mount that is due; the number rotated."""
    view = MountStorage(core, namespace, mount, secrets_engine=True)
    now = now_ns // 1_000_000_000
    rotated = 0
    for name in keystore.names(view):
        policy = keystore.load(view, name)
        if policy is None:
            continue
        done = usage.count(view, name, policy.latest_version)
        if not policy.rotation_due(now, done):
            continue
        latest = policy.latest_version
        made = await asyncio.to_thread(keytypes.generate, policy.type, 0, now, 32,
                                       policy.key_size())

        def change(p: Policy, latest: int = latest,
                   made: keytypes.KeyVersion = made) -> None:
            if p.latest_version == latest:  # nobody rotated it meanwhile
                p.add_version(made)

        await keystore.update(view, name, change)
        rotated += 1
        log.info("transit: rotated key %r of mount %s to version %d (automatic rotation)",
                 name, mount.path, latest + 1)
    return rotated


BACKEND = Backend(kind="secret", type="transit", paths=PATHS, maintain=maintain,
                  description="encryption as a service: named keys that never leave the "
                              "server", check_token_first=True)
