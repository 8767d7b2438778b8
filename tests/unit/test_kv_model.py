"""Stateful property test: the KV v2 engine against a plain-Python model.

The engine runs over a real `Core`: a real LMDB `Store` in a temp directory,
commands applied through `DirectLog` -> `state.apply`, a keyring from a real
init + unseal. The model is a dict of path -> versions with their states.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from strongbox.config import load_config
from strongbox.core import Core
from strongbox.engines.kv.engine import Action, DeletedVersion, KvEngine, KvPath
from strongbox.errors import CasMismatch, NotFound
from strongbox.raft.log import DirectLog
from strongbox.state.apply import apply
from strongbox.state.store import Store

T = TypeVar("T")
MOUNT = "secret/"
DEFAULT_MAX_VERSIONS = 10
PATHS = ("a", "b", "dir/c", "dir/d", "dir/sub/e")
FOLDERS = ("", "dir/", "dir/sub/", "nothing/")

paths = st.sampled_from(PATHS)
keys = st.sampled_from(("k1", "k2", "k3"))
values = st.text(alphabet="xyz", max_size=3)
datas = st.dictionaries(keys, values, max_size=3)
patches = st.dictionaries(keys, st.none() | values, min_size=1, max_size=3)
cas_modes = st.sampled_from(("none", "correct", "wrong"))
# Versions are drawn relative to the current one (current - k), so that they mostly hit
# existing versions; k = -1 names a version that does not exist yet.
offset_lists = st.lists(st.integers(min_value=-1, max_value=4), min_size=1, max_size=3,
                        unique=True)


@dataclass
class Version:
    data: dict[str, str]
    deleted: bool = False
    destroyed: bool = False


@dataclass
class Secret:
    current: int = 0
    max_versions: int = 0
    versions: dict[int, Version] = field(default_factory=dict)

    def trim(self) -> None:
        limit = self.max_versions or DEFAULT_MAX_VERSIONS
        for v in sorted(self.versions)[: max(0, len(self.versions) - limit)]:
            del self.versions[v]

    def readable_latest(self) -> Version | None:
        state = self.versions.get(self.current)
        if state is None or state.deleted or state.destroyed:
            return None
        return state


class KvModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.mkdtemp(prefix="strongbox-kv-model-")
        self.loop = asyncio.new_event_loop()
        self.store = Store(self.tmp, map_size_mb=64)
        store = self.store
        config = load_config(None, env={}, overrides={"data_dir": self.tmp,
                                                      "listener.tls_disable": True})
        self.core = Core(config, store, DirectLog(lambda i, d: apply(store, i, d)))
        init = self.run(self.core.initialize(1, 1))
        self.core.submit_share(init.shares[0].hex())
        assert not self.core.sealed
        self.engine = KvEngine(self.core)
        self.model: dict[str, Secret] = {}

    def teardown(self) -> None:
        self.loop.close()
        self.store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def list_keys(self, folder: str) -> list[str]:
        return self.engine.list_keys(self.at(folder))

    @staticmethod
    def at(path: str) -> KvPath:
        return KvPath("", MOUNT, path)

    def _cas(self, mode: str, current: int) -> int | None:
        return {"none": None, "correct": current, "wrong": current + 1}[mode]

    # --- writes -------------------------------------------------------------------

    @rule(path=paths, data=datas, cas_mode=cas_modes)
    def put(self, path: str, data: dict[str, str], cas_mode: str) -> None:
        secret = self.model.get(path)
        current = secret.current if secret else 0
        cas = self._cas(cas_mode, current)
        if cas_mode == "wrong":
            with pytest.raises(CasMismatch, match="did not match the current version"):
                self.run(self.engine.put(self.at(path), data, cas))
            return
        meta = self.run(self.engine.put(self.at(path), data, cas))
        secret = self.model.setdefault(path, Secret())
        secret.current += 1
        secret.versions[secret.current] = Version(dict(data))
        secret.trim()
        assert meta["version"] == secret.current
        assert meta["destroyed"] is False
        assert meta["deletion_time"] == ""

    @rule(path=paths, data=datas, count=st.integers(min_value=2, max_value=12))
    def put_many(self, path: str, data: dict[str, str], count: int) -> None:
        """A burst of writes, so that the default max_versions (10) trims too."""
        for i in range(count):
            self.put(path, {**data, "n": str(i)}, "none")

    @rule(path=paths, patch=patches, cas_mode=cas_modes)
    def patch(self, path: str, patch: dict[str, str | None], cas_mode: str) -> None:
        secret = self.model.get(path)
        latest = secret.readable_latest() if secret else None
        if secret is None or latest is None:
            with pytest.raises(NotFound):
                self.run(self.engine.patch(self.at(path), patch, None))
            return
        cas = self._cas(cas_mode, secret.current)
        if cas_mode == "wrong":
            with pytest.raises(CasMismatch):
                self.run(self.engine.patch(self.at(path), patch, cas))
            return
        meta = self.run(self.engine.patch(self.at(path), patch, cas))
        merged = dict(latest.data)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        secret.current += 1
        secret.versions[secret.current] = Version(merged)
        secret.trim()
        assert meta["version"] == secret.current

    @rule(path=paths)
    def soft_delete_latest(self, path: str) -> None:
        self.run(self.engine.set_version_state(self.at(path), Action.SOFT_DELETE, [],
                                               latest=True))
        secret = self.model.get(path)
        state = secret.versions.get(secret.current) if secret else None
        if state is not None and not state.destroyed:
            state.deleted = True

    def _versions(self, path: str, offsets: list[int]) -> list[int]:
        secret = self.model.get(path)
        current = secret.current if secret else 0
        return [current - k for k in offsets if current - k >= 1]

    @rule(path=paths, offsets=offset_lists)
    def delete_versions(self, path: str, offsets: list[int]) -> None:
        versions = self._versions(path, offsets)
        self.run(self.engine.set_version_state(self.at(path), Action.SOFT_DELETE, versions))
        for state in self._states(path, versions):
            if not state.destroyed:
                state.deleted = True

    @rule(path=paths, offsets=offset_lists)
    def undelete(self, path: str, offsets: list[int]) -> None:
        versions = self._versions(path, offsets)
        self.run(self.engine.set_version_state(self.at(path), Action.UNDELETE, versions))
        for state in self._states(path, versions):
            if not state.destroyed:
                state.deleted = False

    @rule(path=paths, offsets=offset_lists)
    def destroy(self, path: str, offsets: list[int]) -> None:
        versions = self._versions(path, offsets)
        self.run(self.engine.set_version_state(self.at(path), Action.DESTROY, versions))
        for state in self._states(path, versions):
            state.destroyed = True

    @rule(path=paths, max_versions=st.integers(min_value=0, max_value=4))
    def write_metadata_max_versions(self, path: str, max_versions: int) -> None:
        self.run(self.engine.write_metadata(self.at(path), {"max_versions": max_versions}))
        secret = self.model.setdefault(path, Secret())
        secret.max_versions = max_versions
        secret.trim()

    @rule(path=paths)
    def delete_metadata(self, path: str) -> None:
        self.run(self.engine.delete_metadata(self.at(path)))
        self.model.pop(path, None)

    def _states(self, path: str, versions: list[int]) -> list[Version]:
        secret = self.model.get(path)
        if secret is None:
            return []
        return [secret.versions[v] for v in versions if v in secret.versions]

    # --- reads --------------------------------------------------------------------

    @rule(path=paths, version=st.integers(min_value=0, max_value=24))
    def read(self, path: str, version: int) -> None:
        """version 0 reads the latest version."""
        secret = self.model.get(path)
        if secret is None or secret.current == 0:
            with pytest.raises(NotFound) as info:
                self.engine.read(self.at(path), version)
            assert not isinstance(info.value, DeletedVersion)
            return
        wanted = version or secret.current
        state = secret.versions.get(wanted)
        if state is None:
            with pytest.raises(NotFound) as info:
                self.engine.read(self.at(path), version)
            assert not isinstance(info.value, DeletedVersion)
            return
        if state.deleted or state.destroyed:
            with pytest.raises(DeletedVersion) as deleted:
                self.engine.read(self.at(path), version)
            assert deleted.value.data["data"] is None
            meta = deleted.value.data["metadata"]
            assert meta["version"] == wanted
            assert meta["destroyed"] is state.destroyed
            assert (meta["deletion_time"] != "") is state.deleted
            return
        got = self.engine.read(self.at(path), version)
        assert got["data"] == state.data
        assert got["metadata"]["version"] == wanted
        assert got["metadata"]["deletion_time"] == ""
        assert got["metadata"]["destroyed"] is False

    @rule(folder=st.sampled_from(FOLDERS))
    def list_folder(self, folder: str) -> None:
        children = sorted({
            p[len(folder):].split("/", 1)[0] + ("/" if "/" in p[len(folder):] else "")
            for p in self.model if p.startswith(folder)
        })
        if not children:
            with pytest.raises(NotFound):
                self.list_keys(folder)
            return
        assert self.list_keys(folder) == children
        if folder:  # "dir" lists like "dir/"
            assert self.list_keys(folder.rstrip("/")) == children

    @invariant()
    def metadata_matches_model(self) -> None:
        for path in PATHS:
            secret = self.model.get(path)
            if secret is None:
                with pytest.raises(NotFound):
                    self.engine.read_metadata(self.at(path))
                continue
            meta = self.engine.read_metadata(self.at(path))
            assert meta["current_version"] == secret.current
            assert meta["max_versions"] == secret.max_versions
            assert meta["oldest_version"] == (min(secret.versions) if secret.versions else 0)
            assert sorted(meta["versions"], key=int) == [str(v) for v in sorted(secret.versions)]
            for v, state in secret.versions.items():
                shown = meta["versions"][str(v)]
                assert shown["destroyed"] is state.destroyed
                assert (shown["deletion_time"] != "") is state.deleted
                if not (state.deleted or state.destroyed):
                    assert self.engine.read(self.at(path), v)["data"] == state.data
                else:
                    with pytest.raises(DeletedVersion):
                        self.engine.read(self.at(path), v)


TestKvModel = KvModel.TestCase
TestKvModel.settings = settings(max_examples=30, stateful_step_count=20, deadline=None,
                                suppress_health_check=[HealthCheck.too_slow])
