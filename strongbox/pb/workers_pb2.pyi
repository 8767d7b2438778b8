from strongbox.pb import cluster_pb2 as _cluster_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WorkerState(_message.Message):
    __slots__ = ("sealed", "root_key", "leader_id", "leader_contact_ms", "sent_ns", "store_env", "generation")
    SEALED_FIELD_NUMBER: _ClassVar[int]
    ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_CONTACT_MS_FIELD_NUMBER: _ClassVar[int]
    SENT_NS_FIELD_NUMBER: _ClassVar[int]
    STORE_ENV_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    sealed: bool
    root_key: bytes
    leader_id: str
    leader_contact_ms: int
    sent_ns: int
    store_env: str
    generation: int
    def __init__(self, sealed: _Optional[bool] = ..., root_key: _Optional[bytes] = ..., leader_id: _Optional[str] = ..., leader_contact_ms: _Optional[int] = ..., sent_ns: _Optional[int] = ..., store_env: _Optional[str] = ..., generation: _Optional[int] = ...) -> None: ...

class WorkerAck(_message.Message):
    __slots__ = ("generation",)
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    generation: int
    def __init__(self, generation: _Optional[int] = ...) -> None: ...

class ProposeRequest(_message.Message):
    __slots__ = ("command", "timeout_s")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    command: bytes
    timeout_s: float
    def __init__(self, command: _Optional[bytes] = ..., timeout_s: _Optional[float] = ...) -> None: ...

class ProposeResponse(_message.Message):
    __slots__ = ("result", "error", "message")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    result: bytes
    error: str
    message: str
    def __init__(self, result: _Optional[bytes] = ..., error: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ProxyRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: _cluster_pb2.HttpRequest
    def __init__(self, request: _Optional[_Union[_cluster_pb2.HttpRequest, _Mapping]] = ...) -> None: ...
