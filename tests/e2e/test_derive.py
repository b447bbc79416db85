# SPDX-License-Identifier: Apache-2.0
"""ECDH key derivation (issue 15, PKCS#11 CKM_ECDH1_DERIVE) end to end: libopenhsm.so driven
through ctypes against a real 2-HSM cluster, the other party played by Python's `cryptography`.

A crypto user generates an EC key pair with derive=true; the HSM derives an AES-256 key from the
private key and a peer point made in Python (ECDH + ANSI X9.63 KDF, SHA-256, shared info) and
encrypts with it (AES-GCM); the test derives the same key itself and decrypts: they agree. The
derived token key has one handle on both HSMs; a raw (no KDF) session secret lives on one HSM and
MACs as Python's HMAC with the raw shared secret; a session base key derives on its own HSM.
always-sensitive / never-extractable follow PKCS#11 (base key and template). A user the base key
is shared with may derive (using a key is what sharing grants; taking it out is not). Refused,
with nothing created: derive=false, the public half, a point off the curve or of another curve, a
length not given or not an AES size, another class, shared info without a KDF, an unknown
mechanism, a base key under a key quorum (a derive request carries no approval).
"""
import ctypes
import hmac
import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from conftest import BIN
from test_cli import ADMIN_PW, activate, as_admin, cli
import wire

LIB = BIN.parent / "lib" / "libopenhsm.so"
CU, KT_EC, KT_GENERIC, CURVE_P256 = 3, 3, 16, 1
M_AES_GCM, M_HMAC, M_ECDH = 1, 14, 60
DERIVE = 50  # Request oneof field of DeriveReq (proto/hsm.proto)
H_NONE, H_SHA256 = 0, 3
A_SENSITIVE, A_DERIVE, A_EXTRACTABLE = 0x103, 0x10C, 0x162
A_QUORUM_MANAGE, A_QUORUM_USE = 0x80000007, 0x80000008
F_TOKEN, F_LOCAL, F_ALWAYS_SENSITIVE, F_NEVER_EXTRACTABLE = 1, 1 << 15, 1 << 16, 1 << 17
RV = dict(OK=0, KEY_HANDLE_INVALID=20, KEY_FUNCTION_NOT_PERMITTED=34, KEY_SIZE_RANGE=36,
          MECHANISM_INVALID=37, MECHANISM_PARAM_INVALID=38, KEY_TYPE_INCONSISTENT=41,
          TEMPLATE_INCONSISTENT=46, QUORUM_REQUIRED=57, USER_NOT_LOGGED_IN=10, ACCESS_DENIED=15)
INFO = b"openhsm e2e: ecdh"


class Obj(ctypes.Structure):
    """struct ohsm_obj (include/openhsm/obj.h)."""
    _fields_ = [("handle", ctypes.c_uint64), ("version", ctypes.c_uint64),
                ("cls", ctypes.c_uint32), ("ktype", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("owner", ctypes.c_char * 32), ("nshared", ctypes.c_uint32),
                ("shared", (ctypes.c_char * 32) * 31), ("owner_id", ctypes.c_uint32),
                ("shared_id", ctypes.c_uint32 * 31), ("label", ctypes.c_char * 128),
                ("id", ctypes.c_uint8 * 128), ("id_len", ctypes.c_uint32),
                ("value_len", ctypes.c_uint32), ("modulus_bits", ctypes.c_uint32),
                ("curve", ctypes.c_uint32), ("kcv", ctypes.c_uint8 * 3),
                ("has_kcv", ctypes.c_bool), ("spki_len", ctypes.c_uint32),
                ("spki", ctypes.c_uint8 * 1100), ("quorum_manage", ctypes.c_uint32),
                ("quorum_use", ctypes.c_uint32)]


class KeyGen(ctypes.Structure):
    """struct ohsm_keygen (include/openhsm/client.h)."""
    _fields_ = [("ktype", ctypes.c_uint32), ("length", ctypes.c_uint32),
                ("public_exponent", ctypes.c_uint64), ("curve", ctypes.c_uint32),
                ("tmpl", ctypes.c_char_p), ("tmpl_len", ctypes.c_size_t),
                ("pub_tmpl", ctypes.c_char_p), ("pub_tmpl_len", ctypes.c_size_t),
                ("share", ctypes.c_void_p), ("nshare", ctypes.c_size_t)]


class MechParams(ctypes.Structure):
    """struct ohsm_mech_params (include/openhsm/mech.h)."""
    _fields_ = [("mech", ctypes.c_uint32), ("hash", ctypes.c_uint32),
                ("mgf_hash", ctypes.c_uint32), ("salt_len", ctypes.c_uint32),
                ("prehashed", ctypes.c_bool), ("iv", ctypes.c_char_p), ("iv_len", ctypes.c_size_t),
                ("aad", ctypes.c_char_p), ("aad_len", ctypes.c_size_t),
                ("tag_bits", ctypes.c_uint32), ("label", ctypes.c_char_p),
                ("label_len", ctypes.c_size_t)]


class Derive(ctypes.Structure):
    """struct ohsm_derive (include/openhsm/client.h)."""
    _fields_ = [("mech", ctypes.c_uint32), ("kdf_hash", ctypes.c_uint32),
                ("peer_point", ctypes.c_char_p), ("peer_point_len", ctypes.c_size_t),
                ("shared_info", ctypes.c_char_p), ("shared_info_len", ctypes.c_size_t)]


class Client:
    """One libopenhsm client logged in as a crypto user on every HSM of the cluster."""

    def __init__(self, cluster, user, password):
        self.lib = ctypes.CDLL(str(LIB))
        self.libc = ctypes.CDLL(None)
        self.lib.ohsm_client_hsm_count.restype = ctypes.c_size_t
        self.lib.ohsm_client_key_derive.argtypes = [
            ctypes.c_void_p, ctypes.c_uint64, ctypes.POINTER(Derive), ctypes.c_uint32,
            ctypes.c_uint32, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
            ctypes.POINTER(Obj), ctypes.c_void_p]
        self.cfg, self.c = ctypes.c_void_p(), ctypes.c_void_p()
        err = ctypes.create_string_buffer(256)
        assert self.lib.ohsm_cfg_load(cluster.config.encode(), ctypes.byref(self.cfg), err,
                                      ctypes.c_size_t(256)) == 0, err.value
        assert self.lib.ohsm_client_new(self.cfg, ctypes.byref(self.c)) == 0
        self.n = self.lib.ohsm_client_hsm_count(self.c)
        res = self.res()
        assert self.lib.ohsm_client_login(self.c, CU, user.encode(), password.encode(), res,
                                          None) == 0, list(res)

    def close(self):
        self.lib.ohsm_client_free(self.c)
        self.lib.ohsm_cfg_free(self.cfg)

    def res(self):
        return (ctypes.c_int * self.n)()

    def out(self, p, n):
        data = ctypes.string_at(p, n.value)
        self.libc.free(p)
        return data

    def gen_ec(self, tmpl=b"", pub_tmpl=b"", share=()):
        names = (ctypes.c_char_p * max(1, len(share)))(*[u.encode() for u in share])
        g = KeyGen(ktype=KT_EC, curve=CURVE_P256, tmpl=tmpl, tmpl_len=len(tmpl),
                   pub_tmpl=pub_tmpl, pub_tmpl_len=len(pub_tmpl),
                   share=ctypes.cast(names, ctypes.c_void_p) if share else None,
                   nshare=len(share))
        objs, n, res = (Obj * 2)(), ctypes.c_size_t(), self.res()
        assert self.lib.ohsm_client_key_generate(self.c, ctypes.byref(g), objs, ctypes.byref(n),
                                                 res) == 0, list(res)
        return objs[0].handle, objs[1].handle

    def public_key(self, handle):
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        assert self.lib.ohsm_client_key_export_public(self.c, ctypes.c_uint64(handle),
                                                      ctypes.byref(p), ctypes.byref(n)) == 0
        return serialization.load_der_public_key(self.out(p, n))

    def derive(self, base, point, kdf=H_SHA256, info=INFO, tmpl=b"", cls=wire.CLS_SECRET,
               ktype=wire.KT_AES, mech=M_ECDH):
        """(rv, per-HSM results, the new record)."""
        d = Derive(mech=mech, kdf_hash=kdf, peer_point=point, peer_point_len=len(point),
                   shared_info=info, shared_info_len=len(info))
        obj, res = Obj(), self.res()
        rv = self.lib.ohsm_client_key_derive(self.c, base, ctypes.byref(d), cls, ktype, tmpl,
                                             len(tmpl), None, 0, ctypes.byref(obj), res)
        return rv, list(res), obj

    def get_on(self, i, handle):
        obj = Obj()
        rv = self.lib.ohsm_client_key_get_on(self.c, ctypes.c_size_t(i), ctypes.c_uint64(handle),
                                             ctypes.byref(obj))
        return rv, obj

    def handles(self):
        objs, n = ctypes.POINTER(Obj)(), ctypes.c_size_t()
        assert self.lib.ohsm_client_key_find(self.c, None, ctypes.c_size_t(0), ctypes.byref(objs),
                                             ctypes.byref(n)) == 0
        got = sorted(objs[i].handle for i in range(n.value))
        self.libc.free(objs)
        return got

    def encrypt_gcm(self, handle, data):
        m = MechParams(mech=M_AES_GCM)
        p, n, iv, ivn = ctypes.c_void_p(), ctypes.c_size_t(), (ctypes.c_uint8 * 16)(), \
            ctypes.c_size_t()
        assert self.lib.ohsm_client_encrypt(self.c, ctypes.c_uint64(handle), ctypes.byref(m), data,
                                            ctypes.c_size_t(len(data)), ctypes.byref(p),
                                            ctypes.byref(n), iv, ctypes.byref(ivn)) == 0
        return bytes(iv[:ivn.value]), self.out(p, n)

    def hmac_sha256(self, handle, data):
        m = MechParams(mech=M_HMAC, hash=H_SHA256)
        p, n = ctypes.c_void_p(), ctypes.c_size_t()
        assert self.lib.ohsm_client_sign(self.c, ctypes.c_uint64(handle), ctypes.byref(m), data,
                                         ctypes.c_size_t(len(data)), ctypes.byref(p),
                                         ctypes.byref(n)) == 0
        return self.out(p, n)

    def share(self, handle, user):
        res = self.res()
        assert self.lib.ohsm_client_key_share(self.c, ctypes.c_uint64(handle), user.encode(), True,
                                              res) == 0, list(res)


def users(cluster, *names):
    activate(cluster)
    for name in names:
        code, out, text = cli(cluster, "user", "create", "--username", name, "--role",
                              "crypto-user", "--password", name + "-pass1", **as_admin())
        assert code == 0, text


def peer():
    """The other party: a P-256 key pair made in Python, and its uncompressed point."""
    k = ec.generate_private_key(ec.SECP256R1())
    return k, k.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)


def x963(shared, n=32, info=INFO):
    return X963KDF(algorithm=hashes.SHA256(), length=n, sharedinfo=info).derive(shared)


def aes_tmpl(n=32, *extra):
    return wire.attrs((wire.A_VALUE_LEN, n), (wire.A_ENCRYPT, True), (wire.A_DECRYPT, True),
                      *extra)


def test_derive_ecdh_agrees_with_the_peer_on_every_hsm(cluster):
    users(cluster, "alice", "bob")
    a = Client(cluster, "alice", "alice-pass1")
    b = Client(cluster, "bob", "bob-pass1")
    try:
        assert a.n == 2
        priv, pub = a.gen_ec(wire.attrs((A_DERIVE, True)))
        hsm_pub = a.public_key(pub)
        mine, point = peer()
        shared = mine.exchange(ec.ECDH(), hsm_pub)

        # AES-256 through the X9.63 KDF: a token key, the same handle on both HSMs, not local.
        rv, res, key = a.derive(priv, point, tmpl=aes_tmpl())
        assert (rv, res) == (0, [0, 0])
        assert (key.cls, key.ktype, key.value_len) == (wire.CLS_SECRET, wire.KT_AES, 32)
        assert key.flags & F_TOKEN and not key.flags & F_LOCAL
        assert key.owner == b"alice"
        expect = x963(shared)
        kcv = Cipher(algorithms.AES(expect), modes.ECB()).encryptor().update(bytes(16))[:3]
        assert key.has_kcv and bytes(key.kcv) == kcv
        for i in range(2):
            rv, got = a.get_on(i, key.handle)
            assert rv == 0 and got.handle == key.handle and bytes(got.kcv) == kcv
        # The HSM encrypts with it; the peer's own key decrypts.
        iv, ct = a.encrypt_gcm(key.handle, b"attack at dawn")
        assert len(iv) == 12
        assert AESGCM(expect).decrypt(iv, ct, None) == b"attack at dawn"
        # The base key was always sensitive and is extractable: the derived key is always
        # sensitive and (though unextractable) not never-extractable (PKCS#11 C_DeriveKey).
        rv, res, k2 = a.derive(priv, point, tmpl=aes_tmpl(16, (A_EXTRACTABLE, False)))
        assert rv == 0 and k2.value_len == 16
        assert k2.flags & F_ALWAYS_SENSITIVE and not k2.flags & F_NEVER_EXTRACTABLE
        rv, res, k3 = a.derive(priv, point, tmpl=aes_tmpl(24, (A_SENSITIVE, False)))
        assert rv == 0 and not k3.flags & F_ALWAYS_SENSITIVE
        iv, ct = a.encrypt_gcm(k2.handle, b"x")
        assert AESGCM(x963(shared, 16)).decrypt(iv, ct, None) == b"x"

        # A never-extractable base key gives never-extractable keys while they stay unextractable.
        npriv, npub = a.gen_ec(wire.attrs((A_DERIVE, True), (A_EXTRACTABLE, False)))
        nshared = mine.exchange(ec.ECDH(), a.public_key(npub))
        rv, res, k4 = a.derive(npriv, point, tmpl=aes_tmpl(32, (A_EXTRACTABLE, False)))
        assert rv == 0 and k4.flags & F_NEVER_EXTRACTABLE and k4.flags & F_ALWAYS_SENSITIVE
        rv, res, k5 = a.derive(npriv, point, tmpl=aes_tmpl(32))
        assert rv == 0 and not k5.flags & F_NEVER_EXTRACTABLE
        iv, ct = a.encrypt_gcm(k4.handle, b"y")
        assert AESGCM(x963(nshared)).decrypt(iv, ct, None) == b"y"

        # No KDF (CKD_NULL): a generic secret session key, the raw shared secret; it lives on one
        # HSM only, and its HMAC is Python's with the secret.
        tmpl = wire.attrs((wire.A_VALUE_LEN, 32), (wire.A_TOKEN, False))
        rv, res, raw = a.derive(priv, point, kdf=H_NONE, info=b"", tmpl=tmpl,
                                ktype=KT_GENERIC)
        assert rv == 0 and not raw.flags & F_TOKEN
        on = [a.get_on(i, raw.handle)[0] for i in range(2)]
        assert sorted(on) == [0, RV["KEY_HANDLE_INVALID"]], on
        assert a.hmac_sha256(raw.handle, b"msg") == hmac.new(shared, b"msg",
                                                             hashlib.sha256).digest()
        # ... and its leading bytes for a shorter key.
        tmpl = wire.attrs((wire.A_VALUE_LEN, 20), (wire.A_TOKEN, False))
        rv, res, raw20 = a.derive(priv, point, kdf=H_NONE, info=b"", tmpl=tmpl,
                                  ktype=KT_GENERIC)
        assert rv == 0
        assert a.hmac_sha256(raw20.handle, b"m") == hmac.new(shared[:20], b"m",
                                                             hashlib.sha256).digest()

        # A session base key lives on one HSM: the derivation runs there (twice, so round-robin
        # would have picked the other HSM once), and the token keys it makes reach both HSMs.
        spriv, spub = a.gen_ec(wire.attrs((A_DERIVE, True), (wire.A_TOKEN, False)),
                               wire.attrs((wire.A_TOKEN, False)))
        sshared = mine.exchange(ec.ECDH(), a.public_key(spub))
        for _ in range(2):
            rv, res, sk = a.derive(spriv, point, tmpl=aes_tmpl())
            assert (rv, res) == (0, [0, 0]) and sk.flags & F_TOKEN
            assert [a.get_on(i, sk.handle)[0] for i in range(2)] == [0, 0]
            iv, ct = a.encrypt_gcm(sk.handle, b"s")
            assert AESGCM(x963(sshared)).decrypt(iv, ct, None) == b"s"

        # Shared, not owned: bob may derive from alice's key; the new key is bob's.
        assert b.derive(priv, point, tmpl=aes_tmpl())[0] == RV["KEY_HANDLE_INVALID"]
        a.share(priv, "bob")
        rv, res, bk = b.derive(priv, point, tmpl=aes_tmpl())
        assert (rv, res) == (0, [0, 0]) and bk.owner == b"bob"
        iv, ct = b.encrypt_gcm(bk.handle, b"z")
        assert AESGCM(expect).decrypt(iv, ct, None) == b"z"
        assert bk.handle in b.handles() and bk.handle not in a.handles()
    finally:
        a.close()
        b.close()


def test_derive_refusals_create_nothing(cluster):
    users(cluster, "alice", "bob")
    a = Client(cluster, "alice", "alice-pass1")
    try:
        priv, pub = a.gen_ec(wire.attrs((A_DERIVE, True)))
        nod_priv, _ = a.gen_ec()  # derive=false (the default)
        # Under a key quorum (2 of alice and bob): a derive request carries no approval.
        qm_priv, _ = a.gen_ec(wire.attrs((A_DERIVE, True), (A_QUORUM_MANAGE, 2)), share=["bob"])
        qu_priv, _ = a.gen_ec(wire.attrs((A_DERIVE, True), (A_QUORUM_USE, 2)), share=["bob"])
        _, point = peer()
        other = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        off = bytearray(point)
        off[-1] ^= 1
        before = a.handles()
        assert len(before) == 8
        cases = [
            (dict(base=nod_priv, point=point), "KEY_FUNCTION_NOT_PERMITTED"),
            (dict(base=pub, point=point), "KEY_TYPE_INCONSISTENT"),
            (dict(base=priv, point=bytes(off)), "MECHANISM_PARAM_INVALID"),
            (dict(base=priv, point=other), "MECHANISM_PARAM_INVALID"),
            (dict(base=priv, point=point[1:]), "MECHANISM_PARAM_INVALID"),
            (dict(base=priv, point=b""), "MECHANISM_PARAM_INVALID"),
            (dict(base=priv, point=point, kdf=H_NONE), "MECHANISM_PARAM_INVALID"),
            (dict(base=priv, point=point, kdf=9), "MECHANISM_PARAM_INVALID"),
            (dict(base=priv, point=point, mech=M_AES_GCM), "MECHANISM_INVALID"),
            (dict(base=priv, point=point, tmpl=wire.attrs((wire.A_ENCRYPT, True))),
             "TEMPLATE_INCONSISTENT"),
            (dict(base=priv, point=point, tmpl=aes_tmpl(20)), "KEY_SIZE_RANGE"),
            (dict(base=priv, point=point, tmpl=aes_tmpl(), ktype=KT_EC), "TEMPLATE_INCONSISTENT"),
            (dict(base=priv, point=point, tmpl=aes_tmpl(), cls=wire.CLS_PRIVATE),
             "TEMPLATE_INCONSISTENT"),
            # The raw secret of P-256 is 32 bytes: a longer key without a KDF is out of range.
            (dict(base=priv, point=point, tmpl=wire.attrs((wire.A_VALUE_LEN, 33)), kdf=H_NONE,
                  info=b"", ktype=KT_GENERIC), "KEY_SIZE_RANGE"),
            (dict(base=priv + (1 << 40), point=point), "KEY_HANDLE_INVALID"),
            (dict(base=qm_priv, point=point), "QUORUM_REQUIRED"),
            (dict(base=qu_priv, point=point), "QUORUM_REQUIRED"),
        ]
        for kw, want in cases:
            kw.setdefault("tmpl", aes_tmpl())
            rv, res, obj = a.derive(kw.pop("base"), kw.pop("point"), **kw)
            assert rv == RV[want], (kw, want, rv, res)
            assert obj.handle == 0
        assert a.handles() == before
        # Both HSMs hold every one of them still.
        for i in range(2):
            for h in before:
                assert a.get_on(i, h)[0] == 0

        # Crypto users only (the permission table's key-management row), on the raw wire: a
        # session not logged in and an admin are refused before any key is looked at.
        body = (wire.field(1, priv) + wire.field(2, M_ECDH) + wire.field(3, H_SHA256) +
                wire.field(4, point) + wire.field(6, wire.CLS_SECRET) +
                wire.field(7, wire.KT_AES) + wire.field(8, aes_tmpl()))
        with wire.connect(cluster, 0) as s:
            assert wire.call(s, 1, DERIVE, body).get(2, 0) == RV["USER_NOT_LOGGED_IN"]
        with wire.login(cluster, 1, wire.UT_CO, "admin", ADMIN_PW) as s:
            assert wire.call(s, 2, DERIVE, body).get(2, 0) == RV["ACCESS_DENIED"]
        with wire.login(cluster, 1, wire.UT_CU, "alice", "alice-pass1") as s:
            # The same request from the owner works on the raw wire too (a token key, answered
            # with its record and masked object: field 20, KeyResp).
            r = wire.call(s, 3, DERIVE, body)
            assert r.get(2, 0) == 0 and len(wire.repeated(r[20], 2)) == 1
    finally:
        a.close()
