# SPDX-License-Identifier: Apache-2.0
"""openhsm-kmu behaviour beyond the golden transcripts (issue 11): a missing key handle fails
the lookup first and changes nothing; -attest runs a real check and prints the guide's line where
the guide prints it; -m_value makes a quorum key (its use needs approvals); an invalid curve gets
the guide's per-node block on every node; a piped script runs every command and its exit status
says whether all succeeded, while a terminal session keeps exiting 0. The commands added
(exportPrivateKey, importPrivateKey, aesWrapUnwrap, extractMaskedObject, getCaviumPrivKey) are
checked with OpenSSL (`openssl pkey` reads exported keys, HSM signatures of imported keys verify
with `openssl dgst`, aesWrapUnwrap equals `openssl enc -id-aes256-wrap`) or, for masked objects,
by an HSM opening the file; their bad input is refused without a file or a key.
"""
import re
import subprocess

import pexpect

import test_masked
from test_kmu import (CU_PW, KMU, OK, UNAVAILABLE, find, gen_aes, handle, im_aes, nodes, pair,
                      prepare, returned, run, single, stripped)

INVALID = "HSM Error: Invalid object handle is passed to this operation"
MISSING = 424242


def test_kmu_delete_missing_handle_fails_the_lookup_on_every_node(cluster):
    prepare(cluster, "alice")
    aes = gen_aes(cluster, "alice", "keep")
    before = find(cluster, "alice")
    rc, out = single(cluster, "alice", "deleteKey", "-k", MISSING)
    assert rc == 3, out
    assert returned(out, "Cfm3FindKey") == ("0xa8", INVALID), out
    assert nodes(out) == {0: ("0x000000a8", INVALID), 1: ("0x000000a8", INVALID)}, out
    assert "Cfm3DeleteKey" not in out, out
    assert find(cluster, "alice") == before == [aes]


def test_kmu_delete_of_a_key_the_user_cannot_see_is_a_missing_handle(cluster):
    """bob's key is not shared with alice: to her it does not exist (0xa8), and it stays."""
    prepare(cluster, "alice", "bob")
    bobs = gen_aes(cluster, "bob", "bobs")
    rc, out = single(cluster, "alice", "deleteKey", "-k", bobs)
    assert rc == 3 and returned(out, "Cfm3FindKey") == ("0xa8", INVALID), out
    assert find(cluster, "bob") == [bobs]


def test_kmu_every_handle_command_reports_a_missing_handle(cluster, tmp_path):
    """No guide page shows these failing on a missing handle; each prints the guide's 0xa8 code
    and text on its own returned line, exits 1 and writes no file."""
    prepare(cluster, "alice")
    aes = gen_aes(cluster, "alice", "w")
    msg = tmp_path / "msg"
    msg.write_bytes(b"data")
    o = tmp_path / "out"
    cases = [
        (["getAttribute", "-o", MISSING, "-a", 512, "-out", o], "Cfm3GetAttribute"),
        (["getKeyInfo", "-k", MISSING], "Cfm3GetKey"),
        (["exSymKey", "-k", MISSING, "-w", aes, "-out", o], "Cfm3WrapKey"),
        (["exSymKey", "-k", aes, "-w", MISSING, "-out", o], "Cfm3WrapKey"),
        (["wrapKey", "-k", MISSING, "-w", aes, "-out", o], "Cfm2WrapKey"),
        (["wrapKey", "-k", aes, "-w", MISSING, "-out", o], "Cfm2WrapKey"),
        (["sign", "-f", msg, "-k", MISSING, "-m", 1, "-out", o], "Cfm3Sign"),
        (["verify", "-f", msg, "-s", msg, "-k", MISSING, "-m", 1], "Cfm3Verify"),
        (["exportPubKey", "-k", MISSING, "-out", o], "Cfm3ExportPubKey"),
    ]
    for cmd, fn in cases:
        rc, out = single(cluster, "alice", *cmd)
        assert rc == 3, (cmd, out)
        assert returned(out, fn) == ("0xa8", INVALID), (cmd, out)
        assert not o.exists(), cmd
    assert find(cluster, "alice") == [aes]


def attested(out, handle_line):
    """The guide's order: handle line(s), then the attestation line, then the cluster block."""
    lines = stripped(out)
    i = next(i for i, l in enumerate(lines) if re.match(handle_line, l))
    assert lines[i + 1:i + 4] == ["", "Attestation Check : [PASS]", ""], out
    assert lines[i + 4] == "Cluster Error Status", out


def test_kmu_attest_on_key_generation(cluster):
    prepare(cluster, "alice")
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 32, "-l", "a", "-attest")
    assert rc == 0, out
    attested(out, r"Symmetric Key Created\.  Key Handle: \d+")
    for cmd in (["genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "r", "-attest"],
                ["genECCKeyPair", "-i", 14, "-l", "e", "-attest", "-nex"],
                ["genECCKeyPair", "-i", 2, "-l", "s", "-attest", "-sess"]):
        rc, out = single(cluster, "alice", *cmd)
        assert rc == 0, out
        attested(out, r"Cfm3GenerateKeyPair:\s+public key handle: \d+\s+private key handle: \d+")
        assert returned(out, "Cfm3GenerateKeyPair") == ("0x00", OK)
    # Without -attest no attestation line.
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 16, "-l", "b")
    assert rc == 0 and "Attestation" not in out, out


def test_kmu_m_value_makes_a_quorum_key(cluster, tmp_path):
    ids = prepare(cluster, "alice", "bob")
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "q",
                     "-u", ids["bob"], "-m_value", 2)
    assert rc == 0, out
    pub, priv = pair(out)
    rc, out = single(cluster, "alice", "getKeyInfo", "-k", priv)
    assert "2 Users need to approve to use/manage this key" in stripped(out), out
    rc, out = single(cluster, "alice", "getKeyInfo", "-k", pub)
    assert "Users need to approve" not in out, out
    # Its use now needs quorum approval: a plain sign is refused by the HSM.
    msg = tmp_path / "m"
    msg.write_bytes(b"data")
    rc, out = single(cluster, "alice", "sign", "-f", msg, "-k", priv, "-m", 1, "-out",
                     tmp_path / "sig")
    assert rc == 3, out
    assert returned(out, "Cfm3Sign")[1] == "HSM Error: Quorum approval is required for this " \
        "operation", out
    assert not (tmp_path / "sig").exists()
    # More approvals than users of the key: refused before anything is made.
    before = find(cluster, "alice")
    for flags, why in ((["-m_value", 3, "-u", ids["bob"]], "-m_value 3 is more than the 2 users"),
                       (["-m_value", 2], "-m_value 2 is more than the 1 users"),
                       (["-m_value", 9], "Invalid value '9' for -m_value")):
        rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 32, "-l", "x", *flags)
        assert rc == 3 and why in out, out
    assert find(cluster, "alice") == before


def test_kmu_invalid_curve_block_on_every_node(cluster):
    prepare(cluster, "alice")
    rc, out = single(cluster, "alice", "genECCKeyPair", "-i", 1, "-l", "ecc1")
    assert rc == 3, out
    assert returned(out, "Cfm3GenerateKeyPair") == (
        "0xb3", "HSM Error: This operation violates the current configured/FIPS policies"), out
    assert nodes(out) == {0: ("0x30000085", UNAVAILABLE), 1: ("0x30000085", UNAVAILABLE)}, out
    assert find(cluster, "alice") == []


def test_kmu_piped_script_status(cluster):
    prepare(cluster, "alice")
    login = f"loginHSM -u CU -s alice -p {CU_PW['alice']}\n"
    # A failing command in the middle: the later commands still run; the status is 1.
    rc, out = run(cluster, [], login + "genSymKey -t 31 -s 32 -l first\n"
                  f"deleteKey -k {MISSING}\n"
                  "genSymKey -t 31 -s 32 -l last\n")
    assert rc == 3, out
    assert returned(out, "Cfm3FindKey")[0] == "0xa8", out
    assert len(re.findall(r"Symmetric Key Created", out)) == 2, out
    assert len(find(cluster, "alice", "-l", "last")) == 1
    # A bad command line counts as a failure too.
    rc, out = run(cluster, [], login + "frobnicate\nfindKey\n")
    assert rc == 3 and "Total number of keys present 2" in out, out
    # Every command succeeded: 0.
    rc, out = run(cluster, [], login + "findKey\nexit\n")
    assert rc == 0, out
    # The help says so.
    rc, out = run(cluster, ["--help"])
    assert rc == 0 and "the status is 0 when every one succeeded, 3 when any failed" in out, out


def test_kmu_terminal_session_still_exits_0(cluster):
    prepare(cluster, "alice")
    child = pexpect.spawn(str(KMU), env=cluster.env(TERM="dumb"), encoding="utf-8", timeout=60)
    try:
        child.expect_exact("Command: ")
        child.sendline(f"loginHSM -u CU -s alice -p {CU_PW['alice']}")
        child.expect_exact("Command: ")
        child.sendline(f"deleteKey -k {MISSING}")
        child.expect_exact("Command: ")
        assert "Cfm3FindKey returned: 0xa8" in child.before
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0


def openssl(*args, **kw):
    return subprocess.run(["openssl", *[str(a) for a in args]], capture_output=True, check=True,
                          **kw)


def test_kmu_export_private_key_reads_with_openssl(cluster, tmp_path):
    """exportPrivateKey's PEM is the HSM's key: `openssl pkey` reads it and its public half is
    the one exportPubKey gives; with -wk (the same AES key as -w, imported from a known file)
    the host unwraps; a -wk key that is not the -w key, a public key, a non-extractable key and
    another user's shared key are refused without a file."""
    ids = prepare(cluster, "alice", "bob")
    material = bytes(range(32))
    kek = tmp_path / "kek"
    kek.write_bytes(material)
    w = im_aes(cluster, "alice", tmp_path, material, "kek", gen_aes(cluster, "alice", "t"))
    for gen in (["genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "r", "-u", ids["bob"]],
                ["genECCKeyPair", "-i", 14, "-l", "e"]):
        rc, out = single(cluster, "alice", *gen)
        pub, priv = pair(out)
        for extra in ([], ["-wk", kek]):
            pem = tmp_path / "priv.pem"
            rc, out = single(cluster, "alice", "exportPrivateKey", "-k", priv, "-w", w, "-out",
                             pem, *extra)
            assert rc == 0, out
            assert f"PEM formatted private key is written to {pem}" in out
            assert oct(pem.stat().st_mode & 0o777) == "0o600"
            openssl("pkey", "-in", pem, "-check", "-noout")
            ours = openssl("pkey", "-in", pem, "-pubout").stdout
            rc, out = single(cluster, "alice", "exportPubKey", "-k", pub, "-out",
                             tmp_path / "pub.pem")
            assert rc == 0, out
            assert ours == openssl("pkey", "-pubin", "-in", tmp_path / "pub.pem",
                                   "-pubout").stdout
            pem.unlink()
    before = find(cluster, "alice")
    other = tmp_path / "other"
    other.write_bytes(bytes(32))
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "n", "-nex")
    npub, npriv = pair(out)
    before = find(cluster, "alice")
    bad = tmp_path / "bad.pem"
    for user, k, extra, why in (("alice", priv, ["-wk", other], "The -wk key does not unwrap"),
                                ("alice", pub, [], "exports private keys only"),
                                ("alice", npriv, [], "Cfm3WrapKey returned: 0x"),
                                ("bob", npriv, [], "Cfm3WrapKey returned: 0xa8")):
        rc, out = single(cluster, user, "exportPrivateKey", "-k", k, "-w", w, "-out", bad, *extra)
        assert rc == 3 and why in out, out
        assert not bad.exists()
    assert find(cluster, "alice") == before


def test_kmu_import_private_key_signs_for_openssl(cluster, tmp_path):
    """importPrivateKey of openssl-made keys (PKCS#8 RSA, PKCS#1 RSA, SEC1 EC; with and without
    -wk): the HSM signs with the imported key and `openssl dgst -verify` accepts it with the
    openssl public key. An exported HSM key goes back in and still matches. Bad files (encrypted
    PEM, a public key, garbage) and a -wk key unlike -w are refused and make nothing."""
    prepare(cluster, "alice")
    material = bytes(range(100, 132))
    kek = tmp_path / "kek"
    kek.write_bytes(material)
    w = im_aes(cluster, "alice", tmp_path, material, "kek", gen_aes(cluster, "alice", "t"))
    msg = tmp_path / "msg"
    msg.write_bytes(b"imported keys sign for openssl\n")
    keys = {
        "rsa8": ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "rsa1": ["genrsa", "-traditional", "2048"],
        "ec": ["ecparam", "-name", "prime256v1", "-genkey", "-noout"],
    }
    for name, cmd in keys.items():
        key = tmp_path / f"{name}.key"
        key.write_bytes(openssl(*cmd).stdout)
        pubf = tmp_path / f"{name}.pub"
        openssl("pkey", "-in", key, "-pubout", "-out", pubf)
        for extra in ([], ["-wk", kek]):
            rc, out = single(cluster, "alice", "importPrivateKey", "-f", key, "-l", name, "-w", w,
                             *extra)
            assert rc == 0, out
            assert returned(out, "Cfm3UnWrapKey") == ("0x00", OK), out
            der = openssl("pkcs8", "-topk8", "-nocrypt", "-in", key, "-outform", "DER").stdout
            assert f"BER encoded key length is {len(der)}" in out, out
            h = handle(out)
            sig = tmp_path / "sig"
            mech = 17 if name == "ec" else 1  # ECDSA_SHA256 / SHA256_RSA_PKCS
            rc, out = single(cluster, "alice", "sign", "-f", msg, "-k", h, "-m", mech, "-out",
                             sig)
            assert rc == 0, out
            openssl("dgst", "-sha256", "-verify", pubf, "-signature", sig, msg)
            sig.unlink()
    # An exported key goes back in.
    rc, out = single(cluster, "alice", "genECCKeyPair", "-i", 14, "-l", "rt")
    pub, priv = pair(out)
    pem = tmp_path / "rt.pem"
    rc, out = single(cluster, "alice", "exportPrivateKey", "-k", priv, "-w", w, "-out", pem)
    assert rc == 0, out
    rc, out = single(cluster, "alice", "importPrivateKey", "-f", pem, "-l", "rt2", "-w", w,
                     "-attest")
    assert rc == 0 and "Attestation Check : [PASS]" in out, out
    again = handle(out)
    rc, out = single(cluster, "alice", "sign", "-f", msg, "-k", again, "-m", 18, "-out",
                     tmp_path / "s2")
    assert rc == 0, out
    rc, out = single(cluster, "alice", "verify", "-f", msg, "-s", tmp_path / "s2", "-k", pub,
                     "-m", 18)
    assert rc == 0, out

    before = find(cluster, "alice")
    enc = tmp_path / "enc.key"
    enc.write_bytes(openssl("pkey", "-in", tmp_path / "rsa8.key", "-aes256", "-passout",
                            "pass:secret-pw").stdout)
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    other = tmp_path / "other"
    other.write_bytes(bytes(32))
    for f, extra, why in ((enc, [], "does not hold an unencrypted PEM RSA or EC private key"),
                          (tmp_path / "rsa8.pub", [], "does not hold an unencrypted PEM"),
                          (junk, [], "does not hold an unencrypted PEM"),
                          (tmp_path / "missing", [], "Cannot read file"),
                          (tmp_path / "rsa8.key", ["-wk", other], "Cfm3UnWrapKey returned: 0x"),
                          (tmp_path / "rsa8.key", ["-m_value", 2], "-m_value 2 is more than")):
        rc, out = single(cluster, "alice", "importPrivateKey", "-f", f, "-l", "bad", "-w", w,
                         *extra)
        assert rc == 3 and why in out, out
    assert find(cluster, "alice") == before


def test_kmu_aes_wrap_unwrap_matches_openssl(cluster, tmp_path):
    """aesWrapUnwrap with an AES key whose bytes the test knows gives what `openssl enc
    -id-aes256-wrap` gives (default IV and -i), unwraps back, and refuses a wrong key, a wrong
    IV, altered data and bad sizes; a failed command leaves an empty output file, as the guide
    says (a command line the parser refuses runs nothing and writes nothing)."""
    prepare(cluster, "alice")
    material = bytes(range(200, 232))
    w = im_aes(cluster, "alice", tmp_path, material, "kek", gen_aes(cluster, "alice", "t"))
    other = gen_aes(cluster, "alice", "other")
    data = tmp_path / "plain"
    data.write_bytes(bytes(range(1, 49)))
    for iv, extra in (("A6A6A6A6A6A6A6A6", []), ("0102030405060708", ["-i", "0x0102030405060708"])):
        want = openssl("enc", "-id-aes256-wrap", "-K", material.hex(), "-iv", iv, "-in",
                       data).stdout
        wrapped = tmp_path / "wrapped"
        rc, out = single(cluster, "alice", "aesWrapUnwrap", "-m", 1, "-f", data, "-w", w, "-out",
                         wrapped, *extra)
        assert rc == 0, out
        assert wrapped.read_bytes() == want, out
        assert ("Warning: IV (-i) is missing." in out) == (extra == []), out
        shown = re.search(r"result data:\n((?:[0-9A-F ]+\n)+)", out).group(1)
        assert bytes.fromhex(shown.replace("\n", " ")) == want
        back = tmp_path / "back"
        rc, out = single(cluster, "alice", "aesWrapUnwrap", "-m", 0, "-f", wrapped, "-w", w,
                         "-out", back, *extra)
        assert rc == 0 and back.read_bytes() == data.read_bytes(), out
        back.unlink()
        # The wrong key or IV: the integrity check fails; the output file is left empty.
        for bad in (["-w", other, *extra], ["-w", w, "-i", "0x1111111111111111"]):
            back.write_bytes(b"an earlier result")
            args = ["-m", 0, "-f", wrapped, "-out", back, *bad]
            rc, out = single(cluster, "alice", "aesWrapUnwrap", *args)
            assert rc == 3 and returned(out, "Cfm3UnWrapHostKey")[0] != "0x00", out
            assert "result data" not in out and back.read_bytes() == b""
            back.unlink()
    # Default output names, in the working directory.
    p = subprocess.run([str(KMU), "singlecmd", "loginHSM", "-u", "CU", "-s", "alice", "-p",
                        CU_PW["alice"], "aesWrapUnwrap", "-m", "1", "-f", str(data), "-w", str(w)],
                       capture_output=True, text=True, cwd=tmp_path, env=cluster.env(),
                       timeout=120)
    assert p.returncode == 0, p.stdout
    assert (tmp_path / "wrapped_key").read_bytes() == openssl(
        "enc", "-id-aes256-wrap", "-K", material.hex(), "-iv", "A6A6A6A6A6A6A6A6", "-in",
        data).stdout
    # Bad input.
    odd = tmp_path / "odd"
    odd.write_bytes(b"123456789")
    big = tmp_path / "big"
    big.write_bytes(bytes(4096))
    none = tmp_path / "none"
    for args, why in ((["-m", 1, "-f", odd, "-w", w], "holds 9 bytes"),
                      (["-m", 1, "-f", big, "-w", w], "is too large"),
                      (["-m", 1, "-f", tmp_path / "missing", "-w", w], "missing"),
                      (["-m", 1, "-f", data, "-w", w, "-i", "0x12"], "Invalid IV for -i"),
                      (["-m", 1, "-f", data, "-w", MISSING], "0xa8")):
        rc, out = single(cluster, "alice", "aesWrapUnwrap", *args, "-out", none)
        assert rc == 3 and why in out, out
        assert none.read_bytes() == b"", out
        none.unlink()
    rc, out = single(cluster, "alice", "aesWrapUnwrap", "-m", 2, "-f", data, "-w", w, "-out",
                     none)
    assert rc == 3 and "Invalid value '2' for -m" in out, out
    assert not none.exists()


def test_kmu_extract_masked_object_is_the_hsms_sealed_key(cluster, tmp_path):
    """The file is a genuine masked object of this cluster: an HSM opens it (inserting it where
    the key is refused as already there, not as invalid), while a copy with a flipped byte is
    refused as invalid. Keys alice cannot see, and missing handles, give 0xa8 and no file."""
    ids = prepare(cluster, "alice", "bob")
    h = gen_aes(cluster, "alice", "sealed", "-nex")
    f = tmp_path / "masked"
    rc, out = single(cluster, "alice", "extractMaskedObject", "-o", h, "-out", f)
    assert rc == 0, out
    assert f'Object was masked and written to file "{f}"' in out
    assert oct(f.stat().st_mode & 0o777) == "0o600"
    blob = f.read_bytes()
    assert blob[:4] == b"OHMO" and b"sealed" in blob
    assert test_masked.insert(cluster, 1, blob, replace=False) == test_masked.RV_OBJECT_EXISTS
    bad = bytearray(blob)
    bad[-1] ^= 0x80
    assert test_masked.insert(cluster, 1, bytes(bad), False) == test_masked.RV_MASKED_INVALID
    # Shared with bob: he may extract it; a key of bob's is absent to alice.
    shared = gen_aes(cluster, "alice", "shared", "-u", ids["bob"])
    rc, out = single(cluster, "bob", "extractMaskedObject", "-o", shared, "-out", tmp_path / "b")
    assert rc == 0, out
    bobs = gen_aes(cluster, "bob", "bobs")
    for k in (bobs, MISSING):
        rc, out = single(cluster, "alice", "extractMaskedObject", "-o", k, "-out",
                         tmp_path / "none")
        assert rc == 3 and returned(out, "Cfm3ExtractMaskedObject")[0] == "0xa8", out
        assert not (tmp_path / "none").exists()


def test_kmu_get_cavium_priv_key_references_the_hsm_key(cluster, tmp_path):
    """The fake PEM has the key's real public part (openssl derives the same public key as
    exportPubKey) and the handle as its private part, no key material: openssl's key check
    rejects it. Public, secret and missing keys are refused without a file."""
    prepare(cluster, "alice")
    for gen, head in ((["genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "r"], "RSA"),
                      (["genECCKeyPair", "-i", 2, "-l", "e"], "EC")):
        rc, out = single(cluster, "alice", *gen)
        pub, priv = pair(out)
        fake = tmp_path / f"{head}.pem"
        rc, out = single(cluster, "alice", "getCaviumPrivKey", "-k", priv, "-out", fake)
        assert rc == 0, out
        assert f"Private Key Handle is written to {fake} in fake PEM format" in out
        assert fake.read_text().startswith(f"-----BEGIN {head} PRIVATE KEY-----")
        rc, out = single(cluster, "alice", "exportPubKey", "-k", pub, "-out", tmp_path / "p.pem")
        assert rc == 0, out
        assert openssl("pkey", "-in", fake, "-pubout").stdout == openssl(
            "pkey", "-pubin", "-in", tmp_path / "p.pem", "-pubout").stdout
        if head == "RSA":
            text = openssl("rsa", "-in", fake, "-noout", "-text").stdout.decode()
            assert re.search(rf"privateExponent: {priv} \(0x[0-9a-f]+\)", text), text
        else:
            text = openssl("ec", "-in", fake, "-noout", "-text").stdout.decode()
            m = re.search(r"priv:\n((?:\s+[0-9a-f:]+\n)+)", text)
            assert m, text
            assert int(m.group(1).replace(":", "").replace(" ", "").replace("\n", ""), 16) == priv
        check = subprocess.run(["openssl", "pkey", "-in", fake, "-check", "-noout"],
                               capture_output=True)
        assert check.returncode != 0
    aes = gen_aes(cluster, "alice", "a")
    for k in (pub, aes):
        rc, out = single(cluster, "alice", "getCaviumPrivKey", "-k", k, "-out", tmp_path / "x")
        assert rc == 3 and "takes an RSA or EC private key" in out, out
    rc, out = single(cluster, "alice", "getCaviumPrivKey", "-k", MISSING, "-out", tmp_path / "x")
    assert rc == 3 and returned(out, "getCaviumPrivKey")[0] == "0xa8", out
    assert not (tmp_path / "x").exists()


def test_kmu_attest_on_imported_and_unwrapped_keys(cluster, tmp_path):
    """imSymKey and unWrapKey with -attest: the guide's line after the handle line; the check
    knows an imported key is not local."""
    prepare(cluster, "alice")
    w = gen_aes(cluster, "alice", "w")
    f = tmp_path / "k"
    f.write_bytes(bytes(range(32)))
    rc, out = single(cluster, "alice", "imSymKey", "-f", f, "-w", w, "-t", 31, "-l", "im",
                     "-attest")
    assert rc == 0, out
    attested(out, r"Symmetric Key Unwrapped\.  Key Handle: \d+")
    im = handle(out)
    rc, out = single(cluster, "alice", "wrapKey", "-k", im, "-w", w, "-out", tmp_path / "wr")
    assert rc == 0, out
    rc, out = single(cluster, "alice", "unWrapKey", "-f", tmp_path / "wr", "-w", w, "-attest",
                     "-nex")
    assert rc == 0, out
    attested(out, r"Key Unwrapped\.  Key Handle: \d+")
