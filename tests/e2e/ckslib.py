"""CloudHSM clusters ready for a KMS custom key store, made the way the KMS developer guide's
"Assemble the prerequisites" says, with the tools a user has: Debian's aws CLI for the control
plane, openssl for the owner's CA, openhsm-cli to activate, openhsm-cmu to create the crypto user
kmsuser. Making a cluster takes seconds: the fixtures here are module-scoped.

    ready = make_ready_cluster(cloud, workdir)        # ACTIVE, 2 HSMs in 2 AZs, kmsuser
    ready.cluster_id, ready.anchor                    # for CreateCustomKeyStore
    ready.cmu("listUsers\\nquit\\n"); ready.cli(...)  # the shells against it (ready.api)
    twin = cluster_from_backup(cloud, ready, workdir) # same backup lineage (cluster certificate)
    other = make_ready_cluster(cloud, workdir, ca="otherCA")  # unrelated
"""
import pathlib

import pytest

from cloud import Cloud, signed_call
from conftest import Cluster, wait_for
from test_cli import cli
from test_cloud_lifecycle import ApiCluster, backups, make_ca, sign, wait_hsm, wait_state
from test_cmu import ADMIN_PW, cmu, create, login_as, users

CSV2 = "cloudhsmv2"
KMSUSER = "kmsuser"
KMSUSER_PW = "kmsPassw0rd1"  # 7-32 characters, as KeyStorePassword
AZS = ("us-east-1a", "us-east-1b")


class ReadyCluster:
    """An ACTIVE cluster with kmsuser: its id, its trust anchor (customerCA.crt, PEM), its
    cluster certificate, and the shells against it."""

    def __init__(self, cloud, cluster_id, anchor, ca_dir, kmsuser_pw, hsm_ids):
        self.cloud = cloud
        self.cluster_id = cluster_id
        self.anchor = anchor
        self.ca_dir = pathlib.Path(ca_dir)
        self.kmsuser_pw = kmsuser_pw
        self.hsm_ids = list(hsm_ids)
        self.api = ApiCluster(cloud, cluster_id)  # .config, .env(): what the shells need

    @property
    def cluster_cert(self):
        return self.cloud.cluster_desc(self.cluster_id)["Certificates"]["ClusterCertificate"]

    def cmu(self, script, **kw):
        """openhsm-cmu with script on stdin (test_cmu.cmu); its stdout."""
        return cmu(self.api, script, **kw)

    def cli(self, *args, **kw):
        """openhsm-cli in single-command mode (test_cli.cli): (status, JSON, text)."""
        return cli(self.api, *args, **kw)

    def users(self):
        """listUsers as test_cmu.users parses it: {server: {name: (id, type, ...)}}."""
        return users(self.cmu("listUsers\nquit\n"))


def subnets_by_az(cloud):
    return {s["AvailabilityZone"]: s["SubnetId"] for s in
            cloud.aws("ec2", "describe-subnets", "--filters",
                      "Name=default-for-az,Values=true")["Subnets"]}


def _add_hsm(cloud, cid, az):
    hid = cloud.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
                    az)["Hsm"]["HsmId"]
    wait_hsm(cloud, cid, hid)
    return hid


def make_ready_cluster(cloud, workdir, ca="customerCA", azs=AZS, kmsuser_pw=KMSUSER_PW):
    """A new cluster on subnets in azs, initialized with the owner's CA `ca` (made in workdir
    unless it is there), activated with openhsm-cli, kmsuser created with openhsm-cmu, then one
    more HSM: one ACTIVE HSM in each AZ of azs."""
    d = pathlib.Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    subnets = subnets_by_az(cloud)
    cid = cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                    *[subnets[az] for az in azs])["Cluster"]["ClusterId"]
    wait_state(cloud, cid, "UNINITIALIZED")
    hsms = [_add_hsm(cloud, cid, azs[0])]
    csr = d / f"{cid}.csr"
    csr.write_text(cloud.cluster_desc(cid)["Certificates"]["ClusterCsr"])
    if not (d / f"{ca}.crt").exists():
        make_ca(d, ca)
    sign(d, ca, csr.name, f"{cid}.crt")
    cloud.aws(CSV2, "initialize-cluster", "--cluster-id", cid, "--signed-cert",
              f"file://{d}/{cid}.crt", "--trust-anchor", f"file://{d}/{ca}.crt")
    wait_state(cloud, cid, "INITIALIZED")
    api = ApiCluster(cloud, cid)
    code, _, text = cli(api, "cluster", "activate", "--password", ADMIN_PW)
    assert code == 0, text
    wait_state(cloud, cid, "ACTIVE")
    out = cmu(api, login_as("admin", ADMIN_PW) + create("CU", KMSUSER, kmsuser_pw) + "quit\n")
    assert "createUser success" in out, out
    for az in azs[1:]:
        hsms.append(_add_hsm(cloud, cid, az))
    wait_state(cloud, cid, "ACTIVE")
    ready = ReadyCluster(cloud, cid, (d / f"{ca}.crt").read_text(), d, kmsuser_pw, hsms)
    assert all(KMSUSER in u for u in ready.users().values()), ready.users()
    return ready


def cluster_from_backup(cloud, src, azs=AZS):
    """A cluster made from a fresh backup of src (its backup lineage: the same cluster
    certificate and trust anchor, src's users with kmsuser), with one ACTIVE HSM in each AZ."""
    st, body = signed_call(cloud, "OpenHsmAdmin.CreateBackup", {"ClusterId": src.cluster_id})
    assert st == 200, body
    bid = body["BackupId"]
    wait_for(lambda: [b for b in backups(cloud, src.cluster_id)
                      if b["BackupId"] == bid and b["BackupState"] == "READY"] or None, 60,
             f"backup {bid} READY")
    subnets = subnets_by_az(cloud)
    cid = cloud.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                    *[subnets[az] for az in azs], "--source-backup-id",
                    bid)["Cluster"]["ClusterId"]
    wait_state(cloud, cid, "UNINITIALIZED")
    hsms = [_add_hsm(cloud, cid, az) for az in azs]
    wait_state(cloud, cid, "ACTIVE")  # the backup's users were activated
    twin = ReadyCluster(cloud, cid, src.anchor, src.ca_dir, src.kmsuser_pw, hsms)
    assert twin.cluster_cert == src.cluster_cert
    return twin


@pytest.fixture(scope="module")
def cks_cloud(tmp_path_factory):
    """One openhsmd for a module of key store tests (a Cloud on it)."""
    c = Cluster(tmp_path_factory.mktemp("cks") / "data")
    try:
        yield Cloud(c)
    finally:
        c.stop()


@pytest.fixture(scope="module")
def ready(cks_cloud, tmp_path_factory):
    """An ACTIVE cluster ready for a key store (make_ready_cluster)."""
    return make_ready_cluster(cks_cloud, tmp_path_factory.mktemp("pki"))
