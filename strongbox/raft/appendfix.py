"""Raft §5.3 for pysyncobj: a follower truncates its log only at the first conflict.

pysyncobj 0.3.17 deletes every entry after `prevLogIdx` on each append whose
previous entry matches, then adds the entries the message carries, even when
they are the ones the follower already holds: entries it fsynced and
acknowledged vanish from its journal until they are written again, and a
heartbeat sent before the leader saw the follower's last acknowledgement
deletes the follower's tail outright. Raft deletes only from an entry whose
term differs from the leader's.

`rewrite_append(log, message)` runs on the tick thread just before pysyncobj
handles an `append_entries` message (the transport's delivery hook) and rewrites
the message so that pysyncobj's own code does what Raft requires:

- Entries the log already holds with the same term are dropped from the message
  and `prevLogIdx`/`prevLogTerm` move to the last of them.
- At the first conflict (same index, another term) the message keeps that entry
  and the rest, so pysyncobj truncates from exactly there; its reversal of
  membership changes then covers only the entries really removed.
- When nothing in the message is new and the log goes on past the last entry the
  leader vouched for, the function returns that entry's index: the caller hides
  the entries after it while pysyncobj handles the message (`DurableJournal.
  hide_after`), so pysyncobj neither deletes them nor reports them matched, and
  its commit index is bounded by what the leader sent, as Raft's is.

Messages it cannot reason about (a previous entry it does not hold or whose term
differs, non-consecutive indexes, chunked transmissions, snapshots) are left
untouched for pysyncobj's own handling, which answers them with a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Entry = tuple[bytes, int, int]   # (command, index, term), as pysyncobj's journal holds them


def rewrite_append(log: Sequence[Entry], message: dict[str, Any]) -> int | None:
    """Rewrite `message` in place; the index to hide the log after, or None."""
    if "entries" not in message or "prevLogIdx" not in message or not len(log):
        return None
    prev, prev_term = message["prevLogIdx"], message["prevLogTerm"]
    if prev is None or prev_term is None:
        return None
    first, last = log[0][1], log[-1][1]
    if not first <= prev <= last or log[prev - first][2] != prev_term:
        return None
    entries = list(message["entries"])
    if any(entry[1] != prev + 1 + n for n, entry in enumerate(entries)):
        return None
    matched_idx, matched_term, keep = prev, prev_term, len(entries)
    for n, (_, idx, term) in enumerate(entries):
        if idx > last or log[idx - first][2] != term:
            keep = n
            break
        matched_idx, matched_term = idx, term
    message["entries"] = entries[keep:]
    message["prevLogIdx"], message["prevLogTerm"] = matched_idx, matched_term
    if keep == len(entries) and matched_idx < last:
        return int(matched_idx)
    return None
