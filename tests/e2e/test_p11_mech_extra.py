# SPDX-License-Identifier: Apache-2.0
"""The mechanisms libopenhsm-pkcs11.so lists that test_p11_mech.py does not check against an
outside implementation: Triple DES (CKM_DES3_KEY_GEN, _ECB, _CBC, _CBC_PAD), RFC 5649 key wrap
under both of its numbers (CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP), CKM_RSA_AES_KEY_WRAP
(PKCS#11 v2.40 §2.1.21: an ephemeral AES key under RSA-OAEP, then the payload under that key with
RFC 5649) and CKM_RSA_X9_31_KEY_PAIR_GEN.

Each is used through PyKCS11 as an application would and its result checked with OpenSSL outside
(the `cryptography` package, the openssl command): ciphertexts equal OpenSSL's, wrapped keys
unwrap outside to the key that went in (a private key as PKCS#8) and keys wrapped outside unwrap
inside, under OAEP with SHA-1/256/512 and a label, signatures of generated keys verify. The
block modes' multi-part calls (C_*Update / C_*Final) give what the single-part calls give. One bad
input per mechanism gets its exact CKR and changes nothing: no object appears, the key still
works, and the session takes the next operation."""
import ctypes
import os
import subprocess
import warnings

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_KEY_TYPE,
                     CKA_LABEL, CKA_LOCAL, CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT,
                     CKA_SENSITIVE, CKA_SIGN, CKA_TOKEN, CKA_UNWRAP, CKA_VALUE, CKA_VALUE_LEN,
                     CKA_VERIFY, CKA_WRAP, CKK_AES, CKK_DES3, CKK_GENERIC_SECRET, CKK_RSA,
                     CKO_PUBLIC_KEY, CKO_SECRET_KEY, Mechanism, ckbytelist)
import pytest
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import (Encoding, PublicFormat,
                                                          load_der_private_key)

from p11lib import p11, p11cluster, raises_ckr  # noqa: F401 (fixtures)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # TripleDES moves to `decrepit` in later releases
    TDES = algorithms.TripleDES

DES3_MODES = ("ECB", "CBC", "CBC_PAD")
WANTED = ("CKM_DES3_KEY_GEN", "CKM_DES3_ECB", "CKM_DES3_CBC", "CKM_DES3_CBC_PAD",
          "CKM_RSA_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP_KWP",
          "CKM_RSA_X9_31_KEY_PAIR_GEN")
KWP_IV = bytes.fromhex("a65959a6")  # RFC 5649's alternative initial value


def b(x):
    return bytes(x)


def listed(p11):
    """The names of the mechanisms C_GetMechanismList gives."""
    return set(p11.lib.getMechanismList(p11.slot))


def need(p11, name):
    """Every mechanism this file checks must be listed; a test of an unlisted one would check
    nothing, so it fails rather than skips."""
    assert name in listed(p11), (name, sorted(listed(p11)))


def count(s):
    """How many objects the session sees (session and token objects)."""
    return len(s.findObjects())


def odd_parity(key):
    """Sets DES's parity bit of every byte (the low bit makes the byte's weight odd)."""
    return bytes((x & 0xFE) | (1 - bin(x >> 1).count("1") % 2) for x in key)


def des3_value():
    while True:
        k = odd_parity(os.urandom(24))
        if k[:8] != k[8:16] and k[8:16] != k[16:]:  # three distinct DES keys
            return k


def secret(s, ktype, value, label, **flags):
    t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, ktype), (CKA_VALUE, value),
         (CKA_LABEL, label), (CKA_TOKEN, False)]
    t += [(getattr(PyKCS11, "CKA_" + k.upper()), v) for k, v in flags.items()]
    return s.createObject(t)


def outside(mode, key, iv, data, encrypt=True):
    """Triple DES in OpenSSL; CBC_PAD is CBC with PKCS#7 padding to 8 bytes."""
    m = modes.ECB() if mode == "ECB" else modes.CBC(iv)
    c = Cipher(TDES(key), m)
    if encrypt:
        if mode == "CBC_PAD":
            n = 8 - len(data) % 8
            data = data + bytes([n]) * n
        e = c.encryptor()
        return e.update(data) + e.finalize()
    d = c.decryptor()
    out = d.update(data) + d.finalize()
    return out[:-out[-1]] if mode == "CBC_PAD" else out


def des3_mech(mode, iv):
    return Mechanism(getattr(PyKCS11, "CKM_DES3_" + mode), None if mode == "ECB" else iv)


def check(rv):
    if rv != PyKCS11.CKR_OK:
        raise PyKCS11.PyKCS11Error(rv)


def multipart(s, key, mech, data, chunks, encrypt=True):
    """C_EncryptInit/C_DecryptInit, one C_*Update per chunk size, then C_*Final; the output of
    every call joined. Each output buffer is a block larger than its input could need."""
    lib = s.lib
    init, update, final = ((lib.C_EncryptInit, lib.C_EncryptUpdate, lib.C_EncryptFinal)
                           if encrypt else
                           (lib.C_DecryptInit, lib.C_DecryptUpdate, lib.C_DecryptFinal))
    check(init(s.session, mech.to_native(), key))
    out, pos = b"", 0
    for n in chunks:
        buf = ckbytelist(bytes(n + 16))
        check(update(s.session, ckbytelist(data[pos:pos + n]), buf))
        out += b(buf)
        pos += n
    assert pos == len(data), (pos, len(data))
    buf = ckbytelist(bytes(16))
    check(final(s.session, buf))
    return out + b(buf)


# ---- CK_RSA_AES_KEY_WRAP_PARAMS (PyKCS11 has no class for it) ----

class _Oaep(ctypes.Structure):
    _fields_ = [("hashAlg", ctypes.c_ulong), ("mgf", ctypes.c_ulong), ("source", ctypes.c_ulong),
                ("pSourceData", ctypes.c_void_p), ("ulSourceDataLen", ctypes.c_ulong)]


class _RsaAes(ctypes.Structure):
    _fields_ = [("ulAESKeyBits", ctypes.c_ulong), ("pOAEPParams", ctypes.POINTER(_Oaep))]


HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
          "sha512": hashes.SHA512}


class RsaAesMechanism(Mechanism):
    """CKM_RSA_AES_KEY_WRAP with OAEP over one hash (hash and MGF1) and an optional label. The
    parameter holds pointers to the OAEP parameters and the label, which this object keeps
    alive."""

    def __init__(self, aes_bits=256, hname="sha256", label=b""):
        hash_alg = getattr(PyKCS11, "CKM_SHA_1" if hname == "sha1" else "CKM_" + hname.upper())
        mgf = getattr(PyKCS11, "CKG_MGF1_" + hname.upper())
        self._label = ctypes.create_string_buffer(label, max(len(label), 1))
        data = ctypes.cast(self._label, ctypes.c_void_p) if label else None
        self._oaep = _Oaep(hash_alg, mgf, PyKCS11.CKZ_DATA_SPECIFIED, data, len(label))
        prm = _RsaAes(aes_bits, ctypes.pointer(self._oaep))
        super().__init__(PyKCS11.CKM_RSA_AES_KEY_WRAP, ctypes.string_at(ctypes.addressof(prm),
                                                                        ctypes.sizeof(prm)))


def oaep(hname="sha256", label=b""):
    h = HASHES[hname]
    return padding.OAEP(padding.MGF1(h()), h(), label or None)


def rsa_aes_unwrap_outside(priv, blob, hname="sha256", label=b""):
    n = priv.key_size // 8
    aes = priv.decrypt(blob[:n], oaep(hname, label))
    assert len(aes) == 32, len(aes)  # ulAESKeyBits 256
    return keywrap.aes_key_unwrap_with_padding(aes, blob[n:])


def rsa_aes_wrap_outside(pub, material, hname="sha256", label=b""):
    aes = os.urandom(32)
    return pub.encrypt(aes, oaep(hname, label)) + keywrap.aes_key_wrap_with_padding(aes, material)


def rsa_public(s, pubh):
    mod, exp = s.getAttributeValue(pubh, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
    return rsa.RSAPublicNumbers(int.from_bytes(b(exp), "big"),
                                int.from_bytes(b(mod), "big")).public_key()


def aes_ecb_matches(s, h, value):
    """The key behind h encrypts a block as AES with `value` does outside."""
    block = os.urandom(16)
    ct = b(s.encrypt(h, block, Mechanism(PyKCS11.CKM_AES_ECB)))
    e = Cipher(algorithms.AES(value), modes.ECB()).encryptor()
    assert ct == e.update(block) + e.finalize()


# ---- the list ----

def test_the_extra_mechanisms_are_listed_with_their_sizes(p11):
    mechs = listed(p11)
    for m in WANTED:
        assert m in mechs, (m, sorted(mechs))
    info = {m: p11.lib.getMechanismInfo(p11.slot, m) for m in WANTED}
    for m in ("CKM_DES3_ECB", "CKM_DES3_CBC", "CKM_DES3_CBC_PAD"):
        assert (info[m].ulMinKeySize, info[m].ulMaxKeySize) == (24, 24), m
        assert info[m].flags & PyKCS11.CKF_ENCRYPT and info[m].flags & PyKCS11.CKF_DECRYPT, m
    assert info["CKM_DES3_KEY_GEN"].flags & PyKCS11.CKF_GENERATE
    for m in ("CKM_RSA_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP_KWP"):
        assert info[m].flags & PyKCS11.CKF_WRAP and info[m].flags & PyKCS11.CKF_UNWRAP, m
    x931 = info["CKM_RSA_X9_31_KEY_PAIR_GEN"]
    assert x931.flags & PyKCS11.CKF_GENERATE_KEY_PAIR
    assert (x931.ulMinKeySize, x931.ulMaxKeySize) == (2048, 4096)


# ---- Triple DES ----

def test_des3_key_gen_makes_an_odd_parity_key_openssl_agrees_with(p11):
    need(p11, "CKM_DES3_KEY_GEN")
    s = p11.session()
    h = s.generateKey([(CKA_LABEL, "des3-gen"), (CKA_TOKEN, False), (CKA_ENCRYPT, True),
                       (CKA_DECRYPT, True), (CKA_SENSITIVE, False), (CKA_EXTRACTABLE, True)],
                      Mechanism(PyKCS11.CKM_DES3_KEY_GEN))
    kt, local, sens = s.getAttributeValue(h, [CKA_KEY_TYPE, CKA_LOCAL, CKA_SENSITIVE])
    assert (kt, local, sens) == (CKK_DES3, True, False)
    # The HSM never gives CKA_VALUE in clear; the value leaves wrapped under a KEK the test
    # knows (allowed for a key made non-sensitive), and RFC 5649 opens it outside.
    kek = os.urandom(32)
    w = secret(s, CKK_AES, kek, "des3-kek", wrap=True)
    value = keywrap.aes_key_unwrap_with_padding(
        kek, b(s.wrapKey(w, h, Mechanism(PyKCS11.CKM_AES_KEY_WRAP_PAD))))
    assert len(value) == 24
    assert value == odd_parity(value), value.hex()  # PKCS#11 v2.40 §2.16.4: odd parity set
    data, iv = os.urandom(40), os.urandom(8)
    for mode in DES3_MODES:
        ct = b(s.encrypt(h, data, des3_mech(mode, iv)))
        assert ct == outside(mode, value, iv, data), mode
    # A DES3 key's size is fixed: a template naming one (two-key 3DES, 16 bytes) or another key
    # type is refused, and no key appears.
    before = count(s)
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.generateKey,
               [(CKA_LABEL, "des3-16"), (CKA_TOKEN, False), (CKA_VALUE_LEN, 16)],
               Mechanism(PyKCS11.CKM_DES3_KEY_GEN))
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.generateKey,
               [(CKA_LABEL, "des3-aes"), (CKA_TOKEN, False), (CKA_KEY_TYPE, CKK_AES)],
               Mechanism(PyKCS11.CKM_DES3_KEY_GEN))
    assert count(s) == before


@pytest.mark.parametrize("mode", DES3_MODES)
def test_des3_modes_match_openssl_single_and_multi_part(p11, mode):
    need(p11, "CKM_DES3_" + mode)
    s = p11.session()
    key = des3_value()
    h = secret(s, CKK_DES3, key, "des3-" + mode, encrypt=True, decrypt=True)
    iv = os.urandom(8)
    data = os.urandom(61 if mode == "CBC_PAD" else 64)
    mech = des3_mech(mode, iv)
    ct = b(s.encrypt(h, data, mech))
    assert ct == outside(mode, key, iv, data)
    assert b(s.decrypt(h, ct, mech)) == data
    # Made outside, opened inside.
    theirs = outside(mode, key, iv, data[::-1])
    assert b(s.decrypt(h, theirs, mech)) == data[::-1]
    # Multi-part, in pieces that cut blocks anywhere, gives what single-part gives.
    chunks = [5, 13, 8, 1, 34] if mode == "CBC_PAD" else [5, 13, 8, 1, 37]
    assert multipart(s, h, mech, data, chunks) == ct
    assert multipart(s, h, mech, ct, [3, 21, 16, 24], encrypt=False) == data


def test_des3_ecb_refuses_a_partial_block(p11):
    need(p11, "CKM_DES3_ECB")
    s = p11.session()
    key = des3_value()
    h = secret(s, CKK_DES3, key, "des3-ecb-bad", encrypt=True, decrypt=True)
    mech = des3_mech("ECB", None)
    before = count(s)
    raises_ckr(PyKCS11.CKR_DATA_LEN_RANGE, s.encrypt, h, os.urandom(12), mech)
    raises_ckr(PyKCS11.CKR_ENCRYPTED_DATA_LEN_RANGE, s.decrypt, h, os.urandom(12), mech)
    # Multi-part: the pieces are taken, C_EncryptFinal finds the partial block left over.
    check(s.lib.C_EncryptInit(s.session, mech.to_native(), h))
    for piece in (os.urandom(8), os.urandom(12)):
        out = ckbytelist(bytes(32))
        check(s.lib.C_EncryptUpdate(s.session, ckbytelist(piece), out))
    assert len(out) == 8  # the whole block of the second piece; 4 bytes held back
    assert s.lib.C_EncryptFinal(s.session, ckbytelist(bytes(16))) == PyKCS11.CKR_DATA_LEN_RANGE
    # The failed call ended its operation; the key and the session work on.
    data = os.urandom(16)
    assert b(s.encrypt(h, data, mech)) == outside("ECB", key, None, data)
    assert count(s) == before


def test_des3_cbc_refuses_a_wrong_iv_length(p11):
    need(p11, "CKM_DES3_CBC")
    s = p11.session()
    key = des3_value()
    h = secret(s, CKK_DES3, key, "des3-cbc-bad", encrypt=True, decrypt=True)
    data = os.urandom(16)
    for iv in (os.urandom(16), os.urandom(7)):  # an AES IV; one byte short
        raises_ckr(PyKCS11.CKR_MECHANISM_PARAM_INVALID, s.encrypt, h, data,
                   Mechanism(PyKCS11.CKM_DES3_CBC, iv))
    raises_ckr(PyKCS11.CKR_MECHANISM_PARAM_INVALID, s.encrypt, h, data,
               Mechanism(PyKCS11.CKM_DES3_CBC))  # no IV
    iv = os.urandom(8)
    assert b(s.encrypt(h, data, des3_mech("CBC", iv))) == outside("CBC", key, iv, data)


def test_des3_cbc_pad_refuses_bad_padding(p11):
    need(p11, "CKM_DES3_CBC_PAD")
    s = p11.session()
    key = des3_value()
    h = secret(s, CKK_DES3, key, "des3-pad-bad", encrypt=True, decrypt=True)
    iv = os.urandom(8)
    mech = des3_mech("CBC_PAD", iv)
    # A last block whose padding bytes disagree (…03 02 03 would be 03 03 03).
    e = Cipher(TDES(key), modes.CBC(iv)).encryptor()
    forged = e.update(os.urandom(8) + b"abcde\x03\x02\x03") + e.finalize()
    raises_ckr(PyKCS11.CKR_ENCRYPTED_DATA_INVALID, s.decrypt, h, forged, mech)
    raises_ckr(PyKCS11.CKR_ENCRYPTED_DATA_LEN_RANGE, s.decrypt, h, forged[:-1], mech)
    data = b"abcde"
    assert b(s.decrypt(h, outside("CBC_PAD", key, iv, data), mech)) == data


# ---- RFC 5649 under both numbers ----

@pytest.mark.parametrize("name", ["CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP_KWP"])
def test_aes_kwp_matches_rfc5649_both_ways(p11, name):
    need(p11, name)
    mtype = getattr(PyKCS11, name)
    s = p11.session()
    kek = os.urandom(32)
    w = secret(s, CKK_AES, kek, "kwp-kek", wrap=True, unwrap=True)
    # Payload lengths that need padding (20, a generic secret) and that do not (24, 3DES).
    for kt, value in ((CKK_GENERIC_SECRET, os.urandom(20)), (CKK_DES3, des3_value())):
        p = secret(s, kt, value, "kwp-payload", extractable=True, sensitive=False)
        want = keywrap.aes_key_wrap_with_padding(kek, value)
        assert b(s.wrapKey(w, p, Mechanism(mtype))) == want
        assert b(s.wrapKey(w, p, Mechanism(mtype, KWP_IV))) == want  # the default, named
    # Wrapped outside, unwrapped inside.
    value = os.urandom(32)
    blob = keywrap.aes_key_wrap_with_padding(kek, value)
    tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False),
            (CKA_LABEL, "kwp-in"), (CKA_ENCRYPT, True)]
    u = s.unwrapKey(w, blob, tmpl, Mechanism(mtype))
    aes_ecb_matches(s, u, value)
    # A tampered blob and an IV other than RFC 5649's are refused; nothing appears.
    before = count(s)
    bad = bytearray(blob)
    bad[-1] ^= 1
    raises_ckr(PyKCS11.CKR_WRAPPED_KEY_INVALID, s.unwrapKey, w, bytes(bad), tmpl,
               Mechanism(mtype))
    raises_ckr(PyKCS11.CKR_MECHANISM_PARAM_INVALID, s.unwrapKey, w, blob, tmpl,
               Mechanism(mtype, bytes.fromhex("a6a6a6a6")))
    assert count(s) == before
    aes_ecb_matches(s, s.unwrapKey(w, blob, tmpl, Mechanism(mtype)), value)


# ---- CKM_RSA_AES_KEY_WRAP ----

OAEP_CASES = [("sha1", b""), ("sha256", b""), ("sha512", b"a label")]


@pytest.mark.parametrize("hname,label", OAEP_CASES, ids=[c[0] for c in OAEP_CASES])
def test_rsa_aes_wrap_opens_outside(p11, hname, label):
    need(p11, "CKM_RSA_AES_KEY_WRAP")
    s = p11.session()
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = priv.public_key().public_numbers()
    pubh = s.createObject([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_RSA),
                           (CKA_TOKEN, False), (CKA_LABEL, "rsa-aes-pub"), (CKA_WRAP, True),
                           (CKA_MODULUS, n.n.to_bytes(256, "big")),
                           (CKA_PUBLIC_EXPONENT, n.e.to_bytes(3, "big"))])
    for kt, value in ((CKK_AES, os.urandom(32)), (CKK_DES3, des3_value()),
                      (CKK_GENERIC_SECRET, os.urandom(41))):
        p = secret(s, kt, value, "rsa-aes-payload", extractable=True, sensitive=False)
        blob = b(s.wrapKey(pubh, p, RsaAesMechanism(hname=hname, label=label)))
        pad = -len(value) % 8
        assert len(blob) == 256 + 8 + len(value) + pad, (kt, len(blob))
        assert rsa_aes_unwrap_outside(priv, blob, hname, label) == value, kt
    # Only an AES-256 ephemeral key is made: any other ulAESKeyBits is refused.
    raises_ckr(PyKCS11.CKR_MECHANISM_PARAM_INVALID, s.wrapKey, pubh, p, RsaAesMechanism(128))


def test_rsa_aes_wrapped_outside_unwraps_inside(p11):
    need(p11, "CKM_RSA_AES_KEY_WRAP")
    s = p11.session()
    pubh, privh = s.generateKeyPair(
        [(CKA_TOKEN, False), (CKA_LABEL, "rsa-aes-pair"), (CKA_MODULUS_BITS, 2048),
         (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_WRAP, True)],
        [(CKA_TOKEN, False), (CKA_LABEL, "rsa-aes-pair"), (CKA_UNWRAP, True)],
        mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
    pk = rsa_public(s, pubh)
    value = os.urandom(32)
    blob = rsa_aes_wrap_outside(pk, value)
    tmpl = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False),
            (CKA_LABEL, "rsa-aes-in"), (CKA_ENCRYPT, True)]
    # Other OAEP hashes and a label, as the wrapper outside chose them.
    for hname, label in OAEP_CASES:
        other = rsa_aes_wrap_outside(pk, value, hname, label)
        mech = RsaAesMechanism(hname=hname, label=label)
        aes_ecb_matches(s, s.unwrapKey(privh, other, tmpl, mech), value)
    aes_ecb_matches(s, s.unwrapKey(privh, blob, tmpl, RsaAesMechanism()), value)
    # Tampered in the OAEP block or in the RFC 5649 part: refused, and nothing appears.
    before = count(s)
    for at in (10, 256 + 3, len(blob) - 1):
        bad = bytearray(blob)
        bad[at] ^= 0x40
        raises_ckr(PyKCS11.CKR_WRAPPED_KEY_INVALID, s.unwrapKey, privh, bytes(bad), tmpl,
                   RsaAesMechanism())
    # Cut to the OAEP block alone: the HSM gives one answer for every malformed blob
    # (src/core/mech_wrap.c), not CKR_WRAPPED_KEY_LEN_RANGE.
    raises_ckr(PyKCS11.CKR_WRAPPED_KEY_INVALID, s.unwrapKey, privh, blob[:256], tmpl,
               RsaAesMechanism())
    assert count(s) == before
    aes_ecb_matches(s, s.unwrapKey(privh, blob, tmpl, RsaAesMechanism()), value)


def test_rsa_aes_wraps_a_private_key_as_pkcs8(p11):
    """CloudHSM's use of RSA-AES: taking a private key out of the HSM. What opens outside is the
    key's PKCS#8 PrivateKeyInfo, whose public half is the HSM's public key."""
    need(p11, "CKM_RSA_AES_KEY_WRAP")
    s = p11.session()
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = priv.public_key().public_numbers()
    wrap_pub = s.createObject([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_RSA),
                               (CKA_TOKEN, False), (CKA_LABEL, "rsa-aes-kek"), (CKA_WRAP, True),
                               (CKA_MODULUS, n.n.to_bytes(256, "big")),
                               (CKA_PUBLIC_EXPONENT, n.e.to_bytes(3, "big"))])
    pubh, privh = s.generateKeyPair(
        [(CKA_TOKEN, False), (CKA_LABEL, "rsa-aes-out"), (CKA_MODULUS_BITS, 2048),
         (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_VERIFY, True)],
        [(CKA_TOKEN, False), (CKA_LABEL, "rsa-aes-out"), (CKA_SIGN, True),
         (CKA_EXTRACTABLE, True), (CKA_SENSITIVE, False)],
        mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
    der = rsa_aes_unwrap_outside(priv, b(s.wrapKey(wrap_pub, privh, RsaAesMechanism())))
    got = load_der_private_key(der, None)
    assert got.public_key().public_numbers() == rsa_public(s, pubh).public_numbers()
    sig = got.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    assert s.verify(pubh, b"m", sig, Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS))


# ---- CKM_RSA_X9_31_KEY_PAIR_GEN ----

def x931_pair(s, label, bits):
    return s.generateKeyPair(
        [(CKA_TOKEN, False), (CKA_LABEL, label), (CKA_MODULUS_BITS, bits),
         (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_VERIFY, True)],
        [(CKA_TOKEN, False), (CKA_LABEL, label), (CKA_SIGN, True)],
        mecha=Mechanism(PyKCS11.CKM_RSA_X9_31_KEY_PAIR_GEN))


@pytest.mark.parametrize("bits", [2048, 3072])
def test_x9_31_pair_is_a_valid_rsa_key_that_signs(p11, bits, tmp_path):
    need(p11, "CKM_RSA_X9_31_KEY_PAIR_GEN")
    s = p11.session()
    pubh, privh = x931_pair(s, f"x931-{bits}", bits)
    pk = rsa_public(s, pubh)
    assert pk.key_size == bits and pk.public_numbers().e == 65537
    mod_bits, = s.getAttributeValue(pubh, [CKA_MODULUS_BITS])
    assert mod_bits == bits
    data = b"signed with an X9.31 key"
    sig = b(s.sign(privh, data, Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)))
    pk.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    # And the openssl command agrees, from the public key alone.
    pem, msg, sigf = tmp_path / "pub.pem", tmp_path / "msg", tmp_path / "sig"
    pem.write_bytes(pk.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    msg.write_bytes(data)
    sigf.write_bytes(sig)
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pem), "-signature",
                        str(sigf), str(msg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "Verified OK", (r.stdout, r.stderr)
    msg.write_bytes(data + b"!")
    r = subprocess.run(["openssl", "dgst", "-sha256", "-verify", str(pem), "-signature",
                        str(sigf), str(msg)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Verification failure" in r.stdout, (r.stdout, r.stderr)


def test_x9_31_refuses_a_size_out_of_range(p11):
    need(p11, "CKM_RSA_X9_31_KEY_PAIR_GEN")
    s = p11.session()
    before = count(s)
    raises_ckr(PyKCS11.CKR_KEY_SIZE_RANGE, x931_pair, s, "x931-1024", 1024)
    assert count(s) == before
