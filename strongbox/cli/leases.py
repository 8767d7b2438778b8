"""`strongbox lease lookup|renew|revoke`: sys/leases, as Vault's CLI drives it.

Contract
--------
- ``lookup LEASE_ID``: the lease's id, issue and expire times, renewability and TTL.
- ``renew [-increment=DURATION] LEASE_ID``: extends the lease (up to its max TTL) and
  prints ``lease_id``, ``lease_duration``, ``lease_renewable``.
- ``revoke LEASE_ID``; ``revoke -prefix PREFIX`` revokes every lease below the prefix
  (sudo), ``-force`` with ``-prefix`` also deletes leases whose revocation fails.
Nothing here prints a credential.
"""

from __future__ import annotations

import argparse

from strongbox.cli.common import (
    SubParsers,
    UsageError,
    command,
    emit,
    flag,
    group,
    make_client,
    success,
    table,
)
from strongbox.cli.kvpaths import body_data, call


def cmd_lookup(args: argparse.Namespace) -> int:
    answer = call(make_client(args), "PUT", "sys/leases/lookup",
                  json={"lease_id": args.lease_id})
    data = body_data(answer)
    return emit(args, answer, text=table(dict(sorted(data.items()))), field_source=data)


def cmd_renew(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"lease_id": args.lease_id}
    if args.increment:
        body["increment"] = args.increment
    answer = call(make_client(args), "PUT", "sys/leases/renew", json=body) or {}
    rows = {"lease_id": answer.get("lease_id"), "lease_duration": answer.get("lease_duration"),
            "lease_renewable": answer.get("renewable")}
    return emit(args, answer, text=table(rows), field_source=rows)


def cmd_revoke(args: argparse.Namespace) -> int:
    client = make_client(args)
    if args.force and not args.prefix:
        raise UsageError("-force works with -prefix only")
    if args.prefix:
        kind = "revoke-force" if args.force else "revoke-prefix"
        call(client, "PUT", f"sys/leases/{kind}/{args.lease_id}")
        return success(args, f"All revocation operations queued successfully for prefix "
                             f"{args.lease_id}" if not args.force else
                       f"Revoked (forcibly) every lease below {args.lease_id}")
    call(client, "PUT", "sys/leases/revoke", json={"lease_id": args.lease_id})
    return success(args, f"Revoked lease: {args.lease_id}")


def register(sub: SubParsers) -> None:
    actions = group(sub, "lease", "look up, renew and revoke leases (database credentials)")
    lookup = command(actions, "lookup", cmd_lookup, "show a lease",
                     "  strongbox lease lookup database/creds/readonly/2f6a614c-...\n",
                     __doc__ or "")
    renew = command(actions, "renew", cmd_renew, "extend a lease, up to its max TTL",
                    "  strongbox lease renew -increment=2h database/creds/readonly/2f6a...\n",
                    __doc__ or "")
    flag(renew, "increment", metavar="DURATION", help="e.g. 2h (default: the role's TTL)")
    revoke = command(actions, "revoke", cmd_revoke, "revoke a lease (or a prefix of them)",
                     "  strongbox lease revoke database/creds/readonly/2f6a614c-...\n"
                     "  strongbox lease revoke -prefix database/creds/readonly\n",
                     __doc__ or "")
    flag(revoke, "prefix", action="store_true", help="revoke every lease below the argument")
    flag(revoke, "force", action="store_true",
         help="with -prefix: delete leases whose revocation fails too")
    for parser in (lookup, renew, revoke):
        parser.add_argument("lease_id", metavar="LEASE_ID")
