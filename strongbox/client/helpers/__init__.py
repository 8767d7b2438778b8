"""Typed helpers over `Client.request`, written once for both clients (see program.py)."""

from __future__ import annotations

from typing import Generic

from strongbox.client.helpers.auth import Auth, Policies, Tokens, Wrapping
from strongbox.client.helpers.kv import Kv
from strongbox.client.helpers.program import R, Runner, S, Streamer
from strongbox.client.helpers.sys import Sys


class Helpers(Generic[R, S]):
    """Every helper group, bound to one client's runner and streamer."""

    def __init__(self, run: Runner[R], stream: Streamer[S]) -> None:
        self.kv = Kv(run)
        self.tokens = Tokens(run)
        self.policies = Policies(run)
        self.sys = Sys(run, stream)
        self.wrapping = Wrapping(run)
        self.auth = Auth(run)
