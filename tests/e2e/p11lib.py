# SPDX-License-Identifier: Apache-2.0
"""Helpers for the PKCS#11 e2e tests: the module's path, a cluster with a crypto user, and a
PyKCS11 library loaded against it (the module reads OPENHSM_CLUSTER_CONFIG at C_Initialize).

PyKCS11 loads the module into the test process; each test loads it afresh (C_Initialize) and
unloads it (C_Finalize) at the end, so one test's sessions and login never reach the next."""
import os
import subprocess

import PyKCS11
import pytest
from PyKCS11 import LowLevel  # noqa: F401  (the constants live in PyKCS11)

from conftest import BIN, Cluster
from test_cli import activate, as_admin, cli

MODULE = BIN.parent / "lib" / "libopenhsm-pkcs11.so"
DRIVER = BIN / "p11_driver"
USER, PW = "p11user", "p11-pass1"
PIN = f"{USER}:{PW}"
CU_ENV = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": PIN}


def make_user(cluster, user, pw):
    code, out, text = cli(cluster, "user", "create", "--username", user, "--role",
                          "crypto-user", "--password", pw, **as_admin())
    assert code == 0, text


def prepare(cluster):
    """Activates the cluster and makes the crypto user the tests log in as."""
    activate(cluster)
    make_user(cluster, USER, PW)


class P11:
    """The module loaded through PyKCS11 for one cluster."""

    def __init__(self, cluster):
        self._saved = os.environ.get("OPENHSM_CLUSTER_CONFIG")
        os.environ["OPENHSM_CLUSTER_CONFIG"] = cluster.config
        self.cluster = cluster
        self.lib = PyKCS11.PyKCS11Lib()
        self.lib.load(str(MODULE))
        slots = self.lib.getSlotList(tokenPresent=True)
        assert len(slots) == 1, slots
        self.slot = slots[0]
        self.sessions = []

    def session(self, rw=True, login=True):
        flags = PyKCS11.CKF_SERIAL_SESSION | (PyKCS11.CKF_RW_SESSION if rw else 0)
        s = self.lib.openSession(self.slot, flags)
        self.sessions.append(s)
        if login:
            s.login(PIN)
        return s

    def close(self):
        self.lib.lib.Unload()  # C_Finalize: every session closed, logged out
        if self._saved is None:
            os.environ.pop("OPENHSM_CLUSTER_CONFIG", None)
        else:
            os.environ["OPENHSM_CLUSTER_CONFIG"] = self._saved


@pytest.fixture(scope="module")
def p11cluster(tmp_path_factory):
    """One 2-HSM cluster with the crypto user, shared by a test module (tests use their own
    labels)."""
    c = Cluster(tmp_path_factory.mktemp("p11") / "data")
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


@pytest.fixture
def p11(p11cluster):
    lib = P11(p11cluster)
    yield lib
    lib.close()


def ckr(e):
    """The CKR_* value of a PyKCS11Error."""
    assert isinstance(e, PyKCS11.PyKCS11Error), e
    return e.value


def raises_ckr(code, fn, *args, **kw):
    """Calls fn and checks it fails with CKR `code`."""
    with pytest.raises(PyKCS11.PyKCS11Error) as ei:
        fn(*args, **kw)
    assert ei.value.value == code, (PyKCS11.CKR.get(ei.value.value), PyKCS11.CKR.get(code))


def driver(*args, timeout=120, env=None):
    p = subprocess.run([str(DRIVER), str(MODULE), *args], capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p
