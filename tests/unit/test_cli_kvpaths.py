"""strongbox.cli.kvpaths: which mount and KV version a path is (through the SDK, mocked)."""

from __future__ import annotations

import httpx
import pytest

from strongbox.cli.common import CommandFailed
from strongbox.cli.kvpaths import KvTarget, resolve
from strongbox.client import Client

MOUNTS = {"data": {
    "secret/": {"type": "kv", "options": {"version": "2"}},
    "legacy/": {"type": "kv", "options": {"version": "1"}},
    "team/a/": {"type": "kv", "options": {"version": "2"}},
    "team/": {"type": "kv", "options": None},
    "transit/": {"type": "transit", "options": None}}}


def client(mounts_status: int = 200) -> Client:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v1/sys/internal/ui/mounts"):
            return httpx.Response(404, json={"errors": []})
        if request.url.path == "/v1/sys/mounts":
            if mounts_status != 200:
                return httpx.Response(mounts_status, json={"errors": ["permission denied"]})
            return httpx.Response(200, json=MOUNTS)
        return httpx.Response(404, json={"errors": []})
    return Client(address="http://sb.test", token="t", transport=httpx.MockTransport(answer))


@pytest.mark.parametrize(("path", "expected"), [
    ("secret/app/db", KvTarget("secret", "app/db", 2)),
    ("legacy/app", KvTarget("legacy", "app", 1)),
    ("team/a/x", KvTarget("team/a", "x", 2)),
    ("team/b/x", KvTarget("team", "b/x", 1)),
    ("/secret/", KvTarget("secret", "", 2)),
])
def test_longest_mounted_prefix_and_its_version(path: str, expected: KvTarget) -> None:
    assert resolve(client(), path) == expected


def test_v1_and_v2_api_paths() -> None:
    assert KvTarget("secret", "app/db", 2).api("metadata") == "secret/metadata/app/db"
    assert KvTarget("legacy", "app", 1).api("metadata") == "legacy/app"


def test_mount_flag_makes_the_path_relative() -> None:
    assert resolve(client(), "app/db", "secret") == KvTarget("secret", "app/db", 2)


def test_no_kv_mount_is_a_clear_failure() -> None:
    with pytest.raises(CommandFailed, match="no KV secrets engine"):
        resolve(client(), "nowhere/x")
    with pytest.raises(CommandFailed, match="transit mount"):
        resolve(client(), "transit/keys/x")


def test_a_token_that_cannot_read_sys_mounts_gets_the_first_segment_as_v2() -> None:
    assert resolve(client(403), "secret/app/db") == KvTarget("secret", "app/db", 2)
