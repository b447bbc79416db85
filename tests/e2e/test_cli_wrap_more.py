# SPDX-License-Identifier: Apache-2.0
"""openhsm-cli key wrap / key unwrap with rsa-aes and cloudhsm-aes-gcm on a two-HSM cluster.

rsa-aes is PKCS#11 CKM_RSA_AES_KEY_WRAP: a fresh AES key encrypted with RSA-OAEP (the command's
hash and MGF), then the key wrapped with that AES key by RFC 5649. The test holds the RSA private
key (it made the pair with openssl and imported it) and takes the HSM's blob apart with
cryptography; a blob made outside the same way is unwrapped by the HSM. cloudhsm-aes-gcm is
CloudHSM's AES-GCM with the IV the HSM draws put before ciphertext || tag: checked with
cryptography, unwrapped without an --iv, and a tampered blob refused. Bad options are refused
with the CLI's error JSON and create nothing. Also key generate-file --encoding reference-pem:
the fake PEM key_mgmt_util's getCaviumPrivKey writes, read back with openssl.
"""
import base64
import json
import os
import re
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import (aes_key_unwrap_with_padding,
                                                    aes_key_wrap_with_padding)

import golden
from conftest import BIN, Cluster
from test_cli_keys import CU_PW, Known, Shell, attrs, kcv_aes, openssl, prepare, ref
from test_des3 import kcv as des3_kcv

HASHES = {"sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384,
          "sha512": hashes.SHA512}


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


def oaep(h):
    return padding.OAEP(mgf=padding.MGF1(HASHES[h]()), algorithm=HASHES[h](), label=None)


def rsa_aes_unwrap(priv, blob, h):
    """What a PKCS#11 CKM_RSA_AES_KEY_WRAP unwrapper does, outside the HSM."""
    n = priv.key_size // 8
    aes = priv.decrypt(blob[:n], oaep(h))
    assert len(aes) == 32  # the HSM draws an AES-256 key
    return aes_key_unwrap_with_padding(aes, blob[n:])


def rsa_aes_wrap(pub, material, h, aes_len=32):
    aes = os.urandom(aes_len)
    return pub.encrypt(aes, oaep(h)) + aes_key_wrap_with_padding(aes, material)


@pytest.fixture(scope="module")
def wc(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("wrapmore") / "data")
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


@pytest.fixture
def cu1(wc):
    sh = Shell(wc, "cu1")
    yield sh
    sh.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """An RSA-2048 pair made outside (the test keeps the private key), as PEM files."""
    d = tmp_path_factory.mktemp("pair")
    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "priv.pem").write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                                 serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    (d / "pub.pem").write_bytes(k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return k, d / "priv.pem", d / "pub.pem"


def import_pair(sh, pair, tag):
    _, priv, pub = pair
    rpub = sh.ok(f"key import pem --path {pub} --label {tag}-pub --key-type-class rsa-public "
                 "--attributes wrap=true")["key"]
    rpriv = sh.ok(f"key import pem --path {priv} --label {tag}-priv --key-type-class rsa-private "
                  "--attributes unwrap=true")["key"]
    return rpub, rpriv


def test_golden_rsa_aes(cu1, pair):
    """The guide's example: an AES-128 payload wrapped by an RSA-2048 public key; our output is
    the guide's line for line, and the blob has the guide's length and opens outside."""
    g = golden.load("cli_key_wrap_rsa_aes")
    k, _, pub = pair
    rpub = cu1.ok(f"key import pem --path {pub} --label rsa-public-key-example "
                  "--key-type-class rsa-public --attributes wrap=true")["key"]
    payload = cu1.ok("key generate-symmetric aes --label payload-key --key-length-bytes 16")["key"]
    out = cu1.raw(g.inputs[0])
    g.check(out)
    d = json.loads(out)["data"]
    assert d["payload-key-reference"] == ref(payload)
    assert d["wrapping-key-reference"] == ref(rpub)
    blob = unb64(d["wrapped-key-data"])
    guide = unb64(g.output[5].split('"')[3])
    assert len(blob) == len(guide) == 280
    assert kcv_aes(rsa_aes_unwrap(k, blob, "sha256")) == attrs(payload)["check-value"]


def test_rsa_aes_wrap_opens_with_openssl(cu1, pair, tmp_path):
    """Known material (an AES key brought in by RSA-OAEP, an RSA private key imported from PEM)
    wrapped by the HSM with every hash; the test's private key and RFC 5649 give it back."""
    k, _, _ = pair
    known = Known(cu1, tmp_path, "rsaaes")
    mat = os.urandom(32)
    aes = known.bring(mat, "rsaaes-aes", attributes="encrypt=true")
    rpub, rpriv = import_pair(cu1, pair, "rsaaes")
    wf = f"--wrapping-filter key-reference={ref(rpub)}"
    for h in ("sha1", "sha256", "sha384", "sha512"):
        d = cu1.ok(f"key wrap rsa-aes --payload-filter key-reference={ref(aes)} {wf} "
                   f"--hash-function {h} --mgf mgf1-{h}")
        assert set(d) == {"payload-key-reference", "wrapping-key-reference", "wrapped-key-data"}
        blob = unb64(d["wrapped-key-data"])
        assert len(blob) == 256 + 40
        assert rsa_aes_unwrap(k, blob, h) == mat
    # Each wrap draws its own AES key: two wraps of one key differ.
    a = unb64(cu1.ok(f"key wrap rsa-aes --payload-filter key-reference={ref(aes)} {wf} "
                     "--hash-function sha256 --mgf mgf1-sha256")["wrapped-key-data"])
    b = unb64(cu1.ok(f"key wrap rsa-aes --payload-filter key-reference={ref(aes)} {wf} "
                     "--hash-function sha256 --mgf mgf1-sha256")["wrapped-key-data"])
    assert a != b and a[256:] != b[256:]
    # An RSA private key (extractable) comes out as its PKCS#8, into a file with --path.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    opem = tmp_path / "other.pem"
    opem.write_bytes(other.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    okey = cu1.ok(f"key import pem --path {opem} --label rsaaes-other "
                  "--key-type-class rsa-private --attributes sign=true")["key"]
    path = tmp_path / "wrapped.bin"
    d = cu1.ok(f"key wrap rsa-aes --payload-filter key-reference={ref(okey)} {wf} "
               f"--hash-function sha384 --mgf mgf1-sha384 --path {path}")
    assert "wrapped-key-data" not in d and d["payload-key-reference"] == ref(okey)
    der = rsa_aes_unwrap(k, path.read_bytes(), "sha384")
    back = serialization.load_der_private_key(der, None)
    assert back.private_numbers() == other.private_numbers()
    # And the HSM's own private key unwraps the HSM's blob (a new key, not local).
    again = cu1.ok(f"key unwrap rsa-aes --filter key-reference={ref(rpriv)} --hash-function "
                   f"sha384 --mgf mgf1-sha384 --key-type-class rsa-private --label rsaaes-again "
                   f"--data-path {path}")["key"]
    assert attrs(again)["modulus"] == "0x%0512x" % other.public_key().public_numbers().n
    assert attrs(again)["local"] is False


def test_rsa_aes_unwrap_blob_made_outside(cu1, pair):
    """Blobs made with cryptography (an AES-256 and an AES-128 transport key) unwrap in the HSM
    to the key wrapped; a tampered blob or another hash is refused and creates nothing."""
    k, _, _ = pair
    _, rpriv = import_pair(cu1, pair, "outside")
    f = f"--filter key-reference={ref(rpriv)}"
    mat = os.urandom(32)
    blob = rsa_aes_wrap(k.public_key(), mat, "sha256")
    key = cu1.ok(f"key unwrap rsa-aes {f} --hash-function sha256 --mgf mgf1-sha256 "
                 f"--key-type-class aes --label outside-aes --data {b64(blob)} "
                 "--attributes encrypt=true")["key"]
    assert attrs(key)["check-value"] == kcv_aes(mat) and attrs(key)["local"] is False
    assert attrs(key)["key-length-bytes"] == 32
    mat16 = os.urandom(16)
    blob16 = rsa_aes_wrap(k.public_key(), mat16, "sha1", aes_len=16)
    key = cu1.ok(f"key unwrap rsa-aes {f} --hash-function sha1 --mgf mgf1-sha1 "
                 f"--key-type-class aes --label outside-aes16 --data {b64(blob16)}")["key"]
    assert attrs(key)["check-value"] == kcv_aes(mat16)

    n = cu1.ok("key list --max-items 10000")["total_key_count"]
    bad = bytearray(blob)
    bad[-3] ^= 1
    cu1.err(f"key unwrap rsa-aes {f} --hash-function sha256 --mgf mgf1-sha256 "
            f"--key-type-class aes --label outside-bad --data {b64(bytes(bad))}",
            "Unwrapping the key failed")
    bad = bytearray(blob)
    bad[5] ^= 1
    cu1.err(f"key unwrap rsa-aes {f} --hash-function sha256 --mgf mgf1-sha256 "
            f"--key-type-class aes --label outside-bad --data {b64(bytes(bad))}",
            "Unwrapping the key failed")
    cu1.err(f"key unwrap rsa-aes {f} --hash-function sha1 --mgf mgf1-sha1 "
            f"--key-type-class aes --label outside-bad --data {b64(blob)}",
            "Unwrapping the key failed")
    cu1.err(f"key unwrap rsa-aes {f} --hash-function sha256 --mgf mgf1-sha256 "
            f"--key-type-class aes --label outside-bad --data {b64(blob[:256])}",
            "Unwrapping the key failed")
    assert cu1.ok("key list --max-items 10000")["total_key_count"] == n


def test_cloudhsm_aes_gcm_round_trip(cu1, tmp_path):
    """IV (12) || ciphertext || tag, checked with cryptography; unwrap reads the IV from the
    blob; a tampered blob or other AAD is refused and creates nothing."""
    known = Known(cu1, tmp_path, "cgcm")
    wk = os.urandom(32)
    wrapping = known.bring(wk, "cgcm-kek", attributes="wrap=true unwrap=true")
    mat = os.urandom(32)
    payload = known.bring(mat, "cgcm-payload", attributes="encrypt=true")
    pf = f"--payload-filter key-reference={ref(payload)}"
    wf = f"--wrapping-filter key-reference={ref(wrapping)}"
    d = cu1.ok(f"key wrap cloudhsm-aes-gcm {pf} {wf} --tag-length-bits 128 --aad 0a0b0c")
    assert set(d) == {"payload_key_reference", "wrapping_key_reference", "wrapped_key_data"}
    blob = unb64(d["wrapped_key_data"])
    assert len(blob) == 12 + 32 + 16
    assert AESGCM(wk).decrypt(blob[:12], blob[12:], bytes.fromhex("0a0b0c")) == mat
    # A shorter tag: cryptography checks the 96-bit tag too.
    d = cu1.ok(f"key wrap cloudhsm-aes-gcm {pf} {wf} --tag-length-bits 96")
    b96 = unb64(d["wrapped_key_data"])
    assert len(b96) == 12 + 32 + 12
    dec = Cipher(algorithms.AES(wk), modes.GCM(b96[:12], b96[-12:], min_tag_length=12)).decryptor()
    assert dec.update(b96[12:-12]) + dec.finalize() == mat

    uf = f"--filter key-reference={ref(wrapping)}"
    back = cu1.ok(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 --aad 0a0b0c "
                  f"--key-type-class aes --label cgcm-back --data {b64(blob)}")["key"]
    assert attrs(back)["check-value"] == kcv_aes(mat) and ref(back) != ref(payload)
    back = cu1.ok(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 96 "
                  f"--key-type-class aes --label cgcm-back96 --data {b64(b96)}")["key"]
    assert attrs(back)["check-value"] == kcv_aes(mat)
    # A blob made outside with a fresh IV unwraps too.
    iv = os.urandom(12)
    outside = iv + AESGCM(wk).encrypt(iv, mat, None)
    back = cu1.ok(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 "
                  f"--key-type-class aes --label cgcm-outside --data {b64(outside)}")["key"]
    assert attrs(back)["check-value"] == kcv_aes(mat)

    n = cu1.ok("key list --max-items 10000")["total_key_count"]
    for i in (0, 20, len(blob) - 1):  # IV, ciphertext, tag
        bad = bytearray(blob)
        bad[i] ^= 1
        cu1.err(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 --aad 0a0b0c "
                f"--key-type-class aes --label cgcm-bad --data {b64(bytes(bad))}",
                "Unwrapping the key failed")
    cu1.err(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 --aad 0a0b0d "
            f"--key-type-class aes --label cgcm-bad --data {b64(blob)}",
            "Unwrapping the key failed")
    assert cu1.ok("key list --max-items 10000")["total_key_count"] == n


def odd_parity(key):
    """DES keys carry odd parity in each byte's low bit."""
    return bytes((b & 0xFE) | (bin(b & 0xFE).count("1") % 2 == 0) for b in key)


def test_des3_unwrap(cu1, tmp_path):
    """--key-type-class des3 (a choice of the CLI's unwrap pages): a 3DES key wrapped outside with
    cloudhsm-aes-gcm unwraps as a des3 key with the material's check value (3DES-ECB of a zero
    block, by openssl) and wraps back out to the same bytes; a 16-byte payload as des3 is refused
    and creates nothing."""
    known = Known(cu1, tmp_path, "d3w")
    wk = os.urandom(32)
    wrapping = known.bring(wk, "d3-kek", attributes="wrap=true unwrap=true")
    mat = odd_parity(os.urandom(24))
    iv = os.urandom(12)
    blob = iv + AESGCM(wk).encrypt(iv, mat, None)
    uf = f"--filter key-reference={ref(wrapping)}"
    key = cu1.ok(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 --key-type-class des3 "
                 f"--label d3-back --data {b64(blob)}")["key"]
    a = attrs(key)
    assert (a["key-type"], a["class"], a["key-length-bytes"]) == ("des3", "secret-key", 24), a
    assert a["check-value"] == des3_kcv(mat) and a["local"] is False, a
    d = cu1.ok(f"key wrap cloudhsm-aes-gcm --payload-filter key-reference={ref(key)} "
               f"--wrapping-filter key-reference={ref(wrapping)} --tag-length-bits 128")
    back = unb64(d["wrapped_key_data"])
    assert AESGCM(wk).decrypt(back[:12], back[12:], None) == mat

    n = cu1.ok("key list --max-items 10000")["total_key_count"]
    short = iv + AESGCM(wk).encrypt(iv, os.urandom(16), None)
    cu1.err(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 --key-type-class des3 "
            f"--label d3-short --data {b64(short)}")
    cu1.err(f"key unwrap cloudhsm-aes-gcm {uf} --tag-length-bits 128 --key-type-class 3des "
            f"--label d3-name --data {b64(blob)}", "3des")
    assert cu1.ok("key list --max-items 10000")["total_key_count"] == n


def test_bad_options_refused(cu1, pair, tmp_path):
    """Every refusal is the CLI's error JSON and creates no key."""
    k, _, _ = pair
    rpub, rpriv = import_pair(cu1, pair, "badopts")
    aes = cu1.ok("key generate-symmetric aes --label badopts-aes --key-length-bytes 32 "
                 "--attributes wrap=true unwrap=true")["key"]
    pf = f"--payload-filter key-reference={ref(aes)}"
    blob = rsa_aes_wrap(k.public_key(), os.urandom(32), "sha256")
    n = cu1.ok("key list --max-items 10000")["total_key_count"]
    # The MGF's hash must match the hash function (the rsa-aes page).
    cu1.err(f"key wrap rsa-aes {pf} --wrapping-filter key-reference={ref(rpub)} "
            "--hash-function sha256 --mgf mgf1-sha1", "--mgf hash must match --hash-function")
    cu1.err(f"key unwrap rsa-aes --filter key-reference={ref(rpriv)} --hash-function sha256 "
            f"--mgf mgf1-sha1 --key-type-class aes --label badopts-x --data {b64(blob)}",
            "--mgf hash must match --hash-function")
    # Values outside the page's lists, and required options left out.
    cu1.err(f"key wrap rsa-aes {pf} --wrapping-filter key-reference={ref(rpub)} "
            "--hash-function md5 --mgf mgf1-md5")
    cu1.err(f"key wrap rsa-aes {pf} --wrapping-filter key-reference={ref(rpub)} "
            "--hash-function sha256")
    cu1.err(f"key unwrap rsa-aes --filter key-reference={ref(rpriv)} --key-type-class aes "
            f"--label badopts-x --data {b64(blob)}")
    cu1.err(f"key wrap cloudhsm-aes-gcm {pf} --wrapping-filter key-reference={ref(aes)}")
    # cloudhsm-aes-gcm has no --iv (the IV is in the data).
    cu1.err(f"key unwrap cloudhsm-aes-gcm --filter key-reference={ref(aes)} --tag-length-bits "
            f"128 --iv 000102030405060708090a0b --key-type-class aes --label badopts-x "
            f"--data {b64(blob[:60])}")
    # The wrong kind of key: rsa-aes with an AES wrapping key, unwrapping with the public key.
    cu1.err(f"key wrap rsa-aes {pf} --wrapping-filter key-reference={ref(aes)} "
            "--hash-function sha256 --mgf mgf1-sha256", "Wrapping the key failed")
    cu1.err(f"key unwrap rsa-aes --filter key-reference={ref(rpub)} --hash-function sha256 "
            f"--mgf mgf1-sha256 --key-type-class aes --label badopts-x --data {b64(blob)}")
    cu1.err(f"key unwrap cloudhsm-aes-gcm --filter key-reference={ref(rpriv)} "
            f"--tag-length-bits 128 --key-type-class aes --label badopts-x "
            f"--data {b64(blob[:60])}")
    assert cu1.ok("key list --max-items 10000")["total_key_count"] == n
    assert not cu1.ok("key list --filter attr.label=badopts-x")["matched_keys"]


# ---- key generate-file --encoding reference-pem ----

KMU = str(BIN / "openhsm-kmu")


def kmu_ok(cluster, *cmd):
    p = subprocess.run([KMU, "singlecmd", "loginHSM", "-u", "CU", "-s", "cu1", "-p", CU_PW,
                        *[str(c) for c in cmd]], capture_output=True, text=True, timeout=120,
                       env=cluster.env())
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_reference_pem(wc, cu1, tmp_path):
    """The reference PEM of an RSA and an EC private key: openssl reads it, its public key is the
    key's public key, its private part is the handle (no key material: openssl's check fails),
    the file is the owner's only, and key_mgmt_util's getCaviumPrivKey writes the same bytes.
    A public or secret key is refused and no file is written."""
    gens = {
        "rsa": "key generate-asymmetric-pair rsa --public-label refpem-rsa-pub "
               "--private-label refpem-rsa --modulus-size-bits 2048 --public-exponent 65537 "
               "--private-attributes sign=true",
        "ec": "key generate-asymmetric-pair ec --public-label refpem-ec-pub "
              "--private-label refpem-ec --curve secp384r1 --private-attributes sign=true",
    }
    for kind, gen in gens.items():
        d = cu1.ok(gen)
        priv, pub = ref(d["private_key"]), ref(d["public_key"])
        refpem = tmp_path / f"{kind}-ref.pem"
        out = cu1.raw(f"key generate-file --encoding reference-pem --path {refpem} "
                           f"--filter key-reference={priv}")
        assert json.loads(out) == {"error_code": 0,
                                   "data": {"message": "Successfully generated key file"}}
        assert refpem.stat().st_mode & 0o777 == 0o600
        text = refpem.read_text()
        head = "RSA" if kind == "rsa" else "EC"
        assert text.startswith(f"-----BEGIN {head} PRIVATE KEY-----\n")
        pubpem = tmp_path / f"{kind}-pub.pem"
        cu1.ok(f"key generate-file --encoding pem --path {pubpem} --filter key-reference={pub}")
        assert openssl("pkey", "-in", refpem, "-pubout") == openssl("pkey", "-pubin", "-in",
                                                                     pubpem, "-pubout")
        handle = int(priv, 16)
        text = openssl(kind, "-in", refpem, "-noout", "-text").decode()
        if kind == "rsa":
            assert re.search(rf"privateExponent: {handle} \(0x[0-9a-f]+\)", text), text
        else:
            m = re.search(r"priv:\n((?:\s+[0-9a-f:]+\n)+)", text)
            assert m, text
            assert int(re.sub(r"[\s:]", "", m.group(1)), 16) == handle
        assert subprocess.run(["openssl", "pkey", "-in", str(refpem), "-check", "-noout"],
                              capture_output=True, timeout=60).returncode != 0
        fake = tmp_path / f"{kind}-kmu.pem"
        kmu_ok(wc, "getCaviumPrivKey", "-k", handle, "-out", fake)
        assert fake.read_bytes() == refpem.read_bytes()
        # The public half is refused for reference-pem, and writes nothing.
        nofile = tmp_path / f"{kind}-none.pem"
        cu1.err(f"key generate-file --encoding reference-pem --path {nofile} "
                f"--filter key-reference={pub}", "reference-pem supports")
        assert not nofile.exists()
    aes = cu1.ok("key generate-symmetric aes --label refpem-aes --key-length-bytes 16")["key"]
    nofile = tmp_path / "aes-none.pem"
    cu1.err(f"key generate-file --encoding reference-pem --path {nofile} "
            f"--filter key-reference={ref(aes)}", "reference-pem supports")
    cu1.err(f"key generate-file --encoding der --path {nofile} --filter key-reference={ref(aes)}")
    assert not nofile.exists()
