"""The CloudHSM lifecycle of the issue, as a user runs it: create a cluster on two subnets, create
an HSM, read the CSR, check the HSM's identity as the guide does, sign the CSR with an openssl CA
made here, initialize, activate with openhsm-cli, create a crypto user and keys, add an HSM and
find the users and keys there (same handles), see the backups, delete an HSM, delete and restore a
backup, and make a cluster from a backup: same users and keys, a key made after the backup absent,
a masked object of the source cluster accepted. Then retention and the 7-day purge on a moved
clock, and a copy to another region. Debian's aws CLI for the API, openssl for the PKI,
openhsm-cli / -cmu / -kmu for the HSMs.
"""
import json
import os
import subprocess

from cloud import AwsError, Cloud, cloud, ctl, signed_call  # noqa: F401 (cloud: a fixture)
from conftest import wait_for
from test_cli import cli
from test_cmu import ADMIN_PW, cmu, create, login_as, users
from test_kmu import CU_PW, find, handle, single
from test_kmu_insert_masked import extract, new_handle

CSV2 = "cloudhsmv2"


class ApiCluster:
    """A cluster made through the API, for the tools: its client.json in OPENHSM_CLUSTER_CONFIG."""

    def __init__(self, cloud, cid):
        self.cloud = cloud
        self.cluster_id = cid
        self.cluster_dir = cloud.cluster.data / "clusters" / cid
        self.config = str(self.cluster_dir / "client.json")

    @property
    def cfg(self):
        return json.loads(pathlib_read(self.config))

    def env(self, **kw):
        e = dict(os.environ)
        e["OPENHSM_CLUSTER_CONFIG"] = self.config
        home = self.cluster_dir / "home"
        home.mkdir(mode=0o700, exist_ok=True)
        e["HOME"] = str(home)
        e.pop("CLOUDHSM_ROLE", None)
        e.pop("CLOUDHSM_PIN", None)
        e.update(kw)
        return e


def gen_aes(api, user, label):
    """genSymKey AES-256 on however many HSMs the cluster has; the handle."""
    rc, out = single(api, user, "genSymKey", "-t", 31, "-s", 32, "-l", label)
    assert rc == 0 and "Symmetric Key Created." in out, out
    return handle(out)


def pathlib_read(p):
    with open(p) as f:
        return f.read()


def state(c, cid):
    return c.cluster_desc(cid)["State"]


def wait_state(c, cid, want, timeout=60):
    wait_for(lambda: state(c, cid) == want or None, timeout, f"cluster {cid} {want}")


def wait_hsm(c, cid, hid, want="ACTIVE", timeout=60):
    def look():
        for h in c.cluster_desc(cid)["Hsms"]:
            if h["HsmId"] == hid and h["State"] == want:
                return True
        return None
    wait_for(look, timeout, f"HSM {hid} {want}")


def backups(c, cid=None, region=None, *extra):
    args = ["describe-backups"] + (["--filters", f"clusterIds={cid}"] if cid else []) + list(extra)
    return c.aws(CSV2, *args, region=region)["Backups"]


def sh(*argv, cwd):
    p = subprocess.run(list(map(str, argv)), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def make_ca(d, name):
    sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
       "-out", f"{name}.crt", "-days", "3652", "-subj", f"/CN={name}", cwd=d)


def sign(d, ca, csr, out):
    """The guide's command: openssl x509 -req -days 3652 -in CSR -CA ... -CAcreateserial."""
    sh("openssl", "x509", "-req", "-days", "3652", "-in", csr, "-CA", f"{ca}.crt", "-CAkey",
       f"{ca}.key", "-CAcreateserial", "-out", out, cwd=d)


def test_lifecycle_initialize_backups_and_cluster_from_backup(cloud, tmp_path):
    c = cloud
    subnets = {s["AvailabilityZone"]: s["SubnetId"] for s in
               c.aws("ec2", "describe-subnets", "--filters",
                     "Name=default-for-az,Values=true")["Subnets"]}
    cid = c.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                subnets["us-east-1a"], subnets["us-east-1b"])["Cluster"]["ClusterId"]
    wait_state(c, cid, "UNINITIALIZED")
    assert c.cluster_desc(cid)["Certificates"] == {}
    e = c.aws(CSV2, "initialize-cluster", "--cluster-id", cid, "--signed-cert", "x",
              "--trust-anchor", "y", check=False)
    assert e.code == "CloudHsmInvalidRequestException"  # no HSM, no CSR yet
    h1 = c.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
               "us-east-1a")["Hsm"]["HsmId"]
    wait_hsm(c, cid, h1)
    # The CSR and the HSM's identity, checked as the guide's "verify HSM identity" does.
    certs = c.cluster_desc(cid)["Certificates"]
    assert set(certs) == {"ClusterCsr", "HsmCertificate", "AwsHardwareCertificate",
                          "ManufacturerHardwareCertificate"}
    # The guide's way to save it.
    out = c.aws(CSV2, "describe-clusters", "--filters", f"clusterIds={cid}", "--output", "text",
                "--query", "Clusters[].Certificates.ClusterCsr", text=True)
    assert out.strip() == certs["ClusterCsr"].strip()
    d = tmp_path
    (d / "cluster.csr").write_text(certs["ClusterCsr"])
    for k in ("HsmCertificate", "AwsHardwareCertificate", "ManufacturerHardwareCertificate"):
        (d / f"{k}.crt").write_text(certs[k])
    pki = c.cluster.data / "pki"
    for root, hw in (("openhsm_Hardware_Root", "AwsHardwareCertificate"),
                     ("openhsm_Manufacturer_Root", "ManufacturerHardwareCertificate")):
        (d / f"{hw}-chain.crt").write_text((pki / f"{root}.crt").read_text() +
                                           (d / f"{hw}.crt").read_text())
        v = sh("openssl", "verify", "-CAfile", f"{hw}-chain.crt", "HsmCertificate.crt", cwd=d)
        assert v.strip().endswith(": OK"), v
    pub_csr = sh("openssl", "req", "-in", "cluster.csr", "-noout", "-pubkey", cwd=d)
    pub_hsm = sh("openssl", "x509", "-in", "HsmCertificate.crt", "-noout", "-pubkey", cwd=d)
    assert pub_csr == pub_hsm
    subject = sh("openssl", "req", "-in", "cluster.csr", "-noout", "-subject", cwd=d)
    assert f"CN = \"HSM:{h1}:PARTN:1, for FIPS mode\"" in subject or \
        f"CN = HSM:{h1}:PARTN:1" in subject, subject
    # Sign with the owner's CA; a certificate of another CA, or for another key, is refused.
    make_ca(d, "customerCA")
    make_ca(d, "otherCA")
    sign(d, "customerCA", "cluster.csr", "signed.crt")
    sign(d, "otherCA", "cluster.csr", "other.crt")
    e = c.aws(CSV2, "initialize-cluster", "--cluster-id", cid, "--signed-cert",
              f"file://{d}/other.crt", "--trust-anchor", f"file://{d}/customerCA.crt",
              check=False)
    assert e.code == "CloudHsmInvalidRequestException", e
    assert state(c, cid) == "UNINITIALIZED"
    r = c.aws(CSV2, "initialize-cluster", "--cluster-id", cid, "--signed-cert",
              f"file://{d}/signed.crt", "--trust-anchor", f"file://{d}/customerCA.crt")
    assert r == {"State": "INITIALIZE_IN_PROGRESS", "StateMessage":
                 "Cluster is initializing. State will change to INITIALIZED upon completion."}
    wait_state(c, cid, "INITIALIZED")
    certs = c.cluster_desc(cid)["Certificates"]
    assert certs == {"ClusterCertificate": (d / "signed.crt").read_text()}
    api = ApiCluster(c, cid)
    assert (api.cluster_dir / "customerCA.crt").read_text() == (d / "customerCA.crt").read_text()
    assert [h["id"] for h in api.cfg["hsms"]] == [h1]
    # Activate with the CloudHSM CLI: the cluster becomes ACTIVE and a backup is taken.
    code, out, text = cli(api, "cluster", "activate", "--password", ADMIN_PW)
    assert code == 0, text
    wait_state(c, cid, "ACTIVE")
    wait_for(lambda: [b for b in backups(c, cid) if b["BackupState"] == "READY"] or None, 60,
             "activation backup READY")
    out = cmu(api, login_as("admin", ADMIN_PW) + create("CU", "alice", CU_PW["alice"]) +
              "quit\n")
    k1 = gen_aes(api, "alice", "k1")
    masked = extract(api, "alice", k1, str(d / "k1.masked"))
    # A second HSM gets the cluster's users and keys, with the same handles.
    h2 = c.aws(CSV2, "create-hsm", "--cluster-id", cid, "--availability-zone",
               "us-east-1b")["Hsm"]["HsmId"]
    wait_hsm(c, cid, h2)
    assert sorted(h["id"] for h in api.cfg["hsms"]) == sorted([h1, h2])
    listed = users(cmu(api, "listUsers\nquit\n"))
    assert set(listed) == {0, 1} and "alice" in listed[0] and listed[0] == listed[1]
    assert ctl(c.cluster, "stop-hsm", h1).returncode == 0  # only the new HSM answers now
    try:
        assert state(c, cid) == "DEGRADED"
        assert find(api, "alice", "-l", "k1") == [k1]
    finally:
        assert ctl(c.cluster, "start-hsm", h1).returncode == 0
    assert state(c, cid) == "ACTIVE"
    ready = [b for b in backups(c, cid, None, "--sort-ascending") if b["BackupState"] == "READY"]
    assert len(ready) >= 2, ready  # activation, and the one the new HSM was restored from
    b1 = ready[-1]
    bid = b1["BackupId"]
    assert b1["ClusterId"] == cid
    # Fields newer than Debian's CLI, read raw (botocore-signed).
    st, raw = signed_call(c, "BaldrApiService.DescribeBackups",
                          {"Filters": {"backupIds": [bid]}})
    assert st == 200, raw
    assert raw["Backups"][0]["BackupArn"] == f"arn:aws:cloudhsm:us-east-1:111122223333:backup/{bid}"
    assert raw["Backups"][0]["HsmType"] == "hsm1.medium"
    k2 = gen_aes(api, "alice", "k2")  # after the backup
    # Remove an HSM: it goes, and leaves a backup of itself.
    n_before = len(backups(c, cid))
    c.aws(CSV2, "delete-hsm", "--cluster-id", cid, "--hsm-id", h2)
    wait_for(lambda: [h["HsmId"] for h in c.cluster_desc(cid)["Hsms"]] == [h1] or None, 60,
             "HSM deleted")
    assert len(backups(c, cid)) == n_before + 1
    # Delete and restore a backup; a READY backup cannot be "restored".
    gone = c.aws(CSV2, "delete-backup", "--backup-id", bid)["Backup"]
    assert gone["BackupState"] == "PENDING_DELETION" and "DeleteTimestamp" in gone
    e = c.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
              subnets["us-east-1a"], "--source-backup-id", bid, check=False)
    assert e.code == "CloudHsmInvalidRequestException"  # not READY
    back = c.aws(CSV2, "restore-backup", "--backup-id", bid)["Backup"]
    assert back["BackupState"] == "READY" and "DeleteTimestamp" not in back
    e = c.aws(CSV2, "restore-backup", "--backup-id", bid, check=False)
    assert e.code == "CloudHsmInvalidRequestException"
    ne = c.aws(CSV2, "modify-backup-attributes", "--backup-id", bid, "--never-expires")["Backup"]
    assert ne["NeverExpires"] is True
    # A cluster from the backup: same lineage, users and keys of the backup's time.
    cl2 = c.aws(CSV2, "create-cluster", "--hsm-type", "hsm1.medium", "--subnet-ids",
                subnets["us-east-1c"], "--source-backup-id", bid)["Cluster"]
    cid2 = cl2["ClusterId"]
    assert cl2["SourceBackupId"] == bid
    wait_state(c, cid2, "UNINITIALIZED")
    assert c.cluster_desc(cid2)["Certificates"] == {"ClusterCertificate":
                                                   (d / "signed.crt").read_text()}
    h3 = c.aws(CSV2, "create-hsm", "--cluster-id", cid2, "--availability-zone",
               "us-east-1c")["Hsm"]["HsmId"]
    wait_hsm(c, cid2, h3)
    wait_state(c, cid2, "ACTIVE")  # the backup's users were activated
    api2 = ApiCluster(c, cid2)
    assert (api2.cluster_dir / "customerCA.crt").read_text() == \
        (d / "customerCA.crt").read_text()
    assert find(api2, "alice", "-l", "k1") == [k1]
    assert find(api2, "alice", "-l", "k2") == []
    assert set(users(cmu(api2, "listUsers\nquit\n"))[0]) == set(listed[0])
    rc, out = single(api2, "alice", "insertMaskedObject", "-f", masked)
    assert rc == 0, out
    k1b = new_handle(out)
    assert k1b != k1 and sorted(find(api2, "alice", "-l", "k1")) == sorted([k1, k1b])
    # Copy to another region: a READY copy there, naming its source.
    dest = c.aws(CSV2, "copy-backup-to-region", "--destination-region", "us-west-2",
                 "--backup-id", bid)["DestinationBackup"]
    assert dest["SourceBackup"] == bid and dest["SourceRegion"] == "us-east-1"
    assert dest["SourceCluster"] == cid

    def copied():
        got = backups(c, None, "us-west-2")
        return got if got and got[0]["BackupState"] == "READY" else None
    (cp,) = wait_for(copied, 60, "copy READY")
    assert cp["SourceBackup"] == bid and cp["BackupId"] != bid
    assert [x["BackupId"] for x in c.aws(CSV2, "describe-backups", "--filters",
                                         f"sourceBackupIds={bid}", region="us-west-2")[
        "Backups"]] == [cp["BackupId"]]
    assert bid not in [b["BackupId"] for b in backups(c, None, "us-west-2")]
    e = c.aws(CSV2, "copy-backup-to-region", "--destination-region", "us-east-1",
              "--backup-id", bid, check=False)
    assert e.code == "CloudHsmInvalidRequestException"


def advance(c, seconds):
    st, body = signed_call(c, "OpenHsmAdmin.AdvanceClock", {"Seconds": seconds})
    assert st == 200, body
    return body["Now"]


def test_retention_purge_and_daily_backups(cloud):
    """On the first-start cluster: backups taken on demand (OpenHsmAdmin.CreateBackup), the
    cluster's retention on a clock moved forward: the newest and NeverExpires backups stay, the
    others go PENDING_DELETION and, 7 days later, DELETED with their files."""
    c = cloud
    cid = c.cluster.cluster_id
    c.aws(CSV2, "modify-cluster", "--cluster-id", cid, "--backup-retention-policy",
          "Type=DAYS,Value=7")
    ids = []
    for _ in range(3):
        st, body = signed_call(c, "OpenHsmAdmin.CreateBackup", {"ClusterId": cid})
        assert st == 200, body
        ids.append(body["BackupId"])
    old, keep, newest = ids
    c.aws(CSV2, "modify-backup-attributes", "--backup-id", keep, "--never-expires")
    files = {i: c.cluster.data / "backups" / f"{i}.bak" for i in ids}
    assert all(f.is_file() and oct(f.stat().st_mode & 0o777) == "0o600" for f in files.values())
    advance(c, 8 * 86400)
    by = {b["BackupId"]: b for b in backups(c, cid)}
    assert by[old]["BackupState"] == "PENDING_DELETION"
    assert by[keep]["BackupState"] == "READY" and by[newest]["BackupState"] == "READY"
    advance(c, 7 * 86400)
    assert old not in {b["BackupId"] for b in backups(c, cid)}
    deleted = backups(c, cid, None, "--filters", f"backupIds={old}")
    assert [b["BackupState"] for b in deleted] == ["DELETED"]
    assert not files[old].exists() and files[keep].exists()
    e = c.aws(CSV2, "restore-backup", "--backup-id", old, check=False)
    assert e.code == "CloudHsmResourceNotFoundException"
    # Activation takes a backup; a day later, after a change on the HSMs, the daily one comes.
    n = len(backups(c, cid))
    cmu(c.cluster, "loginHSM PRECO admin password\nchangePswd PRECO admin " + ADMIN_PW +
        "\ny\nquit\n")
    wait_for(lambda: len(backups(c, cid)) == n + 1 or None, 60, "activation backup")
    cmu(c.cluster, login_as("admin", ADMIN_PW) + create("CU", "bob", "bob-pass12") + "quit\n")
    advance(c, 86400 + 60)
    assert len(backups(c, cid)) == n + 2
    advance(c, 3600)  # no change since: no new backup
    assert len(backups(c, cid)) == n + 2
    # Bad input to the clock changes nothing.
    st, body = signed_call(c, "OpenHsmAdmin.AdvanceClock", {"Seconds": -5})
    assert st == 400 and body["__type"] == "ValidationException"
