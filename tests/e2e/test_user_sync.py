# SPDX-License-Identifier: Apache-2.0
"""One user id on every HSM and versioned user records (issue 10), through the real tools.

- Concurrent creators (4 processes x 15 users, 2 and 3 HSMs): every user has one id on every HSM
  (openhsm-cmu listUsers compared server by server), and no id names two users.
- A user created while an HSM hangs gets the same id there after repair; key_mgmt_util's
  `genSymKey -u ID` shares with the same user on every HSM.
- A password (or a deletion) made while an HSM hangs: `cluster sync-status` names the user on that
  HSM, `cluster sync-repair` (and the automatic repair after an admin's login) copies the newest
  record; the old password then fails everywhere and a deleted user never comes back.
- On the wire: an old sealed record replayed, a tampered, truncated or another cluster's record
  are refused and change nothing.
"""
import concurrent.futures
import re

import pytest

import wire
from test_cli import as_admin, cli
from test_cmu import ADMIN_PW, HOST, activate, cmu, create, login_as, per_server, users
from test_cmu_keys import key_info
from test_kmu import handle
from test_kmu import run as kmu_run
from tokens import Interactive

NO_REPAIR = {"OPENHSM_AUTO_REPAIR": "0"}
USER_EXTRACT, USER_INSERT = 34, 35
RV_MASKED_INVALID, RV_STALE = 43, 63
CO_TYPE = 2


def admin(**extra):
    return {**as_admin(ADMIN_PW), **extra}


def cli_create(cluster, name, **env):
    return cli(cluster, "user", "create", "--username", name, "--role", "crypto-user",
               "--password", f"{name}-pass1", **admin(**env))


def ids_by_server(cluster):
    """{server: {name: id}} from openhsm-cmu listUsers."""
    return {s: {n: v[0] for n, v in u.items()} for s, u in users(cmu(cluster, "listUsers\n")).items()}


def assert_one_id_everywhere(cluster, names):
    got = ids_by_server(cluster)
    servers = range(len(cluster.cfg["hsms"]))
    assert sorted(got) == list(servers), got
    for n in names:
        ids = {got[s].get(n) for s in servers}
        assert len(ids) == 1 and None not in ids, (n, got)
    first = got[0]
    assert len(set(first.values())) == len(first), first  # no id names two users
    return first


@pytest.mark.parametrize("hsms", [2, 3])
def test_concurrent_creators_get_one_id_per_user(make_cluster, hsms):
    c = make_cluster(hsms=hsms)
    activate(c)

    def loop(k):
        out = []
        for j in range(15):
            code, _, text = cli_create(c, f"u{k}_{j}")
            out.append((code, text))
        return out

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(loop, range(4)) for r in rs]
    assert all(code == 0 for code, _ in results), [t for code, t in results if code != 0][:3]
    names = [f"u{k}_{j}" for k in range(4) for j in range(15)]
    ids = assert_one_id_everywhere(c, names)
    assert len({ids[n] for n in names}) == 60


def status(cluster, **env):
    code, out, text = cli(cluster, "cluster", "sync-status", **admin(**NO_REPAIR, **env))
    assert code == 0, text
    return out["data"]


def repair(cluster):
    code, out, text = cli(cluster, "cluster", "sync-repair", **admin(**NO_REPAIR))
    assert code == 0, text
    return out["data"]


def user_diffs(st):
    return {(d["hsm-id"], d["kind"], d["username"], d["user-id"]) for d in st["differences"]
            if "username" in d}


@pytest.mark.parametrize("paused", [1, 0])
def test_user_created_while_an_hsm_hangs_gets_its_id_after_repair(cluster, paused):
    activate(cluster)
    code, _, text = cli_create(cluster, "early")
    assert code == 0, text
    cluster.pause_hsm(paused)
    try:
        code, out, text = cli_create(cluster, "late", **NO_REPAIR)
        assert code != 0, text  # made on the other HSM only: the CLI says so
    finally:
        cluster.resume_hsm(paused)
    got = ids_by_server(cluster)
    other = 1 - paused
    assert "late" in got[other] and "late" not in got[paused], got
    late_id = got[other]["late"]
    assert late_id > got[other]["early"]
    hid = cluster.cfg["hsms"][paused]["id"]
    assert user_diffs(status(cluster)) == {(hid, "missing", "late", late_id)}
    assert repair(cluster)["in-sync"] is True
    assert assert_one_id_everywhere(cluster, ["early", "late"])["late"] == late_id
    # The id is never given again: the next user gets a new one on both HSMs.
    code, _, text = cli_create(cluster, "later")
    assert code == 0, text
    assert assert_one_id_everywhere(cluster, ["later"])["later"] > late_id


def test_kmu_share_by_id_reaches_the_same_user_everywhere(cluster):
    activate(cluster)
    out = cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", "alice", "alice-pass1") +
              create("CU", "bob", "bob-pass12"))
    per_server(out, "createUser")
    ids = assert_one_id_everywhere(cluster, ["alice", "bob"])
    rc, out = kmu_run(cluster, ["singlecmd", "loginHSM", "-u", "CU", "-s", "alice", "-p",
                                "alice-pass1", "genSymKey", "-t", "31", "-s", "32", "-l",
                                "shared", "-u", str(ids["bob"])])
    assert rc == 0, out
    h = handle(out)
    info = key_info(cmu(cluster, login_as("alice", "alice-pass1", "CU") + f"getKeyInfo -k {h}\n"))
    assert info == {0: ("Token/Flash Key", ids["alice"], [ids["bob"]]),
                    1: ("Token/Flash Key", ids["alice"], [ids["bob"]])}, info


def login_lines(cluster, user, pw):
    return cmu(cluster, f"loginHSM CU {user} {pw}\n")


def assert_login_everywhere(cluster, user, pw, ok):
    out = login_lines(cluster, user, pw)
    for i in range(len(cluster.cfg["hsms"])):
        line = (f"loginHSM success on server {i}({HOST})" if ok else
                f"loginHSM failed: Invalid username or password on server {i}({HOST})")
        assert line in out, out


def change_while_hung(cluster, *args):
    cluster.pause_hsm(1)
    try:
        code, out, text = cli(cluster, *args, **admin(**NO_REPAIR))
        assert code != 0, text  # done on HSM 0 only
    finally:
        cluster.resume_hsm(1)


@pytest.mark.parametrize("how", ["sync-repair", "auto"])
def test_password_changed_while_an_hsm_hangs_is_repaired(cluster, how):
    activate(cluster)
    code, _, text = cli_create(cluster, "alice")
    assert code == 0, text
    uid = ids_by_server(cluster)[0]["alice"]
    change_while_hung(cluster, "user", "change-password", "--username", "alice", "--role",
                      "crypto-user", "--password", "alice-pass2")
    hid = cluster.cfg["hsms"][1]["id"]
    assert user_diffs(status(cluster)) == {(hid, "stale", "alice", uid)}
    if how == "sync-repair":
        assert repair(cluster)["in-sync"] is True
    else:
        code, out, text = cli(cluster, "user", "list", **admin())  # automatic repair on login
        assert code == 0, text
    assert status(cluster)["in-sync"] is True
    assert_login_everywhere(cluster, "alice", "alice-pass2", True)
    assert_login_everywhere(cluster, "alice", "alice-pass1", False)


def test_user_deleted_while_an_hsm_hangs_never_comes_back(cluster):
    activate(cluster)
    for n in ("bob", "carl"):
        code, _, text = cli_create(cluster, n)
        assert code == 0, text
    uid = ids_by_server(cluster)[0]["bob"]
    old = extract(cluster, 1, uid)  # bob's live record, sealed, taken before the deletion
    change_while_hung(cluster, "user", "delete", "--username", "bob", "--role", "crypto-user")
    hid = cluster.cfg["hsms"][1]["id"]
    assert user_diffs(status(cluster)) == {(hid, "extra", "bob", uid)}
    assert repair(cluster)["in-sync"] is True
    got = ids_by_server(cluster)
    assert "bob" not in got[0] and "bob" not in got[1], got
    # The old record, replayed on either HSM, does not bring bob back.
    assert insert(cluster, 0, old) == RV_STALE
    assert insert(cluster, 1, old) == RV_STALE
    # Nor does a new user of the same name inherit the id.
    code, _, text = cli_create(cluster, "bob")
    assert code == 0, text
    assert assert_one_id_everywhere(cluster, ["bob", "carl"])["bob"] > uid
    assert status(cluster)["in-sync"] is True


def session(cluster, i):
    s = wire.connect(cluster, i)
    r = wire.call(s, 1, wire.LOGIN, wire.login_body(CO_TYPE, "admin", ADMIN_PW))
    assert r.get(2, 0) == 0, r
    return s


def extract(cluster, i, uid):
    with session(cluster, i) as s:
        r = wire.call(s, 2, USER_EXTRACT, wire.field(2, uid))
        assert r.get(2, 0) == 0, r
        return wire.parse_fields(r[31])[1]


def insert(cluster, i, blob):
    with session(cluster, i) as s:
        return wire.call(s, 3, USER_INSERT, wire.field(1, blob)).get(2, 0)


def test_old_tampered_and_foreign_user_records_are_refused(cluster, make_cluster):
    activate(cluster)
    code, _, text = cli_create(cluster, "alice")
    assert code == 0, text
    uid = ids_by_server(cluster)[0]["alice"]
    v1 = extract(cluster, 0, uid)
    code, _, text = cli(cluster, "user", "change-password", "--username", "alice", "--role",
                        "crypto-user", "--password", "alice-pass2", **admin())
    assert code == 0, text
    v2 = extract(cluster, 0, uid)
    assert v1 != v2
    # The saved record of before the change: refused on both HSMs (no rollback).
    assert insert(cluster, 0, v1) == RV_STALE
    assert insert(cluster, 1, v1) == RV_STALE
    # The current record again: not newer, refused too.
    assert insert(cluster, 1, v2) == RV_STALE
    # Tampered (a bit of the sealed password record, of the record bound as AAD), truncated.
    for pos in (len(v2) - 3, 12):
        bad = bytearray(v2)
        bad[pos] ^= 1
        assert insert(cluster, 1, bytes(bad)) == RV_MASKED_INVALID
    assert insert(cluster, 1, v2[:-1]) == RV_MASKED_INVALID
    assert insert(cluster, 1, b"") != 0
    # Another cluster's record of a user with the same id and name.
    other = make_cluster(name="other")
    activate(other)
    code, _, text = cli_create(other, "alice")
    assert code == 0, text
    foreign = extract(other, 0, ids_by_server(other)[0]["alice"])
    assert insert(cluster, 1, foreign) == RV_MASKED_INVALID
    # Nothing changed: in sync, the new password works everywhere, the old one nowhere.
    assert status(cluster)["in-sync"] is True
    assert_login_everywhere(cluster, "alice", "alice-pass2", True)
    assert_login_everywhere(cluster, "alice", "alice-pass1", False)


def as_user(name, **extra):
    return {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": f"{name}:{name}-pass1", **extra}


def test_a_new_user_of_a_deleted_name_inherits_nothing(cluster):
    """The review's attack: alice shares a key with bob, bob is deleted and a new bob created;
    the new bob must not use alice's key. Shares name user ids (never reused), and a deleted
    user's shares go with it."""
    activate(cluster)
    for n in ("alice", "bob"):
        code, _, text = cli_create(cluster, n)
        assert code == 0, text
    old_bob = ids_by_server(cluster)[0]["bob"]
    code, out, text = cli(cluster, "key", "generate-symmetric", "aes", "--label", "alices",
                          "--key-length-bytes", "32", "--share-crypto-users", "bob",
                          "--attributes", "encrypt=true", "decrypt=true", **as_user("alice"))
    assert code == 0, text
    ref = out["data"]["key"]["key-reference"]
    kf = ["--key-filter", f"key-reference={ref}"]
    data = ["--data", "aGVsbG8="]
    code, out, text = cli(cluster, "crypto", "encrypt", "aes-gcm", *kf, *data, **as_user("bob"))
    assert code == 0, text  # the old bob may use it
    code, out, text = cli(cluster, "user", "delete", "--username", "bob", "--role",
                          "crypto-user", **admin())
    assert code == 0, text
    # The share went with the user, on every HSM alike.
    code, out, text = cli(cluster, "key", "list", "--verbose", "--filter", f"key-reference={ref}",
                          **as_user("alice"))
    assert code == 0, text
    assert out["data"]["matched_keys"][0]["key-info"]["shared-users"] == [], out
    code, _, text = cli_create(cluster, "bob")
    assert code == 0, text
    assert assert_one_id_everywhere(cluster, ["alice", "bob"])["bob"] > old_bob
    code, out, text = cli(cluster, "crypto", "encrypt", "aes-gcm", *kf, *data, **as_user("bob"))
    assert code != 0 and "No key matches" in out["data"], text
    code, out, text = cli(cluster, "key", "list", **as_user("bob"))
    assert code == 0 and out["data"]["matched_keys"] == [], text
    # Sharing with the new bob is a new grant, to the new id.
    code, out, text = cli(cluster, "key", "share", "--filter", f"key-reference={ref}",
                          "--username", "bob", "--role", "crypto-user", **as_user("alice"))
    assert code == 0, text
    code, out, text = cli(cluster, "crypto", "encrypt", "aes-gcm", *kf, *data, **as_user("bob"))
    assert code == 0, text
    assert status(cluster)["in-sync"] is True


def test_a_creation_that_may_have_run_is_not_made_again_elsewhere(cluster):
    """A long-lived client (an interactive shell) creates a user while HSM 0 hangs: the request
    reached HSM 0 and got no answer in time, so it may still run there. HSM 1 must not make the
    user under an id of its own; once HSM 0 is back and has run it, repair gives HSM 1 HSM 0's id."""
    activate(cluster)
    sh = Interactive(cluster, OPENHSM_AUTO_REPAIR="0")
    try:
        assert sh.run(f"login --username admin --role admin --password {ADMIN_PW}") == {
            "error_code": 0, "data": {"username": "admin", "role": "admin"}}
        cluster.pause_hsm(0)
        try:
            got = sh.run("user create --username late --role crypto-user --password late-pass1")
            assert got["error_code"] == 1, got
        finally:
            cluster.resume_hsm(0)
    finally:
        sh.close()
    assert "did not answer in time" in got["data"], got
    # HSM 1 was not asked: it has no "late" under an id of its own. (Whether HSM 0 still runs
    # the queued request depends on the connection it came on; either way the ids agree below.)
    assert "late" not in ids_by_server(cluster)[1]
    code, out, text = cli_create(cluster, "late", **NO_REPAIR)
    assert code == 0 or "User already exists" in out["data"], text
    assert repair(cluster)["in-sync"] is True
    assert_one_id_everywhere(cluster, ["late"])
