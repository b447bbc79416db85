"""CloudHSM key stores when the cluster itself goes wrong, each from its real cause, and the
guide's repairs: kmsuser missing (USER_NOT_FOUND), orphaned key material after a deletion the
store could not carry out (the DeleteKey event's FAILURE, then the manual deleteKey of the guide),
key material deleted from the cluster (a failing key) and recovered from a backup through a new
cluster (update-custom-key-store --cloud-hsm-cluster-id), a full subnet
(INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET), no HSM left (INSUFFICIENT_CLOUDHSM_HSMS), the cluster
deleted (CLUSTER_NOT_FOUND), a subnet deleted (SUBNET_NOT_FOUND), a damaged client configuration
(INTERNAL_ERROR), HSMs without free sessions, and kill -9 of openhsmd while connected.
"""
import json
import re
import signal
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from cloud import signed_call
from conftest import Cluster, gone, wait_for
from test_cloud_lifecycle import CSV2, ApiCluster, backups, wait_hsm, wait_state
from test_cmu import ADMIN_PW, activate, cmu, create, login_as
from test_kms_cks_conn import KmuSession, Store
from test_kmu import KMU

DAY = 86400


def advance(cloud, seconds):
    st, body = signed_call(cloud, "OpenHsmAdmin.AdvanceClock", {"Seconds": seconds})
    assert st == 200, body


def kmu_script(env, script):
    p = subprocess.run([str(KMU)], input=script, capture_output=True, text=True, timeout=120,
                       env=env)
    return p.returncode, p.stdout + p.stderr


def found_handles(out):
    """The handles findKey printed."""
    m = re.search(r"number of keys matched from start index 0::\d+\n([\d, ]+)\n", out)
    return [int(x) for x in m.group(1).split(",")] if m else []


def trail(data):
    return [json.loads(x) for x in (data / "kms" / "trail.jsonl").read_text().splitlines()]


def delete_events(data, kid):
    return [e for e in trail(data) if e.get("eventName") == "DeleteKey" and
            e.get("eventType") == "AwsServiceEvent" and kid in json.dumps(e)]


def cmu_env(env, script):
    p = subprocess.run([str(KMU).replace("openhsm-kmu", "openhsm-cmu")], input=script,
                       capture_output=True, text=True, timeout=120, env=env)
    return p.stdout + p.stderr


def co_set_password(env, pw, n_hsms):
    out = cmu_env(env, login_as("admin", ADMIN_PW) + f"changePswd CU kmsuser {pw}\ny\n"
                  "logoutHSM\nquit\n")
    assert out.count("changePswd success on server") == n_hsms, \
        out + cmu_env(env, "listUsers\nquit\n")


@pytest.fixture
def ks(tmp_path):
    c = Cluster(tmp_path / "data", hsms=2)
    try:
        activate(c)
        s = Store(c)
        wait_for(lambda: s.cloud.cluster_desc(s.cid)["State"] == "ACTIVE" or None, 60,
                 "cluster ACTIVE")
        s.sid = s.kms.create_custom_key_store(
            CustomKeyStoreName="recover", CloudHsmClusterId=s.cid,
            TrustAnchorCertificate=s.anchor, KeyStorePassword="kmsuserPass1")["CustomKeyStoreId"]
        yield s
    finally:
        c.stop()


def test_orphaned_material_failing_keys_and_recovery(ks):
    s = ks
    # USER_NOT_FOUND: there is no kmsuser yet.
    s.connect("FAILED", "USER_NOT_FOUND")
    s.disconnect()
    cmu(s.c, login_as("admin", ADMIN_PW) + create("CU", "kmsuser", "kmsuserPass1") + "quit\n")
    s.connect()

    k_keep = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]
    ct_keep = s.kms.encrypt(KeyId=k_keep["KeyId"], Plaintext=b"keep")["CiphertextBlob"]
    k_gone = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]
    ct_gone = s.kms.encrypt(KeyId=k_gone["KeyId"], Plaintext=b"gone")["CiphertextBlob"]
    k_ok = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]["KeyId"]
    k_orphan = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]
    # A backup made while every key exists: deleting an HSM leaves one (then add it back).
    h2 = s.c.cfg["hsms"][1]["id"]
    before = {b["BackupId"] for b in backups(s.cloud, s.cid)}
    s.cloud.aws(CSV2, "delete-hsm", "--cluster-id", s.cid, "--hsm-id", h2)

    def new_backup():
        got = [b for b in backups(s.cloud, s.cid) if b["BackupId"] not in before]
        return got[0] if got and got[0]["BackupState"] == "READY" else None
    bid = wait_for(new_backup, 60, "the deleted HSM's backup READY")["BackupId"]
    new_h = s.cloud.aws(CSV2, "create-hsm", "--cluster-id", s.cid, "--availability-zone",
                        "us-east-1b")["Hsm"]["HsmId"]
    wait_hsm(s.cloud, s.cid, new_h)
    api = ApiCluster(s.cloud, s.cid)

    # Deletion while connected: the backing key goes too (SUCCESS).
    s.kms.schedule_key_deletion(KeyId=k_ok, PendingWindowInDays=7)
    advance(s.cloud, 8 * DAY)
    (ev,) = wait_for(lambda: delete_events(s.c.data, k_ok) or None, 30, "DeleteKey event")
    add = ev["additionalEventData"]
    assert add["customKeyStoreId"] == s.sid and add["clusterId"] == s.cid
    st = json.loads(add["backingKeysDeletionStatus"])
    assert [x["deletionStatus"] for x in st] == ["SUCCESS"]

    # Deletion while disconnected: FAILURE, the material stays: orphaned.
    s.kms.schedule_key_deletion(KeyId=k_orphan["KeyId"], PendingWindowInDays=7)
    s.disconnect()
    advance(s.cloud, 8 * DAY)
    (ev,) = wait_for(lambda: delete_events(s.c.data, k_orphan["KeyId"]) or None, 30,
                     "DeleteKey event")
    add = ev["additionalEventData"]
    keys = json.loads(add["backingKeys"])
    st = json.loads(add["backingKeysDeletionStatus"])
    assert [x["deletionStatus"] for x in st] == ["FAILURE"]
    handle = keys[0]["keyHandle"]
    assert st[0]["keyHandle"] == handle and st[0]["backingKeyId"] == keys[0]["backingKeyId"]

    # The guide's manual procedure: a temporary password, kmsuser finds and deletes the key.
    env = api.env()
    co_set_password(env, "tempPassw0rd", 2)
    rc, out = kmu_script(env, "loginHSM -u CU -s kmsuser -p tempPassw0rd\n"
                         f"findKey -l {k_orphan['Arn']}\n"
                         f"deleteKey -k {handle}\nlogoutHSM\nexit\n")
    assert rc == 0, out
    assert "Total number of keys present 1" in out and found_handles(out) == [int(handle)], out
    assert "Cfm3DeleteKey returned: 0x00 : HSM Return: SUCCESS" in out, out
    assert "Cluster Error Status" in out
    assert "Node id 0 and err state 0x00000000 : HSM Return: SUCCESS" in out, out
    assert "Node id 1 and err state 0x00000000 : HSM Return: SUCCESS" in out, out
    s.kms.update_custom_key_store(CustomKeyStoreId=s.sid, KeyStorePassword="tempPassw0rd")
    s.connect()

    # A failing key: its material deleted from the cluster behind KMS's back.
    s.disconnect()
    co_set_password(env, "tempPassw0rd2", 2)
    rc, out = kmu_script(env, "loginHSM -u CU -s kmsuser -p tempPassw0rd2\n"
                         f"findKey -l {k_gone['Arn']}\nlogoutHSM\nexit\n")
    handles = found_handles(out)
    assert rc == 0 and len(handles) == 1, out
    h_gone = handles[0]
    rc, out = kmu_script(env, "loginHSM -u CU -s kmsuser -p tempPassw0rd2\n"
                         f"deleteKey -k {h_gone}\nlogoutHSM\nexit\n")
    assert rc == 0 and "HSM Return: SUCCESS" in out, out
    s.kms.update_custom_key_store(CustomKeyStoreId=s.sid, KeyStorePassword="tempPassw0rd2")
    s.connect()
    assert s.key_state(k_gone["KeyId"]) == "Enabled"  # AWS: Enabled, CONNECTED, and failing
    for fn, kw in ((s.kms.encrypt, {"KeyId": k_gone["KeyId"], "Plaintext": b"x"}),
                   (s.kms.decrypt, {"CiphertextBlob": ct_gone})):
        with pytest.raises(ClientError) as e:
            fn(**kw)
        assert e.value.response["Error"]["Code"] == "KMSInvalidStateException"
    assert s.kms.decrypt(CiphertextBlob=ct_keep)["Plaintext"] == b"keep"

    # Recovery (the guide): a cluster from the backup made while the key existed, on two small
    # subnets of a VPC of its own; at first one subnet is full: INSUFFICIENT_FREE_ADDRESSES.
    vpc = s.cloud.aws("ec2", "create-vpc", "--cidr-block", "10.9.0.0/16")["Vpc"]["VpcId"]
    sa = s.cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.1.0/28",
                     "--availability-zone", "us-east-1a")["Subnet"]["SubnetId"]
    sb = s.cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "10.9.2.0/28",
                     "--availability-zone", "us-east-1b")["Subnet"]["SubnetId"]
    assert bid in [b["BackupId"] for b in
                   s.cloud.aws(CSV2, "describe-backups", "--filters",
                               f"clusterIds={s.cid}")["Backups"]]
    cid2 = s.cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids", sa,
                       sb, "--source-backup-id", bid)["Cluster"]["ClusterId"]
    wait_state(s.cloud, cid2, "UNINITIALIZED")
    hs = [s.cloud.aws(CSV2, "create-hsm", "--cluster-id", cid2, "--availability-zone",
                      az)["Hsm"]["HsmId"] for az in ("us-east-1a", "us-east-1b")]
    for h in hs:
        wait_hsm(s.cloud, cid2, h)
    wait_state(s.cloud, cid2, "ACTIVE")
    api2 = ApiCluster(s.cloud, cid2)
    co_set_password(api2.env(), "recovered123", 2)
    s.disconnect()
    e = s.err(s.kms.update_custom_key_store, CustomKeyStoreId=s.sid,
              CloudHsmClusterId="cluster-aaaaaaaaaaa")
    assert e[0] == "CloudHsmClusterNotFoundException", e
    s.kms.update_custom_key_store(CustomKeyStoreId=s.sid, CloudHsmClusterId=cid2,
                                  KeyStorePassword="recovered123")
    free = s.cloud.aws("ec2", "describe-subnets", "--subnet-ids", sa)["Subnets"][0][
        "AvailableIpAddressCount"]
    enis = [s.cloud.aws("ec2", "create-network-interface", "--subnet-id", sa)[
        "NetworkInterface"]["NetworkInterfaceId"] for _ in range(free)]
    s.connect("FAILED", "INSUFFICIENT_FREE_ADDRESSES_IN_SUBNET")
    s.cloud.aws("ec2", "delete-network-interface", "--network-interface-id", enis[0])
    s.disconnect()
    s.connect()
    # The material is back: the old ciphertext decrypts; the kept key still works.
    assert s.kms.decrypt(CiphertextBlob=ct_gone)["Plaintext"] == b"gone"
    assert s.kms.decrypt(CiphertextBlob=ct_keep)["Plaintext"] == b"keep"
    described = s.kms.describe_key(KeyId=k_gone["KeyId"])["KeyMetadata"]
    assert described["CloudHsmClusterId"] == cid2 and described["KeyState"] == "Enabled"
    # KMS's network for the connection: the group kms-<store id> and one ENI per subnet.
    enis = [e for e in s.cloud.aws("ec2", "describe-network-interfaces")["NetworkInterfaces"]
            if e["Description"] == f"KMS managed ENI for cluster {cid2}"]
    assert sorted(e["SubnetId"] for e in enis) == sorted([sa, sb]), enis
    assert all([g["GroupName"] for g in e["Groups"]] == [f"kms-{s.sid}"] for e in enis), enis

    # No HSM left: INSUFFICIENT_CLOUDHSM_HSMS (and, while connected, keys fail).
    for h in hs:
        s.cloud.aws(CSV2, "delete-hsm", "--cluster-id", cid2, "--hsm-id", h)
    wait_for(lambda: s.cloud.cluster_desc(cid2)["Hsms"] == [] or None, 60, "HSMs deleted")
    e = s.err(s.kms.encrypt, KeyId=k_keep["KeyId"], Plaintext=b"x")
    assert e[0] == "KMSInvalidStateException", e
    s.disconnect()
    s.connect("FAILED", "INSUFFICIENT_CLOUDHSM_HSMS")
    s.disconnect()

    # The cluster deleted: CLUSTER_NOT_FOUND; back to the first cluster (same lineage).
    s.cloud.aws(CSV2, "delete-cluster", "--cluster-id", cid2)
    wait_for(lambda: _cluster_gone(s.cloud, cid2), 60, "cluster deleted")
    s.connect("FAILED", "CLUSTER_NOT_FOUND")
    s.disconnect()
    co_set_password(env, "firstAgain12", 2)
    s.kms.update_custom_key_store(CustomKeyStoreId=s.sid, CloudHsmClusterId=s.cid,
                                  KeyStorePassword="firstAgain12")
    s.connect()
    assert s.kms.decrypt(CiphertextBlob=ct_keep)["Plaintext"] == b"keep"

    # A subnet of the cluster deleted while disconnected: SUBNET_NOT_FOUND.
    s.disconnect()
    desc = s.cloud.cluster_desc(s.cid)
    used = {h["SubnetId"] for h in desc["Hsms"]}
    spare = [sn for sn in desc["SubnetMapping"].values() if sn not in used]
    assert spare, desc["SubnetMapping"]
    s.cloud.aws("ec2", "delete-subnet", "--subnet-id", spare[0])
    s.connect("FAILED", "SUBNET_NOT_FOUND")
    s.disconnect()


def _cluster_gone(cloud, cid):
    try:
        st = cloud.cluster_desc(cid)["State"]
    except Exception:  # noqa: BLE001 - gone from the list
        return True
    return st == "DELETED" or None


def test_internal_error_sessions_and_kill9(tmp_path):
    """INTERNAL_ERROR from a damaged client configuration; HSMs without free sessions answer
    KMSInternalException (retryable); kill -9 of openhsmd while CONNECTED: the restarted one
    reconnects with the password it rotated to, no key lost."""
    data = tmp_path / "data"
    c = Cluster(data, hsms=2, extra=["--max-sessions", "6"])
    try:
        activate(c)
        cmu(c, login_as("admin", ADMIN_PW) + create("CU", "kmsuser", "kmsuserPass1") +
            create("CU", "alice", "alicePass1") + "quit\n")
        s = Store(c)
        wait_for(lambda: s.cloud.cluster_desc(s.cid)["State"] == "ACTIVE" or None, 60, "ACTIVE")
        s.sid = s.kms.create_custom_key_store(
            CustomKeyStoreName="s", CloudHsmClusterId=s.cid, TrustAnchorCertificate=s.anchor,
            KeyStorePassword="kmsuserPass1")["CustomKeyStoreId"]
        cfg = c.cluster_dir / "client.json"
        good = cfg.read_text()
        cfg.write_text("{ damaged")
        s.connect("FAILED", "INTERNAL_ERROR")
        cfg.write_text(good)
        s.disconnect()
        s.connect()
        kid = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"][
            "KeyId"]
        ct = s.kms.encrypt(KeyId=kid, Plaintext=b"s")["CiphertextBlob"]
        # Both HSMs restarted (KMS's sessions gone), then every session slot taken by alice.
        c.kill_hsm(0)
        c.kill_hsm(1)
        holders = []
        try:
            for _ in range(6):
                holders.append(KmuSession(c, "alice", "alicePass1"))
            e = s.err(s.kms.decrypt, CiphertextBlob=ct)
            assert e[0] == "KMSInternalException" and "sessions" in e[1], e
        finally:
            for h in holders:
                h.close()
        got = wait_for(lambda: _ok(lambda: s.kms.decrypt(CiphertextBlob=ct)), 60, "decrypt")
        assert got["Plaintext"] == b"s"
        # kill -9 openhsmd while CONNECTED.
        pid = c.proc.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: c.proc.poll() is not None, 20, "openhsmd killed")
        for i in range(2):
            wait_for(lambda i=i: gone(c.hsm_pid(i)), 30, "HSM gone")
    finally:
        c.stop()
    c2 = Cluster(data, hsms=2, extra=["--max-sessions", "6"])
    try:
        s2 = Store(c2)
        s2.sid = s.sid
        s2.wait("CONNECTED", timeout=90)
        got = wait_for(lambda: _ok(lambda: s2.kms.decrypt(CiphertextBlob=ct)), 60, "decrypt")
        assert got["Plaintext"] == b"s"
        s2.disconnect()
        s2.connect()  # the password openhsmd rotated to is still known
        # kill -9 while CONNECTING: the HSMs hang (SIGSTOP), so the connection waits on them.
        s2.disconnect()
        c2.pause_hsm(0)
        c2.pause_hsm(1)
        s2.kms.connect_custom_key_store(CustomKeyStoreId=s2.sid)
        assert s2.state() == ("CONNECTING", None)
        kids = [c2.hsm_pid(0), c2.hsm_pid(1)]
        os.kill(c2.proc.pid, signal.SIGKILL)
        wait_for(lambda: c2.proc.poll() is not None, 20, "openhsmd killed")
        c2.resume_hsm(0)  # their SIGTERM (the parent died) is delivered now
        c2.resume_hsm(1)
        for k in kids:
            wait_for(lambda k=k: gone(k), 30, "HSM gone")
    finally:
        c2.stop()
    c3 = Cluster(data, hsms=2, extra=["--max-sessions", "6"])
    try:
        s3 = Store(c3)
        s3.sid = s.sid
        s3.wait("CONNECTED", timeout=90)  # the restarted openhsmd carried the connect on
        got = wait_for(lambda: _ok(lambda: s3.kms.decrypt(CiphertextBlob=ct)), 60, "decrypt")
        assert got["Plaintext"] == b"s"
    finally:
        c3.stop()


def _ok(fn):
    try:
        return fn()
    except ClientError:
        return None
