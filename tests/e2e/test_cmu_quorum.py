# SPDX-License-Identifier: Apache-2.0
"""openhsm-cmu's quorum commands end to end, as the guide's crypto-officer quorum pages run them:
officers register RSA-2048 keys (registerQuorumPubKey with a registration token signed by the real
`openssl dgst -sha256 -sign` while their session waits, at a terminal: a token lives as long as
the session that got it), the admin raises USER_MGMT's M value (setMValue, getMValue), after
which createUser fails until an officer gets a token (getToken), has it signed by two officers,
approves it (approveToken with the guide's approval file) and listTokens shows it; the approved
createUser then succeeds once, and the next one fails again. Bad files are refused before
anything is sent; delToken removes tokens. Each step is read back (listUsers, getMValue,
listTokens).
"""
import re
import subprocess

import pexpect
import pytest

from test_cmu import ADMIN_PW, CMU, SCRIPT_FAILED, activate, cmu, create, login_as, users
from tokens import rsa_key

OFFICERS = {"officer1": "officer1-pw", "officer2": "officer2-pw"}
HOST = "127.0.0.1"


def sign(key, token, sig):
    """The guide's approval signature: openssl dgst -sha256 -sign KEY -out SIG TOKEN."""
    p = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(key), "-out", str(sig),
                        str(token)], capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr


def approval_file(path, token, approvers):
    """The guide's token approval file."""
    text = ("# the token\nMulti Token File Path = %s;\nToken File Path = ;\n\n"
            "Number of Approvals = %d;\n" % (token, len(approvers)))
    for name, sig in approvers:
        text += ("\n# Approver\nApprover Type = 2; # 2 for CO, 1 for CU\n"
                 f"Approver Name = {name};\nApproval File = {sig};\n")
    path.write_text(text)
    return path


def per_server(out, line, n=2):
    for i in range(n):
        assert f"{line} on server {i}({HOST})" in out, out


class Session:
    """One openhsm-cmu session at a terminal (pexpect): a quorum token lives as long as the
    session that got it, and approvers sign it while the session waits, as in the guide."""

    def __init__(self, cluster):
        self.child = pexpect.spawn(str(CMU), [cluster.config], env=cluster.env(TERM="dumb"),
                                   encoding="utf-8", timeout=60)
        self.child.expect_exact("aws-cloudhsm>")

    def run(self, line, yes=False):
        self.child.sendline(line)
        if yes:
            self.child.expect_exact("Do you want to continue(y/n)?")
            self.child.sendline("y")
        self.child.expect_exact("aws-cloudhsm>")
        return self.child.before.replace("\r\n", "\n")

    def close(self):
        self.child.sendline("quit")
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus == 0


@pytest.fixture
def officers(cluster, tmp_path):
    """Activated cluster with two officers that registered quorum keys; returns their keys."""
    return register_officers(cluster, tmp_path)


def register_officers(cluster, tmp_path):
    """Activates the cluster, creates two officers and registers their quorum keys (checked);
    returns {name: private key path}."""
    activate(cluster)
    cmu(cluster, login_as("admin", ADMIN_PW) +
        "".join(create("CO", n, pw) for n, pw in OFFICERS.items()), status=0)
    keys = {}
    for name, pw in OFFICERS.items():
        key, pub = rsa_key(tmp_path, name)
        keys[name] = key
        tok, sig = tmp_path / f"{name}.reg", tmp_path / f"{name}.reg.sig"
        s = Session(cluster)
        try:
            per_server(s.run(f"loginHSM CO {name} {pw}"), "loginHSM success")
            out = s.run(f"getToken 5 {name} {tok}")
            per_server(out, "getToken success")
            assert out.count("Service:5\n") == 2 and f"User:{name}\n" in out, out
            assert tok.stat().st_mode & 0o777 == 0o600
            sign(key, tok, sig)
            out = s.run(f"registerQuorumPubKey CO {name} {tok} {sig} {pub}", yes=True)
            per_server(out, "registerQuorumPubKey success")
        finally:
            s.close()
    listed = users(cmu(cluster, "listUsers\n", status=0))
    for srv in (0, 1):
        for name in OFFICERS:
            assert listed[srv][name][2] == "YES", listed  # MofnPubKey
        assert listed[srv]["admin"][2] == "NO", listed
    return keys


def test_cmu_quorum_m_value_token_approval(cluster, officers, tmp_path):
    """setMValue/getMValue, then getToken, approveToken, listTokens and one approved createUser."""
    admin = login_as("admin", ADMIN_PW)
    out = cmu(cluster, "getMValue 3\ngetMValue 4\n", status=0)
    assert "MValue of service 3[USER_MGMT] on server 0 : [1]\n" in out, out
    assert "MValue of service 4[MISC_CO] on server 1 : [1]\n" in out, out
    out = cmu(cluster, admin + "setMValue 3 2\ny\ngetMValue 3\n", status=0)
    assert "Do you want to continue(y/n)?y\nSetting M Value(2) for 3 on 2 nodes\n" in out, out
    per_server(out, "setMValue success")
    assert "MValue of service 3[USER_MGMT] on server 0 : [2]\n" in out, out
    assert "MValue of service 3[USER_MGMT] on server 1 : [2]\n" in out, out

    # Without an approval, user management is refused on every HSM.
    out = cmu(cluster, admin + create("CU", "user1", "user1-pw1"), status=SCRIPT_FAILED)
    assert re.search(r"^createUser failed: .+ on server 0\(127\.0\.0\.1\)$", out, re.M), out
    assert all("user1" not in u for u in users(cmu(cluster, "listUsers\n")).values())

    # officer1 gets a token; officer1 and officer2 sign it; officer1 approves and creates.
    tok = tmp_path / "officer1.token"
    s = Session(cluster)
    try:
        s.run(f"loginHSM CO officer1 {OFFICERS['officer1']}")
        out = s.run(f"getToken 3 officer1 {tok}")
        assert out.count("Token:\nId:") == 2 and "Service:3\n" in out, out
        sigs = []
        for name in OFFICERS:
            sig = tmp_path / f"officer1.token.sig-{name}"
            sign(officers[name], tok, sig)
            sigs.append((name, sig))
        appr = approval_file(tmp_path / "approval.txt", tok, sigs)
        per_server(s.run(f"approveToken {appr}"), "approveToken success")
        out = s.run("listTokens")
        for i in (0, 1):
            assert f"=====================\n    Server {i}({HOST})\n=====================\n" in out
        assert out.count("User:officer1\n") == 2, out
        assert out.count("Required num of approvers : 2\nCurrent num of approvals : 2\n"
                         "Approver-0: officer1\nApprover-1: officer2\n") == 2, out
        assert out.count("Num of tokens = 1\n") == 2 and "\nlistTokens success\n" in out, out
        per_server(s.run("createUser CU user1 user1-pw1", yes=True), "createUser success")
        out = s.run("createUser CU user2 user2-pw1", yes=True)  # the approval was spent
        assert re.search(r"createUser failed: .+ on server 1\(127\.0\.0\.1\)", out), out
        listed = users(s.run("listUsers"))
        assert all("user1" in u and "user2" not in u for u in listed.values()), listed
        # A token that is not used: delToken removes it.
        s.run(f"getToken 3 officer1 {tmp_path / 'spare.token'}")
        assert s.run("listTokens").count("Num of tokens = 1\n") == 2
        per_server(s.run("delToken"), "delToken success")
        assert s.run("listTokens").count("Num of tokens = 0\n") == 2
    finally:
        s.close()


def test_cmu_quorum_bad_input_changes_nothing(cluster, officers, tmp_path):
    """Wrong services, values and files: one clear line each, nothing sent, status 3."""
    o1 = login_as("officer1", OFFICERS["officer1"], "CO")
    missing = tmp_path / "nope.txt"
    half = approval_file(tmp_path / "half.txt", tmp_path / "t", [("officer1", missing)])
    junk = tmp_path / "junk.token"
    junk.write_bytes(b"x" * 50)
    sig = tmp_path / "junk.sig"
    sig.write_bytes(b"y" * 256)
    bad = approval_file(tmp_path / "bad.txt", junk, [("officer1", sig)])
    out = cmu(cluster, o1 + "getMValue 7\nsetMValue 3 9\nsetMValue 5 2\n"
              f"getToken 3 officer2 {tmp_path / 'x.token'}\n"
              f"approveToken {missing}\napproveToken {half}\napproveToken {bad}\n"
              "registerQuorumPubKey CO officer1 /nonexistent a b\ny\n"
              "getMValue 3\n", status=SCRIPT_FAILED)
    assert "Invalid service '7': expected 3 (USER_MGMT) or 4 (MISC_CO)" in out, out
    assert "Invalid quorum value '9': expected a number from 1 to 8" in out, out
    assert "Invalid service '5'" in out, out
    assert "getToken failed: the token is for the user who is logged in" in out, out
    assert f"approveToken failed: cannot read '{missing}'" in out, out
    assert "approveToken failed:" in out and "is not a quorum token" in out, out
    assert "registerQuorumPubKey failed: cannot read '/nonexistent'" in out, out
    assert not (tmp_path / "x.token").exists()
    assert "approveToken success" not in out and "Setting M Value" not in out, out
    after = out.split("loginHSM success on server 1(127.0.0.1)\n", 1)[1]
    assert "Unknown command" not in after and "success" not in after, out
    assert "MValue of service 3[USER_MGMT] on server 0 : [1]\n" in out, out
