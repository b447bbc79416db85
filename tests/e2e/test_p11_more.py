# SPDX-License-Identifier: Apache-2.0
"""More of libopenhsm-pkcs11.so through PyKCS11: multi-part signatures (hashed in the library,
signed in the HSM) and MACs, finding objects by template, object sizes, and a crypto user with MFA,
whom C_Login refuses with a clear CKR and a log line (the library cannot sign a login token)."""
import ctypes
import hmac
import os

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_SIGN, CKA_TOKEN, CKA_VALUE,
                     CKA_VERIFY, CKK_AES, CKK_EC, CKK_GENERIC_SECRET, CKO_PRIVATE_KEY,
                     CKO_PUBLIC_KEY, CKO_SECRET_KEY, Mechanism)
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from p11lib import MODULE, P11, p11, p11cluster, raises_ckr  # noqa: F401
from test_mfa import create_cu, pw_of, register_ok
from tokens import rsa_key

CKR_ACTION_PROHIBITED = 0x1B  # PKCS#11 v2.40; not in PyKCS11 1.5's table


def low_multi(p11, s, init, update, final, key, mech, parts, sig=None):
    """Init/Update.../Final through PyKCS11's low level; returns Final's output (sign) or rv."""
    low = p11.lib.lib
    assert getattr(low, init)(s.session, mech.to_native(), key) == PyKCS11.CKR_OK
    for part in parts:
        assert getattr(low, update)(s.session, PyKCS11.ckbytelist(part)) == PyKCS11.CKR_OK
    if sig is None:
        out = PyKCS11.ckbytelist()
        assert getattr(low, final)(s.session, out) == PyKCS11.CKR_OK  # length
        assert getattr(low, final)(s.session, out) == PyKCS11.CKR_OK  # value
        return bytes(out)
    return getattr(low, final)(s.session, PyKCS11.ckbytelist(sig))


def test_multipart_rsa_signature_and_hmac(p11):
    s = p11.session()
    priv_outside = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = priv_outside.private_numbers()
    pub = n.public_numbers
    b = lambda v, k=256: v.to_bytes(k, "big")  # noqa: E731
    privh = s.createObject([
        (CKA_CLASS, CKO_PRIVATE_KEY), (PyKCS11.CKA_KEY_TYPE, PyKCS11.CKK_RSA), (CKA_TOKEN, False),
        (CKA_SIGN, True), (CKA_LABEL, "mp-rsa"), (PyKCS11.CKA_MODULUS, b(pub.n)),
        (PyKCS11.CKA_PUBLIC_EXPONENT, b(pub.e, 3)), (PyKCS11.CKA_PRIVATE_EXPONENT, b(n.d)),
        (PyKCS11.CKA_PRIME_1, b(n.p, 128)), (PyKCS11.CKA_PRIME_2, b(n.q, 128)),
        (PyKCS11.CKA_EXPONENT_1, b(n.dmp1, 128)), (PyKCS11.CKA_EXPONENT_2, b(n.dmq1, 128)),
        (PyKCS11.CKA_COEFFICIENT, b(n.iqmp, 128))])
    data = os.urandom(300_000)  # more than the HSM takes in one message: hashed here
    parts = [data[i:i + 65536] for i in range(0, len(data), 65536)]
    mech = Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS)
    sig = low_multi(p11, s, "C_SignInit", "C_SignUpdate", "C_SignFinal", privh, mech, parts)
    # PKCS#1 v1.5 is deterministic: the same signature as OpenSSL's with the same key.
    assert sig == priv_outside.sign(data, padding.PKCS1v15(), hashes.SHA256())
    # HMAC in parts (buffered up to the HSM's message size).
    key = os.urandom(32)
    h = s.createObject([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_GENERIC_SECRET),
                        (CKA_VALUE, key), (CKA_TOKEN, False), (CKA_SIGN, True), (CKA_VERIFY, True),
                        (CKA_LABEL, "mp-hmac")])
    msg = os.urandom(5000)
    hm = Mechanism(PyKCS11.CKM_SHA384_HMAC)
    tag = low_multi(p11, s, "C_SignInit", "C_SignUpdate", "C_SignFinal", h, hm,
                    [msg[:1000], msg[1000:]])
    assert tag == hmac.new(key, msg, "sha384").digest()
    assert low_multi(p11, s, "C_VerifyInit", "C_VerifyUpdate", "C_VerifyFinal", h, hm,
                     [msg[:7], msg[7:]], sig=tag) == PyKCS11.CKR_OK
    assert low_multi(p11, s, "C_VerifyInit", "C_VerifyUpdate", "C_VerifyFinal", h, hm,
                     [msg[:7], msg[7:] + b"!"], sig=tag) == PyKCS11.CKR_SIGNATURE_INVALID
    # Too much for a one-shot mechanism in parts: CKR_DATA_LEN_RANGE, and the operation is over.
    low = p11.lib.lib
    assert low.C_SignInit(s.session, hm.to_native(), h) == PyKCS11.CKR_OK
    big = PyKCS11.ckbytelist(bytes(200_000))
    assert low.C_SignUpdate(s.session, big) == PyKCS11.CKR_OK
    assert low.C_SignUpdate(s.session, big) == PyKCS11.CKR_DATA_LEN_RANGE
    assert low.C_SignUpdate(s.session, big) == PyKCS11.CKR_OPERATION_NOT_INITIALIZED


def test_find_by_template_and_object_size(p11):
    s = p11.session()
    aes = s.generateKey([(CKA_LABEL, "find-me"), (PyKCS11.CKA_VALUE_LEN, 16), (CKA_ID, b"\x07"),
                         (CKA_TOKEN, False)], Mechanism(PyKCS11.CKM_AES_KEY_GEN))
    pubh, privh = s.generateKeyPair(
        [(CKA_TOKEN, False), (CKA_LABEL, "find-me"), (CKA_ID, b"\x07"),
         (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107"))],
        [(CKA_TOKEN, False), (CKA_LABEL, "find-me"), (CKA_ID, b"\x07")],
        mecha=PyKCS11.MechanismECGENERATEKEYPAIR)

    def found(t):
        return sorted(x.value() for x in s.findObjects(t))
    assert found([(CKA_LABEL, "find-me")]) == sorted([aes.value(), pubh.value(), privh.value()])
    assert found([(CKA_LABEL, "find-me"), (CKA_CLASS, CKO_SECRET_KEY)]) == [aes.value()]
    assert found([(CKA_ID, b"\x07"), (CKA_KEY_TYPE, CKK_EC)]) == \
        sorted([pubh.value(), privh.value()])
    assert found([(CKA_LABEL, "find-me"), (CKA_CLASS, CKO_PUBLIC_KEY)]) == [pubh.value()]
    assert found([(CKA_LABEL, "find-me"), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, True)]) == []
    assert found([(CKA_LABEL, "nobody")]) == []
    # PyKCS11 has no C_GetObjectSize binding: ctypes into the same loaded module.
    n = ctypes.c_ulong(0)
    rv = ctypes.CDLL(str(MODULE)).C_GetObjectSize(ctypes.c_ulong(s.session.value()),
                                                  ctypes.c_ulong(privh.value()), ctypes.byref(n))
    assert rv == PyKCS11.CKR_OK and 100 < n.value < 8192, (rv, n.value)


def test_mfa_user_login_is_refused_clearly(p11cluster, tmp_path, monkeypatch):
    create_cu(p11cluster, "mfacu")
    key, pub = rsa_key(tmp_path, "mfacu")
    register_ok(p11cluster, tmp_path, "mfacu", (key, pub))
    log = tmp_path / "pkcs11.log"
    monkeypatch.setenv("OPENHSM_PKCS11_LOG", str(log))
    lib = P11(p11cluster)
    try:
        s = lib.session(login=False)
        raises_ckr(CKR_ACTION_PROHIBITED, s.login, f"mfacu:{pw_of('mfacu')}")
        text = log.read_text()
        assert "mfacu has MFA (token-sign) registered" in text, text
        assert pw_of("mfacu") not in text  # never a password in the log
        assert s.getSessionInfo().state == PyKCS11.CKS_RW_PUBLIC_SESSION
    finally:
        lib.close()
