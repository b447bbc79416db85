# SPDX-License-Identifier: Apache-2.0
"""Issue 15: key role classes (OHSM_A_ROLE_CLASS) against the Tookan attacks (Bortolozzo,
Centenaro, Focardi, Steel, CCS 2010), spoken on the raw wire by a crypto user holding sessions to
each HSM of a 2-HSM cluster, not through a front end:

- a data key (class 1: encrypt/decrypt) never gets wrap or unwrap, on either HSM, when the
  set-attribute goes to that HSM only, also after decrypt (on one HSM) and encrypt (on the other)
  were turned off first, so the two copies differ;
- a wrapping key (class 2: wrap/unwrap) never gets encrypt or decrypt, likewise, and cannot
  decrypt the blob it wrapped;
- creation with a role outside the class (an AES key, an RSA pair's private half) or an unknown
  class is refused and creates nothing on either HSM; the class itself cannot be set;
- a sensitive key with a class is wrapped only by a wrapping-class key, never by a key without a
  class that may also decrypt (the wrap/decrypt attack with a key made on the wire), nor by one
  imported with a value the caller knows, unless an admin trusts it;
- what a wrapping-class key unwraps gets a class and stays sensitive (no laundering);
- a key made without a class (as key_mgmt_util's genSymKey makes them: encrypt, decrypt, wrap and
  unwrap all true) behaves exactly as before: its record has no role-class attribute, and all four
  uses and every set-attribute work on both HSMs.

Every refusal is an exact ohsm_rv and leaves both HSMs' records as they were.
"""
import struct

import pytest

import wire
from test_cli import ADMIN_PW, cluster_with_users

RV = dict(wire.RV, ATTRIBUTE_VALUE_INVALID=32, ATTRIBUTE_READ_ONLY=33, TEMPLATE_INCONSISTENT=46)
A_ROLE_CLASS = 0x8000000B
A_SENSITIVE, A_TRUSTED = 0x103, 0x86
DATA, WRAPPING = 1, 2
KEY_SET_ATTR, CRYPTO = 25, 29
ENCRYPT, DECRYPT = 1, 2
AES_ECB = wire.field(1, 4)
AES_KWP = wire.field(1, wire.M_AES_KWP)
PLAIN = bytes(range(32))
PW = "alice-pass1"


@pytest.fixture(scope="module")
def hsms(tmp_path_factory):
    with cluster_with_users(tmp_path_factory.mktemp("roles") / "data", 2, ("alice", PW)) as c:
        yield c


def cu(c, i):
    return wire.login(c, i, wire.UT_CU, "alice", PW)


def everything(c, i):
    """Every object of HSM i, as the admin sees them."""
    with wire.login(c, i, wire.UT_CO, "admin", ADMIN_PW) as s:
        return wire.find_all(s)


def key_resp(r):
    body = r.get(20, b"")
    return wire.repeated(body, 1), wire.repeated(body, 2)


def gen(c, tmpl, ktype=wire.KT_AES, pub=None):
    """KeyGen on HSM 0 (token keys), its masked objects inserted into HSM 1, as the client library
    does: (rv, handles). A refusal must leave both HSMs without a new object."""
    before = [everything(c, 0), everything(c, 1)]
    body = wire.field(1, ktype) + wire.field(2, 32 if ktype == wire.KT_AES else 2048)
    body += wire.field(5, wire.attrs((wire.A_TOKEN, True), *tmpl))
    if pub is not None:
        body += wire.field(6, wire.attrs((wire.A_TOKEN, True), *pub))
    with cu(c, 0) as s:
        r = wire.call(s, 2, wire.KEY_GEN, body)
    rv = r.get(2, 0)
    if rv != RV["OK"]:
        assert [everything(c, 0), everything(c, 1)] == before
        return rv, []
    recs, masked = key_resp(r)
    assert len(recs) == len(masked) == (1 if pub is None else 2)
    with cu(c, 1) as s:
        for blob in masked:
            assert wire.call(s, 3, wire.MASKED_INSERT, wire.field(1, blob)).get(2, 0) == 0
    return rv, [wire.record_handle(rec) for rec in recs]


def record(c, i, h):
    with cu(c, i) as s:
        r = wire.call(s, 4, wire.KEY_GET, wire.field(1, h))
        assert r.get(2, 0) == 0, r
        return wire.parse_attrs(wire.repeated(r[20], 1)[0])


def flag(rec, aid):
    return rec[aid][0] == b"\x01"


def set_attr(c, i, h, *pairs):
    """KeySetAttr on HSM i only; refusals change neither HSM's record."""
    before = [record(c, 0, h), record(c, 1, h)]
    with cu(c, i) as s:
        rv = wire.call(s, 5, KEY_SET_ATTR, wire.field(1, h) + wire.field(2, wire.attrs(*pairs)))
        rv = rv.get(2, 0)
    if rv != RV["OK"]:
        assert [record(c, 0, h), record(c, 1, h)] == before
    return rv


def crypto(c, i, op, h, data, mech=AES_ECB):
    body = wire.field(1, op) + wire.field(2, h) + wire.field(3, mech) + wire.field(4, data)
    with cu(c, i) as s:
        r = wire.call(s, 6, CRYPTO, body)
    return r.get(2, 0), wire.parse_fields(r[27]).get(1, b"") if 27 in r else b""


def wrap(c, i, wrapping, payload):
    body = wire.field(1, wrapping) + wire.field(2, payload) + wire.field(3, AES_KWP)
    with cu(c, i) as s:
        r = wire.call(s, 7, wire.WRAP, body)
    return r.get(2, 0), wire.parse_fields(r[27]).get(1, b"") if 27 in r else b""


def unwrap(c, i, unwrapping, blob, tmpl=()):
    body = wire.field(1, unwrapping) + wire.field(2, AES_KWP) + wire.field(3, blob) + \
        wire.field(4, wire.CLS_SECRET) + wire.field(5, wire.KT_AES) + \
        wire.field(6, wire.attrs((wire.A_LABEL, "unwrapped"), *tmpl))
    with cu(c, i) as s:
        r = wire.call(s, 8, wire.UNWRAP, body)
    recs, _ = key_resp(r)
    return r.get(2, 0), recs


def payload(c):
    rv, hs = gen(c, [(wire.A_LABEL, "payload"), (wire.A_EXTRACTABLE, True)])
    assert rv == RV["OK"]
    return hs[0]


def role(rec):
    return struct.unpack(">I", rec[A_ROLE_CLASS][0])[0]


def test_data_key_never_gets_wrap_or_unwrap(hsms):
    rv, (h,) = gen(hsms, [(wire.A_LABEL, "data"), (A_ROLE_CLASS, DATA), (wire.A_ENCRYPT, True),
                          (wire.A_DECRYPT, True)])
    assert rv == RV["OK"]
    assert [role(record(hsms, i, h)) for i in (0, 1)] == [DATA, DATA]
    for i in (0, 1):
        for aid in (wire.A_WRAP, wire.A_UNWRAP):
            assert set_attr(hsms, i, h, (aid, True)) == RV["TEMPLATE_INCONSISTENT"]
        # The class itself: read only, whatever the value.
        for v in (0, DATA, WRAPPING):
            assert set_attr(hsms, i, h, (A_ROLE_CLASS, v)) == RV["ATTRIBUTE_READ_ONLY"]
    # One change after the other, each sent to one HSM only: the copies now differ (HSM 0 cannot
    # decrypt, HSM 1 cannot encrypt), and neither lets wrap or unwrap on.
    assert set_attr(hsms, 0, h, (wire.A_DECRYPT, False)) == RV["OK"]
    assert set_attr(hsms, 1, h, (wire.A_ENCRYPT, False)) == RV["OK"]
    r0, r1 = record(hsms, 0, h), record(hsms, 1, h)
    assert (flag(r0, wire.A_ENCRYPT), flag(r0, wire.A_DECRYPT)) == (True, False)
    assert (flag(r1, wire.A_ENCRYPT), flag(r1, wire.A_DECRYPT)) == (False, True)
    for i in (0, 1):
        for aid in (wire.A_WRAP, wire.A_UNWRAP):
            assert set_attr(hsms, i, h, (aid, True)) == RV["TEMPLATE_INCONSISTENT"]
            # Both in one request (decrypt off, wrap on): all or nothing.
            assert set_attr(hsms, i, h, (wire.A_DECRYPT, False), (wire.A_ENCRYPT, False),
                            (aid, True)) == RV["TEMPLATE_INCONSISTENT"]
    # It still works as a data key where its flags allow, and never wraps.
    p = payload(hsms)
    rv, ct = crypto(hsms, 0, ENCRYPT, h, PLAIN)
    assert rv == RV["OK"] and len(ct) == 32
    assert crypto(hsms, 1, DECRYPT, h, ct) == (RV["OK"], PLAIN)
    for i in (0, 1):
        assert wrap(hsms, i, h, p)[0] == RV["KEY_FUNCTION_NOT_PERMITTED"]
    assert record(hsms, 0, h)[wire.A_WRAP] == [b"\x00"]
    assert record(hsms, 1, h)[wire.A_UNWRAP] == [b"\x00"]


def test_wrapping_key_never_gets_encrypt_or_decrypt(hsms):
    rv, (w,) = gen(hsms, [(wire.A_LABEL, "wrapping"), (A_ROLE_CLASS, WRAPPING),
                          (wire.A_WRAP, True), (wire.A_UNWRAP, True)])
    assert rv == RV["OK"]
    assert [role(record(hsms, i, w)) for i in (0, 1)] == [WRAPPING, WRAPPING]
    p = payload(hsms)
    rv, blob = wrap(hsms, 0, w, p)
    assert rv == RV["OK"] and len(blob) == 40
    for i in (0, 1):
        for aid in (wire.A_ENCRYPT, wire.A_DECRYPT):
            assert set_attr(hsms, i, w, (aid, True)) == RV["TEMPLATE_INCONSISTENT"]
        # The Tookan wrap/decrypt attack: the blob cannot be decrypted with the key.
        assert crypto(hsms, i, DECRYPT, w, blob[:32])[0] == RV["KEY_FUNCTION_NOT_PERMITTED"]
    # Roles off on one HSM, then on: still only within the class.
    assert set_attr(hsms, 0, w, (wire.A_WRAP, False)) == RV["OK"]
    assert set_attr(hsms, 1, w, (wire.A_UNWRAP, False)) == RV["OK"]
    for i in (0, 1):
        for aid in (wire.A_ENCRYPT, wire.A_DECRYPT):
            assert set_attr(hsms, i, w, (aid, True)) == RV["TEMPLATE_INCONSISTENT"]
    assert set_attr(hsms, 0, w, (wire.A_WRAP, True)) == RV["OK"]
    # The wrapping key still unwraps (on HSM 0, whose copy kept unwrap): the same key comes back.
    rv, recs = unwrap(hsms, 0, w, blob, [(A_ROLE_CLASS, DATA), (wire.A_ENCRYPT, True)])
    assert rv == RV["OK"] and len(recs) == 1
    new = wire.parse_attrs(recs[0])
    assert new[wire.A_KCV] == record(hsms, 0, p)[wire.A_KCV]
    assert role(new) == DATA
    # An unwrap template outside its class is refused like any creation.
    before = everything(hsms, 0)
    assert unwrap(hsms, 0, w, blob, [(A_ROLE_CLASS, DATA), (wire.A_WRAP, True)])[0] == \
        RV["TEMPLATE_INCONSISTENT"]
    assert everything(hsms, 0) == before


def test_creation_outside_the_class_creates_nothing(hsms):
    assert gen(hsms, [(A_ROLE_CLASS, WRAPPING), (wire.A_WRAP, True), (wire.A_UNWRAP, True),
                      (wire.A_DECRYPT, True)]) == (RV["TEMPLATE_INCONSISTENT"], [])
    assert gen(hsms, [(A_ROLE_CLASS, WRAPPING), (wire.A_ENCRYPT, True)]) == \
        (RV["TEMPLATE_INCONSISTENT"], [])
    assert gen(hsms, [(wire.A_WRAP, True), (A_ROLE_CLASS, DATA), (wire.A_DECRYPT, True)]) == \
        (RV["TEMPLATE_INCONSISTENT"], [])
    assert gen(hsms, [(A_ROLE_CLASS, DATA), (wire.A_UNWRAP, True)]) == \
        (RV["TEMPLATE_INCONSISTENT"], [])
    for bad in (3, 0xFFFFFFFF):
        assert gen(hsms, [(A_ROLE_CLASS, bad)]) == (RV["ATTRIBUTE_VALUE_INVALID"], [])
    # An RSA pair: the public half wraps, so the same class 2 on both; a private half that would
    # decrypt is refused, and so is a class-1 public half that would wrap.
    assert gen(hsms, [(A_ROLE_CLASS, WRAPPING), (wire.A_UNWRAP, True), (wire.A_DECRYPT, True)],
               ktype=wire.KT_RSA, pub=[(A_ROLE_CLASS, WRAPPING), (wire.A_WRAP, True)]) == \
        (RV["TEMPLATE_INCONSISTENT"], [])
    assert gen(hsms, [(A_ROLE_CLASS, DATA), (wire.A_DECRYPT, True)], ktype=wire.KT_RSA,
               pub=[(A_ROLE_CLASS, DATA), (wire.A_ENCRYPT, True), (wire.A_WRAP, True)]) == \
        (RV["TEMPLATE_INCONSISTENT"], [])
    rv, (priv, pub) = gen(hsms, [(A_ROLE_CLASS, WRAPPING), (wire.A_UNWRAP, True)],
                          ktype=wire.KT_RSA, pub=[(A_ROLE_CLASS, WRAPPING), (wire.A_WRAP, True)])
    assert rv == RV["OK"]
    for i in (0, 1):
        assert role(record(hsms, i, priv)) == role(record(hsms, i, pub)) == WRAPPING
        assert set_attr(hsms, i, priv, (wire.A_DECRYPT, True)) == RV["TEMPLATE_INCONSISTENT"]
        assert set_attr(hsms, i, pub, (wire.A_ENCRYPT, True)) == RV["TEMPLATE_INCONSISTENT"]


def test_key_without_a_class_behaves_as_before(hsms):
    # key_mgmt_util's genSymKey: encrypt, decrypt, wrap and unwrap all true, no class.
    four = [(wire.A_ENCRYPT, True), (wire.A_DECRYPT, True), (wire.A_WRAP, True),
            (wire.A_UNWRAP, True)]
    rv, (k,) = gen(hsms, [(wire.A_LABEL, "kmu-style")] + four)
    assert rv == RV["OK"]
    for i in (0, 1):
        assert A_ROLE_CLASS not in record(hsms, i, k)  # the record's bytes as before issue 15
    p = payload(hsms)
    for i in (0, 1):
        rv, ct = crypto(hsms, i, ENCRYPT, k, PLAIN)
        assert rv == RV["OK"] and len(ct) == 32
        assert crypto(hsms, 1 - i, DECRYPT, k, ct) == (RV["OK"], PLAIN)
        rv, blob = wrap(hsms, i, k, p)
        assert rv == RV["OK"] and len(blob) == 40
        rv, recs = unwrap(hsms, 1 - i, k, blob)
        assert rv == RV["OK"] and len(recs) == 1
        assert wire.parse_attrs(recs[0])[wire.A_KCV] == record(hsms, 0, p)[wire.A_KCV]
    # Every role off and on again, on each HSM (the CLI's set-attribute of today).
    for i in (0, 1):
        for aid, _ in four:
            assert set_attr(hsms, i, k, (aid, False)) == RV["OK"]
            assert set_attr(hsms, i, k, (aid, True)) == RV["OK"]
        rec = record(hsms, i, k)
        assert all(flag(rec, aid) for aid, _ in four)
        assert A_ROLE_CLASS not in rec


def test_sensitive_key_with_a_class_leaves_only_under_a_wrapping_key(hsms):
    # Tookan's wrap/decrypt attack with a key of no class: anyone may make one with wrap and
    # decrypt (on the wire, as here, or with key_mgmt_util); it may not wrap a sensitive key that
    # has a class, on either HSM. A wrapping-class key may, and cannot decrypt what it wrapped.
    rv, (d,) = gen(hsms, [(wire.A_LABEL, "sensitive-data"), (A_ROLE_CLASS, DATA),
                          (wire.A_ENCRYPT, True), (wire.A_DECRYPT, True),
                          (wire.A_EXTRACTABLE, True)])
    assert rv == RV["OK"]
    assert all(flag(record(hsms, i, d), A_SENSITIVE) for i in (0, 1))
    rv, (k,) = gen(hsms, [(wire.A_LABEL, "no-class"), (wire.A_ENCRYPT, True),
                          (wire.A_DECRYPT, True), (wire.A_WRAP, True), (wire.A_UNWRAP, True)])
    assert rv == RV["OK"]
    rv, (w,) = gen(hsms, [(wire.A_LABEL, "wrapping-2"), (A_ROLE_CLASS, WRAPPING),
                          (wire.A_WRAP, True), (wire.A_UNWRAP, True)])
    assert rv == RV["OK"]
    for i in (0, 1):
        assert wrap(hsms, i, k, d) == (RV["KEY_FUNCTION_NOT_PERMITTED"], b"")
        rv, blob = wrap(hsms, i, w, d)
        assert rv == RV["OK"] and len(blob) == 40
        assert crypto(hsms, i, DECRYPT, w, blob[:32])[0] == RV["KEY_FUNCTION_NOT_PERMITTED"]


def test_wrapping_key_of_a_known_value_needs_an_admins_trust(hsms):
    # Tookan's import attack: a wrapping key whose value the caller chose (imported in clear) would
    # wrap a sensitive key into a blob the caller unwraps outside. Only keys generated in the HSM,
    # or trusted by an admin, wrap a sensitive key with a class.
    x = bytes(range(32))
    body = wire.field(1, wire.CLS_SECRET) + wire.field(2, wire.KT_AES) + wire.field(3, x) + \
        wire.field(4, wire.attrs((wire.A_LABEL, "known"), (wire.A_TOKEN, True),
                                 (A_ROLE_CLASS, WRAPPING), (wire.A_WRAP, True)))
    with cu(hsms, 0) as s:
        r = wire.call(s, 2, wire.KEY_IMPORT, body)
        assert r.get(2, 0) == RV["OK"], r
        known = wire.record_handle(key_resp(r)[0][0])
    rv, (d,) = gen(hsms, [(wire.A_LABEL, "target"), (A_ROLE_CLASS, DATA), (wire.A_ENCRYPT, True),
                          (wire.A_DECRYPT, True)])
    assert rv == RV["OK"]
    assert wrap(hsms, 0, known, d) == (RV["KEY_FUNCTION_NOT_PERMITTED"], b"")
    # A key without a class is wrapped by it as before.
    p = payload(hsms)
    assert wrap(hsms, 0, known, p)[0] == RV["OK"]
    # An admin vouches for the key (PKCS#11's CKA_TRUSTED): then it may.
    with wire.login(hsms, 0, wire.UT_CO, "admin", ADMIN_PW) as s:
        r = wire.call(s, 5, KEY_SET_ATTR, wire.field(1, known) +
                      wire.field(2, wire.attrs((A_TRUSTED, True))))
        assert r.get(2, 0) == RV["OK"], r
    rv, blob = wrap(hsms, 0, known, d)
    assert rv == RV["OK"] and len(blob) == 40


def test_what_a_wrapping_key_unwraps_keeps_a_class_and_stays_sensitive(hsms):
    # Laundering: unwrap a sensitive key with a class, wrapped by a wrapping-class key, as a key
    # of no class (which a key of no class would then wrap) or as a non-sensitive one: refused,
    # nothing created. With a class and sensitive, the copy is the same key.
    rv, (w,) = gen(hsms, [(wire.A_LABEL, "w3"), (A_ROLE_CLASS, WRAPPING), (wire.A_WRAP, True),
                          (wire.A_UNWRAP, True)])
    assert rv == RV["OK"]
    rv, (d,) = gen(hsms, [(wire.A_LABEL, "d3"), (A_ROLE_CLASS, DATA), (wire.A_ENCRYPT, True),
                          (wire.A_DECRYPT, True)])
    assert rv == RV["OK"]
    rv, blob = wrap(hsms, 1, w, d)
    assert rv == RV["OK"]
    for i in (0, 1):
        before = everything(hsms, i)
        for tmpl in ([], [(A_ROLE_CLASS, 0)], [(A_ROLE_CLASS, DATA), (A_SENSITIVE, False)],
                     [(A_SENSITIVE, False), (wire.A_EXTRACTABLE, True)]):
            assert unwrap(hsms, i, w, blob, tmpl) == (RV["TEMPLATE_INCONSISTENT"], [])
        assert everything(hsms, i) == before
    rv, recs = unwrap(hsms, 0, w, blob, [(A_ROLE_CLASS, DATA), (wire.A_DECRYPT, True)])
    assert rv == RV["OK"] and len(recs) == 1
    copy = wire.parse_attrs(recs[0])
    assert role(copy) == DATA and flag(copy, A_SENSITIVE)
    assert copy[wire.A_KCV] == record(hsms, 0, d)[wire.A_KCV]
