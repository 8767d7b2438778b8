"""Raft: pysyncobj integration (state machine, durable journal, transport, codec).

Importing this package installs the restricted unpickler into pysyncobj.
"""

from strongbox.raft import safe_pickle as _safe_pickle

_safe_pickle.install()
