# SPDX-License-Identifier: Apache-2.0
"""What a C application of libopenhsm-pkcs11.so relies on, shown with p11_driver: many threads
signing at once over one shared set of connections, an HSM killed in the middle of that without
the application seeing an error, fork() (a child that does not call C_Initialize gets
CKR_CRYPTOKI_NOT_INITIALIZED; one that does works; the parent is untouched), the application's
own mutex functions, the C_Initialize/C_Finalize rules and the v3.0 interface list."""
import json
import subprocess

import PyKCS11
import pytest

from conftest import wait_for
from p11lib import DRIVER, MODULE, PIN, p11, p11cluster  # noqa: F401

CKR = {v: k for k, v in PyKCS11.CKR.items() if isinstance(k, str)}


def ec_token_key(p11, label):
    s = p11.session()
    s.generateKeyPair(
        [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, label),
         (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")),
         (PyKCS11.CKA_VERIFY, True)],
        [(PyKCS11.CKA_TOKEN, True), (PyKCS11.CKA_LABEL, label), (PyKCS11.CKA_SIGN, True)],
        mecha=PyKCS11.MechanismECGENERATEKEYPAIR)


def drive(cluster, *args, timeout=180):
    p = subprocess.run([str(DRIVER), str(MODULE), *args], capture_output=True, text=True,
                       timeout=timeout, env=cluster.env())
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_init_rules(p11cluster):
    r = drive(p11cluster, "init")
    assert r == {"before": PyKCS11.CKR_CRYPTOKI_NOT_INITIALIZED,
                 "partial": PyKCS11.CKR_ARGUMENTS_BAD, "reserved": PyKCS11.CKR_ARGUMENTS_BAD,
                 "nothreads": 0, "nothreads_fin": 0, "first": 0,
                 "again": PyKCS11.CKR_CRYPTOKI_ALREADY_INITIALIZED,
                 "fin_arg": PyKCS11.CKR_ARGUMENTS_BAD, "fin": 0,
                 "fin2": PyKCS11.CKR_CRYPTOKI_NOT_INITIALIZED, "reinit": 0, "fin3": 0}, r


def test_functions_not_offered_answer_their_codes_and_change_nothing(p11cluster):
    """Every function the module lists but does not offer (C_InitToken, C_InitPIN and C_SetPIN
    among them) answers as the README says (and as PKCS#11 allows), after the not-initialized
    check; the session is unharmed."""
    r = drive(p11cluster, "unoffered")
    assert r.pop("before") == PyKCS11.CKR_CRYPTOKI_NOT_INITIALIZED, r
    assert r.pop("init") == 0 and r.pop("slots") == 0 and r.pop("open") == 0, r
    assert r.pop("SeedRandom") == PyKCS11.CKR_RANDOM_SEED_NOT_SUPPORTED, r
    assert r.pop("GetFunctionStatus") == PyKCS11.CKR_FUNCTION_NOT_PARALLEL, r
    assert r.pop("CancelFunction") == PyKCS11.CKR_FUNCTION_NOT_PARALLEL, r
    assert r.pop("session_after") == 0 and r.pop("fin") == 0, r
    # Users and passwords are managed with the CLI tools, as in CloudHSM; the slot or session is
    # checked first.
    assert r.pop("InitToken_badslot") == PyKCS11.CKR_SLOT_ID_INVALID, r
    assert r.pop("SetPIN_badsession") == PyKCS11.CKR_SESSION_HANDLE_INVALID, r
    assert len(r) == 36, sorted(r)
    bad = {k: v for k, v in r.items() if v != PyKCS11.CKR_FUNCTION_NOT_SUPPORTED}
    assert not bad, bad


def test_interfaces_v3(p11cluster):
    r = drive(p11cluster, "iface")
    assert r["count"] == 0 and r["n"] == 2 and r["list"] == 0, r
    assert r["names"] == ["PKCS 11", "PKCS 11"] and r["versions"] == ["3.0", "2.40"], r
    assert r["default"] == 0 and r["default_version"] == "3.0", r
    assert r["v30"] == 0 and r["v240"] == 0, r
    assert r["v99"] == PyKCS11.CKR_ARGUMENTS_BAD and r["other"] == PyKCS11.CKR_ARGUMENTS_BAD, r
    assert r["init"] == 0 and r["info"] == 0 and r["fin"] == 0, r
    assert r["login_user"] == PyKCS11.CKR_FUNCTION_NOT_SUPPORTED and r["fork_safe"] == 1, r


def test_eight_threads_sign_at_once(p11, p11cluster, tmp_path):
    ec_token_key(p11, "mt-sign")
    stop = tmp_path / "stop"
    stop.touch()
    r = drive(p11cluster, "threads", PIN, "mt-sign", "8", "50", str(stop))
    assert r["fail"] == 0 and r["first_error"] == 0, r
    assert r["ok"] >= 8 * 50 and all(n >= 50 for n in r["per_thread"]), r


def test_eight_threads_share_one_sessions_keys(p11cluster, tmp_path):
    """Session keys of the logging-in session, used by 8 threads at once over every connection
    set of the pool (they share the session objects), with requests pipelined when all are busy
    (one thread runs the others' queued operations with its own). Every signature verifies and
    every GCM decryption gives its own plaintext back (an answer handed to the wrong thread would
    not)."""
    stop = tmp_path / "stop"
    stop.touch()
    r = drive(p11cluster, "threads", PIN, "@session", "8", "60", str(stop))
    assert r["fail"] == 0 and r["first_error"] == 0, r
    assert r["ok"] >= 8 * 60 and all(n >= 60 for n in r["per_thread"]), r


def test_session_keys_made_at_once_on_eight_threads_work_together(p11cluster):
    """Eight threads make session AES keys at the same moment, so the pool serves them on
    different connection sets; every thread then wraps the next thread's key with its own,
    unwraps it and checks the copy is the same key. The connection sets share one set of session
    objects on the HSMs (a session-object group): before that, keys made on different
    connection sets could not meet (CKR_KEY_HANDLE_INVALID)."""
    r = drive(p11cluster, "crosswrap", PIN, "8")
    assert r["first_error"] == 0 and r["ok"] == 8 * 20, r


def test_destroyed_session_keys_are_dead_at_once_for_every_session(p11cluster):
    """A session key's C_DestroyObject costs no round trip of its own (the delete goes out with
    the connection's next request), yet the handle is dead the moment it returns: eight threads
    on eight sessions (so on several connection sets) make, use and destroy keys, and at once
    every call naming the key (in the same session, and another thread's destroyed key in this
    one) fails with the handle's CKR, a search by label finds nothing, a second destroy is
    refused."""
    r = drive(p11cluster, "destroyrace", PIN, "8", "60")
    assert r["bad"] == 0 and r["first_bad"] == "", r
    assert r["ok"] == 8 * 60 and r["fin"] == 0, r


def test_an_hsm_killed_while_eight_threads_sign(p11, p11cluster, tmp_path):
    ec_token_key(p11, "mt-failover")
    stop = tmp_path / "stop"
    p = subprocess.Popen([str(DRIVER), str(MODULE), "threads", PIN, "mt-failover", "8", "100",
                          str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=p11cluster.env())
    try:
        assert p.stdout.readline().strip() == "started"
        p11cluster.kill_hsm(0)  # kill -9 mid-run; openhsmd restarts it
        stop.touch()
        out, err = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    r = json.loads(out.strip().splitlines()[-1])
    assert r["fail"] == 0 and r["first_error"] == 0, (r, err)
    assert all(n >= 100 for n in r["per_thread"]), r


def test_an_hsm_stopped_and_hung_while_eight_threads_sign(p11, p11cluster, tmp_path):
    """HSM 1 is stopped (openhsmd ctl stop-hsm: its port closes) and, once back, frozen (SIGSTOP:
    it keeps its port but answers nothing, so calls there wait out the client's timeout) while
    eight threads sign; then it comes back. No call fails."""
    from cloud import ctl
    ec_token_key(p11, "mt-hung")
    hid = p11cluster.cfg["hsms"][1]["id"]
    stop = tmp_path / "stop"
    p = subprocess.Popen([str(DRIVER), str(MODULE), "threads", PIN, "mt-hung", "8", "50",
                          str(stop)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=p11cluster.env())
    try:
        assert p.stdout.readline().strip() == "started"
        assert ctl(p11cluster, "stop-hsm", hid).returncode == 0
        assert ctl(p11cluster, "start-hsm", hid).returncode == 0
        p11cluster.hsm_process(1)
        p11cluster.pause_hsm(1)
        p11cluster.resume_hsm(1)
        stop.touch()
        out, err = p.communicate(timeout=180)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    r = json.loads(out.strip().splitlines()[-1])
    assert r["fail"] == 0 and r["first_error"] == 0, (r, err)
    assert all(n >= 50 for n in r["per_thread"]), r


def test_fork(p11, p11cluster):
    ec_token_key(p11, "fork-key")
    r = drive(p11cluster, "fork", PIN, "fork-key")
    assert r == {"init": 0, "parent_before": 0,
                 "child_no_init": PyKCS11.CKR_CRYPTOKI_NOT_INITIALIZED,
                 "child_no_init_session": PyKCS11.CKR_CRYPTOKI_NOT_INITIALIZED,
                 "child_init": 0, "child_sign": 0, "child_fin": 0, "child_exit": 0,
                 "parent_after": 0}, r


def test_application_mutexes(p11, p11cluster):
    ec_token_key(p11, "mutex-key")
    r = drive(p11cluster, "mutexes", PIN, "mutex-key")
    assert r["init"] == 0 and r["rv"] == 0 and r["ok"] == 20 and r["fin"] == 0, r
    # The library's locks were the application's: made, used in pairs, all destroyed.
    assert r["created"] >= 2 and r["destroyed"] == r["created"], r
    assert r["locks"] > 0 and r["locks"] == r["unlocks"], r
