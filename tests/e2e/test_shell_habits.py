# SPDX-License-Identifier: Apache-2.0
"""Shell habits of the three interactive shells, through a terminal (pexpect) with HOME in a temp
dir: Tab completes from each tool's grammar table (`user li` -> `user list` in openhsm-cli,
`listU` -> `listUsers` in openhsm-cmu, `genSym` -> `genSymKey` and `genSymKey -` listing its
flags in openhsm-kmu); the history file is created 0600, holds the harmless commands and never a
line that carried a password, and is loaded by the next session; a symbolic link in its place is
not followed, an unusable home turns history off with one message while the session works, and
a piped script never touches the file.
"""
import contextlib
import io
import os
import stat
import subprocess

import pexpect
import pytest

from conftest import BIN
from test_cmu import ADMIN_PW, activate
from test_users import prepare

CLI = str(BIN / "openhsm-cli")
CMU = str(BIN / "openhsm-cmu")
KMU = str(BIN / "openhsm-kmu")

CLI_PROMPT = "aws-cloudhsm > "
CMU_PROMPT = "aws-cloudhsm>"
KMU_PROMPT = "Command: "

HIST = {"cli": ".openhsm_cli_history", "cmu": ".openhsm_cmu_history",
        "kmu": ".openhsm_kmu_history"}


@pytest.fixture
def home(tmp_path):
    h = tmp_path / "home"
    h.mkdir(mode=0o700)
    return h


def spawn(cluster, tool, home):
    argv = {"cli": (CLI, ["interactive"]), "cmu": (CMU, [cluster.config]), "kmu": (KMU, [])}
    prog, args = argv[tool]
    return pexpect.spawn(prog, args, env=cluster.env(TERM="dumb", HOME=str(home)),
                         encoding="utf-8", timeout=60)


def finish(child, line):
    """Ends a session with `line` (quit/exit) and checks it ended by itself with status 0."""
    try:
        child.sendline(line)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before


@contextlib.contextmanager
def session(cluster, tool, home, end):
    """A terminal session of `tool`; on leaving the block it ends with `end` (quit/exit) and must
    end by itself with status 0. An error inside the block kills it."""
    child = spawn(cluster, tool, home)
    try:
        yield child
    except BaseException:
        child.close(force=True)
        raise
    finish(child, end)


def history(home, tool):
    """The history file: its mode and bytes."""
    p = home / HIST[tool]
    st = os.lstat(p)
    assert stat.S_ISREG(st.st_mode)
    return stat.S_IMODE(st.st_mode), p.read_bytes()


def test_cli_completion_and_history(cluster, home):
    """`user li<Tab>` runs `user list`; the login with --password never reaches the file."""
    prepare(cluster, "alice")
    with session(cluster, "cli", home, "quit") as child:
        child.expect_exact(CLI_PROMPT)
        child.send("user li\t")
        child.expect_exact("user list ")
        child.send("\r")
        child.expect_exact('"username": "alice"')
        child.expect_exact(CLI_PROMPT)
        child.sendline("login --username alice --role crypto-user --password alice-pass1")
        child.expect_exact('"role": "crypto-user"')
        child.expect_exact(CLI_PROMPT)
        child.sendline("login --username alice --role crypto-user --password=alice-pass1")
        child.expect_exact(CLI_PROMPT)
        child.sendline("key list")
        child.expect_exact(CLI_PROMPT)
        child.sendline("logout")
        child.expect_exact("Logout successful")
        child.expect_exact(CLI_PROMPT)
    mode, data = history(home, "cli")
    assert mode == 0o600
    assert data == b"user list\nkey list\nlogout\nquit\n", data
    assert b"alice-pass1" not in data and b"--password" not in data

    # The next session starts with that history: Ctrl-P twice recalls `logout`... then `key list`.
    with session(cluster, "cli", home, "quit") as child:
        child.expect_exact(CLI_PROMPT)
        child.send("\x10\x10\x10\r")  # quit, logout, key list
        child.expect_exact('"error_code": 1')  # key list needs a login
        child.expect_exact(CLI_PROMPT)


def test_cmu_completion_and_history(cluster, home):
    """`listU<Tab>` runs listUsers; loginHSM and its password never reach the file."""
    activate(cluster)
    with session(cluster, "cmu", home, "quit") as child:
        child.expect_exact(CMU_PROMPT)
        child.send("listU\t")
        child.expect_exact("listUsers ")
        child.send("\r")
        child.expect_exact("Users on server 1")
        child.expect_exact(CMU_PROMPT)
        child.sendline(f"loginHSM CO admin {ADMIN_PW}")
        child.expect_exact("loginHSM success on server 1")
        child.expect_exact(CMU_PROMPT)
        child.sendline("getHSMInfo")
        child.expect_exact(CMU_PROMPT)
        child.sendline("logoutHSM")
        child.expect_exact("logoutHSM success on server 1")
        child.expect_exact(CMU_PROMPT)
    mode, data = history(home, "cmu")
    assert mode == 0o600
    assert data == b"listUsers\ngetHSMInfo\nlogoutHSM\nquit\n", data
    assert ADMIN_PW.encode() not in data and b"loginHSM" not in data

    with session(cluster, "cmu", home, "quit") as child:
        child.expect_exact(CMU_PROMPT)
        child.send("\x10\x10\x10\x10\r")  # quit, logoutHSM, getHSMInfo, listUsers
        child.expect_exact("Users on server 1")
        child.expect_exact(CMU_PROMPT)


def test_kmu_completion_and_history(cluster, home):
    """`genSym<Tab>` completes, `genSymKey -<Tab><Tab>` lists its flags; -p never reaches the
    file."""
    prepare(cluster, "alice")
    with session(cluster, "kmu", home, "exit") as child:
        child.expect_exact(KMU_PROMPT)
        child.sendline("loginHSM -u CU -s alice -p alice-pass1")
        child.expect_exact("Cfm3LoginHSM returned: 0x00")
        child.expect_exact(KMU_PROMPT)
        child.send("genSym\t")
        child.expect_exact("genSymKey ")
        shown = io.StringIO()
        child.logfile_read = shown
        child.send("-\t\t")  # the second Tab lists the flags (in columns, sorted)
        child.expect_exact("-timeout")
        child.expect_exact(f"{KMU_PROMPT}genSymKey -")  # then the line is shown again
        child.logfile_read = None
        listed = shown.getvalue().split()
        for flag in ("-t", "-s", "-l", "-id", "-min_srv", "-m_value", "-nex", "-sess", "-timeout",
                     "-u", "-attest"):
            assert flag in listed, shown.getvalue()
        assert "-p" not in listed and "-k" not in listed, shown.getvalue()
        child.send("t 31 -s 16 -l habits\r")
        child.expect_exact("Cfm3GenerateSymmetricKey returned: 0x00")
        child.expect_exact(KMU_PROMPT)
        child.sendline("logoutHSM")
        child.expect_exact("Cfm3LogoutHSM returned: 0x00")
        child.expect_exact(KMU_PROMPT)
    mode, data = history(home, "kmu")
    assert mode == 0o600
    assert data == b"genSymKey -t 31 -s 16 -l habits\nlogoutHSM\nexit\n", data
    assert b"alice-pass1" not in data and b"loginHSM" not in data


@pytest.mark.parametrize("tool", ["cli", "cmu", "kmu"])
def test_symlinked_history_is_not_followed(cluster, home, tool):
    """A symbolic link in the history file's place: history off with one message, the session
    works, the link and its target stay as they were."""
    target = home / "target"
    target.write_bytes(b"ORIGINAL\n")
    os.chmod(target, 0o600)
    link = home / HIST[tool]
    link.symlink_to(target)
    prompt, cmd, done, end = {
        "cli": (CLI_PROMPT, "cluster hsm-info", '"hsms"', "quit"),
        "cmu": (CMU_PROMPT, "listUsers", "Users on server 1", "quit"),
        "kmu": (KMU_PROMPT, "listUsers", "Cfm3ListUsers returned: 0x00", "exit"),
    }[tool]
    with session(cluster, tool, home, end) as child:
        child.expect_exact(f"history off: {link} is a symbolic link; not following it")
        child.expect_exact(prompt)
        child.sendline(cmd)
        child.expect_exact(done)
        child.expect_exact(prompt)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"ORIGINAL\n"
    assert sorted(p.name for p in home.iterdir()) == sorted([link.name, "target"])


def test_unusable_home_turns_history_off(cluster, tmp_path):
    """HOME names no directory: one message, and the session works."""
    missing = tmp_path / "no-such-home"
    with session(cluster, "kmu", missing, "exit") as child:
        child.expect_exact("history off: cannot create")
        child.expect_exact(KMU_PROMPT)
        child.sendline("listUsers")
        child.expect_exact("Cfm3ListUsers returned: 0x00")
        child.expect_exact(KMU_PROMPT)
    assert not missing.exists()


@pytest.mark.parametrize("tool", ["cli", "cmu", "kmu"])
def test_piped_script_never_touches_history(cluster, home, tool):
    """Commands from a pipe: no history file is created, no message is printed."""
    argv = {"cli": [CLI, "interactive"], "cmu": [CMU, cluster.config], "kmu": [KMU]}[tool]
    p = subprocess.run(argv, input="listUsers\n" if tool != "cli" else "user list\n",
                       capture_output=True, text=True, timeout=60,
                       env=cluster.env(HOME=str(home)))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "history" not in p.stderr
    assert list(home.iterdir()) == []
