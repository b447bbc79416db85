# SPDX-License-Identifier: Apache-2.0
"""The key-management attacks of the Tookan study (Bortolozzo, Centenaro, Focardi, Steel, CCS
2010), tried through libopenhsm-pkcs11.so and refused by the HSM: every key the library makes has a
role class the HSM holds it to for life (data: encrypt/decrypt; wrapping: wrap/unwrap), so no key
or key pair ever both wraps and decrypts, or encrypts and unwraps, not even by changing attributes
one after the other; a sensitive key leaves only under a wrapping key generated in the HSM (or
trusted by an admin), never under one whose value the caller may know; and what such a key
unwraps stays sensitive and classed (no laundering)."""
import os

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_DECRYPT, CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_KEY_TYPE,
                     CKA_LABEL, CKA_SENSITIVE, CKA_TOKEN, CKA_UNWRAP, CKA_VALUE, CKA_VALUE_LEN,
                     CKA_WRAP, CKK_AES, CKO_SECRET_KEY, Mechanism)

from p11lib import p11, p11cluster, raises_ckr  # noqa: F401

KW = Mechanism(PyKCS11.CKM_AES_KEY_WRAP_PAD)
ECB = Mechanism(PyKCS11.CKM_AES_ECB)


def gen(s, label, **flags):
    t = [(CKA_LABEL, label), (CKA_VALUE_LEN, 32), (CKA_TOKEN, False)]
    t += [(getattr(PyKCS11, "CKA_" + k.upper()), v) for k, v in flags.items()]
    return s.generateKey(t, Mechanism(PyKCS11.CKM_AES_KEY_GEN))


def test_wrap_then_decrypt_is_refused(p11):
    s = p11.session()
    target = gen(s, "t-target", encrypt=True, extractable=True)  # sensitive by default
    # One key asking for both roles: it gets no class, and may not wrap a classed sensitive key.
    both = gen(s, "t-both", wrap=True, decrypt=True)
    raises_ckr(PyKCS11.CKR_KEY_FUNCTION_NOT_PERMITTED, s.wrapKey, both, target, KW)
    # A wrapping key wraps it, and can never decrypt the blob, not even after attribute changes.
    w = gen(s, "t-wrap", wrap=True, unwrap=True)
    blob = bytes(s.wrapKey(w, target, KW))
    raises_ckr(PyKCS11.CKR_KEY_FUNCTION_NOT_PERMITTED, s.decrypt, w, blob[:16], ECB)
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.setAttributeValue, w, [(CKA_DECRYPT, True)])
    s.setAttributeValue(w, [(CKA_WRAP, False)])  # turning a role off is fine ...
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.setAttributeValue, w, [(CKA_DECRYPT, True)])
    # ... and the target's own class keeps it from ever wrapping or unwrapping.
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.setAttributeValue, target,
               [(CKA_UNWRAP, True)])


def test_encrypt_then_unwrap_is_refused(p11):
    s = p11.session()
    data_key = gen(s, "t-data", encrypt=True, decrypt=True)
    chosen = os.urandom(32)
    ct = bytes(s.encrypt(data_key, chosen, ECB))  # what an attacker would unwrap into a key
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.setAttributeValue, data_key,
               [(CKA_UNWRAP, True)])
    raises_ckr(PyKCS11.CKR_KEY_FUNCTION_NOT_PERMITTED, s.unwrapKey, data_key, ct + ct[:8],
               [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False)],
               Mechanism(PyKCS11.CKM_AES_KEY_WRAP))


def test_a_wrapping_key_of_known_value_cannot_take_a_sensitive_key_out(p11):
    s = p11.session()
    target = gen(s, "k-target", encrypt=True, extractable=True)
    known = s.createObject([(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                            (CKA_VALUE, os.urandom(32)), (CKA_TOKEN, False), (CKA_WRAP, True),
                            (CKA_LABEL, "k-known")])
    raises_ckr(PyKCS11.CKR_KEY_FUNCTION_NOT_PERMITTED, s.wrapKey, known, target, KW)
    # A key that is not sensitive may go out under it (extractable means extractable).
    open_key = gen(s, "k-open", encrypt=True, extractable=True, sensitive=False)
    assert len(bytes(s.wrapKey(known, open_key, KW))) == 40


def test_unwrapped_copies_stay_sensitive_and_classed(p11):
    s = p11.session()
    target = gen(s, "l-target", encrypt=True, extractable=True)
    w = gen(s, "l-wrap", wrap=True, unwrap=True)
    blob = bytes(s.wrapKey(w, target, KW))
    base = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES), (CKA_TOKEN, False)]
    # Laundering: unwrapped as not sensitive, or with both roles (no class): refused.
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.unwrapKey, w, blob,
               base + [(CKA_SENSITIVE, False), (CKA_ENCRYPT, True)], KW)
    raises_ckr(PyKCS11.CKR_TEMPLATE_INCONSISTENT, s.unwrapKey, w, blob,
               base + [(CKA_ENCRYPT, True), (CKA_WRAP, True)], KW)
    assert s.findObjects([(CKA_LABEL, "l-copy")]) == []
    # The honest way: a sensitive copy that encrypts as the original does.
    copy = s.unwrapKey(w, blob, base + [(CKA_ENCRYPT, True), (CKA_LABEL, "l-copy")], KW)
    block = os.urandom(16)
    assert bytes(s.encrypt(copy, block, ECB)) == bytes(s.encrypt(target, block, ECB))
    assert s.getAttributeValue(copy, [CKA_SENSITIVE, CKA_EXTRACTABLE]) == [True, True]
