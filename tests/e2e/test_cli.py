# SPDX-License-Identifier: Apache-2.0
"""openhsm-cli (the CloudHSM CLI clone) end to end, as a user runs it: cluster activation through a
terminal with prompts, the interactive shell, single-command mode with CLOUDHSM_ROLE/CLOUDHSM_PIN,
user management across two HSMs, lockout, one HSM not answering, and bad input that must change
nothing. Every command prints one JSON object; errors have error_code 1 and exit non-zero.
"""
import contextlib
import io
import json
import subprocess

import pexpect
import pytest

from conftest import BIN

CLI = str(BIN / "openhsm-cli")
ADMIN_PW = "Admin_pw1"
PROMPT = "aws-cloudhsm > "


def cli(cluster, *args, stdin=None, **env):
    """Runs one command in single-command mode; returns (exit status, parsed JSON, stdout)."""
    p = subprocess.run([CLI, *args], env=cluster.env(**env), input=stdin, capture_output=True,
                       text=True, timeout=60)
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        out = None
    return p.returncode, out, p.stdout + p.stderr


def as_admin(pw=ADMIN_PW, user="admin"):
    return {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": f"{user}:{pw}"}


def objects(text):
    """The JSON objects printed one after another."""
    dec = json.JSONDecoder()
    out, i = [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def shell(cluster, *lines, **env):
    """Runs the interactive shell with piped stdin; returns the JSON objects it printed."""
    p = subprocess.run([CLI, "interactive"], env=cluster.env(**env),
                       input="".join(line + "\n" for line in lines), capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    return objects(p.stdout)


class Shell:
    """An interactive shell driven one command at a time over pipes."""

    def __init__(self, cluster):
        self.p = subprocess.Popen([CLI, "interactive"], env=cluster.env(), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def run(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        lines = []
        while True:
            got = self.p.stdout.readline()
            assert got, "shell ended: " + "".join(lines)
            lines.append(got)
            if got == "}\n":  # the pretty-printed object closes at column 0
                return json.loads("".join(lines))

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(30) == 0


def users(cluster):
    code, out, text = cli(cluster, "user", "list")
    assert code == 0, text
    return {u["username"]: u for u in out["data"]["users"]}


def activate(cluster):
    code, out, text = cli(cluster, "cluster", "activate", "--password", ADMIN_PW)
    assert code == 0 and out == {"error_code": 0, "data": "Cluster activation successful"}, text


@contextlib.contextmanager
def cluster_with_users(data, hsms, *users):
    """A started Cluster in data, activated, with a crypto user for each (name, password);
    stopped on leaving the with block."""
    from conftest import Cluster
    c = Cluster(data, hsms=hsms)
    try:
        activate(c)
        for name, pw in users:
            code, _out, text = cli(c, "user", "create", "--username", name, "--role",
                                   "crypto-user", "--password", pw, **as_admin())
            assert code == 0, text
        yield c
    finally:
        c.stop()


def test_activate_through_terminal(cluster):
    # Before activation: the unactivated admin and the appliance user, on both HSMs.
    before = users(cluster)
    assert before["admin"] == {"username": "admin", "role": "unactivated-admin",
                               "locked": "false", "mfa": [], "quorum": [],
                               "cluster-coverage": "full"}
    assert before["app_user"]["role"] == "internal(APPLIANCE_USER)"
    assert before["app_user"]["cluster-coverage"] == "full"
    code, out, text = cli(cluster, "cluster", "hsm-info")
    assert code == 0, text
    hsms = out["data"]["hsms"]
    assert [h["hsm-id"] for h in hsms] == [h["id"] for h in cluster.cfg["hsms"]]
    assert all(h["state"] == "connected" and h["activated"] is False for h in hsms)
    assert all(h["eni-ip"] == "127.0.0.1" for h in hsms)

    # The unactivated admin may log in ("admin" names it) but not create users.
    got = shell(cluster, "login --username admin --role admin --password password",
                "user create --username bob --role crypto-user --password Passw0rd", "logout")
    assert got[0] == {"error_code": 0, "data": {"username": "admin",
                                                "role": "unactivated-admin"}}
    assert got[1]["error_code"] == 1 and isinstance(got[1]["data"], str)
    assert got[2] == {"error_code": 0, "data": "Logout successful"}
    assert "bob" not in users(cluster)

    child = pexpect.spawn(CLI, ["interactive"], env=cluster.env(TERM="dumb"), encoding="utf-8",
                          timeout=30)
    transcript = io.StringIO()
    child.logfile_read = transcript
    try:
        child.expect_exact(PROMPT)
        # A confirmation that does not match changes nothing.
        child.sendline("cluster activate")
        child.expect_exact("Enter password:")
        child.sendline("Mismatch_1")
        child.expect_exact("Confirm password:")
        child.sendline("Mismatch_2")
        child.expect_exact('"error_code": 1')
        child.expect_exact("Passwords do not match")
        child.expect_exact(PROMPT)
        child.sendline("cluster activate")
        child.expect_exact("Enter password:")
        child.sendline(ADMIN_PW)
        child.expect_exact("Confirm password:")
        child.sendline(ADMIN_PW)
        child.expect_exact('"data": "Cluster activation successful"')
        child.expect_exact(PROMPT)
        child.sendline("login --username admin --role admin")
        child.expect_exact("Enter password:")
        child.sendline(ADMIN_PW)
        child.expect_exact('"role": "admin"')
        child.expect_exact(PROMPT)
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # Passwords were typed without echo.
    for pw in (ADMIN_PW, "Mismatch_1", "Mismatch_2"):
        assert pw not in transcript.getvalue()
    assert "cluster activate" in transcript.getvalue()  # commands are echoed
    after = users(cluster)
    assert after["admin"]["role"] == "admin"
    assert after["admin"]["cluster-coverage"] == "full"
    # Activating again is refused.
    code, out, _ = cli(cluster, "cluster", "activate", "--password", "Other_pw1")
    assert code != 0 and out["error_code"] == 1 and "already activated" in out["data"]


def test_user_management(cluster):
    activate(cluster)
    got = shell(
        cluster,
        f"login --username admin --role admin --password {ADMIN_PW}",
        "user create --username Alice --role crypto-user --password alice_pw1",
        "user create --username admin2 --role admin --password admin2_pw",
        "user list",
        "user change-password --username alice --role crypto-user --password alice_pw2",
        "logout",
        "login --username alice --role crypto-user --password alice_pw2",
        "user change-password --username alice --role crypto-user --password 'alice pw3'",
        "user create --username carol --role crypto-user --password carol_pw1",
        "logout",
        f"login --username admin --role admin --password {ADMIN_PW}",
        "user delete --username admin2 --role admin",
        "quit",
        "user list",  # after quit: never runs
    )
    assert len(got) == 12, got
    assert got[0]["data"] == {"username": "admin", "role": "admin"}
    assert got[1] == {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    assert got[2] == {"error_code": 0, "data": {"username": "admin2", "role": "admin"}}
    listed = got[3]["data"]["users"]
    assert {u["username"]: u["role"] for u in listed} == {
        "admin": "admin", "app_user": "internal(APPLIANCE_USER)", "alice": "crypto-user",
        "admin2": "admin"}
    for u in listed:
        assert list(u) == ["username", "role", "locked", "mfa", "quorum", "cluster-coverage"]
        assert u["locked"] == "false" and u["mfa"] == [] and u["quorum"] == []
        assert u["cluster-coverage"] == "full"
    assert got[4] == {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    assert got[5]["error_code"] == 0
    assert got[6] == {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
    assert got[7]["error_code"] == 0  # a crypto user changes their own password
    assert got[8]["error_code"] == 1  # but may not create users
    assert got[11] == {"error_code": 0, "data": {"username": "admin2", "role": "admin"}}
    now = users(cluster)
    assert "admin2" not in now and "carol" not in now and "alice" in now

    # Single-command mode: credentials from the environment, login, command, logout.
    code, out, _ = cli(cluster, "user", "list", CLOUDHSM_ROLE="crypto-user",
                       CLOUDHSM_PIN="alice:alice pw3")
    assert code == 0 and out["error_code"] == 0
    code, out, _ = cli(cluster, "user", "create", "--username", "frank", "--role",
                       "crypto-user", "--password", "frank_pw1", **as_admin())
    assert code == 0 and out["data"] == {"username": "frank", "role": "crypto-user"}
    # The password may come from the prompt (stdin here), asked twice.
    code, out, text = cli(cluster, "user", "change-password", "--username", "frank", "--role",
                          "crypto-user", stdin="frank_pw2\nfrank_pw2\n", **as_admin())
    assert code == 0, text
    assert "Enter password:" in text and "Confirm password:" in text
    code, out, _ = cli(cluster, "user", "list", CLOUDHSM_ROLE="crypto-user",
                       CLOUDHSM_PIN="frank:frank_pw2")
    assert code == 0
    # A crypto user cannot create users, in this mode either.
    code, out, _ = cli(cluster, "user", "create", "--username", "gina", "--role", "crypto-user",
                       "--password", "gina_pw12", CLOUDHSM_ROLE="crypto-user",
                       CLOUDHSM_PIN="frank:frank_pw2")
    assert code != 0 and out["error_code"] == 1
    # Wrong password, malformed PIN, unknown role, one variable only: errors, exit non-zero.
    for env in (as_admin("Wrong_pw1"), {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "nocolon"},
                {"CLOUDHSM_ROLE": "root", "CLOUDHSM_PIN": f"admin:{ADMIN_PW}"},
                {"CLOUDHSM_ROLE": "admin"}):
        code, out, text = cli(cluster, "user", "list", **env)
        assert code != 0 and out["error_code"] == 1 and isinstance(out["data"], str), text
        assert ADMIN_PW not in text
    assert "gina" not in users(cluster)


def test_lockout(cluster):
    activate(cluster)
    code, _, text = cli(cluster, "user", "create", "--username", "dave", "--role", "crypto-user",
                        "--password", "dave_pw12", **as_admin())
    assert code == 0, text
    for _ in range(5):
        code, out, _ = cli(cluster, "login", "--username", "dave", "--role", "crypto-user",
                           "--password", "not_his_pw")
        assert code != 0 and out["error_code"] == 1
    code, out, _ = cli(cluster, "login", "--username", "dave", "--role", "crypto-user",
                       "--password", "dave_pw12")
    assert code != 0 and out["error_code"] == 1 and "locked" in out["data"]
    assert users(cluster)["dave"]["locked"] == "true"
    # An admin setting a new password unlocks.
    code, _, text = cli(cluster, "user", "change-password", "--username", "dave", "--role",
                        "crypto-user", "--password", "dave_pw34", **as_admin())
    assert code == 0, text
    assert users(cluster)["dave"]["locked"] == "false"
    code, out, _ = cli(cluster, "login", "--username", "dave", "--role", "crypto-user",
                       "--password", "dave_pw34")
    assert code == 0 and out["data"] == {"username": "dave", "role": "crypto-user"}


BAD = [
    (["frobnicate"], "unrecognized command"),
    (["user", "frob"], "unrecognized subcommand"),
    (["user"], "needs a subcommand"),
    (["user", "create", "--username", "x1", "--role", "crypto-user", "--password", "Passw0rd1",
      "--bogus", "1"], "unexpected option '--bogus'"),
    (["user", "create", "--role", "crypto-user", "--password", "Passw0rd1"],
     "missing required option '--username"),
    (["user", "create", "--username", "x1", "--username", "x2", "--role", "crypto-user",
      "--password", "Passw0rd1"], "more than once"),
    (["user", "create", "--role", "crypto-user", "--password", "Passw0rd1", "--username"],
     "needs a value"),
    (["user", "list", "extra"], "unexpected argument 'extra'"),
    (["user", "create", "--username", "x1", "--role", "crypto-user", "--password", "Passw0rd1",
      "stray"], "after '--password'"),
    (["user", "create", "--username", "x1", "--role", "appliance-user", "--password",
      "Passw0rd1"], "invalid value 'appliance-user' for '--role'"),
    (["user", "create", "--username", "x1", "--role", "unactivated-admin", "--password",
      "Passw0rd1"], "invalid value"),
    (["user", "create", "--username", "a" * 32, "--role", "crypto-user", "--password",
      "Passw0rd1"], "Invalid username"),
    (["user", "create", "--username", "bad-name", "--role", "crypto-user", "--password",
      "Passw0rd1"], "Invalid username"),
    (["user", "create", "--username", "x1", "--role", "crypto-user", "--password", "short"],
     "Invalid password"),
    (["user", "create", "--username", "x1", "--role", "crypto-user", "--password", "p" * 33],
     "Invalid password"),
    (["user", "delete", "--username", "admin", "--role", "crypto-user", "--bogus=Passw0rd1"],
     "unexpected option '--bogus'"),
    (["login", "--username", "admin", "--role", "admin", "--password", "Passw0rd1", "--password",
      "x"], "more than once"),
]


def test_bad_input_changes_nothing(cluster):
    activate(cluster)
    baseline = users(cluster)
    for args, why in BAD:
        code, out, text = cli(cluster, *args, **as_admin())
        assert code != 0, (args, text)
        assert out is not None and out["error_code"] == 1, (args, text)
        assert why in out["data"], (args, out)
        assert "Passw0rd1" not in text, (args, text)
    # Passwords typed at the prompt: a mismatch, and end of input.
    code, out, _ = cli(cluster, "user", "create", "--username", "x1", "--role", "crypto-user",
                       stdin="Passw0rd1\nPassw0rd2\n", **as_admin())
    assert code != 0 and out["data"] == "Passwords do not match"
    code, out, _ = cli(cluster, "user", "create", "--username", "x1", "--role", "crypto-user",
                       stdin="", **as_admin())
    assert code != 0 and out["error_code"] == 1
    # The shell reports a bad line and goes on.
    got = shell(cluster, "user list 'unterminated", "user create --username x1",
                "cluster activate --cluster-config /x", "interactive", "user list")
    assert [g["error_code"] for g in got] == [1, 1, 1, 1, 0]
    assert "unterminated" in got[0]["data"]
    assert users(cluster) == baseline
    # No configuration at all.
    env = cluster.env()
    env.pop("OPENHSM_CLUSTER_CONFIG")
    p = subprocess.run([CLI, "user", "list"], env=env, capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert json.loads(p.stdout)["error_code"] == 1
    p = subprocess.run([CLI, "--cluster-config", str(cluster.data / "nope.json"), "user",
                        "list"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and json.loads(p.stdout)["error_code"] == 1
    # Help comes from the same table the parser reads.
    p = subprocess.run([CLI, "user", "create", "--help"], env=env, capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 0
    assert "--username <USERNAME>" in p.stdout and "--role <ROLE>" in p.stdout
    assert "crypto-user" in p.stdout and "[--password <PASSWORD>]" in p.stdout
    p = subprocess.run([CLI, "help"], env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "interactive" in p.stdout and "user" in p.stdout


def test_one_hsm_not_answering(cluster):
    activate(cluster)
    down = cluster.cfg["hsms"][1]["id"]
    sh = Shell(cluster)
    try:
        got = sh.run(f"login --username admin --role admin --password {ADMIN_PW}")
        assert got["error_code"] == 0, got
        cluster.pause_hsm(1)
        try:
            got = sh.run("user list")
            assert got["error_code"] == 0, got
            assert got["data"]["users"]
            assert all(u["cluster-coverage"] == "partial" for u in got["data"]["users"])
            got = sh.run("user create --username erin --role crypto-user --password erin_pw12")
            assert got["error_code"] == 1, got
            assert "1 of 2 HSMs" in got["data"] and down in got["data"], got
            # Single-command mode logs in on the HSM that answers and reads from it.
            code, out, text = cli(cluster, "user", "list", **as_admin())
            assert code == 0, text
            assert {u["cluster-coverage"] for u in out["data"]["users"]} == {"partial"}
        finally:
            cluster.resume_hsm(1)
    finally:
        sh.close()
