# SPDX-License-Identifier: Apache-2.0
"""MFA (token-sign) end to end, as the CloudHSM guide walks a person through it: an admin registers
a crypto user's RSA-2048 public key with `user change-mfa token-sign`, the user logs in with
`login ... mfa-token-sign`, and every token is signed with the real `openssl pkeyutl` (see
tests/e2e/tokens.py).
The interactive shell is driven over pipes, following its prompts. A user record whose MFA key
reached one HSM only is repaired (CMU syncUser, cluster sync-repair) with the key.

Every failed MFA attempt (unsigned, another key, swapped, reused, expired, malformed, wrong version,
wrong count) must fail with a clear message and count once toward lockout on every HSM, which the
test reads back from openhsm-cmu listUsers (LoginFailureCnt); 5 lock the user.
"""
import json
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import Cluster, wait_for
from test_cli import ADMIN_PW, activate, as_admin, cli, users
from test_cmu import cmu
from test_cmu import users as cmu_users
from tokens import (CLI, PUBKEY_PROMPT, SIGNED_PROMPT, Interactive, check_mfa_file,
                    ec_key, read_json, rsa_key, sign_mfa, wait_json, write_json)

CU_ROLE = "crypto-user"
MFA_ON = [{"strategy": "token-sign", "status": "enabled"}]
LOCKED = "User is locked out after too many failed login attempts"
INVALID = "Token signature is invalid"


# ---- fixtures and helpers ----

@pytest.fixture(scope="module")
def c2(tmp_path_factory):
    """One activated two-HSM cluster for the tests of this module; each uses its own users."""
    c = Cluster(tmp_path_factory.mktemp("mfa") / "data")
    try:
        activate(c)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """RSA keys made once per module with openssl: keys[name] = (private key, public PEM)."""
    d = tmp_path_factory.mktemp("keys")
    made = {}

    class Keys:
        dir = d

        def __getitem__(self, name):
            if name not in made:
                made[name] = rsa_key(d, name)
            return made[name]

    return Keys()


def pw_of(user):
    return f"{user}_pw_1"


def create_cu(cluster, user, pw=None):
    code, out, text = cli(cluster, "user", "create", "--username", user, "--role", CU_ROLE,
                          "--password", pw or pw_of(user), **as_admin())
    assert code == 0 and out["data"] == {"username": user, "role": CU_ROLE}, text


def cmu_list(cluster):
    """openhsm-cmu listUsers: {server: {name: (id, type, mofn, failures, 2fa)}}."""
    got = cmu_users(cmu(cluster, "listUsers\n"))
    assert sorted(got) == list(range(len(cluster.cfg["hsms"]))), got
    return got


def failures(cluster, user):
    return [row[user][3] for _, row in sorted(cmu_list(cluster).items())]


def twofa(cluster, user):
    return [row[user][4] for _, row in sorted(cmu_list(cluster).items())]


def admin_shell(cluster, **env):
    sh = Interactive(cluster, **env)
    assert sh.run(f"login --username admin --role admin --password {ADMIN_PW}") == {
        "error_code": 0, "data": {"username": "admin", "role": "admin"}}
    return sh


def register(sh, tmp, user, pub, key, nhsms, new_pw=None):
    """`user change-mfa token-sign` in a shell, the guide's way: the new password typed twice,
    the unsigned token file signed with openssl, enter for the same file, then the public key
    path. Returns the reply."""
    tfile = tmp / f"reg-{user}.json"
    sh.send(f"user change-mfa token-sign --username {user} --role {CU_ROLE} --token {tfile}")
    sh.expect("Enter password:")
    sh.send(new_pw or pw_of(user))
    sh.expect("Confirm password:")
    sh.send(new_pw or pw_of(user))
    sh.expect(SIGNED_PROMPT)
    check_mfa_file(read_json(tfile), nhsms)
    sign_mfa(tfile, key)
    sh.send("")
    sh.expect(PUBKEY_PROMPT)
    sh.send(str(pub))
    return sh.obj()


def register_ok(cluster, tmp, user, keypair):
    key, pub = keypair
    sh = admin_shell(cluster)
    try:
        got = register(sh, tmp, user, pub, key, len(cluster.cfg["hsms"]))
        assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got
    finally:
        sh.close()


def login_mfa(sh, user, tfile, answer, pw=None, nhsms=2):
    """`login ... mfa-token-sign` in a shell: password, then (once the unsigned file exists) the
    line answer(data) returns for the signed-file prompt. Returns the reply."""
    sh.send(f"login --username {user} --role {CU_ROLE} mfa-token-sign --token {tfile}")
    sh.expect("Enter password:")
    sh.send(pw or pw_of(user))
    sh.expect(SIGNED_PROMPT)
    data = read_json(tfile)
    check_mfa_file(data, nhsms)
    sh.send(answer(data))
    return sh.obj()


def signed_same_file(tfile, key):
    def answer(data):
        sign_mfa(tfile, key)
        return ""
    return answer


def login_ok(sh, user, tfile, key, nhsms=2):
    got = login_mfa(sh, user, tfile, signed_same_file(tfile, key), nhsms=nhsms)
    assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got


def seed_flow(cluster, tmp, user, keypair):
    """The whole guide: registration by an admin, then the user's MFA login and a key command."""
    key, pub = keypair
    n = len(cluster.cfg["hsms"])
    create_cu(cluster, user)
    assert users(cluster)[user]["mfa"] == []
    assert twofa(cluster, user) == ["NO"] * n

    sh = admin_shell(cluster)
    try:
        mark = sh.mark()
        got = register(sh, tmp, user, pub, key, n)
        assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got
        # The new password was typed at the prompts, not echoed anywhere.
        assert pw_of(user) not in sh.stderr_since(mark)
    finally:
        assert sh.close() == 0
    listed = users(cluster)[user]
    assert listed["mfa"] == MFA_ON, listed
    assert listed["locked"] == "false" and listed["cluster-coverage"] == "full", listed
    assert twofa(cluster, user) == ["YES"] * n
    assert failures(cluster, user) == [0] * n

    sh = Interactive(cluster)
    try:
        tfile = tmp / "t.json"
        got = login_mfa(sh, user, tfile, signed_same_file(tfile, key), nhsms=n)
        assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got
        made = sh.ok(f"key generate-symmetric aes --label mfa-{user} --key-length-bytes 32")
        assert made["key"]["key-reference"], made
        found = sh.ok(f"key list --filter attr.label=mfa-{user}")
        assert len(found["matched_keys"]) == 1, found
        assert sh.ok("logout") == "Logout successful"
    finally:
        assert sh.close() == 0
    assert failures(cluster, user) == [0] * n


# ---- the guide's flow ----

def test_seed_flow_two_hsms(c2, keys, tmp_path):
    seed_flow(c2, tmp_path, "alice", keys["alice"])


def test_seed_flow_three_hsms(make_cluster, keys, tmp_path):
    c3 = make_cluster(hsms=3)
    activate(c3)
    seed_flow(c3, tmp_path, "alice", keys["alice"])


def test_plain_login_refused_for_mfa_user(c2, keys, tmp_path):
    create_cu(c2, "pat")
    # Before MFA: token-sign login is refused (no key), and plain login works.
    sh = Interactive(c2)
    try:
        sh.send(f"login --username pat --role {CU_ROLE} mfa-token-sign --token {tmp_path}/x.json")
        sh.expect("Enter password:")
        sh.send(pw_of("pat"))
        got = sh.obj()
        assert got["error_code"] == 1 and "MFA is not enabled for this user" in got["data"], got
        assert not (tmp_path / "x.json").exists()
    finally:
        sh.close()
    register_ok(c2, tmp_path, "pat", keys["pat"])
    for pw in (pw_of("pat"), "not_pats_pw"):
        code, out, text = cli(c2, "login", "--username", "pat", "--role", CU_ROLE,
                              "--password", pw)
        assert code != 0 and out["error_code"] == 1, text
        assert "This user has MFA enabled: log in with mfa-token-sign" in out["data"], out
        assert pw not in text
    # Single-command mode logs in with a plain login: refused the same way.
    code, out, text = cli(c2, "key", "list", CLOUDHSM_ROLE=CU_ROLE,
                          CLOUDHSM_PIN=f"pat:{pw_of('pat')}")
    assert code != 0 and "log in with mfa-token-sign" in out["data"], text
    # Nothing was counted: the password is not even checked.
    assert failures(c2, "pat") == [0, 0]
    assert users(c2)["pat"]["locked"] == "false"


def run_bg(target):
    """Runs target() in a thread; returns join() giving its exception, if any."""
    box = {}

    def wrap():
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - reported to the test
            box["e"] = e

    t = threading.Thread(target=wrap, daemon=True)
    t.start()

    def join():
        t.join(90)
        assert not t.is_alive(), "signer thread hung"
        if "e" in box:
            raise box["e"]
    return join


def script_signer(tfile, sfile, key, nhsms):
    """What a script does: wait for the complete unsigned file, sign, rename into place."""
    def go():
        wait_json(tfile, lambda d: len(d.get("tokens", [])) == nhsms)
        sign_mfa(tfile, key, out=sfile)
    return go


def test_script_form(c2, keys, tmp_path):
    """--signed-token and --public-key (openhsm extensions): no prompt; the CLI waits for the signed
    file, which the script renames into place complete."""
    key, pub = keys["sam"]
    create_cu(c2, "sam", "sam_old_pw")
    t1, s1 = tmp_path / "reg.json", tmp_path / "reg-signed.json"
    join = run_bg(script_signer(t1, s1, key, 2))
    p = subprocess.run([CLI, "user", "change-mfa", "token-sign", "--username", "sam",
                        "--role", CU_ROLE, "--change-password", pw_of("sam"), "--token", str(t1),
                        "--signed-token", str(s1), "--public-key", str(pub)],
                       env=c2.env(**as_admin()), capture_output=True, text=True, timeout=120)
    join()
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout) == {"error_code": 0, "data": {"username": "sam", "role": CU_ROLE}}
    assert "Enter" not in p.stderr, p.stderr
    assert pw_of("sam") not in p.stdout + p.stderr
    assert users(c2)["sam"]["mfa"] == MFA_ON
    assert read_json(t1)["tokens"][0]["signed"] == ""  # the CLI signed nothing itself

    t2, s2 = tmp_path / "login.json", tmp_path / "login-signed.json"
    join = run_bg(script_signer(t2, s2, key, 2))
    p = subprocess.run([CLI, "login", "--username", "sam", "--role", CU_ROLE,
                        "mfa-token-sign", "--token", str(t2), "--signed-token", str(s2)],
                       env=c2.env(CLOUDHSM_ROLE=CU_ROLE, CLOUDHSM_PIN=f"sam:{pw_of('sam')}"),
                       capture_output=True, text=True, timeout=120)
    join()
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout) == {"error_code": 0, "data": {"username": "sam", "role": CU_ROLE}}
    assert "Enter" not in p.stderr, p.stderr
    check_mfa_file(read_json(t2), 2)
    assert failures(c2, "sam") == [0, 0]


# ---- failures: each counts once, 5 lock ----

def reply_error(got, *needles):
    assert got["error_code"] == 1 and isinstance(got["data"], str), got
    for n in needles:
        assert re.search(n, got["data"]), (n, got)
    return got["data"]


def test_failures_count_toward_lockout(c2, keys, tmp_path):
    user = "fay"
    key, _ = keys["fay"]
    other, _ = keys["mallory"]
    create_cu(c2, user)
    register_ok(c2, tmp_path, user, keys["fay"])
    sh = Interactive(c2)
    n = [0]

    def attempt(answer, *needles):
        tfile = tmp_path / f"try{n[0]}.json"
        before = failures(c2, user)
        got = login_mfa(sh, user, tfile, lambda d: answer(tfile, d))
        msg = reply_error(got, *needles)
        after = failures(c2, user)
        assert after == [b + 1 for b in before], (msg, before, after)
        n[0] += 1
        return msg

    def ok():
        tfile = tmp_path / f"ok{n[0]}.json"
        login_ok(sh, user, tfile, key)
        assert failures(c2, user) == [0, 0]
        assert sh.ok("logout") == "Logout successful"
        n[0] += 1
        return tfile

    def unsigned(tfile, data):
        return ""  # enter: the same, unsigned, file

    def other_key(tfile, data):
        sign_mfa(tfile, other)
        return ""

    def swapped(tfile, data):
        d = sign_mfa(tfile, key)
        t = d["tokens"]
        t[0]["signed"], t[1]["signed"] = t[1]["signed"], t[0]["signed"]
        write_json(tfile, d)
        return ""

    def reuse(prev):
        def answer(tfile, data):
            return str(prev)  # the signed file of an earlier successful login
        return answer

    def malformed(tfile, data):
        bad = tmp_path / f"bad{n[0]}.json"
        bad.write_text('{"version": "2.0", "tokens": [')
        return str(bad)

    def version(tfile, data):
        d = sign_mfa(tfile, key)
        d["version"] = "1.0"
        write_json(tfile, d)
        return ""

    def one_removed(tfile, data):
        d = sign_mfa(tfile, key)
        del d["tokens"][1]
        write_json(tfile, d)
        return ""

    try:
        prev = ok()
        prev_copy = tmp_path / "prev-signed.json"
        shutil.copy(prev, prev_copy)
        assert read_json(prev_copy)["tokens"][0]["signed"]

        attempt(unsigned, INVALID)
        # The failed attempt left the shell logged out.
        got = sh.run("key list")
        assert got["error_code"] == 1, got
        attempt(other_key, INVALID)
        attempt(swapped, INVALID)
        attempt(reuse(prev_copy), r"does not match the token its HSM issued")
        assert failures(c2, user) == [4, 4]
        ok()  # a correct login before the 5th failure resets the counter

        attempt(malformed, r"(?i)not valid JSON")
        attempt(version, r"1\.0", r"(?i)version")
        attempt(one_removed, r"(?i)token", r"\b1\b", r"\b2\b")
        ok()

        for _ in range(5):
            attempt(other_key, INVALID)
        assert failures(c2, user) == [5, 5]
        assert users(c2)[user]["locked"] == "true"

        # Locked: even the right password and a correct signature are refused, at the password
        # step (no token is issued), and nothing more is counted.
        tfile = tmp_path / "locked.json"
        sh.send(f"login --username {user} --role {CU_ROLE} mfa-token-sign --token {tfile}")
        sh.expect("Enter password:")
        sh.send(pw_of(user))
        got = sh.obj()
        reply_error(got, LOCKED)
        assert not tfile.exists()
        assert failures(c2, user) == [5, 5]
    finally:
        sh.close()

    # An admin's new password (change-mfa keeps the key) unlocks, as for plain logins.
    code, out, text = cli(c2, "user", "change-password", "--username", user, "--role", CU_ROLE,
                          "--password", "fay_pw_new", **as_admin())
    assert code == 0, text
    assert users(c2)[user]["locked"] == "false"
    assert users(c2)[user]["mfa"] == MFA_ON
    sh = Interactive(c2)
    try:
        tfile = tmp_path / "after-unlock.json"
        got = login_mfa(sh, user, tfile, signed_same_file(tfile, key), pw="fay_pw_new")
        assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got
    finally:
        sh.close()


def test_expired_and_abandoned_tokens(make_cluster, keys, tmp_path):
    """A cluster whose HSMs issue tokens for LIFE s: a signature sent once LIFE + 1 s have passed
    since the tokens were issued is refused as expired and counts; a script that never delivers a
    signed file is given up on, and counts too. (LIFE leaves the in-time path, six openssl and
    base64 runs, enough time on a loaded machine: the HSM counts whole seconds, so a token lives
    between LIFE - 1 and LIFE s.)"""
    life = 6
    c = make_cluster(env={"OPENHSM_TOKEN_LIFETIME": str(life)})
    activate(c)
    user = "eve"
    key, _ = keys["eve"]
    create_cu(c, user)
    register_ok(c, tmp_path, user, keys["eve"])
    sh = Interactive(c)
    try:
        tfile = tmp_path / "slow.json"

        def late(data):
            sign_mfa(tfile, key)
            # The tokens were issued before the unsigned file was written: wait until the file
            # is older than the lifetime plus the HSM clock's whole second.
            expired = tfile.stat().st_mtime + life + 1
            wait_for(lambda: time.time() > expired, life + 5, "token lifetime passed")
            return ""
        got = login_mfa(sh, user, tfile, late)
        reply_error(got, "Token has expired")
        assert failures(c, user) == [1, 1]
        # In time, it works (and resets the counter).
        login_ok(sh, user, tmp_path / "quick.json", key)
        assert failures(c, user) == [0, 0]
    finally:
        sh.close()

    t, s = tmp_path / "never.json", tmp_path / "never-signed.json"
    start = time.monotonic()
    p = subprocess.run([CLI, "login", "--username", user, "--role", CU_ROLE,
                        "mfa-token-sign", "--token", str(t), "--signed-token", str(s)],
                       env=c.env(CLOUDHSM_ROLE=CU_ROLE, CLOUDHSM_PIN=f"{user}:{pw_of(user)}"),
                       capture_output=True, text=True, timeout=60)
    took = time.monotonic() - start
    assert p.returncode != 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["error_code"] == 1, p.stdout
    assert life - 1 <= took < life + 15, took  # gave up around the token lifetime, not never
    check_mfa_file(read_json(t), 2)
    assert failures(c, user) == [1, 1]


# ---- registration ----

def test_registration_failures_and_deregister(c2, keys, tmp_path):
    user = "reg"
    create_cu(c2, user)
    create_cu(c2, "reg2")
    key, pub = keys["reg"]
    other, _ = keys["mallory"]
    weak_key, weak_pub = rsa_key(tmp_path, "weak", bits=1024)
    ec_priv, ec_pub = ec_key(tmp_path, "ec")
    baseline = users(c2)
    sh = admin_shell(c2)
    try:
        # An RSA-1024 key, an EC key, a file that is no key: refused before anything is stored.
        for bad_pub, why in ((weak_pub, "RSA-2048"), (ec_pub, "RSA-2048"),
                             (tmp_path / "nokey.pem", "PEM public key")):
            if bad_pub.name == "nokey.pem":
                bad_pub.write_text("-----BEGIN PUBLIC KEY-----\nnot a key\n"
                                   "-----END PUBLIC KEY-----\n")
            got = register(sh, tmp_path, user, bad_pub, key, 2, new_pw="reg_new_pw1")
            reply_error(got, why)
        # Signed with a key other than the one given: the CLI names the token that fails.
        got = register(sh, tmp_path, user, pub, other, 2, new_pw="reg_new_pw1")
        reply_error(got, r"signature of token \d of 2", "does not verify")
    finally:
        sh.close()
    assert users(c2) == baseline
    assert twofa(c2, user) == ["NO", "NO"]
    assert failures(c2, user) == [0, 0]  # registration is not a login of the user
    # The password given with the refused changes was not set either.
    code, out, text = cli(c2, "login", "--username", user, "--role", CU_ROLE, "--password",
                          pw_of(user))
    assert code == 0, text

    # Registered, then deregistered by the admin: plain login with the new password works again.
    register_ok(c2, tmp_path, user, keys["reg"])
    assert twofa(c2, user) == ["YES", "YES"]
    code, out, text = cli(c2, "user", "change-mfa", "token-sign", "--username", user, "--role",
                          CU_ROLE, "--deregister", "--change-password", "reg_pw_2", **as_admin())
    assert code == 0 and out == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, text
    assert users(c2)[user]["mfa"] == []
    assert twofa(c2, user) == ["NO", "NO"]
    code, out, text = cli(c2, "login", "--username", user, "--role", CU_ROLE, "--password",
                          "reg_pw_2")
    assert code == 0 and out["data"] == {"username": user, "role": CU_ROLE}, text

    # --token and --deregister together, or neither: refused, nothing changes.
    for extra in (["--deregister", "--token", str(tmp_path / "z.json")], []):
        code, out, text = cli(c2, "user", "change-mfa", "token-sign", "--username", user,
                              "--role", CU_ROLE, "--change-password", "reg_pw_3", *extra,
                              **as_admin())
        assert code != 0 and out["error_code"] == 1, text
    assert not (tmp_path / "z.json").exists()

    # A crypto user registers their own key (logged in with the password), then needs MFA.
    sh = Interactive(c2)
    try:
        assert sh.run(f"login --username {user} --role {CU_ROLE} --password reg_pw_2")[
            "error_code"] == 0
        got = register(sh, tmp_path, user, pub, key, 2, new_pw="reg_pw_4")
        assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got
        # ... but not someone else's.
        sh.send(f"user change-mfa token-sign --username reg2 --role {CU_ROLE} --deregister "
                "--change-password reg2_pw_99")
        got = sh.obj()
        reply_error(got, "This user type may not perform this operation")
        assert sh.ok("logout") == "Logout successful"
        assert sh.run(f"login --username reg2 --role {CU_ROLE} --password {pw_of('reg2')}")[
            "error_code"] == 0  # reg2 unchanged
        assert sh.ok("logout") == "Logout successful"
        got = login_mfa(sh, user, tmp_path / "self.json",
                        signed_same_file(tmp_path / "self.json", key), pw="reg_pw_4")
        assert got == {"error_code": 0, "data": {"username": user, "role": CU_ROLE}}, got
    finally:
        sh.close()
    assert users(c2)[user]["mfa"] == MFA_ON


# ---- user sync ----

def register_while_hsm1_hangs(c2, tmp_path, user, keypair):
    """Registers user's MFA key while HSM 1 hangs: only HSM 0 issues a token and stores the key."""
    key, pub = keypair
    create_cu(c2, user)
    sh = admin_shell(c2, OPENHSM_AUTO_REPAIR="0")
    try:
        c2.pause_hsm(1)
        try:
            tfile = tmp_path / f"reg-{user}.json"
            sh.send(f"user change-mfa token-sign --username {user} --role {CU_ROLE} "
                    f"--token {tfile} --change-password {pw_of(user)}")
            sh.expect(SIGNED_PROMPT, timeout=90)
            check_mfa_file(read_json(tfile), 1)  # only HSM 0 issued one
            sign_mfa(tfile, key)
            sh.send("")
            sh.expect(PUBKEY_PROMPT)
            sh.send(str(pub))
            got = sh.obj()
            # Registered on 1 of 2 HSMs: the reply names the one that did not answer.
            assert got["error_code"] == 1, got
            assert c2.cfg["hsms"][1]["id"] in got["data"], got
        finally:
            c2.resume_hsm(1)
    finally:
        sh.close()
    assert twofa(c2, user) == ["YES", "NO"]
    # The users' sync digests differ: the MFA key is part of the user record.
    code, out, text = cli(c2, "cluster", "sync-status", **as_admin(), OPENHSM_AUTO_REPAIR="0")
    assert code == 0 and out["data"]["in-sync"] is False, text
    stale = [d for d in out["data"]["differences"] if d.get("username") == user]
    uid = cmu_list(c2)[0][user][0]
    assert stale == [{"hsm-id": c2.cfg["hsms"][1]["id"], "kind": "stale", "username": user,
                      "user-id": uid}], out


def mfa_login_on_both(c2, tmp_path, user, key):
    assert twofa(c2, user) == ["YES", "YES"]
    assert users(c2)[user]["mfa"] == MFA_ON
    sh = Interactive(c2)
    try:
        login_ok(sh, user, tmp_path / f"login-{user}.json", key)
    finally:
        sh.close()
    assert failures(c2, user) == [0, 0]


def test_cmu_sync_user_carries_mfa_key(c2, keys, tmp_path):
    """HSM 1 hung while syn's MFA key was registered; openhsm-cmu syncUser copies the user record,
    MFA key included, to it; then the MFA login works on both HSMs."""
    user = "syn"
    register_while_hsm1_hangs(c2, tmp_path, user, keys[user])
    uid = cmu_list(c2)[0][user][0]
    out = cmu(c2, f"loginHSM CO admin {ADMIN_PW}\nsyncUser {uid} 1\n")
    assert "\nsyncUser success\n" in out, out
    mfa_login_on_both(c2, tmp_path, user, keys[user][0])


def test_cluster_sync_repair_copies_mfa_key(c2, keys, tmp_path):
    """`cluster sync-repair` copies the newest user record (issue 10: versioned records), MFA key
    included, to the HSM that hung; then the MFA login works on both HSMs."""
    user = "syn2"
    register_while_hsm1_hangs(c2, tmp_path, user, keys[user])
    code, out, text = cli(c2, "cluster", "sync-repair", **as_admin(), OPENHSM_AUTO_REPAIR="0")
    assert code == 0, text
    assert out["data"]["in-sync"] is True, out
    mfa_login_on_both(c2, tmp_path, user, keys[user][0])
