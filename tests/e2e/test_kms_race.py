"""Many connections racing the same KMS key, alias and import token, as a hostile or careless
client would: every call gets a modeled answer (never a 500), exactly one of the racers wins
where only one may, and the key's state afterwards is what the answers said. Also raw HTTP that
the aws CLI never sends (duplicate keys in the body, a key ARN of another account)."""
import base64
import concurrent.futures as cf

import botocore.config
import botocore.exceptions
import pytest

from cloud import KEY_ID, SECRET, Cloud, signed_call
from conftest import Cluster

N = 24  # racing calls per case, from as many connections


@pytest.fixture(scope="module")
def kc(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("kms-race") / "data", hsms=1)
    try:
        yield Cloud(c)
    finally:
        c.stop()


def client(cloud):
    import boto3
    return boto3.client("kms", endpoint_url=cloud.endpoint, region_name=cloud.region,
                        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET,
                        config=botocore.config.Config(retries={"max_attempts": 1},
                                                      read_timeout=60))


def race(cloud, fn):
    """Runs fn(client, i) for i in range(N) on N threads with one client each; returns the
    outcomes: ("ok", result) or ("err", code)."""
    clients = [client(cloud) for _ in range(N)]

    def one(i):
        try:
            return ("ok", fn(clients[i], i))
        except botocore.exceptions.ClientError as e:
            return ("err", e.response["Error"]["Code"])

    with cf.ThreadPoolExecutor(N) as ex:
        return list(ex.map(one, range(N)))


def test_one_alias_name_one_winner(kc):
    kms = client(kc)
    keys = [kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(3)]
    got = race(kc, lambda c, i: c.create_alias(AliasName="alias/contested",
                                               TargetKeyId=keys[i % 3]))
    oks = [o for o in got if o[0] == "ok"]
    assert len(oks) == 1, got
    assert sorted({o[1] for o in got if o[0] == "err"}) == ["AlreadyExistsException"], got
    target = kms.describe_key(KeyId="alias/contested")["KeyMetadata"]["KeyId"]
    assert target in keys
    assert [a["AliasName"] for a in kms.list_aliases()["Aliases"]].count("alias/contested") == 1


def test_state_changes_race(kc):
    """ScheduleKeyDeletion, CancelKeyDeletion, EnableKey and DisableKey at once on one key: each
    answer is the key-state table's for some order, and the final state is a legal one that
    DescribeKey and a fresh Encrypt agree on."""
    kms = client(kc)
    kid = kms.create_key()["KeyMetadata"]["KeyId"]
    ops = [lambda c: c.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7),
           lambda c: c.cancel_key_deletion(KeyId=kid),
           lambda c: c.enable_key(KeyId=kid),
           lambda c: c.disable_key(KeyId=kid)]
    got = race(kc, lambda c, i: ops[i % 4](c))
    allowed = {"KMSInvalidStateException"}
    assert {o[1] for o in got if o[0] == "err"} <= allowed, got
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] in ("Enabled", "Disabled", "PendingDeletion"), md
    try:
        kms.encrypt(KeyId=kid, Plaintext=b"x")
        assert md["KeyState"] == "Enabled", md
    except botocore.exceptions.ClientError as e:
        code = e.response["Error"]["Code"]
        assert (md["KeyState"], code) in (("Disabled", "DisabledException"),
                                           ("PendingDeletion", "KMSInvalidStateException")), md


def test_rotations_race_keep_every_ciphertext(kc):
    """RotateKeyOnDemand and Encrypt at once: every answered rotation added one version, and
    every ciphertext made during the race decrypts."""
    kms = client(kc)
    kid = kms.create_key()["KeyMetadata"]["KeyId"]

    def step(c, i):
        if i % 2 == 0:
            return c.rotate_key_on_demand(KeyId=kid)["KeyId"]
        return c.encrypt(KeyId=kid, Plaintext=f"pt{i}".encode())["CiphertextBlob"]

    # RotateKeyOnDemand is newer than Debian's boto3: the even racers use botocore's signer.
    def step_signed(c, i):
        if i % 2 == 0:
            st, body = signed_call(kc, "TrentService.RotateKeyOnDemand", {"KeyId": kid},
                                   signing_name="kms")
            if st != 200:
                raise botocore.exceptions.ClientError(
                    {"Error": {"Code": body["__type"], "Message": body.get("message")}},
                    "RotateKeyOnDemand")
            return body["KeyId"]
        return step(c, i)

    got = race(kc, step_signed)
    assert all(o[0] == "ok" for o in got), got
    rotations = sum(1 for i in range(N) if i % 2 == 0)
    st, body = signed_call(kc, "TrentService.ListKeyRotations",
                           {"KeyId": kid, "IncludeKeyMaterial": "ALL_KEY_MATERIAL", "Limit": 100},
                           signing_name="kms")
    assert st == 200 and len(body["Rotations"]) == rotations + 1, body
    assert [r["KeyMaterialState"] for r in body["Rotations"]].count("CURRENT") == 1
    for i in range(1, N, 2):
        blob = got[i][1]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == f"pt{i}".encode()


def test_import_token_race(kc):
    """Two GetParametersForImport racing with imports: an import succeeds only with the token of
    the latest parameters; every other answer is InvalidImportTokenException; the key ends
    Enabled once any import succeeded."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    import os
    kms = client(kc)
    kid = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    params = [kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                            WrappingKeySpec="RSA_2048") for _ in range(2)]
    wrapped = []
    for p in params:
        pub = serialization.load_der_public_key(p["PublicKey"])
        wrapped.append(pub.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                          algorithm=hashes.SHA256(), label=None)))
    got = race(kc, lambda c, i: c.import_key_material(
        KeyId=kid, ImportToken=params[i % 2]["ImportToken"], EncryptedKeyMaterial=wrapped[i % 2],
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))
    for i, o in enumerate(got):
        if i % 2 == 1:
            assert o[0] == "ok", (i, o)
        else:
            assert o == ("err", "InvalidImportTokenException"), (i, o)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=kid, Plaintext=b"z")["CiphertextBlob"]
                       )["Plaintext"] == b"z"


def test_crafted_requests(kc):
    kms = client(kc)
    kid = kms.create_key()["KeyMetadata"]["KeyId"]
    # a body with the same member twice is refused before any handler runs, as AWS refuses
    # JSON it cannot read
    raw = ('{"KeyId": "%s", "Plaintext": "eA==", "Plaintext": "eQ=="}' % kid).encode()
    st, body = signed_call(kc, "TrentService.Encrypt", None, signing_name="kms", raw=raw)
    assert st == 400 and body["__type"] == "SerializationException", body
    # another account's ARN for an existing key id is not found, in our account nothing changes
    other = f"arn:aws:kms:us-east-1:999999999999:key/{kid}"
    st, body = signed_call(kc, "TrentService.DisableKey", {"KeyId": other}, signing_name="kms")
    assert st == 400 and body["__type"] == "NotFoundException", body
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    # a ciphertext naming this key but made up byte by byte
    fake = b"K\x01" + bytes.fromhex(kid.replace("-", "")) + b"\0\0\0\1" + b"\0" * 12 + b"x" * 20
    st, body = signed_call(kc, "TrentService.Decrypt",
                           {"CiphertextBlob": base64.b64encode(fake).decode()},
                           signing_name="kms")
    assert st == 400 and body["__type"] == "InvalidCiphertextException", body
