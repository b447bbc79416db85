# SPDX-License-Identifier: Apache-2.0
"""libopenhsm-pkcs11.so under the PKCS#11 clients people use, as they use them with CloudHSM's or
SoftHSM2's library: OpenSC's pkcs11-tool (its self test, key generation, signing, listing,
deletion), OpenSSL through libengine-pkcs11-openssl (a pkcs11: URI), GnuTLS's p11tool, and the same
keys seen from openhsm-cli and through PKCS#11 with one handle."""
import os
import subprocess

import PyKCS11
from PyKCS11 import CKA_CLASS, CKA_LABEL, CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, Mechanism
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.hazmat.primitives.serialization import load_der_public_key

from p11lib import CU_ENV, MODULE, PIN, p11, p11cluster  # noqa: F401
from test_cli import cli

ENGINE = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"


def run(cluster, *args, env=None, timeout=300, check=True):
    e = cluster.env(**(env or {}))
    p = subprocess.run(list(args), capture_output=True, text=True, env=e, timeout=timeout)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


def tool(cluster, *args, **kw):
    return run(cluster, "pkcs11-tool", "--module", str(MODULE), *args, **kw)


def test_pkcs11_tool_self_test(p11cluster):
    # Keys for its signature, verification and decryption tests (it tests RSA ones).
    tool(p11cluster, "-l", "--pin", PIN, "--keypairgen", "--key-type", "rsa:2048", "--label",
         "selftest-rsa", "--id", "f1", "--usage-sign", "--usage-decrypt")
    tool(p11cluster, "-l", "--pin", PIN, "--keypairgen", "--key-type", "EC:prime256v1",
         "--label", "selftest-ec", "--id", "f2")
    p = tool(p11cluster, "--login", "--pin", PIN, "--test", check=False)
    out = p.stdout + p.stderr
    assert p.returncode == 0 and "No errors" in out, out
    for line in ("all 4 digest functions seem to work", "testing key 0 (selftest-rsa)",
                 "all 4 signature functions seem to work", "SHA256-RSA-PKCS: OK"):
        assert line in out, (line, out)
    # Decryption with PKCS#1 v1.5 and OAEP (the tool encrypts with the public key itself).
    assert out.count("RSA-PKCS-OAEP") >= 2 and "Decryption" in out, out


def test_pkcs11_tool_keys_sign_list_delete(p11cluster, tmp_path):
    data = tmp_path / "data"
    data.write_bytes(b"signed through pkcs11-tool")
    tool(p11cluster, "-l", "--pin", PIN, "--keypairgen", "--key-type", "EC:prime256v1",
         "--label", "tool-ec", "--id", "a1")
    listed = tool(p11cluster, "-l", "--pin", PIN, "--list-objects").stdout
    assert "tool-ec" in listed and "Private Key Object; EC" in listed, listed
    sig = tmp_path / "sig"
    tool(p11cluster, "-l", "--pin", PIN, "--sign", "-m", "ECDSA-SHA256", "--id", "a1",
         "-i", str(data), "-o", str(sig))
    pub = tmp_path / "pub.der"
    tool(p11cluster, "-l", "--pin", PIN, "--read-object", "--type", "pubkey", "--id", "a1",
         "-o", str(pub))
    pk = load_der_public_key(pub.read_bytes())
    raw = sig.read_bytes()
    assert len(raw) == 64
    pk.verify(utils.encode_dss_signature(int.from_bytes(raw[:32], "big"),
                                         int.from_bytes(raw[32:], "big")),
              data.read_bytes(), ec.ECDSA(hashes.SHA256()))
    tool(p11cluster, "-l", "--pin", PIN, "--delete-object", "--type", "privkey", "--id", "a1")
    tool(p11cluster, "-l", "--pin", PIN, "--delete-object", "--type", "pubkey", "--id", "a1")
    listed = tool(p11cluster, "-l", "--pin", PIN, "--list-objects").stdout
    assert "tool-ec" not in listed, listed


def test_openssl_engine_signs_with_a_pkcs11_uri(p11cluster, tmp_path):
    tool(p11cluster, "-l", "--pin", PIN, "--keypairgen", "--key-type", "rsa:2048",
         "--label", "engine-rsa", "--id", "b2")
    conf = tmp_path / "openssl.cnf"
    conf.write_text(f"""openssl_conf = openssl_init
[openssl_init]
engines = engine_section
[engine_section]
pkcs11 = pkcs11_section
[pkcs11_section]
engine_id = pkcs11
dynamic_path = {ENGINE}
MODULE_PATH = {MODULE}
init = 0
""")
    env = {"OPENSSL_CONF": str(conf)}
    data = tmp_path / "data"
    data.write_bytes(os.urandom(1000))
    sig = tmp_path / "sig"
    uri = f"pkcs11:object=engine-rsa;type=private;pin-value={PIN}"
    run(p11cluster, "openssl", "dgst", "-sha256", "-engine", "pkcs11", "-keyform", "engine",
        "-sign", uri, "-out", str(sig), str(data), env=env)
    der = tmp_path / "pub.der"
    tool(p11cluster, "-l", "--pin", PIN, "--read-object", "--type", "pubkey", "--id", "b2",
         "-o", str(der))
    pub = tmp_path / "pub.pem"
    run(p11cluster, "openssl", "pkey", "-pubin", "-inform", "DER", "-in", str(der), "-out",
        str(pub))
    p = run(p11cluster, "openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig),
            str(data))
    assert "Verified OK" in p.stdout
    data.write_bytes(b"something else")
    p = run(p11cluster, "openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig),
            str(data), check=False)
    assert p.returncode != 0 and "Verification failure" in p.stdout + p.stderr


def test_p11tool_lists_the_objects(p11cluster):
    tool(p11cluster, "-l", "--pin", PIN, "--keypairgen", "--key-type", "EC:prime256v1",
         "--label", "gnutls-ec", "--id", "c3")
    p = run(p11cluster, "p11tool", "--provider", str(MODULE), "--login", "--list-all",
            "pkcs11:token=hsm1", env={"GNUTLS_PIN": PIN})
    assert "gnutls-ec" in p.stdout and "Type: Private key" in p.stdout, p.stdout + p.stderr
    p = run(p11cluster, "p11tool", "--provider", str(MODULE), "--list-tokens")
    assert "hsm1" in p.stdout, p.stdout


def test_cli_and_pkcs11_see_the_same_keys(p11, p11cluster):
    code, out, text = cli(p11cluster, "key", "generate-asymmetric-pair", "ec", "--curve",
                          "secp256r1", "--public-label", "from-cli", "--private-label", "from-cli",
                          "--public-attributes", "verify=true", "--private-attributes",
                          "sign=true", **CU_ENV)
    assert code == 0, text
    priv_ref = int(out["data"]["private_key"]["key-reference"], 16)
    pub_ref = int(out["data"]["public_key"]["key-reference"], 16)
    s = p11.session()
    priv = s.findObjects([(CKA_CLASS, CKO_PRIVATE_KEY), (CKA_LABEL, "from-cli")])
    pub = s.findObjects([(CKA_CLASS, CKO_PUBLIC_KEY), (CKA_LABEL, "from-cli")])
    assert [x.value() for x in priv] == [priv_ref] and [x.value() for x in pub] == [pub_ref]
    sig = s.sign(priv[0], b"both ways", Mechanism(PyKCS11.CKM_ECDSA_SHA256))
    assert s.verify(pub[0], b"both ways", sig, Mechanism(PyKCS11.CKM_ECDSA_SHA256))
    # A token key made through PKCS#11 is in the CLI's list with the same handle.
    pubh, privh = s.generateKeyPair(
        [(PyKCS11.CKA_TOKEN, True), (CKA_LABEL, "from-p11"),
         (PyKCS11.CKA_EC_PARAMS, bytes.fromhex("06082a8648ce3d030107")),
         (PyKCS11.CKA_VERIFY, True)],
        [(PyKCS11.CKA_TOKEN, True), (CKA_LABEL, "from-p11"), (PyKCS11.CKA_SIGN, True)],
        mecha=PyKCS11.MechanismECGENERATEKEYPAIR)
    code, out, text = cli(p11cluster, "key", "list", "--filter", "attr.label=from-p11",
                          **CU_ENV)
    assert code == 0, text
    refs = sorted(int(k["key-reference"], 16) for k in out["data"]["matched_keys"])
    assert refs == sorted([pubh.value(), privh.value()]), (refs, pubh.value(), privh.value())
