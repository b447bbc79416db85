# SPDX-License-Identifier: Apache-2.0
"""Golden transcripts of key attributes (issue 11): the AWS guides' examples of key_mgmt_util's
getAttribute -a 512 files (AES, RSA public, EC private keys) and listAttributes, and of the
CloudHSM CLI's key generate-symmetric aes / generate-asymmetric-pair rsa and ec and key list
--verbose output and its "several keys matched" error, replayed through openhsm-kmu and openhsm-cli on a two-HSM cluster
and compared line by line (tests/e2e/golden/kmu_*.txt and cli_key_*.txt; only handles, key bytes
and check values are masked, each mask explained in its file).

What the masks hide is checked here instead: the check value of RSA and EC keys is the first 3
bytes of SHA-1 over the public key's DER SubjectPublicKeyInfo (AWS's key attribute reference:
"Asymmetric key pairs: First 3 bytes of the SHA-1 hash of the public key"), recomputed with the
cryptography package from the public key the tools export (exportPubKey, key generate-file), the
same on both halves of a pair, in key_mgmt_util and the CloudHSM CLI, and on every HSM
(cloudhsm_mgmt_util's getAttribute asks each one). The modulus and point the files print are the
exported key's; key-length-bytes is the guide's (RSA-2048 public 512, private its PKCS#8 length;
EC public the point, private the PKCS#8 length).
"""
import hashlib
import json
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import golden
from conftest import BIN, Cluster
from test_cli_keys import ADMIN_PW, CU_PW, Shell, prepare
from test_cmu import cmu, login_as

KMU = str(BIN / "openhsm-kmu")


@pytest.fixture(scope="module")
def gc(tmp_path_factory):
    """One activated two-HSM cluster with crypto users cu1..cu3 (made with openhsm-cli)."""
    c = Cluster(tmp_path_factory.mktemp("golden-attrs") / "data")
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


def kmu(cluster, *cmd):
    """openhsm-kmu singlecmd as crypto user cu1: (exit status, output)."""
    p = subprocess.run([KMU, "singlecmd", "loginHSM", "-u", "CU", "-s", "cu1", "-p", CU_PW,
                        *[str(c) for c in cmd]], capture_output=True, text=True, timeout=120,
                       env=cluster.env())
    return p.returncode, p.stdout + p.stderr


def kmu_ok(cluster, *cmd):
    rc, out = kmu(cluster, *cmd)
    assert rc == 0, out
    return out


def key_pair(out):
    m = re.search(r"public key handle: (\d+)\s+private key handle: (\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def attr_file(text):
    """A getAttribute file -> {OBJ_ATTR_NAME: value}; a value on several lines is joined."""
    attrs, name = {}, None
    for line in text.split("\n"):
        if line.startswith("OBJ_ATTR_"):
            name = line
            attrs[name] = ""
        elif name is not None:
            attrs[name] += line
    return attrs


def run_golden_get_attribute(cluster, g, handle, out_file):
    """Runs the transcript's getAttribute command on `handle`, writing `out_file`; returns
    (console output, file text). The guide's handle and file name are replaced by ours."""
    (line,) = g.inputs
    words = line.split()
    assert words[:2] == ["getAttribute", "-o"] and words[3:6] == ["-a", "512", "-out"], line
    console = kmu_ok(cluster, "getAttribute", "-o", handle, "-a", 512, "-out", out_file)
    return console, out_file.read_text()


def attr_line(console):
    """(size, count) of the console's "got all attributes of size N attr cnt M" line. The size
    follows the guide's examples: 444 for the 17 attributes every key has, 8 + the value's length
    for each further one (RSA-2048 public with 20 attributes: 731; EC P-256: 529)."""
    m = re.search(r"^got all attributes of size (\d+) attr cnt (\d+)$", console, re.M)
    assert m, console
    return int(m.group(1)), int(m.group(2))


def spki_kcv(pub):
    """AWS's check value of an asymmetric key: SHA-1 of the DER SubjectPublicKeyInfo, 3 bytes."""
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return "0x" + hashlib.sha1(der).hexdigest()[:6]


def kcv_per_hsm(cluster, handle, user="cu1"):
    """cloudhsm_mgmt_util's getAttribute HANDLE 371 as `user`: {server: check value}."""
    out = cmu(cluster, login_as(user, CU_PW, "CU") + f"getAttribute {handle} 371\n")
    found = dict(re.findall(r"^Attribute Value on server (\d+)\(127\.0\.0\.1\):\n"
                            r"OBJ_ATTR_KCV\n(0x[0-9a-f]{6})$", out, re.M))
    assert sorted(found) == ["0", "1"], out
    return found


def export_pub(cluster, handle, tmp_path):
    pem = tmp_path / f"pub-{handle}.pem"
    kmu_ok(cluster, "exportPubKey", "-k", handle, "-out", pem)
    return serialization.load_pem_public_key(pem.read_bytes())


# ---- key_mgmt_util ----

def test_golden_kmu_list_attributes(gc):
    g = golden.load("kmu_listAttributes")
    p = subprocess.run([KMU, "singlecmd", *g.inputs[0].split()], capture_output=True, text=True,
                       timeout=60, env=gc.env())
    assert p.returncode == 0, p.stdout + p.stderr
    g.check(p.stdout, start=r"^Following are")


def test_golden_kmu_get_attribute_aes(gc, tmp_path):
    g = golden.load("kmu_getAttribute_aes")
    out = kmu_ok(gc, "genSymKey", "-t", 31, "-s", 32, "-l", "aes256", "-id", "test_01")
    h = int(re.search(r"Key Handle: (\d+)", out).group(1))
    console, text = run_golden_get_attribute(gc, g, h, tmp_path / "attr_6")
    g.check(text)
    assert attr_line(console) == (444, 17)
    attrs = attr_file(text)
    assert len(attrs) == 17 and attrs["OBJ_ATTR_KEY_TYPE"] == "0x1f"  # AES (masked above)
    # The same check value in the CloudHSM CLI and on both HSMs.
    sh = Shell(gc, "cu1")
    try:
        (key,) = sh.ok(f"key list --verbose --filter key-reference=0x{h:016x}")["matched_keys"]
    finally:
        sh.close()
    assert key["attributes"]["check-value"] == attrs["OBJ_ATTR_KCV"]
    assert set(kcv_per_hsm(gc, h).values()) == {attrs["OBJ_ATTR_KCV"]}


def test_golden_kmu_get_attribute_rsa(gc, tmp_path):
    g = golden.load("kmu_getAttribute_rsa_public")
    pub_h, priv_h = key_pair(kmu_ok(gc, "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l",
                                    "rsa_test"))
    console, text = run_golden_get_attribute(gc, g, pub_h, tmp_path / "attr_2100177")
    # The page's `cat` starts at the first attribute; the file has the empty line the other
    # examples show before it.
    assert text.startswith("\nOBJ_ATTR_CLASS\n")
    g.check(text, start=r"^OBJ_ATTR_CLASS$")
    assert attr_line(console) == (731 + 6 * 9, 26)
    pub = export_pub(gc, pub_h, tmp_path)
    assert isinstance(pub, rsa.RSAPublicKey)
    attrs = attr_file(text)
    assert attrs["OBJ_ATTR_MODULUS"] == "0x%0512x" % pub.public_numbers().n
    assert attrs["OBJ_ATTR_KCV"] == spki_kcv(pub)
    # The private half: the same check value, 26 attributes, its PKCS#8 length.
    console, text = run_golden_get_attribute(gc, g, priv_h, tmp_path / "attr_priv")
    assert attr_line(console) == (731 + 6 * 9, 26)
    priv = attr_file(text)
    assert priv["OBJ_ATTR_CLASS"] == "0x03" and priv["OBJ_ATTR_KCV"] == spki_kcv(pub)
    assert 1200 <= int(priv["OBJ_ATTR_VALUE_LEN"], 16) <= 1299  # exact: test_golden_cli_imported
    assert priv["OBJ_ATTR_MODULUS"] == attrs["OBJ_ATTR_MODULUS"]
    for h in (pub_h, priv_h):
        assert set(kcv_per_hsm(gc, h).values()) == {spki_kcv(pub)}


def test_golden_kmu_get_attribute_ec(gc, tmp_path):
    g = golden.load("kmu_getAttribute_ec_private")
    pub_h, priv_h = key_pair(kmu_ok(gc, "genECCKeyPair", "-i", 2, "-l", "ecc2"))
    console, text = run_golden_get_attribute(gc, g, priv_h, tmp_path / "attr_262177")
    g.check(text)
    assert attr_line(console) == (529, 19)
    pub = export_pub(gc, pub_h, tmp_path)
    assert isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1"
    point = pub.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    attrs = attr_file(text)
    assert attrs["OBJ_ATTR_MODULUS"] == point.hex()
    assert attrs["OBJ_ATTR_MODULUS_BITS"] == "0x00000100"  # P-256 (masked above)
    assert attrs["OBJ_ATTR_KCV"] == spki_kcv(pub)
    # The public half: the same check value; key length the 65-byte point.
    console, text = run_golden_get_attribute(gc, g, pub_h, tmp_path / "attr_pub")
    assert attr_line(console) == (529, 19)
    pattrs = attr_file(text)
    assert pattrs["OBJ_ATTR_KCV"] == spki_kcv(pub)
    assert pattrs["OBJ_ATTR_VALUE_LEN"] == "0x00000041"
    for h in (pub_h, priv_h):
        assert set(kcv_per_hsm(gc, h).values()) == {spki_kcv(pub)}


# ---- CloudHSM CLI ----

@pytest.fixture
def cu1(gc):
    sh = Shell(gc, "cu1")
    yield sh
    sh.close()


def pem_of(sh, key_ref, tmp_path):
    p = tmp_path / f"{key_ref}.pem"
    sh.ok(f"key generate-file --encoding pem --path {p} --filter key-reference={key_ref}")
    return serialization.load_pem_public_key(p.read_bytes())


def test_golden_cli_generate_aes(gc, cu1, tmp_path):
    g = golden.load("cli_key_generate_aes")
    out = cu1.raw(g.inputs[0])
    g.check(out)
    key = json.loads(out)["data"]["key"]
    h = int(key["key-reference"], 16)
    f = tmp_path / "kcv"
    kmu_ok(gc, "getAttribute", "-o", h, "-a", 371, "-out", f)
    assert f.read_text() == f"OBJ_ATTR_KCV\n{key['attributes']['check-value']}\n"
    assert set(kcv_per_hsm(gc, h).values()) == {key["attributes"]["check-value"]}


def test_golden_cli_generate_rsa(gc, cu1, tmp_path):
    g = golden.load("cli_key_generate_rsa")
    out = cu1.raw(g.inputs[0])
    g.check(out)
    d = json.loads(out)["data"]
    pub_a, priv_a = d["public_key"]["attributes"], d["private_key"]["attributes"]
    pub = pem_of(cu1, d["public_key"]["key-reference"], tmp_path)
    assert pub_a["check-value"] == priv_a["check-value"] == spki_kcv(pub)
    assert pub_a["modulus"] == priv_a["modulus"] == "0x%0512x" % pub.public_numbers().n
    assert pub_a["key-length-bytes"] == 512 and 1200 <= priv_a["key-length-bytes"] <= 1299
    for k in (d["public_key"], d["private_key"]):
        assert set(kcv_per_hsm(gc, int(k["key-reference"], 16)).values()) == {spki_kcv(pub)}


def test_golden_cli_generate_ec(gc, cu1, tmp_path):
    g = golden.load("cli_key_generate_ec")
    out = cu1.raw(g.inputs[0])
    g.check(out)
    d = json.loads(out)["data"]
    pub_a, priv_a = d["public_key"]["attributes"], d["private_key"]["attributes"]
    pub = pem_of(cu1, d["public_key"]["key-reference"], tmp_path)
    point = pub.public_bytes(serialization.Encoding.X962,
                             serialization.PublicFormat.UncompressedPoint)
    assert pub.curve.name == "secp224r1"
    assert pub_a["ec-point"] == priv_a["ec-point"] == "0x" + point.hex()
    assert pub_a["check-value"] == priv_a["check-value"] == spki_kcv(pub)
    assert (pub_a["key-length-bytes"], priv_a["key-length-bytes"]) == (57, 122)
    # The printed point is what a filter takes back: both halves match it.
    found = cu1.ok(f"key list --filter attr.ec-point={pub_a['ec-point']}")["matched_keys"]
    assert sorted(k["key-reference"] for k in found) == sorted(
        [d["public_key"]["key-reference"], d["private_key"]["key-reference"]])
    for k in (d["public_key"], d["private_key"]):
        assert set(kcv_per_hsm(gc, int(k["key-reference"], 16)).values()) == {spki_kcv(pub)}


def test_golden_cli_key_list_verbose(gc, tmp_path):
    """key list --verbose of one shared RSA private key, as the filtering page's example."""
    g = golden.load("cli_key_list_verbose")
    adm = Shell(gc, "admin", "admin", ADMIN_PW)
    try:
        adm.ok(f"user create --username alice --role crypto-user --password {CU_PW}")
    finally:
        adm.close()
    sh = Shell(gc, "cu1")
    try:
        d = sh.ok("key generate-asymmetric-pair rsa --public-exponent 65537 "
                  "--modulus-size-bits 2048 --public-label my_unique_key_label_pub "
                  "--private-label my_unique_key_label "
                  "--private-attributes decrypt=true sign=true unwrap=true")
        sh.ok("key share --filter attr.label=my_unique_key_label attr.class=private-key "
              "--username alice --role crypto-user")
        out = sh.raw(g.inputs[0])
        g.check(out)
        (key,) = json.loads(out)["data"]["matched_keys"]
        assert key["key-reference"] == d["private_key"]["key-reference"]
        pub = pem_of(sh, d["public_key"]["key-reference"], tmp_path)
        assert key["attributes"]["check-value"] == spki_kcv(pub)
        assert key["attributes"]["modulus"] == "0x%0512x" % pub.public_numbers().n
    finally:
        sh.close()


def test_golden_cli_delete_several(make_cluster, tmp_path):
    """The guide's 48 RSA keys, then key delete with a filter that matches them all: the guide's
    error, and nothing deleted; a filter that matches one deletes that one."""
    c = make_cluster()
    prepare(c)
    g = golden.load("cli_key_delete_several")
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "pub.pem"
    pem.write_bytes(k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    sh = Shell(c, "cu2")
    try:
        for i in range(48):
            sh.ok(f"key import pem --path {pem} --label several-{i} --key-type-class rsa-public")
        g.check(sh.raw(g.inputs[0]))
        assert sh.ok("key list --filter attr.key-type=rsa --max-items 100")[
            "total_key_count"] == 48
        sh.ok("key delete --filter attr.key-type=rsa attr.label=several-7")
        left = sh.ok("key list --filter attr.key-type=rsa --max-items 100")
        assert left["total_key_count"] == 47
        assert "several-7" not in {k["attributes"]["label"] for k in left["matched_keys"]}
        # Every imported key has the check value of the key imported.
        (one,) = sh.ok("key list --verbose --filter attr.label=several-0")["matched_keys"]
        assert one["attributes"]["check-value"] == spki_kcv(k.public_key())
        assert one["attributes"]["key-length-bytes"] == 512
    finally:
        sh.close()


def test_golden_cli_imported_keys(gc, tmp_path):
    """Keys whose material the test knows: key-length-bytes of a private key is exactly its PKCS#8
    length, of a public key the guide's (RSA-2048 512, secp224r1 57); the check value of both
    halves is SHA-1 of the SPKI, on every HSM; key_mgmt_util shows the same."""
    keys = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec": ec.generate_private_key(ec.SECP224R1())}
    sh = Shell(gc, "cu3")
    try:
        for kind, k in keys.items():
            der = k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
            files = {
                "private": (k.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()), len(der)),
                "public": (k.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
                    512 if kind == "rsa" else 57),
            }
            for cls, (pem, want_len) in files.items():
                p = tmp_path / f"{kind}-{cls}.pem"
                p.write_bytes(pem)
                key = sh.ok(f"key import pem --path {p} --label imp-{kind}-{cls} "
                            f"--key-type-class {kind}-{cls}")["key"]
                a = key["attributes"]
                assert a["key-length-bytes"] == want_len, (kind, cls, a)
                assert a["check-value"] == spki_kcv(k.public_key()), (kind, cls, a)
                h = int(key["key-reference"], 16)
                assert set(kcv_per_hsm(gc, h, "cu3").values()) == {a["check-value"]}
    finally:
        sh.close()
