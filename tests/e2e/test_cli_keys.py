# SPDX-License-Identifier: Apache-2.0
"""openhsm-cli key and crypto commands end to end on a two-HSM cluster, checked from outside with
the openssl command line: every key type, every wrapping, signing and encryption mechanism the CLI
lists, the same key on both HSMs (sync status), ownership and sharing, the admin's view, the
attribute rules (sensitive, extractable, modifiable, what a key may be used for) and bad input that
must change nothing. Key material the tests know is brought in by RSA-OAEP unwrapping, so results
can be recomputed with openssl (AES-GCM tags with a small GHASH below: openssl enc has no AEAD).
"""
import base64
import json
import pathlib
import shlex
import subprocess
import time

import pytest

from conftest import BIN, Cluster

CLI = str(BIN / "openhsm-cli")
ADMIN_PW = "Admin_pw1"
CU_PW = "Crypto_pw1"
CUS = ("cu1", "cu2", "cu3")


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


def openssl(*args, data=None):
    p = subprocess.run(["openssl", *map(str, args)], input=data, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout


def openssl_ok(*args):
    """True when the openssl command succeeds (signature verification)."""
    return subprocess.run(["openssl", *map(str, args)], capture_output=True,
                          timeout=60).returncode == 0


class Shell:
    """openhsm-cli interactive, one command at a time; each command prints one JSON object."""

    def __init__(self, cluster, user=None, role="crypto-user", pw=CU_PW):
        self.p = subprocess.Popen([CLI, "interactive"], env=cluster.env(), stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if user is not None:
            self.ok(f"login --username {user} --role {role} --password {pw}")

    def raw(self, line):
        """One command; its output text (one JSON object, as printed)."""
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        lines = []
        for _ in range(100000):
            got = self.p.stdout.readline()
            assert got, "shell ended: " + "".join(lines) + self.p.stderr.read()
            lines.append(got)
            if got == "}\n":
                return "".join(lines)
        raise AssertionError("no end of the JSON object: " + "".join(lines))

    def run(self, line):
        return json.loads(self.raw(line))

    def ok(self, line):
        out = self.run(line)
        assert out["error_code"] == 0, (line, out)
        return out["data"]

    def err(self, line, *needles):
        out = self.run(line)
        assert out["error_code"] == 1 and isinstance(out["data"], str), (line, out)
        for n in needles:
            assert n in out["data"], (line, out["data"], n)
        return out["data"]

    def keys(self, flt=None):
        """Every key the session sees (verbose), by label filter or all."""
        cmd = "key list --verbose --max-items 10000"
        if flt:
            cmd += " --filter " + flt
        return self.ok(cmd)["matched_keys"]

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(30) == 0


def cli(cluster, *args, **env):
    p = subprocess.run([CLI, *args], env=cluster.env(**env), capture_output=True, text=True,
                       timeout=60)
    try:
        out = json.loads(p.stdout)
    except json.JSONDecodeError:
        out = None
    return p.returncode, out, p.stdout + p.stderr


def prepare(c):
    code, out, text = cli(c, "cluster", "activate", "--password", ADMIN_PW)
    assert code == 0, text
    sh = Shell(c, "admin", "admin", ADMIN_PW)
    for u in CUS:
        sh.ok(f"user create --username {u} --role crypto-user --password {CU_PW}")
    sh.close()


@pytest.fixture(scope="module")
def kc(tmp_path_factory):
    """One activated two-HSM cluster with crypto users cu1..cu3 for the tests of this module
    (each uses its own labels)."""
    c = Cluster(tmp_path_factory.mktemp("keys") / "data")
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


@pytest.fixture
def cu1(kc):
    sh = Shell(kc, "cu1")
    yield sh
    sh.close()


def ref(key):
    return key["key-reference"]


def attrs(key):
    return key["attributes"]


def write(tmp, name, data):
    p = pathlib.Path(tmp) / name
    p.write_bytes(data)
    return p


def kcv_aes(k):
    return "0x" + openssl("enc", f"-aes-{8 * len(k)}-ecb", "-nopad", "-K", k.hex(),
                          data=bytes(16))[:3].hex()


def ecdsa_der(raw):
    """PKCS#11 r || s to the DER SEQUENCE openssl verifies."""
    def integer(b):
        b = b.lstrip(b"\0") or b"\0"
        if b[0] & 0x80:
            b = b"\0" + b
        return b"\x02" + bytes([len(b)]) + b

    half = len(raw) // 2
    body = integer(raw[:half]) + integer(raw[half:])
    if len(body) < 128:
        return b"\x30" + bytes([len(body)]) + body
    return b"\x30\x81" + bytes([len(body)]) + body


def gf_mult(x, y):
    """Multiplication in GF(2^128) with GCM's bit order (SP 800-38D §6.3)."""
    r = 0xE1 << 120
    z = 0
    for i in range(127, -1, -1):
        if (y >> i) & 1:
            z ^= x
        x = (x >> 1) ^ r if x & 1 else x >> 1
    return z


def gcm_encrypt(key, iv, pt, aad=b"", tag_len=16):
    """AES-GCM with a 96-bit IV from openssl's AES-ECB and AES-CTR plus GHASH here."""
    bits = 8 * len(key)
    h = int.from_bytes(openssl("enc", f"-aes-{bits}-ecb", "-nopad", "-K", key.hex(),
                               data=bytes(16)), "big")
    j0 = iv + b"\0\0\0\1"
    ct = openssl("enc", f"-aes-{bits}-ctr", "-K", key.hex(), "-iv",
                 (iv + b"\0\0\0\2").hex(), data=pt) if pt else b""
    y = 0

    def blocks(b):
        return [b[i:i + 16].ljust(16, b"\0") for i in range(0, len(b), 16)]

    lens = (8 * len(aad)).to_bytes(8, "big") + (8 * len(ct)).to_bytes(8, "big")
    for blk in blocks(aad) + blocks(ct) + [lens]:
        y = gf_mult(y ^ int.from_bytes(blk, "big"), h)
    ek = int.from_bytes(openssl("enc", f"-aes-{bits}-ecb", "-nopad", "-K", key.hex(), data=j0),
                        "big")
    return ct + (ek ^ y).to_bytes(16, "big")[:tag_len]


class Known:
    """Keys whose material the test knows, brought into the HSMs by RSA-OAEP unwrapping: an RSA
    pair made in the HSM unwraps them; its public key comes out by key generate-file."""

    def __init__(self, sh, tmp, tag):
        self.sh, self.tmp, self.tag = sh, pathlib.Path(tmp), tag
        d = sh.ok(f"key generate-asymmetric-pair rsa --public-label {tag}-kek-pub "
                  f"--private-label {tag}-kek --modulus-size-bits 2048 --public-exponent 65537 "
                  "--private-attributes unwrap=true --public-attributes wrap=true")
        self.kek = ref(d["private_key"])
        self.pub = self.tmp / f"{tag}-kek.pem"
        sh.ok(f"key generate-file --encoding pem --path {self.pub} "
              f"--filter key-reference={ref(d['public_key'])}")

    def bring(self, material, label, kind="aes", attributes="encrypt=true decrypt=true"):
        wrapped = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", self.pub,
                          "-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                          "-pkeyopt", "rsa_mgf1_md:sha256", data=material)
        d = self.sh.ok(f"key unwrap rsa-oaep --filter key-reference={self.kek} "
                       f"--hash-function sha256 --mgf mgf1-sha256 --key-type-class {kind} "
                       f"--label {label} --data {b64(wrapped)} --attributes {attributes}")
        return d["key"]


# ---- symmetric keys, the same on both HSMs ----

def test_symmetric_keys_on_every_hsm(kc, cu1):
    made = {}
    for n in (16, 24, 32):
        d = cu1.ok(f"key generate-symmetric aes --label sym-aes{n} --key-length-bytes {n}")
        k = d["key"]
        a = attrs(k)
        assert a["key-type"] == "aes" and a["class"] == "secret-key"
        assert a["key-length-bytes"] == n and a["label"] == f"sym-aes{n}"
        assert a["check-value"].startswith("0x") and len(a["check-value"]) == 8
        assert a["token"] is True and a["sensitive"] is True and a["local"] is True
        assert k["key-info"]["key-owners"] == [{"username": "cu1", "key-coverage": "full"}]
        assert k["key-info"]["cluster-coverage"] == "full"
        assert ref(k).startswith("0x") and len(ref(k)) == 18
        made[n] = k
    g = cu1.ok("key generate-symmetric generic-secret --label sym-gs --key-length-bytes 48 "
               "--attributes sign=true verify=true")["key"]
    assert attrs(g)["key-type"] == "generic-secret" and attrs(g)["key-length-bytes"] == 48
    # The guide's example shape, field by field.
    assert list(attrs(made[24]))[:5] == ["key-type", "label", "id", "check-value", "class"]
    assert list(made[24]) == ["key-reference", "key-info", "attributes"]

    # key list finds them; references work in hex and decimal.
    got = cu1.keys("attr.key-type=aes attr.label=sym-aes24")
    assert [ref(k) for k in got] == [ref(made[24])]
    dec = int(ref(made[32]), 16)
    assert ref(cu1.keys(f"key-reference={dec}")[0]) == ref(made[32])
    brief = cu1.ok("key list --filter attr.label=sym-aes16")
    assert brief == {"matched_keys": [{"key-reference": ref(made[16]),
                                       "attributes": {"label": "sym-aes16"}}],
                     "total_key_count": 1, "returned_key_count": 1}

    # Each HSM holds the same objects: equal digests, nothing listed as different.
    st = cu1.ok("cluster sync-status")
    assert st["in-sync"] is True and st["differences"] == []
    hs = st["hsms"]
    assert [h["hsm-id"] for h in hs] == [h["id"] for h in kc.cfg["hsms"]]
    assert all(h["state"] == "connected" for h in hs)
    assert hs[0]["objects-digest"] == hs[1]["objects-digest"]
    assert hs[0]["objects"] == hs[1]["objects"] >= 4

    # Single-command mode (a new login each time) sees the same key.
    code, out, text = cli(kc, "key", "list", "--filter", f"key-reference={ref(made[16])}",
                          CLOUDHSM_ROLE="crypto-user", CLOUDHSM_PIN=f"cu1:{CU_PW}")
    assert code == 0 and out["data"]["total_key_count"] == 1, text


def test_bad_input_changes_nothing(kc, cu1, tmp_path):
    before = cu1.keys()
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes 17", "Key size")
    cu1.err("key generate-symmetric generic-secret --label bad1 --key-length-bytes 801",
            "Key size")
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes x", "--key-length-bytes")
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes 16 --attributes colour=red",
            "Unknown key attribute 'colour'")
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes 16 --attributes local=true",
            "'local'")
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes 16 --attributes sign=perhaps",
            "'sign'")
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes 16 "
            "--manage-key-quorum-value 2", "quorum")
    cu1.err("key generate-symmetric aes --label bad1 --key-length-bytes 16 --session "
            "--attributes token=true", "more than once")
    cu1.err("key generate-asymmetric-pair rsa --public-label bad1 --private-label bad1 "
            "--modulus-size-bits 1024 --public-exponent 65537", "Key size")
    cu1.err("key generate-asymmetric-pair rsa --public-label bad1 --private-label bad1 "
            "--modulus-size-bits 2048 --public-exponent 3")
    cu1.err("key generate-asymmetric-pair ec --public-label bad1 --private-label bad1 "
            "--curve secp999", "invalid value 'secp999'")
    cu1.err("key list --filter label=x", "attr.KEY_ATTRIBUTE_NAME")
    cu1.err("key list --filter attr.flavour=x", "Unknown key attribute 'flavour'")
    cu1.err("key delete --filter attr.label=no-such-key", "No key matches")
    cu1.err("key import pem --path /nonexistent.pem --label bad1 --key-type-class rsa-public",
            "Cannot open")
    junk = write(tmp_path, "junk.pem", b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    cu1.err(f"key import pem --path {junk} --label bad1 --key-type-class rsa-public", "PEM")
    ec = write(tmp_path, "ec.pem", openssl("genpkey", "-algorithm", "EC",
                                           "-pkeyopt", "ec_paramgen_curve:P-256"))
    ecpub = write(tmp_path, "ecpub.pem", openssl("pkey", "-in", ec, "-pubout"))
    cu1.err(f"key import pem --path {ecpub} --label bad1 --key-type-class rsa-public",
            "--key-type-class")
    cu1.err("crypto digest --hash-function sha256 --data notbase64!", "base64")
    cu1.err("crypto digest --hash-function sha256", "exactly one of --data and --data-path")
    cu1.err("crypto random --length-bytes 0", "--length-bytes")
    assert cu1.keys() == before
    st = cu1.ok("cluster sync-status")
    assert st["in-sync"] is True, st


# ---- cryptography, checked with openssl ----

def test_aes_mechanisms_match_openssl(kc, cu1, tmp_path):
    known = Known(cu1, tmp_path, "aesm")
    k = bytes(range(32))
    key = known.bring(k, "aesm-key")
    assert attrs(key)["check-value"] == kcv_aes(k)
    assert attrs(key)["local"] is False
    kf = f"--key-filter key-reference={ref(key)}"
    pt = b"The quick brown fox jumps over the lazy dog" * 3
    iv16 = bytes(range(16, 32))

    d = cu1.ok(f"crypto encrypt aes-cbc {kf} --iv {iv16.hex()} --data {b64(pt)}")
    assert unb64(d["data"]) == openssl("enc", "-aes-256-cbc", "-K", k.hex(), "-iv", iv16.hex(),
                                       data=pt)
    assert d["iv"] == iv16.hex()
    assert unb64(cu1.ok(f"crypto decrypt aes-cbc {kf} --iv {iv16.hex()} --data {d['data']}")
                 ["data"]) == pt
    # Without --iv the HSM makes one and prints it.
    d = cu1.ok(f"crypto encrypt aes-cbc {kf} --data {b64(pt)}")
    iv = bytes.fromhex(d["iv"])
    assert len(iv) == 16
    assert unb64(d["data"]) == openssl("enc", "-aes-256-cbc", "-K", k.hex(), "-iv", iv.hex(),
                                       data=pt)

    d = cu1.ok(f"crypto encrypt aes-ctr {kf} --iv {iv16.hex()} --data {b64(pt)}")
    assert unb64(d["data"]) == openssl("enc", "-aes-256-ctr", "-K", k.hex(), "-iv", iv16.hex(),
                                       data=pt)
    assert unb64(cu1.ok(f"crypto decrypt aes-ctr {kf} --iv {iv16.hex()} --data {d['data']}")
                 ["data"]) == pt

    blocks = pt[:96]
    d = cu1.ok(f"crypto encrypt aes-ecb {kf} --data {b64(blocks)}")
    assert unb64(d["data"]) == openssl("enc", "-aes-256-ecb", "-nopad", "-K", k.hex(), data=blocks)
    assert unb64(cu1.ok(f"crypto decrypt aes-ecb {kf} --data {d['data']}")["data"]) == blocks
    cu1.err(f"crypto encrypt aes-ecb {kf} --data {b64(pt[:20])}")

    # AES-GCM: the HSM makes the IV and prints it; the tag recomputed outside with that IV.
    aad = b"header"
    d = cu1.ok(f"crypto encrypt aes-gcm {kf} --aad {aad.hex()} --data {b64(pt)}")
    iv12 = bytes.fromhex(d["iv"])
    assert len(iv12) == 12
    ct = unb64(d["data"])
    assert ct == gcm_encrypt(k, iv12, pt, aad)
    assert unb64(cu1.ok(f"crypto decrypt aes-gcm {kf} --iv {iv12.hex()} --aad {aad.hex()} "
                        f"--data {d['data']}")["data"]) == pt
    d96 = cu1.ok(f"crypto encrypt aes-gcm {kf} --tag-length-bits 96 --data {b64(pt)}")
    assert bytes.fromhex(d96["iv"]) != iv12
    assert unb64(d96["data"]) == gcm_encrypt(k, bytes.fromhex(d96["iv"]), pt, tag_len=12)
    # A caller's IV is refused by the HSM (see test_review.py for the attack it stops).
    cu1.err(f"crypto encrypt aes-gcm {kf} --iv {iv12.hex()} --data {b64(pt)}",
            "the HSM generates the IV")
    # Tampered tag, truncated ciphertext, wrong AAD: refused, nothing returned.
    bad = bytearray(ct)
    bad[-1] ^= 1
    cu1.err(f"crypto decrypt aes-gcm {kf} --iv {iv12.hex()} --aad {aad.hex()} "
            f"--data {b64(bytes(bad))}", "Decryption failed")
    cu1.err(f"crypto decrypt aes-gcm {kf} --iv {iv12.hex()} --aad {aad.hex()} "
            f"--data {b64(ct[:10])}", "Decryption failed")
    cu1.err(f"crypto decrypt aes-gcm {kf} --iv {iv12.hex()} --aad 00 --data {d['data']}",
            "Decryption failed")
    cu1.err(f"crypto decrypt aes-cbc {kf} --iv {iv16.hex()} --data {b64(b'short')}",
            "Decryption failed")
    cu1.err(f"crypto decrypt aes-gcm {kf} --data {d['data']}", "--iv")


def test_wrap_mechanisms_match_openssl(kc, cu1, tmp_path):
    known = Known(cu1, tmp_path, "wrapm")
    wk = bytes(range(64, 96))
    wrapping = known.bring(wk, "wrapm-kek", attributes="wrap=true unwrap=true")
    wf = f"--wrapping-filter key-reference={ref(wrapping)}"
    payload = cu1.ok("key generate-symmetric aes --label wrapm-payload --key-length-bytes 32")["key"]
    pf = f"--payload-filter key-reference={ref(payload)}"
    kcv = attrs(payload)["check-value"]

    def unwrap_outside(cipher, data, iv):
        return openssl("enc", "-d", cipher, "-K", wk.hex(), "-iv", iv, data=data)

    # RFC 3394 and RFC 5649: openssl unwraps what the HSM wrapped; the material matches the KCV.
    w = unb64(cu1.ok(f"key wrap aes-no-pad {pf} {wf}")["wrapped_key_data"])
    assert len(w) == 40
    mat = unwrap_outside("-id-aes256-wrap", w, "A6A6A6A6A6A6A6A6")
    assert kcv_aes(mat) == kcv
    w = unb64(cu1.ok(f"key wrap aes-kwp {pf} {wf}")["wrapped_key_data"])
    assert kcv_aes(unwrap_outside("-id-aes256-wrap-pad", w, "A65959A6")) == kcv
    w = unb64(cu1.ok(f"key wrap aes-pkcs5-pad {pf} {wf}")["wrapped_key_data"])
    padded = unwrap_outside("-id-aes256-wrap", w, "A6A6A6A6A6A6A6A6")
    assert padded[32:] == b"\x08" * 8 and kcv_aes(padded[:32]) == kcv
    # Zero padding shows on a generic secret of 20 bytes.
    gs = bytes(range(1, 21))
    gkey = known.bring(gs, "wrapm-gs", kind="generic-secret", attributes="sign=true")
    w = unb64(cu1.ok(f"key wrap aes-zero-pad --payload-filter key-reference={ref(gkey)} {wf}")
              ["wrapped_key_data"])
    assert unwrap_outside("-id-aes256-wrap", w, "A6A6A6A6A6A6A6A6") == gs + bytes(4)

    # AES-GCM: the tag checks out outside; unwrapping brings the same key back.
    d = cu1.ok(f"key wrap aes-gcm {pf} {wf} --tag-length-bits 128 --aad 0a0b")
    iv = bytes.fromhex(d["iv"])
    w = unb64(d["wrapped_key_data"])
    assert len(iv) == 12 and len(w) == 12 + 48 and w[:12] == iv
    assert w[12:] == gcm_encrypt(wk, iv, mat, bytes.fromhex("0a0b"))
    back = cu1.ok(f"key unwrap aes-gcm --filter key-reference={ref(wrapping)} "
                  f"--tag-length-bits 128 --iv {iv.hex()} --aad 0a0b --key-type-class aes "
                  f"--label wrapm-back --data {b64(w)}")["key"]
    assert attrs(back)["check-value"] == kcv and attrs(back)["local"] is False
    assert ref(back) != ref(payload)
    # A tampered wrapped key is refused and makes no key.
    bad = bytearray(w)
    bad[20] ^= 1
    n = len(cu1.keys())
    cu1.err(f"key unwrap aes-gcm --filter key-reference={ref(wrapping)} --tag-length-bits 128 "
            f"--iv {iv.hex()} --aad 0a0b --key-type-class aes --label wrapm-bad "
            f"--data {b64(bytes(bad))}", "Unwrapping the key failed")
    cu1.err(f"key unwrap aes-no-pad --filter key-reference={ref(wrapping)} --key-type-class aes "
            f"--label wrapm-bad --data {b64(bytes(bad[12:52]))}", "Unwrapping the key failed")
    assert len(cu1.keys()) == n

    # Wrapped into a file, then unwrapped from it (--path, --data-path).
    path = tmp_path / "wrapped.bin"
    d = cu1.ok(f"key wrap aes-no-pad {pf} {wf} --path {path}")
    assert "wrapped_key_data" not in d and d["payload_key_reference"] == ref(payload)
    back = cu1.ok(f"key unwrap aes-no-pad --filter key-reference={ref(wrapping)} "
                  f"--key-type-class aes --label wrapm-file --data-path {path} "
                  "--attributes encrypt=true")["key"]
    assert attrs(back)["check-value"] == kcv and attrs(back)["encrypt"] is True

    # RSA wrapping with a key pair imported from PEM: openssl's private key decrypts.
    priv = write(tmp_path, "rsa.pem", openssl("genpkey", "-algorithm", "RSA",
                                              "-pkeyopt", "rsa_keygen_bits:2048"))
    pub = write(tmp_path, "rsapub.pem", openssl("pkey", "-in", priv, "-pubout"))
    rpub = cu1.ok(f"key import pem --path {pub} --label wrapm-rsapub --key-type-class rsa-public "
                  "--attributes wrap=true encrypt=true verify=true")["key"]
    assert attrs(rpub)["class"] == "public-key" and attrs(rpub)["modulus-size-bits"] == 2048
    rf = f"--wrapping-filter key-reference={ref(rpub)}"
    w = unb64(cu1.ok(f"key wrap rsa-oaep {pf} {rf} --hash-function sha256 --mgf mgf1-sha256")
              ["wrapped_key_data"])
    assert kcv_aes(openssl("pkeyutl", "-decrypt", "-inkey", priv, "-pkeyopt",
                           "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256",
                           "-pkeyopt", "rsa_mgf1_md:sha256", data=w)) == kcv
    w = unb64(cu1.ok(f"key wrap rsa-pkcs {pf} {rf}")["wrapped_key_data"])
    assert kcv_aes(openssl("pkeyutl", "-decrypt", "-inkey", priv, data=w)) == kcv

    # RSA-OAEP encryption of data both ways with the imported pair.
    rpriv = cu1.ok(f"key import pem --path {priv} --label wrapm-rsapriv "
                   "--key-type-class rsa-private --attributes decrypt=true sign=true")["key"]
    assert attrs(rpriv)["local"] is False and attrs(rpriv)["sensitive"] is True
    msg = b"oaep message"
    d = cu1.ok(f"crypto encrypt rsa-oaep --key-filter key-reference={ref(rpub)} "
               f"--hash-function sha256 --mgf mgf1-sha256 --data {b64(msg)}")
    assert openssl("pkeyutl", "-decrypt", "-inkey", priv, "-pkeyopt", "rsa_padding_mode:oaep",
                   "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256",
                   data=unb64(d["data"])) == msg
    ct = openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-pkeyopt",
                 "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha1", "-pkeyopt",
                 "rsa_mgf1_md:sha1", data=msg)
    assert unb64(cu1.ok(f"crypto decrypt rsa-oaep --key-filter key-reference={ref(rpriv)} "
                        f"--hash-function sha1 --mgf mgf1-sha1 --data {b64(ct)}")["data"]) == msg
    cu1.err(f"crypto decrypt rsa-oaep --key-filter key-reference={ref(rpriv)} "
            f"--hash-function sha1 --mgf mgf1-sha1 --data {b64(ct[:-1])}", "Decryption failed")


def test_signatures_verify_with_openssl(kc, cu1, tmp_path):
    data = b"message to sign\n" * 10
    dpath = write(tmp_path, "data.bin", data)
    sig_attrs = "--private-attributes sign=true --public-attributes verify=true"

    def pem_of(pub_ref, name):
        p = tmp_path / f"{name}.pem"
        cu1.ok(f"key generate-file --encoding pem --path {p} --filter key-reference={pub_ref}")
        return p

    for bits in (2048, 3072):
        d = cu1.ok(f"key generate-asymmetric-pair rsa --public-label sig-rsa{bits}-pub "
                   f"--private-label sig-rsa{bits} --modulus-size-bits {bits} "
                   f"--public-exponent 65537 {sig_attrs}")
        pub, priv = d["public_key"], d["private_key"]
        assert attrs(pub)["modulus-size-bits"] == bits and attrs(priv)["class"] == "private-key"
        assert attrs(pub)["modulus"] == attrs(priv)["modulus"]
        assert attrs(pub)["public-exponent"] == "0x010001"
        assert pub["key-info"]["cluster-coverage"] == "full"
        pem = pem_of(ref(pub), f"rsa{bits}")
        assert b"BEGIN PUBLIC KEY" in pem.read_bytes()
        for h in ("sha1", "sha256", "sha512"):
            s = unb64(cu1.ok(f"crypto sign rsa-pkcs --key-filter key-reference={ref(priv)} "
                             f"--hash-function {h} --data-path {dpath}")["signature"])
            assert len(s) == bits // 8
            spath = write(tmp_path, "sig.bin", s)
            assert openssl_ok("dgst", f"-{h}", "-verify", pem, "-signature", spath, dpath)
            cu1.ok(f"crypto verify rsa-pkcs --key-filter key-reference={ref(pub)} "
                   f"--hash-function {h} --data-path {dpath} --signature {b64(s)}")
        s = unb64(cu1.ok(f"crypto sign rsa-pkcs-pss --key-filter key-reference={ref(priv)} "
                         f"--hash-function sha256 --mgf mgf1-sha256 --salt-length 32 "
                         f"--data {b64(data)}")["signature"])
        spath = write(tmp_path, "pss.bin", s)
        assert openssl_ok("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                          "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", "-verify", pem,
                          "-signature", spath, dpath)
        got = cu1.ok(f"crypto verify rsa-pkcs-pss --key-filter key-reference={ref(pub)} "
                     f"--hash-function sha256 --mgf mgf1-sha256 --salt-length 32 "
                     f"--data {b64(data)} --signature-path {spath}")
        assert got == {"message": "Signature verified successfully"}
        cu1.err(f"crypto verify rsa-pkcs-pss --key-filter key-reference={ref(pub)} "
                f"--hash-function sha256 --mgf mgf1-sha256 --salt-length 32 "
                f"--data {b64(data + b'x')} --signature-path {spath}",
                "Signature verification failed")

    # A digest signed as such (--data-type digest) is the same signature as the data's.
    digest = openssl("dgst", "-sha256", "-binary", data=data)
    s1 = cu1.ok(f"crypto sign rsa-pkcs --key-filter attr.label=sig-rsa2048 --hash-function sha256 "
                f"--data-type digest --data {b64(digest)}")["signature"]
    s2 = cu1.ok(f"crypto sign rsa-pkcs --key-filter attr.label=sig-rsa2048 --hash-function sha256 "
                f"--data {b64(data)}")["signature"]
    assert s1 == s2

    curves = {"secp256r1": 32, "secp384r1": 48, "secp521r1": 66, "secp256k1": 32}
    for curve, size in curves.items():
        d = cu1.ok(f"key generate-asymmetric-pair ec --public-label sig-{curve}-pub "
                   f"--private-label sig-{curve} --curve {curve} {sig_attrs}")
        pub, priv = d["public_key"], d["private_key"]
        assert attrs(pub)["curve"] == curve and attrs(pub)["ec-point"].startswith("0x04")
        pem = pem_of(ref(pub), curve)
        for h in ("sha256", "sha384"):
            raw = unb64(cu1.ok(f"crypto sign ecdsa --key-filter key-reference={ref(priv)} "
                               f"--hash-function {h} --data {b64(data)}")["signature"])
            assert len(raw) == 2 * size
            spath = write(tmp_path, "ec.sig", ecdsa_der(raw))
            assert openssl_ok("dgst", f"-{h}", "-verify", pem, "-signature", spath, dpath)
            cu1.ok(f"crypto verify ecdsa --key-filter key-reference={ref(pub)} "
                   f"--hash-function {h} --data {b64(data)} --signature {b64(raw)}")
            bad = bytearray(raw)
            bad[3] ^= 0x40
            cu1.err(f"crypto verify ecdsa --key-filter key-reference={ref(pub)} "
                    f"--hash-function {h} --data {b64(data)} --signature {b64(bytes(bad))}",
                    "Signature verification failed")
    # prime256v1 names the same curve.
    d = cu1.ok("key generate-asymmetric-pair ec --public-label sig-p1-pub --private-label sig-p1 "
               "--curve prime256v1")
    assert attrs(d["private_key"])["curve"] == "secp256r1"
    # An imported EC public key verifies what openssl signed.
    ec = write(tmp_path, "ec.pem", openssl("genpkey", "-algorithm", "EC",
                                           "-pkeyopt", "ec_paramgen_curve:P-384"))
    ecpub = write(tmp_path, "ecpub.pem", openssl("pkey", "-in", ec, "-pubout"))
    imp = cu1.ok(f"key import pem --path {ecpub} --label sig-ecimp --key-type-class ec-public "
                 "--attributes verify=true")["key"]
    assert attrs(imp)["curve"] == "secp384r1" and attrs(imp)["local"] is False
    der = openssl("dgst", "-sha384", "-sign", ec, dpath)
    # DER back to r || s for the HSM.
    seq = der[2:] if der[1] < 0x80 else der[3:]
    ints = []
    while seq:
        n = seq[1]
        ints.append(int.from_bytes(seq[2:2 + n], "big"))
        seq = seq[2 + n:]
    raw = b"".join(i.to_bytes(48, "big") for i in ints)
    cu1.ok(f"crypto verify ecdsa --key-filter key-reference={ref(imp)} --hash-function sha384 "
           f"--data-path {dpath} --signature {b64(raw)}")


def test_hmac_digest_random(kc, cu1, tmp_path):
    known = Known(cu1, tmp_path, "mac")
    k = bytes(range(200, 232))
    gs = known.bring(k, "mac-key", kind="generic-secret", attributes="sign=true verify=true")
    data = b"hmac me"
    for h in ("sha1", "sha224", "sha256", "sha384", "sha512"):
        tag = unb64(cu1.ok(f"crypto sign hmac --key-filter key-reference={ref(gs)} "
                           f"--hash-function {h} --data {b64(data)}")["signature"])
        want = openssl("dgst", f"-{h}", "-mac", "HMAC", "-macopt", f"hexkey:{k.hex()}",
                       "-binary", data=data)
        assert tag == want
        cu1.ok(f"crypto verify hmac --key-filter key-reference={ref(gs)} --hash-function {h} "
               f"--data {b64(data)} --signature {b64(tag)}")
        cu1.err(f"crypto verify hmac --key-filter key-reference={ref(gs)} --hash-function {h} "
                f"--data {b64(data + b'!')} --signature {b64(tag)}", "verification failed")
        got = cu1.ok(f"crypto digest --hash-function {h} --data {b64(data)}")
        assert got["hash-function"] == h
        assert unb64(got["digest"]) == openssl("dgst", f"-{h}", "-binary", data=data)
    r1 = unb64(cu1.ok("crypto random --length-bytes 32")["data"])
    r2 = unb64(cu1.ok("crypto random --length-bytes 32")["data"])
    assert len(r1) == 32 and r1 != r2


# ---- ownership, sharing, roles ----

def test_owner_shares_and_admin(kc, tmp_path):
    a = Shell(kc, "cu1")
    b = Shell(kc, "cu2")
    adm = Shell(kc, "admin", "admin", ADMIN_PW)
    try:
        d = a.ok("key generate-asymmetric-pair ec --public-label own-pub --private-label own-priv "
                 "--curve secp256r1 --private-attributes sign=true --public-attributes verify=true")
        priv = ref(d["private_key"])
        sym = ref(a.ok("key generate-symmetric aes --label own-aes --key-length-bytes 32 "
                       "--attributes encrypt=true decrypt=true")["key"])
        data = b64(b"shared use")
        # cu2 sees neither private nor secret key until it is shared.
        assert b.keys("attr.label=own-priv") == []
        b.err(f"crypto sign ecdsa --key-filter key-reference={priv} --hash-function sha256 "
              f"--data {data}", "No key matches")
        b.err(f"key delete --filter key-reference={sym}", "No key matches")
        a.err(f"key share --filter key-reference={priv} --username nobody1 --role crypto-user")
        got = a.ok(f"key share --filter key-reference={priv} --username cu2 --role crypto-user")
        assert got == {"message": "Key shared successfully"}
        k = a.keys(f"key-reference={priv}")[0]
        assert k["key-info"]["shared-users"] == [{"username": "cu2", "key-coverage": "full"}]
        # The shared user uses the key but may not manage it.
        b.ok(f"crypto sign ecdsa --key-filter key-reference={priv} --hash-function sha256 "
             f"--data {data}")
        b.err(f"key delete --filter key-reference={priv}", "owner")
        b.err(f"key share --filter key-reference={priv} --username cu3 --role crypto-user",
              "owner")
        b.err(f"key set-attribute --filter key-reference={priv} --name label --value stolen",
              "owner")
        b.err(f"key wrap aes-no-pad --payload-filter key-reference={priv} "
              f"--wrapping-filter key-reference={sym}")
        assert attrs(a.keys(f"key-reference={priv}")[0])["label"] == "own-priv"
        # The admin sees every key's attributes but uses none.
        seen = adm.keys("attr.label=own-aes")
        assert [ref(x) for x in seen] == [sym]
        assert seen[0]["key-info"]["key-owners"][0]["username"] == "cu1"
        adm.err(f"crypto encrypt aes-gcm --key-filter key-reference={sym} --data {data}",
                "Encryption failed")
        adm.err(f"crypto sign ecdsa --key-filter key-reference={priv} --hash-function sha256 "
                f"--data {data}", "Signing failed")
        adm.err(f"key delete --filter key-reference={sym}")
        adm.err("key generate-symmetric aes --label own-adm --key-length-bytes 16")
        # Unsharing takes the key away again; the owner deletes on every HSM.
        a.ok(f"key unshare --filter key-reference={priv} --username cu2 --role crypto-user")
        b.err(f"crypto sign ecdsa --key-filter key-reference={priv} --hash-function sha256 "
              f"--data {data}", "No key matches")
        assert a.ok(f"key delete --filter key-reference={priv}") == \
            {"message": "Key deleted successfully"}
        assert a.keys(f"key-reference={priv}") == []
        st = a.ok("cluster sync-status")
        assert st["in-sync"] is True, st
        # The public half lives on: deleting one half leaves the other.
        assert len(a.keys("attr.label=own-pub")) == 1
    finally:
        a.close()
        b.close()
        adm.close()


# ---- attribute rules ----

def test_attribute_rules(kc, cu1):
    k = cu1.ok("key generate-symmetric aes --label rule-fixed --key-length-bytes 32 "
               "--attributes extractable=false wrap=false")["key"]
    wk = cu1.ok("key generate-symmetric aes --label rule-kek --key-length-bytes 32 "
                "--attributes wrap=true")["key"]
    assert attrs(k)["extractable"] is False and attrs(k)["never-extractable"] is True
    # A non-extractable key cannot be wrapped out.
    cu1.err(f"key wrap aes-no-pad --payload-filter key-reference={ref(k)} "
            f"--wrapping-filter key-reference={ref(wk)}", "not extractable")
    # A key whose wrap attribute is false cannot wrap.
    cu1.err(f"key wrap aes-no-pad --payload-filter key-reference={ref(wk)} "
            f"--wrapping-filter key-reference={ref(k)}", "do not permit")
    # A key without encrypt=true cannot encrypt; a key meant to sign cannot decrypt.
    cu1.err(f"crypto encrypt aes-gcm --key-filter key-reference={ref(k)} --data {b64(b'x')}",
            "do not permit")
    # extractable is set at creation only; sensitive goes only to true; unknown names refused.
    before = cu1.keys("attr.label=rule-fixed")
    cu1.err(f"key set-attribute --filter key-reference={ref(k)} --name extractable --value true",
            "cannot be changed")
    cu1.err(f"key set-attribute --filter key-reference={ref(k)} --name sensitive --value false")
    cu1.err(f"key set-attribute --filter key-reference={ref(k)} --name colour --value red",
            "Unknown key attribute")
    cu1.err(f"key set-attribute --filter key-reference={ref(k)} --name encrypt --value maybe",
            "'encrypt'")
    assert cu1.keys("attr.label=rule-fixed") == before
    # A change that is allowed lands on both HSMs.
    assert cu1.ok(f"key set-attribute --filter key-reference={ref(k)} --name encrypt "
                  "--value true") == {"message": "Attribute set successfully"}
    cu1.ok(f"key set-attribute --filter key-reference={ref(k)} --name label --value rule-renamed")
    now = cu1.keys(f"key-reference={ref(k)}")[0]
    assert attrs(now)["encrypt"] is True and attrs(now)["label"] == "rule-renamed"
    assert now["key-info"]["cluster-coverage"] == "full"
    cu1.ok(f"crypto encrypt aes-gcm --key-filter key-reference={ref(k)} --data {b64(b'x')}")
    # modifiable goes true -> false once; afterwards nothing changes.
    cu1.ok(f"key set-attribute --filter key-reference={ref(k)} --name modifiable --value false")
    cu1.err(f"key set-attribute --filter key-reference={ref(k)} --name label --value again")
    cu1.err(f"key set-attribute --filter key-reference={ref(k)} --name modifiable --value true")
    assert attrs(cu1.keys(f"key-reference={ref(k)}")[0])["label"] == "rule-renamed"
    assert cu1.ok("cluster sync-status")["in-sync"] is True


# ---- filters, paging, session keys ----

def test_filters_paging_and_session_keys(kc, cu1):
    refs = [ref(cu1.ok(f"key generate-symmetric aes --label page-same --key-length-bytes 16 "
                       f"--attributes id=0x{i:02x}")["key"]) for i in range(3)]
    cu1.err("key delete --filter attr.label=page-same",
            "Key selection criteria matched 3 keys. Refine selection criteria to select a single "
            "key.")
    one = cu1.keys("attr.label=page-same attr.id=0x01")
    assert [ref(k) for k in one] == [refs[1]] and attrs(one[0])["id"] == "0x01"
    p1 = cu1.ok("key list --filter attr.label=page-same --max-items 2")
    assert p1["total_key_count"] == 3 and p1["returned_key_count"] == 2
    p2 = cu1.ok(f"key list --filter attr.label=page-same --max-items 2 "
                f"--starting-token {p1['next_token']}")
    assert p2["returned_key_count"] == 1 and "next_token" not in p2
    assert [ref(k) for k in p1["matched_keys"] + p2["matched_keys"]] == sorted(refs)
    cu1.err("key list --starting-token 99 --filter attr.label=page-same", "past the last key")
    cu1.err("key list --max-items 0")

    # A session key lives in this session only, on one HSM, and is not synced.
    s = cu1.ok("key generate-symmetric aes --label page-session --key-length-bytes 16 "
               "--session --attributes encrypt=true decrypt=true")["key"]
    assert attrs(s)["token"] is False
    got = cu1.ok(f"crypto encrypt aes-cbc --key-filter key-reference={ref(s)} "
                 f"--data {b64(b'session data')}")
    cu1.ok(f"crypto decrypt aes-cbc --key-filter key-reference={ref(s)} --iv {got['iv']} "
           f"--data {got['data']}")
    other = Shell(kc, "cu1")
    try:
        assert other.keys("attr.label=page-session") == []
    finally:
        other.close()
    assert cu1.ok("cluster sync-status")["in-sync"] is True
    cu1.ok("logout")
    cu1.ok(f"login --username cu1 --role crypto-user --password {CU_PW}")
    assert cu1.keys("attr.label=page-session") == []


# ---- drift and repair ----

def test_partial_create_and_repair(cluster):
    prepare(cluster)
    down = cluster.cfg["hsms"][1]["id"]
    sh = Shell(cluster, "cu1")
    try:
        cluster.pause_hsm(1)
        try:
            msg = sh.err("key generate-symmetric aes --label drift --key-length-bytes 32",
                         "created on 1 of 2 HSMs", down)
            handle = msg.split()[1]
            assert handle.startswith("0x")
            k = sh.keys("attr.label=drift")
            assert [ref(x) for x in k] == [handle]
            assert k[0]["key-info"]["cluster-coverage"] == "partial"
        finally:
            cluster.resume_hsm(1)
        # The client waits a while before it tries an HSM that timed out again.
        deadline = time.monotonic() + 40
        while True:
            st = sh.ok("cluster sync-status")
            if all(h["state"] == "connected" for h in st["hsms"]):
                break
            assert time.monotonic() < deadline, st
            time.sleep(1)
        rep = sh.ok("cluster sync-repair")
        assert rep["in-sync"] is True and rep["differences"] == [], rep
        hs = rep["hsms"]
        assert hs[0]["objects-digest"] == hs[1]["objects-digest"]
        k = sh.keys("attr.label=drift")
        assert k[0]["key-info"]["cluster-coverage"] == "full"
    finally:
        sh.close()
