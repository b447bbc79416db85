# SPDX-License-Identifier: Apache-2.0
"""openhsm-kmu (key_mgmt_util) end to end on a two-HSM cluster: a crypto user made with
openhsm-cmu logs in, makes AES, RSA and EC keys, signs and verifies (checked against `openssl` on
the exported public key and the other way round), wraps and unwraps (checked against `openssl enc
-id-aes256-wrap` and Python's RFC 3394/5649 code on keys whose material the test knows), exports and
imports plaintext keys, finds keys by attributes, shares and deletes them. Output lines are the
guide's ("Cfm3DeleteKey returned: 0x00 : HSM Return: SUCCESS", "Node id 1 and err state
0x30000085 : ..." with an HSM hung). Bad input (unknown flags, key types, sizes, forbidden uses,
tampered files) gives a clear error and changes nothing, which each test reads back with findKey.
"""
import os
import re
import subprocess

import pexpect
from cryptography.hazmat.primitives.keywrap import (aes_key_unwrap,
                                                    aes_key_unwrap_with_padding)

from conftest import BIN
from test_cmu import ADMIN_PW, activate, cmu, create, login_as, users

KMU = BIN / "openhsm-kmu"
ALIAS = BIN / "key_mgmt_util"
CU_PW = {"alice": "alice-pass1", "bob": "bob-pass12"}
OK = "HSM Return: SUCCESS"
UNAVAILABLE = "HSM CLUSTER ERROR: Server in cluster is unavailable"


def prepare(cluster, *names):
    """Activates the cluster and creates the crypto users; returns {name: user id}."""
    activate(cluster)
    script = login_as("admin", ADMIN_PW)
    for n in names:
        script += create("CU", n, CU_PW[n])
    out = cmu(cluster, script + "listUsers\n")
    listed = users(out)
    return {n: listed[0][n][0] for n in names}


def run(cluster, args, script=None, timeout=120, exe=KMU):
    p = subprocess.run([str(exe), *args], input=script, capture_output=True, text=True,
                       timeout=timeout, env=cluster.env())
    return p.returncode, p.stdout + p.stderr


def single(cluster, user, *cmd, exe=KMU):
    """singlecmd: logs in as crypto user `user`, runs cmd; returns (exit status, output)."""
    return run(cluster, ["singlecmd", "loginHSM", "-u", "CU", "-s", user, "-p", CU_PW[user],
                         *[str(c) for c in cmd]], exe=exe)


def session(cluster, user, *lines, status=0):
    """An interactive session fed from a script: login, the lines, exit. Returns the output;
    the exit status must be `status` (1 when a command of the script failed)."""
    script = f"loginHSM -u CU -s {user} -p {CU_PW[user]}\n" + "".join(
        line + "\n" for line in lines) + "exit\n"
    rc, out = run(cluster, [], script)
    assert rc == status, out
    return out


def stripped(out):
    return [line.strip() for line in out.splitlines()]


def returned(out, fn):
    """The code and text of the last '<fn> returned:' line."""
    found = re.findall(rf"^\s*{fn} returned: (0x[0-9a-f]+) : (.*?)\r?$", out, re.M)
    assert found, out
    return found[-1]


def nodes(out):
    """The last Cluster Error Status block: {node: (state, text)}."""
    blocks = out.split("Cluster Error Status")
    assert len(blocks) > 1, out
    found = {}
    for m in re.finditer(r"^\s*Node id (\d+) and err state (0x[0-9a-f]{8}) : (.*)$", blocks[-1],
                         re.M):
        found[int(m.group(1))] = (m.group(2), m.group(3))
    return found


def all_ok(out, fn):
    assert returned(out, fn) == ("0x00", OK), out
    assert nodes(out) == {0: ("0x00000000", OK), 1: ("0x00000000", OK)}, out


def handle(out):
    m = re.search(r"Key Handle: (\d+)", out)
    assert m, out
    return int(m.group(1))


def pair(out):
    m = re.search(r"public key handle: (\d+)\s+private key handle: (\d+)", out)
    assert m, out
    return int(m.group(1)), int(m.group(2))


def find(cluster, user, *flags):
    """findKey's handles (sorted) for `user` with the given filter flags."""
    rc, out = single(cluster, user, "findKey", *flags)
    assert rc == 0, out
    assert returned(out, "Cfm3FindKey") == ("0x00", OK), out
    m = re.search(r"Total number of keys present (\d+)", out)
    assert m, out
    total = int(m.group(1))
    if total == 0:
        return []
    m = re.search(r"number of keys matched from start index 0::(\d+)\n(.*)\n", out)
    assert m and int(m.group(1)) == total - 1, out
    return sorted(int(x) for x in m.group(2).split(", "))


def attr_file(path):
    """A getAttribute file -> {OBJ_ATTR_NAME: value}; a value on several lines (the RSA modulus)
    is joined."""
    attrs, name = {}, None
    for line in path.read_text().split("\n"):
        if line.startswith("OBJ_ATTR_"):
            name = line
            attrs[name] = None
        elif name is not None:
            attrs[name] = line if attrs[name] is None else attrs[name] + line
    return attrs


def gen_aes(cluster, user, label, *extra):
    rc, out = single(cluster, user, "genSymKey", "-t", 31, "-s", 32, "-l", label, *extra)
    assert rc == 0, out
    all_ok(out, "Cfm3GenerateSymmetricKey")
    assert "Symmetric Key Created.  Key Handle:" in out
    return handle(out)


def im_aes(cluster, user, tmp_path, material, label, wrapper):
    """imSymKey of known key material through wrapping key `wrapper`; the new handle."""
    f = tmp_path / f"{label}.key"
    f.write_bytes(material)
    rc, out = single(cluster, user, "imSymKey", "-f", f, "-w", wrapper, "-t", 31, "-l", label)
    assert rc == 0, out
    for fn in ("Cfm3WrapHostKey", "Cfm3CreateUnwrapTemplate", "Cfm3UnWrapKey"):
        assert returned(out, fn) == ("0x00", OK), out
    assert "Symmetric Key Unwrapped.  Key Handle:" in out
    return handle(out)


def test_kmu_login_logout_and_session_commands(cluster):
    """loginHSM prints the returned line and one node line per HSM; CO is refused with 0xdb."""
    prepare(cluster, "alice")
    out = session(cluster, "alice", "logoutHSM")
    lines = stripped(out)
    assert "Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS" in lines
    assert "Cluster Error Status" in lines
    assert "Node id 0 and err state 0x00000000 : HSM Return: SUCCESS" in lines
    assert "Node id 1 and err state 0x00000000 : HSM Return: SUCCESS" in lines
    assert "Cfm3LogoutHSM returned: 0x00 : HSM Return: SUCCESS" in lines

    # A wrong password: the HSMs' login failure on every node, and no key commands work.
    rc, out = run(cluster, ["singlecmd", "loginHSM", "-u", "CU", "-s", "alice", "-p",
                            "wrong-pass1", "findKey"])
    assert rc == 3
    assert returned(out, "Cfm3LoginHSM") == ("0xa3", "HSM Error: RET_USER_LOGIN_FAILURE"), out
    assert "wrong-pass1" not in out
    assert "Cfm3FindKey" not in out  # singlecmd stops at the first failure

    # key_mgmt_util is for crypto users.
    rc, out = run(cluster, ["singlecmd", "loginHSM", "-u", "CO", "-s", "admin", "-p", ADMIN_PW])
    assert rc == 3
    assert returned(out, "Cfm3LoginHSM") == ("0xdb", "HSM Error: Invalid User Type."), out

    # The AWS name runs the same tool; Error2String, listAttributes and help need no login.
    rc, out = run(cluster, ["Cfm3Util", "singlecmd", "Error2String", "-r", "0xdb"], exe=ALIAS)
    assert rc == 0, out
    assert "Error Code db maps to HSM Error: Invalid User Type." in out
    rc, out = run(cluster, ["singlecmd", "listAttributes"])
    assert re.search(r"OBJ_ATTR_EXTRACTABLE\s+= 354", out), out
    rc, out = run(cluster, [], "help\ngenSymKey -h\nexit\n")
    assert "genSymKey" in out and "Usage: genSymKey -t <key type>" in out, out
    assert "[-nex]" in out


def test_kmu_generates_keys_with_guide_attributes(cluster, tmp_path):
    """gen* commands print the new handles; getAttribute writes the guide's attribute file."""
    prepare(cluster, "alice")
    aes = gen_aes(cluster, "alice", "aes256", "-id", "test_01")
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "rsa_test")
    assert rc == 0, out
    all_ok(out, "Cfm3GenerateKeyPair")
    rsa_pub, rsa_priv = pair(out)
    rc, out = single(cluster, "alice", "genECCKeyPair", "-i", 2, "-l", "ecc2")
    assert rc == 0, out
    all_ok(out, "Cfm3GenerateKeyPair")
    ec_pub, ec_priv = pair(out)
    assert len({aes, rsa_pub, rsa_priv, ec_pub, ec_priv}) == 5
    assert find(cluster, "alice") == sorted([aes, rsa_pub, rsa_priv, ec_pub, ec_priv])

    f = tmp_path / "attr_aes"
    rc, out = single(cluster, "alice", "getAttribute", "-o", aes, "-a", 512, "-out", f)
    assert rc == 0, out
    assert returned(out, "Cfm3GetAttribute") == ("0x00", OK)
    assert re.search(r"got all attributes of size \d+ attr cnt \d+", out), out
    assert oct(os.stat(f).st_mode & 0o777) == "0o600"
    text = f.read_text().split("\n")
    attrs = attr_file(f)
    # The guide's -a 512 file starts with an empty line (tests/e2e/test_golden_attrs.py has it
    # line for line).
    assert text[:5] == ["", "OBJ_ATTR_CLASS", "0x04", "OBJ_ATTR_KEY_TYPE", "0x1f"]
    assert attrs["OBJ_ATTR_TOKEN"] == "0x01"
    for a in ("ENCRYPT", "DECRYPT", "WRAP", "UNWRAP", "EXTRACTABLE", "SENSITIVE", "LOCAL"):
        assert attrs[f"OBJ_ATTR_{a}"] == "0x01", (a, attrs)
    assert attrs["OBJ_ATTR_SIGN"] == "0x00"
    assert attrs["OBJ_ATTR_LABEL"] == "aes256"
    assert attrs["OBJ_ATTR_ID"] == "test_01"
    assert attrs["OBJ_ATTR_VALUE_LEN"] == "0x00000020"
    assert re.fullmatch(r"0x[0-9a-f]{6}", attrs["OBJ_ATTR_KCV"])

    rc, out = single(cluster, "alice", "getAttribute", "-o", rsa_pub, "-a", 512, "-out", f)
    assert rc == 0, out
    attrs = attr_file(f)
    assert attrs["OBJ_ATTR_CLASS"] == "0x02" and attrs["OBJ_ATTR_KEY_TYPE"] == "0x00"
    assert attrs["OBJ_ATTR_VERIFY"] == "0x01" and attrs["OBJ_ATTR_SIGN"] == "0x00"
    assert attrs["OBJ_ATTR_MODULUS_BITS"] == "0x00000800"
    assert attrs["OBJ_ATTR_PUBLIC_EXPONENT"] == "0x010001"
    # The guide's newest genRSAKeyPair example: "0x" and the digits in lines of 80 characters.
    assert re.fullmatch(r"0x[0-9a-f]{512}", attrs["OBJ_ATTR_MODULUS"])

    # One attribute, 8 hex digits; an attribute the key lacks is an error and writes nothing.
    rc, out = single(cluster, "alice", "getAttribute", "-o", ec_priv, "-a", 354, "-out", f)
    assert rc == 0, out
    assert f.read_text() == "OBJ_ATTR_EXTRACTABLE\n0x00000001\n"
    g = tmp_path / "none"
    rc, out = single(cluster, "alice", "getAttribute", "-o", aes, "-a", 288, "-out", g)
    assert rc == 3 and not g.exists(), out
    assert returned(out, "Cfm3GetAttribute")[0] != "0x00"

    # Curves 14 (P-384), 15 (P-521), 16 (secp256k1); -nex and -sess; the FIPS example's -i 1.
    for curve in (14, 15, 16):
        rc, out = single(cluster, "alice", "genECCKeyPair", "-i", curve, "-l", f"ecc{curve}")
        assert rc == 0, out
    rc, out = single(cluster, "alice", "genECCKeyPair", "-i", 1, "-l", "ecc1")
    assert rc == 3
    assert returned(out, "Cfm3GenerateKeyPair")[0] == "0xb3", out
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 24, "-l", "tmpAES", "-nex",
                     "-sess")
    assert rc == 0, out
    tmp = handle(out)
    assert tmp not in find(cluster, "alice")  # the session key died with its session
    assert len(find(cluster, "alice")) == 5 + 3 * 2


def test_kmu_sign_and_verify_against_openssl(cluster, tmp_path):
    """RSA PKCS#1 v1.5 and PSS and ECDSA signatures verify with openssl on the exported PEM."""
    prepare(cluster, "alice")
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "rsa")
    rsa_pub, rsa_priv = pair(out)
    rc, out = single(cluster, "alice", "genECCKeyPair", "-i", 2, "-l", "ec")
    ec_pub, ec_priv = pair(out)
    msg = tmp_path / "msg"
    msg.write_bytes(b"the message to sign\n" * 50)

    for pub, name in ((rsa_pub, "rsa"), (ec_pub, "ec")):
        pem = tmp_path / f"{name}.pem"
        rc, out = single(cluster, "alice", "exportPubKey", "-k", pub, "-out", pem)
        assert rc == 0, out
        assert f"PEM formatted public key is written to {pem}" in out
        assert returned(out, "Cfm3ExportPubKey") == ("0x00", OK)
        assert pem.read_text().startswith("-----BEGIN PUBLIC KEY-----")

    cases = [
        (rsa_priv, rsa_pub, "rsa", 1, "-sha256", []),
        (rsa_priv, rsa_pub, "rsa", 3, "-sha512", []),
        (rsa_priv, rsa_pub, "rsa", 6, "-sha256",
         ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]),
        (ec_priv, ec_pub, "ec", 17, "-sha256", []),
        (ec_priv, ec_pub, "ec", 18, "-sha384", []),
    ]
    for priv, pub, name, mech, dgst, opts in cases:
        sig = tmp_path / f"sig{mech}"
        rc, out = single(cluster, "alice", "sign", "-f", msg, "-k", priv, "-m", mech, "-out", sig)
        assert rc == 0, out
        assert returned(out, "Cfm3Sign") == ("0x00", OK)
        assert f"signature is written to file {sig}" in out
        v = subprocess.run(["openssl", "dgst", dgst, "-verify", tmp_path / f"{name}.pem", *opts,
                            "-signature", sig, msg], capture_output=True, text=True)
        assert v.returncode == 0 and "Verified OK" in v.stdout, (mech, v.stdout, v.stderr)
        rc, out = single(cluster, "alice", "verify", "-f", msg, "-s", sig, "-k", pub, "-m", mech)
        assert rc == 0, out
        assert "Signature verification successful" in out
        assert returned(out, "Cfm3Verify") == ("0x00", OK)

    # A signature openssl made with a key imported from PEM verifies in the HSM.
    key = tmp_path / "ext.key"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", key], check=True, capture_output=True)
    pem = tmp_path / "ext.pem"
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pem], check=True,
                   capture_output=True)
    rc, out = single(cluster, "alice", "importPubKey", "-l", "external", "-f", pem)
    assert rc == 0, out
    all_ok(out, "Cfm3CreatePublicKey")
    ext = int(re.search(r"Public Key Handle: (\d+)", out).group(1))
    sig = tmp_path / "ext.sig"
    subprocess.run(["openssl", "dgst", "-sha256", "-sign", key, "-out", sig, msg], check=True)
    rc, out = single(cluster, "alice", "verify", "-f", msg, "-s", sig, "-k", ext, "-m", 17)
    assert rc == 0 and "Signature verification successful" in out, out

    # A changed message: ERR_BAD_PKCS_DATA.
    bad = tmp_path / "bad"
    bad.write_bytes(msg.read_bytes() + b"x")
    rc, out = single(cluster, "alice", "verify", "-f", bad, "-s", tmp_path / "sig1", "-k", rsa_pub,
                     "-m", 1)
    assert rc == 3
    assert returned(out, "Cfm3Verify") == ("0x1b", "CSP Error: ERR_BAD_PKCS_DATA"), out
    assert "Signature verification successful" not in out

    # importPubKey refuses a private key file without sending it anywhere.
    before = find(cluster, "alice")
    rc, out = single(cluster, "alice", "importPubKey", "-l", "priv", "-f", key)
    assert rc == 3 and "does not hold a PEM RSA or EC public key" in out, out
    assert find(cluster, "alice") == before


def test_kmu_wrap_unwrap_and_plaintext_transport(cluster, tmp_path):
    """Keys with known material: wrapKey output unwraps with openssl and Python, unWrapKey and
    exSymKey give the material back, imSymKey/exSymKey with -wk files work both ways."""
    prepare(cluster, "alice")
    boot = gen_aes(cluster, "alice", "boot")
    kek, payload = bytes(range(32)), bytes(range(100, 132))
    w = im_aes(cluster, "alice", tmp_path, kek, "kek", boot)
    k = im_aes(cluster, "alice", tmp_path, payload, "payload", boot)

    # getAttribute shows an imported key as not local.
    f = tmp_path / "attr"
    rc, out = single(cluster, "alice", "getAttribute", "-o", k, "-a", 355, "-out", f)
    assert f.read_text() == "OBJ_ATTR_LOCAL\n0x00000000\n", out

    # RFC 3394 (-m 5) and RFC 5649 (-m 6), bare: openssl and Python unwrap them with the KEK.
    for mech, cipher, iv, unwrap in ((5, "id-aes256-wrap", "A6A6A6A6A6A6A6A6", aes_key_unwrap),
                                     (6, "id-aes256-wrap-pad", "A65959A6",
                                      aes_key_unwrap_with_padding)):
        out_f = tmp_path / f"wrapped{mech}"
        rc, out = single(cluster, "alice", "wrapKey", "-k", k, "-w", w, "-m", mech, "-noheader",
                         "-out", out_f)
        assert rc == 0, out
        assert "Key Wrapped." in out
        assert f'Wrapped Key written to file "{out_f}" length {out_f.stat().st_size}' in out
        assert returned(out, "Cfm2WrapKey") == ("0x00", OK)
        assert unwrap(kek, out_f.read_bytes()) == payload
        plain = subprocess.run(["openssl", "enc", "-d", f"-{cipher}", "-K", kek.hex(), "-iv", iv,
                                "-in", out_f], capture_output=True, check=True).stdout
        assert plain == payload

    # Default mechanism 4 with the header: unWrapKey makes a new key with the same material.
    hdr = tmp_path / "wrapped.hdr"
    rc, out = single(cluster, "alice", "wrapKey", "-k", k, "-w", w, "-out", hdr)
    assert rc == 0, out
    rc, out = single(cluster, "alice", "unWrapKey", "-f", hdr, "-w", w)
    assert rc == 0, out
    all_ok(out, "Cfm3UnWrapKey")
    copy = handle(out)
    assert copy not in (k, w)
    plain = tmp_path / "copy.key"
    rc, out = single(cluster, "alice", "exSymKey", "-k", copy, "-w", w, "-out", plain)
    assert rc == 0, out
    assert returned(out, "Cfm3WrapKey") == ("0x00", OK)
    assert returned(out, "Cfm3UnWrapHostKey") == ("0x00", OK)
    assert f'Wrapped Symmetric Key written to file "{plain}"' in out
    assert plain.read_bytes() == payload
    assert oct(os.stat(plain).st_mode & 0o777) == "0o600"

    # The bare RFC 5649 file unwraps too, with -noheader, -l, -kc, -kt.
    rc, out = single(cluster, "alice", "unWrapKey", "-f", tmp_path / "wrapped6", "-w", w, "-m", 6,
                     "-noheader", "-l", "from-bare", "-kc", 4, "-kt", 31)
    assert rc == 0, out
    bare = handle(out)
    assert find(cluster, "alice", "-l", "from-bare") == [bare]

    # AES-GCM (-m 10) with the header; then with -noheader and the IV in its own file.
    gcm = tmp_path / "gcm"
    rc, out = single(cluster, "alice", "wrapKey", "-k", k, "-w", w, "-m", 10, "-out", gcm)
    assert rc == 0, out
    rc, out = single(cluster, "alice", "unWrapKey", "-f", gcm, "-w", w, "-l", "from-gcm")
    assert rc == 0, out
    ivf = tmp_path / "gcm.iv"
    rc, out = single(cluster, "alice", "wrapKey", "-k", k, "-w", w, "-m", 10, "-noheader",
                     "-iv_file", ivf, "-out", gcm)
    assert rc == 0 and ivf.stat().st_size == 12, out
    rc, out = single(cluster, "alice", "unWrapKey", "-f", gcm, "-w", w, "-m", 10, "-noheader",
                     "-iv_file", ivf, "-l", "from-gcm2", "-kc", 4, "-kt", 31)
    assert rc == 0, out

    # -wk: the host unwraps with the KEK's file, and wraps with it on import.
    kek_file = tmp_path / "kek.key"
    rc, out = single(cluster, "alice", "exSymKey", "-k", k, "-w", w, "-out", plain, "-wk", kek_file)
    assert rc == 0 and plain.read_bytes() == payload, out
    other = bytes(range(200, 216))
    (tmp_path / "other.key").write_bytes(other)
    rc, out = single(cluster, "alice", "imSymKey", "-f", tmp_path / "other.key", "-w", w, "-t", 31,
                     "-l", "aes128", "-wk", kek_file)
    assert rc == 0, out
    o = handle(out)
    rc, out = single(cluster, "alice", "exSymKey", "-k", o, "-w", w, "-out", plain)
    assert plain.read_bytes() == other, out

    # RSA-OAEP (SHA-256; the header keeps the hash) and RSA PKCS#1 v1.5: wrapped with the public
    # key, unwrapped with the private key into a key with the same material.
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "rsa-kek")
    rsa_pub, rsa_priv = pair(out)
    for mech, extra in ((8, ["-t", 3]), (12, [])):
        rw = tmp_path / f"rsa{mech}"
        rc, out = single(cluster, "alice", "wrapKey", "-k", k, "-w", rsa_pub, "-m", mech, *extra,
                         "-out", rw)
        assert rc == 0, out
        rc, out = single(cluster, "alice", "unWrapKey", "-f", rw, "-w", rsa_priv)
        assert rc == 0, out
        all_ok(out, "Cfm3UnWrapKey")
        rc, out = single(cluster, "alice", "exSymKey", "-k", handle(out), "-w", w, "-out", plain)
        assert rc == 0 and plain.read_bytes() == payload, out
    rc, out = single(cluster, "alice", "unWrapKey", "-f", tmp_path / "rsa8", "-w", rsa_priv,
                     "-t", 2)
    assert rc == 3 and "does not match the file's hash type 3" in out, out

    # A tampered header file or wrapped bytes: clear error, no new key.
    before = find(cluster, "alice")
    data = bytearray(hdr.read_bytes())
    data[-3] ^= 0x40
    hdr.write_bytes(bytes(data))
    rc, out = single(cluster, "alice", "unWrapKey", "-f", hdr, "-w", w)
    assert rc == 3 and returned(out, "Cfm3UnWrapKey")[0] != "0x00", out
    hdr.write_bytes(bytes(data[:20]))
    rc, out = single(cluster, "alice", "unWrapKey", "-f", hdr, "-w", w)
    assert rc == 3 and "no valid key_mgmt_util header" in out, out
    assert find(cluster, "alice") == before

    # A non-extractable key cannot be wrapped or exported.
    nex = gen_aes(cluster, "alice", "nex", "-nex")
    rc, out = single(cluster, "alice", "wrapKey", "-k", nex, "-w", w, "-out", tmp_path / "x")
    assert rc == 3 and returned(out, "Cfm2WrapKey")[0] != "0x00", out
    assert not (tmp_path / "x").exists()
    rc, out = single(cluster, "alice", "exSymKey", "-k", nex, "-w", w, "-out", tmp_path / "y")
    assert rc == 3 and not (tmp_path / "y").exists(), out


def test_kmu_delete_share_and_unreachable_hsm(cluster, tmp_path):
    """deleteKey's output per node; a hung HSM shows 0x30000085; a non-owner gets 0xc6."""
    ids = prepare(cluster, "alice", "bob")
    shared = gen_aes(cluster, "alice", "shared", "-u", ids["bob"])
    rc, out = single(cluster, "alice", "getKeyInfo", "-k", shared)
    assert rc == 0, out
    lines = stripped(out)
    assert "Cfm3GetKey returned: 0x00 : HSM Return: SUCCESS" in lines
    assert f"Owned by user {ids['alice']}" in lines
    assert "also, shared to following 1 user(s):" in lines
    assert str(ids["bob"]) in lines

    # Bob sees and may use the shared key, but not delete it.
    assert shared in find(cluster, "bob")
    assert find(cluster, "bob", "-u", ids["alice"]) == [shared]
    rc, out = single(cluster, "bob", "deleteKey", "-k", shared)
    assert rc == 3
    lines = stripped(out)
    assert "Cfm3DeleteKey returned: 0xc6 : HSM Error: Key Access is denied" in lines, out
    assert "Node id 0 and err state 0x000000c6 : HSM Error: Key Access is denied" in lines
    assert shared in find(cluster, "alice")

    # Sharing with an unknown id or a non-CU is refused before anything is made.
    before = find(cluster, "alice")
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 16, "-l", "x", "-u", 999)
    assert rc == 3 and "Cannot share with user 999: no such user" in out, out
    assert find(cluster, "alice") == before

    # The guide's deleteKey output.
    rc, out = single(cluster, "alice", "deleteKey", "-k", shared)
    assert rc == 0, out
    lines = stripped(out)
    assert lines.count("Cfm3DeleteKey returned: 0x00 : HSM Return: SUCCESS") == 1
    i = lines.index("Cluster Error Status")
    assert lines[i + 1:i + 3] == ["Node id 0 and err state 0x00000000 : HSM Return: SUCCESS",
                                  "Node id 1 and err state 0x00000000 : HSM Return: SUCCESS"]
    assert shared not in find(cluster, "alice")
    rc, out = single(cluster, "alice", "deleteKey", "-k", shared)
    assert rc == 3
    # The guide: the lookup fails first (Cfm3FindKey), on every node.
    assert returned(out, "Cfm3FindKey")[0] == "0xa8", out
    assert "Cfm3DeleteKey" not in out, out

    # With HSM 1 hung, the delete is done on HSM 0 and node 1 reports the cluster error.
    victim = gen_aes(cluster, "alice", "victim")
    cluster.pause_hsm(1)
    try:
        rc, out = single(cluster, "alice", "deleteKey", "-k", victim)
    finally:
        cluster.resume_hsm(1)
    assert returned(out, "Cfm3DeleteKey") == ("0x00", OK), out
    assert nodes(out) == {0: ("0x00000000", OK), 1: ("0x30000085", UNAVAILABLE)}, out
    assert rc == 0
    assert victim not in find(cluster, "alice")


def test_kmu_find_filters(cluster, tmp_path):
    """findKey by class, type, label, id, session, user and key check value."""
    prepare(cluster, "alice")
    a1 = gen_aes(cluster, "alice", "lab-a", "-id", "one")
    a2 = gen_aes(cluster, "alice", "lab-b")
    rc, out = single(cluster, "alice", "genSymKey", "-t", 16, "-s", 64, "-l", "hmac")
    g = handle(out)
    rc, out = single(cluster, "alice", "genECCKeyPair", "-i", 2, "-l", "lab-a")
    pub, priv = pair(out)
    assert find(cluster, "alice", "-t", 31) == sorted([a1, a2])
    assert find(cluster, "alice", "-t", 16) == [g]
    assert find(cluster, "alice", "-c", 2) == [pub]
    assert find(cluster, "alice", "-c", 3, "-t", 3) == [priv]
    assert find(cluster, "alice", "-l", "lab-a") == sorted([a1, pub, priv])
    assert find(cluster, "alice", "-id", "one") == [a1]
    assert find(cluster, "alice", "-l", "nothing") == []
    assert find(cluster, "alice", "-sess", 1) == []
    assert find(cluster, "alice", "-sess", 0) == sorted([a1, a2, g, pub, priv])
    f = tmp_path / "kcv"
    rc, out = single(cluster, "alice", "getAttribute", "-o", a1, "-a", 371, "-out", f)
    kcv = f.read_text().split("\n")[1]
    assert find(cluster, "alice", "-kcv", kcv) == [a1]

    # A session key shows with -sess 1 in its own session only.
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 16, "-l", "s", "-sess",
                     "findKey", "-sess", 1)
    assert rc == 0, out
    s = handle(out)
    assert re.search(rf"number of keys matched from start index 0::0\n{s}\n", out), out
    assert s not in find(cluster, "alice")

    # Bad filters are refused without a search.
    for flags, why in ((["-c", 7], "Invalid key class 7"), (["-t", 99], "Invalid key type 99"),
                       (["-kcv", "0x12"], "Invalid key check value"),
                       (["-sess", 2], "Invalid value '2' for -sess")):
        rc, out = single(cluster, "alice", "findKey", *flags)
        assert rc == 3 and why in out, out
        assert "Cfm3FindKey" not in out


def test_kmu_bad_input_changes_nothing(cluster, tmp_path):
    """Unknown flags, wrong types and sizes, forbidden uses: clear errors, no new keys."""
    prepare(cluster, "alice")
    aes = gen_aes(cluster, "alice", "aes")
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "rsa")
    pub, priv = pair(out)
    before = find(cluster, "alice")
    cases = [
        (["genSymKey", "-t", 31, "-s", 32, "-l", "x", "-bogus"], "Unknown flag -bogus"),
        (["genSymKey", "-t", 99, "-s", 32, "-l", "x"], "Invalid key type 99"),
        (["genSymKey", "-t", 18, "-s", 16, "-l", "x"], "Key type 18 (RC4) is not supported"),
        (["genSymKey", "-t", 21, "-s", 16, "-l", "x"], "Invalid key size 16 for -s"),
        (["genSymKey", "-t", 31, "-s", 17, "-l", "x"], "Invalid key size 17 for -s"),
        (["genSymKey", "-t", 31, "-s", 32], "Missing required flag -l"),
        (["genSymKey", "-t", 31, "-t", 31, "-s", 32, "-l", "x"], "-t given more than once"),
        (["genSymKey", "-t", 31, "-s", 32, "-l", "x", "-m_value", 2],
         "-m_value 2 is more than the 1 users of the key"),
        (["genRSAKeyPair", "-m", 1024, "-e", 65537, "-l", "x"], "Invalid modulus length 1024"),
        (["genRSAKeyPair", "-m", 2048, "-e", 65536, "-l", "x"], "Invalid public exponent 65536"),
        (["genECCKeyPair", "-i", 99, "-l", "x"], "Invalid value '99' for -i"),
        (["deleteKey", "-k", "abc"], "Invalid key handle 'abc'"),
        (["wrapKey", "-k", aes, "-w", aes, "-m", 7, "-out", tmp_path / "w"],
         "Wrapping mechanism 7 (RSA_AES) is not supported"),
        (["sign", "-f", tmp_path / "missing", "-k", priv, "-m", 1, "-out", tmp_path / "s"],
         "Cannot read file"),
        (["sign", "-f", "/etc/hostname", "-k", priv, "-m", 12, "-out", tmp_path / "s"],
         "Invalid signature mechanism 12"),
        (["setAttribute", "-o", aes, "-a", 264], "Attribute 264 cannot be set here"),
    ]
    for cmd, why in cases:
        rc, out = single(cluster, "alice", *cmd)
        assert rc == 3, (cmd, out)
        assert why in out, (cmd, out)
    assert find(cluster, "alice") == before

    # Signing with keys whose sign attribute is false (a public key, an AES key) fails in the HSM.
    msg = tmp_path / "m"
    msg.write_bytes(b"data")
    for key in (pub, aes):
        rc, out = single(cluster, "alice", "sign", "-f", msg, "-k", key, "-m", 1, "-out",
                         tmp_path / "sig")
        assert rc == 3, out
        assert returned(out, "Cfm3Sign")[0] != "0x00", out
        assert not (tmp_path / "sig").exists()
    assert find(cluster, "alice") == before

    # A bad line in an interactive session does not end it; the next command still runs.
    out = session(cluster, "alice", "genSymKey -t 31 -s 17 -l x", "frobnicate", "findKey -t 0",
                  status=3)
    assert "Invalid key size 17" in out and "Unknown command: frobnicate" in out
    assert returned(out, "Cfm3FindKey") == ("0x00", OK)


def test_kmu_set_attribute_makes_a_session_key_persistent(cluster):
    """At the prompt (a terminal): loginHSM -hpswd asks for the password without echo;
    setAttribute -a 1 asks for the value; 0 changes nothing, 1 makes the session key a token key
    that outlives the session."""
    prepare(cluster, "alice")
    child = pexpect.spawn(str(KMU), env=cluster.env(TERM="dumb"), encoding="utf-8", timeout=60)
    try:
        child.expect_exact("Command: ")
        # -hpswd: the password is asked for and not echoed.
        child.sendline("loginHSM -u CU -s alice -hpswd")
        child.expect_exact("Enter password:")
        child.sendline(CU_PW["alice"])
        child.expect_exact("Command: ")
        assert "Cfm3LoginHSM returned: 0x00" in child.before
        assert CU_PW["alice"] not in child.before
        child.sendline("genSymKey -t 31 -s 24 -l tmpAES -sess")
        child.expect_exact("Command: ")
        s = handle(child.before)
        child.sendline(f"setAttribute -o {s} -a 1")
        child.expect_exact("Enter the boolean attribute value (0 or 1):")
        child.sendline("0")
        child.expect_exact("Command: ")
        assert "The only valid value is 1" in child.before
        child.sendline(f"setAttribute -o {s} -a 1")
        child.expect_exact("Enter the boolean attribute value (0 or 1):")
        child.sendline("1")
        child.expect_exact("Command: ")
        assert returned(child.before, "Cfm3SetAttribute") == ("0x00", OK), child.before
        child.sendline("findKey -sess 0")
        child.expect_exact("Command: ")
        assert re.search(rf"\b{s}\b", child.before), child.before
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert s in find(cluster, "alice")  # it outlived its session
