"""The pkcs11 seal against a real SoftHSM2 token (tests/softhsm.py): round trips with
AES-GCM and RSA-OAEP keys, key generation at init, every failure's message (never the
PIN), an HSM that goes away and comes back, and two seals ("nodes") on one token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.softhsm import (
    SoftHsm,
    create_aes_key,
    create_rsa_key,
    require_softhsm,
    softhsm_token,
)

pytestmark = pytest.mark.integration
require_softhsm(module_level=True)  # before importing python-pkcs11

from strongbox.errors import ServiceUnavailable  # noqa: E402
from strongbox.seal.pkcs11_seal import (  # noqa: E402
    DECRYPT_FAILED,
    Pkcs11Seal,
    Pkcs11Settings,
    SealUnavailable,
)

UNSEAL_KEY = bytes(range(32))
PIN = "31415926"


@pytest.fixture
def hsm(tmp_path: Path) -> Iterator[SoftHsm]:
    with softhsm_token(tmp_path / "hsm", pin=PIN) as token:
        yield token


@pytest.fixture
def seals() -> Iterator[list[Pkcs11Seal]]:
    made: list[Pkcs11Seal] = []
    yield made
    for seal in made:
        seal.close()


def make(seals: list[Pkcs11Seal], hsm: SoftHsm, key_label: str, **extra: Any) -> Pkcs11Seal:
    seal = Pkcs11Seal(Pkcs11Settings.from_options(hsm.seal_options(key_label, **extra), {}))
    seals.append(seal)
    return seal


def unavailable(call: Any, *args: Any) -> SealUnavailable:
    with pytest.raises(SealUnavailable) as info:
        call(*args)
    exc = info.value
    assert isinstance(exc, ServiceUnavailable) and exc.status == 503
    assert PIN not in str(exc) and PIN not in repr(exc) and PIN not in exc.message
    return exc


def test_aes_gcm_round_trip_with_a_provisioned_key(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    seal = make(seals, hsm, "unseal-aes")
    first, second = seal.wrap(UNSEAL_KEY), seal.wrap(UNSEAL_KEY)
    assert first != second  # a random IV each time
    assert first[0] == 1 and len(first) == 1 + 12 + 32 + 16
    assert UNSEAL_KEY not in first
    assert seal.unwrap(first) == UNSEAL_KEY == seal.unwrap(second)


def test_rsa_oaep_round_trip_with_a_provisioned_key(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_rsa_key(hsm, "unseal-rsa", bits=2048)
    # SoftHSM2 2.6 implements OAEP with SHA-1 only (ArgumentsBad for SHA-256)
    seal = make(seals, hsm, "unseal-rsa", mechanism="CKM_RSA_PKCS_OAEP", rsa_oaep_hash="sha1")
    first, second = seal.wrap(UNSEAL_KEY), seal.wrap(UNSEAL_KEY)
    assert first != second and first[0] == 2 and len(first) == 1 + 256
    assert seal.unwrap(first) == UNSEAL_KEY == seal.unwrap(second)


def test_rsa_oaep_sha256_refused_by_the_token_says_so(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_rsa_key(hsm, "unseal-rsa", bits=2048)
    seal = make(seals, hsm, "unseal-rsa", mechanism="rsa-oaep")
    try:
        blob = seal.wrap(UNSEAL_KEY)
    except SealUnavailable as exc:  # SoftHSM2 < 2.7
        assert "refused to encrypt with rsa-oaep (sha256)" in exc.message
        assert 'rsa_oaep_hash = "sha1"' in exc.message
    else:  # a SoftHSM2 with SHA-2 OAEP
        assert seal.unwrap(blob) == UNSEAL_KEY


@pytest.mark.parametrize("mechanism", ["aes-gcm", "rsa-oaep"])
def test_generate_key_at_init_then_unwrap(hsm: SoftHsm, seals: list[Pkcs11Seal],
                                          mechanism: str):
    extra = {"rsa_oaep_hash": "sha1"} if mechanism == "rsa-oaep" else {}
    seal = make(seals, hsm, "generated", mechanism=mechanism, generate_key=True, **extra)
    exc = unavailable(seal.wrap, UNSEAL_KEY)  # not at init: no key is made
    assert "no key labelled 'generated' on token 'strongbox'" in exc.message
    assert "generate_key creates it only at init" in exc.message
    blob = seal.wrap(UNSEAL_KEY, create_key=True)
    again = seal.wrap(UNSEAL_KEY, create_key=True)  # finds the key, does not make another
    restarted = make(seals, hsm, "generated", mechanism=mechanism, **extra)
    assert restarted.unwrap(blob) == UNSEAL_KEY == restarted.unwrap(again)
    assert _key_attributes(hsm, "generated", mechanism) == (True, False, True)


def _key_attributes(hsm: SoftHsm, label: str, mechanism: str) -> tuple[bool, bool, bool]:
    """(sensitive, extractable, token) of the generated secret or private key."""
    import pkcs11
    from pkcs11 import Attribute, ObjectClass

    kind = ObjectClass.SECRET_KEY if mechanism == "aes-gcm" else ObjectClass.PRIVATE_KEY
    token = pkcs11.lib(hsm.library).get_token(token_label=hsm.token_label)
    with token.open() as session:  # this process is logged in by the seals
        key = session.get_key(object_class=kind, label=label)
        return (key[Attribute.SENSITIVE], key[Attribute.EXTRACTABLE], key[Attribute.TOKEN])


def test_without_generate_key_a_missing_key_names_the_option(hsm: SoftHsm,
                                                             seals: list[Pkcs11Seal]):
    seal = make(seals, hsm, "absent")
    for call in (lambda: seal.wrap(UNSEAL_KEY, create_key=True),
                 lambda: seal.unwrap(b"\x01" + bytes(60))):
        exc = unavailable(call)
        assert exc.message == ("no key labelled 'absent' on token 'strongbox' (set "
                               "generate_key = true to create it at init)")


def test_tampered_or_foreign_blobs_do_not_decrypt(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    create_aes_key(hsm, "other-aes")
    seal, other = make(seals, hsm, "unseal-aes"), make(seals, hsm, "other-aes")
    blob = seal.wrap(UNSEAL_KEY)
    for bad in (blob[:-1] + bytes([blob[-1] ^ 1]), blob[:20] + b"\0" + blob[21:],
                blob[:30], b"", b"\x07" + blob[1:]):
        assert unavailable(seal.unwrap, bad).message.startswith(DECRYPT_FAILED)
    assert unavailable(other.unwrap, blob).message == DECRYPT_FAILED  # a different key
    rsa = make(seals, hsm, "unseal-aes", mechanism="rsa-oaep")
    assert "wrapped with aes-gcm" in unavailable(rsa.unwrap, blob).message
    assert seal.unwrap(blob) == UNSEAL_KEY  # the session survived the failures


def test_wrong_pin(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    wrong = make(seals, hsm, "unseal-aes", pin="0000-not-it")
    exc = unavailable(wrong.unwrap, b"\x01" + bytes(60))
    assert exc.message == "wrong PIN for token 'strongbox'"
    assert "0000-not-it" not in str(exc) and "0000-not-it" not in repr(wrong.describe())
    again = unavailable(wrong.wrap, UNSEAL_KEY)  # not tried again: the token would lock
    assert again.message.startswith("wrong PIN for token 'strongbox' (not tried again")
    # a second seal with the right PIN logs in; the wrong one is still refused without a
    # login (the process is logged in, so the token would not check it)
    right = make(seals, hsm, "unseal-aes")
    assert right.unwrap(right.wrap(UNSEAL_KEY)) == UNSEAL_KEY
    late = make(seals, hsm, "unseal-aes", pin="0000-not-it")
    assert unavailable(late.wrap, UNSEAL_KEY).message == "wrong PIN for token 'strongbox'"


def test_missing_token_label_and_slot(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    absent = make(seals, hsm, "unseal-aes", token_label="no-such-token")
    assert unavailable(absent.wrap, UNSEAL_KEY).message == (
        "no token labelled 'no-such-token' (is the HSM connected?)")
    assert hsm.slot is not None
    by_slot = make(seals, hsm, "unseal-aes", token_label="", slot=str(hsm.slot))
    assert by_slot.unwrap(by_slot.wrap(UNSEAL_KEY)) == UNSEAL_KEY
    assert by_slot.describe()["token"] == f"slot {hsm.slot}"
    no_slot = make(seals, hsm, "unseal-aes", token_label="", slot=hsm.slot + 1)
    assert unavailable(no_slot.wrap, UNSEAL_KEY).message == (
        f"no token in slot {hsm.slot + 1} (is the HSM connected?)")
    mismatch = make(seals, hsm, "unseal-aes", token_label="other", slot=hsm.slot)
    assert "holds token 'strongbox', not 'other'" in unavailable(mismatch.wrap,
                                                                 UNSEAL_KEY).message


@pytest.mark.parametrize("library", ["/nonexistent/libnothing.so", "/etc/hostname"])
def test_bad_library_path(hsm: SoftHsm, seals: list[Pkcs11Seal], library: str):
    seal = make(seals, hsm, "unseal-aes", lib=library)
    exc = unavailable(seal.unwrap, b"\x01" + bytes(60))
    assert exc.message.startswith(f"cannot load PKCS#11 library {library}: ")
    assert len(exc.message) > len(f"cannot load PKCS#11 library {library}: ")


def test_hsm_unavailable_then_available_again(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    seal = make(seals, hsm, "unseal-aes")
    blob = seal.wrap(UNSEAL_KEY)
    assert seal.unwrap(blob) == UNSEAL_KEY  # a session is open and logged in
    with hsm.unplugged():
        for _ in range(2):
            exc = unavailable(seal.unwrap, blob)
            assert exc.message == "no token labelled 'strongbox' (is the HSM connected?)"
    assert seal.unwrap(blob) == UNSEAL_KEY  # the same object, without being recreated
    assert seal.unwrap(seal.wrap(UNSEAL_KEY)) == UNSEAL_KEY


def test_sessions_lost_between_two_calls(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    """The seal's session dies between two calls (here: the library is finalized behind
    its back, as when a network HSM restarts); the next call fails on the old session
    (CKR_SESSION_HANDLE_INVALID) and retries at once on a fresh one."""
    import pkcs11

    create_aes_key(hsm, "unseal-aes")
    seal = make(seals, hsm, "unseal-aes")
    blob = seal.wrap(UNSEAL_KEY)
    pkcs11.lib(hsm.library).reinitialize()
    assert seal.unwrap(blob) == UNSEAL_KEY
    with hsm.unplugged():
        pass  # SoftHSM2 notices nothing if no operation ran while the token was away
    assert seal.unwrap(blob) == UNSEAL_KEY


def test_two_nodes_on_one_token_unwrap_each_others_blobs(hsm: SoftHsm,
                                                         seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    node1, node2 = make(seals, hsm, "unseal-aes"), make(seals, hsm, "unseal-aes")
    one, two = node1.wrap(UNSEAL_KEY), node2.wrap(UNSEAL_KEY)
    assert node2.unwrap(one) == UNSEAL_KEY == node1.unwrap(two)
    node1.close()  # its logout must not take node2's session with it
    assert node2.unwrap(one) == UNSEAL_KEY
    exc = unavailable(node1.unwrap, one)
    assert exc.message == "the pkcs11 seal is closed"


def test_concurrent_unwraps_and_close(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    create_aes_key(hsm, "unseal-aes")
    seal = make(seals, hsm, "unseal-aes")
    blob = seal.wrap(UNSEAL_KEY)
    results: list[object] = []

    def worker() -> None:
        for _ in range(20):
            try:
                results.append(seal.unwrap(blob))
            except SealUnavailable as exc:
                results.append(exc.message)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    seal.close()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 80
    assert set(results) <= {UNSEAL_KEY, "the pkcs11 seal is closed"}


def test_describe_and_repr_never_show_the_pin(hsm: SoftHsm, seals: list[Pkcs11Seal]):
    seal = make(seals, hsm, "unseal-aes")
    assert seal.describe() == {"type": "pkcs11", "library": hsm.library,
                               "token": "strongbox", "key_label": "unseal-aes",
                               "mechanism": "aes-gcm"}
    assert PIN not in repr(seal) and PIN not in repr(seal._settings)
