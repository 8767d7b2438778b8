"""`strongbox run --path P [--path P2 ...] [--allow-env NAME] [--watch] -- CMD ARGS`.

Contract
--------
The pairs of every secret (later ``--path`` wins on a shared key) become environment
variables of CMD, on top of this process's environment minus STRONGBOX_TOKEN and
VAULT_TOKEN (the child does not get the operator's token unless ``--keep-token``). Every
name must match ``^[A-Za-z_][A-Za-z0-9_]*$``; names that change how programs load
(``PATH``, ``LD_*``, ``DYLD_*``, ``PYTHONPATH`` ...) are refused unless ``--allow-env
NAME``; a refused name fails the command before CMD starts (exit 1, the name on stderr,
never a value). SIGINT, SIGTERM and SIGHUP are forwarded to CMD. The exit status is
CMD's (128+N if a signal N ended it). With ``--watch`` the secrets' current versions are
polled every ``--interval`` seconds (v2 mounts); when one changes CMD gets SIGTERM (SIGKILL
after ``--grace`` seconds) and is started again with the new values.

Threading: the main thread only; signal handlers just forward the signal.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any

from strongbox.cli.common import CommandFailed, SubParsers, UsageError, command, make_client, warn
from strongbox.cli.dotenv import check_env_name
from strongbox.cli.kvpaths import KvTarget, current_version, require_values, resolve
from strongbox.client import Client

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
TOKEN_VARS = ("STRONGBOX_TOKEN", "VAULT_TOKEN")


def child_environment(base: Mapping[str, str], secrets: Mapping[str, Any],
                      allowed: list[str], keep_token: bool = False) -> dict[str, str]:
    """The child's environment; CommandFailed naming every refused key."""
    refused = [reason for name in secrets if (reason := check_env_name(name, allowed))]
    if refused:
        raise CommandFailed("; ".join(refused))
    env = {k: v for k, v in base.items() if keep_token or k not in TOKEN_VARS}
    for name, value in secrets.items():
        env[name] = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return env


def exit_status(returncode: int) -> int:
    """A shell's view of a child's return code (128+N for death by signal N)."""
    return 128 - returncode if returncode < 0 else returncode


@contextmanager
def forwarding(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """While inside, SIGINT/SIGTERM/SIGHUP sent to us go to `process` instead."""
    def forward(signum: int, _frame: FrameType | None) -> None:
        if process.poll() is None:
            process.send_signal(signum)
    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _load(client: Client, targets: list[KvTarget]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for target in targets:
        values.update(require_values(client, target))
    return values


def _versions(client: Client, targets: list[KvTarget]) -> list[int]:
    return [current_version(client, t) if t.version == 2 else 0 for t in targets]


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _supervise(process: subprocess.Popen[bytes], client: Client, targets: list[KvTarget],
               args: argparse.Namespace, seen: list[int]) -> bool:
    """Wait for `process`; True if it was stopped because a secret changed."""
    with forwarding(process):
        while True:
            try:
                process.wait(args.interval if args.watch else None)
                return False
            except subprocess.TimeoutExpired:
                pass
            try:
                now = _versions(client, targets)
            except Exception as exc:
                warn(f"strongbox run: could not check for new versions: {type(exc).__name__}")
                continue
            if now != seen:
                warn("strongbox run: a secret changed; restarting the command")
                seen[:] = now
                _stop(process, args.grace)
                return True


def cmd_run(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        raise UsageError("missing the command to run: strongbox run --path P -- CMD ARGS")
    if not args.paths:
        raise UsageError("missing --path (a secret whose pairs become the environment)")
    client = make_client(args)
    targets = [resolve(client, path, args.mount) for path in args.paths]
    seen = _versions(client, targets) if args.watch else []
    while True:
        env = child_environment(os.environ, _load(client, targets), args.allow_env or [],
                                args.keep_token)
        try:
            process = subprocess.Popen(argv, env=env)  # noqa: S603 - running it is the point
        except OSError as exc:
            raise CommandFailed(f"cannot run {argv[0]}: {exc.strerror}", code=127) from None
        if not _supervise(process, client, targets, args, seen):
            return exit_status(process.returncode)
        time.sleep(0)  # the restart itself: loop to start the command with fresh values


def register(sub: SubParsers) -> None:
    parser = command(sub, "run", cmd_run, "run a command with secrets as its environment",
                     "  strongbox run --path secret/app/prod -- ./server --port 8080\n"
                     "  strongbox run --path secret/common --path secret/app/prod -- env\n"
                     "  strongbox run --path secret/app --allow-env PATH -- ./tool\n"
                     "  strongbox run --watch --interval 10 --path secret/app/prod -- ./srv\n",
                     __doc__ or "", output=False)
    parser.add_argument("--path", "-path", dest="paths", action="append", metavar="PATH",
                        help="a secret to load (repeatable; later paths win)")
    parser.add_argument("--mount", "-mount", help="the KV mount (default: detected)")
    parser.add_argument("--allow-env", "-allow-env", action="append", metavar="NAME",
                        help="allow setting this otherwise refused name (repeatable)")
    parser.add_argument("--watch", "-watch", action="store_true",
                        help="restart the command when a secret gets a new version")
    parser.add_argument("--interval", "-interval", type=float, default=5.0,
                        help="seconds between version checks with --watch (default 5)")
    parser.add_argument("--grace", "-grace", type=float, default=10.0,
                        help="seconds between SIGTERM and SIGKILL on restart (default 10)")
    parser.add_argument("--keep-token", "-keep-token", action="store_true",
                        help="pass STRONGBOX_TOKEN/VAULT_TOKEN through to the command")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS")
