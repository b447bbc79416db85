# SPDX-License-Identifier: Apache-2.0
"""The PKCS#11 return-value rules through PyKCS11: login (PIN format, wrong password counted
toward lockout on every HSM, locked user, CKU_SO refused), sessions and their objects, attribute
reads of sensitive values, the operation state machine (active, not initialized, a buffer too
small that keeps the operation), read-only sessions, and keys whose attributes forbid a use."""
import ctypes
import os

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_KEY_TYPE, CKA_LABEL, CKA_SENSITIVE,
                     CKA_TOKEN, CKA_VALUE, CKA_VALUE_LEN, CKK_AES, CKO_SECRET_KEY, Mechanism)
import pytest

from p11lib import MODULE, PIN, P11, USER, make_user, p11, p11cluster, raises_ckr  # noqa: F401


class CkAttribute(ctypes.Structure):
    _fields_ = [("type", ctypes.c_ulong), ("pValue", ctypes.c_void_p),
                ("ulValueLen", ctypes.c_ulong)]
from test_cli import cli, as_admin


def aes(s, label, token=False, **flags):
    t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_VALUE_LEN, 32),
         (CKA_LABEL, label), (CKA_TOKEN, token)]
    t += [(getattr(PyKCS11, "CKA_" + k.upper()), v) for k, v in flags.items()]
    return s.generateKey(t, Mechanism(PyKCS11.CKM_AES_KEY_GEN))


def locked(cluster, user):
    """The CLI's "locked" of user ("true" when locked on the HSMs)."""
    code, out, text = cli(cluster, "user", "list", **as_admin())
    assert code == 0, text
    u = [x for x in out["data"]["users"] if x["username"] == user]
    return u[0]["locked"] if u else None


def test_login_rules(p11, p11cluster):
    s = p11.session(login=False)
    raises_ckr(PyKCS11.CKR_USER_NOT_LOGGED_IN, aes, s, "before-login")
    assert s.findObjects([]) == []  # every key belongs to a crypto user: nothing before login
    raises_ckr(PyKCS11.CKR_PIN_INCORRECT, s.login, "no-colon-here")
    raises_ckr(PyKCS11.CKR_PIN_INCORRECT, s.login, f"{USER}:wrong-password")
    raises_ckr(PyKCS11.CKR_USER_TYPE_INVALID, s.login, PIN, PyKCS11.CKU_SO)
    s.login(PIN)
    raises_ckr(PyKCS11.CKR_USER_ALREADY_LOGGED_IN, s.login, PIN)
    assert s.getSessionInfo().state == PyKCS11.CKS_RW_USER_FUNCTIONS
    s.logout()
    raises_ckr(PyKCS11.CKR_USER_NOT_LOGGED_IN, s.logout)


def test_wrong_password_counts_on_every_hsm_and_locks(p11, p11cluster):
    make_user(p11cluster, "locky", "locky-pass1")
    s = p11.session(login=False)
    for _ in range(5):
        raises_ckr(PyKCS11.CKR_PIN_INCORRECT, s.login, "locky:not-the-password")
    # Locked on both HSMs: even the right password is refused.
    raises_ckr(PyKCS11.CKR_PIN_LOCKED, s.login, "locky:locky-pass1")
    assert locked(p11cluster, "locky") == "true"


def test_sensitive_and_unknown_attributes(p11):
    s = p11.session()
    h = aes(s, "sens", encrypt=True)
    # Every attribute is processed: the call says CKR_ATTRIBUTE_SENSITIVE, and PyKCS11, which then
    # asks one attribute at a time, gets None for the value and the length for CKA_VALUE_LEN.
    t = PyKCS11.LowLevel.ckattrlist(2)
    t[0].SetType(CKA_VALUE)
    t[1].SetType(CKA_VALUE_LEN)
    assert p11.lib.lib.C_GetAttributeValue(s.session, h, t) == PyKCS11.CKR_ATTRIBUTE_SENSITIVE
    assert s.getAttributeValue(h, [CKA_VALUE, CKA_VALUE_LEN]) == [None, 32]
    t = PyKCS11.LowLevel.ckattrlist(1)
    t[0].SetType(0x7FFFFFF0)
    assert p11.lib.lib.C_GetAttributeValue(s.session, h, t) == PyKCS11.CKR_ATTRIBUTE_TYPE_INVALID


def test_key_use_and_mechanism_rules(p11):
    s = p11.session()
    h = aes(s, "no-encrypt", encrypt=False, decrypt=True)
    raises_ckr(PyKCS11.CKR_KEY_FUNCTION_NOT_PERMITTED, s.encrypt, h, b"x" * 16,
               Mechanism(PyKCS11.CKM_AES_ECB))
    raises_ckr(PyKCS11.CKR_KEY_TYPE_INCONSISTENT, s.sign, h, b"data",
               Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS))
    raises_ckr(PyKCS11.CKR_MECHANISM_INVALID, s.encrypt, h, b"x" * 16,
               Mechanism(PyKCS11.CKM_DES_ECB))
    raises_ckr(PyKCS11.CKR_MECHANISM_PARAM_INVALID, s.decrypt, h, b"x" * 16,
               Mechanism(PyKCS11.CKM_AES_CBC, b"short-iv"))


def test_operation_state_machine(p11):
    s = p11.session()
    h = aes(s, "ops", encrypt=True, decrypt=True)
    low = p11.lib.lib
    mech = Mechanism(PyKCS11.CKM_AES_CBC_PAD, os.urandom(16))  # keeps the parameter alive
    m = mech.to_native()
    out = PyKCS11.ckbytelist()
    assert low.C_Encrypt(s.session, PyKCS11.ckbytelist(b"x" * 20), out) == \
        PyKCS11.CKR_OPERATION_NOT_INITIALIZED
    assert low.C_EncryptInit(s.session, m, h) == PyKCS11.CKR_OK
    assert low.C_EncryptInit(s.session, m, h) == PyKCS11.CKR_OPERATION_ACTIVE
    # A buffer too small keeps the operation: the repeated call succeeds.
    small = PyKCS11.ckbytelist([0] * 8)
    assert low.C_Encrypt(s.session, PyKCS11.ckbytelist(b"x" * 20), small) == \
        PyKCS11.CKR_BUFFER_TOO_SMALL
    big = PyKCS11.ckbytelist([0] * 32)
    assert low.C_Encrypt(s.session, PyKCS11.ckbytelist(b"x" * 20), big) == PyKCS11.CKR_OK
    assert len(big) == 32
    # The operation ended with the success: another call is not initialized.
    assert low.C_Encrypt(s.session, PyKCS11.ckbytelist(b"x" * 20), big) == \
        PyKCS11.CKR_OPERATION_NOT_INITIALIZED
    # An error ends it too.
    assert low.C_DecryptInit(s.session, m, h) == PyKCS11.CKR_OK
    assert low.C_Decrypt(s.session, PyKCS11.ckbytelist(b"y" * 17), big) != PyKCS11.CKR_OK
    assert low.C_Decrypt(s.session, PyKCS11.ckbytelist(b"y" * 16), big) == \
        PyKCS11.CKR_OPERATION_NOT_INITIALIZED


def test_multipart_encryption_streams(p11):
    s = p11.session()
    h = aes(s, "stream", encrypt=True, decrypt=True)
    iv = os.urandom(16)
    data = os.urandom(1000)
    whole = bytes(s.encrypt(h, data, Mechanism(PyKCS11.CKM_AES_CBC_PAD, iv)))
    low = p11.lib.lib
    mech = Mechanism(PyKCS11.CKM_AES_CBC_PAD, iv)  # keeps the parameter alive
    m = mech.to_native()
    assert low.C_EncryptInit(s.session, m, h) == PyKCS11.CKR_OK
    got = b""
    for i in range(0, len(data), 77):
        out = PyKCS11.ckbytelist([0] * 200)
        assert low.C_EncryptUpdate(s.session, PyKCS11.ckbytelist(data[i:i + 77]), out) == 0
        got += bytes(out)
    out = PyKCS11.ckbytelist([0] * 32)
    assert low.C_EncryptFinal(s.session, out) == PyKCS11.CKR_OK
    got += bytes(out)
    assert got == whole


def test_session_objects_and_read_only_sessions(p11):
    a = p11.session()
    b = p11.session(rw=False, login=False)  # the login is the application's, not the session's
    h = aes(a, "sess-obj", encrypt=True)
    assert [x.value() for x in b.findObjects([(CKA_LABEL, "sess-obj")])] == [h.value()]
    raises_ckr(PyKCS11.CKR_SESSION_READ_ONLY, aes, b, "ro-token", token=True)
    a.closeSession()  # its session objects go with it
    assert b.findObjects([(CKA_LABEL, "sess-obj")]) == []


def test_token_object_attributes_and_copy(p11):
    s = p11.session()
    h = aes(s, "tok-attr", token=True, encrypt=True, decrypt=True)
    s.setAttributeValue(h, [(CKA_LABEL, "tok-renamed")])
    assert s.getAttributeValue(h, [CKA_LABEL])[0] == "tok-renamed"
    raises_ckr(PyKCS11.CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, h,
               [(CKA_CLASS, PyKCS11.CKO_PUBLIC_KEY)])
    raises_ckr(PyKCS11.CKR_ATTRIBUTE_READ_ONLY, s.setAttributeValue, h, [(CKA_SENSITIVE, False)])
    # C_CopyObject (PyKCS11 has no binding: ctypes into the same loaded module): a new handle, the
    # same key (it decrypts what the original encrypts).
    label = b"tok-copy"
    t = (CkAttribute * 1)(CkAttribute(CKA_LABEL, ctypes.cast(label, ctypes.c_void_p), len(label)))
    new = ctypes.c_ulong(0)
    rv = ctypes.CDLL(str(MODULE)).C_CopyObject(ctypes.c_ulong(s.session.value()), ctypes.c_ulong(h.value()),
                                               t, ctypes.c_ulong(1), ctypes.byref(new))
    assert rv == PyKCS11.CKR_OK and new.value not in (0, h.value())
    ct = bytes(s.encrypt(h, b"z" * 16, Mechanism(PyKCS11.CKM_AES_ECB)))
    copy = s.findObjects([(CKA_LABEL, "tok-copy")])[0]
    assert bytes(s.decrypt(copy, ct, Mechanism(PyKCS11.CKM_AES_ECB))) == b"z" * 16
    s.destroyObject(copy)
    s.destroyObject(h)
    assert s.findObjects([(CKA_LABEL, "tok-renamed")]) == []
