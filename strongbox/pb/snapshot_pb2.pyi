from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SnapshotEntry(_message.Message):
    __slots__ = ("command", "index", "term")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    command: bytes
    index: int
    term: int
    def __init__(self, command: _Optional[bytes] = ..., index: _Optional[int] = ..., term: _Optional[int] = ...) -> None: ...

class SnapshotMember(_message.Message):
    __slots__ = ("node_id", "address")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    address: str
    def __init__(self, node_id: _Optional[str] = ..., address: _Optional[str] = ...) -> None: ...

class SnapshotMeta(_message.Message):
    __slots__ = ("applied_index", "last_entry", "prev_entry", "members", "created_time_ns", "lmdb_bytes")
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_ENTRY_FIELD_NUMBER: _ClassVar[int]
    PREV_ENTRY_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    LMDB_BYTES_FIELD_NUMBER: _ClassVar[int]
    applied_index: int
    last_entry: SnapshotEntry
    prev_entry: SnapshotEntry
    members: _containers.RepeatedCompositeFieldContainer[SnapshotMember]
    created_time_ns: int
    lmdb_bytes: int
    def __init__(self, applied_index: _Optional[int] = ..., last_entry: _Optional[_Union[SnapshotEntry, _Mapping]] = ..., prev_entry: _Optional[_Union[SnapshotEntry, _Mapping]] = ..., members: _Optional[_Iterable[_Union[SnapshotMember, _Mapping]]] = ..., created_time_ns: _Optional[int] = ..., lmdb_bytes: _Optional[int] = ...) -> None: ...
