# SPDX-License-Identifier: Apache-2.0
"""Users under a hostile caller with many connections (issue 10), through the real tools.

- Lockout holds under concurrency: 40 wrong logins started together (one process each) evaluate
  exactly the cluster's limit of guesses on every HSM; the user is locked and the right password is
  then refused as locked. The same through openhsm-cmu, openhsm-cli and openhsm-kmu.
- The logged-in-user rule (CloudHSM CLI guide: a user's password cannot be changed while that user
  is logged in): with alice logged in through openhsm-kmu, an admin's changePswd in openhsm-cmu
  fails on every HSM and leaves her password alone; after her logout it succeeds.
"""
import concurrent.futures
import subprocess

import pexpect
import pytest

from conftest import BIN
from test_cli import as_admin, cli
from test_cmu import (ADMIN_PW, HOST, activate, cmu, create, failed_on_all, login_as, per_server,
                      users)

CMU = BIN / "openhsm-cmu"
KMU = BIN / "openhsm-kmu"
CLI = BIN / "openhsm-cli"
LIMIT = 5
PARALLEL = 40
LOGGED_IN = "The user is currently logged in: its password cannot be changed"


def prepare(cluster, *names):
    """Activates the cluster and creates crypto users NAME with password NAME-pass1."""
    activate(cluster)
    script = login_as("admin", ADMIN_PW)
    for n in names:
        script += create("CU", n, f"{n}-pass1")
    out = cmu(cluster, script)
    per_server(out, "createUser", range(len(cluster.cfg["hsms"])))


def run(cluster, argv, stdin=None):
    p = subprocess.run([str(a) for a in argv], input=stdin, capture_output=True, text=True,
                       timeout=180, env=cluster.env())
    return p.returncode, p.stdout + p.stderr


def guess_cmu(cluster, user, i):
    return run(cluster, [CMU, cluster.config], f"loginHSM CU {user} Wrong-{i:02d}\nquit\n")


def guess_cli(cluster, user, i):
    return run(cluster, [CLI, "login", "--username", user, "--role", "crypto-user",
                         "--password", f"Wrong-{i:02d}"])


def guess_kmu(cluster, user, i):
    return run(cluster, [KMU, "singlecmd", "loginHSM", "-u", "CU", "-s", user, "-p",
                         f"Wrong-{i:02d}"])


def failures(cluster, user):
    """LoginFailureCnt of user on each server (openhsm-cmu listUsers)."""
    listed = users(cmu(cluster, "listUsers\n"))
    return [listed[i][user][3] for i in range(len(cluster.cfg["hsms"]))]


@pytest.mark.parametrize("tool", ["cmu", "cli", "kmu"])
def test_parallel_wrong_logins_evaluate_exactly_the_limit(cluster, tool):
    """40 wrong guesses at once, each its own process: exactly LIMIT are counted on every HSM, the
    user is locked, and the right password is refused as locked."""
    user = f"victim_{tool}"
    prepare(cluster, user)
    guess = {"cmu": guess_cmu, "cli": guess_cli, "kmu": guess_kmu}[tool]
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        outs = list(pool.map(lambda i: guess(cluster, user, i), range(PARALLEL)))
    assert all(f"Wrong-{i:02d}" not in out for i, (_, out) in enumerate(outs))
    assert failures(cluster, user) == [LIMIT] * len(cluster.cfg["hsms"]), outs[:3]
    # The right password now: refused as locked on every HSM, and nothing more is counted.
    out = cmu(cluster, f"loginHSM CU {user} {user}-pass1\n")
    for i in range(len(cluster.cfg["hsms"])):
        assert (f"loginHSM failed: User is locked out after too many failed login attempts on "
                f"server {i}({HOST})") in out, out
    code, got, text = cli(cluster, "login", "--username", user, "--role", "crypto-user",
                          "--password", f"{user}-pass1")
    assert code != 0 and got["error_code"] == 1 and "locked" in got["data"], text
    assert failures(cluster, user) == [LIMIT] * len(cluster.cfg["hsms"])


def test_parallel_wrong_logins_with_the_right_one_among_them(cluster):
    """The right password started together with 30 wrong ones may win or be refused as locked,
    but never are more than LIMIT guesses evaluated."""
    prepare(cluster, "mixed")
    with concurrent.futures.ThreadPoolExecutor(31) as pool:
        jobs = [pool.submit(guess_cmu, cluster, "mixed", i) for i in range(30)]
        jobs.append(pool.submit(run, cluster, [CMU, cluster.config],
                                "loginHSM CU mixed mixed-pass1\nquit\n"))
        [j.result() for j in jobs]
    counts = failures(cluster, "mixed")
    assert all(c <= LIMIT for c in counts), counts


def kmu_session(cluster, user, pw):
    child = pexpect.spawn(str(KMU), env=cluster.env(TERM="dumb"), encoding="utf-8", timeout=60)
    child.expect_exact("Command: ")
    child.sendline(f"loginHSM -u CU -s {user} -p {pw}")
    child.expect_exact("Command: ")
    assert "Cfm3LoginHSM returned: 0x00" in child.before, child.before
    return child


def test_password_of_a_logged_in_user_cannot_change(cluster):
    """alice logged in through key_mgmt_util: the admin's changePswd fails on every HSM with the
    logged-in error and her password stays; after she logs out it succeeds."""
    prepare(cluster, "alice")
    child = kmu_session(cluster, "alice", "alice-pass1")
    try:
        out = cmu(cluster, login_as("admin", ADMIN_PW) + "changePswd CU alice alice-pass2\ny\n")
        failed_on_all(out, "changePswd", LOGGED_IN)
        # Her password is unchanged: a second login with it works (and the new one does not).
        code, got, text = cli(cluster, "login", "--username", "alice", "--role", "crypto-user",
                              "--password", "alice-pass1")
        assert code == 0, text
        code, got, text = cli(cluster, "login", "--username", "alice", "--role", "crypto-user",
                              "--password", "alice-pass2")
        assert code != 0, text
        # The CLI's change-password says the same.
        code, got, text = cli(cluster, "user", "change-password", "--username", "alice",
                              "--role", "crypto-user", "--password", "alice-pass3",
                              **as_admin(ADMIN_PW))
        assert code != 0 and LOGGED_IN in got["data"], text
        child.sendline("logoutHSM")
        child.expect_exact("Command: ")
        assert "Cfm3LogoutHSM returned: 0x00" in child.before, child.before
        out = cmu(cluster, login_as("admin", ADMIN_PW) + "changePswd CU alice alice-pass2\ny\n")
        per_server(out, "changePswd")
        child.sendline("loginHSM -u CU -s alice -p alice-pass2")
        child.expect_exact("Command: ")
        assert "Cfm3LoginHSM returned: 0x00" in child.before, child.before
    finally:
        child.sendline("exit")
        child.close(force=True)


def test_own_password_change_with_another_session_is_refused(cluster):
    """A user changing its own password while it has another live session is refused the same
    way; alone, it succeeds."""
    prepare(cluster, "carl")
    child = kmu_session(cluster, "carl", "carl-pass1")
    try:
        out = cmu(cluster, login_as("carl", "carl-pass1", "CU") + "changePswd CU carl carl-pass2\n"
                  "y\n")
        failed_on_all(out, "changePswd", LOGGED_IN)
    finally:
        child.sendline("exit")
        child.expect(pexpect.EOF)
        child.close(force=True)
    out = cmu(cluster, login_as("carl", "carl-pass1", "CU") + "changePswd CU carl carl-pass2\ny\n")
    per_server(out, "changePswd")
