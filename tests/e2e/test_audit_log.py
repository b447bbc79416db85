# SPDX-License-Identifier: Apache-2.0
"""HSM audit logs (issue 16), through the real tools: openhsm-cmu and openhsm-kmu make the
commands, each openhsm-hsm writes its own log (<hsm dir>/hsm.db.audit), and `openhsmd audit
verify` checks them.

- Every management command leaves its record on every HSM it ran on, with CloudHSM's opcode, the
  user it is about and the response (a failed login with its reason); reads and crypto leave none.
- Numbering: sequence numbers 0, 1, 2 .. without gaps within a boot; a restarted HSM counts one
  more boot and starts again at 0.
- No password (the admin's, a crypto user's, a wrong one, the appliance user's) appears in any
  log, and records have no field but CloudHSM's.
- Editing, deleting or reordering one line makes `openhsmd audit verify` name that HSM and the
  line's sequence number; the untouched HSM stays ok.
- kill -9 of an HSM while users are being created: every creation the HSM acknowledged has its
  record in that HSM's log afterwards.
- A hostile caller on the raw wire: 16 connections racing wrong logins for one user each leave
  exactly one record, numbered without a gap; user names built to break the line (quotes, a
  newline, a backslash, control bytes, a forged JSON tail) are escaped inside their one record.
"""
import concurrent.futures
import json
import re
import subprocess
import threading

import wire

from conftest import BIN, wait_for
from test_cmu import ADMIN_PW, cmu, create, login_as
from test_kmu import CU_PW, handle, pair, prepare, single

OPENHSMD = BIN / "openhsmd"
FIELDS = {"reboot", "seq", "time_us", "cmd_type", "opcode", "opcode_id", "session", "response",
          "response_text", "log_type", "user", "user_type", "user_type_id", "key", "pub_key",
          "hash"}


def log_path(cluster, i):
    return cluster.hsm_dir(i) / "hsm.db.audit"


def records(cluster, i):
    text = log_path(cluster, i).read_text()
    assert text.endswith("\n"), "the log ends in a whole line"
    return [json.loads(line) for line in text.splitlines()]


def settled(cluster):
    """Waits until every HSM's log ends with the CN_APP_FINALIZE of the tool session that quit
    last: records of session ends wait in memory for a moment (up to ~0.3 s) before they reach
    the file, and nothing is appended after that one."""
    def done():
        for i in range(len(cluster.cfg["hsms"])):
            text = log_path(cluster, i).read_text()
            if not text.endswith("\n") or '"opcode":"CN_APP_FINALIZE"' not in \
                    text.splitlines()[-1]:
                return False
        return True
    wait_for(done, 20, "the audit logs settled")


def find(recs, opcode, **fields):
    return [r for r in recs if r["opcode"] == opcode and
            all(r.get(k) == v for k, v in fields.items())]


def verify(cluster, *extra):
    p = subprocess.run([str(OPENHSMD), "audit", "verify", "--data", str(cluster.data), *extra],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def test_audit_records_per_command(cluster):
    n = len(cluster.cfg["hsms"])
    prepare(cluster, "alice")  # PRECO login, activation, admin login, createUser alice
    # A wrong password: a failed CN_LOGIN with its reason on every HSM.
    out = cmu(cluster, "loginHSM CU alice Wrong-pass9\nquit\n", check=False)
    assert "loginHSM" in out, out
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 32, "-l", "audited")
    assert rc == 0, out
    key = handle(out)
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "pair")
    assert rc == 0, out
    pub, priv = pair(out)
    rc, out = single(cluster, "alice", "findKey", "-l", "audited")  # a read: no record
    assert rc == 0, out
    rc, out = single(cluster, "alice", "deleteKey", "-k", key)
    assert rc == 0, out
    out = cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", "bob", "bob-pass12") +
              "changePswd CU alice alice-pass2\ny\ndeleteUser CU bob\ny\nlistUsers\nquit\n")
    assert out.count("success on server") >= 3 * n, out
    settled(cluster)

    made = {}
    for i in range(n):
        recs = records(cluster, i)
        for r in recs:
            assert set(r) <= FIELDS, r
            assert r["cmd_type"] == 0
        # Numbering: one boot, 0 .. len - 1.
        assert [r["seq"] for r in recs] == list(range(len(recs))), recs
        assert len({r["reboot"] for r in recs}) == 1
        assert find(recs, "CN_LOGIN", user="admin", user_type="CN_CRYPTO_PRE_OFFICER",
                    response=0, opcode_id=0xd, log_type=2)
        assert find(recs, "CN_CHANGE_PSWD", user="admin", response=0, opcode_id=0x9)
        assert find(recs, "CN_CREATE_USER", user="alice", user_type="CN_CRYPTO_USER",
                    user_type_id=1, response=0, opcode_id=0x3)
        bad = [r for r in find(recs, "CN_LOGIN", user="alice") if r["response"] != 0]
        assert bad and bad[0]["response_text"].startswith("HSM Error: "), recs
        ok = find(recs, "CN_LOGIN", user="alice", user_type="CN_CRYPTO_USER", response=0)
        assert len(ok) >= 3, "each singlecmd logs alice in on every HSM"
        assert find(recs, "CN_TOMBSTONE_OBJECT", key=key, response=0, log_type=1)
        assert find(recs, "CN_CREATE_USER", user="bob", response=0)
        assert find(recs, "CN_DELETE_USER", user="bob", response=0, opcode_id=0xa1)
        assert find(recs, "CN_CHANGE_PSWD", user="alice", response=0)
        # Reads (findKey, listUsers) and logouts-by-quit: no CN_FIND or the like.
        assert {r["opcode"] for r in recs} <= {
            "CN_LOGIN", "CN_LOGOUT", "CN_APP_FINALIZE", "CN_CHANGE_PSWD", "CN_CREATE_USER",
            "CN_DELETE_USER", "CN_GENERATE_KEY", "CN_GENERATE_KEY_PAIR",
            "CN_EXTRACT_MASKED_OBJECT_USER", "CN_INSERT_MASKED_OBJECT_USER",
            "CN_TOMBSTONE_OBJECT"}, {r["opcode"] for r in recs}
        made[i] = recs
    # A key is generated on one HSM and reaches the others as a masked object.
    gen = [i for i in range(n) if find(made[i], "CN_GENERATE_KEY", key=key, opcode_id=0x17)]
    assert len(gen) == 1, "generated on exactly one HSM"
    assert find(made[gen[0]], "CN_EXTRACT_MASKED_OBJECT_USER", key=key, opcode_id=0xf0)
    for i in set(range(n)) - set(gen):
        assert find(made[i], "CN_INSERT_MASKED_OBJECT_USER", key=key, opcode_id=0xf1)
    assert any(find(made[i], "CN_GENERATE_KEY_PAIR", key=priv, pub_key=pub, opcode_id=0x19)
               for i in range(n))

    # No secret in any log.
    secrets = [ADMIN_PW, "Wrong-pass9", CU_PW["alice"], "alice-pass2", "bob-pass12",
               cluster.app_user_password()]
    for i in range(n):
        text = log_path(cluster, i).read_text()
        for s in secrets:
            assert s not in text, f"a password in HSM {i}'s audit log"

    rc, out = verify(cluster)
    assert rc == 0, out
    for i in range(n):
        hid = cluster.cfg["hsms"][i]["id"]
        assert re.search(rf"{hid}: ok, {len(made[i])} records", out), out


def test_audit_tampering_named(cluster):
    prepare(cluster, "alice")
    settled(cluster)  # nothing is appended while the test rewrites the file
    rc, out = verify(cluster, "--cluster", cluster.cluster_id)
    assert rc == 0, out
    path = log_path(cluster, 0)
    hid, other = cluster.cfg["hsms"][0]["id"], cluster.cfg["hsms"][1]["id"]
    original = path.read_text()
    lines = original.splitlines(keepends=True)
    assert len(lines) >= 4

    def broken(text, seq):
        path.write_text(text)
        rc, out = verify(cluster)
        assert rc == 1, out
        assert re.search(rf"{hid}: BROKEN at line \d+ \(reboot counter \d+, sequence number "
                         rf"{seq}\b", out), out
        assert f"{other}: ok" in out, out

    edited = lines[2].replace('"alice"', '"mallory"').replace('"admin"', '"mallory"')
    assert edited != lines[2]
    broken("".join(lines[:2] + [edited] + lines[3:]), 2)  # edited: the record itself
    broken("".join(lines[:2] + lines[3:]), 3)  # removed: the next one names the gap
    broken("".join(lines[:1] + [lines[2], lines[1]] + lines[3:]), 2)  # moved
    path.write_text(original)
    rc, out = verify(cluster)
    assert rc == 0, out


def test_audit_kill_during_user_creation(cluster):
    prepare(cluster, "alice")
    acked = []  # users HSM 0 acknowledged creating
    stop = threading.Event()

    def creator():
        for k in range(40):
            if stop.is_set():
                return
            name = f"u{k:02d}"
            out = cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", name, "User-pass1") +
                      "quit\n", check=False)
            if re.search(r"createUser success on server 0\(", out):
                acked.append(name)

    t = threading.Thread(target=creator)
    t.start()
    try:
        wait_for(lambda: len(acked) >= 3, 120, "three users created")
        before = records(cluster, 0)
        cluster.kill_hsm(0)
    finally:
        stop.set()
        t.join(300)
    # One more session on every HSM: its end is the last record each log gets.
    out = cmu(cluster, login_as("admin", ADMIN_PW) + "quit\n", check=False)
    assert re.search(r"loginHSM success on server 0\(", out), out
    settled(cluster)
    recs = records(cluster, 0)
    created = {r["user"] for r in find(recs, "CN_CREATE_USER", response=0)}
    assert set(acked) <= created, (acked, created)
    # The restarted HSM counts one more boot and numbers from 0 again.
    boots = sorted({r["reboot"] for r in recs})
    assert len(boots) >= 2 and boots[-1] > before[-1]["reboot"], boots
    first = next(r for r in recs if r["reboot"] == boots[-1])
    assert first["seq"] == 0
    rc, out = verify(cluster)
    assert rc == 0, out


def test_audit_raw_wire_races_and_crafted_names(cluster):
    prepare(cluster, "alice")
    settled(cluster)
    before = len(records(cluster, 0))

    def guess(k):
        s = wire.connect(cluster, 0)
        try:
            r = wire.call(s, 1, wire.LOGIN, wire.login_body(wire.UT_CU, "alice", f"Wrong-{k:02d}x"))
            return r.get(2, 0)
        finally:
            s.close()

    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        rvs = list(ex.map(guess, range(16)))
    assert all(rv != 0 for rv in rvs), rvs

    crafted = ['a"}\n{"opcode":"CN_FAKE', "b\\\"x", "c\x01\x1f\x7f", 'd","user":"admin']
    for name in crafted:
        s = wire.connect(cluster, 0)
        try:
            r = wire.call(s, 1, wire.LOGIN, wire.login_body(wire.UT_CU, name, "Whatever-1"))
            assert r.get(2, 0) != 0, r
        finally:
            s.close()

    def logged():
        recs = records(cluster, 0)
        return recs if len(recs) >= before + 16 + len(crafted) else None
    recs = wait_for(logged, 20, "the failed logins recorded")
    new = recs[before:]
    failed = [r for r in new if r["opcode"] == "CN_LOGIN" and r["response"] != 0]
    assert len([r for r in failed if r["user"] == "alice"]) == 16, new
    for name in crafted:
        assert [r for r in failed if r["user"] == name], (name, new)
    assert not [r for r in recs if r["opcode"] == "CN_FAKE"]
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    text = log_path(cluster, 0).read_text()
    assert "Whatever-1" not in text and "Wrong-" not in text
    rc, out = verify(cluster)
    assert rc == 0, out
