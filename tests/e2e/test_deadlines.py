# SPDX-License-Identifier: Apache-2.0
"""Deadlines and files that hold (issue 10, item 9), through the real binaries.

A fake HSM in the client config trickles one byte every 0.8 s, either as a raw TCP listener
(during the TLS handshake: no certificate needed) or as a TLS server with a certificate the
config trusts (after the handshake). openhsm-cli, openhsm-cmu and openhsm-kmu must return within
the configured timeout plus one second, report that HSM failed, and still serve the real HSM of
the same config. Output files of the three tools never go through a planted symlink and end up
0600 whatever was there before. (openhsmd's data directory checks are in test_openhsmd.py.)
"""
import json
import os
import re
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest

from conftest import BIN
from test_cmu import (ADMIN_PW, SCRIPT_FAILED, activate, cmu, create, login_as, per_server,
                      users)

CLI = str(BIN / "openhsm-cli")
CMU = str(BIN / "openhsm-cmu")
KMU = str(BIN / "openhsm-kmu")
TIMEOUT_MS = 2000
LIMIT_S = TIMEOUT_MS / 1000 + 1.0  # the configured timeout plus one second
GAP_S = 0.8
ALICE_PW = "alice-pass1"
FAKE_ID = "hsm-trickle0000"
# A TLS record header announcing a 16 KiB handshake record, then filler: a handshake that never
# completes. After a real handshake: a frame header announcing 256 bytes, then filler.
RAW_BYTES = b"\x16\x03\x03\x40\x00" + b"\x02" * 200
FRAME_BYTES = b"\x00\x00\x01\x00" + b"\x00" * 200


class Trickler:
    """127.0.0.1 listener that sends one byte every GAP_S to every connection (over TLS when
    ctx is given, after the handshake). Bounded: at most len(payload) bytes per connection."""

    def __init__(self, payload, ctx=None):
        self.payload, self.ctx = payload, ctx
        self.stop = threading.Event()
        self.handshakes = 0
        self.connections = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        conn.settimeout(5)
        try:
            if self.ctx is not None:
                conn = self.ctx.wrap_socket(conn, server_side=True)
                self.handshakes += 1
            for b in self.payload:
                if self.stop.is_set():
                    break
                conn.sendall(bytes([b]))
                self.stop.wait(GAP_S)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stop.set()
        self.sock.close()
        for t in self.threads:
            t.join(10)


def openssl(*args):
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def fake_tls_ctx(tmp):
    """A CA of our own and a server certificate for 127.0.0.1 signed by it."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", tmp / "ca.key", "-out", tmp / "ca.crt", "-days", "2",
            "-subj", "/CN=trickle test CA", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", tmp / "srv.key", "-out", tmp / "srv.csr", "-subj", f"/CN={FAKE_ID}")
    (tmp / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                 "extendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", tmp / "srv.csr", "-CA", tmp / "ca.crt", "-CAkey",
            tmp / "ca.key", "-CAcreateserial", "-out", tmp / "srv.crt", "-days", "2",
            "-extfile", tmp / "ext.cnf")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(tmp / "srv.crt", tmp / "srv.key")
    return ctx


def fake_config(cluster, tmp, ports):
    """Client config: HSMs 0.. are the fakes on ports, the last one the cluster's real HSM; the
    trust anchor holds the cluster CA and (when made) the fakes' CA."""
    anchor = tmp / "anchor.pem"
    text = (cluster.cluster_dir / "customerCA.crt").read_text()
    if (tmp / "ca.crt").exists():
        text += (tmp / "ca.crt").read_text()
    anchor.write_text(text)
    real = cluster.cfg["hsms"][0]
    cfg = {"cluster_id": cluster.cluster_id, "trust_anchor": str(anchor),
           "timeout_ms": TIMEOUT_MS,
           "hsms": [{"id": f"{FAKE_ID[:-1]}{i}", "host": "127.0.0.1", "port": port}
                    for i, port in enumerate(ports)] + [real]}
    path = tmp / "fake.json"
    path.write_text(json.dumps(cfg))
    return path


def timed(argv, cfg, stdin=None, **env):
    e = dict(os.environ, OPENHSM_CLUSTER_CONFIG=str(cfg))
    e.pop("CLOUDHSM_ROLE", None)
    e.pop("CLOUDHSM_PIN", None)
    e.update(env)
    t = time.monotonic()
    # The subprocess limit is far above LIMIT_S: a hang shows as a failed assert, not a kill.
    p = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60, env=e)
    return time.monotonic() - t, p.returncode, p.stdout + p.stderr


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """One real HSM, activated, with crypto user alice."""
    from conftest import Cluster
    c = Cluster(tmp_path_factory.mktemp("deadlines") / "data", hsms=1)
    try:
        activate(c)
        out = cmu(c, login_as("admin", ADMIN_PW) + create("CU", "alice", ALICE_PW) + "quit\n")
        assert "createUser success on server 0" in out, out
        yield c
    finally:
        c.stop()


@pytest.fixture(params=["raw-tcp", "tls", "both"])
def fake(request, real, tmp_path):
    """The fake HSMs (a list) and the config naming them and the real HSM (the last one). With
    "both", two fakes at once still cost one timeout: connections are opened together."""
    ts = []
    try:
        if request.param in ("raw-tcp", "both"):
            ts.append(Trickler(RAW_BYTES))
        if request.param in ("tls", "both"):
            ts.append(Trickler(FRAME_BYTES, fake_tls_ctx(tmp_path)))
        yield ts, fake_config(real, tmp_path, [t.port for t in ts])
    finally:
        for t in ts:
            t.close()


def check_tried(ts):
    for t in ts:
        assert t.connections >= 1
        if t.ctx is not None:
            assert t.handshakes >= 1  # the trickle came after a completed handshake


def test_cli_user_list_gives_up_on_trickling_hsm(fake, real):
    ts, cfg = fake
    took, rc, out = timed([CLI, "user", "list"], cfg)
    assert took < LIMIT_S, (took, out)
    assert rc == 0, out
    listed = {u["username"]: u for u in json.loads(out)["data"]["users"]}
    # The real HSM served the list; coverage "partial": the fake one did not answer.
    assert set(listed) >= {"admin", "alice", "app_user"}, out
    assert all(u["cluster-coverage"] == "partial" for u in listed.values()), out
    check_tried(ts)


def test_cmu_list_users_gives_up_on_trickling_hsm(fake, real):
    ts, cfg = fake
    took, rc, out = timed([CMU, str(cfg)], cfg, stdin="listUsers\nquit\n")
    assert took < LIMIT_S, (took, out)
    assert rc == SCRIPT_FAILED, out  # a piped script: listUsers failed on the trickling servers
    for i, t in enumerate(ts):
        assert (f"Failed to connect to server '127.0.0.1': hostname '127.0.0.1', port {t.port}: "
                "The HSM did not answer in time") in out, out
        assert f"Server {i}(127.0.0.1) is not connected (The HSM did not answer in time)" in out
    listed = users(out)
    assert set(listed) == {len(ts)}, out
    assert {"admin", "alice", "app_user"} <= set(listed[len(ts)]), out
    check_tried(ts)


def test_kmu_login_and_list_users_give_up_on_trickling_hsm(fake, real):
    ts, cfg = fake
    took, rc, out = timed([KMU], cfg, stdin=f"loginHSM -u CU -s alice -p {ALICE_PW}\n"
                          "listUsers\nexit\n")
    assert took < LIMIT_S, (took, out)
    assert rc == 0, out
    assert re.search(r"Cfm3LoginHSM returned: 0x00 : HSM Return: SUCCESS", out), out
    # The fakes' nodes failed, the real one (last) logged in.
    block = out.split("Cluster Error Status")[1]
    for i in range(len(ts)):
        assert (f"Node id {i} and err state 0x30000085 : HSM CLUSTER ERROR: Server in cluster "
                "is unavailable") in block, out
    assert f"Node id {len(ts)} and err state 0x00000000 : HSM Return: SUCCESS" in block, out
    assert re.search(r"Cfm3ListUsers returned: 0x00 : HSM Return: SUCCESS", out), out
    assert re.search(r"^\s+\d+\s+\d+\s+CU\s+alice\s+NO\s+0\s+NO$", out, re.M), out
    check_tried(ts)


# ---- output files ----

def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def planted(tmp, name):
    """A symlink at tmp/name pointing at a victim file (0644, content 'victim')."""
    victim = tmp / f"victim-{name}"
    victim.write_text("victim")
    victim.chmod(0o644)
    link = tmp / name
    link.symlink_to(victim)
    return link, victim


def stale(tmp, name):
    """An existing 0644 file with old content."""
    p = tmp / name
    p.write_text("old content " * 20)
    p.chmod(0o644)
    return p


def kmu_single(cluster, *cmd):
    p = subprocess.run([KMU, "singlecmd", "loginHSM", "-u", "CU", "-s", "alice", "-p", ALICE_PW,
                        *map(str, cmd)], capture_output=True, text=True, timeout=120,
                       env=cluster.env())
    return p.returncode, p.stdout + p.stderr


@pytest.fixture(scope="module")
def aes(real):
    rc, out = kmu_single(real, "genSymKey", "-t", 31, "-s", 32, "-l", "outfiles")
    assert rc == 0, out
    return int(re.search(r"Key Handle: (\d+)", out).group(1))


def test_kmu_out_files(real, aes, tmp_path):
    link, victim = planted(tmp_path, "attr-link")
    rc, out = kmu_single(real, "getAttribute", "-o", aes, "-a", 512, "-out", link)
    assert f'Cannot write file "{link}": it is a symbolic link' in out, out
    assert victim.read_text() == "victim" and mode(victim) == 0o644 and link.is_symlink()
    old = stale(tmp_path, "attr.txt")
    for _ in range(2):  # a rerun replaces its own file
        rc, out = kmu_single(real, "getAttribute", "-o", aes, "-a", 512, "-out", old)
        assert rc == 0, out
        assert mode(old) == 0o600 and old.read_text().startswith("\nOBJ_ATTR_CLASS\n0x04\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["attr-link", "attr.txt",
                                                          "victim-attr-link"]


def test_cmu_out_files(real, aes, tmp_path):
    script = login_as("alice", ALICE_PW, "CU")
    link, victim = planted(tmp_path, "info-link")
    out = cmu(real, script + f"getKeyInfo -k {aes} {link}\nquit\n")
    assert f"Cannot write to '{link}': it is a symbolic link" in out, out
    assert victim.read_text() == "victim" and mode(victim) == 0o644 and link.is_symlink()
    old = stale(tmp_path, "info.txt")
    out = cmu(real, script + f"getKeyInfo -k {aes} {old}\nquit\n")
    assert f"Output written to '{old}'" in out, out
    per_server(out, "getKeyInfo", servers=(0,))
    assert mode(old) == 0o600 and "Token/Flash Key" in old.read_text()
    new = tmp_path / "fresh.txt"
    out = cmu(real, script + f"getKeyInfo -k {aes} {new}\nquit\n")
    assert mode(new) == 0o600, out


def cli_as_alice(cluster, *args):
    p = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=60,
                       env=cluster.env(CLOUDHSM_ROLE="crypto-user",
                                       CLOUDHSM_PIN=f"alice:{ALICE_PW}"))
    try:
        return p.returncode, json.loads(p.stdout), p.stdout + p.stderr
    except json.JSONDecodeError:
        return p.returncode, None, p.stdout + p.stderr


def test_cli_token_and_key_files(real, tmp_path):
    # Token file (quorum registration token): planted symlink refused, stale 0644 file -> 0600.
    link, victim = planted(tmp_path, "reg-link.json")
    rc, out, text = cli_as_alice(real, "quorum", "token-sign", "generate", "--service",
                                 "registration", "--token", link)
    assert rc != 0 and out["error_code"] == 1, text
    assert f'cannot write token file "{link}": it is a symbolic link' in out["data"], text
    assert victim.read_text() == "victim" and mode(victim) == 0o644 and link.is_symlink()
    old = stale(tmp_path, "reg.json")
    rc, out, text = cli_as_alice(real, "quorum", "token-sign", "generate", "--service",
                                 "registration", "--token", old)
    assert rc == 0 and out == {"error_code": 0, "data": {"filepath": str(old)}}, text
    assert mode(old) == 0o600 and json.loads(old.read_text())["version"] == "2.0"

    # Key file of a public key: replaced, and 0644 (a public key, as openssl writes it); never
    # through a symlink.
    rc, out, text = cli_as_alice(real, "key", "generate-asymmetric-pair", "ec", "--public-label",
                                 "files-pub", "--private-label", "files-priv", "--curve",
                                 "secp256r1")
    assert rc == 0, text
    pub_ref = out["data"]["public_key"]["key-reference"]
    link, victim = planted(tmp_path, "pub-link.pem")
    rc, out, text = cli_as_alice(real, "key", "generate-file", "--encoding", "pem", "--path", link,
                                 "--filter", f"key-reference={pub_ref}")
    assert rc != 0 and "it is a symbolic link" in out["data"], text
    assert victim.read_text() == "victim" and link.is_symlink()
    pem = stale(tmp_path, "pub.pem")
    pem.chmod(0o666)
    rc, out, text = cli_as_alice(real, "key", "generate-file", "--encoding", "pem", "--path", pem,
                                 "--filter", f"key-reference={pub_ref}")
    assert rc == 0, text
    assert pem.read_text().startswith("-----BEGIN PUBLIC KEY-----") and mode(pem) == 0o644
