# SPDX-License-Identifier: Apache-2.0
"""Issue 11's new HSM request paths spoken on the raw wire, as a hostile caller holding sessions
(and many connections) sees them, not through openhsm-kmu/-cli/-cmu:

1. MaskedInsertReq.as_new (key_mgmt_util insertMaskedObject): the owner of the original gets a
   new key; nobody else does (another crypto user, one it is only shared with, an admin, the
   appliance user, a session not logged in); tampered, truncated, empty, oversized blobs, a sealed
   tombstone or user record are refused; 16 sessions inserting at once get 16 distinct keys; a
   race with the deletion of the original, or of the owner, leaves no key without a live owner.
2. HsmInfoReq (getHSMInfo / cluster hsm-info): answered to every session type with sane fields;
   a malformed request gets OHSM_PROTOCOL and only that connection is closed.
3. rsa-aes wrap (OHSM_M_RSA_AES_KW): wrap with the RSA public key, unwrap with the private key
   (and a blob made outside with `cryptography`) gives the same key check value; bad blobs, the
   wrong key type or class, keys without wrap/unwrap are refused.

Every refusal is an exact ohsm_rv and leaves the HSM's objects as they were (counted as the admin
sees them: every object of the HSM). One activated single-HSM cluster serves the module; each test
makes its own keys.
"""
import os
import struct
import threading

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

import wire
from conftest import Cluster, wait_for
from test_cli import ADMIN_PW, activate

RV = wire.RV
PW = {"alice": "alice-pass1", "bob": "bob-pass1", "carol": "carol-pass1",
      "dave": "dave-pass1"}
MASK_MAX = 64 * 1024  # OHSM_MASK_MAX (include/openhsm/mask.h): the largest masked object
JOIN = 60  # seconds a worker thread may take before the test fails
AES_KEY = [(wire.A_TOKEN, True), (wire.A_EXTRACTABLE, True), (wire.A_ENCRYPT, True),
           (wire.A_DECRYPT, True), (wire.A_WRAP, True), (wire.A_UNWRAP, True)]


@pytest.fixture(scope="module")
def hsm(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("wire") / "data", hsms=1)
    try:
        activate(c)
        with co(c) as s:
            for name in ("alice", "bob"):
                assert create_user(s, name) == RV["OK"]
        yield c
    finally:
        c.stop()


def create_user(s, name):
    body = wire.field(1, wire.UT_CU) + wire.field(2, name.encode()) + \
        wire.field(3, PW[name].encode())
    return wire.call(s, 5, wire.CREATE_USER, body).get(2, 0)


def cu(c, name="alice"):
    return wire.login(c, 0, wire.UT_CU, name, PW[name])


def co(c):
    return wire.login(c, 0, wire.UT_CO, "admin", ADMIN_PW)


def uid(c, name):
    with wire.connect(c, 0) as s:
        r = wire.call(s, 1, wire.LOGIN, wire.login_body(wire.UT_CU, name, PW[name]))
        assert r.get(2, 0) == 0, r
        return wire.parse_fields(r[11])[2]


def everything(c):
    """Every object of the HSM, as the admin sees them."""
    with co(c) as s:
        return wire.find_all(s)


def record(s, h):
    r = wire.call(s, 9, wire.KEY_GET, wire.field(1, h))
    assert r.get(2, 0) == 0, r
    return wire.repeated(r[20], 1)[0]


def key_resp(r):
    """(records, masked) of a KeyResp answer."""
    body = r.get(20, b"")
    return wire.repeated(body, 1), wire.repeated(body, 2)


def gen_aes(s, label, extra=AES_KEY):
    body = wire.field(1, wire.KT_AES) + wire.field(2, 32) + \
        wire.field(5, wire.attrs((wire.A_LABEL, label), *extra))
    r = wire.call(s, 6, wire.KEY_GEN, body)
    assert r.get(2, 0) == 0, r
    recs, _ = key_resp(r)
    return wire.record_handle(recs[0])


def gen_rsa(s, label, priv=(), pub=()):
    """An RSA-2048 token pair: (private handle, public handle)."""
    body = wire.field(1, wire.KT_RSA) + wire.field(2, 2048) + \
        wire.field(5, wire.attrs((wire.A_LABEL, label), (wire.A_TOKEN, True), *priv)) + \
        wire.field(6, wire.attrs((wire.A_LABEL, label), (wire.A_TOKEN, True), *pub))
    r = wire.call(s, 6, wire.KEY_GEN, body)
    assert r.get(2, 0) == 0, r
    recs, _ = key_resp(r)
    assert len(recs) == 2
    return wire.record_handle(recs[0]), wire.record_handle(recs[1])


def delete(s, h):
    return wire.call(s, 8, wire.KEY_DELETE, wire.field(1, h)).get(2, 0)


def extract(s, h):
    r = wire.call(s, 10, wire.MASKED_EXTRACT, wire.field(1, h))
    assert r.get(2, 0) == 0, r
    return wire.parse_fields(r[31])[1]


def insert_new(s, blob, replace=False):
    """MaskedInsertReq with as_new: (rv, records of the answer)."""
    body = wire.field(1, blob) + (wire.field(2, 1) if replace else b"") + wire.field(3, 1)
    r = wire.call(s, 11, wire.MASKED_INSERT, body)
    return r.get(2, 0), key_resp(r)[0]


def attr(rec, aid):
    return wire.parse_attrs(rec)[aid][0]


def ecb(s, h, data=bytes(range(32))):
    body = wire.field(1, 1) + wire.field(2, h) + wire.field(3, wire.field(1, 4)) + \
        wire.field(4, data)
    r = wire.call(s, 12, 29, body)  # CryptoReq ENCRYPT, AES-ECB
    assert r.get(2, 0) == 0, r
    return wire.parse_fields(r[27])[1]


def run_threads(target, n):
    """Runs target(i) in n threads started together; their results in order. Each thread joins
    with a deadline; a thread's exception fails the test."""
    results, errors = [None] * n, []
    gate = threading.Barrier(n, timeout=JOIN)

    def work(i):
        try:
            results[i] = target(i, gate)
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN)
        assert not t.is_alive(), "a worker did not finish in time"
    assert not errors, errors
    return results


def alive(c):
    """The HSM answers a fresh connection (hsm info, not logged in) and its process is the one
    openhsmd started."""
    c.hsm_process(0)
    with wire.connect(c, 0) as s:
        r = wire.call(s, 3, wire.HSM_INFO)
        assert r.get(2, 0) == 0 and 17 in r, r


# ---- 1. masked insert as a new key ----

def test_as_new_gives_the_owner_a_new_key(hsm):
    alice_id = uid(hsm, "alice")
    with cu(hsm) as s:
        orig = gen_aes(s, "as-new")
        before_rec = record(s, orig)
        blob = extract(s, orig)
        before = everything(hsm)
        rv, recs = insert_new(s, blob)
        assert rv == RV["OK"] and len(recs) == 1
        new = wire.record_handle(recs[0])
        assert new not in before
        assert everything(hsm) == sorted(before + [new])
        # A new key: its own handle, version 1, alice's, the record's attributes and material.
        got = record(s, new)
        assert struct.unpack(">Q", attr(got, wire.A_VERSION))[0] == 1
        assert struct.unpack(">I", attr(got, wire.A_OWNER_ID))[0] == alice_id
        assert attr(got, wire.A_OWNER) == b"alice"
        assert attr(got, wire.A_LABEL) == b"as-new"
        assert attr(got, wire.A_KCV) == attr(before_rec, wire.A_KCV)
        assert ecb(s, new) == ecb(s, orig)
        # The original is as it was, record and sealed object byte for byte.
        assert record(s, orig) == before_rec
        assert extract(s, orig) == blob
        # The same blob again: yet another key.
        rv, recs = insert_new(s, blob)
        assert rv == RV["OK"]
        again = wire.record_handle(recs[0])
        assert again not in (orig, new)
        assert everything(hsm) == sorted(before + [new, again])


def test_as_new_only_for_the_owner(hsm):
    with cu(hsm) as a:
        mine = gen_aes(a, "not-yours")
        shared = gen_aes(a, "shared-with-bob")
        r = wire.call(a, 13, 26, wire.field(1, shared) + wire.field(2, b"bob") +
                      wire.field(3, 1))  # KeyShareReq
        assert r.get(2, 0) == 0, r
        blob, shared_blob = extract(a, mine), extract(a, shared)
        before = everything(hsm)
        # Both as_new and replace: a bad request, whoever asks.
        assert insert_new(a, blob, replace=True) == (RV["ARGUMENTS_BAD"], [])
    with cu(hsm, "bob") as b:
        # Another crypto user: the key looks absent to him, as key_get says.
        assert insert_new(b, blob) == (RV["KEY_HANDLE_INVALID"], [])
        # Shared with him: he may take the blob but gets no copy to own.
        assert extract(b, shared) == shared_blob
        assert insert_new(b, shared_blob) == (RV["KEY_HANDLE_INVALID"], [])
    with co(hsm) as s:
        assert insert_new(s, blob) == (RV["USER_TYPE_INVALID"], [])  # admins own no keys
    with wire.login(hsm, 0, wire.UT_AU, "app_user", hsm.app_user_password()) as s:
        assert insert_new(s, blob) == (RV["USER_TYPE_INVALID"], [])
    with wire.connect(hsm, 0) as s:
        assert insert_new(s, blob) == (RV["USER_NOT_LOGGED_IN"], [])
    assert everything(hsm) == before


def test_as_new_grants_nothing_to_a_new_user_of_a_deleted_sharers_name(hsm):
    """The copy keeps the record's shares whose users still exist: dave, deleted since the
    extraction and created again under the same name (a new id), neither sees the new key nor is
    named in it."""
    with co(hsm) as s:
        assert create_user(s, "dave") == RV["OK"]
    old_dave = uid(hsm, "dave")
    with cu(hsm) as a:
        h = gen_aes(a, "shared-with-dave")
        r = wire.call(a, 13, 26, wire.field(1, h) + wire.field(2, b"dave") + wire.field(3, 1))
        assert r.get(2, 0) == 0, r
        blob = extract(a, h)
    with co(hsm) as s:
        body = wire.field(1, wire.UT_CU) + wire.field(2, b"dave")
        assert wire.call(s, 17, 15, body).get(2, 0) == RV["OK"]  # DeleteUserReq
        assert create_user(s, "dave") == RV["OK"]
    assert uid(hsm, "dave") != old_dave
    with cu(hsm) as a:
        rv, recs = insert_new(a, blob)
        assert rv == RV["OK"]
        new = wire.record_handle(recs[0])
    with cu(hsm, "dave") as d:
        for x in (h, new):
            assert wire.call(d, 18, wire.KEY_GET, wire.field(1, x)).get(2, 0) == \
                RV["KEY_HANDLE_INVALID"]
            assert wire.call(d, 19, wire.MASKED_EXTRACT, wire.field(1, x)).get(2, 0) == \
                RV["KEY_HANDLE_INVALID"]
            assert insert_new(d, blob) == (RV["KEY_HANDLE_INVALID"], [])
        assert h not in wire.find_all(d) and new not in wire.find_all(d)
    # And the copy names no share: the dave it was shared with is gone (shares by id and name).
    got = wire.parse_attrs(recs[0])
    assert 0x80000003 not in got, got  # OHSM_A_SHARED: no name
    assert got[0x8000000A] == [b""], got  # OHSM_A_SHARED_IDS: no id
    assert 0x80000003 in wire.parse_attrs(blob[10:10 + struct.unpack(">I", blob[6:10])[0]])


def test_as_new_refuses_bad_blobs(hsm):
    with cu(hsm) as s:
        h = gen_aes(s, "tamper")
        blob = extract(s, h)
        gone = gen_aes(s, "deleted")
        gone_blob = extract(s, gone)
        assert delete(s, gone) == RV["OK"]
        tomb = extract(s, gone)  # a deleted handle's sealed tombstone
        assert tomb != gone_blob
        before = everything(hsm)
        # "OHMO" | version | kind | u32 rec_len | rec | nonce (12) | u32 ct_len | ct | tag (16)
        rec_len = struct.unpack(">I", blob[6:10])[0]
        ct_at = 10 + rec_len + 12 + 4
        bad = []
        for i in (0, 4, 5, 7, 10 + rec_len // 2, 10 + rec_len + 3, ct_at - 1, ct_at + 5,
                  len(blob) - 17, len(blob) - 16, len(blob) - 1):
            b = bytearray(blob)
            b[i] ^= 0x01
            bad.append(bytes(b))
        bad += [blob[:-1], blob[:ct_at], blob[:10], b"OHMO", blob + b"\0",
                (blob * 70)[:MASK_MAX], tomb]
        for b in bad:
            assert insert_new(s, b) == (RV["MASKED_OBJECT_INVALID"], []), bad.index(b)
        # A sealed user record (kind 2) is no key either.
        with co(hsm) as a:
            r = wire.call(a, 14, wire.USER_EXTRACT, wire.field(1, b"bob"))
            assert r.get(2, 0) == 0, r
            user_blob = wire.parse_fields(r[31])[1]
        assert insert_new(s, user_blob) == (RV["MASKED_OBJECT_INVALID"], [])
        # Empty: refused by the HSM. Above the largest masked object: the message does not
        # decode, so the HSM answers OHSM_PROTOCOL (id 0) and closes this connection only.
        assert insert_new(s, b"") == (RV["MASKED_OBJECT_INVALID"], [])
    with cu(hsm) as s:
        s.sendall(wire.frame(wire.request(15, wire.MASKED_INSERT,
                                          wire.field(1, b"\0" * (MASK_MAX + 1)) +
                                          wire.field(3, 1))))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(1, 0) == 0 and r.get(2, 0) == RV["PROTOCOL"], r
        assert wire.read_frame(s) is None
    alive(hsm)
    assert everything(hsm) == before
    # The sealed copy of the deleted key itself is a masked object of the cluster: as the backup
    # key_mgmt_util's insertMaskedObject restores, it becomes a new key of its owner
    # (test_kmu_insert_masked.py's after_the_original_is_deleted); the old handle stays deleted.
    with cu(hsm) as s:
        rv, recs = insert_new(s, gone_blob)
        assert rv == RV["OK"]
        new = wire.record_handle(recs[0])
        assert new != gone and attr(recs[0], wire.A_OWNER) == b"alice"
    assert everything(hsm) == sorted(before + [new])


def test_as_new_race_of_many_sessions(hsm):
    n = 16
    with cu(hsm) as s:
        orig = gen_aes(s, "race")
        blob = extract(s, orig)
        kcv = attr(record(s, orig), wire.A_KCV)
    before = everything(hsm)
    sessions = [cu(hsm) for _ in range(n)]  # each its own TLS session, logged in as the owner
    try:
        def go(i, gate):
            gate.wait()
            return insert_new(sessions[i], blob)
        results = run_threads(go, n)
    finally:
        for s in sessions:
            s.close()
    assert [rv for rv, _ in results] == [RV["OK"]] * n, results
    handles = [wire.record_handle(recs[0]) for _, recs in results]
    assert len(set(handles)) == n and orig not in handles
    assert everything(hsm) == sorted(before + handles)
    alive(hsm)
    with cu(hsm) as s:
        for h in handles:
            assert attr(record(s, h), wire.A_KCV) == kcv


def test_as_new_races_the_deletion_of_the_original(hsm):
    n, rounds = 8, 4
    alice_id = uid(hsm, "alice")
    with cu(hsm) as s:
        orig = gen_aes(s, "race-delete")
        blob = extract(s, orig)
    before = everything(hsm)
    sessions = [cu(hsm) for _ in range(n + 1)]
    try:
        def go(i, gate):
            gate.wait()
            if i == n:
                return [delete(sessions[i], orig)]
            return [insert_new(sessions[i], blob) for _ in range(rounds)]
        results = run_threads(go, n + 1)
    finally:
        for s in sessions:
            s.close()
    # The copy does not depend on the original: every insert is a new key, the delete succeeds.
    assert results[n] == [RV["OK"]]
    inserts = [x for r in results[:n] for x in r]
    assert [rv for rv, _ in inserts] == [RV["OK"]] * (n * rounds), inserts
    handles = [wire.record_handle(recs[0]) for _, recs in inserts]
    assert len(set(handles)) == n * rounds
    after = everything(hsm)
    assert after == sorted(set(before) - {orig} | set(handles))
    alive(hsm)
    with co(hsm) as s:
        for h in handles:
            assert struct.unpack(">I", attr(record(s, h), wire.A_OWNER_ID))[0] == alice_id
        assert wire.call(s, 16, wire.KEY_GET, wire.field(1, orig)).get(2, 0) == \
            RV["KEY_HANDLE_INVALID"]


def test_as_new_races_the_deletion_of_the_owner(hsm):
    """carol's only key is deleted; while sessions of hers insert its blob as new keys, the admin
    deletes her. Either order is fine, never a key owned by a deleted user."""
    with co(hsm) as s:
        assert create_user(s, "carol") == RV["OK"]
    with cu(hsm, "carol") as s:
        h = gen_aes(s, "carols")
        blob = extract(s, h)
        assert delete(s, h) == RV["OK"]
    before = everything(hsm)
    n = 8
    sessions = [cu(hsm, "carol") for _ in range(n)] + [co(hsm)]
    try:
        def go(i, gate):
            gate.wait()
            if i == n:
                body = wire.field(1, wire.UT_CU) + wire.field(2, b"carol")
                return [wire.call(sessions[i], 17, 15, body).get(2, 0)]  # DeleteUserReq
            return [insert_new(sessions[i], blob)[0] for _ in range(3)]
        results = run_threads(go, n + 1)
    finally:
        for s in sessions:
            s.close()
    deleted = results[n][0]
    inserted = [rv for r in results[:n] for rv in r]
    after = everything(hsm)
    added = sorted(set(after) - set(before))
    assert set(before) <= set(after)
    assert len(added) == inserted.count(RV["OK"])
    if deleted == RV["OK"]:
        # Deleted before any insert took: every insert is refused, nothing was added.
        assert set(inserted) == {RV["USER_NOT_LOGGED_IN"]} and added == [], inserted
    else:
        # A key was stored first: the deletion is refused (she owns keys) and she is still there.
        assert deleted == 49 and set(inserted) == {RV["OK"]}, (deleted, inserted)  # OWNS_KEYS
        carol = uid(hsm, "carol")
        with co(hsm) as s:
            for h in added:
                assert struct.unpack(">I", attr(record(s, h), wire.A_OWNER_ID))[0] == carol
            for h in added:
                assert delete_as(hsm, "carol", h) == RV["OK"]
            body = wire.field(1, wire.UT_CU) + wire.field(2, b"carol")
            assert wire.call(s, 18, 15, body).get(2, 0) == RV["OK"]
    alive(hsm)
    assert everything(hsm) == before


def delete_as(c, name, h):
    with cu(c, name) as s:
        return delete(s, h)


# ---- 2. HSM info ----

def info_fields(s):
    r = wire.call(s, 21, wire.HSM_INFO)
    assert r.get(1) == 21 and r.get(2, 0) == 0 and 17 in r, r
    return wire.parse_fields(r[17])


def check_info(c, f):
    assert f[1].decode() and f[2].decode() == c.cluster_id, f
    for num in (3, 4, 5, 6, 30):  # serial, model, vendor, firmware, firmware id
        assert f.get(num, b"").decode().strip(), (num, f)
    assert f.get(7, 0) == 1  # activated
    assert 3 <= f.get(8, 0) <= f[9]  # users: admin, app_user, alice, bob ...
    assert f.get(10, 0) <= f[11]  # sessions
    assert 0 < f.get(20, 0) <= f[19]  # free public memory <= total (KiB)
    assert f.get(21, 0) == f.get(22, 0) == 0  # no separate private memory
    build = f.get(27, 0)
    fw = f[30].decode()
    assert fw.startswith("openhsm-soft-FW-") and fw.endswith(f"-{build}"), fw
    assert (f.get(25, 0), f.get(26, 0)) == (f.get(23, 0), f.get(24, 0))


def test_hsm_info_for_every_session_type(hsm):
    with wire.connect(hsm, 0) as s:  # not logged in: allowed (permission table: everyone)
        f = info_fields(s)
        check_info(hsm, f)
        hsm_id = f[1]
    logins = [(wire.UT_CO, "admin", ADMIN_PW), (wire.UT_CU, "alice", PW["alice"]),
              (wire.UT_AU, "app_user", hsm.app_user_password())]
    for ut, name, pw in logins:
        with wire.login(hsm, 0, ut, name, pw) as s:
            f = info_fields(s)
            check_info(hsm, f)
            assert f[1] == hsm_id and f.get(10, 0) >= 1  # this session counts
            # Logged out again: still answered.
            assert wire.call(s, 22, wire.LOGOUT).get(2, 0) == 0
            check_info(hsm, info_fields(s))


def test_hsm_info_before_activation(make_cluster):
    c = make_cluster(hsms=1, name="fresh")
    with wire.connect(c, 0) as s:
        f = info_fields(s)
        assert f.get(7, 0) == 0 and f[2].decode() == c.cluster_id and f[30], f
        # The unactivated admin (PRECO, the initial password) is answered too.
        r = wire.call(s, 2, wire.LOGIN, wire.login_body(1, "admin", "password"))
        assert r.get(2, 0) == 0, r
        g = info_fields(s)
        assert g.get(7, 0) == 0 and g[1] == f[1] and g.get(10, 0) == 1, g


def sessions_now(c):
    with wire.connect(c, 0) as s:
        return info_fields(s).get(10, 0)


@pytest.mark.parametrize("body", [
    b"\xff\xff\xff\xff",                         # not a message
    wire.field(1, b"x")[:-1],                     # a length beyond the end
    bytes([(5 << 3) | 3]) + wire.varint(1),      # start group (wire type 3)
    bytes([(5 << 3) | 7]) + b"\0",               # wire type 7: none such
    bytes([(5 << 3) | 1]) + b"\0\0\0",           # a fixed64 cut short
], ids=["garbage", "truncated", "group", "type7", "short64"])
def test_hsm_info_malformed_body_closes_only_that_connection(hsm, body):
    pid = hsm.hsm_process(0)
    # No session of this module is open between tests (closed ones end on the HSM shortly).
    wait_for(lambda: sessions_now(hsm) == 0, 10, "no logged-in session")
    base = 0
    with cu(hsm) as s:
        assert sessions_now(hsm) == base + 1  # counted at login
        s.sendall(wire.frame(wire.request(23, wire.HSM_INFO, body)))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(1, 0) == 0 and r.get(2, 0) == RV["PROTOCOL"] and 17 not in r, r
        assert wire.read_frame(s) is None  # closed
        # Its session slot is given back.
        wait_for(lambda: sessions_now(hsm) == base, 10, "the session slot freed")
    assert hsm.hsm_process(0) == pid
    alive(hsm)


def test_hsm_info_wrong_wire_type_of_the_request_itself(hsm):
    """The hsm_info field as a varint (it is a message): OHSM_PROTOCOL, connection closed."""
    with wire.connect(hsm, 0) as s:
        s.sendall(wire.frame(wire.field(1, 24) + wire.field(wire.HSM_INFO, 5)))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(2, 0) == RV["PROTOCOL"], r
        assert wire.read_frame(s) is None
    with wire.connect(hsm, 0) as s:  # a well-formed request without an id (ids start at 1)
        s.sendall(wire.frame(wire.field(wire.HSM_INFO, b"")))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(1, 0) == 0 and r.get(2, 0) == RV["PROTOCOL"] and 17 not in r, r
        assert wire.read_frame(s) is None
    alive(hsm)


def test_hsm_info_unknown_fields_are_ignored(hsm):
    """proto3: fields the schema does not know are skipped; the request is answered."""
    with cu(hsm) as s:
        body = wire.field(5, 7) + wire.field(9, b"xyz") + bytes([(12 << 3) | 5]) + b"\0" * 4
        s.sendall(wire.frame(wire.request(24, wire.HSM_INFO, body)))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(1) == 24 and r.get(2, 0) == 0, r
        check_info(hsm, wire.parse_fields(r[17]))
        check_info(hsm, info_fields(s))  # the connection goes on


# ---- 3. rsa-aes wrap and unwrap ----

OAEP256 = wire.field(1, wire.M_RSA_AES_KW) + wire.field(2, wire.H_SHA256) + \
    wire.field(3, wire.H_SHA256)


def wrap(s, wrapping, payload, mech=OAEP256):
    body = wire.field(1, wrapping) + wire.field(2, payload) + wire.field(3, mech)
    r = wire.call(s, 31, wire.WRAP, body)
    return r.get(2, 0), wire.parse_fields(r[27]).get(1, b"") if 27 in r else b""


def unwrap(s, unwrapping, wrapped, mech=OAEP256, label="unwrapped"):
    tmpl = wire.attrs((wire.A_LABEL, label), *AES_KEY)
    body = wire.field(1, unwrapping) + wire.field(2, mech) + wire.field(3, wrapped) + \
        wire.field(4, wire.CLS_SECRET) + wire.field(5, wire.KT_AES) + wire.field(6, tmpl)
    r = wire.call(s, 32, wire.UNWRAP, body)
    recs, _ = key_resp(r)
    return r.get(2, 0), recs


def outside_blob(spki, aes, material):
    """An rsa-aes blob made without the HSM: OAEP-SHA256(aes) || RFC 5649 wrap of material
    (with aes, or its first 16 bytes when that is no AES key length)."""
    pub = serialization.load_der_public_key(spki)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    kw = aes if len(aes) in (16, 24, 32) else aes[:16]
    return pub.encrypt(aes, oaep) + aes_key_wrap_with_padding(kw, material)


@pytest.fixture(scope="module")
def rsa(hsm):
    """alice's wrapping pair, an AES key to wrap, and a pair without wrap/unwrap."""
    with cu(hsm) as s:
        priv, pub = gen_rsa(s, "rsa-aes", priv=[(wire.A_UNWRAP, True)], pub=[(wire.A_WRAP, True)])
        nopriv, nopub = gen_rsa(s, "no-wrap", priv=[(wire.A_UNWRAP, False)],
                                pub=[(wire.A_WRAP, False)])
        payload = gen_aes(s, "payload")
        r = wire.call(s, 33, wire.KEY_EXPORT, wire.field(1, pub))
        assert r.get(2, 0) == 0, r
        spki = wire.parse_fields(r[27])[1]
    return {"priv": priv, "pub": pub, "nopriv": nopriv, "nopub": nopub, "payload": payload,
            "spki": spki}


def test_rsa_aes_wrap_and_unwrap(hsm, rsa):
    with cu(hsm) as s:
        rv, blob = wrap(s, rsa["pub"], rsa["payload"])
        assert rv == RV["OK"] and len(blob) == 256 + 32 + 8  # OAEP block || KWP of 32 bytes
        # Each wrap draws a fresh AES key.
        assert wrap(s, rsa["pub"], rsa["payload"])[1][256:] != blob[256:]
        before = everything(hsm)
        rv, recs = unwrap(s, rsa["priv"], blob)
        assert rv == RV["OK"] and len(recs) == 1
        new = wire.record_handle(recs[0])
        assert attr(recs[0], wire.A_KCV) == attr(record(s, rsa["payload"]), wire.A_KCV)
        assert ecb(s, new) == ecb(s, rsa["payload"])
        assert everything(hsm) == sorted(before + [new])
        # A blob made outside the HSM with a known key: the same check value as importing it.
        material = os.urandom(32)
        for aes_len in (16, 24, 32):
            rv, recs = unwrap(s, rsa["priv"], outside_blob(rsa["spki"], os.urandom(aes_len),
                                                           material))
            assert rv == RV["OK"], aes_len
            imp = wire.call(s, 34, wire.KEY_IMPORT, wire.field(1, wire.CLS_SECRET) +
                            wire.field(2, wire.KT_AES) + wire.field(3, material) +
                            wire.field(4, wire.attrs(*AES_KEY)))
            assert imp.get(2, 0) == 0, imp
            assert attr(recs[0], wire.A_KCV) == attr(key_resp(imp)[0][0], wire.A_KCV)


def test_rsa_aes_wraps_a_private_key(hsm, rsa):
    """The RSA private key of another pair (PKCS#8, over a kilobyte) through rsa-aes and back:
    the unwrapped private key has the same public key."""
    with cu(hsm) as s:
        priv, pub = gen_rsa(s, "carried", priv=[(wire.A_EXTRACTABLE, True)])
        rv, blob = wrap(s, rsa["pub"], priv)
        assert rv == RV["OK"] and len(blob) > 256 + 1000
        tmpl = wire.attrs((wire.A_LABEL, "carried-back"), (wire.A_TOKEN, True))
        body = wire.field(1, rsa["priv"]) + wire.field(2, OAEP256) + wire.field(3, blob) + \
            wire.field(4, wire.CLS_PRIVATE) + wire.field(5, wire.KT_RSA) + wire.field(6, tmpl)
        r = wire.call(s, 36, wire.UNWRAP, body)
        assert r.get(2, 0) == 0, r
        back = wire.record_handle(key_resp(r)[0][0])
        spki = [wire.parse_fields(wire.call(s, 37, wire.KEY_EXPORT, wire.field(1, h))[27])[1]
                for h in (pub, back)]
        assert spki[0] == spki[1]


def test_rsa_aes_refusals_add_nothing(hsm, rsa):
    with cu(hsm) as s:
        rv, blob = wrap(s, rsa["pub"], rsa["payload"])
        assert rv == RV["OK"]
        aes = os.urandom(32)
        bad_kw = outside_blob(rsa["spki"], aes, b"k" * 32)[:256] + os.urandom(40)
        # The OAEP block carries 20 bytes: no AES key (the KWP part made with its first 16).
        odd_aes = outside_blob(rsa["spki"], os.urandom(20), b"k" * 32)
        before = everything(hsm)
        flipped = []
        for i in (0, 100, 255, 256, 270, len(blob) - 1):
            b = bytearray(blob)
            b[i] ^= 0x01
            flipped.append(bytes(b))
        for wrapped in [blob[:-1], blob[:-8], blob[:256 + 15], blob[:256], blob[:100], b"",
                        blob + b"\0" * 8, b"\0" + blob[:-1], bad_kw, odd_aes, *flipped]:
            assert unwrap(s, rsa["priv"], wrapped) == (RV["WRAPPED_KEY_INVALID"], []), \
                len(wrapped)
        # A genuine blob whose key is far too large for an AES key: refused as such.
        big = outside_blob(rsa["spki"], aes, b"k" * 8000)
        assert unwrap(s, rsa["priv"], big) == (RV["KEY_SIZE_RANGE"], [])
        # OAEP with another hash than the blob's, or a hash that does not exist.
        sha1 = wire.field(1, wire.M_RSA_AES_KW) + wire.field(2, 1) + wire.field(3, 1)
        assert unwrap(s, rsa["priv"], blob, sha1) == (RV["WRAPPED_KEY_INVALID"], [])
        nohash = wire.field(1, wire.M_RSA_AES_KW) + wire.field(2, 99)
        assert unwrap(s, rsa["priv"], blob, nohash) == (RV["MECHANISM_PARAM_INVALID"], [])
        assert wrap(s, rsa["pub"], rsa["payload"], nohash) == (RV["MECHANISM_PARAM_INVALID"], b"")
        # Mechanism parameters rsa-aes does not take.
        with_iv = OAEP256 + wire.field(6, b"\0" * 16)
        assert wrap(s, rsa["pub"], rsa["payload"], with_iv) == (RV["MECHANISM_PARAM_INVALID"], b"")
        assert unwrap(s, rsa["priv"], blob, with_iv) == (RV["MECHANISM_PARAM_INVALID"], [])
        # The wrong key type or class for mechanism 50.
        wrong = [(rsa["payload"], rsa["payload"]), (rsa["priv"], rsa["payload"])]
        for wrapping, payload in wrong:
            assert wrap(s, wrapping, payload) == (RV["KEY_TYPE_INCONSISTENT"], b"")
        for unwrapping in (rsa["payload"], rsa["pub"]):
            assert unwrap(s, unwrapping, blob) == (RV["KEY_TYPE_INCONSISTENT"], [])
        # Keys without the wrap / unwrap attribute.
        assert wrap(s, rsa["nopub"], rsa["payload"]) == (RV["KEY_FUNCTION_NOT_PERMITTED"], b"")
        assert unwrap(s, rsa["nopriv"], blob) == (RV["KEY_FUNCTION_NOT_PERMITTED"], [])
    # Another crypto user may not use alice's keys at all.
    with cu(hsm, "bob") as s:
        assert unwrap(s, rsa["priv"], blob) == (RV["KEY_HANDLE_INVALID"], [])
        assert wrap(s, rsa["pub"], rsa["payload"]) == (RV["KEY_HANDLE_INVALID"], b"")
    # Larger than any wrapped key the wire takes: OHSM_PROTOCOL and this connection closed.
    with cu(hsm) as s:
        body = wire.field(1, rsa["priv"]) + wire.field(2, OAEP256) + \
            wire.field(3, b"\0" * (16384 + 64 + 1)) + wire.field(4, wire.CLS_SECRET) + \
            wire.field(5, wire.KT_AES)
        s.sendall(wire.frame(wire.request(35, wire.UNWRAP, body)))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(2, 0) == RV["PROTOCOL"], r
        assert wire.read_frame(s) is None
    alive(hsm)
    assert everything(hsm) == before
