# SPDX-License-Identifier: Apache-2.0
"""Key quorum end to end, as the CloudHSM guide's "key management and usage with quorum
authentication" describes it, on one two-HSM cluster: crypto users alice (who owns the keys), bob
and carol (shared with) and dave (unrelated) each register an RSA-2048 quorum key made with the
openssl command line; keys get --manage-key-quorum-value / --use-key-quorum-value at creation, and
then signing needs a key-usage token, and sharing, unsharing, setting attributes, wrapping and
unwrapping need key-management tokens, approved by enough distinct users associated with the key.
Every approval is signed with `openssl pkeyutl` (tokens.py) and every signature the HSM makes is
checked with `openssl dgst -verify`. Each check reads back what it changed (key list --verbose,
quorum token-sign list), so an error that still changed something fails, and so does a success
that changed nothing.
"""
import base64
import hashlib
import pathlib
import subprocess

import pytest

from conftest import Cluster
from test_cli import activate, as_admin, cli, users
from test_cli_keys import ADMIN_PW, kcv_aes
from tokens import (Interactive, approval_records, approved_copy, read_json, rsa_key, sign_b64,
                    sign_mfa, write_json)

CUS = ("alice", "bob", "carol", "dave")
QUORUM_ON = [{"strategy": "token-sign", "status": "enabled"}]
REQUIRED = "Quorum approval is required for this operation"
INSUFFICIENT = "Not enough valid quorum approvals"
NO_TOKEN = "No such token"
VALUE_INVALID = "Invalid quorum value"
SERVICE = {"key-management": 5, "key-usage": 6}
BOTH2 = "--use-key-quorum-value 2 --manage-key-quorum-value 2"


def pw(user):
    return f"{user.capitalize()}_Pw1234"


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


def ref(key):
    return key["key-reference"]


def attrs(key):
    return key["attributes"]


def qv(key):
    return key["key-info"]["key-quorum-values"]


def quorum_values(manage, use):
    return {"manage-key-quorum-value": manage, "use-key-quorum-value": use}


def openssl_ok(*args):
    return subprocess.run(["openssl", *map(str, args)], capture_output=True,
                          timeout=60).returncode == 0


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *map(str, args)], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


class Sh:
    """openhsm-cli interactive logged in as one user."""

    def __init__(self, cluster, user, role="crypto-user", password=None):
        self.user = user
        self.i = Interactive(cluster)
        got = self.i.run(f"login --username {user} --role {role} "
                         f"--password {password or pw(user)}")
        assert got == {"error_code": 0, "data": {"username": user, "role": role}}, got

    def run(self, line):
        return self.i.run(line)

    def ok(self, line):
        got = self.run(line)
        assert got["error_code"] == 0, (line, got)
        return got["data"]

    def err(self, line, *needles):
        got = self.run(line)
        assert got["error_code"] == 1 and isinstance(got["data"], str), (line, got)
        for n in needles:
            assert n in got["data"], (line, n, got["data"])
        return got["data"]

    def keys(self, flt=None):
        cmd = "key list --verbose --max-items 10000"
        if flt:
            cmd += " --filter " + flt
        return self.ok(cmd)["matched_keys"]

    def key(self, r):
        got = self.keys(f"key-reference={r}")
        assert len(got) == 1, got
        return got[0]

    def shared(self, r):
        return sorted(u["username"] for u in self.key(r)["key-info"]["shared-users"])

    def tokens(self, r=None):
        got = self.ok("quorum token-sign list")["tokens"]
        return [t for t in got if r is None or t.get("key-reference") == r]

    def close(self):
        assert self.i.close() == 0


class KQ:
    def __init__(self, cluster, keys, d):
        self.cluster, self.keys, self.dir = cluster, keys, d

    def approval(self, token, name, *signers):
        """A copy of the token file approved by signers (usernames: each signs with its own
        registered key)."""
        return approved_copy(token, pathlib.Path(token).parent / name,
                             [(u, self.keys[u][0]) for u in signers])


def register(cluster, d, user, key):
    """The guide's registration: a registration token signed with the user's key, then register."""
    s = Sh(cluster, user)
    try:
        f = d / f"reg-{user}.json"
        assert s.ok(f"quorum token-sign generate --service registration --token {f}") == \
            {"filepath": str(f)}
        sign_mfa(f, key[0])
        got = s.ok(f"user change-quorum token-sign register --public-key {key[1]} "
                   f"--signed-token {f}")
        assert got == {"username": user, "role": "crypto-user"}, got
    finally:
        s.close()


@pytest.fixture(scope="module")
def kq(tmp_path_factory):
    """One activated two-HSM cluster; crypto users alice, bob, carol and dave, each with a
    registered quorum key."""
    d = tmp_path_factory.mktemp("kq")
    c = Cluster(d / "data")
    try:
        activate(c)
        for u in CUS:
            code, out, text = cli(c, "user", "create", "--username", u, "--role", "crypto-user",
                                  "--password", pw(u), **as_admin())
            assert code == 0, text
        keys = {u: rsa_key(d, u) for u in CUS}
        for u in CUS:
            register(c, d, u, keys[u])
        listed = users(c)
        for u in CUS:
            assert listed[u]["quorum"] == QUORUM_ON, listed[u]
        yield KQ(c, keys, d)
    finally:
        c.stop()


@pytest.fixture
def sh(kq):
    """sh(user) -> a shell logged in as user (one per user and test, closed afterwards)."""
    opened = {}

    def get(user, role="crypto-user", password=None):
        if user not in opened:
            opened[user] = Sh(kq.cluster, user, role, password)
        return opened[user]

    yield get
    for s in opened.values():
        s.close()


def rsa_pair(s, label, extra=""):
    d = s.ok(f"key generate-asymmetric-pair rsa --public-label {label}-pub --private-label {label} "
             "--modulus-size-bits 2048 --public-exponent 65537 --private-attributes sign=true "
             f"--public-attributes verify=true {extra}")
    return d["public_key"], d["private_key"]


def aes(s, label, attributes="encrypt=true decrypt=true", extra=""):
    return s.ok(f"key generate-symmetric aes --label {label} --key-length-bytes 32 "
                f"--attributes {attributes} {extra}")["key"]


def gen_token(kq, s, service, key, path):
    """quorum token-sign generate for a key service; checks the file: one record per HSM in config
    order, for this service, user and key; token = SHA-256(approval_data); no signatures."""
    got = s.ok(f"quorum token-sign generate --service {service} --token {path} "
               f"--filter key-reference={ref(key)}")
    assert got == {"filepath": str(path)}, got
    d = read_json(path)
    assert set(d) == {"version", "approval_data", "token", "signatures"}, d
    assert d["version"] == "2.0" and d["signatures"] == [], d
    assert d["token"] == b64(hashlib.sha256(unb64(d["approval_data"])).digest()), d
    recs = approval_records(d["approval_data"])
    assert [r["hsm_id"] for r in recs] == [h["id"] for h in kq.cluster.cfg["hsms"]], recs
    for r in recs:
        assert r["service"] == SERVICE[service], r
        assert r["username"] == s.user, r
        assert r["key_handle"] == int(ref(key), 16), r
    return pathlib.Path(path)


def export_pem(s, pub, path):
    s.ok(f"key generate-file --encoding pem --path {path} --filter key-reference={ref(pub)}")
    assert b"BEGIN PUBLIC KEY" in pathlib.Path(path).read_bytes()
    return path


def verify_rsa(pem, data_path, sig_b64, tmp):
    sig = pathlib.Path(tmp) / "sig.bin"
    sig.write_bytes(unb64(sig_b64))
    return openssl_ok("dgst", "-sha256", "-verify", pem, "-signature", sig, data_path)


# ---- the values, given at creation only ----

def test_values_given_at_creation(kq, sh, tmp_path):
    a = sh("alice")
    b = sh("bob")
    pub, priv = rsa_pair(a, "kqv-rsa", f"{BOTH2} --share-crypto-users bob")
    for k in (pub, priv):
        got = a.key(ref(k))
        assert qv(got) == quorum_values(2, 2), got
        assert got["key-info"]["shared-users"] == [{"username": "bob", "key-coverage": "full"}]
        assert got["key-info"]["cluster-coverage"] == "full"
    k = aes(a, "kqv-aes", extra="--manage-key-quorum-value 2 --share-crypto-users bob")
    assert qv(a.key(ref(k))) == quorum_values(2, 0)
    three = aes(a, "kqv-three", extra="--use-key-quorum-value 3 --share-crypto-users bob carol")
    assert qv(a.key(ref(three))) == quorum_values(0, 3)
    # 0 and 1 mean no quorum and need nobody to share with.
    one = aes(a, "kqv-one", extra="--manage-key-quorum-value 1 --use-key-quorum-value 0")
    assert qv(a.key(ref(one))) == quorum_values(1, 0)
    plain = aes(a, "kqv-plain")
    assert qv(a.key(ref(plain))) == quorum_values(0, 0)
    # The shared user sees the same values; both HSMs hold the same records.
    assert qv(b.key(ref(priv))) == quorum_values(2, 2)
    st = a.ok("cluster sync-status")
    assert st["in-sync"] is True and st["differences"] == [], st

    # Values the key's users cannot reach are refused by the HSM, out-of-range ones by the CLI;
    # nothing is made.
    before = a.keys()
    a.err("key generate-asymmetric-pair rsa --public-label kqv-bad-pub --private-label kqv-bad "
          "--modulus-size-bits 2048 --public-exponent 65537 --use-key-quorum-value 3 "
          "--share-crypto-users bob", VALUE_INVALID)
    a.err("key generate-symmetric aes --label kqv-bad --key-length-bytes 32 "
          "--manage-key-quorum-value 2", VALUE_INVALID)
    a.err("key generate-symmetric aes --label kqv-bad --key-length-bytes 32 "
          "--manage-key-quorum-value 3 --share-crypto-users bob", VALUE_INVALID)
    for bad in ("9", "-1", "x", "2.5", ""):
        a.err(f"key generate-symmetric aes --label kqv-bad --key-length-bytes 32 "
              f"--use-key-quorum-value '{bad}' --share-crypto-users bob carol dave")
        a.err(f"key generate-asymmetric-pair ec --public-label kqv-bad-pub --private-label kqv-bad "
              f"--curve secp256r1 --manage-key-quorum-value '{bad}' "
              "--share-crypto-users bob carol dave")
    # key import pem takes the values too; without shares only 0 and 1 are possible.
    _, pem = rsa_key(tmp_path, "kqv-import")
    a.err(f"key import pem --path {pem} --label kqv-bad --key-type-class rsa-public "
          "--use-key-quorum-value 2", VALUE_INVALID)
    assert a.keys() == before
    imp = a.ok(f"key import pem --path {pem} --label kqv-imp --key-type-class rsa-public "
               "--use-key-quorum-value 1 --manage-key-quorum-value 1")["key"]
    assert qv(a.key(ref(imp))) == quorum_values(1, 1)

    # The values are not attributes one may set later.
    before = a.keys()
    for name, value in (("manage-key-quorum-value", 1), ("use-key-quorum-value", 0),
                        ("manage-key-quorum-value", 2)):
        for r in (ref(k), ref(one)):
            a.err(f"key set-attribute --filter key-reference={r} --name {name} --value {value}")
    assert a.keys() == before


# ---- key-usage: crypto sign ----

def test_sign_needs_key_usage_quorum(kq, sh, tmp_path):
    a, b, dave = sh("alice"), sh("bob"), sh("dave")
    pub, priv = rsa_pair(a, "kqs", f"{BOTH2} --share-crypto-users bob")
    pem = export_pem(a, pub, tmp_path / "kqs.pem")
    data = tmp_path / "msg.bin"
    data.write_bytes(b"pay bob 100 coins")
    sign = (f"crypto sign rsa-pkcs --key-filter key-reference={ref(priv)} --hash-function sha256 "
            f"--data-path {data}")
    a.err(sign, REQUIRED)
    b.err(sign, REQUIRED)

    f = gen_token(kq, a, "key-usage", priv, tmp_path / "use.token")
    listed = a.tokens(ref(priv))
    assert len(listed) == 1, listed
    t = listed[0]
    assert {k: t[k] for k in ("username", "service", "key-reference", "approvals-required",
                              "number-of-approvals", "cluster-coverage")} == {
        "username": "alice", "service": "key-usage", "key-reference": ref(priv),
        "approvals-required": {"value": 2}, "number-of-approvals": {"value": 0},
        "cluster-coverage": "full"}, t
    assert 0 < t["token-timeout-seconds"]["value"] <= 600, t

    # Too few, unrelated, repeated or forged approvals do not count.
    a.err(f"{sign} --approval {kq.approval(f, 'alice.token', 'alice')}", INSUFFICIENT)
    a.err(f"{sign} --approval {kq.approval(f, 'alice-dave.token', 'alice', 'dave')}",
          INSUFFICIENT)
    a.err(f"{sign} --approval {kq.approval(f, 'bob-twice.token', 'bob', 'bob')}", INSUFFICIENT)
    forged = approved_copy(f, tmp_path / "forged.token", [("alice", kq.keys["alice"][0]),
                                                          ("bob", kq.keys["alice"][0])])
    a.err(f"{sign} --approval {forged}", INSUFFICIENT)
    # bob signing some other value does not approve this token.
    other = approved_copy(f, tmp_path / "other.token", [("alice", kq.keys["alice"][0])])
    d = read_json(other)
    d["signatures"].append({"username": "bob", "signature": sign_b64(
        b64(hashlib.sha256(b"something else").digest()), kq.keys["bob"][0], tmp_path)})
    write_json(other, d)
    a.err(f"{sign} --approval {other}", INSUFFICIENT)
    assert len(a.tokens(ref(priv))) == 1

    good = kq.approval(f, "good.token", "alice", "bob")
    got = a.ok(f"{sign} --approval {good}")
    assert verify_rsa(pem, data, got["signature"], tmp_path)
    # Used on the HSM that signed, dropped on the other one.
    assert a.tokens(ref(priv)) == []
    # No replay, whichever HSM the sign goes to: consecutive signs and a one-request command in
    # between move the client's round-robin over both HSMs.
    for i in range(4):
        a.err(f"{sign} --approval {good}", NO_TOKEN)
        if i == 1:
            a.ok("crypto random --length-bytes 8")

    # The shared user asks for the token; the owner may be one of the approvers.
    fb = gen_token(kq, b, "key-usage", priv, tmp_path / "bob-use.token")
    got = b.ok(f"{sign} --approval {kq.approval(fb, 'bob-good.token', 'bob', 'alice')}")
    assert verify_rsa(pem, data, got["signature"], tmp_path)
    assert b.tokens(ref(priv)) == []

    # Who may generate a key token: a crypto user who owns or shares the key, naming one key.
    for r in (ref(priv), ref(pub)):
        p = tmp_path / f"dave-{r}.token"
        dave.err(f"quorum token-sign generate --service key-usage --token {p} "
                 f"--filter key-reference={r}")
        assert not p.exists()
    adm = sh("admin", "admin", ADMIN_PW)
    p = tmp_path / "admin.token"
    adm.err(f"quorum token-sign generate --service key-usage --token {p} "
            f"--filter key-reference={ref(priv)}")
    assert not p.exists()
    for bad in ("--service key-usage", "--service key-management",
                "--service key-usage --filter attr.key-type=rsa",
                "--service key-usage --filter attr.label=kqs-nothing",
                f"--service user --filter key-reference={ref(priv)}",
                f"--service registration --filter key-reference={ref(priv)}",
                f"--service key-sign --filter key-reference={ref(priv)}"):
        p = tmp_path / "bad.token"
        a.err(f"quorum token-sign generate {bad} --token {p}")
        assert not p.exists(), bad
    assert a.tokens() == []
    assert a.ok("cluster sync-status")["in-sync"] is True


# ---- key-management: share, unshare, set-attribute ----

def test_share_unshare_set_attribute(kq, sh, tmp_path):
    a = sh("alice")
    k = aes(a, "kqm", extra="--manage-key-quorum-value 2 --share-crypto-users bob")
    r = ref(k)
    flt = f"--filter key-reference={r}"

    def share(user, how="share"):
        return f"key {how} {flt} --username {user} --role crypto-user"

    setlabel = f"key set-attribute {flt} --name label --value kqm-renamed"

    a.err(share("carol"), REQUIRED)
    assert a.shared(r) == ["bob"]
    t1 = gen_token(kq, a, "key-management", k, tmp_path / "m1.token")
    a.err(f"{share('carol')} --approval {kq.approval(t1, 'm1-a.token', 'alice')}", INSUFFICIENT)
    a.err(f"{share('carol')} --approval {kq.approval(t1, 'm1-ad.token', 'alice', 'dave')}",
          INSUFFICIENT)
    # carol is not associated with the key yet, so her approval does not count.
    a.err(f"{share('carol')} --approval {kq.approval(t1, 'm1-ac.token', 'alice', 'carol')}",
          INSUFFICIENT)
    assert a.shared(r) == ["bob"]
    ok1 = kq.approval(t1, "m1-ok.token", "alice", "bob")
    # Unsharing bob would leave alice alone with a key that needs two: refused even when
    # approved, and the approval is not used up.
    a.err(f"{share('bob', 'unshare')} --approval {ok1}", VALUE_INVALID)
    assert a.shared(r) == ["bob"]
    assert a.ok(f"{share('carol')} --approval {ok1}") == {"message": "Key shared successfully"}
    assert a.shared(r) == ["bob", "carol"]
    a.err(f"{share('bob', 'unshare')} --approval {ok1}", NO_TOKEN)
    a.err(share("bob", "unshare"), REQUIRED)
    assert a.shared(r) == ["bob", "carol"]

    # The owner need not approve: bob and carol do.
    t2 = gen_token(kq, a, "key-management", k, tmp_path / "m2.token")
    got = a.ok(f"{share('bob', 'unshare')} --approval "
               f"{kq.approval(t2, 'm2-ok.token', 'carol', 'bob')}")
    assert got == {"message": "Key unshared successfully"}
    assert a.shared(r) == ["carol"]

    # bob no longer counts; and carol leaving would leave fewer users than the value.
    t3 = gen_token(kq, a, "key-management", k, tmp_path / "m3.token")
    a.err(setlabel, REQUIRED)
    a.err(f"{setlabel} --approval {kq.approval(t3, 'm3-ab.token', 'alice', 'bob')}",
          INSUFFICIENT)
    ok3 = kq.approval(t3, "m3-ok.token", "alice", "carol")
    a.err(f"{share('carol', 'unshare')} --approval {ok3}", VALUE_INVALID)
    assert a.shared(r) == ["carol"]
    assert attrs(a.key(r))["label"] == "kqm"
    # The refused unshare used nothing up: the same approval sets the label.
    assert a.ok(f"{setlabel} --approval {ok3}") == {"message": "Attribute set successfully"}
    assert attrs(a.key(r))["label"] == "kqm-renamed"
    a.err(f"key set-attribute {flt} --name label --value kqm-again --approval {ok3}", NO_TOKEN)
    assert attrs(a.key(r))["label"] == "kqm-renamed"

    # A shared user may ask for a key-management token but still not manage the key.
    c = sh("carol")
    t4 = gen_token(kq, c, "key-management", k, tmp_path / "m4.token")
    c.err(f"key set-attribute {flt} --name label --value kqm-carol --approval "
          f"{kq.approval(t4, 'm4-ok.token', 'carol', 'alice')}", "owner")
    assert attrs(a.key(r))["label"] == "kqm-renamed"
    assert qv(a.key(r)) == quorum_values(2, 0)
    assert a.key(r)["key-info"]["cluster-coverage"] == "full"
    assert a.ok("cluster sync-status")["in-sync"] is True


# ---- key-management: wrap and unwrap ----

def test_wrap_and_unwrap(kq, sh, tmp_path):
    a = sh("alice")
    payload = aes(a, "kqw-payload", "encrypt=true",
                  "--manage-key-quorum-value 2 --share-crypto-users bob")
    kek = aes(a, "kqw-kek", "wrap=true unwrap=true",
              "--manage-key-quorum-value 2 --share-crypto-users bob")
    kcv = attrs(a.key(ref(payload)))["check-value"]
    rsa_priv, rsa_pub = rsa_key(tmp_path, "kqw-rsa")
    rpub = a.ok(f"key import pem --path {rsa_pub} --label kqw-rsapub --key-type-class rsa-public "
                "--attributes wrap=true")["key"]
    pf = f"--payload-filter key-reference={ref(payload)}"

    # A wrapping key without quorum: only the payload's approval is needed.
    oaep = (f"key wrap rsa-oaep {pf} --wrapping-filter key-reference={ref(rpub)} "
            "--hash-function sha256 --mgf mgf1-sha256")
    a.err(oaep, REQUIRED)
    tp = gen_token(kq, a, "key-management", payload, tmp_path / "p1.token")
    a.err(f"{oaep} --payload-approval {kq.approval(tp, 'p1-a.token', 'alice')}", INSUFFICIENT)
    okp = kq.approval(tp, "p1-ok.token", "alice", "bob")
    # The approval belongs with the payload key, not the wrapping key.
    a.err(f"{oaep} --wrapping-approval {okp}", REQUIRED)
    d = a.ok(f"{oaep} --payload-approval {okp}")
    mat = openssl("pkeyutl", "-decrypt", "-inkey", rsa_priv, "-pkeyopt", "rsa_padding_mode:oaep",
                  "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256",
                  data=unb64(d["wrapped_key_data"]))
    assert kcv_aes(mat) == kcv
    a.err(f"{oaep} --payload-approval {okp}", NO_TOKEN)

    # A wrapping key with manage 2 as well: both approvals, each for its own key.
    gcm = (f"key wrap aes-gcm {pf} --wrapping-filter key-reference={ref(kek)} "
           "--tag-length-bits 128")
    a.err(gcm, REQUIRED)
    okp2 = kq.approval(gen_token(kq, a, "key-management", payload, tmp_path / "p2.token"),
                       "p2-ok.token", "alice", "bob")
    okw = kq.approval(gen_token(kq, a, "key-management", kek, tmp_path / "w1.token"),
                      "w1-ok.token", "alice", "bob")
    a.err(f"{gcm} --payload-approval {okp2}", REQUIRED)
    a.err(f"{gcm} --wrapping-approval {okw}", REQUIRED)
    a.err(f"{gcm} --payload-approval {okw} --wrapping-approval {okp2}")
    # Nothing was used up by the refused wraps.
    for key in (payload, kek):
        listed = a.tokens(ref(key))
        assert len(listed) == 1 and listed[0]["cluster-coverage"] == "full", listed
    d = a.ok(f"{gcm} --payload-approval {okp2} --wrapping-approval {okw}")
    iv = d["iv"]
    w = d["wrapped_key_data"]
    assert a.tokens(ref(payload)) == [] and a.tokens(ref(kek)) == []
    a.err(f"{gcm} --payload-approval {okp2} --wrapping-approval {okw}", NO_TOKEN)

    # Unwrapping with the kek needs its key-management approval.
    def unwrap(label):
        return (f"key unwrap aes-gcm --filter key-reference={ref(kek)} --tag-length-bits 128 "
                f"--iv {iv} --key-type-class aes --label {label} --data {w} "
                "--attributes encrypt=true")

    a.err(unwrap("kqw-back"), REQUIRED)
    # The payload key's token does not approve the kek.
    okx = kq.approval(gen_token(kq, a, "key-management", payload, tmp_path / "u0.token"),
                      "u0-ok.token", "alice", "bob")
    a.err(f"{unwrap('kqw-back')} --approval {okx}")
    assert a.keys("attr.label=kqw-back") == []
    oku = kq.approval(gen_token(kq, a, "key-management", kek, tmp_path / "u1.token"),
                      "u1-ok.token", "alice", "bob")
    back = a.ok(f"{unwrap('kqw-back')} --approval {oku} --manage-key-quorum-value 2 "
                "--share-crypto-users bob")["key"]
    got = a.key(ref(back))
    assert attrs(got)["check-value"] == kcv and attrs(got)["local"] is False
    assert qv(got) == quorum_values(2, 0)
    assert got["key-info"]["cluster-coverage"] == "full"
    a.err(f"{unwrap('kqw-back2')} --approval {oku}", NO_TOKEN)
    assert a.keys("attr.label=kqw-back2") == []
    assert a.ok("cluster sync-status")["in-sync"] is True


# ---- a token approves its own service, key and user only ----

def test_token_binds_service_key_and_user(kq, sh, tmp_path):
    a, b = sh("alice"), sh("bob")
    pub, priv = rsa_pair(a, "kqx", f"{BOTH2} --share-crypto-users bob")
    other = aes(a, "kqx-aes", extra="--manage-key-quorum-value 2 --share-crypto-users bob")
    pem = export_pem(a, pub, tmp_path / "kqx.pem")
    data = tmp_path / "kqx.bin"
    data.write_bytes(b"binding")
    sign = (f"crypto sign rsa-pkcs --key-filter key-reference={ref(priv)} --hash-function sha256 "
            f"--data-path {data}")

    def setlabel(key, value):
        return f"key set-attribute --filter key-reference={ref(key)} --name label --value {value}"

    use = kq.approval(gen_token(kq, a, "key-usage", priv, tmp_path / "use.token"),
                      "use-ok.token", "alice", "bob")
    mgmt_other = kq.approval(gen_token(kq, a, "key-management", other, tmp_path / "mo.token"),
                             "mo-ok.token", "alice", "bob")
    mgmt_priv = kq.approval(gen_token(kq, a, "key-management", priv, tmp_path / "mp.token"),
                            "mp-ok.token", "alice", "bob")
    bobs = kq.approval(gen_token(kq, b, "key-management", priv, tmp_path / "bob.token"),
                       "bob-ok.token", "alice", "bob")
    before = a.keys()
    for line in (f"{setlabel(priv, 'kqx-stolen')} --approval {use}",        # usage for management
                 f"{setlabel(priv, 'kqx-stolen')} --approval {mgmt_other}",  # another key's token
                 f"{setlabel(priv, 'kqx-stolen')} --approval {bobs}",        # bob's token
                 f"{setlabel(other, 'kqx-stolen')} --approval {mgmt_priv}",
                 f"{sign} --approval {mgmt_priv}",                           # management for usage
                 f"{sign} --approval {mgmt_other}"):
        msg = a.err(line)
        assert "success" not in msg, (line, msg)
    assert a.keys() == before
    # Each still approves what it was made for.
    got = a.ok(f"{sign} --approval {use}")
    assert verify_rsa(pem, data, got["signature"], tmp_path)
    a.ok(f"{setlabel(other, 'kqx-aes-renamed')} --approval {mgmt_other}")
    a.ok(f"{setlabel(priv, 'kqx-renamed')} --approval {mgmt_priv}")
    assert attrs(a.key(ref(other)))["label"] == "kqx-aes-renamed"
    assert attrs(a.key(ref(priv)))["label"] == "kqx-renamed"
    assert [t["username"] for t in a.tokens()] == ["bob"]


# ---- bad approval files ----

def test_bad_approval_files_change_nothing(kq, sh, tmp_path):
    a = sh("alice")
    k = aes(a, "kqb", extra="--manage-key-quorum-value 2 --share-crypto-users bob")
    r = ref(k)
    f = gen_token(kq, a, "key-management", k, tmp_path / "b.token")
    good = kq.approval(f, "good.token", "alice", "bob")
    d = read_json(good)

    notjson = tmp_path / "notjson.token"
    notjson.write_text('{"version": "2.0", "approval_data": ')
    empty = tmp_path / "empty.token"
    empty.write_text("")
    mismatch = tmp_path / "mismatch.token"
    write_json(mismatch, dict(d, token=b64(bytes(32))))
    v1 = tmp_path / "v1.token"
    write_json(v1, dict(d, version="1.0"))
    cut = tmp_path / "cut.token"
    write_json(cut, dict(d, approval_data=b64(unb64(d["approval_data"])[:-1])))
    badsig = tmp_path / "badsig.token"
    write_json(badsig, dict(d, signatures=[{"username": "bob", "signature": "not base64!"}]))
    kek = aes(a, "kqb-kek", "wrap=true unwrap=true")
    wf = f"--wrapping-filter key-reference={ref(kek)} --tag-length-bits 128"
    guarded = (f"key set-attribute --filter key-reference={r} --name label --value kqb-x",
               f"key share --filter key-reference={r} --username carol --role crypto-user",
               f"key unshare --filter key-reference={r} --username bob --role crypto-user",
               f"key wrap aes-gcm --payload-filter key-reference={r} {wf} --payload-approval",
               f"key wrap aes-gcm --payload-filter key-reference={r} {wf} --wrapping-approval",
               f"key unwrap aes-gcm --filter key-reference={ref(kek)} --tag-length-bits 128 "
               f"--iv {bytes(12).hex()} --key-type-class aes --label kqb-new "
               f"--data {b64(bytes(60))} --approval")  # the data is never unwrapped
    cases = [(notjson, "JSON"), (empty, "empty.token"), (mismatch, "token"), (v1, "1.0"),
             (cut, "approval_data"), (badsig, "signature"),
             (tmp_path / "missing.token", "missing.token")]
    before = a.keys()
    for path, needle in cases:
        for line in guarded:
            if not line.endswith("approval"):
                line += " --approval"
            msg = a.err(f"{line} {path}", needle)
            assert REQUIRED not in msg and INSUFFICIENT not in msg, msg
    # A signature that is well formed but made by nobody: counted as invalid.
    junk = tmp_path / "junk.token"
    write_json(junk, dict(d, signatures=[d["signatures"][0],
                                         {"username": "bob", "signature": b64(bytes(256))}]))
    assert a.keys() == before
    listed = a.tokens(r)
    assert len(listed) == 1 and listed[0]["number-of-approvals"] == {"value": 0}, listed
    a.err(f"key set-attribute --filter key-reference={r} --name label --value kqb-x "
          f"--approval {junk}", INSUFFICIENT)
    assert a.keys() == before
    listed = a.tokens(r)
    assert len(listed) == 1 and listed[0]["number-of-approvals"] == {"value": 1}, listed

    # The token was not touched: the good file still works.
    got = a.ok(f"key set-attribute --filter key-reference={r} --name label --value kqb-ok "
               f"--approval {good}")
    assert got == {"message": "Attribute set successfully"}
    assert attrs(a.key(r))["label"] == "kqb-ok"
    assert a.tokens(r) == []
