# SPDX-License-Identifier: Apache-2.0
"""Golden transcripts of openhsm-kmu: the AWS guide's key_mgmt_util examples (tests/e2e/golden/
kmu_*.txt) piped through the real tool on a cluster of the guide's size and compared line by line
with the guide's output (golden.py). key_mgmt_util prints tabs, which the guide's pages render as
8 spaces, so the tool's output has its tabs expanded before the comparison; nothing else is
changed except what each file masks.
"""
import re

import golden
from test_kmu import CU_PW, KMU, handle, pair, prepare, run, single


def replay(cluster, user, name, subst=None, start=None):
    """Logs in as `user`, pipes the golden input (with subst applied), exits; checks the output
    from the line of the first command's result on."""
    g = golden.load(name)
    script = g.script
    for old, new in (subst or {}).items():
        script = script.replace(old, new)
    rc, out = run(cluster, [], f"loginHSM -u CU -s {user} -p {CU_PW[user]}\n" + script + "exit\n")
    first = golden.Golden.normalise(g, g.output[0].expandtabs(8))[0].strip()
    marker = start or re.escape(first.split(" returned:")[0]) + " returned:"
    g.check(out.expandtabs(8), start=marker)
    return rc, out


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
