# SPDX-License-Identifier: Apache-2.0
"""Every mechanism libopenhsm-pkcs11.so lists, used through PyKCS11 as an application would, and
each result checked outside the HSM with OpenSSL (the `cryptography` package): ciphertexts
decrypt, signatures verify, MACs and digests match, wrapped keys unwrap to the key that went in,
and derived keys agree with the other party's.

Keys whose value the check needs are imported with C_CreateObject (a known value); the others
are generated in the HSM and only their public halves are read."""
import hashlib
import hmac
import os

import PyKCS11
from PyKCS11 import (CKA_CLASS, CKA_DECRYPT, CKA_DERIVE, CKA_EC_PARAMS, CKA_EC_POINT,
                     CKA_ENCRYPT, CKA_EXTRACTABLE, CKA_ID, CKA_KEY_TYPE, CKA_LABEL, CKA_LOCAL,
                     CKA_MODULUS, CKA_MODULUS_BITS, CKA_PUBLIC_EXPONENT, CKA_SENSITIVE, CKA_SIGN,
                     CKA_TOKEN, CKA_UNWRAP, CKA_VALUE, CKA_VALUE_LEN, CKA_VERIFY, CKA_WRAP,
                     CKK_AES, CKK_EC, CKK_GENERIC_SECRET, CKK_RSA, CKO_PRIVATE_KEY,
                     CKO_PUBLIC_KEY, CKO_SECRET_KEY, Mechanism)
import pytest
from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from p11lib import p11, p11cluster  # noqa: F401 (fixtures)

P256_OID = bytes.fromhex("06082a8648ce3d030107")
P384_OID = bytes.fromhex("06052b81040022")
HASHES = {"sha1": hashes.SHA1(), "sha224": hashes.SHA224(), "sha256": hashes.SHA256(),
          "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def b(x):
    return bytes(x)


def secret(s, ktype, value, label, **flags):
    t = [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, ktype), (CKA_VALUE, value),
         (CKA_LABEL, label), (CKA_TOKEN, False)]
    t += [(getattr(PyKCS11, "CKA_" + k.upper()), v) for k, v in flags.items()]
    return s.createObject(t)


def rsa_pair(s, label, bits=2048):
    pub = [(CKA_TOKEN, False), (CKA_LABEL, label), (CKA_MODULUS_BITS, bits),
           (CKA_PUBLIC_EXPONENT, (1, 0, 1)), (CKA_VERIFY, True), (CKA_ENCRYPT, True),
           (CKA_WRAP, True)]
    priv = [(CKA_TOKEN, False), (CKA_LABEL, label), (CKA_SIGN, True), (CKA_DECRYPT, True),
            (CKA_UNWRAP, True)]
    pubh, privh = s.generateKeyPair(pub, priv, mecha=PyKCS11.MechanismRSAGENERATEKEYPAIR)
    mod, exp = s.getAttributeValue(pubh, [CKA_MODULUS, CKA_PUBLIC_EXPONENT])
    pk = rsa.RSAPublicNumbers(int.from_bytes(bytes(exp), "big"),
                              int.from_bytes(bytes(mod), "big")).public_key()
    return pubh, privh, pk


def ec_pair(s, label, oid=P256_OID, curve=ec.SECP256R1(), derive=False):
    pub = [(CKA_TOKEN, False), (CKA_LABEL, label), (CKA_EC_PARAMS, oid), (CKA_VERIFY, True)]
    priv = [(CKA_TOKEN, False), (CKA_LABEL, label), (CKA_SIGN, True), (CKA_DERIVE, derive)]
    pubh, privh = s.generateKeyPair(pub, priv, mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
    point = bytes(s.getAttributeValue(pubh, [CKA_EC_POINT])[0])
    assert point[0] == 0x04 and point[1] == len(point) - 2, point.hex()  # DER OCTET STRING
    pk = ec.EllipticCurvePublicKey.from_encoded_point(curve, point[2:])
    return pubh, privh, pk


def test_token_slot_and_mechanism_list(p11):
    info = p11.lib.getInfo()
    assert info.cryptokiVersion == (2, 40)
    assert info.manufacturerID.strip() == "openhsm"
    tok = p11.lib.getTokenInfo(p11.slot)
    assert tok.label.strip() == "hsm1"
    assert tok.flags & PyKCS11.CKF_LOGIN_REQUIRED and tok.flags & PyKCS11.CKF_RNG
    mechs = set(p11.lib.getMechanismList(p11.slot))
    for m in ("CKM_AES_KEY_GEN", "CKM_AES_GCM", "CKM_AES_CBC", "CKM_AES_CBC_PAD", "CKM_AES_CTR",
              "CKM_AES_ECB", "CKM_AES_KEY_WRAP", "CKM_AES_KEY_WRAP_PAD",
              "CKM_RSA_PKCS_KEY_PAIR_GEN", "CKM_RSA_PKCS", "CKM_RSA_PKCS_OAEP",
              "CKM_RSA_PKCS_PSS", "CKM_SHA256_RSA_PKCS", "CKM_SHA512_RSA_PKCS_PSS",
              "CKM_EC_KEY_PAIR_GEN", "CKM_ECDSA", "CKM_ECDSA_SHA256", "CKM_SHA_1",
              "CKM_SHA512", "CKM_SHA256_HMAC", "CKM_GENERIC_SECRET_KEY_GEN", "CKM_ECDH1_DERIVE"):
        assert m in mechs, (m, sorted(mechs))
    for m in mechs:
        mi = p11.lib.getMechanismInfo(p11.slot, m)
        assert mi.flags != 0 and mi.ulMinKeySize <= mi.ulMaxKeySize, (m, mi)


@pytest.mark.parametrize("mode", ["ECB", "CBC", "CBC_PAD", "CTR"])
def test_aes_modes_match_openssl(p11, mode):
    s = p11.session()
    key = os.urandom(32)
    h = secret(s, CKK_AES, key, "aes-" + mode, encrypt=True, decrypt=True)
    iv = os.urandom(16)
    data = os.urandom(64) if mode != "CBC_PAD" else os.urandom(61)
    if mode == "ECB":
        mech, ref = Mechanism(PyKCS11.CKM_AES_ECB), modes.ECB()
    elif mode == "CTR":
        # CK_AES_CTR_PARAMS: ulCounterBits (a CK_ULONG), then the 16-byte counter block.
        mech = Mechanism(PyKCS11.CKM_AES_CTR, (128).to_bytes(8, "little") + iv)
        ref = modes.CTR(iv)
    else:
        mech = Mechanism(getattr(PyKCS11, "CKM_AES_" + mode), iv)
        ref = modes.CBC(iv)
    ct = b(s.encrypt(h, data, mech))
    enc = Cipher(algorithms.AES(key), ref).encryptor()
    if mode == "CBC_PAD":
        pad = 16 - len(data) % 16
        want = enc.update(data + bytes([pad]) * pad) + enc.finalize()
    else:
        want = enc.update(data) + enc.finalize()
    assert ct == want
    assert b(s.decrypt(h, ct, mech)) == data


def test_aes_gcm_iv_from_the_hsm(p11):
    s = p11.session()
    key = os.urandom(32)
    h = secret(s, CKK_AES, key, "gcm", encrypt=True, decrypt=True)
    data, aad = os.urandom(1024), b"header"
    m = PyKCS11.AES_GCM_Mechanism(bytes(12), aad, 128)
    ct = b(s.encrypt(h, data, m))
    iv = bytes(m._source_iv)  # the HSM's IV, written into the application's pIv
    assert iv != bytes(12)
    assert AESGCM(key).decrypt(iv, ct, aad) == data
    # Decryption takes the IV; a ciphertext made outside decrypts inside.
    iv2 = os.urandom(12)
    ct2 = AESGCM(key).encrypt(iv2, data, aad)
    assert b(s.decrypt(h, ct2, PyKCS11.AES_GCM_Mechanism(iv2, aad, 128))) == data
    # CloudHSM's rule: an IV the application chose is refused for encryption.
    with pytest.raises(PyKCS11.PyKCS11Error) as ei:
        s.encrypt(h, data, PyKCS11.AES_GCM_Mechanism(os.urandom(12), aad, 128))
    assert ei.value.value == PyKCS11.CKR_MECHANISM_PARAM_INVALID


@pytest.mark.parametrize("hname", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_rsa_signatures_verify_outside(p11, hname):
    s = p11.session()
    pubh, privh, pk = rsa_pair(s, "rsa-" + hname)
    data = b"signed by the HSM"
    pkcs = getattr(PyKCS11, f"CKM_{hname.upper()}_RSA_PKCS")
    sig = b(s.sign(privh, data, Mechanism(pkcs)))
    pk.verify(sig, data, padding.PKCS1v15(), HASHES[hname])
    pss = getattr(PyKCS11, f"CKM_{hname.upper()}_RSA_PKCS_PSS")
    halg = getattr(PyKCS11, "CKM_SHA_1" if hname == "sha1" else f"CKM_{hname.upper()}")
    mgf = getattr(PyKCS11, f"CKG_MGF1_{hname.upper()}")
    hl = HASHES[hname].digest_size
    sig = b(s.sign(privh, data, PyKCS11.RSA_PSS_Mechanism(pss, halg, mgf, hl)))
    pk.verify(sig, data, padding.PSS(padding.MGF1(HASHES[hname]), hl), HASHES[hname])
    # And the HSM verifies its own, and refuses a changed message.
    assert s.verify(pubh, data, sig, PyKCS11.RSA_PSS_Mechanism(pss, halg, mgf, hl))
    assert not s.verify(pubh, data + b"!", sig, PyKCS11.RSA_PSS_Mechanism(pss, halg, mgf, hl))


def test_rsa_raw_mechanisms_and_encryption(p11):
    s = p11.session()
    pubh, privh, pk = rsa_pair(s, "rsa-raw")
    digest = hashlib.sha256(b"m").digest()
    # CKM_RSA_PKCS signs a DigestInfo as given; CKM_RSA_PKCS_PSS a digest.
    di = bytes.fromhex("3031300d060960864801650304020105000420") + digest
    sig = b(s.sign(privh, di, Mechanism(PyKCS11.CKM_RSA_PKCS)))
    pk.verify(sig, b"m", padding.PKCS1v15(), hashes.SHA256())
    sig = b(s.sign(privh, digest, PyKCS11.RSA_PSS_Mechanism(
        PyKCS11.CKM_RSA_PKCS_PSS, PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256, 32)))
    pk.verify(sig, digest, padding.PSS(padding.MGF1(hashes.SHA256()), 32),
              utils.Prehashed(hashes.SHA256()))
    # Encryption outside, decryption in the HSM: PKCS#1 v1.5 and OAEP (SHA-1, SHA-256).
    secret_msg = os.urandom(32)
    ct = pk.encrypt(secret_msg, padding.PKCS1v15())
    assert b(s.decrypt(privh, ct, Mechanism(PyKCS11.CKM_RSA_PKCS))) == secret_msg
    for h, ck, mgf in ((hashes.SHA1(), PyKCS11.CKM_SHA_1, PyKCS11.CKG_MGF1_SHA1),
                       (hashes.SHA256(), PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256)):
        ct = pk.encrypt(secret_msg, padding.OAEP(padding.MGF1(h), h, None))
        assert b(s.decrypt(privh, ct, PyKCS11.RSAOAEPMechanism(ck, mgf))) == secret_msg
    # Encryption in the HSM with the public key decrypts there too.
    ct = b(s.encrypt(pubh, secret_msg, PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256,
                                                                PyKCS11.CKG_MGF1_SHA256)))
    assert b(s.decrypt(privh, ct, PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256,
                                                           PyKCS11.CKG_MGF1_SHA256))) == secret_msg


@pytest.mark.parametrize("hname", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_ecdsa_verifies_outside(p11, hname):
    s = p11.session()
    pubh, privh, pk = ec_pair(s, "ec-" + hname, P384_OID, ec.SECP384R1())
    data = b"ecdsa message"
    mech = Mechanism(getattr(PyKCS11, "CKM_ECDSA_" + hname.upper()))
    sig = b(s.sign(privh, data, mech))
    assert len(sig) == 96
    der = utils.encode_dss_signature(int.from_bytes(sig[:48], "big"),
                                     int.from_bytes(sig[48:], "big"))
    pk.verify(der, data, ec.ECDSA(HASHES[hname]))
    assert s.verify(pubh, data, sig, mech)
    # CKM_ECDSA signs a digest given by the application.
    digest = hashlib.new(hname, data).digest()
    sig = b(s.sign(privh, digest, Mechanism(PyKCS11.CKM_ECDSA)))
    der = utils.encode_dss_signature(int.from_bytes(sig[:48], "big"),
                                     int.from_bytes(sig[48:], "big"))
    pk.verify(der, digest, ec.ECDSA(utils.Prehashed(HASHES[hname])))


@pytest.mark.parametrize("hname", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_hmac_matches(p11, hname):
    s = p11.session()
    key = os.urandom(32)
    h = secret(s, CKK_GENERIC_SECRET, key, "hmac-" + hname, sign=True, verify=True)
    mname = "CKM_SHA_1_HMAC" if hname == "sha1" else f"CKM_{hname.upper()}_HMAC"
    mech = Mechanism(getattr(PyKCS11, mname))
    tag = b(s.sign(h, b"mac me", mech))
    assert tag == hmac.new(key, b"mac me", hname).digest()
    assert s.verify(h, b"mac me", tag, mech)
    assert not s.verify(h, b"mac me!", tag, mech)


@pytest.mark.parametrize("hname", ["sha1", "sha224", "sha256", "sha384", "sha512"])
def test_digests(p11, hname):
    s = p11.session(login=False)
    mname = "CKM_SHA_1" if hname == "sha1" else f"CKM_{hname.upper()}"
    mech = Mechanism(getattr(PyKCS11, mname))
    data = os.urandom(100_000)
    assert b(s.digest(data, mech)) == hashlib.new(hname, data).digest()
    ds = s.digestSession(mech)
    for i in range(0, len(data), 7777):
        ds.update(data[i:i + 7777])
    assert b(ds.final()) == hashlib.new(hname, data).digest()


def test_aes_key_wrap_matches_rfc3394_and_5649(p11):
    s = p11.session()
    kek = os.urandom(32)
    w = secret(s, CKK_AES, kek, "kek", wrap=True, unwrap=True)
    payload_value = os.urandom(16)
    # Not sensitive: a sensitive key leaves only under a wrapping key made in the HSM (the KEK
    # here has a value the test knows; see test_p11_tookan.py).
    p = secret(s, CKK_AES, payload_value, "payload", extractable=True, encrypt=True,
               sensitive=False)
    wrapped = b(s.wrapKey(w, p, Mechanism(PyKCS11.CKM_AES_KEY_WRAP)))
    assert wrapped == keywrap.aes_key_wrap(kek, payload_value)
    wrapped = b(s.wrapKey(w, p, Mechanism(PyKCS11.CKM_AES_KEY_WRAP_PAD)))
    assert wrapped == keywrap.aes_key_wrap_with_padding(kek, payload_value)
    # A key wrapped outside unwraps inside and encrypts as the original would.
    outside = os.urandom(32)
    blob = keywrap.aes_key_wrap_with_padding(kek, outside)
    u = s.unwrapKey(w, blob, [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                              (CKA_TOKEN, False), (CKA_LABEL, "unwrapped"), (CKA_ENCRYPT, True)],
                    Mechanism(PyKCS11.CKM_AES_KEY_WRAP_PAD))
    block = os.urandom(16)
    ct = b(s.encrypt(u, block, Mechanism(PyKCS11.CKM_AES_ECB)))
    enc = Cipher(algorithms.AES(outside), modes.ECB()).encryptor()
    assert ct == enc.update(block) + enc.finalize()


def test_rsa_oaep_wrap_opens_with_the_private_key(p11):
    s = p11.session()
    priv_outside = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    n = priv_outside.public_key().public_numbers()
    pubh = s.createObject([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_KEY_TYPE, CKK_RSA),
                           (CKA_TOKEN, False), (CKA_LABEL, "oaep-wrap"), (CKA_WRAP, True),
                           (CKA_MODULUS, n.n.to_bytes(256, "big")),
                           (CKA_PUBLIC_EXPONENT, n.e.to_bytes(3, "big"))])
    value = os.urandom(32)
    p = secret(s, CKK_AES, value, "oaep-payload", extractable=True, sensitive=False)
    mech = PyKCS11.RSAOAEPMechanism(PyKCS11.CKM_SHA256, PyKCS11.CKG_MGF1_SHA256)
    wrapped = b(s.wrapKey(pubh, p, mech))
    assert priv_outside.decrypt(wrapped, padding.OAEP(padding.MGF1(hashes.SHA256()),
                                                      hashes.SHA256(), None)) == value


@pytest.mark.parametrize("kdf", ["null", "sha256"])
def test_ecdh_derive_agrees_with_the_peer(p11, kdf):
    s = p11.session()
    pubh, privh, pk = ec_pair(s, "ecdh-" + kdf, derive=True)
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_point = peer.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    shared = peer.exchange(ec.ECDH(), pk)
    if kdf == "null":
        mech = PyKCS11.ECDH1_DERIVE_Mechanism(peer_point)
        want = shared[:32]
    else:
        mech = PyKCS11.ECDH1_DERIVE_Mechanism(peer_point, PyKCS11.CKD_SHA256_KDF, b"info")
        want = X963KDF(hashes.SHA256(), 32, b"info").derive(shared)
    h = s.deriveKey(privh, [(CKA_CLASS, CKO_SECRET_KEY), (CKA_KEY_TYPE, CKK_AES),
                            (CKA_VALUE_LEN, 32), (CKA_TOKEN, False), (CKA_ENCRYPT, True),
                            (CKA_LABEL, "derived")], mech)
    block = os.urandom(16)
    ct = b(s.encrypt(h, block, Mechanism(PyKCS11.CKM_AES_ECB)))
    enc = Cipher(algorithms.AES(want), modes.ECB()).encryptor()
    assert ct == enc.update(block) + enc.finalize()
    local, = s.getAttributeValue(h, [CKA_LOCAL])
    assert local is False


def test_key_generation_kinds_and_defaults(p11):
    s = p11.session()
    for kt, mech, size in ((CKK_AES, PyKCS11.CKM_AES_KEY_GEN, 16),
                           (CKK_AES, PyKCS11.CKM_AES_KEY_GEN, 32),
                           (CKK_GENERIC_SECRET, PyKCS11.CKM_GENERIC_SECRET_KEY_GEN, 48)):
        h = s.generateKey([(CKA_VALUE_LEN, size), (CKA_LABEL, f"gen-{kt}-{size}"),
                           (CKA_ID, b"\x01\x02")], Mechanism(mech))
        got = s.getAttributeValue(h, [CKA_KEY_TYPE, CKA_VALUE_LEN, CKA_TOKEN, CKA_LOCAL,
                                      CKA_SENSITIVE, CKA_EXTRACTABLE, CKA_SIGN, CKA_ID])
        # CloudHSM's PKCS#11 defaults: session key, sensitive, extractable, no usage.
        assert got[:7] == [kt, size, False, True, True, True, False], got
        assert bytes(got[7]) == b"\x01\x02"
    with pytest.raises(PyKCS11.PyKCS11Error) as ei:
        s.generateKey([(CKA_LABEL, "no-size")], Mechanism(PyKCS11.CKM_AES_KEY_GEN))
    assert ei.value.value == PyKCS11.CKR_TEMPLATE_INCOMPLETE


def test_random(p11):
    s = p11.session()  # as every HSM call, after a login
    a, c = b(s.generateRandom(100_000)), b(s.generateRandom(100_000))
    assert len(a) == len(c) == 100_000 and a != c
