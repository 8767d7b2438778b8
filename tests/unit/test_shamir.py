"""Tests for strongbox.seal.shamir (Vault-compatible Shamir secret sharing).

Cross-check with ``pyshamir`` (a line-by-line port of Vault's Go ``shamir``
package, v1.1.0): its shares use exactly our layout -- ``len(secret)`` y-bytes
followed by one x-coordinate byte, x = (random permutation of 0..254)[i] + 1,
i.e. distinct values in 1..255 -- and the same field (bitwise multiply reduced
by 0x1b, i.e. the polynomial 0x11b). So no conversion is needed between the
two: shares are byte-for-byte interchangeable. The only difference is the
container type: pyshamir takes and returns ``bytearray``; we return ``bytes``.
"""

from __future__ import annotations

import itertools

import pyshamir
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyshamir import _utils as pyshamir_field

from strongbox.seal import shamir
from strongbox.seal.shamir import ShamirError, combine, split


@st.composite
def split_params(draw: st.DrawFn, min_threshold: int = 2) -> tuple[int, int]:
    parts = draw(st.integers(min_value=min_threshold, max_value=20))
    threshold = draw(st.integers(min_value=min_threshold, max_value=parts))
    return parts, threshold


# --- field arithmetic ------------------------------------------------------


def test_field_multiplication_matches_fips197_aes_examples() -> None:
    # FIPS-197 section 4.2: {57} * {83} = {c1}, {57} * {13} = {fe}.
    assert shamir._gf_mul(0x57, 0x83) == 0xC1
    assert shamir._gf_mul(0x57, 0x13) == 0xFE


def test_field_matches_vault_field_test_vectors() -> None:
    # From Vault shamir_test.go: TestField_Mult / TestField_Divide.
    assert shamir._gf_mul(3, 7) == 9
    assert shamir._gf_mul(3, 0) == 0
    assert shamir._gf_mul(0, 3) == 0
    assert shamir._gf_mul(6, shamir._gf_inv(3)) == 2
    assert shamir._gf_mul(3, shamir._gf_inv(3)) == 1


def test_field_multiplication_equals_pyshamir_bitwise_multiply_for_all_pairs() -> None:
    for a, b in itertools.product(range(256), repeat=2):
        assert shamir._gf_mul(a, b) == pyshamir_field.mul(a, b), (a, b)


def test_every_nonzero_element_times_its_inverse_is_one() -> None:
    for a in range(1, 256):
        assert shamir._gf_mul(a, shamir._gf_inv(a)) == 1


def test_inverse_of_zero_is_rejected() -> None:
    with pytest.raises(ShamirError):
        shamir._gf_inv(0)


# --- round trips -----------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), params=split_params(), data=st.data())
def test_any_subset_of_at_least_threshold_shares_recovers_secret(
    secret: bytes, params: tuple[int, int], data: st.DataObject
) -> None:
    parts, threshold = params
    shares = split(secret, parts, threshold)
    order = data.draw(st.permutations(range(parts)))
    size = data.draw(st.integers(min_value=threshold, max_value=parts))
    assert combine([shares[i] for i in order[:size]]) == secret


@settings(max_examples=50, deadline=None)
@given(secret=st.binary(min_size=32, max_size=32), params=split_params(3), data=st.data())
def test_threshold_minus_one_shares_do_not_recover_secret(
    secret: bytes, params: tuple[int, int], data: st.DataObject
) -> None:
    # With t-1 shares the result is secret XOR c_top * prod(x_j) per byte, so it
    # equals the secret only if all 32 top coefficients are zero (p = 2**-256).
    parts, threshold = params
    shares = split(secret, parts, threshold)
    order = data.draw(st.permutations(range(parts)))
    assert combine([shares[i] for i in order[: threshold - 1]]) != secret


def test_all_255_shares_recover_secret() -> None:
    secret = b"\x00\xff" * 8
    shares = split(secret, 255, 255)
    assert combine(shares) == secret
    assert combine(shares[::-1]) == secret


# --- share format ----------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), params=split_params())
def test_shares_are_secret_length_plus_one_with_distinct_nonzero_x_byte_last(
    secret: bytes, params: tuple[int, int]
) -> None:
    parts, threshold = params
    shares = split(secret, parts, threshold)
    assert len(shares) == parts
    assert all(isinstance(share, bytes) for share in shares)
    assert all(len(share) == len(secret) + 1 for share in shares)
    xs = [share[-1] for share in shares]
    assert 0 not in xs
    assert len(set(xs)) == parts


def test_x_coordinates_are_random_not_sequential() -> None:
    x_sets = {tuple(share[-1] for share in split(b"k", 3, 2)) for _ in range(50)}
    assert len(x_sets) > 1
    assert any(max(xs) > 3 for xs in x_sets)


def test_splitting_same_secret_twice_gives_different_shares() -> None:
    assert split(b"same secret", 5, 3) != split(b"same secret", 5, 3)


# --- cross-check with pyshamir (Vault's algorithm) ---------------------------


@settings(max_examples=50, deadline=None)
@given(secret=st.binary(min_size=1, max_size=32), params=split_params(), data=st.data())
def test_our_shares_combine_with_pyshamir(
    secret: bytes, params: tuple[int, int], data: st.DataObject
) -> None:
    parts, threshold = params
    shares = split(secret, parts, threshold)
    order = data.draw(st.permutations(range(parts)))
    subset = [bytearray(shares[i]) for i in order[:threshold]]
    assert bytes(pyshamir.combine(subset)) == secret


@settings(max_examples=50, deadline=None)
@given(secret=st.binary(min_size=1, max_size=32), params=split_params(), data=st.data())
def test_pyshamir_shares_combine_with_ours(
    secret: bytes, params: tuple[int, int], data: st.DataObject
) -> None:
    parts, threshold = params
    shares = pyshamir.split(secret, parts, threshold)
    # pyshamir/Vault layout: y-bytes then one non-zero x byte, like ours.
    assert all(len(share) == len(secret) + 1 and share[-1] != 0 for share in shares)
    order = data.draw(st.permutations(range(parts)))
    subset = [bytes(shares[i]) for i in order[:threshold]]
    assert combine(subset) == secret


def test_mixed_shares_from_one_polynomial_interpolate_identically_in_both() -> None:
    shares = split(b"\x01\x02\x03\x04", 6, 3)
    for subset in itertools.combinations(shares, 2):  # below threshold: garbage,
        garbage = combine(list(subset))  # but the same garbage in both
        assert bytes(pyshamir.combine([bytearray(s) for s in subset])) == garbage


# --- error cases -----------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "parts", "threshold", "message"),
    [
        (b"secret", 5, 1, "threshold must be at least 2"),
        (b"secret", 5, 0, "threshold must be at least 2"),
        (b"secret", 3, 4, "cannot be less than threshold"),
        (b"secret", 256, 3, "cannot exceed 255"),
        (b"", 5, 3, "empty secret"),
    ],
)
def test_split_rejects_invalid_arguments(
    secret: bytes, parts: int, threshold: int, message: str
) -> None:
    with pytest.raises(ShamirError, match=message):
        split(secret, parts, threshold)


def test_shamir_error_is_a_value_error() -> None:
    assert issubclass(ShamirError, ValueError)


def test_combine_rejects_duplicate_share() -> None:
    shares = split(b"secret", 3, 2)
    with pytest.raises(ShamirError, match="duplicate share"):
        combine([shares[0], shares[0]])


def test_combine_rejects_different_shares_with_same_x_coordinate() -> None:
    shares = split(b"secret", 3, 2)
    forged = bytes(b ^ 0x55 for b in shares[1][:-1]) + shares[0][-1:]
    with pytest.raises(ShamirError, match="duplicate share"):
        combine([shares[0], forged])


def test_combine_rejects_mismatched_share_lengths() -> None:
    short = split(b"abc", 3, 2)
    long = split(b"abcd", 3, 2)
    with pytest.raises(ShamirError, match="same length"):
        combine([short[0], long[1]])


@pytest.mark.parametrize("shares", [[], [b"\x01\x02"]])
def test_combine_rejects_fewer_than_two_shares(shares: list[bytes]) -> None:
    with pytest.raises(ShamirError, match="at least 2 shares"):
        combine(shares)


def test_combine_rejects_shares_shorter_than_two_bytes() -> None:
    with pytest.raises(ShamirError, match="at least 2 bytes"):
        combine([b"\x01", b"\x02"])


def test_combine_rejects_zero_x_coordinate() -> None:
    with pytest.raises(ShamirError, match="x-coordinate 0"):
        combine([b"\x07\x00", b"\x07\x01"])


def test_error_messages_do_not_contain_share_bytes() -> None:
    secret = b"TOPSECRET"
    shares = split(secret, 3, 2)
    with pytest.raises(ShamirError) as excinfo:
        combine([shares[0], shares[0]])
    message = str(excinfo.value)
    assert "TOPSECRET" not in message
    assert shares[0].hex() not in message
    assert repr(shares[0]) not in message
