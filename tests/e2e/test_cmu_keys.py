# SPDX-License-Identifier: Apache-2.0
"""openhsm-cmu's key commands end to end on a two-HSM cluster: keys made by a crypto user with
openhsm-cli (single-command mode) show with the same handle on both servers in getKeyInfo,
findAllKeys and getAttribute; shareKey changes what getKeyInfo shows on every server; syncKey and
syncUser repair an HSM that was hung (SIGSTOP) while a change was made; bad input (unknown
handles, unknown user ids, a non-owner's shareKey, 'n' at the caution prompt) gives a clear
per-server failure and changes nothing, which each test reads back.
"""
import json
import re
import subprocess

from conftest import BIN
from test_cmu import ADMIN_PW, HOST, activate, cmu, create, login_as, per_server, users

CLI = str(BIN / "openhsm-cli")
CU_PW = {"alice": "alice-pass1", "bob": "bob-pass12", "carol": "carol-pass1"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def prepare(cluster, *names):
    """Activates the cluster and creates the crypto users; returns {server: {name: id}}."""
    activate(cluster)
    script = login_as("admin", ADMIN_PW)
    for n in names:
        script += create("CU", n, CU_PW[n])
    out = cmu(cluster, script + "listUsers\n")
    for n in names:
        assert f"createUser success on server 0({HOST})" in out, out
    listed = users(out)
    return {i: {name: row[0] for name, row in listed[i].items()} for i in listed}


def cli(cluster, user, *args):
    """openhsm-cli in single-command mode as crypto user `user`; returns (status, JSON)."""
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=90,
                       env=cluster.env(CLOUDHSM_ROLE="crypto-user",
                                       CLOUDHSM_PIN=f"{user}:{CU_PW[user]}"))
    try:
        return p.returncode, json.loads(p.stdout)
    except json.JSONDecodeError:
        raise AssertionError(p.stdout + p.stderr) from None


def aes_key(cluster, user, label):
    """A new AES-256 key of `user`; its handle as an int."""
    rc, out = cli(cluster, user, "key", "generate-symmetric", "aes", "--label", label,
                  "--key-length-bytes", "32")
    assert rc == 0 and out["error_code"] == 0, out
    return int(out["data"]["key"]["key-reference"], 16)


def as_cu(user):
    return login_as(user, CU_PW[user], "CU")


def key_info(out):
    """getKeyInfo output -> {server: (kind, owner id, [shared ids])}."""
    found = {}
    blocks = re.split(r"^Key Info on server (\d+)\(127\.0\.0\.1\):$", out, flags=re.M)
    for i in range(1, len(blocks), 2):
        body = blocks[i + 1]
        kind = re.search(r"^\s+(Token/Flash Key|Session Key),$", body, re.M).group(1)
        owner = int(re.search(r"^\s+Owned by user (\d+)$", body, re.M).group(1))
        shared = []
        m = re.search(r"also, shared to following (\d+) user\(s\):\n\n((?:\s+\d+\n?)+)", body)
        if m:
            shared = [int(x) for x in m.group(2).split()]
            assert len(shared) == int(m.group(1)), body
        found[int(blocks[i])] = (kind, owner, shared)
    return found


def find_all(out):
    """findAllKeys output -> {server: ([(handle, mark)], hash or None)}."""
    found = {}
    blocks = re.split(r"^Keys on server (\d+)\(127\.0\.0\.1\):$", out, flags=re.M)
    for i in range(1, len(blocks), 2):
        body = blocks[i + 1]
        n = int(re.search(r"^Number of keys found (\d+)$", body, re.M).group(1))
        assert f"number of keys matched from start index 0::{n}" in body, body
        keys = []
        # The guide's marks: a shared key "8(s)", an owned one bare "17" (mark "o" here).
        m = re.search(r"^(\d+(?:\(s\))?(?:,\d+(?:\(s\))?)*)$", body, re.M)
        if m:
            keys = [(int(h), "s" if s else "o")
                    for h, s in re.findall(r"(\d+)(\(s\))?", m.group(1))]
        assert len(keys) == n, body
        h = re.search(r"^Key Hash:\n(\S+)$", body, re.M)
        found[int(blocks[i])] = (keys, h.group(1) if h else None)
    return found


def attr_values(out):
    """getAttribute output -> {server: {OBJ_ATTR_NAME: value line}}."""
    found = {}
    blocks = re.split(r"^Attribute Value on server (\d+)\(127\.0\.0\.1\):$", out, flags=re.M)
    for i in range(1, len(blocks), 2):
        lines = [ln for ln in blocks[i + 1].splitlines() if ln.strip()]
        vals = {}
        for k in range(0, len(lines) - 1):
            if lines[k].startswith("OBJ_ATTR_"):
                vals[lines[k]] = lines[k + 1]
        found[int(blocks[i])] = vals
    return found


def test_cmu_keys_same_handle_on_both_servers(cluster, tmp_path):
    """A CLI-made key shows with one handle, its owner and attributes on both servers."""
    ids = prepare(cluster, "alice", "bob")
    h = aes_key(cluster, "alice", "k1")
    out = cmu(cluster, as_cu("alice") + f"getKeyInfo -k {h}\ngetKeyInfo {h}\n"
              f"getAttribute {h} 354\ngetAttribute {h} 256\ngetAttribute {h} 3\n"
              f"getAttribute {h} 353\ngetAttribute {h} 512\n")
    per_server(out, "loginHSM")
    info = key_info(out)
    for i in (0, 1):
        assert info[i] == ("Token/Flash Key", ids[i]["alice"], []), out
    vals = attr_values(out)
    for i in (0, 1):
        assert vals[i]["OBJ_ATTR_EXTRACTABLE"] == "0x00000001", out
        assert vals[i]["OBJ_ATTR_KEY_TYPE"] == "0x0000001f", out  # AES
        assert vals[i]["OBJ_ATTR_LABEL"] == "k1", out
        assert vals[i]["OBJ_ATTR_VALUE_LEN"] == "0x00000020", out
        assert vals[i]["OBJ_ATTR_CLASS"] == "0x00000004", out  # from the 512 listing
        assert vals[i]["OBJ_ATTR_TOKEN"] == "0x00000001", out
    # The admin sees every key's owner; findAllKeys lists owned keys bare, with equal hashes.
    out = cmu(cluster, login_as("admin", ADMIN_PW) + f"findAllKeys {ids[0]['alice']} 1\n"
              f"findAllKeys {ids[0]['bob']} 0\ngetKeyInfo -k {h}\n")
    per_server(out, "findAllKeys")
    assert out.count("findAllKeys success on server") == 4, out
    blocks = re.split(r"^(?=Keys on server 0)", out, flags=re.M)
    alice, bob = find_all(blocks[1]), find_all(blocks[2])
    for i in (0, 1):
        assert alice[i][0] == [(h, "o")], out
        assert HEX64.match(alice[i][1]), out
        assert bob[i] == ([], None), out  # no keys: no hash
    assert alice[0][1] == alice[1][1], out
    assert key_info(out)[1][1] == ids[1]["alice"], out

    # Output to a file: the blocks land there, the per-server outcome on the terminal.
    dest = tmp_path / "info.txt"
    out = cmu(cluster, as_cu("alice") + f"getKeyInfo -k {h} {dest}\n")
    assert f"Output written to '{dest}'" in out, out
    assert "Key Info on server" not in out
    per_server(out, "getKeyInfo")
    assert key_info(dest.read_text())[1] == ("Token/Flash Key", ids[1]["alice"], [])


def test_cmu_keys_bad_reads_are_clear(cluster):
    """Unknown handles, attributes and user ids: one clear line per server, or a refusal."""
    ids = prepare(cluster, "alice", "bob")
    h = aes_key(cluster, "alice", "k2")
    out = cmu(cluster, as_cu("bob") + f"getKeyInfo -k {h}\n" + "getKeyInfo -k 987654321\n"
              f"getAttribute {h} 9999\ngetAttribute {h} 288\ngetKeyInfo -k 0\n"
              "getKeyInfo -k 12abc\n")
    # Bob neither owns nor shares the key: the HSMs do not show it to him.
    assert out.count(f"getKeyInfo failed: ") == 4, out
    for i in (0, 1):
        assert re.search(rf"^getKeyInfo failed: .+ on server {i}\(127\.0\.0\.1\)$", out, re.M)
    assert "Key Info on server" not in out
    assert "Invalid attribute id '9999': no such attribute" in out
    assert "Attribute Value on server" not in out
    assert "Invalid key handle '0'" in out and "Invalid key handle '12abc'" in out
    # An AES key has no modulus: the HSM's answer says so per server (alice owns it).
    out = cmu(cluster, as_cu("alice") + f"getAttribute {h} 288\n")
    for i in (0, 1):
        assert re.search(rf"^getAttribute failed: .+ on server {i}\(127\.0\.0\.1\)$", out, re.M)
    # findAllKeys for an id no server has.
    out = cmu(cluster, login_as("admin", ADMIN_PW) + "findAllKeys 4242 0\n")
    for i in (0, 1):
        assert re.search(rf"^findAllKeys failed: .+ on server {i}\(127\.0\.0\.1\)$", out, re.M)
    # A crypto user may not list another user's keys.
    out = cmu(cluster, as_cu("alice") + f"findAllKeys {ids[0]['alice']} 0\n")
    assert "findAllKeys success" not in out, out


def test_cmu_share_key_and_unshare(cluster):
    """shareKey shows in getKeyInfo and findAllKeys on both servers; unshare takes it back."""
    ids = prepare(cluster, "alice", "bob")
    h = aes_key(cluster, "alice", "k3")
    bob = ids[0]["bob"]
    out = cmu(cluster, as_cu("alice") + f"shareKey {h} {bob} 1\ny\ngetKeyInfo -k {h}\n")
    assert "This is a CRITICAL operation" in out
    per_server(out, "shareKey")
    info = key_info(out)
    for i in (0, 1):
        assert info[i] == ("Token/Flash Key", ids[i]["alice"], [ids[i]["bob"]]), out
    # Bob may now see it (and use it), and the admin sees it as shared with him.
    out = cmu(cluster, as_cu("bob") + f"getKeyInfo -k {h}\n")
    assert set(key_info(out)) == {0, 1}, out
    out = cmu(cluster, login_as("admin", ADMIN_PW) + f"findAllKeys {bob} 1\n")
    found = find_all(out)
    for i in (0, 1):
        assert found[i][0] == [(h, "s")], out
    assert found[0][1] == found[1][1] and HEX64.match(found[0][1]), out

    out = cmu(cluster, as_cu("alice") + f"shareKey {h} {bob} 0\ny\ngetKeyInfo -k {h}\n")
    per_server(out, "shareKey")
    assert all(v[2] == [] for v in key_info(out).values()), out


def test_cmu_share_key_bad_input_changes_nothing(cluster):
    """Unknown handle or user id, a non-owner, a CO as target, 'n': refused, nothing changed."""
    ids = prepare(cluster, "alice", "bob", "carol")
    h = aes_key(cluster, "alice", "k4")
    bob, carol = ids[0]["bob"], ids[0]["carol"]
    out = cmu(cluster, as_cu("alice") + f"shareKey 987654321 {bob} 1\ny\n"
              f"shareKey {h} 4242 1\ny\n" f"shareKey {h} {bob} 1\nn\n"
              f"shareKey {h} {bob} 2\n" f"shareKey {h} 1 1\ny\n" f"getKeyInfo -k {h}\n")
    for i in (0, 1):
        # Unknown handle (the HSMs say), unknown user id (no server has it: nothing sent).
        assert len(re.findall(rf"^shareKey failed: .+ on server {i}\(127\.0\.0\.1\)$", out,
                              re.M)) == 3, out
    assert "shareKey success" not in out, out
    assert "Invalid value '2': expected 1 or 0" in out
    assert all(v[2] == [] for v in key_info(out).values()), out
    # Bob, not the owner, may not share alice's key even once it is shared with him.
    out = cmu(cluster, as_cu("alice") + f"shareKey {h} {bob} 1\ny\n")
    per_server(out, "shareKey")
    out = cmu(cluster, as_cu("bob") + f"shareKey {h} {carol} 1\ny\n")
    for i in (0, 1):
        assert re.search(rf"^shareKey failed: .+ on server {i}\(127\.0\.0\.1\)$", out, re.M)
    out = cmu(cluster, as_cu("alice") + f"getKeyInfo -k {h}\n")
    info = key_info(out)
    for i in (0, 1):
        assert info[i][2] == [ids[i]["bob"]], out


def test_cmu_sync_key_repairs_a_missed_share(cluster):
    """A share made while HSM 1 hung is missing there until syncKey copies the key."""
    ids = prepare(cluster, "alice", "bob")
    h = aes_key(cluster, "alice", "k5")
    cluster.pause_hsm(1)
    try:
        out = cmu(cluster, as_cu("alice") + f"shareKey {h} {ids[0]['bob']} 1\ny\n")
    finally:
        cluster.resume_hsm(1)
    assert f"shareKey success on server 0({HOST})" in out, out
    assert "shareKey success on server 1" not in out, out
    out = cmu(cluster, as_cu("alice") + f"getKeyInfo -k {h}\n")
    info = key_info(out)
    assert info[0][2] == [ids[0]["bob"]] and info[1][2] == [], out
    # The admin's key hash tells the HSMs apart.
    out = cmu(cluster, login_as("admin", ADMIN_PW) + f"findAllKeys {ids[0]['alice']} 1\n")
    found = find_all(out)
    assert found[0][1] != found[1][1], out

    out = cmu(cluster, as_cu("alice") + f"syncKey {h} 1\ngetKeyInfo -k {h}\n")
    assert "\nsyncKey success\n" in out, out
    info = key_info(out)
    for i in (0, 1):
        assert info[i][2] == [ids[i]["bob"]], out
    out = cmu(cluster, login_as("admin", ADMIN_PW) + f"findAllKeys {ids[0]['alice']} 1\n")
    found = find_all(out)
    assert found[0][1] == found[1][1], out


def test_cmu_sync_key_missing_key_and_deletion(cluster):
    """A key made while HSM 1 hung is copied there; a deletion is copied from server mode."""
    ids = prepare(cluster, "alice")
    cluster.pause_hsm(1)
    try:
        rc, out = cli(cluster, "alice", "key", "generate-symmetric", "aes", "--label", "k6",
                      "--key-length-bytes", "16")
    finally:
        cluster.resume_hsm(1)
    # Made on server 0 only (the CLI reports the HSM it could not reach).
    h = int(out["data"]["key"]["key-reference"], 16) if out["error_code"] == 0 else None
    if h is None:
        out = cmu(cluster, login_as("admin", ADMIN_PW) + f"findAllKeys {ids[0]['alice']} 0\n")
        h = find_all(out)[0][0][0][0]
    out = cmu(cluster, as_cu("alice") + f"getKeyInfo -k {h}\n")
    assert set(key_info(out)) == {0}, out
    assert re.search(r"^getKeyInfo failed: .+ on server 1\(127\.0\.0\.1\)$", out, re.M), out

    out = cmu(cluster, as_cu("alice") + f"syncKey {h} 1\ngetKeyInfo -k {h}\n"
              f"getAttribute {h} 353\n")
    assert "\nsyncKey success\n" in out, out
    assert set(key_info(out)) == {0, 1}, out
    assert all(v["OBJ_ATTR_VALUE_LEN"] == "0x00000010" for v in attr_values(out).values()), out

    # Deleted while HSM 1 hung: still there until the deletion is synced from server 0.
    cluster.pause_hsm(1)
    try:
        cli(cluster, "alice", "key", "delete", "--filter", f"key-reference={h:#018x}")
    finally:
        cluster.resume_hsm(1)
    out = cmu(cluster, as_cu("alice") + f"getKeyInfo -k {h}\n")
    assert set(key_info(out)) == {1}, out
    out = cmu(cluster, as_cu("alice") + f"server 0\nsyncKey {h} 0\nsyncKey {h} 1\nexit\n"
              f"getKeyInfo -k {h}\n")
    assert "Server is in 'E2' mode" in out
    assert "syncKey failed: the destination server 0(127.0.0.1) is the server you are in" in out
    assert "\nsyncKey success\n" in out, out
    assert key_info(out) == {}, out
    assert len(re.findall(r"^getKeyInfo failed: .+ on server \d\(127\.0\.0\.1\)$", out,
                          re.M)) == 2, out


def test_cmu_sync_key_bad_input(cluster):
    """Unknown handles and servers: a clear line, nothing copied."""
    prepare(cluster, "alice")
    h = aes_key(cluster, "alice", "k7")
    out = cmu(cluster, as_cu("alice") + "syncKey 987654321 1\n" f"syncKey {h} 2\n"
              f"syncKey {h} x\n" "syncKey\n")
    assert re.search(r"^syncKey failed: .+ on every other server; nothing was copied$", out,
                     re.M), out
    assert "Invalid server id '2': expected a server number from 0 to 1" in out
    assert "Invalid server id 'x'" in out
    assert "Usage: syncKey <key handle> <destination server>" in out
    assert "syncKey success" not in out


def test_cmu_sync_user_repairs_a_missed_user(cluster):
    """A user created while HSM 1 hung is copied there by syncUser and can then log in."""
    prepare(cluster, "alice")
    cluster.pause_hsm(1)
    try:
        out = cmu(cluster, login_as("admin", ADMIN_PW) + create("CU", "dave", "dave-pass1"))
    finally:
        cluster.resume_hsm(1)
    assert f"createUser success on server 0({HOST})" in out, out
    listed = users(cmu(cluster, "listUsers\n"))
    assert "dave" in listed[0] and "dave" not in listed[1], listed
    dave = listed[0]["dave"][0]

    out = cmu(cluster, login_as("admin", ADMIN_PW) + "syncUser 4242 1\n"
              f"syncUser {dave} 1\nlistUsers\n")
    assert re.search(r"^syncUser failed: .+ on every other server; nothing was copied$", out,
                     re.M), out
    assert "ExtractMaskedObject: 0x0 !\nInsertMaskedObject: 0x0 !\nsyncUser success\n" in out, out
    listed = users(out)
    assert listed[1]["dave"][1] == "CU", listed
    # The password came along: dave logs in on both.
    per_server(cmu(cluster, login_as("dave", "dave-pass1", "CU")), "loginHSM")
    # A crypto user may not sync users.
    out = cmu(cluster, as_cu("alice") + f"syncUser {dave} 1\n")
    assert "syncUser success" not in out, out
