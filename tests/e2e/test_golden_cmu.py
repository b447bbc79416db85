# SPDX-License-Identifier: Apache-2.0
"""openhsm-cmu against the AWS guide's examples, line by line (golden transcripts).

Each test builds the state the guide's example starts from (users, keys, logins) on a cluster of
the example's size, pipes the example's input into the real openhsm-cmu and compares what it
printed for those commands with tests/e2e/golden/cmu_<command>.txt. Only IP addresses, and what
each golden file's '# mask:' lines name with their reason, may differ. Where a guide example
uses key handles, the test puts the real handles in their place in the input.
"""
import json
import pathlib
import re
import subprocess

import golden
import test_cmu
from conftest import BIN
from test_cmu import activate, cmu, create, login_as
from test_cmu_quorum import OFFICERS, Session, approval_file, register_officers, sign
from tokens import rsa_key

CLI = str(BIN / "openhsm-cli")
ADMIN_PW = "co12345"  # the guide's loginHSM example logs admin in with this password
PW = {"alice": "alice-pass1", "bob": "bob-pass12", "carol": "carol-pass1", "dave": "dave-pass1",
      "testuser": "testuser-pw1"}
END = "\ndisconnecting from servers, please wait...\n"


def commands_output(out, after=None, upto=None, before=None, keep_end=False):
    """What the golden commands printed: the text after the start-up lines (or after the last line
    matching `after`, for set-up commands in the same script), without the session's closing
    lines (unless keep_end), cut after the first line matching `upto` or before the first line
    matching `before` when given, and without trailing blank lines (a guide's code block cannot
    show them) unless keep_end or before is given."""
    lines = out.splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Connected to server '")]
    assert starts, out
    begin = starts[-1] + 2  # the start-up block ends with a blank line
    if after is not None:
        hits = [i for i, ln in enumerate(lines) if re.search(after, ln)]
        assert hits, f"no line matching {after!r} in:\n{out}"
        begin = hits[-1] + 1
    body = lines[begin:]
    if not keep_end:
        text = "\n".join(body) + "\n"
        assert text.endswith(END), out
        body = text[: -len(END)].split("\n")
        if upto is not None:
            idx = next(i for i, ln in enumerate(body) if re.search(upto, ln))
            body = body[: idx + 1]
        if before is not None:
            idx = next(i for i, ln in enumerate(body) if re.search(before, ln))
            return "\n".join(body[:idx])
        while body and body[-1].strip() == "":
            body.pop()
    return "\n".join(body)


def run(cluster, name, prefix="", subst=None, status=0, **cut):
    """Pipes prefix + the golden input (after subst: {guide text: ours}) into openhsm-cmu, checks
    the exit status and the transcript; returns the whole output."""
    g = golden.load(name)
    script = g.script
    for old, new in (subst or {}).items():
        script = script.replace(old, new)
    out = cmu(cluster, prefix + script, status=status)
    g.check(commands_output(out, **cut))
    return out


def cli(cluster, user, *args):
    """openhsm-cli single-command as crypto user `user`; the JSON data (success asserted)."""
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=90,
                       env=cluster.env(CLOUDHSM_ROLE="crypto-user",
                                       CLOUDHSM_PIN=f"{user}:{PW[user]}"))
    out = json.loads(p.stdout)
    assert p.returncode == 0 and out["error_code"] == 0, p.stdout + p.stderr
    return out["data"]


def aes(cluster, user, label):
    d = cli(cluster, user, "key", "generate-symmetric", "aes", "--label", label,
            "--key-length-bytes", "32")
    return int(d["key"]["key-reference"], 16)


def users_made(cluster, *users, typ="CU"):
    """Activates the cluster (admin's password: the guide's) and creates users in order (ids 3,
    4, ...); asserts they were made on every server."""
    activate(cluster, ADMIN_PW)
    script = login_as("admin", ADMIN_PW)
    for u in users:
        script += create(typ, u, PW[u])
    out = cmu(cluster, script, status=0)
    n = len(cluster.cfg["hsms"])
    assert out.count("createUser success on server") == n * len(users), out


def share(cluster, owner, handle, uid):
    out = cmu(cluster, login_as(owner, PW[owner], "CU") + f"shareKey {handle} {uid} 1\ny\n",
              status=0)
    assert out.count("shareKey success on server") == len(cluster.cfg["hsms"]), out


# ---- users and sessions ----

def test_golden_cmu_deleteUser(make_cluster):
    c = make_cluster(hsms=3)
    activate(c, ADMIN_PW)
    cmu(c, login_as("admin", ADMIN_PW) + create("CO", "alice", "alice-pass1"), status=0)
    run(c, "cmu_deleteUser", prefix=login_as("admin", ADMIN_PW), after=r"^loginHSM success")


def test_golden_cmu_createUser(make_cluster):
    c = make_cluster(hsms=3)
    activate(c, ADMIN_PW)
    out = run(c, "cmu_createUser", prefix=login_as("admin", ADMIN_PW),
              after=r"^loginHSM success", upto=r"^Creating User")
    # After the guide's excerpt: one result line per server, then alice is a CO everywhere.
    tail = out.split("Creating User alice(CO) on 3 nodes\n", 1)[1]
    assert tail.startswith("".join(f"createUser success on server {i}(127.0.0.1)\n"
                                   for i in range(3))), out
    out = cmu(c, "listUsers\n", status=0)
    assert len(re.findall(r"^\s+3\s+CO\s+alice\s", out, re.M)) == 3, out


def test_golden_cmu_changePswd(make_cluster):
    c = make_cluster(hsms=2)
    users_made(c, "bob")
    out = run(c, "cmu_changePswd", prefix=login_as("bob", PW["bob"], "CU"),
              after=r"^loginHSM success", upto=r"^Changing password")
    tail = out.split("Changing password for bob(CU) on 2 nodes\n", 1)[1]
    assert tail.startswith("changePswd success on server 0(127.0.0.1)\n"
                           "changePswd success on server 1(127.0.0.1)\n"), out
    # The new password is the one that works now.
    out = cmu(c, login_as("bob", "newPassword", "CU"), status=0)
    assert out.count("loginHSM success") == 2, out


def test_golden_cmu_loginHSM_logoutHSM(make_cluster):
    c = make_cluster(hsms=2)
    activate(c, ADMIN_PW)
    run(c, "cmu_loginHSM")
    run(c, "cmu_loginHSM_hpswd")
    run(c, "cmu_logoutHSM", prefix=login_as("admin", ADMIN_PW), after=r"^loginHSM success")


def test_golden_cmu_listUsers(make_cluster):
    c = make_cluster(hsms=1)
    run(c, "cmu_listUsers")


def test_golden_cmu_info(make_cluster):
    c = make_cluster(hsms=2)
    users_made(c, "testuser")
    run(c, "cmu_info", prefix=login_as("testuser", PW["testuser"], "CU"),
        after=r"^loginHSM success")


def test_golden_cmu_server_and_quit(make_cluster):
    c = make_cluster(hsms=2)
    run(c, "cmu_server")
    run(c, "cmu_quit", keep_end=True)


# ---- keys ----

def test_golden_cmu_shareKey_getKeyInfo(make_cluster):
    c = make_cluster(hsms=2)
    users_made(c, "alice", "bob")  # users 3 and 4, as in the guide
    d = cli(c, "alice", "key", "generate-asymmetric-pair", "ec", "--curve", "secp256r1",
            "--public-label", "g-pub", "--private-label", "g-priv")
    priv = int(d["private_key"]["key-reference"], 16)
    pub = int(d["public_key"]["key-reference"], 16)
    alice = login_as("alice", PW["alice"], "CU")
    run(c, "cmu_shareKey", prefix=alice, subst={"262177": str(priv)}, after=r"^loginHSM success")
    run(c, "cmu_getKeyInfo", prefix=alice, subst={"262177": str(priv), "262179": str(pub)},
        after=r"^loginHSM success")


def test_golden_cmu_getAttribute(make_cluster):
    c = make_cluster(hsms=3)
    users_made(c, "alice")
    h = aes(c, "alice", "g-aes")
    run(c, "cmu_getAttribute", prefix=login_as("alice", PW["alice"], "CU"),
        subst={"262170": str(h)}, after=r"^loginHSM success")


def test_golden_cmu_findAllKeys(make_cluster):
    c = make_cluster(hsms=3)
    users_made(c, "alice", "bob")
    # The guide's order for user 4: shared, shared, owned, shared, owned, owned.
    for owner, label in (("alice", "a1"), ("alice", "a2"), ("bob", "b1"), ("alice", "a3"),
                         ("bob", "b2"), ("bob", "b3")):
        h = aes(c, owner, label)
        if owner == "alice":
            share(c, "alice", h, 4)
    run(c, "cmu_findAllKeys", prefix=login_as("admin", ADMIN_PW), after=r"^loginHSM success")


def test_golden_cmu_syncKey(make_cluster):
    c = make_cluster(hsms=2)
    users_made(c, "alice")
    # As in the guide, the destination lacks the key: it is made while HSM 1 is hung.
    c.pause_hsm(1)
    try:
        p = subprocess.run([CLI, "key", "generate-symmetric", "aes", "--label", "g-sync",
                            "--key-length-bytes", "32"], capture_output=True, text=True,
                           timeout=90, env=c.env(CLOUDHSM_ROLE="crypto-user",
                                                 CLOUDHSM_PIN=f"alice:{PW['alice']}"))
    finally:
        c.resume_hsm(1)
    alice = login_as("alice", PW["alice"], "CU")
    # The CLI reports the key it made on one HSM of two.
    m = re.search(r"Key (0x[0-9a-f]+) created on 1 of 2 HSMs", p.stdout)
    assert m, p.stdout + p.stderr
    h = int(m.group(1), 16)
    out = cmu(c, alice + f"getKeyInfo -k {h}\n")
    assert "Key Info on server 0(" in out and "Key Info on server 1(" not in out, out
    run(c, "cmu_syncKey", prefix=alice + "server 0\n", subst={"261251": str(h)},
        after=r"^Server is in 'E2' mode")
    out = cmu(c, alice + f"getKeyInfo -k {h}\n", status=0)
    assert "Key Info on server 1(" in out, out


def test_golden_cmu_syncUser(make_cluster):
    c = make_cluster(hsms=2)
    users_made(c, "alice", "bob", "carol")  # ids 3 to 5
    # As in the guide, the destination lacks user 6: dave is made while HSM 1 is hung.
    c.pause_hsm(1)
    try:
        out = cmu(c, login_as("admin", ADMIN_PW) + create("CU", "dave", PW["dave"]))
    finally:
        c.resume_hsm(1)
    assert "createUser success on server 0(127.0.0.1)" in out, out
    out = cmu(c, "listUsers\n", status=0)
    assert re.search(r"^\s+6\s+CU\s+dave\s", out, re.M), out
    run(c, "cmu_syncUser", prefix=login_as("admin", ADMIN_PW) + "server 0\n",
        after=r"^Server is in 'E2' mode")
    out = cmu(c, login_as("dave", PW["dave"], "CU"), status=0)
    assert out.count("loginHSM success") == 2, out


# ---- getHSMInfo and cluster hsm-info (the same answer of each HSM) ----

def meminfo():
    got = {}
    for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
        k, v = line.split(":", 1)
        got[k] = int(v.split()[0])
    return got


def version():
    p = subprocess.run([str(BIN / "openhsm-cmu"), "--version"], capture_output=True, text=True,
                       timeout=30)
    major, minor = re.search(r"\(openhsm\) (\d+)\.(\d+)", p.stdout).groups()
    return int(major), int(minor)


def check_software_values(v, hsm_id):
    """The software HSM's own values (what the goldens mask): each one true."""
    major, minor = version()
    mem = meminfo()
    assert v["label"] == hsm_id and v["model"] == "openhsm-soft" and v["vendor"] == "openhsm", v
    assert v["fips"] == "0 [non-FIPS mode with single factor authentication]", v
    assert v["hw"] == (major, minor) and v["fw"] == (major, minor), v
    assert v["firmware_id"] == f"openhsm-soft-FW-{major}.{minor:02d}-{v['build']}", v
    if "total" in v:
        assert v["total"] == mem["MemTotal"], (v, mem)  # the host's memory, KiB
        assert 0 < v["free"] <= v["total"], v
        assert abs(v["free"] - meminfo()["MemFree"]) < mem["MemTotal"] // 4, (v, mem)


def test_golden_cmu_getHSMInfo(make_cluster):
    c = make_cluster(hsms=3)
    out = run(c, "cmu_getHSMInfo", before=r"^ +\*\*\* Server 1 HSM Info \*\*\*$")
    g = golden.load("cmu_getHSMInfo")
    blocks = re.split(r"(?m)^(?= +\*\*\* Server \d HSM Info \*\*\*$)",
                      commands_output(out, keep_end=False))
    assert len(blocks) == 4, out
    want = g.normalise("\n".join(g.output[1:]))  # server 0's block, as the guide
    for i in (0, 1, 2):
        got = g.normalise(blocks[i + 1].replace(f"Server {i} HSM", "Server 0 HSM"))
        assert got[: len(want) - 1] == want[:-1], (i, blocks[i + 1])
        v = {k: re.search(rf"(?m)^        {k:<21}:(.*)$", blocks[i + 1]).group(1)
             for k in ("Label", "Model", "Manufacturer ID", "FIPS state", "Hardware Major",
                       "Hardware Minor", "Firmware Major", "Firmware Minor", "Build Number",
                       "Firmware ID", "TotalPublicMemory", "FreePublicMemory", "Temperature",
                       "Device ID", "Class Code", "System vendor ID", "SubSystem ID")}
        assert v["Firmware Minor"] == f"{int(v['Firmware Minor']):02d}", v
        for k in ("Device ID", "Class Code", "System vendor ID", "SubSystem ID"):
            assert v[k] == "0", v  # no PCI device
        thermal = pathlib.Path("/sys/class/thermal/thermal_zone0/temp")
        if thermal.exists():
            assert abs(int(v["Temperature"].split()[0]) - int(thermal.read_text()) // 1000) < 10
        else:
            assert v["Temperature"] == "N/A", v
        check_software_values({
            "label": v["Label"], "model": v["Model"], "vendor": v["Manufacturer ID"],
            "fips": v["FIPS state"], "hw": (int(v["Hardware Major"]), int(v["Hardware Minor"])),
            "fw": (int(v["Firmware Major"]), int(v["Firmware Minor"])),
            "build": int(v["Build Number"]), "firmware_id": v["Firmware ID"],
            "total": int(v["TotalPublicMemory"]), "free": int(v["FreePublicMemory"])},
            c.cfg["hsms"][i]["id"])


def test_golden_cli_cluster_hsm_info(make_cluster):
    c = make_cluster(hsms=3)
    g = golden.load("cli_cluster_hsm-info")
    p = subprocess.run([CLI, *g.inputs[0].split()], capture_output=True, text=True, timeout=90,
                       env=c.env())
    assert p.returncode == 0, p.stdout + p.stderr
    got = json.loads(p.stdout)
    guide_keys = ("vendor", "model", "serial-number", "hardware-version-major",
                  "hardware-version-minor", "firmware-version-major", "firmware-version-minor",
                  "firmware-build-number", "firmware-id", "fips-state")
    shown = {"error_code": got["error_code"],
             "data": {"hsms": [{k: v for k, v in h.items() if k in guide_keys}
                               for h in got["data"]["hsms"]]}}
    g.check(json.dumps(shown, indent=2))
    for i, h in enumerate(got["data"]["hsms"]):
        # The guide's fields in its order first; then the fields this CLI had before.
        assert list(h)[: len(guide_keys)] == list(guide_keys), h
        assert list(h)[len(guide_keys):] == ["hsm-id", "cluster-id", "eni-ip", "port", "state",
                                             "activated"], h
        assert h["hsm-id"] == c.cfg["hsms"][i]["id"] and h["state"] == "connected", h
        check_software_values({
            "label": h["hsm-id"], "model": h["model"], "vendor": h["vendor"],
            "fips": h["fips-state"],
            "hw": (int(h["hardware-version-major"]), int(h["hardware-version-minor"])),
            "fw": (int(h["firmware-version-major"]), int(h["firmware-version-minor"])),
            "build": int(h["firmware-build-number"]), "firmware_id": h["firmware-id"]},
            c.cfg["hsms"][i]["id"])


# ---- quorum values ----

def test_golden_cmu_setMValue_getMValue(make_cluster, tmp_path):
    c = make_cluster(hsms=2)
    # A quorum of 2 needs two officers with quorum keys (the guide's cluster has more).
    register_officers(c, tmp_path)
    admin = login_as("admin", test_cmu.ADMIN_PW)
    out = run(c, "cmu_setMValue", prefix=admin, after=r"^loginHSM success",
              upto=r"^Setting M Value")
    tail = out.split("Setting M Value(2) for 3 on 2 nodes\n", 1)[1]
    assert tail.startswith("setMValue success on server 0(127.0.0.1)\n"
                           "setMValue success on server 1(127.0.0.1)\n"), out
    run(c, "cmu_getMValue")


# ---- quorum tokens, at a terminal (a token lives as long as the session that got it) ----

QUESTION = "Do you want to continue(y/n)?"


def typed(session, g, subst=None):
    """Types the golden input into a terminal session (each line once the tool asks for it: the
    prompt or the continue question); what the tool printed, from the line after the first
    command's echo to the last prompt."""
    child = session.child
    text = ""
    for line in g.inputs:
        for old, new in (subst or {}).items():
            line = line.replace(old, new)
        child.sendline(line)
        child.expect_exact(["aws-cloudhsm>", QUESTION])
        text += child.before + (child.after if child.after == QUESTION else "")
    text = text.replace("\r\n", "\n")
    first = text.index("\n")  # the terminal's echo of the first command
    return text[first + 1:]


def test_golden_cmu_quorum_tokens(make_cluster, tmp_path):
    """The crypto-officer quorum page end to end: getToken, the officers' openssl signatures,
    approveToken with the page's approval file, listTokens, the approved createUser, listTokens
    again (the token is spent)."""
    c = make_cluster(hsms=2)
    keys = register_officers(c, tmp_path)
    cmu(c, login_as("admin", test_cmu.ADMIN_PW) + "setMValue 3 2\ny\n", status=0)
    tok = tmp_path / "officer1.token"
    s = Session(c)
    try:
        assert "loginHSM success on server 1" in s.run(
            f"loginHSM CO officer1 {OFFICERS['officer1']}")
        g = golden.load("cmu_getToken")
        g.check(typed(s, g, {"officer1.token": str(tok)}))
        sigs = []
        for n, name in enumerate(OFFICERS, 1):
            sig = tmp_path / f"officer1.token.sig{n}"
            sign(keys[name], tok, sig)
            sigs.append((name, sig))
        appr = approval_file(tmp_path / "approval.txt", tok, sigs)
        g = golden.load("cmu_approveToken")
        g.check(typed(s, g, {"approval.txt": str(appr)}))
        g = golden.load("cmu_listTokens")
        g.check(typed(s, g))
        out = s.run("createUser CU user1 user1-pw1", yes=True)
        assert "createUser success on server 1(127.0.0.1)" in out, out
        g = golden.load("cmu_listTokens_spent")
        g.check(typed(s, g))
    finally:
        s.close()


def test_golden_cmu_registerQuorumPubKey(make_cluster, tmp_path):
    """The page's one-HSM example: a CO registers an RSA-2048 key with a registration token it
    got (getToken 5) and signed with openssl; listUsers then shows MofnPubKey YES."""
    c = make_cluster(hsms=1)
    activate(c)
    cmu(c, login_as("admin", test_cmu.ADMIN_PW) + create("CO", "quorum_officer", "qo-pass1"),
        status=0)
    key, pub = rsa_key(tmp_path, "quorum_officer")
    tok, sig = tmp_path / "quorum_officer.token", tmp_path / "quorum_officer.token.sig"
    s = Session(c)
    try:
        assert "loginHSM success on server 0" in s.run("loginHSM CO quorum_officer qo-pass1")
        assert "getToken success on server 0" in s.run(f"getToken 5 quorum_officer {tok}")
        sign(key, tok, sig)
        g = golden.load("cmu_registerQuorumPubKey")
        g.check(typed(s, g, {"<quorum_officer>": "quorum_officer",
                             "</path/to/quorum_officer.token>": str(tok),
                             "</path/to/quorum_officer.token.sig>": str(sig),
                             "</path/to/quorum_officer.pub>": str(pub)}))
    finally:
        s.close()
    listed = test_cmu.users(cmu(c, "listUsers\n", status=0))
    assert listed[0]["quorum_officer"][2] == "YES", listed

