"""CloudHSM key stores, connected: AWS's "Troubleshooting a custom key store" guide section by
section, as its reader would run it - aws kms / boto3 for KMS, openhsm-cmu (cloudhsm_mgmt_util)
and openhsm-kmu (key_mgmt_util) for the cluster.

One openhsmd with its first-start cluster of two HSMs in two AZs, activated, with a crypto user
kmsuser, serves the module; one store lives on that cluster. Each test starts from a
disconnected store and leaves it so (or says otherwise), so the order of the tests is free.
"""
import json
import subprocess
import threading

import pytest
from botocore.exceptions import ClientError

from cloud import Cloud, ctl
from conftest import Cluster, wait_for
from test_cmu import ADMIN_PW, activate, cmu, create, login_as, users
from test_cmu_keys import find_all
from test_kmu import KMU

KMSUSER_PW = "kmsuserPass1"


class Store:
    """The module's openhsmd, its cluster and the store on it."""

    def __init__(self, c):
        self.c = c
        self.cloud = Cloud(c)
        self.kms = self.cloud.boto3("kms")
        self.cid = c.cluster_id
        self.anchor = (c.cluster_dir / "customerCA.crt").read_text()
        self.kmsuser_pw = KMSUSER_PW  # the password the test knows (KMS's own differs)
        self.sid = None

    def describe(self):
        r = self.kms.describe_custom_key_stores(CustomKeyStoreId=self.sid)
        (entry,) = r["CustomKeyStores"]
        return entry

    def state(self):
        d = self.describe()
        return d["ConnectionState"], d.get("ConnectionErrorCode")

    def wait(self, want, code=None, timeout=60):
        def look():
            s = self.state()
            return s if s[0] == want else None
        got = wait_for(look, timeout, f"custom key store {want}")
        assert got == (want, code), got

    def connect(self, want="CONNECTED", code=None, timeout=60):
        assert self.kms.connect_custom_key_store(CustomKeyStoreId=self.sid)[
            "ResponseMetadata"]["HTTPStatusCode"] == 200
        self.wait(want, code, timeout)

    def disconnect(self):
        if self.state()[0] != "DISCONNECTED":
            self.kms.disconnect_custom_key_store(CustomKeyStoreId=self.sid)
            self.wait("DISCONNECTED")

    def co(self, script):
        """A crypto officer session of openhsm-cmu (the guide's cloudhsm_mgmt_util)."""
        return cmu(self.c, login_as("admin", ADMIN_PW) + script + "logoutHSM\nquit\n")

    def set_kmsuser_password(self, pw):
        """The guide's repair: a CO sets kmsuser's password, KMS is told it."""
        out = self.co(f"changePswd CU kmsuser {pw}\ny\n")
        assert out.count("changePswd success on server") == 2, out
        self.kmsuser_pw = pw
        self.kms.update_custom_key_store(CustomKeyStoreId=self.sid, KeyStorePassword=pw)

    def key_state(self, kid):
        return self.kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"]

    def err(self, fn, **kw):
        with pytest.raises(ClientError) as e:
            fn(**kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def ks(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cks-conn") / "data", hsms=2)
    try:
        activate(c)
        cmu(c, login_as("admin", ADMIN_PW) + create("CU", "kmsuser", KMSUSER_PW) + "quit\n")
        s = Store(c)
        wait_for(lambda: s.cloud.cluster_desc(s.cid)["State"] == "ACTIVE" or None, 60,
                 "cluster ACTIVE")
        s.sid = s.kms.create_custom_key_store(
            CustomKeyStoreName="guide-store", CloudHsmClusterId=s.cid,
            TrustAnchorCertificate=s.anchor, KeyStorePassword=KMSUSER_PW)["CustomKeyStoreId"]
        yield s
    finally:
        c.stop()


@pytest.fixture
def store(ks):
    ks.disconnect()
    yield ks
    ks.disconnect()


def kmu_login_fails(c, user, pw):
    p = subprocess.run([str(KMU), "singlecmd", "loginHSM", "-u", "CU", "-s", user, "-p", pw,
                        "getHSMInfo"], capture_output=True, text=True, timeout=60, env=c.env())
    return p.returncode != 0


def test_connect_rotates_kmsuser_and_keys_live_in_the_cluster(store):
    s = store
    assert s.state() == ("DISCONNECTED", None)
    s.connect()
    # KMS rotated kmsuser's password: the one the test gave no longer logs in.
    assert kmu_login_fails(s.c, "kmsuser", s.kmsuser_pw)
    key = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid,
                           Description="in the cluster")["KeyMetadata"]
    assert key["Origin"] == "AWS_CLOUDHSM" and key["CustomKeyStoreId"] == s.sid
    assert key["CloudHsmClusterId"] == s.cid and key["KeyState"] == "Enabled"
    assert key["KeySpec"] == "SYMMETRIC_DEFAULT" and "CurrentKeyMaterialId" not in key
    kid = key["KeyId"]
    # The backing key: owned by kmsuser on both HSMs, labelled with the key ARN (cmu as the CO).
    uid = users(cmu(s.c, "listUsers\nquit\n"))[0]["kmsuser"][0]
    out = s.co(f"findAllKeys {uid} 0\n")
    assert out.count("findAllKeys success on server") == 2, out
    owned = find_all(out)
    assert len(owned[0][0]) >= 1 and owned[0][0] == owned[1][0], owned
    ct = s.kms.encrypt(KeyId=kid, Plaintext=b"guide", EncryptionContext={"a": "b"})
    assert "KeyMaterialId" not in ct
    pt = s.kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], EncryptionContext={"a": "b"})
    assert pt["Plaintext"] == b"guide" and pt["KeyId"] == key["Arn"]
    code, _ = s.err(s.kms.decrypt, CiphertextBlob=ct["CiphertextBlob"],
                    EncryptionContext={"a": "c"})
    assert code == "InvalidCiphertextException"
    dk = s.kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
    assert s.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    r = s.kms.generate_random(NumberOfBytes=32, CustomKeyStoreId=s.sid)["Plaintext"]
    assert len(r) == 32
    code, _ = s.err(s.kms.generate_data_key_pair, KeyId=kid, KeyPairSpec="RSA_2048")
    assert code == "UnsupportedOperationException"
    code, _ = s.err(s.kms.enable_key_rotation, KeyId=kid)
    assert code == "UnsupportedOperationException"
    code, _ = s.err(s.kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid,
                    KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    assert code == "UnsupportedOperationException"
    # The audit trail has the backing key of CreateKey.
    lines = [json.loads(x) for x in
             (s.c.data / "kms" / "trail.jsonl").read_text().splitlines()]
    made = [x for x in lines if x.get("eventName") == "CreateKey" and
            x.get("responseElements", {}) and kid in json.dumps(x)]
    assert made and set(made[-1]["additionalEventData"]["backingKey"]) == {
        "keyHandle", "backingKeyId"}
    assert s.kmsuser_pw not in (s.c.data / "kms" / "trail.jsonl").read_text()
    # Decrypt still works after a reconnect (a new password, the same backing key).
    s.disconnect()
    s.connect()
    assert s.kms.decrypt(CiphertextBlob=ct["CiphertextBlob"],
                         EncryptionContext={"a": "b"})["Plaintext"] == b"guide"
    # The key is scheduled for deletion to keep the module's key count small.
    s.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)


def test_unavailable_keys_and_state_restoration(store):
    """"How to fix unavailable KMS keys": disconnected -> Unavailable (PendingDeletion stays and
    can be cancelled); enable/disable are recorded and take effect on reconnect."""
    s = store
    s.connect()
    k_en = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]["KeyId"]
    k_dis = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"][
        "KeyId"]
    k_del = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"][
        "KeyId"]
    s.kms.disable_key(KeyId=k_dis)
    s.kms.schedule_key_deletion(KeyId=k_del, PendingWindowInDays=7)
    ct = s.kms.encrypt(KeyId=k_en, Plaintext=b"x")["CiphertextBlob"]
    s.disconnect()
    assert [s.key_state(k) for k in (k_en, k_dis, k_del)] == [
        "Unavailable", "Unavailable", "PendingDeletion"]
    code, msg = s.err(s.kms.decrypt, CiphertextBlob=ct)
    assert code == "KMSInvalidStateException" and "unavailable" in msg, msg
    code, _ = s.err(s.kms.encrypt, KeyId=k_en, Plaintext=b"x")
    assert code == "KMSInvalidStateException"
    code, _ = s.err(s.kms.create_key, Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)
    assert code == "CustomKeyStoreInvalidStateException"
    code, _ = s.err(s.kms.generate_random, NumberOfBytes=8, CustomKeyStoreId=s.sid)
    assert code == "CustomKeyStoreInvalidStateException"
    # Recorded while Unavailable, effective on reconnect.
    s.kms.disable_key(KeyId=k_en)
    s.kms.enable_key(KeyId=k_dis)
    assert s.key_state(k_en) == "Unavailable" and s.key_state(k_dis) == "Unavailable"
    s.kms.cancel_key_deletion(KeyId=k_del)
    assert s.key_state(k_del) == "Unavailable"
    s.connect()
    assert [s.key_state(k) for k in (k_en, k_dis, k_del)] == ["Disabled", "Enabled", "Disabled"]
    s.kms.enable_key(KeyId=k_en)
    assert s.kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"x"
    for k in (k_en, k_dis, k_del):
        s.kms.schedule_key_deletion(KeyId=k, PendingWindowInDays=7)


def test_failed_refuses_connect_until_disconnected(store):
    """INVALID_CREDENTIALS from its real cause (kmsuser's password changed behind KMS's back),
    FAILED refusing Connect, and the guide's repair: changePswd + update-custom-key-store."""
    s = store
    out = s.co("changePswd CU kmsuser otherPass12\ny\n")
    assert out.count("changePswd success on server") == 2, out
    s.connect("FAILED", "INVALID_CREDENTIALS")
    code, _ = s.err(s.kms.connect_custom_key_store, CustomKeyStoreId=s.sid)
    assert code == "CustomKeyStoreInvalidStateException"
    code, _ = s.err(s.kms.update_custom_key_store, CustomKeyStoreId=s.sid,
                    KeyStorePassword="otherPass12")
    assert code == "CustomKeyStoreInvalidStateException"
    assert s.state() == ("FAILED", "INVALID_CREDENTIALS")
    s.disconnect()
    s.kms.update_custom_key_store(CustomKeyStoreId=s.sid, KeyStorePassword="otherPass12")
    s.connect()


def test_user_logged_in_elsewhere(store):
    """USER_LOGGED_IN: kmsuser logged in with openhsm-kmu when KMS connects (the HSMs refuse the
    password rotation); logging out and reconnecting repairs it."""
    s = store
    s.set_kmsuser_password("loggedIn123")
    with KmuSession(s.c, "kmsuser", "loggedIn123"):
        s.connect("FAILED", "USER_LOGGED_IN")
    s.disconnect()
    # The failed rotation was undone: KMS's password (the one it was told) still works.
    s.connect()


class KmuSession:
    """An interactive openhsm-kmu logged in as a crypto user until the with block ends; its
    output is read by a thread so no wait can block on it."""

    def __init__(self, c, user, pw):
        self.p = subprocess.Popen([str(KMU)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, env=c.env())
        self.out = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.p.stdin.write(f"loginHSM -u CU -s {user} -p {pw}\n")
        self.p.stdin.flush()
        try:
            wait_for(lambda: "Cfm3LoginHSM returned" in "".join(self.out) or None, 30,
                     "kmu login")
            text = "".join(self.out)
            assert "Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS" in text, text
        except BaseException:
            self.close()
            raise

    def _read(self):
        for line in self.p.stdout:
            self.out.append(line)

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.write("logoutHSM\nexit\n")
                self.p.stdin.close()
            except OSError:
                pass
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.t.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_user_locked_out_and_repair(store):
    s = store
    for _ in range(5):
        assert kmu_login_fails(s.c, "kmsuser", "wrongPass99")
    s.connect("FAILED", "USER_LOCKED_OUT")
    s.disconnect()
    s.set_kmsuser_password("unlocked123")  # a CO's new password unlocks
    s.connect()


def test_network_errors_with_hsms_stopped(store):
    s = store
    hsms = [h["id"] for h in s.c.cfg["hsms"]]
    for h in hsms:
        assert ctl(s.c, "stop-hsm", h).returncode == 0
    try:
        s.kms.connect_custom_key_store(CustomKeyStoreId=s.sid)
        st = wait_for(lambda: s.state() if s.state()[0] == "FAILED" else None, 90, "FAILED")
        assert st == ("FAILED", "NETWORK_ERRORS"), st
    finally:
        for h in hsms:
            assert ctl(s.c, "start-hsm", h).returncode == 0
    s.disconnect()
    s.connect()


def test_cluster_unreachable_while_connected(store):
    """"How to respond to a cryptographic operation failure": connected, HSMs gone ->
    KMSInvalidStateException "KMS cannot communicate with your CloudHSM cluster"; the store
    stays CONNECTED and works again when they are back."""
    s = store
    s.connect()
    kid = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]["KeyId"]
    hsms = [h["id"] for h in s.c.cfg["hsms"]]
    for h in hsms:
        assert ctl(s.c, "stop-hsm", h).returncode == 0
    try:
        code, msg = s.err(s.kms.encrypt, KeyId=kid, Plaintext=b"x")
        assert code == "KMSInvalidStateException", (code, msg)
        assert "KMS cannot communicate with your CloudHSM cluster" in msg
        assert s.state() == ("CONNECTED", None)
    finally:
        for h in hsms:
            assert ctl(s.c, "start-hsm", h).returncode == 0
    ct = wait_for(lambda: _try(lambda: s.kms.encrypt(KeyId=kid, Plaintext=b"x")), 60,
                  "encrypt works again")
    assert s.kms.decrypt(CiphertextBlob=ct["CiphertextBlob"])["Plaintext"] == b"x"
    s.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)


def _try(fn):
    try:
        return fn()
    except ClientError:
        return None


def test_racing_connect_disconnect_and_crypto(store):
    """A hostile caller with many connections: 6 threads race Connect, Disconnect, a name-only
    Update and Encrypt on one store for a bounded number of rounds. Every answer is one AWS
    gives (the call's own exceptions, nothing internal), and afterwards the store settles in one
    state, reconnects, and the key works with the password KMS holds."""
    s = store
    s.connect()
    kid = s.kms.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId=s.sid)["KeyMetadata"]["KeyId"]
    allowed = {"CustomKeyStoreInvalidStateException", "KMSInvalidStateException",
               "CustomKeyStoreNameInUseException"}
    bad = []
    lock = threading.Lock()

    def worker(i):
        kms = s.cloud.boto3("kms")
        for r in range(12):
            try:
                op = (i + r) % 4
                if op == 0:
                    kms.connect_custom_key_store(CustomKeyStoreId=s.sid)
                elif op == 1:
                    kms.disconnect_custom_key_store(CustomKeyStoreId=s.sid)
                elif op == 2:
                    kms.update_custom_key_store(CustomKeyStoreId=s.sid,
                                                NewCustomKeyStoreName="guide-store")
                else:
                    kms.encrypt(KeyId=kid, Plaintext=b"race")
            except ClientError as e:
                code = e.response["Error"]["Code"]
                if code not in allowed:
                    with lock:
                        bad.append((op, code, e.response["Error"]["Message"]))
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
        assert not t.is_alive(), "a racing client did not finish"
    assert bad == [], bad[:5]
    # It settles: no transient state stays, and FAILED is not one a race may cause.
    got = wait_for(lambda: s.state() if s.state()[0] in ("CONNECTED", "DISCONNECTED") else None,
                   60, "a settled state")
    assert got[1] is None, got
    s.disconnect()
    s.connect()
    ct = s.kms.encrypt(KeyId=kid, Plaintext=b"after")["CiphertextBlob"]
    assert s.kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"after"
    s.kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
