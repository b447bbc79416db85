# SPDX-License-Identifier: Apache-2.0
"""openhsm-hsm on the wire: TLS 1.3 only, framed messages, what it does with bad peers, and
that a bad peer never stops it from serving good ones (session bounds: test_sessions.py)."""
import socket
import ssl
import struct

import pytest

import wire


def alive(cluster, i):
    """A good client still gets a hello through."""
    with wire.connect(cluster, i) as s:
        r = wire.call(s, 1, wire.HELLO)
        return r.get(2, 0) == 0 and r.get(1) == 1


def test_hello_reports_identity(cluster):
    with wire.connect(cluster, 0) as s:
        r = wire.call(s, 7, wire.HELLO, wire.field(1, 1))
        assert r[1] == 7 and r.get(2, 0) == 0
        hello = wire.parse_fields(r[10])
        assert hello[2].decode() == cluster.cfg["hsms"][0]["id"]
        assert hello[3].decode() == cluster.cluster_id


def test_tls12_refused(cluster):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", cluster.hsm_port(0)), timeout=5) as raw:
        with pytest.raises(ssl.SSLError):
            ctx.wrap_socket(raw).do_handshake()
    assert alive(cluster, 0)


def test_plaintext_garbage_client(cluster):
    with socket.create_connection(("127.0.0.1", cluster.hsm_port(0)), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)))
        s.settimeout(5)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        # whatever TLS alert comes back, the HSM never answers in frames and hangs up
        assert not data.startswith(b"HTTP")
    assert alive(cluster, 0)


def test_oversized_frame_is_refused(cluster):
    with wire.connect(cluster, 0) as s:
        s.sendall(struct.pack(">I", (1 << 20) + 1) + b"x" * 64)
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(1, 0) == 0 and r[2] == wire.RV["DATA_LEN_RANGE"]
        assert wire.read_frame(s) is None  # then the HSM closes the session
    assert alive(cluster, 0)


def test_zero_length_frame_is_refused(cluster):
    with wire.connect(cluster, 0) as s:
        s.sendall(struct.pack(">I", 0))
        r = wire.parse_fields(wire.read_frame(s))
        assert r[2] == wire.RV["DATA_LEN_RANGE"]
    assert alive(cluster, 0)


def test_truncated_frame_then_hangup(cluster):
    with wire.connect(cluster, 0) as s:
        s.sendall(struct.pack(">I", 100) + b"\x08\x01")
    assert alive(cluster, 0)


def test_garbage_payload_is_protocol_error(cluster):
    with wire.connect(cluster, 0) as s:
        s.sendall(wire.frame(b"\xff" * 11))
        r = wire.parse_fields(wire.read_frame(s))
        assert r.get(1, 0) == 0 and r[2] == wire.RV["PROTOCOL"]
        assert wire.read_frame(s) is None
    with wire.connect(cluster, 0) as s:  # a request without an id is refused too
        s.sendall(wire.frame(wire.field(wire.LIST_USERS, b"")))
        assert wire.parse_fields(wire.read_frame(s))[2] == wire.RV["PROTOCOL"]
    assert alive(cluster, 0)


def test_overlong_password_on_wire_is_refused_and_counts_nothing(cluster):
    with wire.connect(cluster, 0) as s:
        body = wire.login_body(1, "admin", "p" * 65)
        r = wire.call(s, 1, wire.LOGIN, body)
        assert r[2] == wire.RV["PROTOCOL"]
    with wire.connect(cluster, 0) as s:
        r = wire.call(s, 2, wire.LIST_USERS)
        users = [wire.parse_fields(v) for n, v in wire.parse_list(r[13]) if n == 1]
        admin = users[0]
        assert admin[3] == b"admin" and admin.get(4, 0) == 0  # LoginFailureCnt untouched


def test_wrong_password_over_wire(cluster):
    with wire.connect(cluster, 1) as s:
        r = wire.call(s, 1, wire.LOGIN, wire.login_body(1, "admin", "wrongpass"))
        assert r[2] == wire.RV["PIN_INCORRECT"]
        r = wire.call(s, 2, wire.LOGIN, wire.login_body(1, "admin", "password"))
        assert r.get(2, 0) == 0


def test_untrusted_client_ca_cannot_verify_hsm(cluster, tmp_path):
    # A client trusting another CA must refuse the HSM (the trust anchor is what makes it an HSM
    # of this cluster).
    import subprocess
    key, crt = tmp_path / "o.key", tmp_path / "o.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(crt),
                    "-subj", "/CN=other", "-days", "1"], check=True, capture_output=True)
    ctx = ssl.create_default_context(cafile=str(crt))
    ctx.check_hostname = False
    with socket.create_connection(("127.0.0.1", cluster.hsm_port(0)), timeout=5) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw)


CREATE_USER, CHANGE_PASSWORD = 14, 16


def user_body(user_type, name, password):
    return wire.field(1, user_type) + wire.field(2, name.encode()) + wire.field(3, password.encode())


def test_kill9_loses_no_acknowledged_user(make_cluster):
    """kill -9 the HSM while users are being created: after restart, every user whose creation
    the HSM acknowledged is there (WAL + synchronous=FULL, reply only after commit)."""
    import threading
    c = make_cluster(hsms=1)
    with wire.connect(c, 0) as s:
        assert wire.call(s, 1, wire.LOGIN, wire.login_body(1, "admin", "password")).get(2, 0) == 0
        r = wire.call(s, 2, CHANGE_PASSWORD, user_body(1, "admin", "adminpw1"))
        assert r.get(2, 0) == 0
    acked = []
    started = threading.Event()

    def create_users():
        try:
            with wire.connect(c, 0, timeout=10) as s:
                wire.call(s, 1, wire.LOGIN, wire.login_body(2, "admin", "adminpw1"))
                for k in range(100000):
                    name = f"durable{k}"
                    s.sendall(wire.frame(wire.request(k + 2, CREATE_USER,
                                                      user_body(3, name, "userpass1"))))
                    payload = wire.read_frame(s)
                    if payload is None:
                        return
                    if wire.parse_fields(payload).get(2, 0) == 0:
                        acked.append(name)
                        if len(acked) >= 10:
                            started.set()
        except OSError:
            return
        finally:
            started.set()

    t = threading.Thread(target=create_users)
    t.start()
    assert started.wait(60)
    c.kill_hsm(0)  # mid-stream: the writer is blocked in a create when the process dies
    t.join(30)
    assert len(acked) >= 10
    with wire.connect(c, 0) as s:
        r = wire.call(s, 1, wire.LIST_USERS)
        names = {wire.parse_fields(v)[3].decode() for n, v in wire.parse_list(r[13]) if n == 1}
    missing = [n for n in acked if n not in names]
    assert not missing, f"acknowledged but lost after kill -9: {missing}"
