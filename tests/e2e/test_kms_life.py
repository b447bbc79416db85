# SPDX-License-Identifier: Apache-2.0
"""The life of a KMS key in openhsmd, end to end through boto3 and Debian's aws CLI: the key-state
table cell by cell, scheduled deletion, rotation (on demand and automatic), imported key material
(wrapped with the openssl CLI as the KMS developer guide shows). Grants, key policies, tags and
pagination: test_kms_grants_tags.py (which uses the helpers here).

Tests that leave the clock alone share one openhsmd (module fixture `kms`); tests that advance
the clock (OpenHsmAdmin.AdvanceClock) start their own. Operations and fields that Debian's
boto3/awscli (late 2022) do not know (RotateKeyOnDemand, ListKeyRotations, RotationPeriodInDays,
Decrypt's KeyMaterialId) go through cloud.signed_call with the kms signing name.
"""
import base64
import datetime
import json
import os
import pathlib
import subprocess
import tempfile
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from cloud import Cloud, signed_call
from conftest import BIN, Cluster

GRANTEE = "arn:aws:iam::111122223333:role/app"
DAY = 86400


# ---- helpers ----

@pytest.fixture(scope="module")
def kms(tmp_path_factory):
    """One openhsmd for the tests of this module that do not move its clock."""
    c = Cluster(tmp_path_factory.mktemp("kms-life") / "data", hsms=1)
    try:
        yield Cloud(c)
    finally:
        c.stop()


@pytest.fixture
def own(tmp_path):
    """An openhsmd of the test's own, for tests that advance the clock."""
    c = Cluster(tmp_path / "data", hsms=1)
    try:
        yield Cloud(c)
    finally:
        c.stop()


def fails(fn, **kw):
    """Calls fn(**kw), which must fail; returns (error code, message)."""
    with pytest.raises(ClientError) as ei:
        fn(**kw)
    e = ei.value.response["Error"]
    return e["Code"], e["Message"]


def call(cloud, op, body):
    """A TrentService call through signed_call; returns the body of a 200 answer."""
    st, out = signed_call(cloud, "TrentService." + op, body, signing_name="kms")
    assert st == 200, (op, st, out)
    return out


def call_err(cloud, op, body):
    """A TrentService call that must fail; returns (status, __type, message)."""
    st, out = signed_call(cloud, "TrentService." + op, body, signing_name="kms")
    assert st != 200, (op, out)
    return st, out["__type"], out.get("message", out.get("Message"))


def b64(b):
    return base64.b64encode(b).decode()


def advance(cloud, seconds):
    st, body = signed_call(cloud, "OpenHsmAdmin.AdvanceClock", {"Seconds": seconds})
    assert st == 200, body
    return body["Now"]


def events(cloud, *args):
    """`openhsmd events --data-dir D ARGS`: (exit status, the events as dicts or stdout)."""
    r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(cloud.cluster.data),
                        *args], capture_output=True, text=True, timeout=60)
    if "--verify" in args:
        return r.returncode, r.stdout + r.stderr
    assert r.returncode == 0, r.stderr
    return r.returncode, [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def sh(*argv, cwd):
    r = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=60)
    assert r.returncode == 0, (argv, r.stderr)
    return r.stdout


def wrap(public_der, material, alg):
    """Wraps material under GetParametersForImport's public key with the openssl CLI, as the KMS
    developer guide's "Encrypt key material with OpenSSL" does."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="kmswrap-"))
    try:
        (d / "PublicKey.bin").write_bytes(public_der)
        (d / "PlaintextKeyMaterial.bin").write_bytes(material)
        oaep = ["openssl", "pkeyutl", "-encrypt", "-inkey", "PublicKey.bin", "-keyform", "DER",
                "-pubin", "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                "-pkeyopt", "rsa_mgf1_md:sha256"]
        if alg == "RSAES_OAEP_SHA_256":
            sh(*oaep, "-in", "PlaintextKeyMaterial.bin", "-out", "EncryptedKeyMaterial.bin",
               cwd=d)
            return (d / "EncryptedKeyMaterial.bin").read_bytes()
        assert alg == "RSA_AES_KEY_WRAP_SHA_256"
        sh("openssl", "rand", "-out", "aes-key.bin", "32", cwd=d)
        aes_hex = (d / "aes-key.bin").read_bytes().hex()
        sh("openssl", "enc", "-id-aes256-wrap-pad", "-K", aes_hex, "-iv", "A65959A6",
           "-in", "PlaintextKeyMaterial.bin", "-out", "key-material-wrapped.bin", cwd=d)
        sh(*oaep, "-in", "aes-key.bin", "-out", "aes-key-wrapped.bin", cwd=d)
        return (d / "aes-key-wrapped.bin").read_bytes() + \
            (d / "key-material-wrapped.bin").read_bytes()
    finally:
        for f in d.iterdir():
            f.unlink()
        d.rmdir()


def params(kc, key_id, alg="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    return kc.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=alg,
                                        WrappingKeySpec=spec)


def do_import(kc, key_id, material, alg="RSAES_OAEP_SHA_256", spec="RSA_2048", p=None, **kw):
    """GetParametersForImport (unless p is given), wrap with openssl, ImportKeyMaterial.
    Returns (the parameters, the wrapped material)."""
    p = p or params(kc, key_id, alg, spec)
    wrapped = wrap(p["PublicKey"], material, alg)
    if "ValidTo" not in kw:
        kw["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
    kc.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"],
                           EncryptedKeyMaterial=wrapped, **kw)
    return p, wrapped


def meta(kc, key_id):
    return kc.describe_key(KeyId=key_id)["KeyMetadata"]


# ---- the key-state table ----

class K:
    """A key put in a state for one cell: id, arn, a ciphertext made while it was enabled, and
    (EXTERNAL) an import token with material wrapped for it."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def make_key(kc, origin, state, other):
    token = wrapped = None
    if origin == "AWS_KMS":
        m = kc.create_key()["KeyMetadata"]
    else:
        m = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]
        assert m["KeyState"] == "PendingImport"
        p, wrapped = do_import(kc, m["KeyId"], os.urandom(32))
        token = p["ImportToken"]
    blob = kc.encrypt(KeyId=m["KeyId"], Plaintext=b"state table")["CiphertextBlob"]
    if state == "Disabled":
        kc.disable_key(KeyId=m["KeyId"])
    elif state == "PendingDeletion":
        kc.schedule_key_deletion(KeyId=m["KeyId"], PendingWindowInDays=7)
    elif state == "PendingImport":
        kc.delete_imported_key_material(KeyId=m["KeyId"])
    got = meta(kc, m["KeyId"])
    assert (got["KeyState"], got["Origin"]) == (state, origin)
    return K(id=m["KeyId"], arn=m["Arn"], blob=blob, token=token, wrapped=wrapped, other=other)


OPS = {
    "Encrypt": lambda kc, k: kc.encrypt(KeyId=k.id, Plaintext=b"x"),
    "Decrypt": lambda kc, k: kc.decrypt(CiphertextBlob=k.blob, KeyId=k.id),
    "GenerateDataKey": lambda kc, k: kc.generate_data_key(KeyId=k.id, KeySpec="AES_256"),
    "ReEncrypt": lambda kc, k: kc.re_encrypt(CiphertextBlob=k.blob, SourceKeyId=k.id,
                                             DestinationKeyId=k.other),
    "CreateGrant": lambda kc, k: kc.create_grant(KeyId=k.id, GranteePrincipal=GRANTEE,
                                                 Operations=["Decrypt"]),
    "EnableKey": lambda kc, k: kc.enable_key(KeyId=k.id),
    "DisableKey": lambda kc, k: kc.disable_key(KeyId=k.id),
    "EnableKeyRotation": lambda kc, k: kc.enable_key_rotation(KeyId=k.id),
    "DisableKeyRotation": lambda kc, k: kc.disable_key_rotation(KeyId=k.id),
    "GetKeyRotationStatus": lambda kc, k: kc.get_key_rotation_status(KeyId=k.id),
    "ScheduleKeyDeletion": lambda kc, k: kc.schedule_key_deletion(KeyId=k.id,
                                                                  PendingWindowInDays=7),
    "CancelKeyDeletion": lambda kc, k: kc.cancel_key_deletion(KeyId=k.id),
    "UpdateKeyDescription": lambda kc, k: kc.update_key_description(KeyId=k.id,
                                                                    Description="new"),
    "TagResource": lambda kc, k: kc.tag_resource(KeyId=k.id, Tags=[
        {"TagKey": "k", "TagValue": "v"}]),
    "CreateAlias": lambda kc, k: kc.create_alias(AliasName=f"alias/st-{uuid.uuid4()}",
                                                 TargetKeyId=k.id),
    "DescribeKey": lambda kc, k: kc.describe_key(KeyId=k.id),
    "GetKeyPolicy": lambda kc, k: kc.get_key_policy(KeyId=k.id, PolicyName="default"),
    "GetParametersForImport": lambda kc, k: params(kc, k.id),
    "ImportKeyMaterial": lambda kc, k: kc.import_key_material(
        KeyId=k.id, ImportToken=k.token or b"\0" * 53, EncryptedKeyMaterial=k.wrapped or
        b"\0" * 256, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"),
}

# Columns: AWS_KMS Enabled, Disabled, PendingDeletion; EXTERNAL Enabled, Disabled,
# PendingDeletion, PendingImport (REFERENCE-KMS.md §1; [1/7]-style cells as AWS answers).
COLUMNS = [("AWS_KMS", "Enabled"), ("AWS_KMS", "Disabled"), ("AWS_KMS", "PendingDeletion"),
           ("EXTERNAL", "Enabled"), ("EXTERNAL", "Disabled"), ("EXTERNAL", "PendingDeletion"),
           ("EXTERNAL", "PendingImport")]
CRYPTO = ["OK", "DIS", "PDEL", "OK", "DIS", "PDEL", "PIMP"]
ADMIN = ["OK", "OK", "PDEL", "OK", "OK", "PDEL", "OK"]
ALWAYS = ["OK"] * 7
TABLE = {
    "Encrypt": CRYPTO,
    "Decrypt": CRYPTO,
    "GenerateDataKey": CRYPTO,
    "ReEncrypt": CRYPTO,
    "CreateGrant": CRYPTO,
    "EnableKey": ["OK", "OK", "PDEL", "OK", "OK", "PDEL", "PIMP"],
    "DisableKey": ["OK", "OK", "PDEL", "OK", "OK", "PDEL", "PIMP"],
    "EnableKeyRotation": ["OK", "DIS", "PDEL", "UNSUP", "UNSUP", "UNSUP", "EXT"],
    "DisableKeyRotation": ["OK", "DIS", "PDEL", "UNSUP", "UNSUP", "UNSUP", "EXT"],
    "GetKeyRotationStatus": ["OK", "OK", "OK", "UNSUP", "UNSUP", "UNSUP", "EXT"],
    "ScheduleKeyDeletion": ADMIN,
    "CancelKeyDeletion": ["NPDEL", "NPDEL", "OK", "NPDEL", "NPDEL", "OK", "NPDEL"],
    "UpdateKeyDescription": ADMIN,
    "TagResource": ADMIN,
    "CreateAlias": ADMIN,
    "DescribeKey": ALWAYS,
    "GetKeyPolicy": ALWAYS,
    "GetParametersForImport": ["UNSUP", "UNSUP", "UNSUP", "OK", "OK", "PDEL", "OK"],
    "ImportKeyMaterial": ["UNSUP", "UNSUP", "UNSUP", "OK", "OK", "PDEL", "OK"],
}
VERDICT = {
    "DIS": ("DisabledException", "{} is disabled."),
    "PDEL": ("KMSInvalidStateException", "{} is pending deletion."),
    "NPDEL": ("KMSInvalidStateException", "{} is not pending deletion."),
    "PIMP": ("KMSInvalidStateException", "{} is pending import."),
    "EXT": ("UnsupportedOperationException",
            "{} origin is EXTERNAL which is not valid for this operation."),
    "UNSUP": ("UnsupportedOperationException", None),
}


# Operations whose success changes the key's state or import token: they get a fresh key per
# cell; the others run on one key per column, which must stay in its state.
FRESH = {"EnableKey", "DisableKey", "ScheduleKeyDeletion", "CancelKeyDeletion",
         "GetParametersForImport", "ImportKeyMaterial"}


def test_key_state_table(kms):
    """Every cell: a success where the table says OK, else the table's exception and message,
    and the key exactly as before (DescribeKey)."""
    kc = kms.boto3("kms")
    other = kc.create_key()["KeyMetadata"]["KeyId"]
    shared = {col: make_key(kc, *col, other) for col in COLUMNS}
    checked = 0
    for op, row in TABLE.items():
        for col, want in zip(COLUMNS, row):
            where = f"{op} on {col[0]} {col[1]}"
            if want == "OK" and op in FRESH:
                OPS[op](kc, make_key(kc, *col, other))
            elif want == "OK":
                k = shared[col]
                OPS[op](kc, k)
                assert meta(kc, k.id)["KeyState"] == col[1], where
            else:
                k = shared[col]
                before = meta(kc, k.id)
                with pytest.raises(ClientError) as ei:
                    OPS[op](kc, k)
                e = ei.value.response["Error"]
                code, msg = VERDICT[want]
                assert e["Code"] == code, (where, e)
                if msg is not None:
                    assert e["Message"] == msg.format(k.arn), (where, e)
                assert meta(kc, k.id) == before, where
            checked += 1
    assert checked == len(TABLE) * len(COLUMNS)
    # A success changes what it should: e.g. EnableKey on a disabled key enables it, CancelKey-
    # Deletion leaves the key Disabled (PendingImport for an EXTERNAL key without material).
    k = make_key(kc, "AWS_KMS", "Disabled", other)
    kc.enable_key(KeyId=k.id)
    assert meta(kc, k.id)["KeyState"] == "Enabled"
    k = make_key(kc, "EXTERNAL", "PendingImport", other)
    kc.schedule_key_deletion(KeyId=k.id, PendingWindowInDays=7)
    kc.cancel_key_deletion(KeyId=k.id)
    assert meta(kc, k.id)["KeyState"] == "PendingImport"


def make_kind(kc, kind, state, other):
    """A key of kind sym/sign/mac (origin AWS_KMS) in state, with a signature or MAC made while
    it was enabled, a grant, a tag and an alias to another key (for UpdateAlias)."""
    spec = {"sym": {}, "sign": {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
            "mac": {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}}[kind]
    m = kc.create_key(Tags=[{"TagKey": "t", "TagValue": "v"}], **spec)["KeyMetadata"]
    kid = m["KeyId"]
    sig = mac = None
    if kind == "sign":
        sig = kc.sign(KeyId=kid, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    if kind == "mac":
        mac = kc.generate_mac(KeyId=kid, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    grant = kc.create_grant(KeyId=kid, GranteePrincipal=GRANTEE,
                            Operations=["DescribeKey"])["GrantId"]
    mine = f"alias/mine-{uuid.uuid4()}"
    kc.create_alias(AliasName=mine, TargetKeyId=kid)
    moving = f"alias/move-{uuid.uuid4()}"
    kc.create_alias(AliasName=moving, TargetKeyId=other)
    if state == "Disabled":
        kc.disable_key(KeyId=kid)
    elif state == "PendingDeletion":
        kc.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert meta(kc, kid)["KeyState"] == state
    return K(id=kid, arn=m["Arn"], sig=sig, mac=mac, grant=grant, mine=mine, moving=moving)


POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": GRANTEE}, "Action": "kms:*", "Resource": "*"}]})
MORE = {  # op: (key kind, the call, [Enabled, Disabled, PendingDeletion])
    "Sign": ("sign", lambda kc, k: kc.sign(KeyId=k.id, Message=b"m",
                                           SigningAlgorithm="ECDSA_SHA_256"), CRYPTO[:3]),
    "Verify": ("sign", lambda kc, k: kc.verify(KeyId=k.id, Message=b"m", Signature=k.sig,
                                               SigningAlgorithm="ECDSA_SHA_256"), CRYPTO[:3]),
    "GetPublicKey": ("sign", lambda kc, k: kc.get_public_key(KeyId=k.id), CRYPTO[:3]),
    "GenerateMac": ("mac", lambda kc, k: kc.generate_mac(KeyId=k.id, Message=b"m",
                                                         MacAlgorithm="HMAC_SHA_256"),
                    CRYPTO[:3]),
    "VerifyMac": ("mac", lambda kc, k: kc.verify_mac(KeyId=k.id, Message=b"m", Mac=k.mac,
                                                     MacAlgorithm="HMAC_SHA_256"), CRYPTO[:3]),
    "GenerateDataKeyWithoutPlaintext": (
        "sym", lambda kc, k: kc.generate_data_key_without_plaintext(KeyId=k.id,
                                                                    KeySpec="AES_256"),
        CRYPTO[:3]),
    "GenerateDataKeyPair": ("sym", lambda kc, k: kc.generate_data_key_pair(
        KeyId=k.id, KeyPairSpec="ECC_NIST_P256"), CRYPTO[:3]),
    "UpdateAlias": ("sym", lambda kc, k: kc.update_alias(AliasName=k.moving, TargetKeyId=k.id),
                    ADMIN[:3]),
    "DeleteAlias": ("sym", lambda kc, k: kc.delete_alias(AliasName=k.mine), ALWAYS[:3]),
    "UntagResource": ("sym", lambda kc, k: kc.untag_resource(KeyId=k.id, TagKeys=["t"]),
                      ADMIN[:3]),
    "PutKeyPolicy": ("sym", lambda kc, k: kc.put_key_policy(KeyId=k.id, PolicyName="default",
                                                            Policy=POLICY), ALWAYS[:3]),
    "ListGrants": ("sym", lambda kc, k: kc.list_grants(KeyId=k.id), ALWAYS[:3]),
    "ListKeyPolicies": ("sym", lambda kc, k: kc.list_key_policies(KeyId=k.id), ALWAYS[:3]),
    "ListResourceTags": ("sym", lambda kc, k: kc.list_resource_tags(KeyId=k.id), ALWAYS[:3]),
    "RetireGrant": ("sym", lambda kc, k: kc.retire_grant(KeyId=k.id, GrantId=k.grant),
                    ALWAYS[:3]),
    "RevokeGrant": ("sym", lambda kc, k: kc.revoke_grant(KeyId=k.id, GrantId=k.grant),
                    ALWAYS[:3]),
    "DeleteImportedKeyMaterial": ("sym", lambda kc, k: kc.delete_imported_key_material(
        KeyId=k.id), ["UNSUP"] * 3),
}


def test_key_state_table_more_operations(kms):
    """The rest of the table's rows for keys KMS made (signing, HMAC and symmetric keys) in the
    states Enabled, Disabled and PendingDeletion; each cell on a fresh key, a failure changing
    nothing."""
    kc = kms.boto3("kms")
    other = kc.create_key()["KeyMetadata"]["KeyId"]
    for op, (kind, fn, row) in MORE.items():
        for state, want in zip(("Enabled", "Disabled", "PendingDeletion"), row):
            where = f"{op} on a {kind} key {state}"
            k = make_kind(kc, kind, state, other)
            before = meta(kc, k.id)
            if want == "OK":
                fn(kc, k)
                assert meta(kc, k.id)["KeyState"] == state, where
                continue
            with pytest.raises(ClientError) as ei:
                fn(kc, k)
            e = ei.value.response["Error"]
            code, msg = VERDICT[want]
            assert e["Code"] == code, (where, e)
            if msg is not None:
                assert e["Message"] == msg.format(k.arn), (where, e)
            assert meta(kc, k.id) == before, where
    # Where the failed calls pointed stays: UpdateAlias to a key pending deletion left the alias
    # on its first key.
    k = make_kind(kc, "sym", "PendingDeletion", other)
    with pytest.raises(ClientError):
        kc.update_alias(AliasName=k.moving, TargetKeyId=k.id)
    got = [a for a in kc.list_aliases(KeyId=other)["Aliases"] if a["AliasName"] == k.moving]
    assert len(got) == 1


def test_state_table_through_the_cli(kms):
    """The same cells through Debian's aws CLI: the error code it prints for a disabled and a
    pending-deletion key."""
    kid = kms.aws("kms", "create-key")["KeyMetadata"]["KeyId"]
    kms.aws("kms", "disable-key", "--key-id", kid)
    e = kms.aws("kms", "encrypt", "--key-id", kid, "--plaintext", b64(b"hi"), check=False)
    assert e.code == "DisabledException" and "is disabled." in e.stderr
    kms.aws("kms", "schedule-key-deletion", "--key-id", kid, "--pending-window-in-days", "7")
    e = kms.aws("kms", "enable-key", "--key-id", kid, check=False)
    assert e.code == "KMSInvalidStateException" and "is pending deletion." in e.stderr
    assert kms.aws("kms", "describe-key", "--key-id", kid)["KeyMetadata"]["KeyState"] == \
        "PendingDeletion"


# ---- deletion ----

def test_deletion_window_cancel_and_deletion(own):
    c = own
    kc = c.boto3("kms")
    m = kc.create_key(Description="doomed")["KeyMetadata"]
    kid, arn = m["KeyId"], m["Arn"]
    keep = kc.create_key()["KeyMetadata"]["KeyId"]
    kc.create_alias(AliasName="alias/doomed", TargetKeyId=kid)
    kc.create_alias(AliasName="alias/kept", TargetKeyId=keep)
    before = meta(kc, kid)
    for bad in (6, 31):
        code, msg = fails(kc.schedule_key_deletion, KeyId=kid, PendingWindowInDays=bad)
        assert code == "ValidationException" and "pendingWindowInDays" in msg, msg
    assert meta(kc, kid) == before
    t0 = int(time.time())
    out = kc.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7
    assert out["KeyId"] == arn
    dd = int(out["DeletionDate"].timestamp())
    assert t0 + 7 * DAY - 5 <= dd <= int(time.time()) + 7 * DAY + 5
    m = meta(kc, kid)
    assert m["KeyState"] == "PendingDeletion" and m["Enabled"] is False
    assert int(m["DeletionDate"].timestamp()) == dd and m["PendingDeletionWindowInDays"] == 7
    out = kc.cancel_key_deletion(KeyId=kid)
    assert out["KeyId"] == arn
    m = meta(kc, kid)
    assert m["KeyState"] == "Disabled" and "DeletionDate" not in m
    # Through the CLI, 30 days; 29 days later it is still there, 2 more and it is gone.
    out = c.aws("kms", "schedule-key-deletion", "--key-id", "alias/doomed",
                "--pending-window-in-days", "30")
    assert out["PendingWindowInDays"] == 30 and out["KeyState"] == "PendingDeletion"
    advance(c, 29 * DAY)
    assert meta(kc, kid)["KeyState"] == "PendingDeletion"
    _, evs = events(c, "--name", "DeleteKey")
    assert evs == []
    advance(c, 2 * DAY)
    code, _ = fails(kc.describe_key, KeyId=kid)
    assert code == "NotFoundException"
    e = c.aws("kms", "describe-key", "--key-id", arn, check=False)
    assert e.code == "NotFoundException"
    ids = [k["KeyId"] for k in kc.list_keys()["Keys"]]
    assert kid not in ids and keep in ids
    names = [a["AliasName"] for a in kc.list_aliases()["Aliases"]]
    assert "alias/doomed" not in names and "alias/kept" in names
    code, _ = fails(kc.encrypt, KeyId="alias/doomed", Plaintext=b"x")
    assert code == "NotFoundException"
    _, evs = events(c, "--name", "DeleteKey")
    assert len(evs) == 1, evs
    ev = evs[0]
    assert ev["eventName"] == "DeleteKey" and ev["eventType"] == "AwsServiceEvent"
    assert ev["eventSource"] == "kms.amazonaws.com"
    assert [r["ARN"] for r in ev["resources"]] == [arn]
    _, evs = events(c, "--key", kid)
    assert [e["eventName"] for e in evs][-1] == "DeleteKey"
    rc, out = events(c, "--verify")
    assert rc == 0 and "trail ok" in out, out


# ---- rotation ----

def decrypt_mid(cloud, blob):
    """Decrypt through signed_call: (plaintext, KeyMaterialId)."""
    out = call(cloud, "Decrypt", {"CiphertextBlob": b64(blob)})
    return base64.b64decode(out["Plaintext"]), out["KeyMaterialId"]


def test_rotation_on_demand(kms):
    """EnableKeyRotation's period bounds, GetKeyRotationStatus, RotateKeyOnDemand and
    ListKeyRotations (newer than Debian's boto3: signed_call); every ciphertext from before a
    rotation still decrypts and new ones name the new material."""
    c = kms
    kc = c.boto3("kms")
    m = kc.create_key()["KeyMetadata"]
    kid, arn = m["KeyId"], m["Arn"]
    assert kc.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    for bad in (89, 2561):
        st, typ, msg = call_err(c, "EnableKeyRotation", {"KeyId": kid,
                                                         "RotationPeriodInDays": bad})
        assert (st, typ) == (400, "ValidationException") and "rotationPeriodInDays" in msg
    assert kc.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    call(c, "EnableKeyRotation", {"KeyId": kid, "RotationPeriodInDays": 90})
    t = int(time.time())
    s = call(c, "GetKeyRotationStatus", {"KeyId": kid})
    assert s["KeyRotationEnabled"] is True and s["RotationPeriodInDays"] == 90
    assert t + 90 * DAY - 5 <= int(s["NextRotationDate"]) <= int(time.time()) + 90 * DAY + 5
    kc.disable_key_rotation(KeyId=kid)
    assert kc.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    c.aws("kms", "enable-key-rotation", "--key-id", kid)  # default period: 365 days
    assert call(c, "GetKeyRotationStatus", {"KeyId": kid})["RotationPeriodInDays"] == 365

    blobs, mids = [], []
    for i in range(3):
        blob = kc.encrypt(KeyId=kid, Plaintext=f"before rotation {i}".encode(),
                          EncryptionContext={"n": str(i)})["CiphertextBlob"]
        out = call(c, "Decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": {"n": str(i)}})
        blobs.append(blob)
        mids.append(out["KeyMaterialId"])
        if i < 2:
            assert call(c, "RotateKeyOnDemand", {"KeyId": kid})["KeyId"] == arn
    assert len(set(mids)) == 3, mids
    for i, blob in enumerate(blobs):
        out = call(c, "Decrypt", {"CiphertextBlob": b64(blob), "EncryptionContext": {"n": str(i)}})
        assert base64.b64decode(out["Plaintext"]) == f"before rotation {i}".encode()
        assert out["KeyMaterialId"] == mids[i] and out["KeyId"] == arn
    rot = call(c, "ListKeyRotations", {"KeyId": kid})["Rotations"]
    assert [r["KeyMaterialId"] for r in rot] == mids[1:]
    assert [r["RotationType"] for r in rot] == ["ON_DEMAND", "ON_DEMAND"]
    assert [r["KeyMaterialState"] for r in rot] == ["NON_CURRENT", "CURRENT"]
    assert all(r["KeyId"] == kid for r in rot)
    assert call(c, "ListKeyRotations", {"KeyId": kid, "IncludeKeyMaterial": "ROTATIONS_ONLY"}
                )["Rotations"] == rot
    allm = call(c, "ListKeyRotations", {"KeyId": kid, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"})
    assert [r["KeyMaterialId"] for r in allm["Rotations"]] == mids
    assert "RotationType" not in allm["Rotations"][0]
    page = call(c, "ListKeyRotations", {"KeyId": kid, "IncludeKeyMaterial": "ALL_KEY_MATERIAL",
                                        "Limit": 2})
    assert page["Truncated"] is True and len(page["Rotations"]) == 2
    rest = call(c, "ListKeyRotations", {"KeyId": kid, "IncludeKeyMaterial": "ALL_KEY_MATERIAL",
                                        "Marker": page["NextMarker"]})
    assert rest["Truncated"] is False
    assert [r["KeyMaterialId"] for r in page["Rotations"] + rest["Rotations"]] == mids
    # ReEncrypt of the oldest ciphertext names its material; the result is under the newest.
    # (AWS's newer model also returns DestinationKeyMaterialId; openhsm does not yet.)
    out = call(c, "ReEncrypt", {"CiphertextBlob": b64(blobs[0]), "DestinationKeyId": kid,
                                "SourceEncryptionContext": {"n": "0"}})
    assert out["SourceKeyMaterialId"] == mids[0]
    assert decrypt_mid(c, base64.b64decode(out["CiphertextBlob"])) == (b"before rotation 0",
                                                                       mids[2])


def test_rotation_refused_where_aws_refuses(kms):
    """Asymmetric, HMAC and EXTERNAL keys do not rotate: UnsupportedOperationException, and
    nothing changes."""
    c = kms
    kc = c.boto3("kms")
    keys = [kc.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT"),
            kc.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY"),
            kc.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")]
    ext = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    do_import(kc, ext, os.urandom(32))
    ids = [k["KeyMetadata"]["KeyId"] for k in keys] + [ext]
    for kid in ids:
        before = meta(kc, kid)
        for fn in (kc.enable_key_rotation, kc.disable_key_rotation,
                   kc.get_key_rotation_status):
            code, _ = fails(fn, KeyId=kid)
            assert code == "UnsupportedOperationException", (kid, fn)
        st, typ, _ = call_err(c, "RotateKeyOnDemand", {"KeyId": kid})
        assert (st, typ) == (400, "UnsupportedOperationException")
        assert meta(kc, kid) == before


def test_automatic_rotation(own):
    """Rotation by the clock: 90 days after EnableKeyRotation a new material is current, a
    RotateKey service event is in the trail, old ciphertexts still decrypt."""
    c = own
    kc = c.boto3("kms")
    m = kc.create_key()["KeyMetadata"]
    kid, arn = m["KeyId"], m["Arn"]
    quiet = kc.create_key()["KeyMetadata"]["KeyId"]  # rotation off: never rotates
    call(c, "EnableKeyRotation", {"KeyId": kid, "RotationPeriodInDays": 90})
    old = kc.encrypt(KeyId=kid, Plaintext=b"old")["CiphertextBlob"]
    _, m0 = decrypt_mid(c, old)
    quiet_blob = kc.encrypt(KeyId=quiet, Plaintext=b"q")["CiphertextBlob"]
    _, q0 = decrypt_mid(c, quiet_blob)
    advance(c, 89 * DAY)
    assert call(c, "ListKeyRotations", {"KeyId": kid})["Rotations"] == []
    advance(c, 2 * DAY)
    rot = call(c, "ListKeyRotations", {"KeyId": kid})["Rotations"]
    assert len(rot) == 1 and rot[0]["RotationType"] == "AUTOMATIC"
    assert rot[0]["KeyMaterialState"] == "CURRENT"
    new = kc.encrypt(KeyId=kid, Plaintext=b"new")["CiphertextBlob"]
    pt, m1 = decrypt_mid(c, new)
    assert pt == b"new" and m1 == rot[0]["KeyMaterialId"] and m1 != m0
    assert decrypt_mid(c, old) == (b"old", m0)
    _, evs = events(c, "--name", "RotateKey")
    assert len(evs) == 1 and evs[0]["eventType"] == "AwsServiceEvent"
    assert [r["ARN"] for r in evs[0]["resources"]] == [arn]
    s = call(c, "GetKeyRotationStatus", {"KeyId": kid})
    assert int(s["NextRotationDate"]) >= advance(c, 1) + 88 * DAY
    assert call(c, "ListKeyRotations", {"KeyId": quiet})["Rotations"] == []
    assert decrypt_mid(c, kc.encrypt(KeyId=quiet, Plaintext=b"q")["CiphertextBlob"])[1] == q0


# ---- imported key material ----

def test_import_key_material(kms):
    c = kms
    kc = c.boto3("kms")
    m = kc.create_key(Origin="EXTERNAL", Description="imported")["KeyMetadata"]
    kid = m["KeyId"]
    assert m["KeyState"] == "PendingImport" and m["Origin"] == "EXTERNAL"
    assert m["Enabled"] is False
    material = os.urandom(32)
    p = params(kc, kid)
    assert p["KeyId"] == m["Arn"]
    pub = p["PublicKey"]
    # The public key is an RSA 2048 SubjectPublicKeyInfo that openssl reads.
    d = pathlib.Path(tempfile.mkdtemp(prefix="kmspub-"))
    (d / "pub.der").write_bytes(pub)
    txt = sh("openssl", "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-noout", "-text",
             cwd=d).decode()
    (d / "pub.der").unlink()
    d.rmdir()
    assert "2048 bit" in txt, txt
    # Garbage material, another key's token, a token replaced by a second GetParameters-
    # ForImport: refused, and the key stays PendingImport.
    code, _ = fails(kc.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
                    EncryptedKeyMaterial=os.urandom(256),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "InvalidCiphertextException"
    other = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    po = params(kc, other)
    code, _ = fails(kc.import_key_material, KeyId=kid, ImportToken=po["ImportToken"],
                    EncryptedKeyMaterial=wrap(po["PublicKey"], material, "RSAES_OAEP_SHA_256"),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "InvalidImportTokenException"
    p2 = params(kc, kid)
    code, _ = fails(kc.import_key_material, KeyId=kid, ImportToken=p["ImportToken"],
                    EncryptedKeyMaterial=wrap(pub, material, "RSAES_OAEP_SHA_256"),
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "InvalidImportTokenException"
    assert meta(kc, kid)["KeyState"] == "PendingImport"
    # The current token works.
    do_import(kc, kid, material, p=p2)
    m = meta(kc, kid)
    assert m["KeyState"] == "Enabled" and m["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    blob = kc.encrypt(KeyId=kid, Plaintext=b"secret")["CiphertextBlob"]
    assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # The same material again, wrapped the other way (RSA_4096, RSA_AES_KEY_WRAP_SHA_256): taken.
    do_import(kc, kid, material, alg="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_4096")
    assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # Other material: IncorrectKeyMaterialException, nothing changes.
    before = meta(kc, kid)
    with pytest.raises(ClientError) as ei:
        do_import(kc, kid, os.urandom(32))
    assert ei.value.response["Error"]["Code"] == "IncorrectKeyMaterialException"
    assert meta(kc, kid) == before
    assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # DeleteImportedKeyMaterial: PendingImport, the old ciphertext no longer decrypts ...
    kc.delete_imported_key_material(KeyId=kid)
    assert meta(kc, kid)["KeyState"] == "PendingImport"
    code, msg = fails(kc.decrypt, CiphertextBlob=blob)
    assert code == "KMSInvalidStateException" and msg.endswith("is pending import.")
    # ... until the same material comes back (through the CLI this time).
    p3 = params(kc, kid, "RSA_AES_KEY_WRAP_SHA_256", "RSA_4096")
    d = pathlib.Path(tempfile.mkdtemp(prefix="kmsimp-", dir=str(c.cluster.data.parent)))
    (d / "wrapped.bin").write_bytes(wrap(p3["PublicKey"], material,
                                         "RSA_AES_KEY_WRAP_SHA_256"))
    (d / "token.bin").write_bytes(p3["ImportToken"])
    c.aws("kms", "import-key-material", "--key-id", kid,
          "--encrypted-key-material", f"fileb://{d}/wrapped.bin",
          "--import-token", f"fileb://{d}/token.bin",
          "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert meta(kc, kid)["KeyState"] == "Enabled"
    assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"secret"
    # The trail holds neither the material, nor what wrapped it, nor the import tokens.
    trail = (c.cluster.data / "kms" / "trail.jsonl").read_text()
    for secret in (material, p["ImportToken"], p2["ImportToken"], p3["ImportToken"],
                   (d / "wrapped.bin").read_bytes()):
        assert b64(secret) not in trail and secret.hex() not in trail
    for f in d.iterdir():
        f.unlink()
    d.rmdir()
    # Material of the wrong size for SYMMETRIC_DEFAULT is refused.
    k2 = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as ei:
        do_import(kc, k2, os.urandom(16))
    assert ei.value.response["Error"]["Code"] == "IncorrectKeyMaterialException"
    assert meta(kc, k2)["KeyState"] == "PendingImport"
    # Import to an AWS_KMS key: UnsupportedOperationException.
    code, _ = fails(params, kc=kc, key_id=kc.create_key()["KeyMetadata"]["KeyId"])
    assert code == "UnsupportedOperationException"


def test_import_expiry_and_expired_token(own):
    """ValidTo passes: the material is deleted (DeleteExpiredKeyMaterial service event) and the
    key turns PendingImport; an import token 25 hours old: ExpiredImportTokenException."""
    c = own
    kc = c.boto3("kms")
    a = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]
    b = kc.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    valid_to = datetime.datetime.fromtimestamp(int(time.time()) + DAY, datetime.timezone.utc)
    do_import(kc, a["KeyId"], material, ExpirationModel="KEY_MATERIAL_EXPIRES",
              ValidTo=valid_to)
    m = meta(kc, a["KeyId"])
    assert m["KeyState"] == "Enabled" and m["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert m["ValidTo"] == valid_to
    blob = kc.encrypt(KeyId=a["KeyId"], Plaintext=b"until tomorrow")["CiphertextBlob"]
    pb = params(kc, b)
    wrapped_b = wrap(pb["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_256")
    advance(c, 25 * 3600)
    m = meta(kc, a["KeyId"])
    assert m["KeyState"] == "PendingImport" and "ValidTo" not in m, m
    code, _ = fails(kc.decrypt, CiphertextBlob=blob)
    assert code == "KMSInvalidStateException"
    _, evs = events(c, "--name", "DeleteExpiredKeyMaterial")
    assert [[r["ARN"] for r in e["resources"]] for e in evs] == [[a["Arn"]]]
    code, _ = fails(kc.import_key_material, KeyId=b, ImportToken=pb["ImportToken"],
                    EncryptedKeyMaterial=wrapped_b,
                    ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert code == "ExpiredImportTokenException"
    assert meta(kc, b)["KeyState"] == "PendingImport"
    # Reimport of the same material: the old ciphertext decrypts again.
    do_import(kc, a["KeyId"], material)
    assert kc.decrypt(CiphertextBlob=blob)["Plaintext"] == b"until tomorrow"
