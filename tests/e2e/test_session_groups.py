# SPDX-License-Identifier: Apache-2.0
"""Issue 15: session-object groups, spoken on the raw wire as a hostile client would (the PKCS#11
library names one random group for all its connections; nothing stops a caller from naming
another's, or racing many connections in and out of one):

- sessions of one user naming the same 16-byte group share session objects; the objects outlive
  the session that made them while another session of the group lives, and die with the last;
- another user naming a live group is refused (ARGUMENTS_BAD) and gets no session;
- a group value of the wrong length is a protocol error;
- sixteen connections racing into one group, each making a session key and using every other
  one's, then racing out: every operation works, and afterwards a new login naming the same group
  sees none of those keys while the HSM serves on.
"""
import os
import threading

import pytest

import wire
from test_cli import cluster_with_users

PW_A, PW_B = "alice-pass1", "bobby-pass1"
CRYPTO, ENCRYPT = 29, 1
AES_ECB = wire.field(1, 4)


@pytest.fixture(scope="module")
def hsm(tmp_path_factory):
    with cluster_with_users(tmp_path_factory.mktemp("groups") / "data", 1, ("alice", PW_A),
                            ("bobby", PW_B)) as c:
        yield c


def login(c, name, pw, group):
    """(socket, rv) of a login naming group (None: none)."""
    s = wire.connect(c, 0)
    body = wire.login_body(wire.UT_CU, name, pw)
    if group is not None:
        body += wire.field(4, group)
    r = wire.call(s, 1, wire.LOGIN, body)
    return s, r.get(2, 0)


def session_key(s, req_id=2):
    tmpl = wire.attrs((wire.A_TOKEN, False), (wire.A_ENCRYPT, True), (wire.A_LABEL, "grp"))
    r = wire.call(s, req_id, wire.KEY_GEN, wire.field(1, wire.KT_AES) + wire.field(2, 32) +
                  wire.field(5, tmpl))
    assert r.get(2, 0) == 0, r
    return wire.record_handle(wire.repeated(r[20], 1)[0])


def logout(s, req_id=90):
    """A logout is answered after the HSM ended the session: its group is left by then (a close
    would end it later, racing the next login)."""
    assert wire.call(s, req_id, wire.LOGOUT).get(2, 0) == 0
    s.close()


def encrypt(s, h, req_id=3):
    body = wire.field(1, ENCRYPT) + wire.field(2, h) + wire.field(3, AES_ECB) + \
        wire.field(4, bytes(16))
    return wire.call(s, req_id, CRYPTO, body).get(2, 0)


def test_one_users_group_shares_session_objects_until_its_last_session(hsm):
    g = os.urandom(16)
    a, rv = login(hsm, "alice", PW_A, g)
    assert rv == 0
    b, rv = login(hsm, "alice", PW_A, g)
    assert rv == 0
    outside, rv = login(hsm, "alice", PW_A, None)
    assert rv == 0
    try:
        h = session_key(a)
        assert encrypt(b, h) == 0
        assert encrypt(outside, h) == wire.RV["KEY_HANDLE_INVALID"]
        logout(a)  # the maker goes: the key lives on in b
        assert encrypt(b, h, 4) == 0
        logout(b)  # the last: the key dies with it
        again, rv = login(hsm, "alice", PW_A, g)
        assert rv == 0
        with again:
            assert encrypt(again, h) == wire.RV["KEY_HANDLE_INVALID"]
    finally:
        outside.close()


def test_another_users_group_is_refused_and_a_bad_group_is_a_protocol_error(hsm):
    g = os.urandom(16)
    a, rv = login(hsm, "alice", PW_A, g)
    assert rv == 0
    with a:
        h = session_key(a)
        thief, rv = login(hsm, "bobby", PW_B, g)
        with thief:
            assert rv == wire.RV["ARGUMENTS_BAD"]
            # no session came of it: bobby is not logged in there
            assert encrypt(thief, h) == wire.RV["USER_NOT_LOGGED_IN"]
        assert encrypt(a, h, 5) == 0
    for n in (1, 15, 17, 32):
        s = wire.connect(hsm, 0)
        with s:
            s.sendall(wire.frame(wire.request(1, wire.LOGIN, wire.login_body(
                wire.UT_CU, "alice", PW_A) + wire.field(4, os.urandom(n)))))
            r = wire.read_frame(s)
            assert r is not None and wire.parse_fields(r).get(2, 0) == wire.RV["PROTOCOL"], n


def test_sixteen_connections_race_into_and_out_of_one_group(hsm):
    g = os.urandom(16)
    n = 16
    socks, handles, errors = [None] * n, [None] * n, []
    made = threading.Barrier(n)

    def one(i):
        try:
            s, rv = login(hsm, "alice", PW_A, g)
            socks[i] = s
            assert rv == 0, rv
            handles[i] = session_key(s)
            made.wait(timeout=60)
            for j in range(n):
                assert encrypt(s, handles[j], 10 + j) == 0, (i, j)
            made.wait(timeout=60)
            logout(s)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))
            made.abort()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    s, rv = login(hsm, "alice", PW_A, g)
    assert rv == 0
    with s:
        for h in handles:
            assert encrypt(s, h) == wire.RV["KEY_HANDLE_INVALID"]
        assert encrypt(s, session_key(s, 7), 8) == 0
