# SPDX-License-Identifier: Apache-2.0
"""openhsm-cmu running scripts: every command of a piped script runs (deleteUser asks nothing, so
no later line is taken as an answer), and the exit status tells whether every command succeeded
on every server (0) or some failed (3), while a session typed at a terminal still ends with 0.
"""
import re

import pexpect

from test_cmu import (ADMIN_PW, ALIAS, CMU, SCRIPT_FAILED, activate, cmu, create, login_as,
                      users)


def test_cmu_script_with_deleteUser_runs_every_command(cluster):
    """deleteUser followed by other commands: each runs, none is eaten by a y/n question."""
    activate(cluster)
    script = (login_as("admin", ADMIN_PW) + create("CU", "alice", "alice-pass1") +
              "deleteUser CU alice\n" +
              "listUsers\n" +
              create("CU", "bob", "bob-pass12") +
              "deleteUser CU bob\n" +
              create("CO", "carol", "carol-pass1") +
              "listUsers\n")
    out = cmu(cluster, script, status=0)
    assert "Invalid option" not in out and "Unknown command" not in out, out
    assert out.count("Do you want to continue(y/n)?y") == 3, out  # the three createUsers only
    for who, typ in (("alice", "CU"), ("bob", "CU")):
        assert f"Deleting user {who}({typ}) on 2 nodes" in out, out
    assert out.count("deleteUser success on server 0(127.0.0.1)") == 2, out
    assert out.count("deleteUser success on server 1(127.0.0.1)") == 2, out
    assert out.count("createUser success on server 1(127.0.0.1)") == 3, out
    listings = re.split(r"^(?=Users on server 0)", out, flags=re.M)
    assert len(listings) == 3, out
    assert all("alice" not in u for u in users(listings[1]).values()), out
    final = users(listings[2])
    assert all(set(u) == {"admin", "app_user", "carol"} for u in final.values()), out


def test_cmu_script_failure_sets_status_and_later_commands_run(cluster):
    """A failing command (on every server, or on one) gives status 3; what follows still runs."""
    activate(cluster)
    out = cmu(cluster, login_as("admin", ADMIN_PW) + "deleteUser CU nobody\n" +
              create("CU", "dave", "dave-pass1") + "listUsers\n", status=SCRIPT_FAILED)
    for i in (0, 1):
        assert re.search(rf"^deleteUser failed: .+ on server {i}\(127\.0\.0\.1\)$", out, re.M), out
        assert f"createUser success on server {i}(127.0.0.1)" in out, out
    assert all("dave" in u for u in users(out).values()), out

    # Failed on one server only: a user that HSM 1 missed (made while it was hung).
    cluster.pause_hsm(1)
    try:
        cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", "erin", "erin-pass1"))
    finally:
        cluster.resume_hsm(1)
    out = cmu(cluster, login_as("admin", ADMIN_PW) + "deleteUser CU erin\nlistUsers\n",
              status=SCRIPT_FAILED)
    assert "deleteUser success on server 0(127.0.0.1)" in out, out
    assert re.search(r"^deleteUser failed: .+ on server 1\(127\.0\.0\.1\)$", out, re.M), out
    assert all("erin" not in u for u in users(out).values()), out

    # Bad input is a failed command too, and changes nothing.
    out = cmu(cluster, "frobnicate\nlistUsers\n", status=SCRIPT_FAILED)
    assert "Unknown command: frobnicate" in out and "Users on server 1" in out, out
    out = cmu(cluster, "createUser XX frank frank-pass1\nlistUsers\n", status=SCRIPT_FAILED)
    assert all("frank" not in u for u in users(out).values()), out
    # A wrong password is a failed login.
    cmu(cluster, login_as("admin", "wrong-pass1"), status=SCRIPT_FAILED)
    # The script ending while a question waits: the command did not run.
    cmu(cluster, login_as("admin", ADMIN_PW) + "createUser CU gina gina-pass1\n",
        status=SCRIPT_FAILED)

    # All succeeded (a declined question is no failure), or nothing to do: 0.
    cmu(cluster, login_as("admin", ADMIN_PW) + "createUser CU hal hal-pass12\nn\nlistUsers\n"
        "logoutHSM\nquit\n", status=0)
    cmu(cluster, "", status=0)
    cmu(cluster, "listUsers\ngetHSMInfo\n", status=0)


def test_cmu_exit_status_documented_and_terminal_unchanged(cluster):
    """--help names the statuses; a session at a terminal ends with 0 even after a failure."""
    import subprocess
    p = subprocess.run([str(CMU), "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    assert "Exit status:" in p.stdout and "  3  commands from a script" in p.stdout, p.stdout

    child = pexpect.spawn(str(ALIAS), [cluster.config], env=cluster.env(TERM="dumb"),
                          encoding="utf-8", timeout=30)
    try:
        child.expect_exact("aws-cloudhsm>")
        child.sendline("frobnicate")
        child.expect_exact("Unknown command: frobnicate")
        child.expect_exact("aws-cloudhsm>")
        child.sendline("deleteUser CU nobody")
        child.expect(r"deleteUser failed: .+ on server 1\(127\.0\.0\.1\)")
        child.expect_exact("aws-cloudhsm>")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
