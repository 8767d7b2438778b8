"""The cert auth method's matching rules (strongbox/auth/cert.py) on real certificates."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from strongbox.auth import cert as cert_auth
from strongbox.errors import BadRequest

NOW = dt.datetime(2027, 1, 15, tzinfo=dt.UTC)
CA = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _name(cn: str, ou: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name(parts)


def make_ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
          .public_key(key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                         critical=False)
          .sign(key, hashes.SHA256()))
    return ca, key


def make_leaf(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, cn: str,
              sans: list[x509.GeneralName] | None = None, ou: str = "",
              days: int = 10) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(cn, ou)).issuer_name(ca.subject)
               .public_key(key.public_key()).serial_number(4242)
               .not_valid_before(NOW - dt.timedelta(days=1))
               .not_valid_after(NOW + dt.timedelta(days=days))
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def client(cert: x509.Certificate) -> cert_auth.ClientCert:
    return cert_auth.ClientCert.from_der(cert.public_bytes(serialization.Encoding.DER))


@pytest.fixture(scope="module")
def ca() -> CA:
    return make_ca("Team CA")


def test_a_leaf_signed_by_the_entry_ca_is_admitted_and_another_cas_is_not(ca: CA) -> None:
    other, other_key = make_ca("Other CA")
    leaf = make_leaf(ca[0], ca[1], "web")
    stranger = make_leaf(other, other_key, "web")
    entry = {"certificate": pem(ca[0])}
    assert cert_auth.admits(entry, client(leaf), NOW)
    assert not cert_auth.admits(entry, client(stranger), NOW)


def test_an_other_ca_with_the_same_name_does_not_pass_for_the_entry_ca(ca: CA) -> None:
    twin, twin_key = make_ca("Team CA")  # same subject, other key: the signature decides
    forged = make_leaf(twin, twin_key, "web")
    assert not cert_auth.admits({"certificate": pem(ca[0])}, client(forged), NOW)


def test_a_pinned_leaf_is_admitted_and_an_expired_one_is_not(ca: CA) -> None:
    leaf = make_leaf(ca[0], ca[1], "web", days=10)
    assert cert_auth.admits({"certificate": pem(leaf)}, client(leaf), NOW)
    assert not cert_auth.admits({"certificate": pem(ca[0])}, client(leaf),
                                NOW + dt.timedelta(days=11))


def test_constraints_are_globs_and_every_set_one_must_match(ca: CA) -> None:
    leaf = make_leaf(ca[0], ca[1], "web-1.prod", ou="payments", sans=[
        x509.DNSName("web-1.prod.svc"),
        x509.UniformResourceIdentifier("spiffe://prod/ns/pay/sa/web")])
    entry = {"certificate": pem(ca[0])}
    for constraint, allowed, refused in [
            ("allowed_common_names", ["web-*.prod"], ["db-*"]),
            ("allowed_dns_sans", ["*.prod.svc"], ["*.dev.svc"]),
            ("allowed_uri_sans", ["spiffe://prod/ns/pay/*"], ["spiffe://dev/*"]),
            ("allowed_organizational_units", ["payments"], ["billing"])]:
        assert cert_auth.admits({**entry, constraint: allowed}, client(leaf), NOW), constraint
        assert not cert_auth.admits({**entry, constraint: refused}, client(leaf), NOW)
    both = {**entry, "allowed_common_names": ["web-*"], "allowed_dns_sans": ["*.dev.svc"]}
    assert not cert_auth.admits(both, client(leaf), NOW)


def test_metadata_is_vaults(ca: CA) -> None:
    leaf = make_leaf(ca[0], ca[1], "web")
    meta = cert_auth.metadata("team", client(leaf))
    assert meta["cert_name"] == "team" and meta["common_name"] == "web"
    assert meta["serial_number"] == "4242"
    assert meta["authority_key_id"] == cert_auth.metadata("x", client(ca[0]))["subject_key_id"]
    assert meta["authority_key_id"].count(":") == 19  # 20 bytes, colon-separated hex


def test_a_certificate_field_that_is_not_pem_is_a_clear_400() -> None:
    with pytest.raises(BadRequest, match=r"PEM encoded X\.509"):
        cert_auth.parse_pem("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----")
