from strongbox.pb import records_pb2 as _records_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Command(_message.Message):
    __slots__ = ("request_id", "time_ns", "request_hash", "traceparent", "noop", "init_cluster", "rotate_kek", "kv_put", "kv_set_version_state", "kv_write_metadata", "kv_delete_metadata", "kv_write_config", "restore_begin", "restore_chunk", "restore_end", "audit_enable", "audit_disable", "policy_write", "policy_delete", "token_create", "token_revoke", "wrap_store", "wrap_consume", "token_renew", "token_use", "mount_write", "login", "login_failure", "sweep", "namespace_create", "namespace_delete", "mount_enable", "mount_disable", "mount_tune", "kv_upgrade", "rekey_commit", "generate_root_start", "generate_root_share", "generate_root_finish", "quota_write", "quota_delete", "seal_migrate")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_NS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    TRACEPARENT_FIELD_NUMBER: _ClassVar[int]
    NOOP_FIELD_NUMBER: _ClassVar[int]
    INIT_CLUSTER_FIELD_NUMBER: _ClassVar[int]
    ROTATE_KEK_FIELD_NUMBER: _ClassVar[int]
    KV_PUT_FIELD_NUMBER: _ClassVar[int]
    KV_SET_VERSION_STATE_FIELD_NUMBER: _ClassVar[int]
    KV_WRITE_METADATA_FIELD_NUMBER: _ClassVar[int]
    KV_DELETE_METADATA_FIELD_NUMBER: _ClassVar[int]
    KV_WRITE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    RESTORE_BEGIN_FIELD_NUMBER: _ClassVar[int]
    RESTORE_CHUNK_FIELD_NUMBER: _ClassVar[int]
    RESTORE_END_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ENABLE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_DISABLE_FIELD_NUMBER: _ClassVar[int]
    POLICY_WRITE_FIELD_NUMBER: _ClassVar[int]
    POLICY_DELETE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_CREATE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_REVOKE_FIELD_NUMBER: _ClassVar[int]
    WRAP_STORE_FIELD_NUMBER: _ClassVar[int]
    WRAP_CONSUME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_RENEW_FIELD_NUMBER: _ClassVar[int]
    TOKEN_USE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_WRITE_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FIELD_NUMBER: _ClassVar[int]
    LOGIN_FAILURE_FIELD_NUMBER: _ClassVar[int]
    SWEEP_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_CREATE_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_DELETE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_ENABLE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_DISABLE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_TUNE_FIELD_NUMBER: _ClassVar[int]
    KV_UPGRADE_FIELD_NUMBER: _ClassVar[int]
    REKEY_COMMIT_FIELD_NUMBER: _ClassVar[int]
    GENERATE_ROOT_START_FIELD_NUMBER: _ClassVar[int]
    GENERATE_ROOT_SHARE_FIELD_NUMBER: _ClassVar[int]
    GENERATE_ROOT_FINISH_FIELD_NUMBER: _ClassVar[int]
    QUOTA_WRITE_FIELD_NUMBER: _ClassVar[int]
    QUOTA_DELETE_FIELD_NUMBER: _ClassVar[int]
    SEAL_MIGRATE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    time_ns: int
    request_hash: bytes
    traceparent: str
    noop: Noop
    init_cluster: InitCluster
    rotate_kek: RotateKek
    kv_put: KvPut
    kv_set_version_state: KvSetVersionState
    kv_write_metadata: KvWriteMetadata
    kv_delete_metadata: KvDeleteMetadata
    kv_write_config: KvWriteConfig
    restore_begin: RestoreBegin
    restore_chunk: RestoreChunk
    restore_end: RestoreEnd
    audit_enable: AuditEnable
    audit_disable: AuditDisable
    policy_write: PolicyWrite
    policy_delete: PolicyDelete
    token_create: TokenCreate
    token_revoke: TokenRevoke
    wrap_store: WrapStore
    wrap_consume: WrapConsume
    token_renew: TokenRenew
    token_use: TokenUse
    mount_write: MountWrite
    login: Login
    login_failure: LoginFailure
    sweep: Sweep
    namespace_create: NamespaceCreate
    namespace_delete: NamespaceDelete
    mount_enable: MountEnable
    mount_disable: MountDisable
    mount_tune: MountTune
    kv_upgrade: KvUpgrade
    rekey_commit: RekeyCommit
    generate_root_start: GenerateRootStart
    generate_root_share: GenerateRootShare
    generate_root_finish: GenerateRootFinish
    quota_write: QuotaWrite
    quota_delete: QuotaDelete
    seal_migrate: SealMigrate
    def __init__(self, request_id: _Optional[str] = ..., time_ns: _Optional[int] = ..., request_hash: _Optional[bytes] = ..., traceparent: _Optional[str] = ..., noop: _Optional[_Union[Noop, _Mapping]] = ..., init_cluster: _Optional[_Union[InitCluster, _Mapping]] = ..., rotate_kek: _Optional[_Union[RotateKek, _Mapping]] = ..., kv_put: _Optional[_Union[KvPut, _Mapping]] = ..., kv_set_version_state: _Optional[_Union[KvSetVersionState, _Mapping]] = ..., kv_write_metadata: _Optional[_Union[KvWriteMetadata, _Mapping]] = ..., kv_delete_metadata: _Optional[_Union[KvDeleteMetadata, _Mapping]] = ..., kv_write_config: _Optional[_Union[KvWriteConfig, _Mapping]] = ..., restore_begin: _Optional[_Union[RestoreBegin, _Mapping]] = ..., restore_chunk: _Optional[_Union[RestoreChunk, _Mapping]] = ..., restore_end: _Optional[_Union[RestoreEnd, _Mapping]] = ..., audit_enable: _Optional[_Union[AuditEnable, _Mapping]] = ..., audit_disable: _Optional[_Union[AuditDisable, _Mapping]] = ..., policy_write: _Optional[_Union[PolicyWrite, _Mapping]] = ..., policy_delete: _Optional[_Union[PolicyDelete, _Mapping]] = ..., token_create: _Optional[_Union[TokenCreate, _Mapping]] = ..., token_revoke: _Optional[_Union[TokenRevoke, _Mapping]] = ..., wrap_store: _Optional[_Union[WrapStore, _Mapping]] = ..., wrap_consume: _Optional[_Union[WrapConsume, _Mapping]] = ..., token_renew: _Optional[_Union[TokenRenew, _Mapping]] = ..., token_use: _Optional[_Union[TokenUse, _Mapping]] = ..., mount_write: _Optional[_Union[MountWrite, _Mapping]] = ..., login: _Optional[_Union[Login, _Mapping]] = ..., login_failure: _Optional[_Union[LoginFailure, _Mapping]] = ..., sweep: _Optional[_Union[Sweep, _Mapping]] = ..., namespace_create: _Optional[_Union[NamespaceCreate, _Mapping]] = ..., namespace_delete: _Optional[_Union[NamespaceDelete, _Mapping]] = ..., mount_enable: _Optional[_Union[MountEnable, _Mapping]] = ..., mount_disable: _Optional[_Union[MountDisable, _Mapping]] = ..., mount_tune: _Optional[_Union[MountTune, _Mapping]] = ..., kv_upgrade: _Optional[_Union[KvUpgrade, _Mapping]] = ..., rekey_commit: _Optional[_Union[RekeyCommit, _Mapping]] = ..., generate_root_start: _Optional[_Union[GenerateRootStart, _Mapping]] = ..., generate_root_share: _Optional[_Union[GenerateRootShare, _Mapping]] = ..., generate_root_finish: _Optional[_Union[GenerateRootFinish, _Mapping]] = ..., quota_write: _Optional[_Union[QuotaWrite, _Mapping]] = ..., quota_delete: _Optional[_Union[QuotaDelete, _Mapping]] = ..., seal_migrate: _Optional[_Union[SealMigrate, _Mapping]] = ...) -> None: ...

class Noop(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InitCluster(_message.Message):
    __slots__ = ("cluster", "keys", "mounts", "root_token_hash", "root_token", "policies")
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    ROOT_TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    ROOT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    cluster: _records_pb2.ClusterRecord
    keys: _containers.RepeatedCompositeFieldContainer[NamedKey]
    mounts: _containers.RepeatedCompositeFieldContainer[_records_pb2.MountRecord]
    root_token_hash: bytes
    root_token: _records_pb2.TokenRecord
    policies: _containers.RepeatedCompositeFieldContainer[_records_pb2.PolicyRecord]
    def __init__(self, cluster: _Optional[_Union[_records_pb2.ClusterRecord, _Mapping]] = ..., keys: _Optional[_Iterable[_Union[NamedKey, _Mapping]]] = ..., mounts: _Optional[_Iterable[_Union[_records_pb2.MountRecord, _Mapping]]] = ..., root_token_hash: _Optional[bytes] = ..., root_token: _Optional[_Union[_records_pb2.TokenRecord, _Mapping]] = ..., policies: _Optional[_Iterable[_Union[_records_pb2.PolicyRecord, _Mapping]]] = ...) -> None: ...

class NamedKey(_message.Message):
    __slots__ = ("name", "key")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    key: _records_pb2.KeyRecord
    def __init__(self, name: _Optional[str] = ..., key: _Optional[_Union[_records_pb2.KeyRecord, _Mapping]] = ...) -> None: ...

class RotateKek(_message.Message):
    __slots__ = ("kek",)
    KEK_FIELD_NUMBER: _ClassVar[int]
    kek: _records_pb2.KeyRecord
    def __init__(self, kek: _Optional[_Union[_records_pb2.KeyRecord, _Mapping]] = ...) -> None: ...

class KvPut(_message.Message):
    __slots__ = ("namespace", "mount", "path", "version", "has_cas", "cas", "record")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    HAS_CAS_FIELD_NUMBER: _ClassVar[int]
    CAS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: str
    path: str
    version: int
    has_cas: bool
    cas: int
    record: _records_pb2.KvVersionRecord
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[str] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., has_cas: _Optional[bool] = ..., cas: _Optional[int] = ..., record: _Optional[_Union[_records_pb2.KvVersionRecord, _Mapping]] = ...) -> None: ...

class KvSetVersionState(_message.Message):
    __slots__ = ("namespace", "mount", "path", "action", "versions", "latest", "retention")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        SOFT_DELETE: _ClassVar[KvSetVersionState.Action]
        UNDELETE: _ClassVar[KvSetVersionState.Action]
        DESTROY: _ClassVar[KvSetVersionState.Action]
    SOFT_DELETE: KvSetVersionState.Action
    UNDELETE: KvSetVersionState.Action
    DESTROY: KvSetVersionState.Action
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    RETENTION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: str
    path: str
    action: KvSetVersionState.Action
    versions: _containers.RepeatedScalarFieldContainer[int]
    latest: bool
    retention: bool
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[str] = ..., path: _Optional[str] = ..., action: _Optional[_Union[KvSetVersionState.Action, str]] = ..., versions: _Optional[_Iterable[int]] = ..., latest: _Optional[bool] = ..., retention: _Optional[bool] = ...) -> None: ...

class KvWriteMetadata(_message.Message):
    __slots__ = ("namespace", "mount", "path", "max_versions", "cas_required", "delete_version_after_ns", "custom_metadata", "set_custom_metadata", "destroy_protection")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_NS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    SET_CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    DESTROY_PROTECTION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: str
    path: str
    max_versions: int
    cas_required: bool
    delete_version_after_ns: int
    custom_metadata: _records_pb2.Envelope
    set_custom_metadata: bool
    destroy_protection: bool
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[str] = ..., path: _Optional[str] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_ns: _Optional[int] = ..., custom_metadata: _Optional[_Union[_records_pb2.Envelope, _Mapping]] = ..., set_custom_metadata: _Optional[bool] = ..., destroy_protection: _Optional[bool] = ...) -> None: ...

class KvDeleteMetadata(_message.Message):
    __slots__ = ("namespace", "mount", "path")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: str
    path: str
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[str] = ..., path: _Optional[str] = ...) -> None: ...

class KvWriteConfig(_message.Message):
    __slots__ = ("namespace", "mount", "config")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: str
    config: _records_pb2.KvConfig
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[str] = ..., config: _Optional[_Union[_records_pb2.KvConfig, _Mapping]] = ...) -> None: ...

class RestoreBegin(_message.Message):
    __slots__ = ("restore_id",)
    RESTORE_ID_FIELD_NUMBER: _ClassVar[int]
    restore_id: str
    def __init__(self, restore_id: _Optional[str] = ...) -> None: ...

class RestoreRecord(_message.Message):
    __slots__ = ("db", "key", "value")
    DB_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    db: str
    key: bytes
    value: bytes
    def __init__(self, db: _Optional[str] = ..., key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...

class RestoreChunk(_message.Message):
    __slots__ = ("restore_id", "records")
    RESTORE_ID_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    restore_id: str
    records: _containers.RepeatedCompositeFieldContainer[RestoreRecord]
    def __init__(self, restore_id: _Optional[str] = ..., records: _Optional[_Iterable[_Union[RestoreRecord, _Mapping]]] = ...) -> None: ...

class RestoreEnd(_message.Message):
    __slots__ = ("restore_id",)
    RESTORE_ID_FIELD_NUMBER: _ClassVar[int]
    restore_id: str
    def __init__(self, restore_id: _Optional[str] = ...) -> None: ...

class AuditEnable(_message.Message):
    __slots__ = ("device",)
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    device: _records_pb2.AuditDeviceRecord
    def __init__(self, device: _Optional[_Union[_records_pb2.AuditDeviceRecord, _Mapping]] = ...) -> None: ...

class AuditDisable(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class PolicyWrite(_message.Message):
    __slots__ = ("policy", "namespace")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    policy: _records_pb2.PolicyRecord
    namespace: str
    def __init__(self, policy: _Optional[_Union[_records_pb2.PolicyRecord, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class PolicyDelete(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class TokenCreate(_message.Message):
    __slots__ = ("token_hash", "token")
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    token_hash: bytes
    token: _records_pb2.TokenRecord
    def __init__(self, token_hash: _Optional[bytes] = ..., token: _Optional[_Union[_records_pb2.TokenRecord, _Mapping]] = ...) -> None: ...

class TokenRevoke(_message.Message):
    __slots__ = ("accessor", "orphan_children")
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    orphan_children: bool
    def __init__(self, accessor: _Optional[str] = ..., orphan_children: _Optional[bool] = ...) -> None: ...

class WrapStore(_message.Message):
    __slots__ = ("token_hash", "record")
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    token_hash: bytes
    record: _records_pb2.WrappedRecord
    def __init__(self, token_hash: _Optional[bytes] = ..., record: _Optional[_Union[_records_pb2.WrappedRecord, _Mapping]] = ...) -> None: ...

class WrapConsume(_message.Message):
    __slots__ = ("token_hash",)
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    token_hash: bytes
    def __init__(self, token_hash: _Optional[bytes] = ...) -> None: ...

class TokenRenew(_message.Message):
    __slots__ = ("accessor", "ttl_ns")
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    TTL_NS_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    ttl_ns: int
    def __init__(self, accessor: _Optional[str] = ..., ttl_ns: _Optional[int] = ...) -> None: ...

class TokenUse(_message.Message):
    __slots__ = ("accessor",)
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    def __init__(self, accessor: _Optional[str] = ...) -> None: ...

class MountWrite(_message.Message):
    __slots__ = ("puts", "deletes", "delete_prefixes", "expect_absent", "expect_present", "mount")
    class Put(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: bytes
        value: bytes
        def __init__(self, key: _Optional[bytes] = ..., value: _Optional[bytes] = ...) -> None: ...
    PUTS_FIELD_NUMBER: _ClassVar[int]
    DELETES_FIELD_NUMBER: _ClassVar[int]
    DELETE_PREFIXES_FIELD_NUMBER: _ClassVar[int]
    EXPECT_ABSENT_FIELD_NUMBER: _ClassVar[int]
    EXPECT_PRESENT_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    puts: _containers.RepeatedCompositeFieldContainer[MountWrite.Put]
    deletes: _containers.RepeatedScalarFieldContainer[bytes]
    delete_prefixes: _containers.RepeatedScalarFieldContainer[bytes]
    expect_absent: _containers.RepeatedScalarFieldContainer[bytes]
    expect_present: _containers.RepeatedScalarFieldContainer[bytes]
    mount: MountRef
    def __init__(self, puts: _Optional[_Iterable[_Union[MountWrite.Put, _Mapping]]] = ..., deletes: _Optional[_Iterable[bytes]] = ..., delete_prefixes: _Optional[_Iterable[bytes]] = ..., expect_absent: _Optional[_Iterable[bytes]] = ..., expect_present: _Optional[_Iterable[bytes]] = ..., mount: _Optional[_Union[MountRef, _Mapping]] = ...) -> None: ...

class MountRef(_message.Message):
    __slots__ = ("key", "uuid", "secrets_engine")
    KEY_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    SECRETS_ENGINE_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    uuid: str
    secrets_engine: bool
    def __init__(self, key: _Optional[bytes] = ..., uuid: _Optional[str] = ..., secrets_engine: _Optional[bool] = ...) -> None: ...

class Login(_message.Message):
    __slots__ = ("token", "consume_secret_id", "reset_key")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    CONSUME_SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    RESET_KEY_FIELD_NUMBER: _ClassVar[int]
    token: TokenCreate
    consume_secret_id: bytes
    reset_key: bytes
    def __init__(self, token: _Optional[_Union[TokenCreate, _Mapping]] = ..., consume_secret_id: _Optional[bytes] = ..., reset_key: _Optional[bytes] = ...) -> None: ...

class LoginFailure(_message.Message):
    __slots__ = ("key", "max_failures", "lock_ns", "mount", "reset_after_ns")
    KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LOCK_NS_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    RESET_AFTER_NS_FIELD_NUMBER: _ClassVar[int]
    key: bytes
    max_failures: int
    lock_ns: int
    mount: MountRef
    reset_after_ns: int
    def __init__(self, key: _Optional[bytes] = ..., max_failures: _Optional[int] = ..., lock_ns: _Optional[int] = ..., mount: _Optional[_Union[MountRef, _Mapping]] = ..., reset_after_ns: _Optional[int] = ...) -> None: ...

class NamespaceCreate(_message.Message):
    __slots__ = ("namespace", "default_policy")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_POLICY_FIELD_NUMBER: _ClassVar[int]
    namespace: _records_pb2.NamespaceRecord
    default_policy: _records_pb2.PolicyRecord
    def __init__(self, namespace: _Optional[_Union[_records_pb2.NamespaceRecord, _Mapping]] = ..., default_policy: _Optional[_Union[_records_pb2.PolicyRecord, _Mapping]] = ...) -> None: ...

class NamespaceDelete(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class MountEnable(_message.Message):
    __slots__ = ("namespace", "mount", "auth")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: _records_pb2.MountRecord
    auth: bool
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[_Union[_records_pb2.MountRecord, _Mapping]] = ..., auth: _Optional[bool] = ...) -> None: ...

class MountDisable(_message.Message):
    __slots__ = ("namespace", "path", "auth")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    path: str
    auth: bool
    def __init__(self, namespace: _Optional[str] = ..., path: _Optional[str] = ..., auth: _Optional[bool] = ...) -> None: ...

class Sweep(_message.Message):
    __slots__ = ("token_accessors", "wrapped_hashes", "secret_id_keys", "login_state_keys", "login_state_idle_ns", "mounts")
    TOKEN_ACCESSORS_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_HASHES_FIELD_NUMBER: _ClassVar[int]
    SECRET_ID_KEYS_FIELD_NUMBER: _ClassVar[int]
    LOGIN_STATE_KEYS_FIELD_NUMBER: _ClassVar[int]
    LOGIN_STATE_IDLE_NS_FIELD_NUMBER: _ClassVar[int]
    MOUNTS_FIELD_NUMBER: _ClassVar[int]
    token_accessors: _containers.RepeatedScalarFieldContainer[str]
    wrapped_hashes: _containers.RepeatedScalarFieldContainer[bytes]
    secret_id_keys: _containers.RepeatedScalarFieldContainer[bytes]
    login_state_keys: _containers.RepeatedScalarFieldContainer[bytes]
    login_state_idle_ns: int
    mounts: _containers.RepeatedCompositeFieldContainer[SweptMount]
    def __init__(self, token_accessors: _Optional[_Iterable[str]] = ..., wrapped_hashes: _Optional[_Iterable[bytes]] = ..., secret_id_keys: _Optional[_Iterable[bytes]] = ..., login_state_keys: _Optional[_Iterable[bytes]] = ..., login_state_idle_ns: _Optional[int] = ..., mounts: _Optional[_Iterable[_Union[SweptMount, _Mapping]]] = ...) -> None: ...

class SweptMount(_message.Message):
    __slots__ = ("mount", "keys")
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    mount: MountRef
    keys: _containers.RepeatedScalarFieldContainer[bytes]
    def __init__(self, mount: _Optional[_Union[MountRef, _Mapping]] = ..., keys: _Optional[_Iterable[bytes]] = ...) -> None: ...

class MountTune(_message.Message):
    __slots__ = ("namespace", "path", "auth", "description", "set_options", "options", "set_lease_ttls", "default_lease_ttl_ns", "max_lease_ttl_ns")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    AUTH_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SET_OPTIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SET_LEASE_TTLS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LEASE_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    MAX_LEASE_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    path: str
    auth: bool
    description: str
    set_options: bool
    options: _containers.ScalarMap[str, str]
    set_lease_ttls: bool
    default_lease_ttl_ns: int
    max_lease_ttl_ns: int
    def __init__(self, namespace: _Optional[str] = ..., path: _Optional[str] = ..., auth: _Optional[bool] = ..., description: _Optional[str] = ..., set_options: _Optional[bool] = ..., options: _Optional[_Mapping[str, str]] = ..., set_lease_ttls: _Optional[bool] = ..., default_lease_ttl_ns: _Optional[int] = ..., max_lease_ttl_ns: _Optional[int] = ...) -> None: ...

class RekeyCommit(_message.Message):
    __slots__ = ("previous_sealed_root_key", "sealed_root_key", "secret_shares", "secret_threshold")
    PREVIOUS_SEALED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    SEALED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    previous_sealed_root_key: bytes
    sealed_root_key: bytes
    secret_shares: int
    secret_threshold: int
    def __init__(self, previous_sealed_root_key: _Optional[bytes] = ..., sealed_root_key: _Optional[bytes] = ..., secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ...) -> None: ...

class GenerateRootStart(_message.Message):
    __slots__ = ("attempt", "cancel")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    attempt: _records_pb2.GenerateRootAttempt
    cancel: bool
    def __init__(self, attempt: _Optional[_Union[_records_pb2.GenerateRootAttempt, _Mapping]] = ..., cancel: _Optional[bool] = ...) -> None: ...

class GenerateRootShare(_message.Message):
    __slots__ = ("nonce", "sealed_share", "fingerprint")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SEALED_SHARE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    sealed_share: bytes
    fingerprint: bytes
    def __init__(self, nonce: _Optional[str] = ..., sealed_share: _Optional[bytes] = ..., fingerprint: _Optional[bytes] = ...) -> None: ...

class GenerateRootFinish(_message.Message):
    __slots__ = ("nonce", "token", "failed")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    token: TokenCreate
    failed: bool
    def __init__(self, nonce: _Optional[str] = ..., token: _Optional[_Union[TokenCreate, _Mapping]] = ..., failed: _Optional[bool] = ...) -> None: ...

class KvUpgrade(_message.Message):
    __slots__ = ("namespace", "mount", "ref", "entries", "finish")
    class Entry(_message.Message):
        __slots__ = ("source_key", "path", "version", "record")
        SOURCE_KEY_FIELD_NUMBER: _ClassVar[int]
        PATH_FIELD_NUMBER: _ClassVar[int]
        VERSION_FIELD_NUMBER: _ClassVar[int]
        RECORD_FIELD_NUMBER: _ClassVar[int]
        source_key: bytes
        path: str
        version: int
        record: _records_pb2.KvVersionRecord
        def __init__(self, source_key: _Optional[bytes] = ..., path: _Optional[str] = ..., version: _Optional[int] = ..., record: _Optional[_Union[_records_pb2.KvVersionRecord, _Mapping]] = ...) -> None: ...
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    MOUNT_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FINISH_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    mount: str
    ref: MountRef
    entries: _containers.RepeatedCompositeFieldContainer[KvUpgrade.Entry]
    finish: bool
    def __init__(self, namespace: _Optional[str] = ..., mount: _Optional[str] = ..., ref: _Optional[_Union[MountRef, _Mapping]] = ..., entries: _Optional[_Iterable[_Union[KvUpgrade.Entry, _Mapping]]] = ..., finish: _Optional[bool] = ...) -> None: ...

class QuotaWrite(_message.Message):
    __slots__ = ("quota",)
    QUOTA_FIELD_NUMBER: _ClassVar[int]
    quota: _records_pb2.LeaseQuota
    def __init__(self, quota: _Optional[_Union[_records_pb2.LeaseQuota, _Mapping]] = ...) -> None: ...

class QuotaDelete(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class SealMigrate(_message.Message):
    __slots__ = ("cluster",)
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    cluster: _records_pb2.ClusterRecord
    def __init__(self, cluster: _Optional[_Union[_records_pb2.ClusterRecord, _Mapping]] = ...) -> None: ...
