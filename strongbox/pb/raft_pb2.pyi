from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RaftMessage(_message.Message):
    __slots__ = ("request_vote", "response_vote", "append_entries", "append_entries_transmission", "install_snapshot", "next_node_idx", "apply_command", "apply_command_response", "timeout_now", "pre_vote", "pre_vote_response")
    REQUEST_VOTE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_VOTE_FIELD_NUMBER: _ClassVar[int]
    APPEND_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    APPEND_ENTRIES_TRANSMISSION_FIELD_NUMBER: _ClassVar[int]
    INSTALL_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    NEXT_NODE_IDX_FIELD_NUMBER: _ClassVar[int]
    APPLY_COMMAND_FIELD_NUMBER: _ClassVar[int]
    APPLY_COMMAND_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_NOW_FIELD_NUMBER: _ClassVar[int]
    PRE_VOTE_FIELD_NUMBER: _ClassVar[int]
    PRE_VOTE_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    request_vote: RequestVote
    response_vote: ResponseVote
    append_entries: AppendEntries
    append_entries_transmission: AppendEntriesTransmission
    install_snapshot: InstallSnapshot
    next_node_idx: NextNodeIdx
    apply_command: ApplyCommand
    apply_command_response: ApplyCommandResponse
    timeout_now: TimeoutNow
    pre_vote: PreVote
    pre_vote_response: PreVoteResponse
    def __init__(self, request_vote: _Optional[_Union[RequestVote, _Mapping]] = ..., response_vote: _Optional[_Union[ResponseVote, _Mapping]] = ..., append_entries: _Optional[_Union[AppendEntries, _Mapping]] = ..., append_entries_transmission: _Optional[_Union[AppendEntriesTransmission, _Mapping]] = ..., install_snapshot: _Optional[_Union[InstallSnapshot, _Mapping]] = ..., next_node_idx: _Optional[_Union[NextNodeIdx, _Mapping]] = ..., apply_command: _Optional[_Union[ApplyCommand, _Mapping]] = ..., apply_command_response: _Optional[_Union[ApplyCommandResponse, _Mapping]] = ..., timeout_now: _Optional[_Union[TimeoutNow, _Mapping]] = ..., pre_vote: _Optional[_Union[PreVote, _Mapping]] = ..., pre_vote_response: _Optional[_Union[PreVoteResponse, _Mapping]] = ...) -> None: ...

class RequestVote(_message.Message):
    __slots__ = ("term", "last_log_index", "last_log_term")
    TERM_FIELD_NUMBER: _ClassVar[int]
    LAST_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    term: int
    last_log_index: int
    last_log_term: int
    def __init__(self, term: _Optional[int] = ..., last_log_index: _Optional[int] = ..., last_log_term: _Optional[int] = ...) -> None: ...

class ResponseVote(_message.Message):
    __slots__ = ("term",)
    TERM_FIELD_NUMBER: _ClassVar[int]
    term: int
    def __init__(self, term: _Optional[int] = ...) -> None: ...

class LogEntry(_message.Message):
    __slots__ = ("command", "index", "term")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    command: bytes
    index: int
    term: int
    def __init__(self, command: _Optional[bytes] = ..., index: _Optional[int] = ..., term: _Optional[int] = ...) -> None: ...

class AppendEntries(_message.Message):
    __slots__ = ("term", "commit_index", "entries", "prev_log_idx", "prev_log_term")
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    PREV_LOG_IDX_FIELD_NUMBER: _ClassVar[int]
    PREV_LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    term: int
    commit_index: int
    entries: _containers.RepeatedCompositeFieldContainer[LogEntry]
    prev_log_idx: int
    prev_log_term: int
    def __init__(self, term: _Optional[int] = ..., commit_index: _Optional[int] = ..., entries: _Optional[_Iterable[_Union[LogEntry, _Mapping]]] = ..., prev_log_idx: _Optional[int] = ..., prev_log_term: _Optional[int] = ...) -> None: ...

class AppendEntriesTransmission(_message.Message):
    __slots__ = ("transmission", "data", "term", "commit_index", "prev_log_idx", "prev_log_term")
    class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STAGE_UNSPECIFIED: _ClassVar[AppendEntriesTransmission.Stage]
        START: _ClassVar[AppendEntriesTransmission.Stage]
        PROCESS: _ClassVar[AppendEntriesTransmission.Stage]
        FINISH: _ClassVar[AppendEntriesTransmission.Stage]
    STAGE_UNSPECIFIED: AppendEntriesTransmission.Stage
    START: AppendEntriesTransmission.Stage
    PROCESS: AppendEntriesTransmission.Stage
    FINISH: AppendEntriesTransmission.Stage
    TRANSMISSION_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    PREV_LOG_IDX_FIELD_NUMBER: _ClassVar[int]
    PREV_LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    transmission: AppendEntriesTransmission.Stage
    data: bytes
    term: int
    commit_index: int
    prev_log_idx: int
    prev_log_term: int
    def __init__(self, transmission: _Optional[_Union[AppendEntriesTransmission.Stage, str]] = ..., data: _Optional[bytes] = ..., term: _Optional[int] = ..., commit_index: _Optional[int] = ..., prev_log_idx: _Optional[int] = ..., prev_log_term: _Optional[int] = ...) -> None: ...

class InstallSnapshot(_message.Message):
    __slots__ = ("term", "commit_index", "chunk", "unavailable", "read_error")
    TERM_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_FIELD_NUMBER: _ClassVar[int]
    READ_ERROR_FIELD_NUMBER: _ClassVar[int]
    term: int
    commit_index: int
    chunk: SnapshotChunk
    unavailable: SnapshotUnavailable
    read_error: SnapshotReadError
    def __init__(self, term: _Optional[int] = ..., commit_index: _Optional[int] = ..., chunk: _Optional[_Union[SnapshotChunk, _Mapping]] = ..., unavailable: _Optional[_Union[SnapshotUnavailable, _Mapping]] = ..., read_error: _Optional[_Union[SnapshotReadError, _Mapping]] = ...) -> None: ...

class SnapshotChunk(_message.Message):
    __slots__ = ("data", "is_first", "is_last")
    DATA_FIELD_NUMBER: _ClassVar[int]
    IS_FIRST_FIELD_NUMBER: _ClassVar[int]
    IS_LAST_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    is_first: bool
    is_last: bool
    def __init__(self, data: _Optional[bytes] = ..., is_first: _Optional[bool] = ..., is_last: _Optional[bool] = ...) -> None: ...

class SnapshotUnavailable(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SnapshotReadError(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class NextNodeIdx(_message.Message):
    __slots__ = ("next_node_idx", "reset", "success")
    NEXT_NODE_IDX_FIELD_NUMBER: _ClassVar[int]
    RESET_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    next_node_idx: int
    reset: bool
    success: bool
    def __init__(self, next_node_idx: _Optional[int] = ..., reset: _Optional[bool] = ..., success: _Optional[bool] = ...) -> None: ...

class ApplyCommand(_message.Message):
    __slots__ = ("command", "request_id")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    command: bytes
    request_id: int
    def __init__(self, command: _Optional[bytes] = ..., request_id: _Optional[int] = ...) -> None: ...

class ApplyCommandResponse(_message.Message):
    __slots__ = ("request_id", "error", "accepted")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    request_id: int
    error: int
    accepted: LogPosition
    def __init__(self, request_id: _Optional[int] = ..., error: _Optional[int] = ..., accepted: _Optional[_Union[LogPosition, _Mapping]] = ...) -> None: ...

class LogPosition(_message.Message):
    __slots__ = ("log_idx", "log_term")
    LOG_IDX_FIELD_NUMBER: _ClassVar[int]
    LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    log_idx: int
    log_term: int
    def __init__(self, log_idx: _Optional[int] = ..., log_term: _Optional[int] = ...) -> None: ...

class TimeoutNow(_message.Message):
    __slots__ = ("term",)
    TERM_FIELD_NUMBER: _ClassVar[int]
    term: int
    def __init__(self, term: _Optional[int] = ...) -> None: ...

class PreVote(_message.Message):
    __slots__ = ("term", "last_log_index", "last_log_term")
    TERM_FIELD_NUMBER: _ClassVar[int]
    LAST_LOG_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAST_LOG_TERM_FIELD_NUMBER: _ClassVar[int]
    term: int
    last_log_index: int
    last_log_term: int
    def __init__(self, term: _Optional[int] = ..., last_log_index: _Optional[int] = ..., last_log_term: _Optional[int] = ...) -> None: ...

class PreVoteResponse(_message.Message):
    __slots__ = ("term", "granted")
    TERM_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    term: int
    granted: bool
    def __init__(self, term: _Optional[int] = ..., granted: _Optional[bool] = ...) -> None: ...
