"""Transit signatures with Vault's options and encodings.

Contract (Vault's keysutil Policy.SignWithOptions / VerifySignatureWithOptions and
builtin/logical/transit/path_sign_verify.go):

- Options: `hash_algorithm` one of sha1, sha2-*, sha3-*, none (none only together with
  prehashed=true and signature_algorithm=pkcs1v15); `marshaling_algorithm` asn1 or jws;
  `salt_length` "auto", "hash" or an integer (Go's numbering: "auto" is 0, "hash" is -1).
- ed25519 signs the raw input (hash options ignored); a derived ed25519 key is generated
  from the seed HKDF-SHA256(ikm=seed||public, info=context)[:32].
- ecdsa signs the input hashed with `hash_algorithm` (or the input itself when
  prehashed); the digest is reduced to the curve order size as Go's ecdsa does
  (left-most bytes, or left-padded when shorter). asn1 is a DER signature, jws is r||s
  at the curve size.
- rsa signs with PSS (default; MGF1 with the same hash) or PKCS#1 v1.5 over the hashed
  input (prehashed: the digest itself; hash none: raw PKCS#1 v1.5 without DigestInfo).
  PSS salt "auto" signs with the longest salt and detects it when verifying, as Go does;
  a salt outside -1..(modulus bytes - hash size - 2) is rejected.
- A jws ECDSA signature of the wrong size verifies as False (Vault splits any length).
- The signature is `vault:v<N>:` + standard base64, except with marshaling jws, where
  Vault uses unpadded base64url for every key type.
- `verify` returns False for a signature that does not verify and raises `BadRequest`
  for one that cannot be parsed or for disallowed options.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import cast

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from strongbox.engines.transit import crypto, keytypes
from strongbox.engines.transit.keytypes import KeyType, KeyVersion, PublicKey
from strongbox.errors import BadRequest

SIGNATURE_ALGORITHMS = ("pss", "pkcs1v15")
MARSHALINGS = ("asn1", "jws")
SALT_AUTO = 0  # Go's rsa.PSSSaltLengthAuto
SALT_HASH = -1  # Go's rsa.PSSSaltLengthEqualsHash


@dataclass(frozen=True)
class SignOptions:
    hash_algorithm: str
    prehashed: bool
    signature_algorithm: str
    marshaling: str
    salt_length: int


def parse_salt_length(value: str | int) -> int:
    """Vault's getSaltLength: "auto" -> 0, "hash" -> -1, else an integer >= -1."""
    text = str(value).strip().lower()
    if text == "auto":
        return SALT_AUTO
    if text == "hash":
        return SALT_HASH
    try:
        number = int(text, 10)
    except ValueError:
        raise BadRequest(f"salt length neither 'auto', 'hash', nor an int: "
                         f"{keytypes.shown(text)}") from None
    if number < SALT_HASH:
        raise BadRequest(f"salt length is invalid: {number}")
    return number


def options(kt: KeyType, hash_algorithm: str = "sha2-256", prehashed: bool = False,
            signature_algorithm: str = "", marshaling_algorithm: str = "asn1",
            salt_length: str | int = "auto") -> SignOptions:
    """Validate signing options in Vault's order; BadRequest for a disallowed one."""
    if hash_algorithm != "none" and hash_algorithm not in crypto.HASHES:
        raise BadRequest(f"invalid hash algorithm {keytypes.shown(hash_algorithm)}; one of: none, "
                         f"{', '.join(crypto.HASHES)}")
    if marshaling_algorithm not in MARSHALINGS:
        raise BadRequest(f"invalid marshaling type {keytypes.shown(marshaling_algorithm)}; one "
                         "of: asn1, jws")
    salt = parse_salt_length(salt_length)
    if not kt.signs:
        raise BadRequest(f"key type {kt.name} does not support signing")
    if hash_algorithm == "none" and (not prehashed or signature_algorithm != "pkcs1v15"):
        raise BadRequest("hash_algorithm=none requires both prehashed=true and "
                         "signature_algorithm=pkcs1v15")
    algorithm = signature_algorithm or "pss"
    if kt.family == "rsa" and algorithm not in SIGNATURE_ALGORITHMS:
        raise BadRequest(f"unsupported rsa signature algorithm {keytypes.shown(algorithm)}; one "
                         "of: pss, pkcs1v15")
    return SignOptions(hash_algorithm, bool(prehashed), algorithm, marshaling_algorithm, salt)


def _hash(name: str) -> hashes.HashAlgorithm:
    return crypto.HASHES[name]()


def _digest(kt: KeyType, data: bytes, opts: SignOptions) -> bytes:
    """What Vault passes to the signer: the hashed input for ecdsa/rsa unless prehashed."""
    if kt.family == "ed25519" or opts.prehashed or opts.hash_algorithm == "none":
        return data
    h = hashes.Hash(_hash(opts.hash_algorithm))
    h.update(data)
    return h.finalize()


def _ec_prehashed(kt: KeyType, digest: bytes) -> tuple[bytes, utils.Prehashed]:
    """The digest at the curve order's size, as Go's hashToNat reads it."""
    size = kt.bits // 8
    fitted = digest[:size].rjust(size, b"\x00")
    return fitted, utils.Prehashed(hashes.SHA256() if size == 32 else hashes.SHA384())


def _rsa_padding(kt: KeyType, opts: SignOptions, signing: bool) -> padding.AsymmetricPadding:
    if opts.signature_algorithm == "pkcs1v15":
        return padding.PKCS1v15()
    digest_size = _hash(opts.hash_algorithm).digest_size
    maximum = (kt.bits - 1 + 7) // 8 - 2 - digest_size
    if not SALT_HASH <= opts.salt_length <= maximum:
        raise BadRequest(f"requested salt length {opts.salt_length} is invalid")
    mgf = padding.MGF1(_hash(opts.hash_algorithm))
    if opts.salt_length == SALT_AUTO:
        auto = padding.PSS.MAX_LENGTH if signing else padding.PSS.AUTO
        return padding.PSS(mgf=mgf, salt_length=auto)
    if opts.salt_length == SALT_HASH:
        return padding.PSS(mgf=mgf, salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PSS(mgf=mgf, salt_length=opts.salt_length)


def _rsa_algorithm(opts: SignOptions, digest: bytes) -> utils.Prehashed | utils.NoDigestInfo:
    if opts.hash_algorithm == "none":
        return utils.NoDigestInfo()
    algorithm = _hash(opts.hash_algorithm)
    if len(digest) != algorithm.digest_size:
        raise BadRequest(f"prehashed input must be {algorithm.digest_size} bytes for "
                         f"hash_algorithm {opts.hash_algorithm}, not {len(digest)}")
    return utils.Prehashed(algorithm)


def _ed25519_signer(kt: KeyType, kv: KeyVersion, context: bytes | None,
                    derived: bool) -> ed25519.Ed25519PrivateKey:
    private = keytypes.private_key(kt, kv)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    if not derived:
        return private
    seed = crypto.derived_material(keytypes.ed25519_expanded(private), context, 32)
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def derived_public_key(kt: KeyType, kv: KeyVersion, context: bytes | None) -> str:
    """Base64 public key of a derived ed25519 key for `context` (Vault's sign response
    `public_key` and keys/:name?context=...)."""
    if kt.family != "ed25519":
        raise BadRequest(f"key derivation for signing is only supported by ed25519 keys, "
                         f"not {kt.name}")
    public = _ed25519_signer(kt, kv, context, True).public_key()
    return base64.b64encode(public.public_bytes_raw()).decode("ascii")


def _ecdsa_sign(kt: KeyType, private: ec.EllipticCurvePrivateKey, digest: bytes,
                marshaling: str) -> bytes:
    fitted, algorithm = _ec_prehashed(kt, digest)
    der = private.sign(fitted, ec.ECDSA(algorithm))
    if marshaling == "asn1":
        return der
    r, s = utils.decode_dss_signature(der)
    size = kt.bits // 8
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


def _raw_signature(kt: KeyType, kv: KeyVersion, data: bytes, opts: SignOptions,
                   context: bytes | None, derived: bool) -> bytes:
    if kt.family == "ed25519":
        return _ed25519_signer(kt, kv, context, derived).sign(data)
    if derived:
        raise BadRequest(f"key derivation is not supported for key type {kt.name}")
    private = keytypes.private_key(kt, kv)
    digest = _digest(kt, data, opts)
    if isinstance(private, ec.EllipticCurvePrivateKey):
        return _ecdsa_sign(kt, private, digest, opts.marshaling)
    assert isinstance(private, rsa.RSAPrivateKey)
    pad = _rsa_padding(kt, opts, signing=True)
    try:
        return private.sign(digest, pad, _rsa_algorithm(opts, digest))
    except ValueError:
        raise BadRequest(f"the input is too long to sign with key type {kt.name}") from None


def encode_signature(version: int, raw: bytes, marshaling: str) -> str:
    if marshaling == "jws":
        return f"{crypto.PREFIX}{version}:{crypto.b64url_raw_encode(raw)}"
    return crypto.format_value(version, raw)


def sign(kt: KeyType, kv: KeyVersion, data: bytes, *, hash_algorithm: str = "sha2-256",
         prehashed: bool = False, signature_algorithm: str = "",
         marshaling_algorithm: str = "asn1", salt_length: str = "auto",
         context: bytes | None = None, derived: bool = False) -> str:
    """`vault:v<N>:` + the encoded signature of `data` with version `kv`."""
    opts = options(kt, hash_algorithm, prehashed, signature_algorithm, marshaling_algorithm,
                   salt_length)
    raw = _raw_signature(kt, kv, data, opts, context, derived)
    return encode_signature(kv.version, raw, opts.marshaling)


def decode_signature(rest: str, marshaling: str) -> bytes:
    try:
        if marshaling == "jws":
            return crypto.b64url_raw_decode(rest)
        return crypto.std_b64decode(rest)
    except (ValueError, binascii.Error):
        raise BadRequest("invalid base64 signature value") from None


def _ecdsa_der(kt: KeyType, sig: bytes, marshaling: str) -> bytes | None:
    """A canonical DER signature, None when the jws form has the wrong size."""
    if marshaling == "jws":
        size = kt.bits // 8
        if len(sig) != 2 * size:
            return None
        r, s = int.from_bytes(sig[:size], "big"), int.from_bytes(sig[size:], "big")
    else:
        try:
            r, s = utils.decode_dss_signature(sig)
        except ValueError:
            raise BadRequest("supplied signature is invalid") from None
    if r <= 0 or s <= 0:
        return None
    return utils.encode_dss_signature(r, s)


def _verify_public(kt: KeyType, public: PublicKey, data: bytes, sig: bytes,
                   opts: SignOptions) -> bool:
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(sig, data)
            return True
        digest = _digest(kt, data, opts)
        if isinstance(public, ec.EllipticCurvePublicKey):
            der = _ecdsa_der(kt, sig, opts.marshaling)
            if der is None:
                return False
            fitted, algorithm = _ec_prehashed(kt, digest)
            public.verify(der, fitted, ec.ECDSA(algorithm))
            return True
        pad = _rsa_padding(kt, opts, signing=False)
        # NoDigestInfo is accepted at runtime; the stubs of cryptography 46+ omit it here.
        algorithm_ = cast(utils.Prehashed, _rsa_algorithm(opts, digest))
        public.verify(sig, digest, pad, algorithm_)
        return True
    except InvalidSignature:
        return False


def _verification_key(kt: KeyType, kv: KeyVersion, context: bytes | None,
                      derived: bool) -> PublicKey:
    if kt.family == "ed25519":
        return _ed25519_signer(kt, kv, context, derived).public_key()
    if derived:
        raise BadRequest(f"key derivation is not supported for key type {kt.name}")
    return keytypes.public_key_object(kt, kv)


def verify(kt: KeyType, kv: KeyVersion, data: bytes, signature: str, *,
           hash_algorithm: str = "sha2-256", prehashed: bool = False,
           signature_algorithm: str = "", marshaling_algorithm: str = "asn1",
           salt_length: str = "auto", context: bytes | None = None,
           derived: bool = False) -> bool:
    """Whether `signature` (`vault:v<N>:...`, N must be `kv.version`) signs `data`."""
    opts = options(kt, hash_algorithm, prehashed, signature_algorithm, marshaling_algorithm,
                   salt_length)
    version, rest = crypto.parse_prefix(signature, "signature")
    if version != kv.version:
        raise BadRequest(f"invalid signature: it names key version {version}, not "
                         f"{kv.version}")
    sig = decode_signature(rest, opts.marshaling)
    return _verify_public(kt, _verification_key(kt, kv, context, derived), data, sig, opts)


def load_public(kt: KeyType, public: bytes) -> PublicKey:
    """A public key from PEM or DER SubjectPublicKeyInfo (ed25519: also 32 raw bytes)."""
    try:
        if kt.family == "ed25519" and len(public) == 32:
            loaded: object = ed25519.Ed25519PublicKey.from_public_bytes(public)
        elif public.lstrip().startswith(b"-----"):
            loaded = serialization.load_pem_public_key(public)
        else:
            loaded = serialization.load_der_public_key(public)
    except (ValueError, UnsupportedAlgorithm):
        raise BadRequest("the public key is not a valid PEM or DER public key") from None
    if kt.family == "ed25519" and isinstance(loaded, ed25519.Ed25519PublicKey):
        return loaded
    if kt.family == "ecdsa" and isinstance(loaded, ec.EllipticCurvePublicKey) and \
            loaded.curve.key_size == kt.bits:
        return loaded
    if kt.family == "rsa" and isinstance(loaded, rsa.RSAPublicKey):
        return loaded
    raise BadRequest(f"the public key does not match key type {kt.name}")


def verify_with_public(kt_name: str, public: bytes, data: bytes, sig: bytes, *,
                       hash_algorithm: str = "sha2-256", prehashed: bool = False,
                       signature_algorithm: str = "", marshaling_algorithm: str = "asn1",
                       salt_length: str = "auto") -> bool:
    """`verify` on raw signature bytes with a given public key (the Wycheproof seam)."""
    kt = keytypes.key_type(kt_name)
    opts = options(kt, hash_algorithm, prehashed, signature_algorithm, marshaling_algorithm,
                   salt_length)
    return _verify_public(kt, load_public(kt, public), data, sig, opts)


def public_key(kt: KeyType, kv: KeyVersion) -> str:
    """Vault's keys/:name `public_key`: PEM SubjectPublicKeyInfo (with its final newline)
    for ecdsa and rsa, base64 of the 32 raw bytes for ed25519."""
    public = keytypes.public_key_object(kt, kv)
    if isinstance(public, ed25519.Ed25519PublicKey):
        return base64.b64encode(public.public_bytes_raw()).decode("ascii")
    pem = public.public_bytes(serialization.Encoding.PEM,
                              serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")
