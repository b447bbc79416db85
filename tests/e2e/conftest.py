# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: a real openhsmd with real openhsm-hsm processes in a temp dir.

openhsmd runs with --exit-with-parent so a crashed test run leaves nothing behind; every HSM binds
127.0.0.1 on a free port chosen by openhsmd.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("OHSM_BIN", ROOT / "build" / "bin"))


def wait_port(port, up=True, timeout=20.0):
    """Waits until 127.0.0.1:port accepts connections (up) or refuses them (not up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                if up:
                    return True
        except OSError:
            if not up:
                return True
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not {'up' if up else 'down'} after {timeout}s")


class Cluster:
    """A running openhsmd and the cluster it made."""

    def __init__(self, data, hsms=2, extra=(), env=None):
        """env: variables added to openhsmd's environment (its HSMs inherit them), e.g.
        {"OPENHSM_TOKEN_LIFETIME": "2"}."""
        self.data = pathlib.Path(data)
        self.lines = []
        penv = None
        if env:
            penv = dict(os.environ)
            penv.update(env)
        self.proc = subprocess.Popen(
            [str(BIN / "openhsmd"), "--data", str(self.data), "--hsms", str(hsms),
             "--exit-with-parent", *extra],
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
            if line.strip() == "openhsmd: ready":
                self._ready.set()

    @property
    def output(self):
        return "".join(self.lines)

    def env(self, **kw):
        e = dict(os.environ)
        e["OPENHSM_CLUSTER_CONFIG"] = self.config
        e.pop("CLOUDHSM_ROLE", None)
        e.pop("CLOUDHSM_PIN", None)
        e.update(kw)
        return e

    def hsm_dir(self, i):
        return self.cluster_dir / "hsms" / self.cfg["hsms"][i]["id"]

    def hsm_port(self, i):
        return self.cfg["hsms"][i]["port"]

    def hsm_pid(self, i):
        return int((self.hsm_dir(i) / "hsm.pid").read_text().strip())

    def app_user_password(self):
        return (self.cluster_dir / "app_user.secret").read_text().strip()

    def pause_hsm(self, i):
        """Freezes HSM i (SIGSTOP): it stops answering but keeps its port, like a hung host."""
        os.kill(self.hsm_pid(i), signal.SIGSTOP)

    def resume_hsm(self, i):
        os.kill(self.hsm_pid(i), signal.SIGCONT)

    def kill_hsm(self, i):
        """kill -9 HSM i and waits for openhsmd to restart it on the same port."""
        old = self.hsm_pid(i)
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.hsm_pid(i) != old:
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        else:
            raise TimeoutError("HSM was not restarted")
        wait_port(self.hsm_port(i))

    def stop(self):
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
