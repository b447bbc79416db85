"""KMS in openhsmd through the tools users run: Debian's aws CLI, boto3, and OpenSSL on the other
side (envelope encryption, signatures checked with `openssl` on GetPublicKey's DER, OAEP done
locally). One openhsmd serves the whole module; each test makes its own keys.

Operations newer than Debian's awscli/boto3 (late 2022) go through botocore's SigV4 signer
(cloud.signed_call) and say so."""
import base64
import json
import os
import subprocess

import pytest

from cloud import Cloud, signed_call
from conftest import BIN, Cluster


@pytest.fixture(scope="module")
def kc(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("kms") / "data")
    try:
        yield Cloud(c)
    finally:
        c.stop()


def b64(b):
    return base64.b64encode(b).decode()


def err_code(exc):
    return exc.response["Error"]["Code"]


def boto_err(fn, **kw):
    import botocore.exceptions
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(**kw)
    return e.value.response["Error"]


def new_key(kms, **kw):
    return kms.create_key(**kw)["KeyMetadata"]


def write(path, data):
    path.write_bytes(data)
    return str(path)


# ---- keys and aliases ----

def test_create_describe_list(kc):
    kms = kc.boto3("kms")
    md = new_key(kms, Description="first", Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True
    assert md["KeySpec"] == md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT" and md["Origin"] == "AWS_KMS"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and md["MultiRegion"] is False
    assert md["Arn"] == f"arn:aws:kms:us-east-1:111122223333:key/{md['KeyId']}"
    assert md["AWSAccountId"] == "111122223333" and md["KeyManager"] == "CUSTOMER"
    # by id, ARN, alias, alias ARN
    kms.create_alias(AliasName="alias/first", TargetKeyId=md["KeyId"])
    for ref in (md["KeyId"], md["Arn"], "alias/first",
                "arn:aws:kms:us-east-1:111122223333:alias/first"):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == md["KeyId"]
    ids = [k["KeyId"] for k in kms.list_keys()["Keys"]]
    assert md["KeyId"] in ids
    # the CLI sees the same
    out = kc.aws("kms", "describe-key", "--key-id", "alias/first")
    assert out["KeyMetadata"]["Description"] == "first"
    # another region does not see it
    e = kc.aws("kms", "describe-key", "--key-id", md["KeyId"], region="us-west-2", check=False)
    assert e.code == "NotFoundException"


def test_key_specs_and_usages(kc):
    kms = kc.boto3("kms")
    cases = {
        ("RSA_2048", "ENCRYPT_DECRYPT"): ("EncryptionAlgorithms",
                                          ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        ("RSA_3072", "SIGN_VERIFY"): ("SigningAlgorithms", None),
        ("ECC_NIST_P256", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_256"]),
        ("ECC_NIST_P384", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_384"]),
        ("ECC_NIST_P521", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_512"]),
        ("ECC_SECG_P256K1", "SIGN_VERIFY"): ("SigningAlgorithms", ["ECDSA_SHA_256"]),
        ("HMAC_224", "GENERATE_VERIFY_MAC"): ("MacAlgorithms", ["HMAC_SHA_224"]),
        ("HMAC_512", "GENERATE_VERIFY_MAC"): ("MacAlgorithms", ["HMAC_SHA_512"]),
    }
    for (spec, usage), (field, algs) in cases.items():
        md = new_key(kms, KeySpec=spec, KeyUsage=usage)
        assert md["KeySpec"] == spec and md["KeyUsage"] == usage, md
        if algs is not None:
            assert md[field] == algs, md
    md = new_key(kms, KeySpec="RSA_3072", KeyUsage="SIGN_VERIFY")
    assert sorted(md["SigningAlgorithms"]) == sorted(
        [f"RSASSA_{p}_SHA_{h}" for p in ("PSS", "PKCS1_V1_5") for h in (256, 384, 512)])
    # ECC keys need SIGN_VERIFY; HMAC keys need GENERATE_VERIFY_MAC; both KeySpec fields refused
    before = len(kms.list_keys(Limit=1000)["Keys"])
    for kw in ({"KeySpec": "ECC_NIST_P256"}, {"KeySpec": "HMAC_256"},
               {"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCRYPT_DECRYPT"},
               {"KeySpec": "SYMMETRIC_DEFAULT", "KeyUsage": "SIGN_VERIFY"},
               {"KeySpec": "RSA_2048", "CustomerMasterKeySpec": "RSA_2048"}):
        assert boto_err(kms.create_key, **kw)["Code"] == "ValidationException", kw
    assert boto_err(kms.create_key, KeySpec="NOPE")["Code"] == "ValidationException"
    assert len(kms.list_keys(Limit=1000)["Keys"]) == before  # nothing made


def test_aliases(kc):
    kms = kc.boto3("kms")
    a = new_key(kms)["KeyId"]
    b = new_key(kms)["KeyId"]
    rsa = new_key(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=a)
    assert boto_err(kms.create_alias, AliasName="alias/app",
                    TargetKeyId=b)["Code"] == "AlreadyExistsException"
    assert boto_err(kms.create_alias, AliasName="alias/aws/x",
                    TargetKeyId=b)["Code"] == "InvalidAliasNameException"
    assert boto_err(kms.create_alias, AliasName="app2",
                    TargetKeyId=b)["Code"] == "ValidationException"
    assert boto_err(kms.create_alias, AliasName="alias/x",
                    TargetKeyId="alias/app")["Code"] == "ValidationException"
    ct = kms.encrypt(KeyId="alias/app", Plaintext=b"x")["CiphertextBlob"]
    kms.update_alias(AliasName="alias/app", TargetKeyId=b)
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == b
    # the old ciphertext still decrypts (it names key a), but not through the moved alias
    assert kms.decrypt(CiphertextBlob=ct)["Plaintext"] == b"x"
    assert boto_err(kms.decrypt, CiphertextBlob=ct,
                    KeyId="alias/app")["Code"] == "IncorrectKeyException"
    assert boto_err(kms.update_alias, AliasName="alias/app",
                    TargetKeyId=rsa)["Code"] == "ValidationException"
    listed = {x["AliasName"]: x for x in kms.list_aliases(KeyId=b)["Aliases"]}
    assert listed["alias/app"]["TargetKeyId"] == b
    assert listed["alias/app"]["AliasArn"] == "arn:aws:kms:us-east-1:111122223333:alias/app"
    kms.delete_alias(AliasName="alias/app")
    assert boto_err(kms.describe_key, KeyId="alias/app")["Code"] == "NotFoundException"
    assert boto_err(kms.delete_alias, AliasName="alias/app")["Code"] == "NotFoundException"


# ---- symmetric encryption ----

def test_envelope_encryption(kc):
    """GenerateDataKey, encrypt locally with the data key (AES-GCM, python3-cryptography),
    keep only the encrypted data key, later Decrypt it and decrypt the data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    kms = kc.boto3("kms")
    kid = new_key(kms)["KeyId"]
    kms.create_alias(AliasName="alias/envelope", TargetKeyId=kid)
    ctx = {"purpose": "backup", "tenant": "7"}
    dk = kms.generate_data_key(KeyId="alias/envelope", KeySpec="AES_256", EncryptionContext=ctx)
    assert len(dk["Plaintext"]) == 32 and dk["KeyId"].endswith(kid)
    nonce = os.urandom(12)
    sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, b"payroll" * 100, None)
    blob = dk["CiphertextBlob"]
    got = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(ctx.items()))))
    assert got["Plaintext"] == dk["Plaintext"] and got["KeyId"] == dk["KeyId"]
    assert got["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert AESGCM(got["Plaintext"]).decrypt(nonce, sealed, None) == b"payroll" * 100
    # NumberOfBytes instead of KeySpec; WithoutPlaintext gives no plaintext
    assert len(kms.generate_data_key(KeyId=kid, NumberOfBytes=7)["Plaintext"]) == 7
    wp = kms.generate_data_key_without_plaintext(KeyId=kid, KeySpec="AES_128")
    assert "Plaintext" not in wp
    assert len(kms.decrypt(CiphertextBlob=wp["CiphertextBlob"])["Plaintext"]) == 16
    for kw in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        assert boto_err(kms.generate_data_key, KeyId=kid, **kw)["Code"] == "ValidationException"
    # out of range (botocore's signer: boto3 itself refuses these before sending)
    for n in (0, 1025):
        st, out = signed_call(kc, "TrentService.GenerateDataKey", {"KeyId": kid, "NumberOfBytes": n},
                              signing_name="kms")
        assert st == 400 and out["__type"] == "ValidationException", out


def test_encrypt_decrypt_cli_and_tampering(kc, tmp_path):
    k1 = kc.aws("kms", "create-key")["KeyMetadata"]["KeyId"]
    k2 = kc.aws("kms", "create-key")["KeyMetadata"]["KeyId"]
    pt = write(tmp_path / "pt", b"secret message")
    out = kc.aws("kms", "encrypt", "--key-id", k1, "--plaintext", f"fileb://{pt}",
                 "--encryption-context", "app=x,env=dev")
    blob = base64.b64decode(out["CiphertextBlob"])
    assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    ct = write(tmp_path / "ct", blob)
    # Decrypt without KeyId (the blob names the key), context in any order
    out = kc.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}",
                 "--encryption-context", "env=dev,app=x")
    assert base64.b64decode(out["Plaintext"]) == b"secret message"
    assert out["KeyId"].endswith(k1)
    # wrong or missing context
    for ctx in (["--encryption-context", "app=x,env=prod"], ["--encryption-context", "app=x"], []):
        e = kc.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}", *ctx, check=False)
        assert e.code == "InvalidCiphertextException", (ctx, e)
    # another key named
    e = kc.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{ct}", "--key-id", k2,
               "--encryption-context", "app=x,env=dev", check=False)
    assert e.code == "IncorrectKeyException"
    # every byte flipped, every truncation class, an appended byte
    kms = kc.boto3("kms")
    ctx = {"app": "x", "env": "dev"}
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        code = boto_err(kms.decrypt, CiphertextBlob=bytes(bad), EncryptionContext=ctx)["Code"]
        assert code in ("InvalidCiphertextException",), (i, code)
    for n in (1, 10, 22, 34, len(blob) - 1):
        assert boto_err(kms.decrypt, CiphertextBlob=blob[:n],
                        EncryptionContext=ctx)["Code"] == "InvalidCiphertextException", n
    assert boto_err(kms.decrypt, CiphertextBlob=blob + b"\0",
                    EncryptionContext=ctx)["Code"] == "InvalidCiphertextException"
    # plaintext bounds: 4096 is fine, 4097 and 0 are refused
    assert kms.encrypt(KeyId=k1, Plaintext=b"a" * 4096)["CiphertextBlob"]
    for n in (0, 4097):  # botocore's signer: boto3 refuses these itself
        st, out = signed_call(kc, "TrentService.Encrypt", {"KeyId": k1, "Plaintext": b64(b"a" * n)},
                              signing_name="kms")
        assert st == 400 and out["__type"] == "ValidationException", (n, out)


def test_re_encrypt(kc):
    kms = kc.boto3("kms")
    a = new_key(kms)["KeyId"]
    b = new_key(kms)["KeyId"]
    ct = kms.encrypt(KeyId=a, Plaintext=b"move me", EncryptionContext={"k": "1"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=ct, SourceEncryptionContext={"k": "1"},
                         DestinationKeyId=b, DestinationEncryptionContext={"k": "2"})
    assert out["SourceKeyId"].endswith(a) and out["KeyId"].endswith(b)
    got = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"k": "2"})
    assert got["Plaintext"] == b"move me" and got["KeyId"].endswith(b)
    assert boto_err(kms.re_encrypt, CiphertextBlob=ct, DestinationKeyId=b,
                    SourceEncryptionContext={"k": "9"})["Code"] == "InvalidCiphertextException"
    assert boto_err(kms.re_encrypt, CiphertextBlob=ct, DestinationKeyId=b, SourceKeyId=b,
                    SourceEncryptionContext={"k": "1"})["Code"] == "IncorrectKeyException"


def test_generate_random(kc):
    out = kc.aws("kms", "generate-random", "--number-of-bytes", "64")
    r = base64.b64decode(out["Plaintext"])
    assert len(r) == 64 and r != bytes(64)
    for n in (0, 1025):  # botocore's signer: the CLI refuses these itself
        st, out = signed_call(kc, "TrentService.GenerateRandom", {"NumberOfBytes": n},
                              signing_name="kms")
        assert st == 400 and out["__type"] == "ValidationException", out


def test_dry_run(kc):
    """DryRun (botocore's signer: Debian's boto3 predates the field)."""
    kms = kc.boto3("kms")
    kid = new_key(kms)["KeyId"]
    st, body = signed_call(kc, "TrentService.Encrypt",
                           {"KeyId": kid, "Plaintext": b64(b"x"), "DryRun": True},
                           signing_name="kms")
    assert body["__type"] == "DryRunOperationException", body
    st, body = signed_call(kc, "TrentService.Encrypt",
                           {"KeyId": kid, "Plaintext": b64(b"x")}, signing_name="kms")
    assert st == 200 and body["KeyId"].endswith(kid)


# ---- asymmetric keys, checked with openssl ----

SIGN_CASES = [
    ("RSA_2048", "RSASSA_PSS_SHA_256", ["-sha256", "-sigopt", "rsa_padding_mode:pss",
                                        "-sigopt", "rsa_pss_saltlen:32"]),
    ("RSA_2048", "RSASSA_PSS_SHA_384", ["-sha384", "-sigopt", "rsa_padding_mode:pss",
                                        "-sigopt", "rsa_pss_saltlen:48"]),
    ("RSA_2048", "RSASSA_PSS_SHA_512", ["-sha512", "-sigopt", "rsa_padding_mode:pss",
                                        "-sigopt", "rsa_pss_saltlen:64"]),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", ["-sha256"]),
    ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_384", ["-sha384"]),
    ("RSA_4096", "RSASSA_PKCS1_V1_5_SHA_512", ["-sha512"]),
    ("ECC_NIST_P256", "ECDSA_SHA_256", ["-sha256"]),
    ("ECC_NIST_P384", "ECDSA_SHA_384", ["-sha384"]),
    ("ECC_NIST_P521", "ECDSA_SHA_512", ["-sha512"]),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256", ["-sha256"]),
]


def openssl(*args, inp=None):
    r = subprocess.run(["openssl", *args], capture_output=True, input=inp, timeout=60)
    return r.returncode, r.stdout, r.stderr


def test_sign_verify_with_openssl(kc, tmp_path):
    """Sign with the aws CLI (RAW and DIGEST), verify with `openssl dgst -verify` on the PEM made
    from GetPublicKey's DER, and with KMS Verify; a changed signature fails."""
    keys = {}
    msg = write(tmp_path / "msg", b"the message to sign\n")
    for spec, alg, dgst in SIGN_CASES:
        if spec not in keys:
            keys[spec] = kc.aws("kms", "create-key", "--key-spec", spec, "--key-usage",
                                "SIGN_VERIFY")["KeyMetadata"]["KeyId"]
            der = base64.b64decode(kc.aws("kms", "get-public-key", "--key-id",
                                          keys[spec])["PublicKey"])
            rc, pem, e = openssl("pkey", "-pubin", "-inform", "DER", inp=der)
            assert rc == 0, e
            (tmp_path / f"{spec}.pem").write_bytes(pem)
        kid = keys[spec]
        h = alg.rsplit("_", 1)[1]
        rc, digest, e = openssl("dgst", f"-sha{h}", "-binary", msg)
        dg = write(tmp_path / "digest", digest)
        for mtype, src in (("RAW", msg), ("DIGEST", dg)):
            out = kc.aws("kms", "sign", "--key-id", kid, "--message", f"fileb://{src}",
                         "--message-type", mtype, "--signing-algorithm", alg)
            assert out["SigningAlgorithm"] == alg
            sig = write(tmp_path / "sig", base64.b64decode(out["Signature"]))
            rc, so, se = openssl("dgst", *dgst, "-verify", str(tmp_path / f"{spec}.pem"),
                                 "-signature", sig, msg)
            assert rc == 0 and b"Verified OK" in so, (spec, alg, mtype, so, se)
            v = kc.aws("kms", "verify", "--key-id", kid, "--message", f"fileb://{src}",
                       "--message-type", mtype, "--signing-algorithm", alg,
                       "--signature", f"fileb://{sig}")
            assert v["SignatureValid"] is True
        bad = bytearray(base64.b64decode(out["Signature"]))
        bad[len(bad) // 2] ^= 1
        sig = write(tmp_path / "bad", bytes(bad))
        e = kc.aws("kms", "verify", "--key-id", kid, "--message", f"fileb://{dg}",
                   "--message-type", "DIGEST", "--signing-algorithm", alg,
                   "--signature", f"fileb://{sig}", check=False)
        assert e.code == "KMSInvalidSignatureException", (spec, alg, e)
    kms = kc.boto3("kms")
    # wrong algorithm for the spec, a digest of the wrong length, a symmetric key
    assert boto_err(kms.sign, KeyId=keys["ECC_NIST_P256"], Message=b"m",
                    SigningAlgorithm="ECDSA_SHA_384")["Code"] == "InvalidKeyUsageException"
    assert boto_err(kms.sign, KeyId=keys["ECC_NIST_P256"], Message=b"short", MessageType="DIGEST",
                    SigningAlgorithm="ECDSA_SHA_256")["Code"] == "ValidationException"
    sym = new_key(kms)["KeyId"]
    assert boto_err(kms.sign, KeyId=sym, Message=b"m",
                    SigningAlgorithm="ECDSA_SHA_256")["Code"] == "InvalidKeyUsageException"
    assert boto_err(kms.get_public_key, KeyId=sym)["Code"] == "UnsupportedOperationException"


def test_rsa_oaep_encrypt_decrypt(kc, tmp_path):
    """RSAES_OAEP_SHA_1/256: KMS encrypts, KMS decrypts; openssl encrypts with the public key and
    KMS decrypts; the plaintext limits of the spec."""
    kms = kc.boto3("kms")
    kid = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyId"]
    pub = kms.get_public_key(KeyId=kid)
    assert pub["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    pem = tmp_path / "pub.pem"
    rc, out, e = openssl("pkey", "-pubin", "-inform", "DER", inp=pub["PublicKey"])
    pem.write_bytes(out)
    for alg, h, limit in (("RSAES_OAEP_SHA_1", "sha1", 214), ("RSAES_OAEP_SHA_256", "sha256", 190)):
        ct = kms.encrypt(KeyId=kid, Plaintext=b"k" * limit, EncryptionAlgorithm=alg)
        assert len(ct["CiphertextBlob"]) == 256
        got = kms.decrypt(CiphertextBlob=ct["CiphertextBlob"], KeyId=kid, EncryptionAlgorithm=alg)
        assert got["Plaintext"] == b"k" * limit
        assert boto_err(kms.encrypt, KeyId=kid, Plaintext=b"k" * (limit + 1),
                        EncryptionAlgorithm=alg)["Code"] == "ValidationException"
        rc, local, e = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pem), "-pkeyopt",
                               "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{h}",
                               "-pkeyopt", f"rsa_mgf1_md:{h}", inp=b"from openssl")
        assert rc == 0, e
        got = kms.decrypt(CiphertextBlob=local, KeyId=kid, EncryptionAlgorithm=alg)
        assert got["Plaintext"] == b"from openssl"
    # symmetric default on an RSA key, an asymmetric ciphertext without KeyId, an altered one
    assert boto_err(kms.encrypt, KeyId=kid, Plaintext=b"x")["Code"] == "InvalidKeyUsageException"
    assert boto_err(kms.decrypt, CiphertextBlob=local, EncryptionAlgorithm="RSAES_OAEP_SHA_256"
                    )["Code"] == "ValidationException"
    bad = bytearray(local)
    bad[5] ^= 1
    assert boto_err(kms.decrypt, CiphertextBlob=bytes(bad), KeyId=kid,
                    EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Code"] == "InvalidCiphertextException"


def test_data_key_pairs(kc):
    from cryptography.hazmat.primitives import serialization
    kms = kc.boto3("kms")
    kid = new_key(kms)["KeyId"]
    for spec in ("RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1"):
        out = kms.generate_data_key_pair(KeyId=kid, KeyPairSpec=spec,
                                         EncryptionContext={"p": spec})
        priv = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
        pub = serialization.load_der_public_key(out["PublicKey"])
        assert priv.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo) == out["PublicKey"]
        assert type(pub).__name__.startswith("_" ) or pub is not None
        back = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"],
                           EncryptionContext={"p": spec})
        assert back["Plaintext"] == out["PrivateKeyPlaintext"]
        wp = kms.generate_data_key_pair_without_plaintext(KeyId=kid, KeyPairSpec=spec)
        assert "PrivateKeyPlaintext" not in wp and wp["PublicKey"]
    rsa = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyId"]
    assert boto_err(kms.generate_data_key_pair, KeyId=rsa,
                    KeyPairSpec="RSA_2048")["Code"] == "InvalidKeyUsageException"


# ---- HMAC ----

def test_hmac_generate_verify(kc):
    import hmac as pyhmac
    kms = kc.boto3("kms")
    kid = new_key(kms, KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    mac = kms.generate_mac(KeyId=kid, Message=b"hello", MacAlgorithm="HMAC_SHA_384")
    assert len(mac["Mac"]) == 48 and mac["MacAlgorithm"] == "HMAC_SHA_384"
    ok = kms.verify_mac(KeyId=kid, Message=b"hello", MacAlgorithm="HMAC_SHA_384", Mac=mac["Mac"])
    assert ok["MacValid"] is True
    bad = bytearray(mac["Mac"])
    bad[0] ^= 1
    assert boto_err(kms.verify_mac, KeyId=kid, Message=b"hello", MacAlgorithm="HMAC_SHA_384",
                    Mac=bytes(bad))["Code"] == "KMSInvalidMacException"
    assert boto_err(kms.generate_mac, KeyId=kid, Message=b"x",
                    MacAlgorithm="HMAC_SHA_256")["Code"] == "InvalidKeyUsageException"
    sym = new_key(kms)["KeyId"]
    assert boto_err(kms.generate_mac, KeyId=sym, Message=b"x",
                    MacAlgorithm="HMAC_SHA_256")["Code"] == "InvalidKeyUsageException"
    assert pyhmac.compare_digest(mac["Mac"], mac["Mac"])


def test_imported_hmac_key_matches_openssl_mac(kc, tmp_path):
    """An HMAC_256 key with imported material (wrapped with `openssl pkeyutl` OAEP-SHA-256 under
    GetParametersForImport's public key): GenerateMac equals `openssl mac` with the same key."""
    kms = kc.boto3("kms")
    kid = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC",
                  Origin="EXTERNAL")["KeyId"]
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    params = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    pem = tmp_path / "wrap.pem"
    rc, out, e = openssl("pkey", "-pubin", "-inform", "DER", inp=params["PublicKey"])
    pem.write_bytes(out)
    key = os.urandom(32)
    rc, wrapped, e = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", str(pem), "-pkeyopt",
                             "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                             "-pkeyopt", "rsa_mgf1_md:sha256", inp=key)
    assert rc == 0, e
    out = kms.import_key_material(KeyId=kid, ImportToken=params["ImportToken"],
                                  EncryptedKeyMaterial=wrapped,
                                  ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    msg = b"message for the mac"
    got = kms.generate_mac(KeyId=kid, Message=msg, MacAlgorithm="HMAC_SHA_256")["Mac"]
    rc, ref, e = openssl("mac", "-digest", "SHA256", "-macopt", f"hexkey:{key.hex()}",
                         "-binary", "HMAC", inp=msg)
    assert rc == 0, e
    assert got == ref


# ---- the audit trail ----

def test_trail_records_calls_without_secrets(kc, tmp_path):
    kms = kc.boto3("kms")
    kid = new_key(kms, Description="trail")["KeyId"]
    secret = b"TOP-SECRET-PLAINTEXT-123"
    ct = kms.encrypt(KeyId=kid, Plaintext=secret, EncryptionContext={"who": "trail"})
    dk = kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
    boto_err(kms.describe_key, KeyId="alias/none-such")
    data = kc.cluster.data
    trail = (data / "kms" / "trail.jsonl").read_bytes()
    assert secret not in trail and b64(secret).encode() not in trail
    assert b64(dk["Plaintext"]).encode() not in trail
    assert b64(ct["CiphertextBlob"]).encode() not in trail
    r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(data), "--key", kid],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    evs = [json.loads(line) for line in r.stdout.splitlines()]
    names = [e["eventName"] for e in evs]
    assert names[:3] == ["CreateKey", "Encrypt", "GenerateDataKey"], names
    enc = evs[1]
    assert enc["eventSource"] == "kms.amazonaws.com" and enc["readOnly"] is True
    assert enc["requestParameters"]["encryptionContext"] == {"who": "trail"}
    assert enc["resources"][0]["ARN"].endswith(kid)
    assert enc["eventType"] == "AwsApiCall" and enc["recipientAccountId"] == "111122223333"
    r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(data), "--name",
                        "DescribeKey"], capture_output=True, text=True, timeout=30)
    fails = [json.loads(x) for x in r.stdout.splitlines()]
    assert any(e.get("errorCode") == "NotFoundException" for e in fails), fails
    r = subprocess.run([str(BIN / "openhsmd"), "events", "--data-dir", str(data), "--verify"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.startswith("trail ok: "), r.stdout + r.stderr


# ---- bad input ----

def test_validation_and_nothing_changes(kc):
    kms = kc.boto3("kms")
    kid = new_key(kms)["KeyId"]
    before = kms.list_keys(Limit=1000)["Keys"]
    cases = [
        ("CreateKey", {"Description": "x" * 8193}),
        ("CreateKey", {"KeyUsage": "SOMETHING"}),
        ("DescribeKey", {"KeyId": ""}),
        ("DescribeKey", {}),
        ("Encrypt", {"KeyId": kid}),
        ("ListKeys", {"Limit": 0}),
        ("ListKeys", {"Limit": 1001}),
        ("GenerateRandom", {"NumberOfBytes": 2000}),
        ("ScheduleKeyDeletion", {"KeyId": kid, "PendingWindowInDays": 6}),
        ("Encrypt", {"KeyId": kid, "Plaintext": "not base64!"}),
    ]
    for op, body in cases:
        st, out = signed_call(kc, f"TrentService.{op}", body, signing_name="kms")
        assert st == 400 and out["__type"] == "ValidationException", (op, body, st, out)
        assert out["message"], out
    st, out = signed_call(kc, "TrentService.NoSuchOperation", {}, signing_name="kms")
    assert st == 400 and out["__type"] == "UnknownOperationException", out
    st, out = signed_call(kc, "TrentService.ListKeys", None, signing_name="kms", raw=b"{bad")
    assert st == 400, out
    assert boto_err(kms.list_keys, Marker="zzz")["Code"] == "InvalidMarkerException"
    assert boto_err(kms.describe_key, KeyId="arn:aws:kms:us-east-1:1:key/x"
                    )["Code"] in ("InvalidArnException", "NotFoundException")
    assert kms.list_keys(Limit=1000)["Keys"] == before
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"


def test_list_keys_pagination(kc):
    kms = kc.boto3("kms")
    made = {new_key(kms)["KeyId"] for _ in range(5)}
    seen, marker, pages = [], None, 0
    while True:
        kw = {"Limit": 2}
        if marker:
            kw["Marker"] = marker
        out = kms.list_keys(**kw)
        pages += 1
        assert len(out["Keys"]) <= 2
        seen += [k["KeyId"] for k in out["Keys"]]
        if not out["Truncated"]:
            assert "NextMarker" not in out
            break
        marker = out["NextMarker"]
        assert pages < 1000
    assert made <= set(seen) and len(seen) == len(set(seen))
    # the CLI pages on its own
    ids = [k["KeyId"] for k in kc.aws("kms", "list-keys", "--page-size", "2")["Keys"]]
    assert sorted(ids) == sorted(seen)
