# SPDX-License-Identifier: Apache-2.0
"""openhsm-cmu (cloudhsm_mgmt_util) end to end: the real binary against a real cluster.

Scripts are piped to stdin as a user's here-document would be; the activation flow and hidden
passwords (-hpswd) also run through a pseudo-terminal with pexpect, as a person types them. Each
test reads back what it changed with listUsers, so a command that printed success but did nothing
(or printed an error but changed something) fails.
"""
import os
import pathlib
import re
import subprocess

import pexpect

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("OHSM_BIN", ROOT / "build" / "bin"))
CMU = BIN / "openhsm-cmu"
ALIAS = BIN / "cloudhsm_mgmt_util"

ADMIN_PW = "Adm1n-pass"
HOST = "127.0.0.1"

USERS_HEADER = ("    User Id             User Type       User Name                          "
                "MofnPubKey    LoginFailureCnt         2FA")
BANNER = """*************************CAUTION********************************
This is a CRITICAL operation, should be done on all nodes in the
cluster. AWS does NOT synchronize these changes automatically with the
nodes on which this operation is not executed or failed, please
ensure this operation is executed on all nodes in the cluster.
****************************************************************"""
USER_ROW = re.compile(r"^\s+(\d+)\s+([A-Z]+)\s+(\w+)\s+(YES|NO)\s+(\d+)\s+(YES|NO)$")


# Exit status of a piped script in which some command failed (0: every command succeeded).
SCRIPT_FAILED = 3


def cmu(cluster, script, args=None, env=None, check=True, timeout=90, status=None):
    """Runs openhsm-cmu with the script on stdin; returns its stdout. check: the script ran to
    its end (exit 0, or SCRIPT_FAILED when a command failed, as many of these scripts mean to);
    status: exactly this exit status."""
    argv = [str(CMU)] + ([cluster.config] if args is None else list(args))
    p = subprocess.run(argv, input=script, capture_output=True, text=True, timeout=timeout,
                       env=env if env is not None else cluster.env())
    if status is not None:
        assert p.returncode == status, (p.returncode, p.stdout + p.stderr)
    elif check:
        assert p.returncode in (0, SCRIPT_FAILED), p.stdout + p.stderr
    return p.stdout


def users(out):
    """listUsers output -> {server: {name: (id, type, mofn, failures, 2fa)}} (last listing wins)."""
    found, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^Users on server (\d+)\(([^)]*)\):$", line)
        if m:
            cur = int(m.group(1))
            found[cur] = {}
            continue
        m = USER_ROW.match(line)
        if m and cur is not None:
            uid, typ, name, mofn, fails, mfa = m.groups()
            found[cur][name] = (int(uid), typ, mofn, int(fails), mfa)
    return found


def list_users(cluster):
    return users(cmu(cluster, "listUsers\n"))


def per_server(out, cmd, servers=(0, 1)):
    """Asserts '<cmd> success on server N(127.0.0.1)' for each server."""
    for i in servers:
        assert f"{cmd} success on server {i}({HOST})" in out, out


def failed_on_all(out, cmd, reason, servers=(0, 1)):
    for i in servers:
        assert f"{cmd} failed: {reason} on server {i}({HOST})" in out, out


def activate(cluster, pw=ADMIN_PW):
    out = cmu(cluster, f"loginHSM PRECO admin password\nchangePswd PRECO admin {pw}\ny\nquit\n")
    per_server(out, "changePswd", range(len(cluster.cfg["hsms"])))
    return out


def login_as(user, pw, typ="CO"):
    return f"loginHSM {typ} {user} {pw}\n"


def create(typ, user, pw):
    return f"createUser {typ} {user} {pw}\ny\n"


def test_cmu_activation_through_a_terminal(cluster):
    """The guide's activation transcript, typed at the prompt, with hidden passwords."""
    env = cluster.env(TERM="dumb")
    child = pexpect.spawn(str(ALIAS), [cluster.config], env=env, encoding="utf-8", timeout=30,
                          echo=True)
    transcript = []
    child.logfile_read = _Sink(transcript)
    try:
        child.expect_exact("Connected to server '127.0.0.1'")
        child.expect_exact("aws-cloudhsm>")
        child.sendline("listUsers")
        child.expect_exact("aws-cloudhsm>")
        before = users(child.before)
        for i in (0, 1):
            assert before[i]["admin"] == (1, "PRECO", "NO", 0, "NO")
            assert before[i]["app_user"] == (2, "AU", "NO", 0, "NO")
        assert USERS_HEADER in child.before

        child.sendline("loginHSM PRECO admin -hpswd")
        child.expect_exact("Enter password:")
        child.sendline("password")
        child.expect_exact("aws-cloudhsm>")
        per_server(child.before, "loginHSM")

        # A new password typed twice without echo; a mismatch changes nothing.
        child.sendline("changePswd PRECO admin -hpswd")
        child.expect_exact("Enter password:")
        child.sendline(ADMIN_PW)
        child.expect_exact("Re-enter password:")
        child.sendline(ADMIN_PW + "x")
        child.expect_exact("aws-cloudhsm>")
        assert "Passwords do not match" in child.before
        assert "Changing password" not in child.before

        child.sendline("changePswd PRECO admin -hpswd")
        child.expect_exact("Enter password:")
        child.sendline(ADMIN_PW)
        child.expect_exact("Re-enter password:")
        child.sendline(ADMIN_PW)
        child.expect_exact("Do you want to continue(y/n)?")
        assert BANNER in child.before.replace("\r\n", "\n")
        child.sendline("y")
        child.expect_exact("aws-cloudhsm>")
        assert "Changing password for admin(PRECO) on 2 nodes" in child.before
        per_server(child.before, "changePswd")

        child.sendline("listUsers")
        child.expect_exact("aws-cloudhsm>")
        after = users(child.before)
        for i in (0, 1):
            assert after[i]["admin"][:2] == (1, "CO")
        # The guide's fixed columns, to the character.
        row = ("         1              CO              admin"
               "                                    NO               0               NO")
        assert row in child.before.splitlines() or row + "\r" in child.before.split("\n")

        child.sendline("quit")
        child.expect_exact("disconnecting from servers, please wait...")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    text = "".join(transcript)
    assert ADMIN_PW not in text, "a hidden password was shown"
    assert "password\r\n" not in text.replace("Enter password:\r\n", "")
    # The new password works from a fresh session; the old one no longer does.
    out = cmu(cluster, login_as("admin", ADMIN_PW) + login_as("admin", "password", "PRECO"))
    per_server(out, "loginHSM")


class _Sink:
    """pexpect logfile that keeps what the terminal showed."""

    def __init__(self, into):
        self.into = into

    def write(self, s):
        self.into.append(s)

    def flush(self):
        pass


def test_cmu_precrypto_officer_and_scripted_activation(cluster):
    """Before activation the PRECO may not create users; changePswd activates; env config."""
    env = cluster.env()
    out = cmu(cluster, "loginHSM PRECO admin password\n" + create("CU", "alice", "alicepass1") +
              "listUsers\n", args=[], env=env)
    assert "Connecting to the server(s), it may take time" in out
    for i in (0, 1):
        port = cluster.hsm_port(i)
        assert f"Connected to server '{HOST}': hostname '{HOST}', port {port}." in out
    per_server(out, "loginHSM")
    assert "Creating User alice(CU) on 2 nodes" in out
    failed_on_all(out, "createUser", "The cluster is not activated: change the admin password "
                  "first")
    assert all(set(u) == {"admin", "app_user"} for u in users(out).values()), out

    out = cmu(cluster, f"loginHSM PRECO admin password\nchangePswd PRECO admin {ADMIN_PW}\ny\n"
              "listUsers\nquit\n", args=["--cluster-config", cluster.config])
    assert "Do you want to continue(y/n)?y\nChanging password for admin(PRECO) on 2 nodes" in out
    per_server(out, "changePswd")
    assert ADMIN_PW not in out
    listed = users(out)
    assert [listed[i]["admin"][1] for i in (0, 1)] == ["CO", "CO"]
    assert out.rstrip().endswith("disconnecting from servers, please wait...")


def test_cmu_user_management(cluster):
    """CO creates, re-passwords and deletes users; the HSMs refuse what the rules forbid."""
    activate(cluster)
    out = cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", "Alice", "alicepass1") +
              create("CO", "bob", "bobpass12") + "changePswd CU alice alicepass2\ny\n" +
              "deleteUser CO admin\n" + create("CU", "alice", "alicepass9") + "listUsers\n")
    per_server(out, "loginHSM")
    assert "Creating User alice(CU) on 2 nodes" in out  # shown lower-case
    assert "Creating User bob(CO) on 2 nodes" in out
    assert out.count("createUser success on server 0(127.0.0.1)") == 2
    assert "Changing password for alice(CU) on 2 nodes" in out
    per_server(out, "changePswd")
    failed_on_all(out, "deleteUser", "Cannot delete the user who is logged in")
    failed_on_all(out, "createUser", "User already exists")
    listed = users(out)
    for i in (0, 1):
        assert listed[i]["alice"][:2] == (3, "CU")
        assert listed[i]["bob"][:2] == (4, "CO")
        assert "admin" in listed[i]

    # A crypto user may not manage users; the changed password is the one that works.
    out = cmu(cluster, login_as("alice", "alicepass1", "CU") + login_as("alice", "alicepass2", "CU")
              + create("CU", "eve", "evepass12") + "info server 1\nlogoutHSM\n")
    failed_on_all(out, "loginHSM", "Invalid username or password")
    per_server(out, "loginHSM")
    failed_on_all(out, "createUser", "This user type may not perform this operation")
    assert re.search(r"^1\s+127\.0\.0\.1\s+127\.0\.0\.1\s+\d+\s+Connected\s+hsm-\w+\s+"
                     r"Logged in as 'alice\(CU\)'$", out, re.M), out
    per_server(out, "logoutHSM")

    # The appliance user logs in with its own type; bob deletes alice and admin; the last CO stays.
    out = cmu(cluster, login_as("app_user", cluster.app_user_password(), "AU") + "logoutHSM\n" +
              login_as("bob", "bobpass12") + "deleteUser CU alice\ndeleteUser CO admin\n" +
              "deleteUser CO bob\ninfo server 0\nlistUsers\n")
    assert out.count("loginHSM success on server 1(127.0.0.1)") == 2
    assert "Deleting user alice(CU) on 2 nodes" in out
    assert out.count("deleteUser success on server 1(127.0.0.1)") == 2
    for i in (0, 1):
        assert re.search(rf"deleteUser failed: (Cannot delete the last admin user|Cannot delete "
                         rf"the user who is logged in) on server {i}\(127\.0\.0\.1\)", out), out
    assert "Logged in as 'bob(CO)'" in out
    listed = users(out)
    assert all(set(u) == {"app_user", "bob"} for u in listed.values()), out


def test_cmu_lockout_unlock_and_restart(cluster):
    """5 failures lock a CU on every HSM; the count survives kill -9; a CO's new password unlocks."""
    activate(cluster)
    cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", "carol", "carolpass1"))
    out = cmu(cluster, login_as("carol", "wrongpass1", "CU") * 5 + "listUsers\n")
    assert out.count("loginHSM failed: Invalid username or password on server 0") == 5
    assert [users(out)[i]["carol"][3] for i in (0, 1)] == [5, 5]

    out = cmu(cluster, login_as("carol", "carolpass1", "CU"))
    failed_on_all(out, "loginHSM", "User is locked out after too many failed login attempts")
    assert "Invalid username or password" not in out

    cluster.kill_hsm(0)
    listed = list_users(cluster)
    assert listed[0]["carol"][3] >= 5 and listed[1]["carol"][3] >= 5, listed
    out = cmu(cluster, login_as("carol", "carolpass1", "CU"))
    failed_on_all(out, "loginHSM", "User is locked out after too many failed login attempts")

    out = cmu(cluster, login_as("admin", ADMIN_PW) + "changePswd CU carol carolpass2\ny\n"
              "logoutHSM\n" + login_as("carol", "carolpass2", "CU") + "listUsers\n")
    per_server(out, "changePswd")
    assert out.count("loginHSM success on server 0(127.0.0.1)") == 2
    assert [users(out)[i]["carol"][3] for i in (0, 1)] == [0, 0]


def test_cmu_lockout_limit_from_cluster(make_cluster):
    """A cluster made with --lockout-attempts 20 still lets a user in after 6 failures."""
    c = make_cluster(extra=["--lockout-attempts", "20"])
    activate(c)
    cmu(c, login_as("admin", ADMIN_PW) + create("CU", "dave", "davepass1"))
    out = cmu(c, login_as("dave", "wrongpass1", "CU") * 6 + login_as("dave", "davepass1", "CU"))
    assert out.count("Invalid username or password on server 1") == 6
    per_server(out, "loginHSM")
    out = cmu(c, login_as("dave", "wrongpass1", "CU") * 20 + "listUsers\n" +
              login_as("dave", "davepass1", "CU"))
    assert out.count("Invalid username or password on server 0") == 20
    assert [users(out)[i]["dave"][3] for i in (0, 1)] == [20, 20]
    failed_on_all(out, "loginHSM", "User is locked out after too many failed login attempts")


def test_cmu_one_hsm_paused(cluster):
    """With HSM 1 hung, server 0 still works and server 1 is reported, not hidden."""
    activate(cluster)
    cluster.pause_hsm(1)
    try:
        out = cmu(cluster, login_as("admin", ADMIN_PW) + "listUsers\ninfo server 1\n")
    finally:
        cluster.resume_hsm(1)
    port = cluster.hsm_port(1)
    assert f"Failed to connect to server '{HOST}': hostname '{HOST}', port {port}" in out
    assert "loginHSM success on server 0(127.0.0.1)" in out
    assert re.search(r"^(Server 1\(127\.0\.0\.1\) is not connected|loginHSM failed: .* on "
                     r"server 1\(127\.0\.0\.1\))", out, re.M), out
    assert "loginHSM success on server 1" not in out
    listed = users(out)
    assert "admin" in listed[0] and 1 not in listed, out
    assert re.search(r"^1\s+127\.0\.0\.1\s+127\.0\.0\.1\s+\d+\s+Disconnected\s", out, re.M), out
    # Once it is back, a new session reaches both.
    per_server(cmu(cluster, login_as("admin", ADMIN_PW)), "loginHSM")


def test_cmu_caution_prompt_and_bad_input_change_nothing(cluster):
    """'n', end of input and refused arguments send nothing; later commands still run."""
    activate(cluster)
    script = (f"loginHSM CO admin -hpswd\n{ADMIN_PW}\n" +
              "createUser CU frank -hpswd\nfrankpass1\nfrankpass2\n"
              "createUser CU frank frankpass1\nmaybe\n\nn\n"
              "changePswd CO admin otherpass1\nN\n"
              "deleteUser CO admin\n"
              "frobnicate now\n"
              "lo\n"
              "loginHSM CU\n"
              "createUser CU frank frankpass1 -2fa /tmp/x\n"
              "createUser XX frank frankpass1\n"
              "createUser PRECO frank frankpass1\n"
              "createUser CU abcdefghijklmnopqrstuvwxyz0123456 frankpass1\n"
              "createUser CU frank-1 frankpass1\n"
              "createUser CU frank shrt12\n"
              "createUser CU frank 0123456789abcdef0123456789abcdefX\n"
              "info server 2\n"
              "info\n"
              "help\n"
              "help createU\n"
              "listU\n")
    out = cmu(cluster, script)
    assert "Enter password:\n\nloginHSM success on server 0(127.0.0.1)" in out
    assert "Enter password:\nRe-enter password:\nPasswords do not match" in out
    assert ADMIN_PW not in out and "frankpass" not in out
    assert out.count("Do you want to continue(y/n)?") == 4  # deleteUser does not ask
    assert out.count("Invalid option, please type 'y' or 'n'") == 2
    assert "Creating User" not in out and "Changing password" not in out
    # deleteUser runs at once (the guide asks nothing): the HSMs refuse to delete the caller.
    assert "Deleting user admin(CO) on 2 nodes" in out
    failed_on_all(out, "deleteUser", "Cannot delete the user who is logged in")
    assert "Unknown command: frobnicate" in out
    assert "Ambiguous command: lo (loginHSM, logoutHSM)" in out
    assert "Usage: loginHSM <CO|CU|AU|PRECO> <user name> <password | -hpswd>" in out
    assert out.count("Usage: createUser <CO|CU|AU> <user name> <password | -hpswd>") == 2
    assert "Invalid user type 'XX': expected CO, CU or AU" in out
    assert "Invalid user type 'PRECO'" in out
    assert out.count("Invalid user name") == 2
    assert out.count("Invalid password: Password must be 7 to 32 characters") == 2
    assert "0123456789abcdef" not in out and "shrt12" not in out
    assert "Invalid server id '2': expected a server number from 0 to 1" in out
    assert "Usage: info server <server id>" in out
    assert "Creates a user on every HSM (CO only). Who may run it: CO." in out
    for name in ("loginHSM", "logoutHSM", "listUsers", "createUser", "deleteUser", "changePswd",
                 "info", "getHSMInfo", "quit"):
        assert re.search(rf"^    {name}\s", out, re.M), name
    assert all(set(u) == {"admin", "app_user"} for u in users(out).values()), out
    assert len(users(out)) == 2
    # The admin password was not changed by the refused changePswd.
    per_server(cmu(cluster, login_as("admin", ADMIN_PW)), "loginHSM")

    # End of input at the question cancels.
    out = cmu(cluster, login_as("admin", ADMIN_PW) + "createUser CU frank frankpass1\n")
    assert "Creating User" not in out
    assert all("frank" not in u for u in list_users(cluster).values())

    # getHSMInfo needs no login and reports each server.
    out = cmu(cluster, "getHSMInfo\n")
    assert "Getting HSM Info on 2 nodes" in out
    for i in (0, 1):
        assert f"*** Server {i} HSM Info ***" in out
        assert cluster.cfg["hsms"][i]["id"] in out


def test_cmu_configuration_errors(tmp_path):
    """No or a broken configuration is a clear error and a non-zero exit, before any prompt."""
    env = dict(os.environ)
    env.pop("OPENHSM_CLUSTER_CONFIG", None)
    p = subprocess.run([str(CMU)], input="listUsers\n", capture_output=True, text=True, env=env,
                       timeout=30)
    assert p.returncode != 0
    assert "OPENHSM_CLUSTER_CONFIG" in p.stderr
    missing = tmp_path / "nope.json"
    p = subprocess.run([str(CMU), str(missing)], input="", capture_output=True, text=True,
                       env=env, timeout=30)
    assert p.returncode != 0 and str(missing) in p.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    env["OPENHSM_CLUSTER_CONFIG"] = str(bad)
    p = subprocess.run([str(ALIAS)], input="", capture_output=True, text=True, env=env,
                       timeout=30)
    assert p.returncode != 0 and "bad.json" in p.stderr
    p = subprocess.run([str(CMU), "--frob"], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 2 and "unknown option" in p.stderr
    p = subprocess.run([str(CMU), "--help"], capture_output=True, text=True, env=env, timeout=30)
    assert p.returncode == 0 and "--cluster-config" in p.stdout
