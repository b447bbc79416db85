"""CloudHSM key stores in openhsmd's KMS through the tools users run: Debian's aws CLI (2.9.19 has
all six commands) and boto3, on clusters made as the guide's prerequisites say (ckslib). Create,
describe (id, name, all, pages), update (name, password, a cluster of the same backup lineage),
delete; every refusal with AWS's exception and nothing changed (describe shows the same after);
the password in no response and not in the audit trail. Connections are test_kms_cks_conn.py's.

Bounds the client checks itself (KeyStorePassword 7-32, the cluster id pattern, ...) go raw
through botocore's signer (cloud.signed_call) so the server's own checks are what is tested.
"""
import json
import subprocess

import pytest

from ckslib import (KMSUSER_PW, cks_cloud, cluster_from_backup,  # noqa: F401 (fixtures)
                    make_ready_cluster, ready)
from cloud import signed_call
from conftest import BIN, wait_for

NOBODY = "cks-11111111111111111"
NO_CLUSTER = "cluster-zzzzzzzzzzz"


def kms_raw(cloud, op, body):
    """TrentService.op signed by botocore, past the client's own validation: (status, body)."""
    return signed_call(cloud, f"TrentService.{op}", body, signing_name="kms")


def describe_all(cloud):
    return cloud.aws("kms", "describe-custom-key-stores")["CustomKeyStores"]


def refused(cloud, code, *args):
    """aws kms ARGS fails with code and changes no store."""
    before = describe_all(cloud)
    e = cloud.aws("kms", *args, check=False)
    assert getattr(e, "code", None) == code, e
    assert KMSUSER_PW not in e.stderr
    assert describe_all(cloud) == before
    return e


def refused_raw(cloud, code, op, body):
    before = describe_all(cloud)
    st, out = kms_raw(cloud, op, body)
    assert st == 400 and out["__type"] == code, (st, out)
    assert KMSUSER_PW not in json.dumps(out)
    assert describe_all(cloud) == before
    return out


def create_args(name, cluster, anchor_file, pw=KMSUSER_PW):
    return ["create-custom-key-store", "--custom-key-store-name", name,
            "--cloud-hsm-cluster-id", cluster, "--trust-anchor-certificate",
            f"file://{anchor_file}", "--key-store-password", pw]


def anchor_file(r):
    return r.ca_dir / "customerCA.crt"


@pytest.fixture(scope="module")
def with_view(ready):
    """ready's cluster (the name says KMS sees it through openhsmd's control plane)."""
    return ready


@pytest.fixture(scope="module")
def twin(cks_cloud, with_view):
    return cluster_from_backup(cks_cloud, with_view)


@pytest.fixture(scope="module")
def other(cks_cloud, with_view, tmp_path_factory):
    return make_ready_cluster(cks_cloud, tmp_path_factory.mktemp("otherpki"))


# ---- without clusters ----

def test_bad_requests_change_nothing(cks_cloud):
    c = cks_cloud
    # the request's own fields, as the server checks them
    refused(c, "ValidationException", "create-custom-key-store", "--custom-key-store-name", "n",
            "--trust-anchor-certificate", "x", "--key-store-password", KMSUSER_PW)
    e = refused(c, "ValidationException", "create-custom-key-store", "--custom-key-store-name",
                "n", "--cloud-hsm-cluster-id", NO_CLUSTER, "--trust-anchor-certificate", "x")
    assert "KeyStorePassword" in e.stderr
    refused(c, "UnsupportedOperationException", "create-custom-key-store",
            "--custom-key-store-name", "xks", "--custom-key-store-type", "EXTERNAL_KEY_STORE",
            "--xks-proxy-connectivity", "PUBLIC_ENDPOINT", "--xks-proxy-uri-endpoint",
            "https://myproxy.xks.example.com", "--xks-proxy-uri-path", "/kms/xks/v1",
            "--xks-proxy-authentication-credential",
            "AccessKeyId=ABCDEFGHIJKLMNOPQRST,"
            "RawSecretAccessKey=DXjSUawnel2fr6SKC7G25CNxTyWKE5PF9XX6H/u9pSo=")
    good = {"CustomKeyStoreName": "n", "CloudHsmClusterId": NO_CLUSTER,
            "TrustAnchorCertificate": "x", "KeyStorePassword": KMSUSER_PW}
    for field, value in (("KeyStorePassword", "short"), ("KeyStorePassword", "x" * 33),
                         ("CloudHsmClusterId", "cluster-1"), ("CustomKeyStoreName", "n" * 257),
                         ("TrustAnchorCertificate", "")):
        refused_raw(c, "ValidationException", "CreateCustomKeyStore", {**good, field: value})
    refused_raw(c, "ValidationException", "UpdateCustomKeyStore",
                {"CustomKeyStoreId": NOBODY, "KeyStorePassword": "short"})
    # unknown ids and names
    for cmd in ("connect-custom-key-store", "disconnect-custom-key-store",
                "delete-custom-key-store", "describe-custom-key-stores"):
        refused(c, "CustomKeyStoreNotFoundException", cmd, "--custom-key-store-id", NOBODY)
    refused(c, "CustomKeyStoreNotFoundException", "update-custom-key-store",
            "--custom-key-store-id", NOBODY, "--new-custom-key-store-name", "x")
    refused(c, "CustomKeyStoreNotFoundException", "describe-custom-key-stores",
            "--custom-key-store-name", "none-such")
    refused(c, "ValidationException", "describe-custom-key-stores", "--custom-key-store-id",
            NOBODY, "--custom-key-store-name", "none-such")
    refused(c, "InvalidMarkerException", "describe-custom-key-stores", "--marker", "bogus")
    # an unknown cluster
    f = c.cluster.data.parent / "anchor.pem"
    f.write_text("not a certificate")
    refused(c, "CloudHsmClusterNotFoundException", *create_args("n", NO_CLUSTER, f))
    # boto3 sees the same
    import botocore.exceptions
    kms = c.boto3("kms")
    with pytest.raises(botocore.exceptions.ClientError) as ei:
        kms.connect_custom_key_store(CustomKeyStoreId=NOBODY)
    assert ei.value.response["Error"]["Code"] == "CustomKeyStoreNotFoundException"
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_password_not_in_trail(cks_cloud):
    c = cks_cloud
    secret = "Tr41lSecretPw"
    f = c.cluster.data.parent / "anchor2.pem"
    f.write_text("x")
    c.aws("kms", *create_args("trail", NO_CLUSTER, f, pw=secret), check=False)
    c.aws("kms", "update-custom-key-store", "--custom-key-store-id", NOBODY,
          "--key-store-password", secret, check=False)
    data = c.cluster.data

    def events():
        r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(data), "--name",
                            "CreateCustomKeyStore"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        evs = [json.loads(x) for x in r.stdout.splitlines()]
        return [e for e in evs if e["requestParameters"].get("customKeyStoreName") == "trail"]
    (ev,) = wait_for(lambda: events() or None, 30, "the CreateCustomKeyStore event")
    assert ev["errorCode"] == "CloudHsmClusterNotFoundException"
    assert "keyStorePassword" not in ev["requestParameters"]
    assert ev["requestParameters"]["cloudHsmClusterId"] == NO_CLUSTER
    for name in ("trail.jsonl", "trail.wal"):
        p = data / "kms" / name
        if p.exists():
            assert secret.encode() not in p.read_bytes(), name


# ---- with clusters ----

def entry_of(cloud, cks_id):
    (e,) = cloud.aws("kms", "describe-custom-key-stores", "--custom-key-store-id",
                     cks_id)["CustomKeyStores"]
    return e


def test_create_describe_update_delete(cks_cloud, with_view):
    c, r = cks_cloud, with_view
    out = c.aws("kms", *create_args("store-a", r.cluster_id, anchor_file(r)))
    assert set(out) == {"CustomKeyStoreId"}
    cks = out["CustomKeyStoreId"]
    assert len(cks) == 21 and cks.startswith("cks-") and all(x in "0123456789abcdef"
                                                             for x in cks[4:])
    try:
        e = entry_of(c, cks)
        assert e["CustomKeyStoreName"] == "store-a" and e["CustomKeyStoreType"] == "AWS_CLOUDHSM"
        assert e["CloudHsmClusterId"] == r.cluster_id
        assert e["TrustAnchorCertificate"] == r.anchor
        assert e["ConnectionState"] == "DISCONNECTED" and "ConnectionErrorCode" not in e
        st, raw = kms_raw(c, "DescribeCustomKeyStores", {"CustomKeyStoreId": cks})
        assert st == 200, raw
        (re_,) = raw["CustomKeyStores"]
        assert isinstance(re_["CreationDate"], float)  # epoch seconds on the wire
        assert "KeyStorePassword" not in e and KMSUSER_PW not in json.dumps(e)
        by_name = c.aws("kms", "describe-custom-key-stores", "--custom-key-store-name",
                        "store-a")["CustomKeyStores"]
        assert by_name == [e] and [x for x in describe_all(c) if x["CustomKeyStoreId"] == cks]
        # boto3: the same, CreationDate as a datetime
        kms = c.boto3("kms")
        (b,) = kms.describe_custom_key_stores(CustomKeyStoreId=cks)["CustomKeyStores"]
        assert abs(b["CreationDate"].timestamp() - re_["CreationDate"]) < 0.01
        assert {k: v for k, v in b.items() if k != "CreationDate"} == \
            {k: v for k, v in re_.items() if k != "CreationDate"}
        # a retry with the same values: the same store, nothing made
        assert c.aws("kms", *create_args("store-a", r.cluster_id, anchor_file(r))) == out
        assert len(describe_all(c)) == 1
        # update the name and the password (DISCONNECTED)
        assert c.aws("kms", "update-custom-key-store", "--custom-key-store-id", cks,
                     "--new-custom-key-store-name", "store-b") == {}
        assert kms.update_custom_key_store(CustomKeyStoreId=cks,
                                           KeyStorePassword="newPassw0rd9")[
            "ResponseMetadata"]["HTTPStatusCode"] == 200
        e2 = entry_of(c, cks)
        assert e2 == {**e, "CustomKeyStoreName": "store-b"}
        # the old values are no longer a retry: a new password is not the store's
        refused(c, "CustomKeyStoreNameInUseException",
                *create_args("store-b", r.cluster_id, anchor_file(r)))
    finally:
        assert c.aws("kms", "delete-custom-key-store", "--custom-key-store-id", cks) == {}
    refused(c, "CustomKeyStoreNotFoundException", "describe-custom-key-stores",
            "--custom-key-store-id", cks)


def test_refusals_with_clusters(cks_cloud, with_view, twin, other):
    c, r = cks_cloud, with_view
    cks = c.aws("kms", *create_args("main", r.cluster_id, anchor_file(r)))["CustomKeyStoreId"]
    try:
        refused(c, "CustomKeyStoreNameInUseException",
                *create_args("main", other.cluster_id, anchor_file(other)))
        refused(c, "IncorrectTrustAnchorException",
                *create_args("x", other.cluster_id, anchor_file(r)))
        refused(c, "CloudHsmClusterInUseException",
                *create_args("x", r.cluster_id, anchor_file(r)))
        refused(c, "CloudHsmClusterInUseException",  # the same backup lineage
                *create_args("x", twin.cluster_id, anchor_file(r)))
        refused(c, "CloudHsmClusterNotFoundException",
                *create_args("x", NO_CLUSTER, anchor_file(r)))
        refused(c, "CloudHsmClusterNotRelatedException", "update-custom-key-store",
                "--custom-key-store-id", cks, "--cloud-hsm-cluster-id", other.cluster_id)
        refused(c, "CloudHsmClusterNotFoundException", "update-custom-key-store",
                "--custom-key-store-id", cks, "--cloud-hsm-cluster-id", NO_CLUSTER)
        refused(c, "CustomKeyStoreInvalidStateException", "disconnect-custom-key-store",
                "--custom-key-store-id", cks)
        # pages: two stores, one per page
        cks2 = c.aws("kms", *create_args("second", other.cluster_id,
                                         anchor_file(other)))["CustomKeyStoreId"]
        try:
            p1 = c.aws("kms", "describe-custom-key-stores", "--limit", "1")
            assert p1["Truncated"] is True and len(p1["CustomKeyStores"]) == 1
            p2 = c.aws("kms", "describe-custom-key-stores", "--limit", "1", "--marker",
                       p1["NextMarker"])
            assert p2["Truncated"] is False and "NextMarker" not in p2
            assert [x["CustomKeyStoreId"] for x in p1["CustomKeyStores"] +
                    p2["CustomKeyStores"]] == [cks, cks2]
        finally:
            c.aws("kms", "delete-custom-key-store", "--custom-key-store-id", cks2)
        # a related cluster: the store moves there and back
        assert c.aws("kms", "update-custom-key-store", "--custom-key-store-id", cks,
                     "--cloud-hsm-cluster-id", twin.cluster_id) == {}
        assert entry_of(c, cks)["CloudHsmClusterId"] == twin.cluster_id
        c.aws("kms", "update-custom-key-store", "--custom-key-store-id", cks,
              "--cloud-hsm-cluster-id", r.cluster_id)
        assert entry_of(c, cks)["CloudHsmClusterId"] == r.cluster_id
    finally:
        c.aws("kms", "delete-custom-key-store", "--custom-key-store-id", cks)
