# SPDX-License-Identifier: Apache-2.0
"""Issue 10, item 8: three findings of the review, each attack replayed through the real binaries
(openhsm-cli, openhsm-cmu) or, where no tool sends the request, a raw wire client (wire.py), and
shown to fail with a clear error and change nothing.

1. AES-GCM IVs: the HSM makes every IV for encryption and wrapping. A caller's IV (the same one
   twice, which gave the same ciphertext and, for two wraps under one trusted key, the XOR of a
   key the caller knows and a wrap-with-trusted key it must never see) is refused with
   OHSM_MECHANISM_PARAM_INVALID; the CLI says the HSM generates the IV.
2. Masked-object extraction follows key_get's visibility: a crypto user gets the masked object
   (owner, check value, flags and shares in clear) of a key it owns or is shared only; for any
   other key the same OHSM_KEY_HANDLE_INVALID as key_get. Admins still extract any (CMU syncKey).
3. A key generated while its owner is deleted (RSA-4096 generation running, `user delete` lands
   meanwhile) is not stored: the owner is re-checked under the HSM's lock when the key is
   inserted. No key of a user that does not exist is left on any HSM.
"""
import base64
import json
import os
import subprocess
import time

import pytest

import wire
from conftest import Cluster
from test_cli_keys import CLI, Known, Shell, cli, kcv_aes, prepare

ADMIN = {"CLOUDHSM_ROLE": "admin", "CLOUDHSM_PIN": "admin:Admin_pw1"}
CU1 = {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": "cu1:Crypto_pw1"}
CU_PW = "Crypto_pw1"
WRAP, KEY_GET, CRYPTO, MASKED_EXTRACT = 27, 24, 29, 31
RV_KEY_HANDLE_INVALID, RV_MECHANISM_PARAM_INVALID = 20, 38
AES_GCM, ENCRYPT = 1, 1
CU, CO = 3, 2


def b64(b):
    return base64.b64encode(b).decode()


def unb64(s):
    return base64.b64decode(s, validate=True)


@pytest.fixture(scope="module")
def rc(tmp_path_factory):
    """One activated two-HSM cluster with crypto users cu1..cu3 (test_cli_keys' prepare)."""
    c = Cluster(tmp_path_factory.mktemp("review") / "data")
    try:
        prepare(c)
        yield c
    finally:
        c.stop()


def session(cluster, i, user, pw=CU_PW, utype=CU):
    s = wire.connect(cluster, i)
    r = wire.call(s, 1, wire.LOGIN, wire.login_body(utype, user, pw))
    assert r.get(2, 0) == 0, r
    return s


def gcm_mech(iv=None, tag_bits=128):
    body = wire.field(1, AES_GCM) + wire.field(8, tag_bits)
    return body + (wire.field(6, iv) if iv is not None else b"")


def snapshot(sh):
    """What must not change: every key the shell's user sees, and the cluster in sync."""
    st = sh.ok("cluster sync-status")
    assert st["in-sync"] is True, st
    return sh.keys()


def key(sh, line):
    return int(sh.ok(line)["key"]["key-reference"], 16)


# ---- 1. AES-GCM IVs ----

def test_gcm_encrypt_with_chosen_iv_is_refused(rc):
    sh = Shell(rc, "cu1")
    try:
        k = key(sh, "key generate-symmetric aes --label rv-gcm --key-length-bytes 32 "
                    "--attributes encrypt=true decrypt=true")
        kf = f"--key-filter key-reference=0x{k:016x}"
        pt = b"attack at dawn, attack at dawn!!"
        before = snapshot(sh)
        # The attack: one IV twice gave one ciphertext (and the XOR of plaintexts). Refused, with
        # the reason; the HSM's code is MECHANISM_PARAM_INVALID (see the wire test below).
        for _ in range(2):
            msg = sh.err(f"crypto encrypt aes-gcm {kf} --iv 000102030405060708090a0b "
                         f"--data {b64(pt)}", "Encryption failed", "Invalid mechanism parameters",
                         "the HSM generates the IV")
            assert "attack" not in msg
        sh.err(f"crypto encrypt aes-gcm {kf} --iv {'00' * 12} --data {b64(pt)}",
               "the HSM generates the IV")
        # The same through single-command mode: exit status 1, nothing printed but the error.
        code, out, text = cli(rc, "crypto", "encrypt", "aes-gcm", "--key-filter",
                              f"key-reference=0x{k:016x}", "--iv", "000102030405060708090a0b",
                              "--data", b64(pt), **CU1)
        assert code != 0 and out["error_code"] == 1, text
        assert "the HSM generates the IV" in out["data"], text
        # Without --iv: two IVs of 12 bytes, two ciphertexts, each decrypting with its own IV.
        got = [sh.ok(f"crypto encrypt aes-gcm {kf} --data {b64(pt)}") for _ in range(2)]
        ivs = [bytes.fromhex(d["iv"]) for d in got]
        assert len(ivs[0]) == 12 and len(ivs[1]) == 12 and ivs[0] != ivs[1]
        assert got[0]["data"] != got[1]["data"]
        for d in got:
            assert unb64(sh.ok(f"crypto decrypt aes-gcm {kf} --iv {d['iv']} "
                               f"--data {d['data']}")["data"]) == pt
        assert snapshot(sh) == before
    finally:
        sh.close()


def test_gcm_wrap_with_chosen_iv_is_refused(rc, tmp_path):
    """Two wraps under one trusted key with one IV: a crypto user who knows one payload's
    material XORs out the other's, a wrap-with-trusted key it may only wrap with trusted keys."""
    sh = Shell(rc, "cu2")
    adm = Shell(rc, "admin", "admin", "Admin_pw1")
    try:
        known = Known(sh, tmp_path, "rv-known")
        mat = bytes(range(200, 232))
        kk = known.bring(mat, "rv-known-key", attributes="encrypt=true")
        k_known = int(kk["key-reference"], 16)
        w = key(sh, "key generate-symmetric aes --label rv-trusted-kek --key-length-bytes 32 "
                    "--attributes wrap=true unwrap=true")
        adm.ok(f"key set-attribute --filter key-reference=0x{w:016x} --name trusted --value true")
        t = key(sh, "key generate-symmetric aes --label rv-secret --key-length-bytes 32 "
                    "--attributes wrap-with-trusted=true")
        target_kcv = next(x for x in sh.keys() if int(x["key-reference"], 16) == t)[
            "attributes"]["check-value"]
        before = snapshot(sh)

        iv = bytes(range(12))
        with session(rc, 0, "cu2") as s:
            for rid, payload in ((2, k_known), (3, t)):
                r = wire.call(s, rid, WRAP, wire.field(1, w) + wire.field(2, payload) +
                              wire.field(3, gcm_mech(iv)))
                assert r.get(2, 0) == RV_MECHANISM_PARAM_INVALID, r
                assert 27 not in r  # no wrapped key in the reply
            # Encryption with a chosen IV on the wire: refused as well, no ciphertext.
            r = wire.call(s, 4, CRYPTO, wire.field(1, ENCRYPT) + wire.field(2, k_known) +
                          wire.field(3, gcm_mech(iv)) + wire.field(4, b"attack"))
            assert r.get(2, 0) == RV_MECHANISM_PARAM_INVALID and 27 not in r, r
            # Without an IV each wrap carries its own, first in the blob.
            blobs = []
            for rid, payload in ((5, k_known), (6, t)):
                r = wire.call(s, rid, WRAP, wire.field(1, w) + wire.field(2, payload) +
                              wire.field(3, gcm_mech()))
                assert r.get(2, 0) == 0, r
                blobs.append(wire.parse_fields(r[27])[1])
        assert all(len(b) == 12 + 32 + 16 for b in blobs)
        assert blobs[0][:12] != blobs[1][:12]
        # The XOR that recovered the secret key now gives garbage: its check value differs.
        guess = bytes(a ^ b ^ c for a, b, c in zip(mat, blobs[0][12:44], blobs[1][12:44]))
        assert kcv_aes(guess) != target_kcv
        assert snapshot(sh) == before  # the refusals changed nothing
        # The CLI's key wrap aes-gcm prints the HSM's IV (first in the blob, the tag checks out
        # outside), and unwrapping with it brings the key back.
        d = sh.ok(f"key wrap aes-gcm --payload-filter key-reference={kk['key-reference']} "
                  f"--wrapping-filter key-reference=0x{w:016x} --tag-length-bits 128")
        wiv = bytes.fromhex(d["iv"])
        wrapped = unb64(d["wrapped_key_data"])
        assert wrapped[:12] == wiv and wiv not in (blobs[0][:12], blobs[1][:12])
        back = sh.ok(f"key unwrap aes-gcm --filter key-reference=0x{w:016x} "
                     f"--tag-length-bits 128 --iv {wiv.hex()} --key-type-class aes "
                     f"--label rv-back --data {b64(wrapped)}")["key"]
        assert back["attributes"]["check-value"] == kcv_aes(mat)
    finally:
        sh.close()
        adm.close()


# ---- 2. masked objects by key_get's visibility ----

def extract(cluster, i, who, handle, rid=2, pw=CU_PW, utype=CU):
    """(rv, blob) of MaskedExtractReq for handle as user who on HSM i."""
    with session(cluster, i, who, pw, utype) as s:
        r = wire.call(s, rid, MASKED_EXTRACT, wire.field(1, handle))
        blob = wire.parse_fields(r[31]).get(1) if 31 in r else None
        return r.get(2, 0), blob


def key_get(cluster, i, who, handle):
    with session(cluster, i, who) as s:
        return wire.call(s, 2, KEY_GET, wire.field(1, handle)).get(2, 0)


def test_masked_extract_needs_key_visibility(rc):
    sh = Shell(rc, "cu1")
    try:
        k = key(sh, "key generate-symmetric aes --label rv-masked --key-length-bytes 32")
        before = snapshot(sh)
        for i in (0, 1):
            # The attack: cu3 read the owner, KCV, flags and shares of a key key_get hides.
            assert key_get(rc, i, "cu3", k) == RV_KEY_HANDLE_INVALID
            rv, blob = extract(rc, i, "cu3", k)
            assert (rv, blob) == (RV_KEY_HANDLE_INVALID, None)
            # ... and no different from a handle that does not exist.
            assert extract(rc, i, "cu3", k + 4096) == (RV_KEY_HANDLE_INVALID, None)
            rv, own = extract(rc, i, "cu1", k)
            assert rv == 0 and own[:4] == b"OHMO" and b"rv-masked" in own
            # Admins move any key (CMU syncKey): unchanged.
            rv, adm = extract(rc, i, "admin", k, pw="Admin_pw1", utype=CO)
            assert rv == 0 and adm == own
        # Shared: cu3 may; unshared again: it may not.
        ref = f"--filter key-reference=0x{k:016x}"
        sh.ok(f"key share {ref} --username cu3 --role crypto-user")
        rv, blob = extract(rc, 1, "cu3", k)
        assert rv == 0 and blob[:4] == b"OHMO"
        sh.ok(f"key unshare {ref} --username cu3 --role crypto-user")
        assert extract(rc, 0, "cu3", k) == (RV_KEY_HANDLE_INVALID, None)
        after = snapshot(sh)
        assert [x["key-reference"] for x in after] == [x["key-reference"] for x in before]
    finally:
        sh.close()


# ---- 3. a key generated while its owner is deleted ----

class Pending(Shell):
    """A logged-in openhsm-cli shell whose command can be sent now and answered later. cfg: the
    client configuration to use (a long timeout: an RSA-4096 generation on a loaded machine may
    take longer than the default 5 s)."""

    def __init__(self, cluster, user, cfg):
        self.p = subprocess.Popen([CLI, "interactive"],
                                  env=cluster.env(OPENHSM_CLUSTER_CONFIG=str(cfg)),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.ok(f"login --username {user} --role crypto-user --password {CU_PW}")

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def answer(self):
        lines = []
        while True:
            got = self.p.stdout.readline()
            assert got, "shell ended: " + "".join(lines) + self.p.stderr.read()
            lines.append(got)
            if got == "}\n":
                return json.loads("".join(lines))


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def wait_busy(pid, since, ticks, timeout=20.0):
    """Waits until process pid has used `ticks` more CPU ticks than `since`: the HSM is
    generating (an idle HSM uses none). Returns False at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cpu_ticks(pid) - since >= ticks:
            return True
        time.sleep(0.005)
    return False


def owners_exist(cluster):
    """Every key's owners and shares are users of the cluster (CLI, as admin)."""
    code, out, text = cli(cluster, "user", "list", **ADMIN)
    assert code == 0, text
    names = {u["username"] for u in out["data"]["users"]}
    code, out, text = cli(cluster, "key", "list", "--verbose", "--max-items", "10000", **ADMIN)
    assert code == 0, text
    keys = out["data"]["matched_keys"]
    for k in keys:
        info = k["key-info"]
        for o in info["key-owners"] + info.get("shared-users", []):
            assert o["username"] in names, (k, names)
    return keys


def test_key_generated_while_owner_deleted_is_not_stored(make_cluster):
    c = make_cluster(hsms=1)
    code, out, text = cli(c, "cluster", "activate", "--password", "Admin_pw1")
    assert code == 0, text
    adm = Shell(c, "admin", "admin", "Admin_pw1")
    # Next to the cluster's config, as its trust anchor path is relative to it.
    slow = c.cluster_dir / "client-slow.json"
    slow.write_text(json.dumps(dict(c.cfg, timeout_ms=120000)))
    hsm = c.hsm_pid(0)
    tick = os.sysconf("SC_CLK_TCK")
    outcomes = []
    try:
        for attempt in range(6):
            adm.ok(f"user create --username eve1 --role crypto-user --password {CU_PW}")
            eve = Pending(c, "eve1", slow)
            keys_before = owners_exist(c)
            # eve1 starts an RSA-4096 generation; once the HSM is busy with it (CPU time moves),
            # the admin deletes eve1.
            t0 = cpu_ticks(hsm)
            eve.send(f"key generate-asymmetric-pair rsa --public-label rv-pub{attempt} "
                     f"--private-label rv-priv{attempt} --modulus-size-bits 4096 "
                     "--public-exponent 65537")
            assert wait_busy(hsm, t0, max(2, tick // 50)), "the HSM never started generating"
            deleted = adm.run("user delete --username eve1 --role crypto-user")
            made = eve.answer()
            eve.p.stdin.close()
            eve.p.wait(30)
            keys_after = owners_exist(c)  # never a key of a user that does not exist
            if deleted["error_code"] == 0:
                # The deletion came first: the generation failed and left nothing.
                assert made["error_code"] == 1, made
                assert "not logged in" in made["data"].lower(), made
                assert [k["key-reference"] for k in keys_after] == \
                    [k["key-reference"] for k in keys_before]
                outcomes.append("deleted")
                break
            else:
                # The key came first: the deletion is refused (eve1 owns keys) and eve1 stays.
                assert "owns keys" in deleted["data"], deleted
                assert made["error_code"] == 0, made
                outcomes.append("kept")
                for half in ("private_key", "public_key"):
                    ref = made["data"][half]["key-reference"]
                    code, out, text = cli(c, "key", "delete", "--filter", f"key-reference={ref}",
                                          CLOUDHSM_ROLE="crypto-user",
                                          CLOUDHSM_PIN=f"eve1:{CU_PW}")
                    assert code == 0, text
                adm.ok("user delete --username eve1 --role crypto-user")
        # The race was hit: the deletion landed while the HSM generated.
        assert "deleted" in outcomes, outcomes
        # Nothing of eve1 anywhere (CMU view: no key at all on the HSM).
        assert owners_exist(c) == []
    finally:
        adm.close()
