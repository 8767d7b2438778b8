"""The leader's sweeper: removes expired tokens, wrapped responses and secret ids, and
failed-login counters that no longer count.

Expiry is enforced on every use, on every node, without it (DESIGN: check on
use); the sweeper only reclaims space and revokes the children of expired
tokens. Every `interval_s` the leader of an unsealed node collects up to
`BATCH` expired items of each kind and proposes one `Sweep` command; apply
re-checks each item against the command's time, so a renewal that raced the
sweep wins. Runs on the event loop; the scan (one LMDB read transaction over the
token, wrapped and auth-entry tables) runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging

from strongbox.auth.userpass import COUNTER_RESET_NS
from strongbox.core import Core
from strongbox.pb import commands_pb2 as cmd_pb

log = logging.getLogger("strongbox.sweeper")
BATCH = 500
LOGIN_STATE_IDLE_NS = COUNTER_RESET_NS  # a counter this old no longer counts: drop it


async def sweep_once(core: Core) -> int:
    """One round on this node if it leads and is unsealed; the number of items removed."""
    if core.sealed or not core.log.is_leader():
        return 0
    # The scan reads whole tables: a worker thread, so the event loop keeps serving
    # (it still shares the GIL, in slices, rather than stalling for the whole scan).
    found = await asyncio.to_thread(core.store.expired, core.clock.now_ns(), BATCH,
                                    LOGIN_STATE_IDLE_NS)
    if not any(found):
        return 0
    result = await core.submit(cmd_pb.Command(sweep=cmd_pb.Sweep(
        token_accessors=found.tokens, wrapped_hashes=found.wrapped,
        secret_id_keys=found.secret_ids, login_state_keys=found.login_states,
        login_state_idle_ns=LOGIN_STATE_IDLE_NS)))
    log.info("swept %d expired tokens, wrapped responses, secret ids and idle "
             "failed-login counters", result.version)
    return int(result.version)


async def run(core: Core, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep_once(core)
        except Exception:  # a failed round (no quorum, sealed meanwhile) is retried later
            log.warning("sweep round failed; retrying in %gs", interval_s, exc_info=True)
