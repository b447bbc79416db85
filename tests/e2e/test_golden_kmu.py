# SPDX-License-Identifier: Apache-2.0
"""Golden transcripts of openhsm-kmu: the AWS guide's key_mgmt_util examples (tests/e2e/golden/
kmu_*.txt) piped through the real tool on a cluster of the guide's size and compared line by line
with the guide's output (golden.py). key_mgmt_util prints tabs, which the guide's pages render as
8 spaces, so the tool's output has its tabs expanded before the comparison; nothing else is
changed except what each file masks.
"""
import re
import subprocess

import golden
from test_kmu import CU_PW, KMU, gen_aes, handle, pair, prepare, single


def replay(cluster, user, name, subst=None, cwd=None):
    """Logs in as `user`, pipes the golden input (with subst applied) into openhsm-kmu (in
    directory cwd), exits; checks the output from the line that starts the guide's output on
    (the login's lines come first)."""
    g = golden.load(name)
    script = g.script
    for old, new in (subst or {}).items():
        script = script.replace(old, new)
    p = subprocess.run([str(KMU)], input=f"loginHSM -u CU -s {user} -p {CU_PW[user]}\n" + script
                       + "exit\n", capture_output=True, text=True, timeout=120,
                       env=cluster.env(), cwd=cwd)
    out = (p.stdout + p.stderr).expandtabs(8)
    # The comparison starts at the guide's first output line (the login's lines come before).
    g.check(out, start="^" + re.escape(g.normalise(g.output[0])[0]) + "$")
    return p.returncode, out


def test_golden_kmu_delete_key(cluster):
    prepare(cluster, "alice")
    rc, out = single(cluster, "alice", "genSymKey", "-t", 31, "-s", 32, "-l", "k")
    h = handle(out)
    rc, out = replay(cluster, "alice", "kmu_deleteKey", {"-k 6": f"-k {h}"})
    rc, out = single(cluster, "alice", "findKey")
    assert "Total number of keys present 0" in out, out


def test_golden_kmu_delete_key_missing_handle(cluster):
    prepare(cluster, "alice")
    rc, out = replay(cluster, "alice", "kmu_deleteKey_missing")
    assert "Cfm3DeleteKey" not in out, out


def test_golden_kmu_gen_ecc_invalid_curve(make_cluster):
    c = make_cluster(hsms=1)
    prepare(c, "alice")
    replay(c, "alice", "kmu_genECCKeyPair_invalid_curve")
    rc, out = single(c, "alice", "findKey")
    assert "Total number of keys present 0" in out, out


def test_golden_kmu_gen_ecc(make_cluster):
    c = make_cluster(hsms=3)
    prepare(c, "alice")
    rc, out = replay(c, "alice", "kmu_genECCKeyPair")
    pub, priv = pair(out)
    rc, out = single(c, "alice", "findKey", "-l", "ecc14")
    assert f"{pub}, {priv}" in out or f"{priv}, {pub}" in out, out




def test_golden_kmu_get_key_info_m_value(cluster):
    ids = prepare(cluster, "alice", "bob")
    rc, out = replay(cluster, "alice", "kmu_genRSAKeyPair_m_value", {"-u 4": f"-u {ids['bob']}"})
    pub, priv = pair(out)
    rc, out = replay(cluster, "alice", "kmu_getKeyInfo_m_value", {"-k 28": f"-k {priv}"})
    assert f"Owned by user {ids['alice']}" in out, out
    assert re.search(rf"^\s+{ids['bob']}$", out, re.M), out


def test_golden_kmu_export_private_key(cluster, tmp_path):
    prepare(cluster, "alice")
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "r")
    pub, priv = pair(out)
    w = gen_aes(cluster, "alice", "w")
    rc, out = replay(cluster, "alice", "kmu_exportPrivateKey", {"-k 15 -w 16": f"-k {priv} -w {w}"},
                     cwd=tmp_path)
    assert rc == 0, out
    assert (tmp_path / "exportKey.pem").read_text().startswith("-----BEGIN PRIVATE KEY-----")


def test_golden_kmu_import_private_key(make_cluster, tmp_path):
    c = make_cluster(hsms=3)
    prepare(c, "alice")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", tmp_path / "rsa2048.key"], check=True, capture_output=True)
    rc, out = single(c, "alice", "genSymKey", "-t", 31, "-s", 32, "-l", "w")
    w = handle(out)
    rc, out = replay(c, "alice", "kmu_importPrivateKey", {"-w 524299": f"-w {w}"}, cwd=tmp_path)
    assert rc == 0, out
    assert len(find_label(c, "rsa2048-imported")) == 1


def find_label(cluster, label):
    rc, out = single(cluster, "alice", "findKey", "-l", label)
    m = re.search(r"number of keys matched from start index 0::\d+\n(.*)\n", out)
    return m.group(1).split(", ") if m else []


def test_golden_kmu_aes_wrap_unwrap(cluster, tmp_path):
    prepare(cluster, "alice")
    w = gen_aes(cluster, "alice", "w")
    (tmp_path / "3DES.key").write_bytes(bytes(range(32)))
    rc, out = replay(cluster, "alice", "kmu_aesWrapUnwrap_wrap", {"-w 6": f"-w {w}"},
                     cwd=tmp_path)
    assert rc == 0 and len((tmp_path / "3DES.key.wrapped").read_bytes()) == 40, out
    key24 = bytes(range(50, 74))
    (tmp_path / "k24").write_bytes(key24)
    rc, out = single(cluster, "alice", "aesWrapUnwrap", "-m", 1, "-f", tmp_path / "k24", "-w", w,
                     "-out", tmp_path / "3DES.key.wrapped")
    assert rc == 0, out
    rc, out = replay(cluster, "alice", "kmu_aesWrapUnwrap_unwrap", {"-w 6": f"-w {w}"},
                     cwd=tmp_path)
    assert rc == 0 and (tmp_path / "3DES.key.unwrapped").read_bytes() == key24, out


def test_golden_kmu_extract_masked_object(cluster, tmp_path):
    prepare(cluster, "alice")
    h = gen_aes(cluster, "alice", "m")
    rc, out = replay(cluster, "alice", "kmu_extractMaskedObject", {"-o 524295": f"-o {h}"},
                     cwd=tmp_path)
    assert rc == 0 and (tmp_path / "maskedObj").read_bytes()[:4] == b"OHMO", out


def test_golden_kmu_get_cavium_priv_key(cluster, tmp_path):
    prepare(cluster, "alice")
    rc, out = single(cluster, "alice", "genRSAKeyPair", "-m", 2048, "-e", 65537, "-l", "r")
    pub, priv = pair(out)
    rc, out = replay(cluster, "alice", "kmu_getCaviumPrivKey", {"-k 15": f"-k {priv}"},
                     cwd=tmp_path)
    assert rc == 0, out
    assert (tmp_path / "cavKey.pem").read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
