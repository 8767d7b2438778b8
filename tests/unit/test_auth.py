"""strongbox.auth: token lifetimes, batch tokens, login throttling, password hashes."""

from __future__ import annotations

import string

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from strongbox.auth import passwords, tokens
from strongbox.auth.throttle import Throttle
from strongbox.barrier.keyring import Keyring, generate_init_material, open_root_key
from strongbox.pb import records_pb2 as rec

S = 10**9
HOUR = 3600 * S


def keyring() -> Keyring:
    material = generate_init_material(1)
    root = open_root_key(material.unseal_key, material.sealed_root_key)
    return Keyring(root, material.keys.get, lambda: 1)


# --- lifetimes ---------------------------------------------------------------------


def test_initial_ttl_prefers_the_period_and_obeys_the_explicit_max() -> None:
    assert tokens.initial_ttl(0, 0, 0) == tokens.SYSTEM_MAX_TTL_NS
    assert tokens.initial_ttl(HOUR, 0, 0) == HOUR
    assert tokens.initial_ttl(HOUR, 60 * S, 0) == 60 * S
    assert tokens.initial_ttl(HOUR, 0, 10 * S) == 10 * S
    assert tokens.initial_ttl(0, 60 * S, 10 * S) == 10 * S


def token(**kw: int) -> rec.TokenRecord:
    return rec.TokenRecord(creation_time_ns=1000 * S, **kw)


def test_renewal_of_ordinary_tokens_is_capped_at_768h_from_creation() -> None:
    t = token(ttl_ns=HOUR, issued_ttl_ns=HOUR)
    assert tokens.renewed_ttl(t, 0, 1000 * S + 30 * 60 * S) == HOUR + 30 * 60 * S
    assert tokens.renewed_ttl(t, 2 * HOUR, 1000 * S) == 2 * HOUR
    late = 1000 * S + tokens.SYSTEM_MAX_TTL_NS - 10 * S
    assert tokens.renewed_ttl(t, HOUR, late) == tokens.SYSTEM_MAX_TTL_NS


def test_periodic_tokens_renew_by_their_period_forever_unless_explicitly_capped() -> None:
    t = token(ttl_ns=60 * S, period_ns=60 * S)
    far = 1000 * S + 10 * tokens.SYSTEM_MAX_TTL_NS
    assert tokens.renewed_ttl(t, 5 * HOUR, far) == far + 60 * S - 1000 * S  # increment ignored
    capped = token(ttl_ns=60 * S, period_ns=60 * S, explicit_max_ttl_ns=90 * S)
    assert tokens.renewed_ttl(capped, 0, 1000 * S + 50 * S) == 90 * S


@given(ttl=st.integers(1, 10**6), inc=st.integers(0, 10**6), age=st.integers(0, 10**6),
       cap=st.integers(0, 10**6), period=st.integers(0, 10**3))
def test_renewal_never_passes_the_explicit_max(ttl: int, inc: int, age: int, cap: int,
                                                period: int) -> None:
    t = token(ttl_ns=ttl * S, issued_ttl_ns=ttl * S, explicit_max_ttl_ns=cap * S,
              period_ns=period * S)
    new = tokens.renewed_ttl(t, inc * S, 1000 * S + age * S)
    if cap:
        assert new <= cap * S
    if not period:
        assert new <= tokens.SYSTEM_MAX_TTL_NS


def test_expiry_is_checked_against_now() -> None:
    t = token(ttl_ns=10 * S)
    assert not tokens.expired(t, 1009 * S)
    assert tokens.expired(t, 1010 * S)
    assert not tokens.expired(token(), 10**20)  # no TTL: root-like, never expires


# --- batch tokens ------------------------------------------------------------------


def batch_record() -> rec.TokenRecord:
    return rec.TokenRecord(policies=["app", "default"], type="batch", ttl_ns=HOUR,
                           creation_time_ns=5 * S, namespace="team-a", parent_accessor="p")


def test_a_batch_token_carries_its_record_and_nothing_readable() -> None:
    ring = keyring()
    record = batch_record()
    token_id = tokens.seal_batch_token(ring, record)
    assert token_id.startswith("sbb.")
    assert b"team-a" not in token_id.encode() and "app" not in token_id[4:]
    assert tokens.open_batch_token(ring, token_id) == record


def test_a_batch_token_of_another_cluster_does_not_open() -> None:
    token_id = tokens.seal_batch_token(keyring(), batch_record())
    assert tokens.open_batch_token(keyring(), token_id) is None


RING = keyring()
TOKEN = tokens.seal_batch_token(RING, batch_record())


@settings(max_examples=200)
@given(position=st.integers(4, 10_000), char=st.sampled_from(string.ascii_letters + "-_"))
def test_any_changed_character_makes_a_batch_token_invalid(position: int, char: str) -> None:
    position = 4 + position % (len(TOKEN) - 4)
    if TOKEN[position] == char:
        return
    tampered = TOKEN[:position] + char + TOKEN[position + 1:]
    opened = tokens.open_batch_token(RING, tampered)
    # base64 of the last character may carry unused bits: the same bytes decode, and
    # then the record is the untouched one; any other change fails authentication.
    assert opened is None or opened == batch_record()


def test_service_records_sealed_as_batch_are_refused_and_junk_is_refused() -> None:
    ring = keyring()
    service = batch_record()
    service.type = "service"
    assert tokens.open_batch_token(ring, tokens.seal_batch_token(ring, service)) is None
    for junk in ("sbb.", "sbb.!!!", "sbb." + "A" * 50, "sbb." + "A" * 5000):
        assert tokens.open_batch_token(ring, junk) is None


# --- throttle ----------------------------------------------------------------------


def test_the_throttle_allows_limit_attempts_per_window_then_says_how_long_to_wait() -> None:
    throttle = Throttle(limit=3, window_s=60)
    assert [throttle.attempt("a", t) for t in (0, 1, 2)] == [None, None, None]
    assert throttle.attempt("a", 10) == 50
    assert throttle.attempt("b", 10) is None  # keys are independent
    assert throttle.attempt("a", 60.5) is None  # the first attempt left the window


def test_the_throttle_checks_every_key_and_bounds_its_memory() -> None:
    throttle = Throttle(limit=1, window_s=60, max_keys=2)
    assert throttle.check(["addr:1", "user:x"], 0) is None
    assert throttle.check(["addr:2", "user:x"], 1) == 59
    for n in range(10):
        throttle.attempt(f"k{n}", 2)
    assert len(throttle._hits) == 2


# --- passwords ---------------------------------------------------------------------


def test_passwords_verify_and_the_hash_keeps_its_parameters() -> None:
    stored = passwords.hash_password("correct horse")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=1$")
    assert "correct horse" not in stored
    assert passwords.verify_password(stored, "correct horse")
    assert not passwords.verify_password(stored, "correct horsE")
    assert not passwords.verify_password(None, "anything")  # unknown user: same work
    assert not passwords.verify_password("garbage", "x")
    assert not passwords.needs_rehash(stored)


def test_hashes_made_with_older_parameters_need_a_rehash() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert passwords.verify_password(old, "pw")  # still accepted
    assert passwords.needs_rehash(old)


@pytest.mark.parametrize("value", ["", "x" * 10])
def test_empty_and_short_passwords_hash(value: str) -> None:
    assert passwords.verify_password(passwords.hash_password(value), value)


def test_a_child_records_the_earliest_expiry_of_its_ancestors() -> None:
    root = rec.TokenRecord(accessor="root")  # no TTL, no parent
    assert tokens.ancestors_expire(root) == tokens.NEVER
    parent = rec.TokenRecord(accessor="p", parent_accessor="root", creation_time_ns=10 * S,
                             ttl_ns=100 * S, ancestors_expire_ns=tokens.NEVER)
    assert tokens.ancestors_expire(parent) == 110 * S
    grand = rec.TokenRecord(accessor="g", parent_accessor="p", creation_time_ns=20 * S,
                            ttl_ns=10 * S, ancestors_expire_ns=110 * S)
    assert tokens.ancestors_expire(grand) == 30 * S  # its own expiry comes first
    long_lived = rec.TokenRecord(accessor="l", parent_accessor="p", creation_time_ns=20 * S,
                                 ttl_ns=1000 * S, ancestors_expire_ns=110 * S)
    assert tokens.ancestors_expire(long_lived) == 110 * S  # its parent's comes first
    unknown = rec.TokenRecord(accessor="u", parent_accessor="p")  # recorded before: walk
    assert tokens.ancestors_expire(unknown) == 0
