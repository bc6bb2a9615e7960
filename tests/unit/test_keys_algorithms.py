"""The keys service's algorithms: standard test vectors (RFC 8998 SM4-GCM, GB/T 32905 SM3,
RFC 4231 HMAC-SHA256), SM2 signatures that cross-verify with an independent implementation
(`gmssl`, pure Python) in both directions, round trips for every algorithm, and tampering,
other associated data, other keys and wrong purposes all refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec as cec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from gmssl import func as gmssl_func
from gmssl import sm2 as gmssl_sm2
from gmssl import sm3 as gmssl_sm3
from hypothesis import given, settings
from hypothesis import strategies as st
from tongsuopy.crypto import serialization as tongsuo_serialization
from tongsuopy.crypto.asymciphers import ec as tongsuo_ec

from runtime import algorithms
from runtime.algorithms import (
    ALGORITHMS,
    DEFAULT_ALGORITHM,
    AlgorithmError,
    DecryptionFailed,
    InvalidKeyMaterial,
    UnknownAlgorithm,
    WrongPurpose,
)

SIGN = [a for a, spec in ALGORITHMS.items() if spec.purpose == "sign"]
ENCRYPT = [a for a, spec in ALGORITHMS.items() if spec.purpose == "encrypt"]
MAC = [a for a, spec in ALGORITHMS.items() if spec.purpose == "mac"]
AD = b"smartcity/keys/test/key-1/v1"

# RFC 8998 Appendix A.1 (SM4-GCM).
RFC8998_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
RFC8998_IV = bytes.fromhex("00001234567800000000ABCD")
RFC8998_AAD = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
RFC8998_PLAINTEXT = bytes.fromhex(
    "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB"
    "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
    "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFF"
    "EEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
)
RFC8998_CIPHERTEXT = bytes.fromhex(
    "17F399F08C67D5EE19D0DC9969C4BB7D"
    "5FD46FD3756489069157B282BB200735"
    "D82710CA5C22F0CCFA7CBF93D496AC15"
    "A56834CBCF98C397B4024A2691233B8D"
)
RFC8998_TAG = bytes.fromhex("83DE3541E4C2B58177E065A9BF7B62EC")

SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


def _flip(data: bytes, index: int) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= 0x01
    return bytes(out)


# --- the table -----------------------------------------------------------------------------


def test_every_purpose_has_a_national_default_and_an_international_alternative() -> None:
    for purpose in algorithms.PURPOSES:
        default = ALGORITHMS[DEFAULT_ALGORITHM[purpose]]
        assert default.purpose == purpose
        assert default.national
        assert any(not spec.national and spec.purpose == purpose for spec in ALGORITHMS.values())


def test_the_table_names_each_algorithm_by_its_api_name() -> None:
    assert set(ALGORITHMS) == {
        "sm2",
        "ed25519",
        "ecdsa-p256",
        "sm4-gcm",
        "aes-256-gcm",
        "hmac-sm3",
        "hmac-sha256",
    }
    assert all(name == spec.name for name, spec in ALGORITHMS.items())
    assert ALGORITHMS["sm4-gcm"].key_bytes == 16
    assert ALGORITHMS["aes-256-gcm"].key_bytes == 32


# --- standard test vectors -----------------------------------------------------------------


def test_sm4_gcm_decrypts_the_rfc_8998_test_vector() -> None:
    blob = RFC8998_IV + RFC8998_CIPHERTEXT + RFC8998_TAG
    assert (
        algorithms.decrypt("sm4-gcm", RFC8998_KEY, blob, associated_data=RFC8998_AAD)
        == RFC8998_PLAINTEXT
    )


def test_sm4_gcm_encrypts_to_the_rfc_8998_test_vector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(algorithms, "_new_nonce", lambda: RFC8998_IV)
    blob = algorithms.encrypt(
        "sm4-gcm", RFC8998_KEY, RFC8998_PLAINTEXT, associated_data=RFC8998_AAD
    )
    assert blob == RFC8998_IV + RFC8998_CIPHERTEXT + RFC8998_TAG


def test_sm4_gcm_refuses_the_rfc_8998_vector_with_a_flipped_tag_bit() -> None:
    blob = RFC8998_IV + RFC8998_CIPHERTEXT + _flip(RFC8998_TAG, 15)
    with pytest.raises(DecryptionFailed):
        algorithms.decrypt("sm4-gcm", RFC8998_KEY, blob, associated_data=RFC8998_AAD)


def test_sm3_matches_the_gb_t_32905_test_vectors() -> None:
    assert (
        algorithms.sm3(b"abc").hex()
        == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert (
        algorithms.sm3(b"abcd" * 16).hex()
        == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def _gmssl_sm3(data: bytes) -> bytes:
    return bytes.fromhex(gmssl_sm3.sm3_hash(list(data)))


@pytest.mark.parametrize("key_length", [16, 32, 64, 100])
def test_hmac_sm3_equals_rfc_2104_built_on_an_independent_sm3(key_length: int) -> None:
    key = bytes(range(key_length))
    message = b"licence 460100-2025-000123 issued"
    block = (_gmssl_sm3(key) if len(key) > 64 else key).ljust(64, b"\0")
    inner = _gmssl_sm3(bytes(b ^ 0x36 for b in block) + message)
    expected = _gmssl_sm3(bytes(b ^ 0x5C for b in block) + inner)
    assert algorithms.mac("hmac-sm3", key, message) == expected


def test_hmac_sha256_matches_rfc_4231_test_case_1() -> None:
    tag = algorithms.mac("hmac-sha256", b"\x0b" * 20, b"Hi There")
    assert tag.hex() == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"


# --- SM2 against an independent implementation (gmssl) -----------------------------------


def _sm2_numbers(material: bytes) -> tuple[str, str]:
    """(private scalar hex, public point x||y hex) of our PKCS#8 SM2 key, in gmssl's format."""
    key = tongsuo_serialization.load_der_private_key(material, None)
    numbers = key.private_numbers()
    point = numbers.public_numbers
    return f"{numbers.private_value:064x}", f"{point.x:064x}{point.y:064x}"


def _gmssl(material: bytes) -> gmssl_sm2.CryptSM2:
    private_hex, public_hex = _sm2_numbers(material)
    signer = gmssl_sm2.CryptSM2(private_key=private_hex, public_key=public_hex)
    # gmssl's constructor strips a leading "04" with str.lstrip("04"), which also eats leading
    # 0 and 4 digits of x: set the 128-digit x||y it expects directly.
    signer.public_key = public_hex
    return signer


MESSAGES = [b"", b"abc", b"message digest", "海口市电子证照".encode(), bytes(range(256)) * 4]


@pytest.mark.parametrize("message", MESSAGES)
def test_sm2_signatures_verify_with_gmssl(message: bytes) -> None:
    material = algorithms.generate("sm2")
    signature = algorithms.sign("sm2", material, message)
    r, s = decode_dss_signature(signature)
    assert _gmssl(material).verify_with_sm3(f"{r:064x}{s:064x}", message)
    assert not _gmssl(material).verify_with_sm3(f"{r:064x}{s:064x}", message + b"!")


@pytest.mark.parametrize("message", MESSAGES)
def test_gmssl_sm2_signatures_verify_with_ours(message: bytes) -> None:
    material = algorithms.generate("sm2")
    raw = _gmssl(material).sign_with_sm3(message, gmssl_func.random_hex(64))
    signature = encode_dss_signature(int(raw[:64], 16), int(raw[64:], 16))
    public_pem = algorithms.public_key_pem("sm2", material)
    assert algorithms.verify("sm2", public_pem, message, signature=signature)
    assert not algorithms.verify("sm2", public_pem, message + b"!", signature=signature)


def test_sm2_public_key_from_a_scalar_matches_gmssl_point_multiplication() -> None:
    scalar = int.from_bytes(algorithms.sm3(b"a fixed test scalar"), "big") % SM2_N
    key = tongsuo_ec.derive_private_key(scalar, tongsuo_ec.SM2())
    material = key.private_bytes(
        tongsuo_serialization.Encoding.DER,
        tongsuo_serialization.PrivateFormat.PKCS8,
        tongsuo_serialization.NoEncryption(),
    )
    reference = gmssl_sm2.CryptSM2(private_key=f"{scalar:064x}", public_key="")
    assert _sm2_numbers(material)[1] == reference._kg(scalar, reference.ecc_table["g"])


def test_sm2_signature_by_gmssl_with_a_fixed_nonce_verifies() -> None:
    material = algorithms.generate("sm2")
    raw = _gmssl(material).sign_with_sm3(b"abc", "1" * 64)
    signature = encode_dss_signature(int(raw[:64], 16), int(raw[64:], 16))
    public_pem = algorithms.public_key_pem("sm2", material)
    assert algorithms.verify("sm2", public_pem, b"abc", signature=signature)


def test_sm2_keys_are_pkcs8_der_on_the_sm2_curve_and_public_keys_spki_pem() -> None:
    material = algorithms.generate("sm2")
    assert material[:1] == b"\x30"
    assert bytes.fromhex("06082a811ccf5501822d") in material  # OID 1.2.156.10197.1.301
    pem = algorithms.public_key_pem("sm2", material)
    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", SIGN)
def test_signatures_round_trip(name: str) -> None:
    material = algorithms.generate(name)
    public_pem = algorithms.public_key_pem(name, material)
    signature = algorithms.sign(name, material, b"licence 42")
    assert algorithms.verify(name, public_pem, b"licence 42", signature=signature)
    assert not algorithms.verify(name, public_pem, b"licence 43", signature=signature)


@pytest.mark.parametrize("name", ENCRYPT)
def test_encryption_round_trips(name: str) -> None:
    key = algorithms.generate(name)
    assert len(key) == ALGORITHMS[name].key_bytes
    blob = algorithms.encrypt(name, key, b"secret", associated_data=AD)
    assert len(blob) == 12 + len(b"secret") + 16
    assert algorithms.decrypt(name, key, blob, associated_data=AD) == b"secret"


@pytest.mark.parametrize("name", ENCRYPT)
def test_two_encryptions_of_one_plaintext_differ(name: str) -> None:
    key = algorithms.generate(name)
    first = algorithms.encrypt(name, key, b"same", associated_data=AD)
    assert first != algorithms.encrypt(name, key, b"same", associated_data=AD)


@pytest.mark.parametrize("name", MAC)
def test_macs_round_trip(name: str) -> None:
    key = algorithms.generate(name)
    tag = algorithms.mac(name, key, b"audit record 7")
    assert len(tag) == 32
    assert algorithms.mac_verify(name, key, b"audit record 7", tag=tag)
    assert not algorithms.mac_verify(name, key, b"audit record 8", tag=tag)


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_generate_gives_fresh_material_each_time(name: str) -> None:
    assert algorithms.generate(name) != algorithms.generate(name)


def test_international_signing_keys_are_standard_pkcs8() -> None:
    ed = serialization.load_der_private_key(algorithms.generate("ed25519"), password=None)
    assert isinstance(ed, ed25519.Ed25519PrivateKey)
    p256 = serialization.load_der_private_key(algorithms.generate("ecdsa-p256"), password=None)
    assert isinstance(p256, cec.EllipticCurvePrivateKey)
    assert isinstance(p256.curve, cec.SECP256R1)


@settings(max_examples=50, deadline=None)
@given(
    name=st.sampled_from(ENCRYPT),
    plaintext=st.binary(max_size=2048),
    associated_data=st.binary(max_size=256),
)
def test_decrypt_inverts_encrypt_for_any_plaintext_and_associated_data(
    name: str, plaintext: bytes, associated_data: bytes
) -> None:
    key = algorithms.generate(name)
    blob = algorithms.encrypt(name, key, plaintext, associated_data=associated_data)
    assert algorithms.decrypt(name, key, blob, associated_data=associated_data) == plaintext


@settings(max_examples=50, deadline=None)
@given(
    name=st.sampled_from(ENCRYPT),
    plaintext=st.binary(max_size=512),
    index=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_any_flipped_bit_of_a_ciphertext_is_detected(
    name: str, plaintext: bytes, index: int, bit: int
) -> None:
    key = algorithms.generate(name)
    blob = bytearray(algorithms.encrypt(name, key, plaintext, associated_data=AD))
    blob[index % len(blob)] ^= 1 << bit
    with pytest.raises(DecryptionFailed):
        algorithms.decrypt(name, key, bytes(blob), associated_data=AD)


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENCRYPT)
@pytest.mark.parametrize("where", ["nonce", "ciphertext", "tag"])
def test_a_tampered_ciphertext_does_not_decrypt(name: str, where: str) -> None:
    key = algorithms.generate(name)
    blob = algorithms.encrypt(name, key, b"0123456789", associated_data=AD)
    index = {"nonce": 0, "ciphertext": 12, "tag": -1}[where]
    with pytest.raises(DecryptionFailed):
        algorithms.decrypt(name, key, _flip(blob, index), associated_data=AD)


@pytest.mark.parametrize("name", ENCRYPT)
def test_a_ciphertext_does_not_decrypt_with_other_associated_data(name: str) -> None:
    key = algorithms.generate(name)
    blob = algorithms.encrypt(name, key, b"secret", associated_data=AD)
    for other in (b"", AD + b"x", AD[:-1], b"smartcity/keys/test/key-2/v1"):
        with pytest.raises(DecryptionFailed):
            algorithms.decrypt(name, key, blob, associated_data=other)


@pytest.mark.parametrize("name", ENCRYPT)
def test_a_ciphertext_does_not_decrypt_under_another_key(name: str) -> None:
    blob = algorithms.encrypt(name, algorithms.generate(name), b"secret", associated_data=AD)
    with pytest.raises(DecryptionFailed):
        algorithms.decrypt(name, algorithms.generate(name), blob, associated_data=AD)


@pytest.mark.parametrize("name", ENCRYPT)
@pytest.mark.parametrize("blob", [b"", b"\0" * 27, b"\0" * 28])
def test_a_truncated_ciphertext_does_not_decrypt(name: str, blob: bytes) -> None:
    with pytest.raises(DecryptionFailed):
        algorithms.decrypt(name, algorithms.generate(name), blob, associated_data=AD)


@pytest.mark.parametrize("name", SIGN)
def test_a_tampered_signature_does_not_verify(name: str) -> None:
    material = algorithms.generate(name)
    public_pem = algorithms.public_key_pem(name, material)
    signature = algorithms.sign(name, material, b"licence 42")
    for index in (0, 1, len(signature) // 2, -1):
        tampered = _flip(signature, index)
        assert not algorithms.verify(name, public_pem, b"licence 42", signature=tampered)
    for broken in (b"", signature[:-1], signature + b"\0", b"\x30\x00", b"\xff" * 72):
        assert not algorithms.verify(name, public_pem, b"licence 42", signature=broken)


@pytest.mark.parametrize("name", SIGN)
def test_a_signature_does_not_verify_under_another_key(name: str) -> None:
    signature = algorithms.sign(name, algorithms.generate(name), b"m")
    other_pem = algorithms.public_key_pem(name, algorithms.generate(name))
    assert not algorithms.verify(name, other_pem, b"m", signature=signature)


@pytest.mark.parametrize("name", ["sm2", "ecdsa-p256"])
def test_a_non_canonical_der_signature_does_not_verify(name: str) -> None:
    material = algorithms.generate(name)
    public_pem = algorithms.public_key_pem(name, material)
    signature = algorithms.sign(name, material, b"m")
    # The same (r, s) with a long-form length byte: valid BER, not DER.
    body = signature[2:]
    assert len(body) < 128
    long_form = b"\x30\x81" + bytes([len(body)]) + body
    assert not algorithms.verify(name, public_pem, b"m", signature=long_form)


_PUBLIC_PEMS = {name: algorithms.public_key_pem(name, algorithms.generate(name)) for name in SIGN}


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(SIGN), signature=st.binary(max_size=128))
def test_verify_returns_false_and_never_raises_for_arbitrary_signature_bytes(
    name: str, signature: bytes
) -> None:
    assert not algorithms.verify(name, _PUBLIC_PEMS[name], b"m", signature=signature)


@pytest.mark.parametrize("name", MAC)
def test_a_tampered_mac_does_not_verify(name: str) -> None:
    key = algorithms.generate(name)
    tag = algorithms.mac(name, key, b"m")
    for tampered in (_flip(tag, 0), _flip(tag, -1), tag[:-1], tag + b"\0", b""):
        assert not algorithms.mac_verify(name, key, b"m", tag=tampered)
    assert not algorithms.mac_verify(name, algorithms.generate(name), b"m", tag=tag)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda n: algorithms.sign(n, b"k", b"m"), "sm4-gcm"),
        (lambda n: algorithms.sign(n, b"k", b"m"), "hmac-sm3"),
        (lambda n: algorithms.verify(n, b"pem", b"m", signature=b"s"), "hmac-sha256"),
        (lambda n: algorithms.public_key_pem(n, b"k"), "aes-256-gcm"),
        (lambda n: algorithms.encrypt(n, b"k", b"p", associated_data=b""), "sm2"),
        (lambda n: algorithms.decrypt(n, b"k", b"c", associated_data=b""), "hmac-sm3"),
        (lambda n: algorithms.mac(n, b"k", b"m"), "sm4-gcm"),
        (lambda n: algorithms.mac_verify(n, b"k", b"m", tag=b"t"), "ed25519"),
    ],
)
def test_an_algorithm_used_for_another_purpose_raises_wrong_purpose(
    call: Callable[[str], object], name: str
) -> None:
    with pytest.raises(WrongPurpose, match="is for"):
        call(name)


@pytest.mark.parametrize("name", ["sm1", "SM2", "aes-128-gcm", "", "rsa-2048"])
def test_an_unknown_algorithm_raises_unknown_algorithm(name: str) -> None:
    with pytest.raises(UnknownAlgorithm, match="unknown algorithm"):
        algorithms.generate(name)
    with pytest.raises(UnknownAlgorithm):
        algorithms.sign(name, b"k", b"m")


def test_algorithm_errors_are_value_errors() -> None:
    for error in (UnknownAlgorithm, WrongPurpose, InvalidKeyMaterial, DecryptionFailed):
        assert issubclass(error, AlgorithmError)
        assert issubclass(error, ValueError)


@pytest.mark.parametrize(
    ("name", "other"),
    [("sm2", "ed25519"), ("sm2", "ecdsa-p256"), ("ed25519", "sm2"), ("ecdsa-p256", "sm2")],
)
def test_key_material_of_another_signing_algorithm_is_refused(name: str, other: str) -> None:
    material = algorithms.generate(other)
    public_pem = algorithms.public_key_pem(other, material)
    with pytest.raises(InvalidKeyMaterial):
        algorithms.sign(name, material, b"m")
    with pytest.raises(InvalidKeyMaterial):
        algorithms.public_key_pem(name, material)
    with pytest.raises(InvalidKeyMaterial):
        algorithms.verify(name, public_pem, b"m", signature=b"\x30\x06\x02\x01\x01\x02\x01\x01")


@pytest.mark.parametrize("name", ENCRYPT)
def test_a_symmetric_key_of_the_wrong_size_is_refused(name: str) -> None:
    for key in (b"", b"\0" * 15, b"\0" * 24, b"\0" * 33):
        if len(key) == ALGORITHMS[name].key_bytes:
            continue
        with pytest.raises(InvalidKeyMaterial):
            algorithms.encrypt(name, key, b"p", associated_data=AD)


@pytest.mark.parametrize("name", MAC)
def test_a_mac_key_shorter_than_128_bits_is_refused(name: str) -> None:
    with pytest.raises(InvalidKeyMaterial):
        algorithms.mac(name, b"\0" * 15, b"m")


def test_error_messages_never_contain_key_material() -> None:
    secrets = {
        "sm2": algorithms.generate("sm2"),
        "sm4-gcm": algorithms.generate("sm4-gcm"),
        "aes-256-gcm": algorithms.generate("aes-256-gcm"),
    }
    calls: list[Callable[[], object]] = [
        lambda: algorithms.sign("ed25519", secrets["sm2"], b"m"),
        lambda: algorithms.sign("sm4-gcm", secrets["sm2"], b"m"),
        lambda: algorithms.encrypt("aes-256-gcm", secrets["sm4-gcm"], b"p", associated_data=AD),
        lambda: algorithms.decrypt("sm4-gcm", secrets["sm4-gcm"], b"\0" * 40, associated_data=AD),
        lambda: algorithms.mac("hmac-sm3", secrets["sm4-gcm"][:8], b"m"),
    ]
    raised: list[Exception] = []
    for call in calls:
        with pytest.raises(AlgorithmError) as caught:
            call()
        raised.append(caught.value)
    for error in raised:
        text = str(error) + repr(error.args)
        assert error.__cause__ is None
        for secret in secrets.values():
            assert secret.hex() not in text.lower()
            assert repr(secret) not in text
