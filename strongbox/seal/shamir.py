"""Shamir secret sharing over GF(2^8), wire-compatible with HashiCorp Vault.

Contract
--------
* Field: GF(2^8) with the AES/Rijndael reduction polynomial
  x^8 + x^4 + x^3 + x + 1 (0x11b). Multiplication and inversion use log/exp
  tables built once at import time from the generator 3.
* Share format (identical to Vault's ``shamir`` package): the y-bytes, one per
  secret byte (so ``len(secret)`` of them), followed by ONE x-coordinate byte.
  The x coordinates of a split are distinct, non-zero and random: like Vault,
  we take the first ``parts`` entries of a random permutation of 1..255.
* Each secret byte gets its own polynomial of degree ``threshold - 1`` whose
  intercept is the secret byte and whose other coefficients are random
  (``secrets``, i.e. the OS CSPRNG).
* ``split(secret, parts, threshold)`` requires 2 <= threshold <= parts <= 255
  and a non-empty secret.
* ``combine(shares)`` requires >= 2 shares, all of the same length >= 2, with
  distinct non-zero x coordinates, and returns the Lagrange interpolation at
  x = 0. Combining too few or the wrong shares silently yields wrong bytes;
  callers detect that when decryption with the result fails.
* Every violation raises ``ShamirError`` (a ``ValueError``); messages describe
  the problem and never contain secret or share bytes.

Side channels: the arithmetic avoids data-dependent branches where it is
cheap (zero handling in multiplication is done with masks), but table lookups
are data-dependent memory accesses and CPython gives no timing guarantees at
all, so this module cannot be, and does not claim to be, constant time.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

__all__ = ["MAX_PARTS", "ShamirError", "combine", "split"]

MAX_PARTS = 255
_REDUCTION_POLY = 0x11B
_GENERATOR = 3


class ShamirError(ValueError):
    """Invalid arguments to split/combine, or malformed shares."""


def _xtime(a: int) -> int:
    """Multiply ``a`` by x (i.e. 2) modulo 0x11b, without branching."""
    return (a << 1) ^ (_REDUCTION_POLY * (a >> 7))


def _build_tables() -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return (exp, log); exp has 510 entries so exp[log a + log b] needs no mod."""
    exp = [0] * 510
    log = [0] * 256  # log[0] is a placeholder; callers mask out zero operands
    value = 1
    for power in range(255):
        exp[power] = value
        exp[power + 255] = value
        log[value] = power
        value ^= _xtime(value)  # value * 3, the generator
    return tuple(exp), tuple(log)


_EXP, _LOG = _build_tables()


def _nonzero(a: int) -> int:
    """1 if 0 < a <= 255 else 0 (for a in 0..255), computed arithmetically."""
    return ((a | -a) >> 8) & 1


def _gf_mul(a: int, b: int) -> int:
    """Product of two field elements."""
    mask = -(_nonzero(a) & _nonzero(b))  # 0 or -1 (all ones)
    return _EXP[_LOG[a] + _LOG[b]] & mask


def _gf_inv(a: int) -> int:
    """Multiplicative inverse of a non-zero field element."""
    if a == 0:
        raise ShamirError("zero has no multiplicative inverse in GF(2^8)")
    return _EXP[255 - _LOG[a]]


def _evaluate(coefficients: bytes, x: int) -> int:
    """Evaluate the polynomial (lowest-degree coefficient first) at x (Horner)."""
    result = 0
    for coefficient in reversed(coefficients):
        result = _gf_mul(result, x) ^ coefficient
    return result


def _random_x_coordinates(count: int) -> list[int]:
    """First ``count`` entries of a random permutation of 1..255 (as Vault)."""
    return secrets.SystemRandom().sample(range(1, MAX_PARTS + 1), count)


def _check_split_args(secret: bytes, parts: int, threshold: int) -> None:
    if threshold < 2:
        raise ShamirError(f"threshold must be at least 2, got {threshold}")
    if parts < threshold:
        raise ShamirError(f"parts ({parts}) cannot be less than threshold ({threshold})")
    if parts > MAX_PARTS:
        raise ShamirError(f"parts cannot exceed {MAX_PARTS}, got {parts}")
    if len(secret) == 0:
        raise ShamirError("cannot split an empty secret")


def split(secret: bytes, parts: int, threshold: int) -> list[bytes]:
    """Split ``secret`` into ``parts`` shares, any ``threshold`` of which recover it."""
    _check_split_args(secret, parts, threshold)
    xs = _random_x_coordinates(parts)
    shares = [bytearray(len(secret) + 1) for _ in range(parts)]
    for share, x in zip(shares, xs, strict=True):
        share[-1] = x
    for index, secret_byte in enumerate(secret):
        coefficients = bytes([secret_byte]) + secrets.token_bytes(threshold - 1)
        for share, x in zip(shares, xs, strict=True):
            share[index] = _evaluate(coefficients, x)
    return [bytes(share) for share in shares]


def _check_shares(shares: Sequence[bytes]) -> list[int]:
    """Validate the shares and return their x coordinates."""
    if len(shares) < 2:
        raise ShamirError(f"at least 2 shares are required to combine, got {len(shares)}")
    length = len(shares[0])
    if length < 2:
        raise ShamirError(f"shares must be at least 2 bytes long, got {length}")
    if any(len(share) != length for share in shares):
        raise ShamirError("all shares must have the same length")
    xs = [share[-1] for share in shares]
    if 0 in xs:
        raise ShamirError("share has invalid x-coordinate 0")
    if len(set(xs)) != len(xs):
        raise ShamirError("duplicate share (repeated x-coordinate)")
    return xs


def _lagrange_weights_at_zero(xs: Sequence[int]) -> list[int]:
    """Weights w_i = prod_{j != i} x_j / (x_i - x_j), so f(0) = sum w_i * y_i."""
    weights = []
    for i, x_i in enumerate(xs):
        numerator, denominator = 1, 1
        for j, x_j in enumerate(xs):
            if i != j:
                numerator = _gf_mul(numerator, x_j)
                denominator = _gf_mul(denominator, x_i ^ x_j)
        weights.append(_gf_mul(numerator, _gf_inv(denominator)))
    return weights


def combine(shares: Sequence[bytes]) -> bytes:
    """Recover the secret from ``shares`` by Lagrange interpolation at x = 0."""
    xs = _check_shares(shares)
    weights = _lagrange_weights_at_zero(xs)
    secret = bytearray(len(shares[0]) - 1)
    for index in range(len(secret)):
        value = 0
        for share, weight in zip(shares, weights, strict=True):
            value ^= _gf_mul(share[index], weight)
        secret[index] = value
    return bytes(secret)
