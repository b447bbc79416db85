# SPDX-License-Identifier: Apache-2.0
"""Durability of openhsmd's KMS: kill -9 in the middle of a burst of CreateKey and Encrypt from 8
boto3 clients, restart on the same data dir, and everything that was answered is there: every
key whose CreateKey was answered exists, every ciphertext that was answered decrypts, and the
audit trail's hash chain verifies (`openhsmd events --verify`). A removed trail line is then
detected and named.
"""
import os
import signal
import subprocess
import threading

import botocore.config
import pytest
from botocore.exceptions import BotoCoreError, ClientError

from cloud import KEY_ID, SECRET, Cloud
from conftest import BIN, Cluster, gone, proc_stat, wait_for

THREADS = 8
KILL_AFTER = 240    # answered calls before the kill
PER_THREAD_MAX = 5000


def kms_client(cloud):
    import boto3
    return boto3.client("kms", endpoint_url=cloud.endpoint, region_name=cloud.region,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      connect_timeout=5, read_timeout=20))


def children(pid):
    """The pids whose parent is pid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st is not None and st[1] == pid:
                out.append(int(d))
    return out


def verify(data):
    r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(data), "--verify"],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_kill9_mid_burst_keeps_every_answered_key_and_ciphertext(tmp_path):
    data = tmp_path / "data"
    first = Cluster(data, hsms=1)
    try:
        cloud = Cloud(first)
        kc = kms_client(cloud)
        base = [kc.create_key(Description=f"base {i}")["KeyMetadata"]["KeyId"] for i in range(4)]
        lock = threading.Lock()
        keys, blobs, early, late = [], [], [], []
        killed = threading.Event()

        def worker(i):
            c = kms_client(cloud)
            for n in range(PER_THREAD_MAX):
                try:
                    if n % 3 == 0:
                        kid = c.create_key(Description=f"burst {i} {n}")["KeyMetadata"]["KeyId"]
                        with lock:
                            keys.append(kid)
                    else:
                        pt = os.urandom(24)
                        ctx = {"thread": str(i), "n": str(n)}
                        blob = c.encrypt(KeyId=base[n % 4], Plaintext=pt,
                                         EncryptionContext=ctx)["CiphertextBlob"]
                        with lock:
                            blobs.append((blob, pt, ctx))
                except (BotoCoreError, ClientError) as e:
                    with lock:
                        (late if killed.is_set() else early).append(repr(e))
                    return

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(THREADS)]
        for t in threads:
            t.start()
        wait_for(lambda: len(keys) + len(blobs) >= KILL_AFTER or early, 60,
                 f"{KILL_AFTER} answered calls")
        assert not early, early[:3]
        pid = first.proc.pid
        kids = children(pid)
        killed.set()
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: first.proc.poll() is not None, 20, "openhsmd killed")
        for t in threads:
            t.join(60)
            assert not t.is_alive(), "a client thread did not end"
        # Its HSM processes follow it (--exit-with-parent): wait until they are gone so the
        # restart gets their ports.
        for k in kids:
            wait_for(lambda k=k: gone(k), 30, f"child {k} of the killed openhsmd gone")
        with lock:
            keys_done, blobs_done = list(keys), list(blobs)
        assert not early, early[:3]
        # Every client was cut off mid-burst by the kill (none ran out of work).
        assert len(late) == THREADS, late
        assert len(keys_done) >= 10 and len(blobs_done) >= 10
    finally:
        first.stop()

    second = Cluster(data, hsms=1)
    try:
        cloud = Cloud(second)
        kc = kms_client(cloud)
        listed = set()
        marker = None
        for _ in range(100):
            out = kc.list_keys(Limit=1000, **({"Marker": marker} if marker else {}))
            listed |= {k["KeyId"] for k in out["Keys"]}
            if not out["Truncated"]:
                break
            marker = out["NextMarker"]
        missing = [k for k in base + keys_done if k not in listed]
        assert missing == [], f"{len(missing)} answered CreateKey lost, e.g. {missing[:3]}"
        for kid in keys_done[:50]:
            assert kc.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
        for blob, pt, ctx in blobs_done:
            assert kc.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == pt
        # The new process works: a new key, a new ciphertext.
        kid = kc.create_key()["KeyMetadata"]["KeyId"]
        blob = kc.encrypt(KeyId=kid, Plaintext=b"after")["CiphertextBlob"]
        assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after"
        rc, out = verify(data)
        assert rc == 0 and out.startswith("trail ok: "), out
        n_events = int(out.split()[2])
        assert n_events >= len(keys_done) + len(blobs_done)
    finally:
        second.stop()

    # Remove one line from the middle of the trail: --verify fails and names it.
    trail = data / "kms" / "trail.jsonl"
    lines = trail.read_bytes().splitlines(keepends=True)
    assert len(lines) == n_events
    cut = len(lines) // 2
    trail.write_bytes(b"".join(lines[:cut - 1] + lines[cut:]))
    rc, out = verify(data)
    assert rc == 1, out
    assert f"trail broken at line {cut}: chain mismatch" in out, out
    assert f"({cut - 1} good events before it)" in out, out


@pytest.mark.parametrize("edit", ["change", "append-garbage"])
def test_edited_trail_is_detected(tmp_path, edit):
    """An edited line or a line that is no trail line: --verify names the line."""
    data = tmp_path / "data"
    c = Cluster(data, hsms=1)
    try:
        kc = kms_client(Cloud(c))
        for i in range(5):
            kc.create_key(Description=f"k{i}")
    finally:
        c.stop()
    rc, out = verify(data)
    assert rc == 0, out
    trail = data / "kms" / "trail.jsonl"
    lines = trail.read_bytes().splitlines(keepends=True)
    n = len(lines)
    if edit == "change":
        assert b'"k2"' in b"".join(lines)
        i = next(j for j, line in enumerate(lines) if b'"k2"' in line)
        lines[i] = lines[i].replace(b'"k2"', b'"k9"')
        bad = i + 1
        why = "chain mismatch"
    else:
        lines.append(b'{"eventName":"CreateKey"}\n')
        bad = n + 1
        why = "not a trail line"
    trail.write_bytes(b"".join(lines))
    rc, out = verify(data)
    assert rc == 1 and f"trail broken at line {bad}: {why}" in out, out


def test_lost_trail_writes_come_back_from_the_write_ahead_log(tmp_path):
    """trail.jsonl is synced only at the write-ahead log's checkpoints (a clean stop is one); what
    a call needs on disk before its reply is its record in DIR/kms/trail.wal. Simulate what an OS
    crash can do after kill -9: trail.jsonl loses everything written since the last checkpoint.
    The next openhsmd writes it all back before it serves: every answered Encrypt's event is in
    the trail again, and the chain verifies."""
    data = tmp_path / "data"
    c = Cluster(data, hsms=1)
    try:
        kc = kms_client(Cloud(c))
        kid = kc.create_key()["KeyMetadata"]["KeyId"]
        kc.encrypt(KeyId=kid, Plaintext=b"before")
    finally:
        c.stop()
    trail = data / "kms" / "trail.jsonl"
    synced = trail.stat().st_size
    rc, out = verify(data)
    assert rc == 0, out
    before = int(out.split()[2])

    c = Cluster(data, hsms=1)
    try:
        kc = kms_client(Cloud(c))
        ids = [kc.encrypt(KeyId=kid, Plaintext=b"p%d" % i)["ResponseMetadata"]["RequestId"]
               for i in range(20)]
        pid = c.proc.pid
        kids = children(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: c.proc.poll() is not None, 20, "openhsmd killed")
        for k in kids:
            wait_for(lambda k=k: gone(k), 30, f"child {k} of the killed openhsmd gone")
    finally:
        c.stop()
    assert trail.stat().st_size > synced
    os.truncate(trail, synced)
    rc, out = verify(data)
    assert rc == 0 and int(out.split()[2]) == before, out

    c = Cluster(data, hsms=1)
    try:
        kms_client(Cloud(c)).list_keys()
    finally:
        c.stop()
    rc, out = verify(data)
    assert rc == 0, out
    assert int(out.split()[2]) >= before + 20 + 1, out
    r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(data), "--name",
                        "Encrypt"], capture_output=True, text=True, timeout=60, check=True)
    for rid in ids:
        assert f'"requestID":"{rid}"' in r.stdout, rid


def test_rotations_and_import_state_survive_kill9(tmp_path):
    """What rotation and import changed is on disk once answered: after kill -9 and a restart,
    every material version still decrypts its ciphertexts, ListKeyRotations is unchanged, a key
    whose imported material was deleted is PendingImport, and reimporting the same material
    brings its ciphertexts back. (RotateKeyOnDemand/ListKeyRotations: signed_call, newer than
    Debian's boto3.)"""
    from test_kms_life import call, do_import

    data = tmp_path / "data"
    first = Cluster(data, hsms=1)
    try:
        cloud = Cloud(first)
        kc = kms_client(cloud)
        rk = kc.create_key()["KeyMetadata"]["KeyId"]
        blobs = []
        for i in range(3):
            blobs.append(kc.encrypt(KeyId=rk, Plaintext=b"v%d" % i)["CiphertextBlob"])
            call(cloud, "RotateKeyOnDemand", {"KeyId": rk})
        rotations = call(cloud, "ListKeyRotations", {"KeyId": rk,
                                                     "IncludeKeyMaterial": "ALL_KEY_MATERIAL"})
        xk = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        material = os.urandom(32)
        do_import(kc, xk, material)
        xblob = kc.encrypt(KeyId=xk, Plaintext=b"imported")["CiphertextBlob"]
        kc.delete_imported_key_material(KeyId=xk)
        pid = first.proc.pid
        kids = children(pid)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: first.proc.poll() is not None, 20, "openhsmd killed")
        for k in kids:
            wait_for(lambda k=k: gone(k), 30, f"child {k} of the killed openhsmd gone")
    finally:
        first.stop()
    second = Cluster(data, hsms=1)
    try:
        cloud = Cloud(second)
        kc = kms_client(cloud)
        for i, blob in enumerate(blobs):
            assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"v%d" % i
        assert call(cloud, "ListKeyRotations", {"KeyId": rk,
                                                "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}) == \
            rotations
        m = kc.describe_key(KeyId=xk)["KeyMetadata"]
        assert m["KeyState"] == "PendingImport", m
        with pytest.raises(ClientError) as ei:
            kc.decrypt(CiphertextBlob=xblob)
        assert ei.value.response["Error"]["Code"] == "KMSInvalidStateException"
        do_import(kc, xk, material)
        assert kc.decrypt(CiphertextBlob=xblob)["Plaintext"] == b"imported"
        rc, out = verify(data)
        assert rc == 0, out
    finally:
        second.stop()
