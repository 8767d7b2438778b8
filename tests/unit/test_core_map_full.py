"""Writes are refused (507) before the LMDB map is full, not applied until it breaks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from strongbox.config import load_config
from strongbox.core import MAP_FULL_AT, Core
from strongbox.errors import StoreFull
from strongbox.pb import commands_pb2 as cmd_pb
from strongbox.raft.log import DirectLog
from strongbox.state.apply import apply
from strongbox.state.store import Store


def test_writes_are_refused_once_the_map_is_nearly_full(tmp_path: Path) -> None:
    store = Store(tmp_path, map_size_mb=16)
    config = load_config(None, env={}, overrides={"data_dir": str(tmp_path),
                                                  "listener.tls_disable": True})
    core = Core(config, store, DirectLog(lambda i, d: apply(store, i, d)))
    loop = asyncio.new_event_loop()
    try:
        noop = cmd_pb.Command(noop=cmd_pb.Noop())
        loop.run_until_complete(core.submit(noop))           # room: accepted
        with store.write() as txn:                            # fill past the threshold
            for i in range(4000):
                txn.put(b"filler-%06d" % i, b"\0" * 4000, db=store.db["meta"])
        assert store.map_usage() > MAP_FULL_AT
        applied = store.applied_index()
        with pytest.raises(StoreFull, match=r"storage\.map_size_mb"):
            loop.run_until_complete(core.submit(noop))
        assert StoreFull.status == 507
        assert store.applied_index() == applied              # nothing was proposed
    finally:
        loop.close()
        store.close()
