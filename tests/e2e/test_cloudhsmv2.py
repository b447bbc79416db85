"""openhsmd's CloudHSM v2 API through Debian's aws CLI and boto3: clusters, HSMs (real processes),
tags, the VPC subnets behind them, and fault injection. Every wait is a condition with a deadline.
"""
import datetime
import json
import os
import re
import signal
import socket
import subprocess

import pytest

from cloud import AwsError, Cloud, cloud, ctl, signed_call  # noqa: F401 (cloud: a fixture)
from conftest import BIN, Cluster, gone, wait_for, wait_port

CSV2 = "cloudhsmv2"


def hsm_state(c, cid, hid):
    for h in c.cluster_desc(cid)["Hsms"]:
        if h["HsmId"] == hid:
            return h["State"]
    return None


def wait_cluster_state(c, cid, state, timeout=30):
    return wait_for(lambda: c.cluster_desc(cid)["State"] == state or None, timeout,
                    f"cluster {cid} {state}")


def wait_hsm_state(c, cid, hid, state, timeout=40):
    return wait_for(lambda: hsm_state(c, cid, hid) == state or None, timeout,
                    f"HSM {hid} {state}")


def default_subnets(c, region=None):
    subs = c.aws("ec2", "describe-subnets", "--filters", "Name=default-for-az,Values=true",
                 region=region)["Subnets"]
    return {s["AvailabilityZone"]: s["SubnetId"] for s in subs}


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def hsm_port(c, cid, hid):
    """The port openhsmd gave the HSM (its metadata: an uninitialized cluster has no client.json
    for the tools yet)."""
    import sqlite3
    db = sqlite3.connect(f"file:{c.cluster.data / 'openhsmd.db'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT port FROM hsms WHERE id = ? AND cluster_id = ?",
                         (hid, cid)).fetchone()
    finally:
        db.close()
    return row[0] if row else None


def test_first_cluster_is_described_as_aws_shows_it(cloud):
    """The cluster of the first start, with its two HSMs in two AZs of the default VPC."""
    out = cloud.aws(CSV2, "describe-clusters")
    (cl,) = out["Clusters"]
    assert cl["ClusterId"] == cloud.cluster.cluster_id
    assert cl["State"] == "INITIALIZED" and cl["HsmType"] == "hsm1.medium"
    assert cl["BackupPolicy"] == "DEFAULT"
    assert cl["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "90"}
    subnets = default_subnets(cloud)
    assert cl["SubnetMapping"] == subnets and len(subnets) == 3
    vpcs = cloud.aws("ec2", "describe-vpcs")["Vpcs"]
    assert cl["VpcId"] == [v["VpcId"] for v in vpcs if v["IsDefault"]][0]
    assert cl["SecurityGroup"].startswith("sg-")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", cl["CreateTimestamp"])
    hsms = cl["Hsms"]
    assert [h["HsmId"] for h in hsms] == [h["id"] for h in cloud.cluster.cfg["hsms"]]
    assert {h["State"] for h in hsms} == {"ACTIVE"}
    assert len({h["AvailabilityZone"] for h in hsms}) == 2
    enis = {e["NetworkInterfaceId"]: e for e in
            cloud.aws("ec2", "describe-network-interfaces")["NetworkInterfaces"]}
    for h in hsms:
        assert h["SubnetId"] == subnets[h["AvailabilityZone"]]
        eni = enis[h["EniId"]]
        assert eni["PrivateIpAddress"] == h["EniIp"] and eni["SubnetId"] == h["SubnetId"]
        assert eni["RequesterManaged"] is True
    # boto3 reads the same thing.
    b = cloud.boto3(CSV2).describe_clusters()
    assert b["Clusters"][0]["ClusterId"] == cl["ClusterId"]
    assert isinstance(b["Clusters"][0]["CreateTimestamp"], datetime.datetime)


def test_cluster_and_hsm_lifecycle(cloud):
    subnets = default_subnets(cloud)
    azs = sorted(subnets)[:2]
    cl = cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                   *[subnets[a] for a in azs], "--tag-list", "Key=team,Value=blue")["Cluster"]
    cid = cl["ClusterId"]
    assert cl["State"] == "CREATE_IN_PROGRESS" and cl["Hsms"] == []
    assert cl["SubnetMapping"] == {a: subnets[a] for a in azs}
    assert cl["TagList"] == [{"Key": "team", "Value": "blue"}]
    wait_cluster_state(cloud, cid, "UNINITIALIZED")
    hsm = cloud.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
                    azs[1])["Hsm"]
    hid = hsm["HsmId"]
    assert hsm["State"] == "CREATE_IN_PROGRESS" and hsm["SubnetId"] == subnets[azs[1]]
    assert hsm["EniIp"].startswith("172.31.")
    wait_hsm_state(cloud, cid, hid, "ACTIVE")
    port = hsm_port(cloud, cid, hid)
    assert port is not None and listening(port)
    enis = cloud.aws("ec2", "describe-network-interfaces", "--network-interface-ids",
                     hsm["EniId"])["NetworkInterfaces"]
    assert enis[0]["PrivateIpAddress"] == hsm["EniIp"]
    # A cluster with an HSM cannot be deleted; the HSM's ENI cannot be deleted by a user.
    e = cloud.aws(CSV2, "delete-cluster", "--cluster-id", cid, check=False)
    assert e.code == "CloudHsmInvalidRequestException"
    e = cloud.aws("ec2", "delete-network-interface", "--network-interface-id", hsm["EniId"],
                  check=False)
    assert isinstance(e, AwsError)
    assert cloud.cluster_desc(cid)["State"] == "UNINITIALIZED"
    # Delete by ENI address, as the API allows.
    out = cloud.aws(CSV2, "delete-hsm", "--cluster-id", cid, "--eni-ip", hsm["EniIp"])
    assert out == {"HsmId": hid}
    wait_for(lambda: hsm_state(cloud, cid, hid) is None or None, 40, "HSM gone")
    wait_for(lambda: not listening(port) or None, 20, "HSM port closed")
    e = cloud.aws("ec2", "describe-network-interfaces", "--network-interface-ids",
                  hsm["EniId"], check=False)
    assert e.code == "InvalidNetworkInterfaceID.NotFound"
    assert not (cloud.cluster.data / "clusters" / cid / "hsms" / hid).exists()
    d = cloud.aws(CSV2, "delete-cluster", "--cluster-id", cid)["Cluster"]
    assert d["State"] == "DELETE_IN_PROGRESS"
    wait_for(lambda: cloud.aws(CSV2, "describe-clusters", "--filters",
                               f"clusterIds={cid}")["Clusters"][0]["State"] == "DELETED" or None,
             30, "cluster DELETED")
    assert not (cloud.cluster.data / "clusters" / cid).exists()
    assert cid not in [c["ClusterId"] for c in
                       cloud.aws(CSV2, "describe-clusters")["Clusters"]]


def test_requests_the_state_refuses_change_nothing(cloud):
    subnets = default_subnets(cloud)
    azs = sorted(subnets)
    cid = cloud.cluster.cluster_id

    def err(*args):
        e = cloud.aws(*args, check=False)
        assert isinstance(e, AwsError), e
        return e.code
    before = cloud.aws(CSV2, "describe-clusters")
    assert err(CSV2, "describe-clusters", "--filters", "bogus=1") == \
        "CloudHsmInvalidRequestException"
    assert err(CSV2, "delete-cluster", "--cluster-id", "cluster-aaaaaaaaaaa") == \
        "CloudHsmResourceNotFoundException"
    assert err(CSV2, "create-hsm", "--cluster-id", "cluster-aaaaaaaaaaa",
               "--availability-zone", azs[0]) == "CloudHsmResourceNotFoundException"
    # Two subnets in one AZ; a subnet that does not exist; retention out of range.
    vpc = cloud.aws("ec2", "describe-vpcs")["Vpcs"][0]["VpcId"]
    extra = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "172.31.200.0/24",
                      "--availability-zone", azs[0])["Subnet"]["SubnetId"]
    assert err(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
               subnets[azs[0]], extra) == "CloudHsmInvalidRequestException"
    assert err(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
               "subnet-0123456789abcdef0") == "CloudHsmInvalidRequestException"
    assert err(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
               subnets[azs[0]], "--backup-retention-policy", "Type=DAYS,Value=3") == \
        "CloudHsmInvalidRequestException"
    assert err(CSV2, "create-cluster", "--hsm-type", "hsm9.huge", "--subnet-ids",
               subnets[azs[0]]) == "CloudHsmInvalidRequestException"
    assert err(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
               subnets[azs[0]], "--source-backup-id", "backup-aaaaaaaaaaa") == \
        "CloudHsmResourceNotFoundException"
    # The first cluster maps all three AZs; an AZ of another region is not among them.
    assert err(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
               "us-west-2a") == "CloudHsmInvalidRequestException"
    assert err(CSV2, "delete-hsm", "--cluster-id", cid, "--hsm-id", "hsm-aaaaaaaaaaa") == \
        "CloudHsmResourceNotFoundException"
    assert err(CSV2, "delete-cluster", "--cluster-id", cid) == "CloudHsmInvalidRequestException"
    # HsmType of ModifyCluster is newer than Debian's CLI: sent signed by botocore's signer.
    st, body = signed_call(cloud, "BaldrApiService.ModifyCluster",
                           {"ClusterId": cid, "HsmType": "hsm2m.medium"})
    assert st == 400 and body["__type"] == "CloudHsmInvalidRequestException", body
    after = cloud.aws(CSV2, "describe-clusters")
    assert after == before
    # Another region sees no clusters of this one.
    assert cloud.aws(CSV2, "describe-clusters", region="us-west-2")["Clusters"] == []
    assert err(CSV2, "delete-cluster", "--cluster-id", cid, "--region", "us-west-2") == \
        "CloudHsmResourceNotFoundException"


def test_tags_and_retention(cloud):
    cid = cloud.cluster.cluster_id
    cloud.aws(CSV2, "tag-resource", "--resource-id", cid, "--tag-list", "Key=a,Value=1",
              "Key=b,Value=2")
    cloud.aws(CSV2, "tag-resource", "--resource-id", cid, "--tag-list", "Key=a,Value=3")
    assert cloud.aws(CSV2, "list-tags", "--resource-id", cid)["TagList"] == [
        {"Key": "a", "Value": "3"}, {"Key": "b", "Value": "2"}]
    page = cloud.boto3(CSV2).list_tags(ResourceId=cid, MaxResults=1)
    assert page["TagList"] == [{"Key": "a", "Value": "3"}] and page["NextToken"]
    page2 = cloud.boto3(CSV2).list_tags(ResourceId=cid, MaxResults=1,
                                        NextToken=page["NextToken"])
    assert page2["TagList"] == [{"Key": "b", "Value": "2"}] and "NextToken" not in page2
    cloud.aws(CSV2, "untag-resource", "--resource-id", cid, "--tag-key-list", "a", "zzz")
    assert cloud.aws(CSV2, "list-tags", "--resource-id", cid)["TagList"] == [
        {"Key": "b", "Value": "2"}]
    e = cloud.aws(CSV2, "tag-resource", "--resource-id", cid, "--tag-list",
                  "Key=aws:x,Value=1", check=False)
    assert e.code == "CloudHsmTagException"
    e = cloud.aws(CSV2, "list-tags", "--resource-id", "cluster-aaaaaaaaaaa", check=False)
    assert e.code == "CloudHsmResourceNotFoundException"
    many = [f"Key=k{i},Value=v" for i in range(50)]
    e = cloud.aws(CSV2, "tag-resource", "--resource-id", cid, "--tag-list", *many, check=False)
    assert e.code == "CloudHsmResourceLimitExceededException"
    assert cloud.aws(CSV2, "list-tags", "--resource-id", cid)["TagList"] == [
        {"Key": "b", "Value": "2"}]
    cl = cloud.aws(CSV2, "modify-cluster", "--cluster-id", cid, "--backup-retention-policy",
                   "Type=DAYS,Value=30")["Cluster"]
    assert cl["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "30"}
    assert cloud.cluster_desc(cid)["BackupRetentionPolicy"]["Value"] == "30"


def test_full_slash28_subnet_refuses_create_hsm(cloud):
    """AWS keeps 5 addresses of each subnet: a /28 holds 11 ENIs. 10 made by hand and one HSM
    fill it; the next HSM fails, and freeing one address lets it through."""
    vpc = [v for v in cloud.aws("ec2", "describe-vpcs")["Vpcs"] if v["IsDefault"]][0]["VpcId"]
    sub = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "172.31.100.0/28",
                    "--availability-zone", "us-east-1a")["Subnet"]
    assert sub["AvailableIpAddressCount"] == 11
    cl = cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                   sub["SubnetId"], "--backup-retention-policy", "Type=DAYS,Value=30")["Cluster"]
    assert cl["BackupRetentionPolicy"] == {"Type": "DAYS", "Value": "30"}
    cid = cl["ClusterId"]
    wait_cluster_state(cloud, cid, "UNINITIALIZED")
    enis = [cloud.aws("ec2", "create-network-interface", "--subnet-id",
                      sub["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"]
            for _ in range(10)]
    h = cloud.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
                  "us-east-1a")["Hsm"]
    assert h["EniIp"] == "172.31.100.14"  # the last usable address
    wait_hsm_state(cloud, cid, h["HsmId"], "ACTIVE")
    left = cloud.aws("ec2", "describe-subnets", "--subnet-ids", sub["SubnetId"])["Subnets"][0]
    assert left["AvailableIpAddressCount"] == 0
    e = cloud.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone", "us-east-1a",
                  check=False)
    assert e.code == "CloudHsmInvalidRequestException" and "free addresses" in e.stderr
    assert len(cloud.cluster_desc(cid)["Hsms"]) == 1
    cloud.aws("ec2", "delete-network-interface", "--network-interface-id", enis[0])
    h2 = cloud.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
                   "us-east-1a")["Hsm"]
    assert h2["EniIp"] == "172.31.100.4"
    wait_hsm_state(cloud, cid, h2["HsmId"], "ACTIVE")
    # A subnet with ENIs cannot go; once empty it can, and the cluster can no longer reach it.
    e = cloud.aws("ec2", "delete-subnet", "--subnet-id", sub["SubnetId"], check=False)
    assert e.code == "DependencyViolation"
    e = cloud.aws(CSV2, "delete-hsm", "--cluster-id", cid, "--hsm-id", h["HsmId"], "--eni-id",
                  h2["EniId"], check=False)
    assert e.code == "CloudHsmInvalidRequestException"  # exactly one of the three
    assert len(cloud.cluster_desc(cid)["Hsms"]) == 2
    cloud.aws(CSV2, "delete-hsm", "--cluster-id", cid, "--hsm-id", h["HsmId"])
    assert cloud.aws(CSV2, "delete-hsm", "--cluster-id", cid, "--eni-id",
                     h2["EniId"]) == {"HsmId": h2["HsmId"]}
    wait_for(lambda: cloud.cluster_desc(cid)["Hsms"] == [] or None, 40, "HSMs deleted")
    for eni in enis[1:]:
        cloud.aws("ec2", "delete-network-interface", "--network-interface-id", eni)
    cloud.aws("ec2", "delete-subnet", "--subnet-id", sub["SubnetId"])
    e = cloud.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone", "us-east-1a",
                  check=False)
    assert e.code == "CloudHsmInvalidRequestException" and "no longer exists" in e.stderr


def test_fault_injection_stop_pause(cloud):
    cid = cloud.cluster.cluster_id
    hid = cloud.cluster.cfg["hsms"][1]["id"]
    port = cloud.cluster.hsm_port(1)
    pid = cloud.cluster.hsm_process(1)
    r = ctl(cloud.cluster, "stop-hsm", hid)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"HsmId": hid, "State": "DEGRADED"}
    wait_for(lambda: gone(pid), 20, "HSM process gone")
    wait_port(port, up=False, timeout=5)
    assert hsm_state(cloud, cid, hid) == "DEGRADED"
    # The supervisor leaves it down: still down after its restart backoff would have passed.
    assert not listening(port)
    # CMU reports the stopped server as it reports an HSM down (#3), and works with the other.
    out = subprocess.run([str(BIN / "openhsm-cmu"), cloud.cluster.config],
                         input="loginHSM PRECO admin password\nlistUsers\ninfo server 1\n",
                         capture_output=True, text=True, timeout=60,
                         env=cloud.cluster.env()).stdout
    assert f"Failed to connect to server '127.0.0.1': hostname '127.0.0.1', port {port}" in out
    assert "loginHSM success on server 0(127.0.0.1)" in out
    assert "Users on server 0" in out and "Users on server 1" not in out
    assert re.search(r"^1\s+127\.0\.0\.1\s+127\.0\.0\.1\s+\d+\s+Disconnected\s", out, re.M), out
    r = ctl(cloud.cluster, "start-hsm", hid)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["State"] == "ACTIVE"
    assert listening(port)
    # Pause: the port still accepts, the HSM answers nothing; resume brings it back.
    r = ctl(cloud.cluster, "pause-hsm", hid)
    assert r.returncode == 0 and json.loads(r.stdout)["State"] == "DEGRADED", r.stdout
    r = ctl(cloud.cluster, "resume-hsm", hid)
    assert r.returncode == 0 and json.loads(r.stdout)["State"] == "ACTIVE", r.stdout
    # Bad input changes nothing.
    r = ctl(cloud.cluster, "stop-hsm", "hsm-aaaaaaaaaaa")
    assert r.returncode == 1 and "ResourceNotFoundException" in r.stdout
    r = ctl(cloud.cluster, "explode-hsm", hid)
    assert r.returncode == 2
    assert hsm_state(cloud, cid, hid) == "ACTIVE"


def hsm_pids(data):
    pids = []
    for f in data.glob("clusters/*/hsms/*/hsm.pid"):
        try:
            pids.append(int(f.read_text().strip()))
        except (OSError, ValueError):
            pass
    return pids


def kill9(c):
    """kill -9 openhsmd and wait until its HSMs (told by PR_SET_PDEATHSIG) are gone too."""
    pids = hsm_pids(c.data)
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait(10)
    for pid in pids:
        wait_for(lambda: gone(pid), 20, f"HSM process {pid} gone")
    c.stop()


def test_kill9_during_create_hsm_then_restart(tmp_path):
    """openhsmd killed right after CreateHsm recorded the HSM: the restart finishes it (an HSM
    is ACTIVE only with its process accepting), and nothing is left half made."""
    c = Cluster(tmp_path / "data", hsms=1)
    try:
        cl = Cloud(c)
        hsm = cl.aws(CSV2, "create-hsm", "--cluster-id", c.cluster_id, "--availability-zone",
                     "us-east-1c")["Hsm"]
    finally:
        kill9(c)
    c2 = Cluster(tmp_path / "data", hsms=1)
    try:
        cl = Cloud(c2)
        wait_hsm_state(cl, c2.cluster_id, hsm["HsmId"], "ACTIVE")
        assert listening(hsm_port(cl, c2.cluster_id, hsm["HsmId"]))
        enis = [e for e in cl.aws("ec2", "describe-network-interfaces")["NetworkInterfaces"]
                if e["RequesterManaged"]]
        assert sorted(e["NetworkInterfaceId"] for e in enis) == sorted(
            h["EniId"] for h in cl.cluster_desc(c2.cluster_id)["Hsms"])
    finally:
        c2.stop()


def test_restart_finishes_half_done_work(tmp_path):
    """The crash points of CreateHsm and DeleteHsm, set up exactly: openhsmd stopped with one HSM
    recorded CREATE_IN_PROGRESS whose certificate was never written, and one recorded
    DELETE_IN_PROGRESS. The restart makes the first ACTIVE (running) and the second DELETED
    (process, ENI and files gone); a cluster recorded CREATE_IN_PROGRESS becomes UNINITIALIZED."""
    import sqlite3
    c = Cluster(tmp_path / "data", hsms=2)
    cl = Cloud(c)
    subnets = default_subnets(cl)
    new = cl.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                 subnets["us-east-1a"])["Cluster"]["ClusterId"]
    wait_cluster_state(cl, new, "UNINITIALIZED")
    h0, h1 = c.cfg["hsms"][0]["id"], c.cfg["hsms"][1]["id"]
    eni1 = [h["EniId"] for h in cl.cluster_desc(c.cluster_id)["Hsms"] if h["HsmId"] == h1][0]
    c.stop()
    db = sqlite3.connect(c.data / "openhsmd.db")
    db.execute("UPDATE hsms SET state='CREATE_IN_PROGRESS' WHERE id=?", (h0,))
    db.execute("UPDATE hsms SET state='DELETE_IN_PROGRESS' WHERE id=?", (h1,))
    db.execute("UPDATE clusters SET state='CREATE_IN_PROGRESS' WHERE id=?", (new,))
    db.commit()
    db.close()
    (c.data / "clusters" / c.cluster_id / "hsms" / h0 / "hsm.crt").unlink()
    c2 = Cluster(tmp_path / "data", hsms=2)
    try:
        cl = Cloud(c2)
        wait_hsm_state(cl, c2.cluster_id, h0, "ACTIVE")
        wait_for(lambda: hsm_state(cl, c2.cluster_id, h1) is None or None, 40, "HSM 1 deleted")
        wait_cluster_state(cl, new, "UNINITIALIZED")
        assert listening(hsm_port(cl, c2.cluster_id, h0))
        assert not (c2.data / "clusters" / c2.cluster_id / "hsms" / h1).exists()
        e = cl.aws("ec2", "describe-network-interfaces", "--network-interface-ids", eni1,
                   check=False)
        assert e.code == "InvalidNetworkInterfaceID.NotFound"
        cfg = json.loads((c2.data / "clusters" / c2.cluster_id / "client.json").read_text())
        assert [h["id"] for h in cfg["hsms"]] == [h0]
    finally:
        c2.stop()


def test_bad_requests_get_aws_errors_and_change_nothing(make_cluster, tmp_path):
    """openhsmd with --credentials: unsigned, badly signed and unknown-key requests, unknown
    targets, malformed or mistyped JSON and an oversized body each get AWS's exception name and
    status, and the state is the same after them all."""
    creds = tmp_path / "creds"
    creds.write_text("[default]\naws_access_key_id = AKIDGOOD\n"
                     "aws_secret_access_key = goodsecretgoodsecretgoodsecret\n")
    creds.chmod(0o600)
    c = make_cluster(hsms=1, extra=["--credentials", str(creds)])
    cl = Cloud(c)
    cl.env = dict(cl.env, AWS_ACCESS_KEY_ID="AKIDGOOD",
                  AWS_SECRET_ACCESS_KEY="goodsecretgoodsecretgoodsecret")
    good = dict(key_id="AKIDGOOD", secret="goodsecretgoodsecretgoodsecret")
    before = cl.aws(CSV2, "describe-clusters")
    assert before["Clusters"][0]["ClusterId"] == c.cluster_id
    cid = c.cluster_id
    body = {"ClusterId": cid}
    # Signatures.
    e = cl.aws(CSV2, "delete-cluster", "--cluster-id", cid, "--no-sign-request", check=False)
    assert e.code == "MissingAuthenticationTokenException"
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", body, key_id="AKIDGOOD",
                        secret="wrong")
    assert (st, b["__type"]) == (400, "InvalidSignatureException")
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", body, key_id="AKIDNOPE",
                        secret="whatever")
    assert (st, b["__type"]) == (400, "UnrecognizedClientException")
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", body, signing_name="kms", **good)
    assert (st, b["__type"]) == (400, "InvalidSignatureException")
    # Targets and bodies.
    st, b = signed_call(cl, "BaldrApiService.Explode", body, **good)
    assert (st, b["__type"]) == (400, "UnknownOperationException")
    st, b = signed_call(cl, "NoSuchService.DescribeClusters", {}, **good)
    assert (st, b["__type"]) == (400, "UnknownOperationException")
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", None, raw=b'{"ClusterId": ', **good)
    assert (st, b["__type"]) == (400, "SerializationException")
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", None, raw=b"[1, 2]", **good)
    assert (st, b["__type"]) == (400, "SerializationException")
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", {"ClusterId": 5}, **good)
    assert (st, b["__type"]) == (400, "CloudHsmInvalidRequestException"), b
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", {"ClusterId": "cluster-!"}, **good)
    assert (st, b["__type"]) == (400, "CloudHsmInvalidRequestException"), b
    assert "failed to satisfy constraint" in b["message"]
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", {}, **good)
    assert (st, b["__type"]) == (400, "CloudHsmInvalidRequestException"), b
    # A body over 1 MiB is refused from its Content-Length, before it is read.
    host, port = cl.endpoint[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sk:
        sk.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                   b"X-Amz-Target: BaldrApiService.DescribeClusters\r\n"
                   b"Content-Length: 2000000\r\n\r\n{")
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sk.recv(4096)
            if not chunk:
                break
            reply += chunk
    head, _, rbody = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply
    assert json.loads(rbody)["__type"] == "CloudHsmInvalidRequestException"
    # Unknown ids and the wrong state.
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", {"ClusterId": "cluster-aaaaaaaaaaa"},
                        **good)
    assert (st, b["__type"]) == (400, "CloudHsmResourceNotFoundException")
    st, b = signed_call(cl, "BaldrApiService.InitializeCluster",
                        {"ClusterId": cid, "SignedCert": "x", "TrustAnchor": "y"}, **good)
    assert (st, b["__type"]) == (400, "CloudHsmInvalidRequestException")  # INITIALIZED already
    st, b = signed_call(cl, "BaldrApiService.DeleteCluster", body, **good)
    assert (st, b["__type"]) == (400, "CloudHsmInvalidRequestException")  # it has an HSM
    # EC2 with a bad signature.
    e = cl.aws("ec2", "describe-vpcs", "--no-sign-request", check=False)
    assert e.code == "MissingAuthenticationToken"
    assert cl.aws(CSV2, "describe-clusters") == before


def test_restart_after_a_backup_cut_short(tmp_path):
    """kill -9 in the middle of a backup, set up at its two points: the row recorded and the file
    whole (the backup becomes READY and restores), or the file partial with a temp file beside it
    (the backup becomes DELETED, no file, no temp file left)."""
    import sqlite3
    c = Cluster(tmp_path / "data", hsms=1)
    cl = Cloud(c)
    ids = []
    for _ in range(2):
        st, body = signed_call(cl, "OpenHsmAdmin.CreateBackup", {"ClusterId": c.cluster_id})
        assert st == 200, body
        ids.append(body["BackupId"])
    whole, partial = ids
    c.stop()
    bdir = c.data / "backups"
    data = (bdir / f"{partial}.bak").read_bytes()
    (bdir / f"{partial}.bak").write_bytes(data[: len(data) // 2])
    (bdir / f"{partial}.bak.tmp-Ab3dE9").write_bytes(b"half written")
    db = sqlite3.connect(c.data / "openhsmd.db")
    db.execute("UPDATE backups SET state='CREATE_IN_PROGRESS' WHERE id IN (?, ?)", (whole, partial))
    db.commit()
    db.close()
    c2 = Cluster(tmp_path / "data", hsms=1)
    try:
        cl = Cloud(c2)

        def states():
            got = {b["BackupId"]: b["BackupState"] for b in cl.aws(
                CSV2, "describe-backups", "--filters", f"backupIds={whole},{partial}")["Backups"]}
            return got if "CREATE_IN_PROGRESS" not in got.values() else None
        got = wait_for(states, 30, "backups settled")
        assert got == {whole: "READY", partial: "DELETED"}
        assert not (bdir / f"{partial}.bak").exists()
        assert not (bdir / f"{partial}.bak.tmp-Ab3dE9").exists()
        # The READY one restores: a cluster from it comes up with an HSM.
        subnet = default_subnets(cl)["us-east-1a"]
        cid = cl.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids", subnet,
                     "--source-backup-id", whole)["Cluster"]["ClusterId"]
        wait_cluster_state(cl, cid, "UNINITIALIZED")
        h = cl.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
                   "us-east-1a")["Hsm"]["HsmId"]
        wait_hsm_state(cl, cid, h, "ACTIVE")
        wait_cluster_state(cl, cid, "INITIALIZED")
    finally:
        c2.stop()


def test_pagination_and_filters(cloud):
    """DescribeClusters pages by MaxResults/NextToken (boto3's paginator and by hand) and filters
    by state and VPC; a bad token or MaxResults is refused."""
    subnets = default_subnets(cloud)
    made = [cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                      subnets["us-east-1a"])["Cluster"]["ClusterId"] for _ in range(3)]
    for cid in made:
        wait_cluster_state(cloud, cid, "UNINITIALIZED")
    b = cloud.boto3(CSV2)
    seen, token = [], None
    while True:
        kw = {"MaxResults": 1} | ({"NextToken": token} if token else {})
        page = b.describe_clusters(**kw)
        assert len(page["Clusters"]) == 1
        seen += [c["ClusterId"] for c in page["Clusters"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(made + [cloud.cluster.cluster_id])
    pages = list(b.get_paginator("describe_clusters").paginate(PaginationConfig={"PageSize": 2}))
    assert [len(p["Clusters"]) for p in pages] == [2, 2]
    uninit = b.describe_clusters(Filters={"states": ["UNINITIALIZED"]})["Clusters"]
    assert sorted(c["ClusterId"] for c in uninit) == sorted(made)
    vpc = b.describe_clusters()["Clusters"][0]["VpcId"]
    assert len(b.describe_clusters(Filters={"vpcIds": [vpc]})["Clusters"]) == 4
    assert b.describe_clusters(Filters={"vpcIds": ["vpc-00000000"]})["Clusters"] == []
    e = cloud.aws(CSV2, "describe-clusters", "--starting-token", "garbage", check=False)
    assert isinstance(e, AwsError)
    st, body = signed_call(cloud, "BaldrApiService.DescribeClusters", {"NextToken": "99"})
    assert (st, body["__type"]) == (400, "CloudHsmInvalidRequestException")
    st, body = signed_call(cloud, "BaldrApiService.DescribeClusters", {"MaxResults": 26})
    assert (st, body["__type"]) == (400, "CloudHsmInvalidRequestException")
    # Backups: filters by state, cluster and neverExpires; sorted either way.
    ids = []
    for _ in range(2):
        st, body = signed_call(cloud, "OpenHsmAdmin.CreateBackup",
                               {"ClusterId": cloud.cluster.cluster_id})
        ids.append(body["BackupId"])
    cloud.aws(CSV2, "modify-backup-attributes", "--backup-id", ids[1], "--never-expires")
    asc = b.describe_backups(SortAscending=True)["Backups"]
    desc = b.describe_backups()["Backups"]
    assert [x["BackupId"] for x in asc] == ids and [x["BackupId"] for x in desc] == ids[::-1]
    ne = b.describe_backups(Filters={"neverExpires": ["true"]})["Backups"]
    assert [x["BackupId"] for x in ne] == [ids[1]]
    assert b.describe_backups(Filters={"clusterIds": [made[0]]})["Backups"] == []
    assert b.describe_backups(Filters={"states": ["PENDING_DELETION"]})["Backups"] == []
    page = b.describe_backups(MaxResults=1, SortAscending=True)
    assert [x["BackupId"] for x in page["Backups"]] == [ids[0]] and page["NextToken"]
    # Tags on a backup.
    b.tag_resource(ResourceId=ids[0], TagList=[{"Key": "purpose", "Value": "drill"}])
    assert b.list_tags(ResourceId=ids[0])["TagList"] == [{"Key": "purpose", "Value": "drill"}]
    b.untag_resource(ResourceId=ids[0], TagKeyList=["purpose"])
    assert b.list_tags(ResourceId=ids[0])["TagList"] == []


def test_racing_requests_on_one_cluster(cloud):
    """Many connections at once on one cluster: 8 CreateHsm into a subnet with 5 free addresses
    give exactly 5 HSMs (distinct ids, addresses, ports and handle slots, all ACTIVE) and 3
    AWS errors; 8 DeleteHsm of one HSM delete it once; 8 DeleteBackup of one backup leave it
    PENDING_DELETION with 1 success. No request gets a 500."""
    import sqlite3
    import threading
    vpc = [v for v in cloud.aws("ec2", "describe-vpcs")["Vpcs"] if v["IsDefault"]][0]["VpcId"]
    sub = cloud.aws("ec2", "create-subnet", "--vpc-id", vpc, "--cidr-block", "172.31.110.0/28",
                    "--availability-zone", "us-east-1b")["Subnet"]["SubnetId"]
    for _ in range(6):
        cloud.aws("ec2", "create-network-interface", "--subnet-id", sub)
    cid = cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                    sub)["Cluster"]["ClusterId"]
    wait_cluster_state(cloud, cid, "UNINITIALIZED")

    def race(fn, n=8):
        results = [None] * n
        start = threading.Barrier(n)

        def one(i):
            start.wait()
            results[i] = fn(i)
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(120)
        return results

    def create(i):
        return signed_call(cloud, "BaldrApiService.CreateHsm",
                           {"ClusterId": cid, "AvailabilityZone": "us-east-1b"})
    got = race(create)
    ok = [b["Hsm"] for st, b in got if st == 200]
    bad = [b["__type"] for st, b in got if st != 200]
    assert len(ok) == 5 and bad == ["CloudHsmInvalidRequestException"] * 3, got
    assert len({h["HsmId"] for h in ok}) == 5 and len({h["EniIp"] for h in ok}) == 5
    for h in ok:
        wait_hsm_state(cloud, cid, h["HsmId"], "ACTIVE")
    db = sqlite3.connect(f"file:{cloud.cluster.data / 'openhsmd.db'}?mode=ro", uri=True)
    ids = [h["HsmId"] for h in ok]
    q = ",".join("?" * len(ids))
    ports = [r[0] for r in db.execute(f"SELECT port FROM hsms WHERE id IN ({q})", ids)]
    slots = [r[0] for r in db.execute(f"SELECT v FROM attrs WHERE k='slot' AND id IN ({q})", ids)]
    db.close()
    assert len(set(ports)) == 5 and len(set(slots)) == 5, (ports, slots)
    victim = ids[0]

    def delete(i):
        return signed_call(cloud, "BaldrApiService.DeleteHsm", {"ClusterId": cid, "HsmId": victim})
    got = race(delete)
    assert all(st in (200, 400) for st, _ in got), got
    assert [b for st, b in got if st == 200][0] == {"HsmId": victim}
    wait_for(lambda: hsm_state(cloud, cid, victim) is None or None, 60, "HSM deleted")
    left = cloud.aws("ec2", "describe-subnets", "--subnet-ids", sub)["Subnets"][0]
    assert left["AvailableIpAddressCount"] == 1  # 11 - 6 ENIs - 4 HSMs
    st, body = signed_call(cloud, "OpenHsmAdmin.CreateBackup", {"ClusterId":
                                                                 cloud.cluster.cluster_id})
    bid = body["BackupId"]

    def delete_backup(i):
        return signed_call(cloud, "BaldrApiService.DeleteBackup", {"BackupId": bid})
    got = race(delete_backup)
    assert sorted(st for st, _ in got) == [200] + [400] * 7, got
    assert {b["__type"] for st, b in got if st == 400} == {"CloudHsmInvalidRequestException"}
    b = cloud.aws(CSV2, "describe-backups", "--filters", f"backupIds={bid}")["Backups"][0]
    assert b["BackupState"] == "PENDING_DELETION"
