# SPDX-License-Identifier: Apache-2.0
"""Just enough of the openhsm wire format to talk to an HSM port from a test: TLS 1.3 to
127.0.0.1, u32 big-endian framed protobuf messages (proto/hsm.proto), hand-encoded."""
import socket
import ssl
import struct

# Request oneof field numbers (proto/hsm.proto).
HELLO, LOGIN, LOGOUT, LIST_USERS = 10, 11, 12, 13
# ohsm_rv values (include/openhsm/rv.h).
RV = {"OK": 0, "DATA_LEN_RANGE": 3, "PIN_INCORRECT": 5, "PROTOCOL": 24, "SESSION_COUNT": 19}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(num, value):
    if isinstance(value, int):
        return varint(num << 3) + varint(value)
    return varint((num << 3) | 2) + varint(len(value)) + value


def request(req_id, op, body=b""):
    return field(1, req_id) + field(op, body)


def login_body(user_type, name, password):
    return field(1, user_type) + field(2, name.encode()) + field(3, password.encode())


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


def parse_fields(buf):
    """Top-level fields of a message as {num: value} (length-delimited ones as bytes; for a
    repeated field the last one wins: use parse_list)."""
    return dict(parse_list(buf))


def parse_list(buf):
    """Top-level fields of a message as a list of (num, value), in order."""
    out, i = [], 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            v = buf[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type")
        out.append((num, v))
    return out


def _varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def connect(cluster, i, timeout=5):
    ctx = ssl.create_default_context(cafile=str(cluster.cluster_dir / cluster.cfg["trust_anchor"]))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False  # the HSM cert names IP 127.0.0.1; chain is still verified
    raw = socket.create_connection(("127.0.0.1", cluster.hsm_port(i)), timeout=timeout)
    return ctx.wrap_socket(raw)


def read_frame(s):
    """Reads one frame; returns the payload, or None if the peer closed first."""
    hdr = _read_n(s, 4)
    if hdr is None:
        return None
    (n,) = struct.unpack(">I", hdr)
    return _read_n(s, n)


def _read_n(s, n):
    buf = b""
    while len(buf) < n:
        try:
            chunk = s.recv(n - len(buf))
        except (ConnectionResetError, ssl.SSLError):
            return None
        if not chunk:
            return None
        buf += chunk
    return buf


def call(s, req_id, op, body=b""):
    s.sendall(frame(request(req_id, op, body)))
    payload = read_frame(s)
    assert payload is not None, "HSM closed the connection"
    return parse_fields(payload)
