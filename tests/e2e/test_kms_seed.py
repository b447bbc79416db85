# SPDX-License-Identifier: Apache-2.0
"""openhsmd --seed FILE: KMS keys with given ids, known material and aliases for reproducible dev
environments, through the real openhsmd and boto3 / Debian's aws CLI.

What a seeded key holds is checked from outside: GenerateMac of a seeded HMAC key equals Python's
hmac over the same message with the same bytes, GetPublicKey of a seeded RSA key is the public half
of the PEM we wrote, an ECDSA signature of a seeded P-256 key verifies under our own public key,
two BackingKeys make one rotation. A restart with the same file changes nothing (CreationDate,
ciphertexts, MACs); a bad file or an alias conflict makes openhsmd exit non-zero with a message
naming the entry, applies nothing, and never prints the material.
"""
import hashlib
import hmac
import json
import subprocess

import botocore.exceptions
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cloud import Cloud, signed_call
from conftest import BIN

SYM = "0d5c1a1e-1111-4a4a-8b8b-123456789abc"
MAC = "0d5c1a1e-2222-4a4a-8b8b-123456789abc"
RSA = "0d5c1a1e-3333-4a4a-8b8b-123456789abc"
ECC = "0d5c1a1e-4444-4a4a-8b8b-123456789abc"
OFF = "0d5c1a1e-5555-4a4a-8b8b-123456789abc"
SYM_V1 = bytes(range(32))
SYM_V2 = bytes(range(32, 64))
MAC_KEY = bytes(range(100, 132))
ACCOUNT = "111122223333"


def arn(key_id):
    return f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def indent(text, n):
    return "".join(" " * n + line + "\n" for line in text.splitlines())


@pytest.fixture(scope="module")
def keys():
    return {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ecc": ec.generate_private_key(ec.SECP256R1())}


def seed_yaml(keys):
    return (
        "# a dev environment\n"
        "Keys:\n"
        f"  - KeyId: {SYM}\n"
        "    Description: dev key\n"
        f"    BackingKeys: [{SYM_V1.hex()}, {SYM_V2.hex()}]\n"
        "    Tags: [{TagKey: team, TagValue: dev}]\n"
        f"  - KeyId: {MAC}\n"
        "    KeySpec: HMAC_256\n"
        "    KeyUsage: GENERATE_VERIFY_MAC\n"
        "    BackingKeys:\n"
        f"      - {MAC_KEY.hex().upper()}\n"
        f"  - KeyId: {RSA}\n"
        "    KeySpec: RSA_2048\n"
        "    KeyUsage: SIGN_VERIFY\n"
        "    PrivateKeyPem: |\n" + indent(pem(keys["rsa"]), 6) +
        f"  - KeyId: {ECC}\n"
        "    KeySpec: ECC_NIST_P256\n"
        "    KeyUsage: SIGN_VERIFY\n"
        "    PrivateKeyPem: |\n" + indent(pem(keys["ecc"]), 6) +
        f"  - KeyId: {OFF}\n"
        "    Enabled: false\n"
        "Aliases:\n"
        f"  - AliasName: alias/dev\n    TargetKeyId: {SYM}\n"
        f"  - {{AliasName: alias/mac, TargetKeyId: {MAC}}}\n")


def kms_of(cluster):
    return Cloud(cluster).boto3("kms")


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def run_openhsmd(data, seed, timeout=120):
    """openhsmd with --seed, expected to stop by itself: (exit code, its output)."""
    r = subprocess.run([str(BIN / "openhsmd"), "--data", str(data), "--hsms", "1",
                        "--exit-with-parent", "--listen", "127.0.0.1:0", "--seed", str(seed)],
                       capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def test_seed_yaml_keys_material_aliases_and_restart(make_cluster, tmp_path, keys):
    """Every seeded key is there with its id, spec, usage, state, description, tags and material;
    the aliases resolve; a restart with the same file changes nothing."""
    f = tmp_path / "seed.yaml"
    f.write_text(seed_yaml(keys))
    c = make_cluster(hsms=1, extra=["--seed", str(f)])
    kms = kms_of(c)

    md = kms.describe_key(KeyId=SYM)["KeyMetadata"]
    assert (md["KeyId"], md["Arn"], md["KeySpec"], md["KeyUsage"], md["KeyState"], md["Enabled"],
            md["Description"], md["Origin"], md["AWSAccountId"]) == (
        SYM, arn(SYM), "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled", True, "dev key",
        "AWS_KMS", ACCOUNT)
    assert kms.describe_key(KeyId="alias/dev")["KeyMetadata"]["KeyId"] == SYM
    assert kms.describe_key(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/mac")[
        "KeyMetadata"]["KeyId"] == MAC
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/dev"] == SYM and aliases["alias/mac"] == MAC
    assert kms.list_resource_tags(KeyId=SYM)["Tags"] == [{"TagKey": "team", "TagValue": "dev"}]
    assert '"kms:*"' in kms.get_key_policy(KeyId=SYM, PolicyName="default")["Policy"]

    # Two BackingKeys: two versions, the second a rotation.
    st, rot = signed_call(Cloud(c), "TrentService.ListKeyRotations", {"KeyId": "alias/dev"},
                          signing_name="kms")
    assert st == 200, rot
    assert len(rot["Rotations"]) == 1, rot

    blob = kms.encrypt(KeyId="alias/dev", Plaintext=b"seeded secret",
                       EncryptionContext={"app": "dev"})["CiphertextBlob"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "dev"})
    assert (out["Plaintext"], out["KeyId"]) == (b"seeded secret", arn(SYM))

    msg = b"message to MAC"
    want = hmac.new(MAC_KEY, msg, hashlib.sha256).digest()
    mac = kms.generate_mac(KeyId="alias/mac", Message=msg, MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert mac == want
    assert kms.verify_mac(KeyId=MAC, Message=msg, MacAlgorithm="HMAC_SHA_256",
                          Mac=want)["MacValid"] is True

    rsa_pub = keys["rsa"].public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    got = kms.get_public_key(KeyId=RSA)
    assert (got["PublicKey"], got["KeySpec"], got["KeyUsage"]) == (rsa_pub, "RSA_2048",
                                                                   "SIGN_VERIFY")
    sig = kms.sign(KeyId=ECC, Message=b"to sign", MessageType="RAW",
                   SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    keys["ecc"].public_key().verify(sig, b"to sign", ec.ECDSA(hashes.SHA256()))  # raises if bad

    off = kms.describe_key(KeyId=OFF)["KeyMetadata"]
    assert (off["KeyState"], off["Enabled"], off["KeySpec"]) == ("Disabled", False,
                                                                 "SYMMETRIC_DEFAULT")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.encrypt(KeyId=OFF, Plaintext=b"x")
    assert code(e) == "DisabledException"

    # The aws CLI sees the same key.
    cli = Cloud(c).aws("kms", "describe-key", "--key-id", "alias/dev")
    assert cli["KeyMetadata"]["KeyId"] == SYM

    ids = [SYM, MAC, RSA, ECC, OFF]
    created = {k: kms.describe_key(KeyId=k)["KeyMetadata"]["CreationDate"] for k in ids}
    listed = {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert set(ids) <= listed
    assert SYM_V1.hex() not in c.output and MAC_KEY.hex().upper() not in c.output

    c.stop()
    c2 = make_cluster(hsms=1, extra=["--seed", str(f)])  # same data dir (name "data")
    kms = kms_of(c2)
    assert {k: kms.describe_key(KeyId=k)["KeyMetadata"]["CreationDate"] for k in ids} == created
    assert {k["KeyId"] for k in kms.list_keys()["Keys"]} == listed
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "dev"})["Plaintext"] == \
        b"seeded secret"
    assert kms.generate_mac(KeyId="alias/mac", Message=msg, MacAlgorithm="HMAC_SHA_256")[
        "Mac"] == want
    assert kms.get_public_key(KeyId=RSA)["PublicKey"] == rsa_pub
    assert kms.describe_key(KeyId=OFF)["KeyMetadata"]["KeyState"] == "Disabled"
    st, rot = signed_call(Cloud(c2), "TrentService.ListKeyRotations", {"KeyId": SYM},
                          signing_name="kms")
    assert st == 200 and len(rot["Rotations"]) == 1, rot


def test_seed_json(make_cluster, tmp_path):
    """The same structure as JSON (first non-space character '{') is accepted."""
    f = tmp_path / "seed.json"
    f.write_text("\n  " + json.dumps({
        "Keys": [{"KeyId": SYM, "Description": "from json", "Enabled": True,
                  "BackingKeys": [SYM_V1.hex()]},
                 {"KeyId": MAC, "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC",
                  "BackingKeys": [MAC_KEY.hex()]}],
        "Aliases": [{"AliasName": "alias/json", "TargetKeyId": SYM}]}))
    c = make_cluster(hsms=1, extra=["--seed", str(f)])
    kms = kms_of(c)
    md = kms.describe_key(KeyId="alias/json")["KeyMetadata"]
    assert (md["KeyId"], md["Description"], md["KeyState"]) == (SYM, "from json", "Enabled")
    blob = kms.encrypt(KeyId="alias/json", Plaintext=b"j")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"j"
    assert kms.generate_mac(KeyId=MAC, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"] == \
        hmac.new(MAC_KEY, b"m", hashlib.sha256).digest()


BAD = [
    ("Keys:\n"
     f"  - KeyId: {SYM}\n"
     f"  - KeyId: {MAC}\n    BackingKeys: [{SYM_V1[:31].hex()}]\n",
     f"Keys[1] (KeyId {MAC}): BackingKeys[0] is 31 bytes; SYMMETRIC_DEFAULT material is 32 bytes"),
    (f"Keys:\n  - KeyId: {SYM}\n    KeySpec: AES_256\n",
     f"Keys[0] (KeyId {SYM}): unknown KeySpec AES_256"),
    (f"Keys:\n  - KeyId: {SYM}\n  - KeyId: {SYM.upper()}\n",
     f"Keys[1] (KeyId {SYM}): the same KeyId as Keys[0]"),
    (f"Keys:\n  - &k {{KeyId: {SYM}}}\n  - *k\n", "line 2: YAML anchors and aliases"),
    (f"Keys:\n  - KeyId: {SYM}\n    BackingKeys: [{SYM_V1.hex()[:-1]}x]\n",
     f"Keys[0] (KeyId {SYM}): BackingKeys[0] has a character that is not a hex digit"),
]


@pytest.mark.parametrize("doc,want", BAD, ids=["length", "spec", "duplicate", "anchor", "hex"])
def test_seed_bad_file_exits_and_applies_nothing(make_cluster, tmp_path, doc, want):
    """openhsmd exits non-zero naming the file, the entry and the problem (never the material);
    a start without the file then has none of its keys."""
    f = tmp_path / "bad.yaml"
    f.write_text(doc)
    rc, out = run_openhsmd(tmp_path / "data", f)
    assert rc != 0, out
    assert f"openhsmd: --seed: {f}: {want}" in out, out
    assert SYM_V1[:31].hex() not in out and SYM_V1.hex()[:-1] not in out
    assert "openhsmd: ready" not in out
    c = make_cluster(hsms=1)  # same data dir, no seed
    kms = kms_of(c)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.describe_key(KeyId=SYM)
    assert code(e) == "NotFoundException"
    assert kms.list_keys()["Keys"] == []


def test_seed_alias_conflict_on_restart(make_cluster, tmp_path):
    """A later file whose alias exists for another key is refused as a whole: its new key is not
    created and the alias keeps its target."""
    first = tmp_path / "first.yaml"
    first.write_text(f"Keys:\n  - KeyId: {SYM}\nAliases:\n"
                     f"  - {{AliasName: alias/dev, TargetKeyId: {SYM}}}\n")
    c = make_cluster(hsms=1, extra=["--seed", str(first)])
    assert kms_of(c).describe_key(KeyId="alias/dev")["KeyMetadata"]["KeyId"] == SYM
    c.stop()

    second = tmp_path / "second.yaml"
    second.write_text(f"Keys:\n  - KeyId: {SYM}\n  - KeyId: {OFF}\nAliases:\n"
                      f"  - {{AliasName: alias/dev, TargetKeyId: {OFF}}}\n")
    rc, out = run_openhsmd(tmp_path / "data", second)
    assert rc != 0, out
    assert (f"{second}: Aliases[0] (alias/dev): the alias exists and points at another key "
            f"({SYM})") in out, out

    c2 = make_cluster(hsms=1, extra=["--seed", str(first)])
    kms = kms_of(c2)
    assert kms.describe_key(KeyId="alias/dev")["KeyMetadata"]["KeyId"] == SYM
    with pytest.raises(botocore.exceptions.ClientError) as e:
        kms.describe_key(KeyId=OFF)
    assert code(e) == "NotFoundException"
