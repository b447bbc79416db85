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


# ---- issue 11: more of the schema, for tests/e2e/test_wire_fidelity.py ----
CREATE_USER, HSM_INFO = 14, 17
KEY_GEN, KEY_IMPORT, KEY_DELETE, KEY_FIND, KEY_GET = 20, 21, 22, 23, 24
WRAP, UNWRAP, MASKED_EXTRACT, MASKED_INSERT, USER_EXTRACT, KEY_EXPORT = 27, 28, 31, 32, 34, 36
RV.update({"ARGUMENTS_BAD": 1, "USER_TYPE_INVALID": 9, "USER_NOT_LOGGED_IN": 10,
           "ACCESS_DENIED": 15, "KEY_HANDLE_INVALID": 20, "KEY_FUNCTION_NOT_PERMITTED": 34,
           "KEY_SIZE_RANGE": 36, "MECHANISM_PARAM_INVALID": 38, "KEY_TYPE_INCONSISTENT": 41,
           "WRAPPED_KEY_INVALID": 42, "MASKED_OBJECT_INVALID": 43, "OBJECT_EXISTS": 44,
           "KEY_NOT_OWNER": 47})
# User types (include/openhsm/user.h), key classes and types, attribute ids (include/openhsm/obj.h).
UT_CO, UT_CU, UT_AU = 2, 3, 4
CLS_PUBLIC, CLS_PRIVATE, CLS_SECRET = 2, 3, 4
KT_RSA, KT_AES = 0, 31
A_CLASS, A_TOKEN, A_LABEL, A_KEY_TYPE = 0, 1, 3, 0x100
A_ENCRYPT, A_DECRYPT, A_WRAP, A_UNWRAP, A_VALUE_LEN, A_EXTRACTABLE = \
    0x104, 0x105, 0x106, 0x107, 0x161, 0x162
A_KCV, A_HANDLE, A_OWNER, A_VERSION, A_OWNER_ID = 0x173, 0x80000001, 0x80000002, 0x80000005, \
    0x80000009
M_AES_KWP, M_RSA_AES_KW, H_SHA256 = 21, 50, 3


def attrs(*pairs):
    """An encoded attribute list (template or record): (id, value) pairs; True/False are one
    byte, ints u32, str/bytes raw."""
    out = b""
    for aid, v in pairs:
        if isinstance(v, bool):
            v = bytes([int(v)])
        elif isinstance(v, int):
            v = struct.pack(">I", v)
        elif isinstance(v, str):
            v = v.encode()
        out += struct.pack(">II", aid, len(v)) + v
    return out


def parse_attrs(buf):
    """An encoded attribute list as {id: [values]} (raw bytes)."""
    out, i = {}, 0
    while i < len(buf):
        aid, n = struct.unpack(">II", buf[i:i + 8])
        out.setdefault(aid, []).append(buf[i + 8:i + 8 + n])
        i += 8 + n
    return out


def record_handle(rec):
    return struct.unpack(">Q", parse_attrs(rec)[A_HANDLE][0])[0]


def repeated(payload, num):
    """Every value of repeated field num of a message."""
    return [v for n, v in parse_list(payload) if n == num]


def login(cluster, i, user_type, name, password):
    """A new TLS session to HSM i, logged in (asserts OK)."""
    s = connect(cluster, i)
    r = call(s, 1, LOGIN, login_body(user_type, name, password))
    assert r.get(2, 0) == 0, r
    return s


def find_all(s, template=b""):
    """Handles of every object the session sees (KeyFindReq paged with after)."""
    handles, after = [], 0
    for page in range(1000):
        r = call(s, 100 + page, KEY_FIND, field(1, template) + (field(2, after) if after else b""))
        assert r.get(2, 0) == 0, r
        body = r.get(23, b"")
        handles += [record_handle(rec) for rec in repeated(body, 1)]
        if not parse_fields(body).get(2, 0):
            return sorted(handles)
        after = handles[-1]
    raise AssertionError("KeyFind paging did not end")
