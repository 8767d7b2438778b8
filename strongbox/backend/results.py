"""The one place where an apply result becomes the error a client sees.

`raise_for(result)` returns an OK result and raises the `strongbox.errors`
class of every other code. Callers that give a code a meaning of their own
(a CONFLICT on create means "it already exists") pass a factory for it.
Apply messages are written for clients (they name fields and paths, never
secret values), so they are passed through.
"""

from __future__ import annotations

from collections.abc import Callable

from strongbox.errors import (
    BadRequest,
    CasMismatch,
    IdempotencyMismatch,
    InternalError,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    StrongBoxError,
)
from strongbox.pb import records_pb2 as rec

Result = rec.ApplyResult
Factory = Callable[[str], StrongBoxError]

DEFAULTS: dict[int, Factory] = {
    Result.CAS_MISMATCH: CasMismatch,
    Result.NOT_FOUND: NotFound,
    Result.INVALID: BadRequest,
    Result.DESTROY_PROTECTED: BadRequest,
    Result.IDEMPOTENCY_MISMATCH: IdempotencyMismatch,
    Result.CONFLICT: lambda message: ServiceUnavailable(
        (message or "a concurrent change won") + "; retry"),
    Result.ALREADY_INITIALIZED: BadRequest,
    Result.LOCKED: lambda message: PermissionDenied(message or "permission denied"),
}


def raise_for(result: Result, *, conflict: Factory | None = None,
              not_found: Factory | None = None, invalid: Factory | None = None) -> Result:
    """`result` if OK; otherwise raise the error its code means (overrides first)."""
    code = result.code
    if code == Result.OK:
        return result
    override = {Result.CONFLICT: conflict, Result.NOT_FOUND: not_found,
                Result.INVALID: invalid}.get(code)
    factory = override or DEFAULTS.get(code)
    if factory is None:
        raise InternalError(f"unexpected apply result {code}")
    raise factory(result.message)
