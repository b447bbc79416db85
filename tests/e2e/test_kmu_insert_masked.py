# SPDX-License-Identifier: Apache-2.0
"""key_mgmt_util insertMaskedObject end to end: the key of a masked object (extractMaskedObject's
file) becomes a new key with a new handle on every HSM, owned by the inserting crypto user, and
works as the original does (aesWrapUnwrap with one handle, the other undoes it; both equal
`openssl enc -id-aes256-wrap` of the known material). The sync insert (same handle) is unchanged:
it still refuses the existing key. A deleted original does not block the insert. A tampered file,
a file of another cluster, a key the user only shares, or bad options are refused and create
nothing.
"""
import re
import subprocess

import golden
import test_masked
from test_golden_kmu import replay
from test_kmu import (KMU, OK, find, gen_aes, handle, im_aes, nodes, prepare, returned, single)

MATERIAL = bytes(range(100, 132))
DATA = bytes(range(0, 24))


def new_handle(out):
    m = re.search(r"^\tNew Key Handle: (\d+)$", out, re.M)
    assert m, out
    return int(m.group(1))


def extract(cluster, user, h, path):
    rc, out = single(cluster, user, "extractMaskedObject", "-o", h, "-out", path)
    assert rc == 0, out
    return path


def aes_wrap_unwrap(cluster, user, mode, h, tmp_path, data, name):
    """aesWrapUnwrap -m mode (1 wrap, 0 unwrap) with key h on data; the bytes written."""
    src = tmp_path / f"{name}.in"
    dst = tmp_path / f"{name}.out"
    src.write_bytes(data)
    rc, out = single(cluster, user, "aesWrapUnwrap", "-m", mode, "-f", src, "-w", h, "-out", dst)
    assert rc == 0, out
    return dst.read_bytes()


def aes_wrap(cluster, user, h, tmp_path, data, name):
    return aes_wrap_unwrap(cluster, user, 1, h, tmp_path, data, name)


def aes_unwrap(cluster, user, h, tmp_path, data, name):
    return aes_wrap_unwrap(cluster, user, 0, h, tmp_path, data, name)


def openssl_wrap(key, data):
    p = subprocess.run(["openssl", "enc", "-id-aes256-wrap", "-K", key.hex(), "-iv",
                        "A6A6A6A6A6A6A6A6"], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_golden_kmu_insert_masked_object(make_cluster, tmp_path):
    """The guide's example on three HSMs: a new handle, SUCCESS on every node."""
    c = make_cluster(hsms=3)
    prepare(c, "alice")
    rc, out = single(c, "alice", "genSymKey", "-t", 31, "-s", 32, "-l", "masked-golden")
    assert rc == 0, out
    h = handle(out)
    extract(c, "alice", h, tmp_path / "maskedObj")
    before = find(c, "alice")
    rc, out = replay(c, "alice", "kmu_insertMaskedObject", cwd=tmp_path)
    assert rc == 0, out
    new = new_handle(out.replace(" " * 8, "\t"))
    assert new != h and find(c, "alice") == sorted(before + [new])


def test_kmu_insert_masked_object_is_a_new_key_that_works(cluster, tmp_path):
    prepare(cluster, "alice")
    wrapper = gen_aes(cluster, "alice", "wrapper")
    orig = im_aes(cluster, "alice", tmp_path, MATERIAL, "known", wrapper)
    f = extract(cluster, "alice", orig, tmp_path / "masked")
    rc, out = single(cluster, "alice", "insertMaskedObject", "-f", f)
    assert rc == 0, out
    assert returned(out, "Cfm3InsertMaskedObject") == ("0x00", OK), out
    assert nodes(out) == {0: ("0x00000000", OK), 1: ("0x00000000", OK)}, out
    new = new_handle(out)
    assert new not in (orig, wrapper)
    # The same label (the record's attributes are kept), alice's own key on every HSM.
    rc, out = single(cluster, "alice", "findKey", "-l", "known")
    assert re.search(rf"\b{orig}\b", out) and re.search(rf"\b{new}\b", out), out
    rc, out = single(cluster, "alice", "getKeyInfo", "-k", new)
    assert rc == 0 and "Owned by user" in out, out
    # Encrypt (AES key wrap of data) with one, decrypt with the other; openssl agrees.
    w1 = aes_wrap(cluster, "alice", orig, tmp_path, DATA, "w1")
    w2 = aes_wrap(cluster, "alice", new, tmp_path, DATA, "w2")
    assert w1 == w2 == openssl_wrap(MATERIAL, DATA)
    assert aes_unwrap(cluster, "alice", new, tmp_path, w1, "u1") == DATA
    assert aes_unwrap(cluster, "alice", orig, tmp_path, w2, "u2") == DATA
    # Every HSM holds the new key, byte for byte the same sealed object.
    assert test_masked.extract(cluster, 0, new) == test_masked.extract(cluster, 1, new)
    # The sync insert (same handle) is unchanged: the key is already there.
    assert test_masked.insert(cluster, 0, f.read_bytes(), replace=False) == \
        test_masked.RV_OBJECT_EXISTS
    # A second insert of the same file makes another key.
    rc, out = single(cluster, "alice", "insertMaskedObject", "-f", f)
    assert rc == 0, out
    assert new_handle(out) not in (orig, new)


def test_kmu_insert_masked_object_after_the_original_is_deleted(cluster, tmp_path):
    """A deleted key's tombstone does not block the copy: it is a new key."""
    prepare(cluster, "alice")
    wrapper = gen_aes(cluster, "alice", "wrapper")
    orig = im_aes(cluster, "alice", tmp_path, MATERIAL, "gone", wrapper)
    f = extract(cluster, "alice", orig, tmp_path / "masked")
    rc, out = single(cluster, "alice", "deleteKey", "-k", orig)
    assert rc == 0, out
    rc, out = single(cluster, "alice", "insertMaskedObject", "-f", f)
    assert rc == 0, out
    new = new_handle(out)
    assert new != orig and orig not in find(cluster, "alice")
    assert aes_wrap(cluster, "alice", new, tmp_path, DATA, "w") == openssl_wrap(MATERIAL, DATA)


def test_kmu_insert_masked_object_refusals(cluster, make_cluster, tmp_path):
    ids = prepare(cluster, "alice", "bob")
    h = gen_aes(cluster, "alice", "mine")
    f = extract(cluster, "alice", h, tmp_path / "masked")
    before_a, before_b = find(cluster, "alice"), find(cluster, "bob")

    def refused(user, *args):
        rc, out = single(cluster, user, "insertMaskedObject", *args)
        assert rc != 0, out
        assert "New Key Handle" not in out, out
        return out

    # Tampered: a flipped byte anywhere.
    blob = f.read_bytes()
    for i in (10, len(blob) // 2, len(blob) - 1):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        (tmp_path / "bad").write_bytes(bytes(bad))
        out = refused("alice", "-f", tmp_path / "bad")
        assert returned(out, "Cfm3InsertMaskedObject")[0] != "0x00", out
    # Another cluster's masked object (another masking key).
    other = make_cluster(name="other")
    prepare(other, "alice")
    oh = gen_aes(other, "alice", "foreign")
    extract(other, "alice", oh, tmp_path / "foreign")
    out = refused("alice", "-f", tmp_path / "foreign")
    assert returned(out, "Cfm3InsertMaskedObject")[0] != "0x00", out
    # A key only shared with bob: he may extract it but gets no copy of his own.
    shared = gen_aes(cluster, "alice", "shared", "-u", ids["bob"])
    extract(cluster, "bob", shared, tmp_path / "shared")
    out = refused("bob", "-f", tmp_path / "shared")
    assert returned(out, "Cfm3InsertMaskedObject")[0] == "0xa8", out
    # Bad options: no file, an empty file, -min_srv above the cluster's HSMs, no -f.
    refused("alice", "-f", tmp_path / "missing")
    (tmp_path / "empty").write_bytes(b"")
    refused("alice", "-f", tmp_path / "empty")
    refused("alice", "-f", f, "-min_srv", 3)
    refused("alice")
    assert find(cluster, "alice") == sorted(before_a + [shared])
    assert find(cluster, "bob") == sorted(before_b + [shared])
