# SPDX-License-Identifier: Apache-2.0
"""Masked objects on the wire, as a client library (or an attacker holding a session) sees them:
a crypto user extracts a key's masked object from one HSM; a genuine one cannot be inserted twice
or rolled back; a tampered one (a flipped byte in the sealed material, in the attribute record
bound as AAD, a truncation) and one sealed by another cluster are refused with
OHSM_MASKED_OBJECT_INVALID, and none of them changes anything: the cluster stays in sync and the
key keeps its label.
"""
from test_cli import activate, as_admin, cli
import wire

MASKED_EXTRACT, MASKED_INSERT = 31, 32
RV_MASKED_INVALID, RV_OBJECT_EXISTS = 43, 44
CU = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "alice:alice-pass1",
      "OPENHSM_AUTO_REPAIR": "0"}


def prepare(cluster):
    activate(cluster)
    code, out, text = cli(cluster, "user", "create", "--username", "alice", "--role",
                          "crypto-user", "--password", "alice-pass1", **as_admin())
    assert code == 0, text
    code, out, text = cli(cluster, "key", "generate-symmetric", "aes", "--label", "sealed",
                          "--key-length-bytes", "32", **CU)
    assert code == 0, text
    return int(out["data"]["key"]["key-reference"], 16)


def session(cluster, i):
    s = wire.connect(cluster, i)
    r = wire.call(s, 1, wire.LOGIN, wire.login_body(3, "alice", "alice-pass1"))
    assert r.get(2, 0) == 0, r
    return s


def extract(cluster, i, handle):
    with session(cluster, i) as s:
        r = wire.call(s, 2, MASKED_EXTRACT, wire.field(1, handle))
        assert r.get(2, 0) == 0, r
        return wire.parse_fields(r[31])[1]


def insert(cluster, i, blob, replace):
    with session(cluster, i) as s:
        body = wire.field(1, blob) + (wire.field(2, 1) if replace else b"")
        return wire.call(s, 3, MASKED_INSERT, body).get(2, 0)


def unchanged(cluster, handle):
    code, out, text = cli(cluster, "cluster", "sync-status", **CU)
    assert code == 0 and out["data"]["in-sync"] is True, text
    code, out, text = cli(cluster, "key", "list", "--verbose", **CU)
    assert code == 0, text
    keys = out["data"]["matched_keys"]
    assert [(int(k["key-reference"], 16), k["attributes"]["label"]) for k in keys] == \
        [(handle, "sealed")], keys


def test_masked_object_tampering_is_refused(cluster, make_cluster):
    handle = prepare(cluster)
    blob = extract(cluster, 0, handle)
    assert blob[:4] == b"OHMO"
    assert b"sealed" in blob  # the record (label ...) travels in clear, bound as AAD

    # A genuine copy: not twice, and not as a "replacement" of the same version.
    assert insert(cluster, 1, blob, replace=False) == RV_OBJECT_EXISTS
    assert insert(cluster, 1, blob, replace=True) == RV_OBJECT_EXISTS

    label_at = blob.index(b"sealed")
    relabelled = blob[:label_at] + b"SEALED" + blob[label_at + 6:]
    material = bytearray(blob)
    material[-20] ^= 0x01  # inside the ciphertext
    tag = bytearray(blob)
    tag[-1] ^= 0x80
    for bad in (relabelled, bytes(material), bytes(tag), blob[:-1], blob[:40], b"OHMO"):
        for replace in (False, True):
            assert insert(cluster, 1, bad, replace) == RV_MASKED_INVALID
    unchanged(cluster, handle)

    # Sealed by another cluster (another masking key): refused too.
    other = make_cluster(hsms=1, name="other")
    foreign = extract(other, 0, prepare(other))
    assert insert(cluster, 1, foreign, replace=True) == RV_MASKED_INVALID
    assert insert(cluster, 0, foreign, replace=False) == RV_MASKED_INVALID
    unchanged(cluster, handle)
