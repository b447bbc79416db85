# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: a real openhsmd with real openhsm-hsm processes in a temp dir.

openhsmd runs with --exit-with-parent so a crashed test run leaves nothing behind; every HSM binds
127.0.0.1 on a free port chosen by openhsmd.

Every wait here is on a condition with a deadline (a port, a process state, a pid file), never a
bare sleep. Tests that pause, resume or kill an HSM go through Cluster.pause_hsm / resume_hsm /
kill_hsm, which check that the pid in hsm.pid is that HSM's openhsm-hsm (a restarted HSM has a new
pid) and wait until the signal has taken effect in every thread: kill(SIGSTOP) returns before the
process is stopped (the kernel wakes one thread to take the signal and the others keep running
until it does), so a request sent right after it could still be answered.

OHSM_LOAD=N (e.g. `make e2e-under-load`, N=2) runs N CPU-burning processes beside the whole
session, to check that no test depends on timing.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("OHSM_BIN", ROOT / "build" / "bin"))
POLL = 0.02  # seconds between two looks at a condition


def wait_for(cond, timeout, what):
    """Polls cond() until it returns something true (returned) or timeout seconds pass
    (TimeoutError naming what was awaited)."""
    deadline = time.monotonic() + timeout
    while True:
        got = cond()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not after {timeout}s")
        time.sleep(POLL)


def wait_port(port, up=True, timeout=20.0):
    """Waits until 127.0.0.1:port accepts connections (up) or refuses them (not up). A paused
    (SIGSTOPped) server still accepts: the kernel completes the handshake."""
    def probe():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return up
        except OSError:
            return not up
    return wait_for(probe, timeout, f"port {port} {'up' if up else 'down'}")


def thread_states(pid):
    """{tid: state letter of /proc/PID/task/TID/stat} of every thread of pid; {} once it is gone.
    "T" is stopped by a signal, "Z" a zombie."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                out[int(tid)] = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            pass  # the thread just ended
    return out


def proc_stat(pid):
    """(state, ppid) of pid from /proc/PID/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return fields[0], int(fields[1])


def gone(pid):
    """True once pid has exited: no such process, or a zombie not reaped yet."""
    st = proc_stat(pid)
    return st is None or st[0] == "Z"


def all_stopped(pid):
    """True when every thread of pid is stopped, seen twice with the same threads (a thread
    created while the listing was read shows up in the second look)."""
    first = thread_states(pid)
    if not first or any(v != "T" for v in first.values()):
        return False
    return thread_states(pid) == first


def none_stopped(pid):
    st = thread_states(pid)
    return bool(st) and all(v != "T" for v in st.values())


# ---- OHSM_LOAD: CPU burners beside the session ----

# Each burner spins until its parent (pytest) is gone, so a killed test run leaves none behind.
_BURNER = ("import os\np = os.getppid()\nwhile os.getppid() == p:\n"
           "    for _ in range(100000):\n        pass\n")


def _load_count():
    raw = os.environ.get("OHSM_LOAD", "").strip()
    if raw == "":
        return 0
    if not raw.isdigit() or int(raw) > 64:
        raise pytest.UsageError(f"OHSM_LOAD must be a number of CPU burners from 0 to 64, not "
                                f"{raw!r}")
    return int(raw)


def pytest_configure(config):
    _load_count()  # a bad OHSM_LOAD stops the run before any test, with its message


def pytest_report_header(config):
    n = _load_count()
    return [f"OHSM_LOAD: {n} CPU-burning process{'es' if n != 1 else ''} beside the tests"] if n \
        else []


@pytest.fixture(scope="session", autouse=True)
def cpu_load():
    """Starts OHSM_LOAD CPU-burning processes for the whole session and stops them at its end."""
    burners = [subprocess.Popen([sys.executable, "-c", _BURNER]) for _ in range(_load_count())]
    try:
        for b in burners:
            assert b.poll() is None, "a CPU burner exited at once"
        yield len(burners)
    finally:
        for b in burners:
            b.kill()
        for b in burners:
            b.wait(10)


class Cluster:
    """A running openhsmd and the cluster it made."""

    def __init__(self, data, hsms=2, extra=(), env=None):
        """env: variables added to openhsmd's environment (its HSMs inherit them), e.g.
        {"OPENHSM_TOKEN_LIFETIME": "2"}."""
        self.data = pathlib.Path(data)
        self.lines = []
        self._paused = {}  # HSM index -> pid stopped by pause_hsm
        penv = None
        if env:
            penv = dict(os.environ)
            penv.update(env)
        self.endpoint = None  # the AWS API, from openhsmd's banner
        listen = () if any(str(a).startswith("--listen") for a in extra) else (
            "--listen", "127.0.0.1:0")
        self.proc = subprocess.Popen(
            [str(BIN / "openhsmd"), "--data", str(self.data), "--hsms", str(hsms),
             "--exit-with-parent", *listen, *extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=penv)
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        if not self._ready.wait(60):
            self.stop()
            raise RuntimeError("openhsmd did not get ready:\n" + "".join(self.lines))
        cfgs = sorted(self.data.glob("clusters/*/client.json"))
        assert len(cfgs) == 1, cfgs
        self.config = str(cfgs[0])
        self.cfg = json.loads(cfgs[0].read_text())
        self.cluster_id = self.cfg["cluster_id"]
        self.cluster_dir = cfgs[0].parent

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)
            if line.startswith("openhsmd: endpoint "):
                self.endpoint = line.split()[2]
            if line.strip() == "openhsmd: ready":
                self._ready.set()

    @property
    def output(self):
        return "".join(self.lines)

    def env(self, **kw):
        e = dict(os.environ)
        e["OPENHSM_CLUSTER_CONFIG"] = self.config
        # Terminal sessions keep a history file in HOME: one per cluster, not the tester's.
        home = self.cluster_dir / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        e["HOME"] = str(home)
        e.pop("CLOUDHSM_ROLE", None)
        e.pop("CLOUDHSM_PIN", None)
        e.update(kw)
        return e

    def hsm_dir(self, i):
        return self.cluster_dir / "hsms" / self.cfg["hsms"][i]["id"]

    def hsm_port(self, i):
        return self.cfg["hsms"][i]["port"]

    def hsm_pid(self, i):
        """The pid in HSM i's hsm.pid, as it is (see hsm_process for a checked one)."""
        return int((self.hsm_dir(i) / "hsm.pid").read_text().strip())

    def app_user_password(self):
        return (self.cluster_dir / "app_user.secret").read_text().strip()

    def is_hsm_process(self, i, pid):
        """True if pid is HSM i's openhsm-hsm, started by this openhsmd: its parent is openhsmd,
        it runs the openhsm-hsm binary (openhsmd writes hsm.pid between fork and exec) and its
        command line names HSM i's port and id."""
        st = proc_stat(pid)
        if st is None or st[0] == "Z" or st[1] != self.proc.pid:
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            return False

        def opt(name):
            return argv[argv.index(name) + 1] if name in argv[:-1] else None
        return (os.path.basename(argv[0]) == "openhsm-hsm" and
                opt("--listen") == f"127.0.0.1:{self.hsm_port(i)}" and
                opt("--hsm-id") == self.cfg["hsms"][i]["id"])

    def hsm_process(self, i, timeout=30.0, not_pid=None):
        """HSM i's pid, read from hsm.pid and checked (is_hsm_process); waits (up to timeout)
        while the file is missing or names another process, or still names not_pid."""
        def look():
            try:
                pid = self.hsm_pid(i)
            except (OSError, ValueError):
                return None
            return pid if pid != not_pid and self.is_hsm_process(i, pid) else None
        return wait_for(look, timeout, f"HSM {i}'s openhsm-hsm in hsm.pid")

    def pause_hsm(self, i, timeout=20.0):
        """Freezes HSM i (SIGSTOP): it stops answering but keeps its port, like a hung host.
        Returns once every thread of the process is stopped."""
        assert i not in self._paused, f"HSM {i} is paused already"
        pid = self.hsm_process(i)
        os.kill(pid, signal.SIGSTOP)
        self._paused[i] = pid
        try:
            wait_for(lambda: all_stopped(pid), timeout, f"HSM {i} (pid {pid}) stopped")
        except BaseException:
            self.resume_hsm(i)
            raise
        assert self.hsm_pid(i) == pid, "hsm.pid changed while pausing"

    def resume_hsm(self, i, timeout=20.0):
        """Lets HSM i run again (SIGCONT to the process pause_hsm stopped); returns once no thread
        of it is stopped."""
        pid = self._paused.pop(i, None)
        if pid is None:
            pid = self.hsm_process(i)
        os.kill(pid, signal.SIGCONT)
        wait_for(lambda: none_stopped(pid), timeout, f"HSM {i} (pid {pid}) running")

    def kill_hsm(self, i, timeout=30.0):
        """kill -9 HSM i and waits for openhsmd to restart it on the same port: the old process
        gone, a new openhsm-hsm of HSM i in hsm.pid, and the port accepting."""
        old = self.hsm_process(i)
        os.kill(old, signal.SIGKILL)
        wait_for(lambda: gone(old), timeout, f"HSM {i} (pid {old}) gone")
        new = self.hsm_process(i, timeout=timeout, not_pid=old)
        wait_port(self.hsm_port(i), timeout=timeout)
        assert self.is_hsm_process(i, new), "the restarted HSM exited again"
        return new

    def stop(self):
        for pid in self._paused.values():  # a test that failed while an HSM was paused
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._paused.clear()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "data")
    yield c
    c.stop()


@pytest.fixture
def make_cluster(tmp_path):
    """Factory for clusters with other options: make_cluster(hsms=1, extra=[...], env={...})."""
    made = []

    def make(hsms=2, extra=(), name="data", env=None):
        c = Cluster(tmp_path / name, hsms=hsms, extra=extra, env=env)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()
