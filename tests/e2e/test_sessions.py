# SPDX-License-Identifier: Apache-2.0
"""Sessions only for real clients (issue 10, item 7), through the real binaries.

A connection counts against an HSM's --max-sessions only once a user has logged in on it. Those
without a login (in the TLS handshake, or through it and silent) are bounded apart, in total and
per source address, and closed after a short idle time (HANDSHAKE_S for an unfinished handshake,
LOGIN_IDLE_S without a login); a bound reached evicts the least recently active of them, never the
newcomer. So 1,000 idle TCP connections, 100 half-finished handshakes and 200 silent TLS sessions
from the client's own address do not keep openhsm-cmu, openhsm-cli or openhsm-kmu from logging in.
"""
import resource
import selectors
import socket
import ssl
import subprocess
import time

import pexpect
import pytest

import wire
from conftest import BIN
from test_cli import activate as cli_activate
from test_cli import shell
from test_cmu import ADMIN_PW, CMU, activate, cmu, create, login_as, per_server
from test_kmu import CU_PW, session
from test_mfa import create_cu, login_mfa, register_ok
from tokens import Interactive, rsa_key, sign_mfa

# src/hsm/server.c and src/hsm/hsm.h
HANDSHAKE_S = 3
LOGIN_IDLE_S = 20
UNAUTH, UNAUTH_PER_SOURCE, DEFAULT_SESSIONS, THREADS_SLACK = 256, 128, 64, 64
THREAD_CAP = DEFAULT_SESSIONS + UNAUTH + THREADS_SLACK

N_TCP, N_HALF, N_TLS = 1000, 100, 200
LOGIN_BOUND_S = 5.0  # "at once": generous so that a loaded machine stays deterministic
MARGIN_S = 5.0

# proto/hsm.proto: Request.hsm_info / Response.info (HsmInfoResp: sessions 10, max_sessions 11);
# Response.users is 13 (ListUsersResp: users 1; User: username 3, login_failures 4).
HSM_INFO = 17


def tls_context(cluster):
    ctx = ssl.create_default_context(cafile=str(cluster.cluster_dir / cluster.cfg["trust_anchor"]))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the HSM cert names IP 127.0.0.1; the chain is still verified
    return ctx


def client_hello(ctx):
    """The bytes of a real TLS 1.3 ClientHello, made without a socket."""
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_side=False)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert len(hello) > 100 and hello[0] == 0x16, hello[:8]
    return hello


def hsm_threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads: line")


def hsm_nofile(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    raise AssertionError("no Max open files line")


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        assert hard == resource.RLIM_INFINITY or hard >= need, (soft, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return soft, hard


def wait_closed(socks, deadline):
    """Waits until the HSM closed every socket (EOF or error); returns those still open at the
    deadline."""
    sel = selectors.DefaultSelector()
    left = set()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        left.add(s)
    try:
        while left:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                break
            for key, _ in sel.select(timeout):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue
                except OSError:  # reset, or a TLS error: closed either way
                    data = b""
                if not data:
                    sel.unregister(s)
                    left.discard(s)
    finally:
        sel.close()
    return left


def info_sessions(s, req_id):
    r = wire.call(s, req_id, HSM_INFO)
    assert r.get(2, 0) == 0, r
    info = wire.parse_fields(r[17])
    return info.get(10, 0), info.get(11, 0)


def admin_failures(s, req_id):
    r = wire.call(s, req_id, wire.LIST_USERS)
    assert r.get(2, 0) == 0, r
    for num, v in wire.parse_list(r[13]):
        if num == 1:
            u = wire.parse_fields(v)
            if u.get(3) == b"admin":
                return u.get(4, 0)
    raise AssertionError("admin not listed")


def wait_sessions(s, want, timeout=10):
    """Waits until the HSM reports `want` logged-in sessions (ended ones are noticed when their
    thread reads the close)."""
    deadline = time.monotonic() + timeout
    req_id = 1000
    while True:
        req_id += 1
        got = info_sessions(s, req_id)[0]
        if got == want:
            return
        assert time.monotonic() < deadline, f"{got} sessions, not {want}"
        time.sleep(0.05)


def cmu_prompt(cluster):
    child = pexpect.spawn(str(CMU), [cluster.config], env=cluster.env(TERM="dumb"),
                          encoding="utf-8", timeout=30)
    child.expect_exact("aws-cloudhsm>")
    return child


def cmu_line(child, line):
    child.sendline(line)
    child.expect_exact("aws-cloudhsm>")
    return child.before


def timed(what, fn):
    t0 = time.monotonic()
    out = fn()
    took = time.monotonic() - t0
    print(f"{what}: {took:.3f} s")
    assert took < LOGIN_BOUND_S, f"{what} took {took:.3f} s"
    return out


def test_flood_of_idle_connections_does_not_keep_clients_out(make_cluster):
    c = make_cluster(hsms=1)
    activate(c)
    out = cmu(c, login_as("admin", ADMIN_PW) + create("CU", "alice", CU_PW["alice"]) + "quit\n")
    assert "createUser success on server 0(127.0.0.1)" in out, out

    pid = c.hsm_pid(0)
    assert hsm_nofile(pid) >= THREAD_CAP + 64  # room for a descriptor per connection thread
    raise_nofile(N_TCP + N_HALF + N_TLS + 256)
    port = c.hsm_port(0)
    ctx = tls_context(c)
    half_hello = client_hello(ctx)
    half_hello = half_hello[:len(half_hello) // 2]

    tcp, half, done = [], [], []
    # Before the flood: a CMU at its prompt without a login (the flood evicts its connection: it
    # reconnects on its next command), and a raw client logged in (never evicted).
    early = cmu_prompt(c)
    mine = wire.connect(c, 0, timeout=10)
    try:
        assert "Users on server 0(127.0.0.1):" in cmu_line(early, "listUsers")
        assert wire.call(mine, 1, wire.LOGIN, wire.login_body(3, "alice", CU_PW["alice"])).get(
            2, 0) == 0
        most_threads = 0
        for k in range(N_TCP):
            tcp.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            if k % 100 == 99:
                most_threads = max(most_threads, hsm_threads(pid))
        for _ in range(N_HALF):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            half.append(s)
            s.sendall(half_hello)
        for _ in range(N_TLS):
            raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            try:
                done.append(ctx.wrap_socket(raw))
            except BaseException:
                raw.close()
                raise
        flooded = time.monotonic()
        most_threads = max(most_threads, hsm_threads(pid))
        print(f"most HSM threads seen during the flood: {most_threads}")

        # Real clients, from the same address, get in at once.
        out = timed("openhsm-cmu loginHSM", lambda: cmu(
            c, login_as("admin", ADMIN_PW) + "logoutHSM\nquit\n"))
        per_server(out, "loginHSM", range(1))
        got = timed("openhsm-cli login + user list", lambda: shell(
            c, f"login --username alice --role crypto-user --password {CU_PW['alice']}",
            "user list"))
        assert got[0] == {"error_code": 0, "data": {"username": "alice", "role": "crypto-user"}}
        assert got[1]["error_code"] == 0
        assert {u["username"] for u in got[1]["data"]["users"]} == {"admin", "app_user", "alice"}
        out = timed("openhsm-kmu loginHSM", lambda: session(c, "alice"))
        assert "Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS" in out, out
        assert "Node id 0 and err state 0x00000000 : HSM Return: SUCCESS" in out, out
        # The flood cost a bounded number of threads (one per connection it still holds).
        assert most_threads <= THREAD_CAP + 8, most_threads

        # The logged-in client kept its connection through it all; the early CMU reconnects.
        assert info_sessions(mine, 2)[0] >= 1
        assert "Users on server 0(127.0.0.1):" in cmu_line(early, "listUsers")

        # Connections without a finished handshake are gone within the handshake time (evicted
        # earlier by newer ones); the silent TLS sessions within the no-login idle time.
        left = wait_closed(tcp + half, flooded + HANDSHAKE_S + MARGIN_S)
        print(f"idle/half-open connections closed {time.monotonic() - flooded:.3f} s after the "
              "flood")
        assert not left, f"{len(left)} idle or half-open connections still open"
        left = wait_closed(done, flooded + LOGIN_IDLE_S + MARGIN_S)
        print(f"silent TLS sessions closed {time.monotonic() - flooded:.3f} s after the flood")
        assert not left, f"{len(left)} silent TLS sessions still open"

        # Only the raw client is logged in now, and a newcomer still connects.
        with wire.connect(c, 0) as s:
            assert wire.call(s, 1, wire.HELLO).get(2, 0) == 0
            wait_sessions(s, 1)
            assert info_sessions(s, 2) == (1, DEFAULT_SESSIONS)
    finally:
        for s in tcp + half + done + [mine]:
            s.close()
        early.close(force=True)


def test_half_open_connections_closed_after_handshake_time(make_cluster):
    """Below every bound: an unfinished handshake (even one fed a byte at a time) is closed
    HANDSHAKE_S after it began, a silent TLS session stays until LOGIN_IDLE_S."""
    c = make_cluster(hsms=1)
    port = c.hsm_port(0)
    ctx = tls_context(c)
    hello = client_hello(ctx)
    socks = []
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(idle)
        trickle = socket.create_connection(("127.0.0.1", port), timeout=10)
        socks.append(trickle)
        silent = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))
        socks.append(silent)
        t0 = time.monotonic()
        # One byte every 0.5 s: each resets a per-read timeout, not the handshake deadline.
        sent = 0
        deadline = t0 + HANDSHAKE_S + MARGIN_S
        closed_at = None
        while time.monotonic() < deadline and sent < len(hello):
            try:
                trickle.sendall(hello[sent:sent + 1])
            except OSError:
                closed_at = time.monotonic()
                break
            sent += 1
            if wait_closed([trickle], time.monotonic() + 0.5) == set():
                closed_at = time.monotonic()
                break
        assert closed_at is not None, "a trickled handshake was not cut off"
        took = closed_at - t0
        print(f"trickled handshake closed after {took:.3f} s ({sent} bytes)")
        assert HANDSHAKE_S - 0.5 <= took <= HANDSHAKE_S + MARGIN_S, took
        assert not wait_closed([idle], t0 + HANDSHAKE_S + MARGIN_S)
        # The silent TLS session is still served well past the handshake time.
        silent.setblocking(True)
        silent.settimeout(10)
        assert wire.call(silent, 1, wire.HELLO).get(2, 0) == 0
    finally:
        for s in socks:
            s.close()


def test_mfa_login_outlives_the_no_login_idle_time(make_cluster, tmp_path):
    """After step 1 of an MFA login the user signs the token at leisure: the connection holding
    it is kept until the token expires, while a silent connection of the same age is closed."""
    c = make_cluster(hsms=1)
    cli_activate(c)
    create_cu(c, "carol")
    key, pub = rsa_key(tmp_path, "carol")
    register_ok(c, tmp_path, "carol", (key, pub))
    sh = Interactive(c)
    control = []
    try:
        tfile = tmp_path / "t.json"

        def answer(data):
            # Step 1 is done: a silent TLS session opened now must be closed before we sign.
            raw = socket.create_connection(("127.0.0.1", c.hsm_port(0)), timeout=10)
            control.append(tls_context(c).wrap_socket(raw))
            t0 = time.monotonic()
            assert not wait_closed(control, t0 + LOGIN_IDLE_S + MARGIN_S)
            print(f"silent session closed after {time.monotonic() - t0:.3f} s; signing now")
            sign_mfa(tfile, key)
            return ""

        got = login_mfa(sh, "carol", tfile, answer, nhsms=1)
        assert got == {"error_code": 0, "data": {"username": "carol", "role": "crypto-user"}}, got
        assert sh.run("logout")["error_code"] == 0
    finally:
        for s in control:
            s.close()
        assert sh.close() == 0


def test_logged_in_sessions_bounded_by_max_sessions(make_cluster):
    """Only logins take sessions: with --max-sessions 2, connections that never log in do not
    count; a third login is refused with OHSM_SESSION_COUNT and counts no failure; a logout (or a
    client leaving) frees a slot."""
    c = make_cluster(hsms=1, extra=["--max-sessions", "2"])
    login = wire.login_body(1, "admin", "password")  # the PRECO before activation
    held = [wire.connect(c, 0) for _ in range(6)]
    try:
        for k, s in enumerate(held):  # 6 connections > max-sessions: all served
            assert wire.call(s, 1, wire.HELLO).get(2, 0) == 0, k
        a, b, x = held[0], held[1], held[2]
        assert wire.call(a, 2, wire.LOGIN, login).get(2, 0) == 0
        assert wire.call(b, 2, wire.LOGIN, login).get(2, 0) == 0
        assert info_sessions(x, 2) == (2, 2)
        r = wire.call(x, 3, wire.LOGIN, login)
        assert r[2] == wire.RV["SESSION_COUNT"], r
        assert admin_failures(x, 4) == 0  # refused for want of a slot: no failure counted
        assert info_sessions(x, 5) == (2, 2)  # x is still connected, and not logged in
        r = wire.call(x, 6, wire.LOGIN, wire.login_body(1, "admin", "wrongpass"))
        assert r[2] == wire.RV["PIN_INCORRECT"], r  # a wrong password is still a failure
        assert admin_failures(x, 7) == 1

        # openhsm-cmu reports it too, and nothing changes.
        out = cmu(c, "loginHSM PRECO admin password\nquit\n", check=False)
        assert "loginHSM failed" in out and "No sessions available on the HSM" in out, out

        # A logout frees a slot at once.
        assert wire.call(a, 8, wire.LOGOUT).get(2, 0) == 0
        assert info_sessions(x, 9) == (1, 2)
        assert wire.call(x, 10, wire.LOGIN, login).get(2, 0) == 0
        assert admin_failures(x, 11) == 0  # a good login resets the count, as before
        r = wire.call(a, 12, wire.LOGIN, login)
        assert r[2] == wire.RV["SESSION_COUNT"], r

        # A client leaving frees its slot when the HSM sees it go.
        b.close()
        deadline = time.monotonic() + 10
        while True:
            r = wire.call(a, 100, wire.LOGIN, login)
            if r.get(2, 0) == 0:
                break
            assert r[2] == wire.RV["SESSION_COUNT"], r
            assert time.monotonic() < deadline, "the slot of a closed session was not freed"
            time.sleep(0.05)  # the HSM notices the close on its own: poll the condition
        assert info_sessions(held[3], 101) == (2, 2)
    finally:
        for s in held:
            s.close()


@pytest.mark.parametrize("args,message", [
    (["--max-unauth", "0"], "--max-unauth must be 1..65536"),
    (["--max-unauth", "65537"], "--max-unauth must be 1..65536"),
    (["--max-unauth", "-1"], "--max-unauth must be 1..65536"),
    (["--max-unauth-per-source", "x"], "--max-unauth-per-source must be 1..65536"),
    (["--max-unauth", "10", "--max-unauth-per-source", "11"],
     "--max-unauth-per-source must not exceed --max-unauth (10)"),
    (["--max-unauth-per-source", "300"],
     "--max-unauth-per-source must not exceed --max-unauth (256)"),
])
def test_bad_connection_limits_refused(tmp_path, args, message):
    """openhsm-hsm refuses connection bounds out of range before it touches anything."""
    db = tmp_path / "hsm.db"
    p = subprocess.run([str(BIN / "openhsm-hsm"), "--db", str(db), "--cert", str(tmp_path / "c"),
                        "--key", str(tmp_path / "k"), *args], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr, p.stderr
    assert list(tmp_path.iterdir()) == []
