from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Envelope(_message.Message):
    __slots__ = ("kek_term", "wrapped_dek", "ciphertext")
    KEK_TERM_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_DEK_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    kek_term: int
    wrapped_dek: bytes
    ciphertext: bytes
    def __init__(self, kek_term: _Optional[int] = ..., wrapped_dek: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class ClusterRecord(_message.Message):
    __slots__ = ("cluster_id", "cluster_name", "secret_shares", "secret_threshold", "sealed_root_key", "init_time_ns", "seal_type", "wrapped_unseal_key", "recovery_shares", "recovery_threshold", "recovery_check")
    CLUSTER_ID_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    SECRET_SHARES_FIELD_NUMBER: _ClassVar[int]
    SECRET_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SEALED_ROOT_KEY_FIELD_NUMBER: _ClassVar[int]
    INIT_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    SEAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    WRAPPED_UNSEAL_KEY_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_SHARES_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_CHECK_FIELD_NUMBER: _ClassVar[int]
    cluster_id: str
    cluster_name: str
    secret_shares: int
    secret_threshold: int
    sealed_root_key: bytes
    init_time_ns: int
    seal_type: str
    wrapped_unseal_key: bytes
    recovery_shares: int
    recovery_threshold: int
    recovery_check: bytes
    def __init__(self, cluster_id: _Optional[str] = ..., cluster_name: _Optional[str] = ..., secret_shares: _Optional[int] = ..., secret_threshold: _Optional[int] = ..., sealed_root_key: _Optional[bytes] = ..., init_time_ns: _Optional[int] = ..., seal_type: _Optional[str] = ..., wrapped_unseal_key: _Optional[bytes] = ..., recovery_shares: _Optional[int] = ..., recovery_threshold: _Optional[int] = ..., recovery_check: _Optional[bytes] = ...) -> None: ...

class KeyRecord(_message.Message):
    __slots__ = ("term", "install_time_ns", "sealed_key")
    TERM_FIELD_NUMBER: _ClassVar[int]
    INSTALL_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    SEALED_KEY_FIELD_NUMBER: _ClassVar[int]
    term: int
    install_time_ns: int
    sealed_key: bytes
    def __init__(self, term: _Optional[int] = ..., install_time_ns: _Optional[int] = ..., sealed_key: _Optional[bytes] = ...) -> None: ...

class MountRecord(_message.Message):
    __slots__ = ("path", "type", "accessor", "uuid", "description", "options", "kv_config", "created_time_ns", "default_lease_ttl_ns", "max_lease_ttl_ns")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    UUID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    KV_CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_LEASE_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    MAX_LEASE_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    path: str
    type: str
    accessor: str
    uuid: str
    description: str
    options: _containers.ScalarMap[str, str]
    kv_config: KvConfig
    created_time_ns: int
    default_lease_ttl_ns: int
    max_lease_ttl_ns: int
    def __init__(self, path: _Optional[str] = ..., type: _Optional[str] = ..., accessor: _Optional[str] = ..., uuid: _Optional[str] = ..., description: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ..., kv_config: _Optional[_Union[KvConfig, _Mapping]] = ..., created_time_ns: _Optional[int] = ..., default_lease_ttl_ns: _Optional[int] = ..., max_lease_ttl_ns: _Optional[int] = ...) -> None: ...

class GenerateRootAttempt(_message.Message):
    __slots__ = ("nonce", "sealed_otp", "sealed_shares", "fingerprints", "required", "started_time_ns", "otp_length")
    NONCE_FIELD_NUMBER: _ClassVar[int]
    SEALED_OTP_FIELD_NUMBER: _ClassVar[int]
    SEALED_SHARES_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    STARTED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    OTP_LENGTH_FIELD_NUMBER: _ClassVar[int]
    nonce: str
    sealed_otp: bytes
    sealed_shares: _containers.RepeatedScalarFieldContainer[bytes]
    fingerprints: _containers.RepeatedScalarFieldContainer[bytes]
    required: int
    started_time_ns: int
    otp_length: int
    def __init__(self, nonce: _Optional[str] = ..., sealed_otp: _Optional[bytes] = ..., sealed_shares: _Optional[_Iterable[bytes]] = ..., fingerprints: _Optional[_Iterable[bytes]] = ..., required: _Optional[int] = ..., started_time_ns: _Optional[int] = ..., otp_length: _Optional[int] = ...) -> None: ...

class KvConfig(_message.Message):
    __slots__ = ("max_versions", "cas_required", "delete_version_after_ns")
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_NS_FIELD_NUMBER: _ClassVar[int]
    max_versions: int
    cas_required: bool
    delete_version_after_ns: int
    def __init__(self, max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_ns: _Optional[int] = ...) -> None: ...

class KvVersionMeta(_message.Message):
    __slots__ = ("created_time_ns", "deletion_time_ns", "destroyed")
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    DELETION_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    DESTROYED_FIELD_NUMBER: _ClassVar[int]
    created_time_ns: int
    deletion_time_ns: int
    destroyed: bool
    def __init__(self, created_time_ns: _Optional[int] = ..., deletion_time_ns: _Optional[int] = ..., destroyed: _Optional[bool] = ...) -> None: ...

class KvMetadataRecord(_message.Message):
    __slots__ = ("current_version", "oldest_version", "max_versions", "cas_required", "delete_version_after_ns", "created_time_ns", "updated_time_ns", "versions", "custom_metadata", "destroy_protection")
    class VersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: KvVersionMeta
        def __init__(self, key: _Optional[int] = ..., value: _Optional[_Union[KvVersionMeta, _Mapping]] = ...) -> None: ...
    CURRENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    OLDEST_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CAS_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    DELETE_VERSION_AFTER_NS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    VERSIONS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    DESTROY_PROTECTION_FIELD_NUMBER: _ClassVar[int]
    current_version: int
    oldest_version: int
    max_versions: int
    cas_required: bool
    delete_version_after_ns: int
    created_time_ns: int
    updated_time_ns: int
    versions: _containers.MessageMap[int, KvVersionMeta]
    custom_metadata: Envelope
    destroy_protection: bool
    def __init__(self, current_version: _Optional[int] = ..., oldest_version: _Optional[int] = ..., max_versions: _Optional[int] = ..., cas_required: _Optional[bool] = ..., delete_version_after_ns: _Optional[int] = ..., created_time_ns: _Optional[int] = ..., updated_time_ns: _Optional[int] = ..., versions: _Optional[_Mapping[int, KvVersionMeta]] = ..., custom_metadata: _Optional[_Union[Envelope, _Mapping]] = ..., destroy_protection: _Optional[bool] = ...) -> None: ...

class KvVersionRecord(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: Envelope
    def __init__(self, value: _Optional[_Union[Envelope, _Mapping]] = ...) -> None: ...

class TokenRecord(_message.Message):
    __slots__ = ("accessor", "policies", "display_name", "creation_time_ns", "ttl_ns", "namespace", "parent_accessor", "meta", "renewable", "token_hash", "type", "issued_ttl_ns", "explicit_max_ttl_ns", "period_ns", "num_uses", "auth_path", "namespace_id", "mount_path", "mount_uuid", "ancestors_expire_ns", "bound_cidrs")
    class MetaEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TTL_NS_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PARENT_ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    META_FIELD_NUMBER: _ClassVar[int]
    RENEWABLE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_HASH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    ISSUED_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_MAX_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    PERIOD_NS_FIELD_NUMBER: _ClassVar[int]
    NUM_USES_FIELD_NUMBER: _ClassVar[int]
    AUTH_PATH_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_ID_FIELD_NUMBER: _ClassVar[int]
    MOUNT_PATH_FIELD_NUMBER: _ClassVar[int]
    MOUNT_UUID_FIELD_NUMBER: _ClassVar[int]
    ANCESTORS_EXPIRE_NS_FIELD_NUMBER: _ClassVar[int]
    BOUND_CIDRS_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    policies: _containers.RepeatedScalarFieldContainer[str]
    display_name: str
    creation_time_ns: int
    ttl_ns: int
    namespace: str
    parent_accessor: str
    meta: _containers.ScalarMap[str, str]
    renewable: bool
    token_hash: bytes
    type: str
    issued_ttl_ns: int
    explicit_max_ttl_ns: int
    period_ns: int
    num_uses: int
    auth_path: str
    namespace_id: str
    mount_path: str
    mount_uuid: str
    ancestors_expire_ns: int
    bound_cidrs: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, accessor: _Optional[str] = ..., policies: _Optional[_Iterable[str]] = ..., display_name: _Optional[str] = ..., creation_time_ns: _Optional[int] = ..., ttl_ns: _Optional[int] = ..., namespace: _Optional[str] = ..., parent_accessor: _Optional[str] = ..., meta: _Optional[_Mapping[str, str]] = ..., renewable: _Optional[bool] = ..., token_hash: _Optional[bytes] = ..., type: _Optional[str] = ..., issued_ttl_ns: _Optional[int] = ..., explicit_max_ttl_ns: _Optional[int] = ..., period_ns: _Optional[int] = ..., num_uses: _Optional[int] = ..., auth_path: _Optional[str] = ..., namespace_id: _Optional[str] = ..., mount_path: _Optional[str] = ..., mount_uuid: _Optional[str] = ..., ancestors_expire_ns: _Optional[int] = ..., bound_cidrs: _Optional[_Iterable[str]] = ...) -> None: ...

class LeaseQuota(_message.Message):
    __slots__ = ("name", "path", "max_leases", "created_time_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    MAX_LEASES_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    path: str
    max_leases: int
    created_time_ns: int
    def __init__(self, name: _Optional[str] = ..., path: _Optional[str] = ..., max_leases: _Optional[int] = ..., created_time_ns: _Optional[int] = ...) -> None: ...

class NamespaceRecord(_message.Message):
    __slots__ = ("path", "id", "created_time_ns", "custom_metadata")
    class CustomMetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_METADATA_FIELD_NUMBER: _ClassVar[int]
    path: str
    id: str
    created_time_ns: int
    custom_metadata: _containers.ScalarMap[str, str]
    def __init__(self, path: _Optional[str] = ..., id: _Optional[str] = ..., created_time_ns: _Optional[int] = ..., custom_metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class UserpassUser(_message.Message):
    __slots__ = ("password_hash", "token_policies", "token_ttl_ns", "token_max_ttl_ns", "created_time_ns", "token_bound_cidrs", "token_type", "token_period_ns")
    PASSWORD_HASH_FIELD_NUMBER: _ClassVar[int]
    TOKEN_POLICIES_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_MAX_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_BOUND_CIDRS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_PERIOD_NS_FIELD_NUMBER: _ClassVar[int]
    password_hash: str
    token_policies: _containers.RepeatedScalarFieldContainer[str]
    token_ttl_ns: int
    token_max_ttl_ns: int
    created_time_ns: int
    token_bound_cidrs: _containers.RepeatedScalarFieldContainer[str]
    token_type: str
    token_period_ns: int
    def __init__(self, password_hash: _Optional[str] = ..., token_policies: _Optional[_Iterable[str]] = ..., token_ttl_ns: _Optional[int] = ..., token_max_ttl_ns: _Optional[int] = ..., created_time_ns: _Optional[int] = ..., token_bound_cidrs: _Optional[_Iterable[str]] = ..., token_type: _Optional[str] = ..., token_period_ns: _Optional[int] = ...) -> None: ...

class LoginState(_message.Message):
    __slots__ = ("failures", "locked_until_ns", "last_failure_ns")
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    LOCKED_UNTIL_NS_FIELD_NUMBER: _ClassVar[int]
    LAST_FAILURE_NS_FIELD_NUMBER: _ClassVar[int]
    failures: int
    locked_until_ns: int
    last_failure_ns: int
    def __init__(self, failures: _Optional[int] = ..., locked_until_ns: _Optional[int] = ..., last_failure_ns: _Optional[int] = ...) -> None: ...

class AppRoleRole(_message.Message):
    __slots__ = ("role_id", "token_policies", "token_ttl_ns", "token_max_ttl_ns", "secret_id_ttl_ns", "secret_id_num_uses", "secret_id_bound_cidrs", "token_bound_cidrs", "bind_secret_id", "token_num_uses", "token_period_ns", "token_type", "created_time_ns")
    ROLE_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_POLICIES_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_MAX_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    SECRET_ID_TTL_NS_FIELD_NUMBER: _ClassVar[int]
    SECRET_ID_NUM_USES_FIELD_NUMBER: _ClassVar[int]
    SECRET_ID_BOUND_CIDRS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_BOUND_CIDRS_FIELD_NUMBER: _ClassVar[int]
    BIND_SECRET_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_NUM_USES_FIELD_NUMBER: _ClassVar[int]
    TOKEN_PERIOD_NS_FIELD_NUMBER: _ClassVar[int]
    TOKEN_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    role_id: str
    token_policies: _containers.RepeatedScalarFieldContainer[str]
    token_ttl_ns: int
    token_max_ttl_ns: int
    secret_id_ttl_ns: int
    secret_id_num_uses: int
    secret_id_bound_cidrs: _containers.RepeatedScalarFieldContainer[str]
    token_bound_cidrs: _containers.RepeatedScalarFieldContainer[str]
    bind_secret_id: bool
    token_num_uses: int
    token_period_ns: int
    token_type: str
    created_time_ns: int
    def __init__(self, role_id: _Optional[str] = ..., token_policies: _Optional[_Iterable[str]] = ..., token_ttl_ns: _Optional[int] = ..., token_max_ttl_ns: _Optional[int] = ..., secret_id_ttl_ns: _Optional[int] = ..., secret_id_num_uses: _Optional[int] = ..., secret_id_bound_cidrs: _Optional[_Iterable[str]] = ..., token_bound_cidrs: _Optional[_Iterable[str]] = ..., bind_secret_id: _Optional[bool] = ..., token_num_uses: _Optional[int] = ..., token_period_ns: _Optional[int] = ..., token_type: _Optional[str] = ..., created_time_ns: _Optional[int] = ...) -> None: ...

class SecretIdRecord(_message.Message):
    __slots__ = ("accessor", "creation_time_ns", "ttl_ns", "num_uses", "cidr_list", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TTL_NS_FIELD_NUMBER: _ClassVar[int]
    NUM_USES_FIELD_NUMBER: _ClassVar[int]
    CIDR_LIST_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    creation_time_ns: int
    ttl_ns: int
    num_uses: int
    cidr_list: _containers.RepeatedScalarFieldContainer[str]
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, accessor: _Optional[str] = ..., creation_time_ns: _Optional[int] = ..., ttl_ns: _Optional[int] = ..., num_uses: _Optional[int] = ..., cidr_list: _Optional[_Iterable[str]] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class PolicyRecord(_message.Message):
    __slots__ = ("name", "text", "created_time_ns", "updated_time_ns")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    name: str
    text: str
    created_time_ns: int
    updated_time_ns: int
    def __init__(self, name: _Optional[str] = ..., text: _Optional[str] = ..., created_time_ns: _Optional[int] = ..., updated_time_ns: _Optional[int] = ...) -> None: ...

class ApplyResult(_message.Message):
    __slots__ = ("code", "message", "version", "index", "time_ns", "request_hash")
    class Code(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OK: _ClassVar[ApplyResult.Code]
        CAS_MISMATCH: _ClassVar[ApplyResult.Code]
        CONFLICT: _ClassVar[ApplyResult.Code]
        NOT_FOUND: _ClassVar[ApplyResult.Code]
        ALREADY_INITIALIZED: _ClassVar[ApplyResult.Code]
        INVALID: _ClassVar[ApplyResult.Code]
        DESTROY_PROTECTED: _ClassVar[ApplyResult.Code]
        IDEMPOTENCY_MISMATCH: _ClassVar[ApplyResult.Code]
        LOCKED: _ClassVar[ApplyResult.Code]
    OK: ApplyResult.Code
    CAS_MISMATCH: ApplyResult.Code
    CONFLICT: ApplyResult.Code
    NOT_FOUND: ApplyResult.Code
    ALREADY_INITIALIZED: ApplyResult.Code
    INVALID: ApplyResult.Code
    DESTROY_PROTECTED: ApplyResult.Code
    IDEMPOTENCY_MISMATCH: ApplyResult.Code
    LOCKED: ApplyResult.Code
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TIME_NS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_HASH_FIELD_NUMBER: _ClassVar[int]
    code: ApplyResult.Code
    message: str
    version: int
    index: int
    time_ns: int
    request_hash: bytes
    def __init__(self, code: _Optional[_Union[ApplyResult.Code, str]] = ..., message: _Optional[str] = ..., version: _Optional[int] = ..., index: _Optional[int] = ..., time_ns: _Optional[int] = ..., request_hash: _Optional[bytes] = ...) -> None: ...

class AuditDeviceRecord(_message.Message):
    __slots__ = ("path", "type", "description", "options", "created_time_ns")
    class OptionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PATH_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    path: str
    type: str
    description: str
    options: _containers.ScalarMap[str, str]
    created_time_ns: int
    def __init__(self, path: _Optional[str] = ..., type: _Optional[str] = ..., description: _Optional[str] = ..., options: _Optional[_Mapping[str, str]] = ..., created_time_ns: _Optional[int] = ...) -> None: ...

class WrappedRecord(_message.Message):
    __slots__ = ("accessor", "creation_time_ns", "ttl_ns", "creation_path", "response")
    ACCESSOR_FIELD_NUMBER: _ClassVar[int]
    CREATION_TIME_NS_FIELD_NUMBER: _ClassVar[int]
    TTL_NS_FIELD_NUMBER: _ClassVar[int]
    CREATION_PATH_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    accessor: str
    creation_time_ns: int
    ttl_ns: int
    creation_path: str
    response: Envelope
    def __init__(self, accessor: _Optional[str] = ..., creation_time_ns: _Optional[int] = ..., ttl_ns: _Optional[int] = ..., creation_path: _Optional[str] = ..., response: _Optional[_Union[Envelope, _Mapping]] = ...) -> None: ...
