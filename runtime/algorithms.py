"""The algorithms of the platform, one small interface per purpose: the keys service offers them,
the licences verify a credential's signature with them offline. Pure: no I/O.

| purpose   | national (GM/T, default) | international          |
|-----------|--------------------------|------------------------|
| `sign`    | `sm2` (SM2 with SM3)     | `ed25519`, `ecdsa-p256` |
| `encrypt` | `sm4-gcm`                | `aes-256-gcm`          |
| `mac`     | `hmac-sm3`               | `hmac-sha256`          |

Key material, as `generate` returns it and the service stores it sealed: PKCS#8 DER for the
signing algorithms, raw bytes for the symmetric ones. Public keys travel as SubjectPublicKeyInfo
PEM. Signatures: SM2 and ECDSA P-256 as DER `SEQUENCE {r, s}`, Ed25519 as its 64 raw bytes.
SM2 signatures hash with SM3 over Z‖M, Z computed with the default signer ID `1234567812345678`
(GB/T 32918.2, GM/T 0009), so any conforming implementation verifies them.
An encryption is `nonce (12) ‖ ciphertext ‖ tag (16)`; the nonce is random, so one key should
encrypt fewer than 2^32 messages (NIST SP 800-38D): rotate before that.

SM3, SM4 and the international algorithms come from `cryptography`; SM2 from `tongsuopy`
(`cryptography` cannot load SM2 keys). No message raised here ever contains key material.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec as cec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from tongsuopy.crypto import exceptions as tongsuo_exceptions
from tongsuopy.crypto import hashes as tongsuo_hashes
from tongsuopy.crypto import serialization as tongsuo_serialization
from tongsuopy.crypto.asymciphers import ec as tongsuo_ec

Purpose = Literal["sign", "encrypt", "mac"]
PURPOSES: tuple[Purpose, ...] = ("sign", "encrypt", "mac")

NONCE_BYTES = 12
TAG_BYTES = 16
MIN_MAC_KEY_BYTES = 16


class AlgorithmError(ValueError):
    """Base of the errors below; messages name algorithms and purposes, never key material."""


class UnknownAlgorithm(AlgorithmError):
    """The name is not one of `ALGORITHMS`."""


class WrongPurpose(AlgorithmError):
    """The algorithm exists but serves another purpose (e.g. `sm4-gcm` asked to sign)."""


class InvalidKeyMaterial(AlgorithmError):
    """Key material (or a public key) that does not parse, or belongs to another algorithm."""


class DecryptionFailed(AlgorithmError):
    """The ciphertext does not authenticate: tampered, truncated, another key or other
    associated data. Deliberately says no more than that."""


@dataclass(frozen=True, slots=True)
class Algorithm:
    name: str
    purpose: Purpose
    national: bool  # a GM/T (商用密码) algorithm
    key_bits: int  # the key size; for HMAC the size `generate` uses
    standard: str

    @property
    def key_bytes(self) -> int:
        return self.key_bits // 8


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm("sm2", "sign", True, 256, "GB/T 32918 (GM/T 0003) with SM3, GM/T 0009"),
        Algorithm("ed25519", "sign", False, 256, "RFC 8032"),
        Algorithm("ecdsa-p256", "sign", False, 256, "FIPS 186-5 ECDSA P-256 with SHA-256"),
        Algorithm("sm4-gcm", "encrypt", True, 128, "GB/T 32907 (GM/T 0002), RFC 8998"),
        Algorithm("aes-256-gcm", "encrypt", False, 256, "FIPS 197, NIST SP 800-38D"),
        Algorithm("hmac-sm3", "mac", True, 256, "GB/T 32905 (GM/T 0004), RFC 2104"),
        Algorithm("hmac-sha256", "mac", False, 256, "FIPS 180-4, RFC 2104"),
    )
}

DEFAULT_ALGORITHM: dict[Purpose, str] = {"sign": "sm2", "encrypt": "sm4-gcm", "mac": "hmac-sm3"}


def algorithm(name: str) -> Algorithm:
    """The algorithm called `name`, or `UnknownAlgorithm`."""
    try:
        return ALGORITHMS[name]
    except (KeyError, TypeError):
        known = ", ".join(ALGORITHMS)
        raise UnknownAlgorithm(f"unknown algorithm {name!r:.40}; known: {known}") from None


def require(name: str, purpose: Purpose) -> Algorithm:
    """The algorithm called `name` if it serves `purpose`; else `UnknownAlgorithm` or
    `WrongPurpose`."""
    found = algorithm(name)
    if found.purpose != purpose:
        raise WrongPurpose(f"algorithm {name!r} is for {found.purpose}, not {purpose}")
    return found


# --- one interface per purpose -------------------------------------------------------------


class SigningScheme(Protocol):
    def generate(self) -> bytes: ...
    def public_key_pem(self, private_material: bytes) -> bytes: ...
    def sign(self, private_material: bytes, message: bytes) -> bytes: ...
    def verify(self, public_pem: bytes, message: bytes, *, signature: bytes) -> bool: ...


class AeadScheme(Protocol):
    def generate(self) -> bytes: ...
    def encrypt(self, key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes: ...
    def decrypt(self, key: bytes, blob: bytes, *, associated_data: bytes) -> bytes: ...


class MacScheme(Protocol):
    def generate(self) -> bytes: ...
    def mac(self, key: bytes, message: bytes) -> bytes: ...
    def verify(self, key: bytes, message: bytes, *, tag: bytes) -> bool: ...


# --- signing -----------------------------------------------------------------------------


def _canonical_der(signature: bytes) -> bool:
    """Whether `signature` is exactly the DER encoding of SEQUENCE {r, s} with r, s > 0:
    no trailing bytes, no alternative encodings of the same signature."""
    try:
        r, s = decode_dss_signature(signature)
    except ValueError:
        return False
    return r > 0 and s > 0 and encode_dss_signature(r, s) == signature


class _Sm2:
    _SCHEME = tongsuo_ec.ECDSA(tongsuo_hashes.SM3())  # SM2 keys sign SM2-with-SM3 (with Z)

    def generate(self) -> bytes:
        key = tongsuo_ec.generate_private_key(tongsuo_ec.SM2())
        return bytes(
            key.private_bytes(
                tongsuo_serialization.Encoding.DER,
                tongsuo_serialization.PrivateFormat.PKCS8,
                tongsuo_serialization.NoEncryption(),
            )
        )

    def _private(self, material: bytes) -> Any:
        key = _sm2_private(material)
        if not isinstance(key, tongsuo_ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, tongsuo_ec.SM2
        ):
            raise InvalidKeyMaterial("not an SM2 private key (PKCS#8 DER)")
        return key

    def public_key_pem(self, private_material: bytes) -> bytes:
        return bytes(
            self._private(private_material)
            .public_key()
            .public_bytes(
                tongsuo_serialization.Encoding.PEM,
                tongsuo_serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )

    def sign(self, private_material: bytes, message: bytes) -> bytes:
        return bytes(self._private(private_material).sign(message, self._SCHEME))

    def verify(self, public_pem: bytes, message: bytes, *, signature: bytes) -> bool:
        key = _sm2_public(public_pem)
        if not isinstance(key, tongsuo_ec.EllipticCurvePublicKey) or not isinstance(
            key.curve, tongsuo_ec.SM2
        ):
            raise InvalidKeyMaterial("not an SM2 public key (SubjectPublicKeyInfo PEM)")
        # Tongsuo raises InternalError, not InvalidSignature, on malformed DER: screen first.
        if not _canonical_der(signature):
            return False
        try:
            key.verify(signature, message, self._SCHEME)
        except (tongsuo_exceptions.InvalidSignature, tongsuo_exceptions.InternalError):
            return False
        return True


# Parsed keys are kept: parsing costs a fifth of an SM2 signature (bench/README.md), and the
# keyring keeps the material in memory anyway. Invalid input is cached as None, and refused.
@functools.lru_cache(maxsize=1024)
def _sm2_private(material: bytes) -> Any:
    try:
        return tongsuo_serialization.load_der_private_key(material, None)
    except (ValueError, TypeError, tongsuo_exceptions.UnsupportedAlgorithm):
        return None


@functools.lru_cache(maxsize=1024)
def _sm2_public(pem: bytes) -> Any:
    try:
        return tongsuo_serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, tongsuo_exceptions.UnsupportedAlgorithm):
        return None


# UnsupportedAlgorithm: e.g. an SM2 key, whose curve `cryptography` does not know.
@functools.lru_cache(maxsize=1024)
def _load_private(material: bytes) -> object:
    try:
        return serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


@functools.lru_cache(maxsize=1024)
def _load_public(pem: bytes) -> object:
    try:
        return serialization.load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _pkcs8(key: ed25519.Ed25519PrivateKey | cec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _spki_pem(key: ed25519.Ed25519PublicKey | cec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class _Ed25519:
    def generate(self) -> bytes:
        return _pkcs8(ed25519.Ed25519PrivateKey.generate())

    def _private(self, material: bytes) -> ed25519.Ed25519PrivateKey:
        key = _load_private(material)
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise InvalidKeyMaterial("not an Ed25519 private key (PKCS#8 DER)")
        return key

    def public_key_pem(self, private_material: bytes) -> bytes:
        return _spki_pem(self._private(private_material).public_key())

    def sign(self, private_material: bytes, message: bytes) -> bytes:
        return self._private(private_material).sign(message)

    def verify(self, public_pem: bytes, message: bytes, *, signature: bytes) -> bool:
        key = _load_public(public_pem)
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise InvalidKeyMaterial("not an Ed25519 public key (SubjectPublicKeyInfo PEM)")
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


class _EcdsaP256:
    _SCHEME = cec.ECDSA(hashes.SHA256())

    def generate(self) -> bytes:
        return _pkcs8(cec.generate_private_key(cec.SECP256R1()))

    def _private(self, material: bytes) -> cec.EllipticCurvePrivateKey:
        key = _load_private(material)
        if not isinstance(key, cec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, cec.SECP256R1
        ):
            raise InvalidKeyMaterial("not an ECDSA P-256 private key (PKCS#8 DER)")
        return key

    def public_key_pem(self, private_material: bytes) -> bytes:
        return _spki_pem(self._private(private_material).public_key())

    def sign(self, private_material: bytes, message: bytes) -> bytes:
        return self._private(private_material).sign(message, self._SCHEME)

    def verify(self, public_pem: bytes, message: bytes, *, signature: bytes) -> bool:
        key = _load_public(public_pem)
        if not isinstance(key, cec.EllipticCurvePublicKey) or not isinstance(
            key.curve, cec.SECP256R1
        ):
            raise InvalidKeyMaterial("not an ECDSA P-256 public key (SubjectPublicKeyInfo PEM)")
        if not _canonical_der(signature):
            return False
        try:
            key.verify(signature, message, self._SCHEME)
        except InvalidSignature:
            return False
        return True


# --- authenticated encryption ------------------------------------------------------------


def _new_nonce() -> bytes:
    return os.urandom(NONCE_BYTES)


def _split(blob: bytes) -> tuple[bytes, bytes, bytes]:
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise DecryptionFailed("the ciphertext does not authenticate")
    return blob[:NONCE_BYTES], blob[NONCE_BYTES:-TAG_BYTES], blob[-TAG_BYTES:]


def _check_key(key: bytes, spec: Algorithm) -> None:
    if not isinstance(key, bytes) or len(key) != spec.key_bytes:
        raise InvalidKeyMaterial(f"an {spec.name} key is {spec.key_bytes} bytes")


class _Sm4Gcm:
    _SPEC = ALGORITHMS["sm4-gcm"]

    def generate(self) -> bytes:
        return os.urandom(self._SPEC.key_bytes)

    def encrypt(self, key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
        _check_key(key, self._SPEC)
        nonce = _new_nonce()
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(associated_data)
        body = enc.update(plaintext) + enc.finalize()
        return nonce + body + enc.tag

    def decrypt(self, key: bytes, blob: bytes, *, associated_data: bytes) -> bytes:
        _check_key(key, self._SPEC)
        nonce, body, tag = _split(blob)
        dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
        dec.authenticate_additional_data(associated_data)
        try:
            return dec.update(body) + dec.finalize()
        except InvalidTag:
            raise DecryptionFailed("the ciphertext does not authenticate") from None


class _Aes256Gcm:
    _SPEC = ALGORITHMS["aes-256-gcm"]

    def generate(self) -> bytes:
        return os.urandom(self._SPEC.key_bytes)

    def encrypt(self, key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
        _check_key(key, self._SPEC)
        nonce = _new_nonce()
        return nonce + AESGCM(key).encrypt(nonce, plaintext, associated_data)

    def decrypt(self, key: bytes, blob: bytes, *, associated_data: bytes) -> bytes:
        _check_key(key, self._SPEC)
        nonce, body, tag = _split(blob)
        try:
            return AESGCM(key).decrypt(nonce, body + tag, associated_data)
        except InvalidTag:
            raise DecryptionFailed("the ciphertext does not authenticate") from None


# --- message authentication --------------------------------------------------------------


class _Hmac:
    def __init__(self, spec: Algorithm, digest: type[hashes.SM3] | type[hashes.SHA256]) -> None:
        self._spec = spec
        self._digest = digest

    def generate(self) -> bytes:
        return os.urandom(self._spec.key_bytes)

    def _hmac(self, key: bytes) -> hmac.HMAC:
        if not isinstance(key, bytes) or len(key) < MIN_MAC_KEY_BYTES:
            raise InvalidKeyMaterial(
                f"an {self._spec.name} key is at least {MIN_MAC_KEY_BYTES} bytes"
            )
        return hmac.HMAC(key, self._digest())

    def mac(self, key: bytes, message: bytes) -> bytes:
        h = self._hmac(key)
        h.update(message)
        return h.finalize()

    def verify(self, key: bytes, message: bytes, *, tag: bytes) -> bool:
        h = self._hmac(key)
        h.update(message)
        try:
            h.verify(tag)  # constant time
        except InvalidSignature:
            return False
        return True


_SIGNING: dict[str, SigningScheme] = {
    "sm2": _Sm2(),
    "ed25519": _Ed25519(),
    "ecdsa-p256": _EcdsaP256(),
}
_AEAD: dict[str, AeadScheme] = {"sm4-gcm": _Sm4Gcm(), "aes-256-gcm": _Aes256Gcm()}
_MAC: dict[str, MacScheme] = {
    "hmac-sm3": _Hmac(ALGORITHMS["hmac-sm3"], hashes.SM3),
    "hmac-sha256": _Hmac(ALGORITHMS["hmac-sha256"], hashes.SHA256),
}


def signing_scheme(name: str) -> SigningScheme:
    return _SIGNING[require(name, "sign").name]


def aead_scheme(name: str) -> AeadScheme:
    return _AEAD[require(name, "encrypt").name]


def mac_scheme(name: str) -> MacScheme:
    return _MAC[require(name, "mac").name]


# --- the module's functions: dispatch by algorithm name --------------------------------------


def generate(name: str) -> bytes:
    """Fresh key material for `name`: PKCS#8 DER (signing) or raw bytes (encrypt, mac)."""
    spec = algorithm(name)
    if spec.purpose == "sign":
        return _SIGNING[spec.name].generate()
    if spec.purpose == "encrypt":
        return _AEAD[spec.name].generate()
    return _MAC[spec.name].generate()


def public_key_pem(name: str, private_material: bytes) -> bytes:
    """The SubjectPublicKeyInfo PEM of a signing key."""
    return signing_scheme(name).public_key_pem(private_material)


def sign(name: str, private_material: bytes, message: bytes) -> bytes:
    return signing_scheme(name).sign(private_material, message)


def verify(name: str, public_pem: bytes, message: bytes, *, signature: bytes) -> bool:
    """True when `signature` is valid; False for any bad signature (never raises for one).
    Raises `InvalidKeyMaterial` when `public_pem` is not a public key of `name`."""
    return signing_scheme(name).verify(public_pem, message, signature=signature)


def encrypt(name: str, key: bytes, plaintext: bytes, *, associated_data: bytes) -> bytes:
    """`nonce (12) ‖ ciphertext ‖ tag (16)`, with `associated_data` authenticated, not stored."""
    return aead_scheme(name).encrypt(key, plaintext, associated_data=associated_data)


def decrypt(name: str, key: bytes, blob: bytes, *, associated_data: bytes) -> bytes:
    """The plaintext, or `DecryptionFailed`."""
    return aead_scheme(name).decrypt(key, blob, associated_data=associated_data)


def mac(name: str, key: bytes, message: bytes) -> bytes:
    return mac_scheme(name).mac(key, message)


def mac_verify(name: str, key: bytes, message: bytes, *, tag: bytes) -> bool:
    """Constant-time comparison of `tag` with the MAC of `message`."""
    return mac_scheme(name).verify(key, message, tag=tag)


def sm3(data: bytes) -> bytes:
    """The SM3 digest (GB/T 32905) of `data`: 32 bytes."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()
