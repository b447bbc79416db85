# SPDX-License-Identifier: Apache-2.0
"""openhsmd as an operator runs it: what a first start creates (client.json, CA, HSM certificates,
the appliance user's password, file modes), that every HSM serves TLS 1.3 verified by the trust
anchor, that a restart reuses the cluster, that a killed HSM comes back on its port, that SIGTERM
and the death of the parent stop everything, and that bad command lines create nothing."""
import json
import os
import re
import signal
import socket
import ssl
import stat
import subprocess
import time

import pytest

import wire
from conftest import BIN, wait_port

ID_RE = {"cluster": re.compile(r"^cluster-[a-z2-7]{11}$"), "hsm": re.compile(r"^hsm-[a-z2-7]{11}$")}


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def gone(pid, timeout=15.0):
    """True once pid has exited: no such process, or a zombie nobody has reaped yet (an orphaned
    openhsmd is reparented to whatever init the test runs under, which may never reap it)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except (FileNotFoundError, ProcessLookupError):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def tls13(cluster, i, server_hostname="127.0.0.1"):
    """A verified TLS handshake to HSM i: chain to the trust anchor and the name checked."""
    ctx = ssl.create_default_context(cafile=str(cluster.cluster_dir / cluster.cfg["trust_anchor"]))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", cluster.hsm_port(i)), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_hostname) as s:
            cn = dict(x[0] for x in s.getpeercert()["subject"])["commonName"]
            return s.version(), cn


def run_openhsmd(*args, timeout=30):
    # The API on a free port: a test never takes 4599 from a `make run` on the same machine.
    listen = () if any(a.startswith("--listen") for a in args) or "--data" not in args else (
        "--listen", "127.0.0.1:0")
    return subprocess.run([str(BIN / "openhsmd"), *args, *listen], capture_output=True,
                          text=True, timeout=timeout)


def test_client_json_shape_and_file_modes(cluster):
    cfg = cluster.cfg
    assert list(cfg) == ["cluster_id", "trust_anchor", "timeout_ms", "hsms"]
    assert ID_RE["cluster"].match(cfg["cluster_id"])
    assert cfg["trust_anchor"] == "customerCA.crt"
    assert cfg["timeout_ms"] == 5000
    assert len(cfg["hsms"]) == 2
    for h in cfg["hsms"]:
        assert list(h) == ["id", "host", "port"]
        assert ID_RE["hsm"].match(h["id"]) and h["host"] == "127.0.0.1"
        assert isinstance(h["port"], int) and 0 < h["port"] < 65536
    assert len({h["port"] for h in cfg["hsms"]}) == 2
    assert len({h["id"] for h in cfg["hsms"]}) == 2
    assert cluster.cluster_dir == cluster.data / "clusters" / cfg["cluster_id"]
    assert (cluster.cluster_dir / "client.json").read_text().startswith('{\n  "cluster_id": ')

    assert mode(cluster.data) == 0o700
    assert (cluster.data / "openhsmd.db").is_file()
    # The CA key stays with openhsmd, outside the directory handed to HSMs and clients.
    assert not (cluster.cluster_dir / "customerCA.key").exists()
    assert mode(cluster.data / "private") == 0o700
    assert mode(cluster.data / "private" / cfg["cluster_id"]) == 0o700
    assert mode(cluster.data / "private" / cfg["cluster_id"] / "customerCA.key") == 0o600
    secret = cluster.cluster_dir / "app_user.secret"
    assert mode(secret) == 0o600
    text = secret.read_text()
    assert re.fullmatch(r"[A-Za-z0-9]{24}\n", text)
    masking = cluster.cluster_dir / "masking.key"
    assert mode(masking) == 0o600 and masking.stat().st_size == 32
    for i in range(2):
        d = cluster.hsm_dir(i)
        assert mode(d / "hsm.key") == 0o600
        assert (d / "hsm.crt").is_file() and (d / "hsm.db").is_file()
        assert cluster.hsm_pid(i) > 0
        wait_port(cluster.hsm_port(i), timeout=1)

    out = cluster.output
    assert text.strip() not in out  # the password is never printed
    cfg_path = str(cluster.cluster_dir / "client.json")
    assert os.path.isabs(cfg_path)
    assert f"client config: {cfg_path}\n" in out
    assert f"export OPENHSM_CLUSTER_CONFIG={cfg_path}" in out
    assert f"openhsmd: cluster {cfg['cluster_id']} (2 HSMs, users lock after 5 failed logins)" in out
    for h in cfg["hsms"]:
        assert f"  {h['id']}  127.0.0.1:{h['port']}\n" in out
    assert out.rstrip().endswith("openhsmd: ready")


def test_certificates_chain_to_trust_anchor(cluster):
    """The first cluster is made as a CloudHSM cluster is: its first HSM's CSR, signed by a local
    CA standing in for the owner's, is the cluster certificate every HSM presents."""
    ca = cluster.cluster_dir / "customerCA.crt"
    ca_text = subprocess.run(["openssl", "x509", "-in", str(ca), "-noout", "-text"],
                             capture_output=True, text=True, check=True).stdout
    assert f"Subject: CN = openhsm local CA for {cluster.cluster_id}" in ca_text
    assert re.search(r"Basic Constraints: critical\s+CA:TRUE", ca_text)
    assert re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", ca_text)
    first = cluster.cfg["hsms"][0]["id"]
    crts = [(cluster.hsm_dir(i) / "hsm.crt").read_text() for i in range(len(cluster.cfg["hsms"]))]
    assert len(set(crts)) == 1  # one cluster certificate
    for i in range(len(cluster.cfg["hsms"])):
        crt = cluster.hsm_dir(i) / "hsm.crt"
        v = subprocess.run(["openssl", "verify", "-CAfile", str(ca), str(crt)],
                           capture_output=True, text=True)
        assert v.returncode == 0 and v.stdout.strip().endswith(": OK"), v.stdout + v.stderr
        t = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-subject", "-ext",
                            "subjectAltName,extendedKeyUsage"],
                           capture_output=True, text=True, check=True).stdout
        assert f"CN = \"HSM:{first}:PARTN:1, for FIPS mode\"" in t, t
        assert "O = Cavium" in t and "OU = N3FIPS" in t
        assert "IP Address:127.0.0.1" in t and "DNS:localhost" in t
        assert "TLS Web Server Authentication" in t
    # The cluster certificate is no CA: nothing verifies against it.
    other = subprocess.run(["openssl", "verify", "-CAfile", str(cluster.hsm_dir(0) / "hsm.crt"),
                            str(cluster.hsm_dir(1) / "hsm.crt")], capture_output=True, text=True)
    assert other.returncode != 0


def test_tls13_to_every_hsm(cluster):
    cn_want = f"HSM:{cluster.cfg['hsms'][0]['id']}:PARTN:1, for FIPS mode"
    for i, h in enumerate(cluster.cfg["hsms"]):
        version, cn = tls13(cluster, i)
        assert version == "TLSv1.3" and cn == cn_want
        assert tls13(cluster, i, "localhost")[1] == cn_want
        with pytest.raises(ssl.SSLCertVerificationError):
            tls13(cluster, i, "example.com")


def test_app_user_password_file_is_the_hsms(cluster):
    pw = cluster.app_user_password()
    for i in range(2):
        with wire.connect(cluster, i) as s:
            assert wire.call(s, 1, wire.LOGIN, wire.login_body(4, "app_user", pw)).get(2, 0) == 0
        with wire.connect(cluster, i) as s:
            r = wire.call(s, 1, wire.LOGIN, wire.login_body(4, "app_user", pw[::-1]))
            assert r.get(2, 0) == wire.RV["PIN_INCORRECT"]


@pytest.mark.parametrize("n", [1, 3])
def test_hsm_count(make_cluster, n):
    c = make_cluster(hsms=n)
    assert len(c.cfg["hsms"]) == n
    assert f"({n} HSM{'' if n == 1 else 's'}, users lock after 5 failed logins)" in c.output
    assert len(list((c.cluster_dir / "hsms").iterdir())) == n
    for i in range(n):
        assert tls13(c, i)[0] == "TLSv1.3"
        # Each HSM has its own handle slot, its place in the cluster; all share the masking key.
        argv = open(f"/proc/{c.hsm_pid(i)}/cmdline", "rb").read().decode().split("\0")
        assert argv[argv.index("--slot") + 1] == str(i)
        assert argv[argv.index("--masking-key") + 1] == f"{c.cluster_dir}/masking.key"


def test_hsm_command_line_and_options(make_cluster):
    c = make_cluster(hsms=1, extra=["--lockout-attempts", "20", "--max-sessions", "3"])
    assert "users lock after 20 failed logins" in c.output
    argv = open(f"/proc/{c.hsm_pid(0)}/cmdline", "rb").read().decode().split("\0")[:-1]
    d, h = c.hsm_dir(0), c.cfg["hsms"][0]
    assert argv == [os.path.realpath(BIN / "openhsm-hsm"), "--db", f"{d}/hsm.db", "--cert", f"{d}/hsm.crt",
                    "--key", f"{d}/hsm.key", "--listen", f"127.0.0.1:{h['port']}",
                    "--hsm-id", h["id"], "--cluster-id", c.cluster_id, "--lockout-attempts",
                    "20", "--au-password-file", f"{c.cluster_dir}/app_user.secret",
                    "--masking-key", f"{c.cluster_dir}/masking.key", "--slot", "0",
                    "--max-sessions", "3"]
    assert "lockout after 20 failed logins" in (d / "hsm.log").read_text()


def test_restart_reuses_cluster(make_cluster):
    first = make_cluster()
    files = {p: p.read_bytes() for p in sorted(first.cluster_dir.rglob("*.crt"))}
    files.update({p: p.read_bytes() for p in sorted(first.cluster_dir.rglob("*.key"))})
    secret = first.app_user_password()
    cfg_text = (first.cluster_dir / "client.json").read_text()
    first.stop()
    assert first.proc.returncode == 0

    second = make_cluster(hsms=3, extra=["--lockout-attempts", "9"])  # same data dir
    assert second.cluster_id == first.cluster_id
    assert (second.cluster_dir / "client.json").read_text() == cfg_text
    assert {p: p.read_bytes() for p in files} == files
    assert second.app_user_password() == secret
    assert "apply only to new clusters" in second.output
    assert "(2 HSMs, users lock after 5 failed logins)" in second.output
    assert "created cluster" not in second.output
    for i in range(2):
        assert tls13(second, i)[0] == "TLSv1.3"


def test_killed_hsm_is_restarted(cluster):
    port = cluster.hsm_port(0)
    old = cluster.hsm_pid(0)
    other = cluster.hsm_pid(1)
    cluster.kill_hsm(0)  # kill -9, then waits for a new pid and the port
    new = cluster.hsm_pid(0)
    assert new != old and gone(old)
    assert cluster.hsm_port(0) == port
    assert tls13(cluster, 0)[0] == "TLSv1.3"
    assert cluster.hsm_pid(1) == other  # the other HSM was not touched
    hid = cluster.cfg["hsms"][0]["id"]
    assert re.search(rf"openhsmd: {hid} exited \(signal 9\), restarting", cluster.output)
    assert cluster.proc.poll() is None


def test_sigterm_stops_every_hsm(cluster):
    pids = [cluster.hsm_pid(i) for i in range(2)]
    cluster.proc.send_signal(signal.SIGTERM)
    assert cluster.proc.wait(20) == 0
    cluster._reader.join(5)
    assert all(gone(p, 1) for p in pids)
    assert cluster.output.rstrip().endswith("openhsmd: stopped")
    for i in range(2):
        assert not (cluster.hsm_dir(i) / "hsm.pid").exists()
        wait_port(cluster.hsm_port(i), up=False, timeout=2)
        assert "stopping" in (cluster.hsm_dir(i) / "hsm.log").read_text()  # a clean SIGTERM exit


def test_exit_with_parent(tmp_path):
    d = tmp_path / "data"
    sh = subprocess.Popen(["/bin/sh", "-c", f'"$0" --data "$1" --hsms 1 --exit-with-parent --listen 127.0.0.1:0 & '
                           'echo "pid=$!"; wait', str(BIN / "openhsmd"), str(d)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    daemon = None
    try:
        for line in sh.stdout:
            if line.startswith("pid="):
                daemon = int(line[4:])
            if line.strip() == "openhsmd: ready":
                break
        assert daemon is not None
        hsm = int(next(d.glob("clusters/*/hsms/*/hsm.pid")).read_text())
        sh.kill()  # the parent dies without a word to openhsmd
        sh.wait()
        assert gone(daemon) and gone(hsm)
    finally:
        if daemon is not None and not gone(daemon, 0):
            os.kill(daemon, signal.SIGKILL)
        sh.kill()


@pytest.mark.parametrize("args, words", [
    (["--hsms", "0"], "--hsms"),
    (["--hsms", "29"], "--hsms"),
    (["--hsms", "abc"], "abc"),
    (["--hsms", "-1"], "--hsms"),
    (["--hsms", "99999999999999999999"], "--hsms"),
    (["--lockout-attempts", "0"], "--lockout-attempts"),
    (["--lockout-attempts", "101"], "--lockout-attempts"),
    (["--max-sessions", "0"], "--max-sessions"),
    (["--frobnicate"], "--frobnicate"),
    (["--hsms"], "--hsms"),
    (["stray"], "stray"),
])
def test_bad_arguments_create_nothing(tmp_path, args, words):
    d = tmp_path / "data"
    r = run_openhsmd("--data", str(d), *args)
    assert r.returncode == 2
    assert words in r.stderr and "usage: openhsmd" in r.stderr
    assert r.stdout == ""
    assert not d.exists()
    assert list(tmp_path.iterdir()) == []


def test_missing_data_and_help():
    r = run_openhsmd()
    assert r.returncode == 2 and "--data" in r.stderr
    h = run_openhsmd("--help")
    assert h.returncode == 0 and h.stdout.startswith("usage: openhsmd --data DIR")
    for opt in ("--hsms N", "--lockout-attempts N", "--max-sessions N", "--exit-with-parent",
                "--hsm-bin PATH"):
        assert opt in h.stdout


def test_missing_hsm_binary_creates_nothing(tmp_path):
    d = tmp_path / "data"
    r = run_openhsmd("--data", str(d), "--hsm-bin", str(tmp_path / "nope"))
    assert r.returncode == 1 and "nope" in r.stderr
    assert not d.exists()


def test_hsm_that_cannot_start_is_reported(tmp_path):
    """An HSM binary that fails: openhsmd names the HSM, shows its log, and exits 1."""
    fake = tmp_path / "bad-hsm"
    fake.write_text("#!/bin/sh\necho 'bad-hsm: refusing to start' >&2\nexit 4\n")
    fake.chmod(0o700)
    r = run_openhsmd("--data", str(tmp_path / "data"), "--hsms", "1", "--hsm-bin", str(fake))
    assert r.returncode == 1
    assert re.search(r"openhsmd: hsm-[a-z2-7]{11} exited \(status 4\) while starting", r.stderr)
    assert "| bad-hsm: refusing to start" in r.stderr
    assert "openhsmd: ready" not in r.stdout


def test_second_openhsmd_on_same_dir_refused(cluster):
    r = run_openhsmd("--data", str(cluster.data))
    assert r.returncode == 1 and "in use by another openhsmd" in r.stderr
    assert cluster.proc.poll() is None
    assert tls13(cluster, 0)[0] == "TLSv1.3"


def snapshot(root):
    """Every entry under root (root included) with what a write would change."""
    out = {}
    for p in [root, *root.rglob("*")]:
        st = os.lstat(p)
        out[str(p.relative_to(root))] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns)
    return out


def test_data_dir_open_to_others_refused(tmp_path):
    """A data directory others can write to (0777): refused, named, exit 1, nothing written."""
    d = tmp_path / "data"
    d.mkdir()
    d.chmod(0o777)
    before = snapshot(d)
    r = run_openhsmd("--data", str(d), "--hsms", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"openhsmd: refusing data directory {d}: {d} is writable by group or others "
            "(mode 0777; chmod go-w it)") in r.stderr
    assert "openhsmd: ready" not in r.stdout
    assert snapshot(d) == before and list(d.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_data_dir_of_another_user_refused(tmp_path):
    """A data directory owned by someone else (nobody), even 0700: refused, nothing written."""
    d = tmp_path / "data"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    before = snapshot(d)
    r = run_openhsmd("--data", str(d), "--hsms", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (f"openhsmd: refusing data directory {d}: {d} is owned by uid 65534, not by "
            f"openhsmd's user (uid {os.geteuid()})") in r.stderr
    assert snapshot(d) == before and list(d.iterdir()) == []


@pytest.mark.parametrize("what", ["clusters", "cluster", "hsm", "masking", "hsmkey", "cakey",
                                  "symlink", "owner"])
def test_existing_data_dir_with_bad_entry_refused(make_cluster, what):
    """Any directory or key file in an existing data dir that others can write (or read, for a
    key), that another user owns, or that is a planted symlink: refused with its path, nothing
    written; put right, the same data dir starts again."""
    if what == "owner" and os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    first = make_cluster(hsms=1)
    first.stop()
    data, cdir, cid = first.data, first.cluster_dir, first.cluster_id
    target = {"clusters": data / "clusters", "cluster": cdir, "hsm": first.hsm_dir(0),
              "masking": cdir / "masking.key", "hsmkey": first.hsm_dir(0) / "hsm.key",
              "cakey": data / "private" / cid / "customerCA.key",
              "symlink": first.hsm_dir(0) / "hsm.key", "owner": cdir / "masking.key"}[what]
    saved_mode = stat.S_IMODE(os.lstat(target).st_mode)
    planted = None
    if what == "symlink":
        planted = data.parent / "planted.key"
        planted.write_bytes(target.read_bytes())
        planted.chmod(0o600)
        target.unlink()
        target.symlink_to(planted)
        message = f"{target} is a symbolic link, not a directory or a regular file"
    elif what == "owner":
        os.chown(target, 65534, 65534)
        message = f"{target} is owned by uid 65534, not by openhsmd's user"
    elif target.is_dir():
        target.chmod(0o777)
        message = f"{target} is writable by group or others (mode 0777"
    else:
        target.chmod(0o644)
        message = f"{target} holds a secret and is open to group or others (mode 0644"
    before = snapshot(data)
    r = run_openhsmd("--data", str(data), "--hsms", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"openhsmd: refusing data directory {data}: {message}" in r.stderr, r.stderr
    assert snapshot(data) == before
    # Put right: starts, same cluster.
    if planted is not None:
        target.unlink()
        target.write_bytes(planted.read_bytes())
    if what == "owner":
        os.chown(target, os.geteuid(), os.getegid())
    target.chmod(saved_mode)
    again = make_cluster(hsms=1)
    assert again.cluster_id == cid
    assert tls13(again, 0)[0] == "TLSv1.3"


def test_ca_key_moved_out_of_cluster_dir(make_cluster):
    """A data dir of the old layout (CA key in the cluster directory) gets its key moved to
    DATA/private/<cluster> on start, unchanged and 0600; the cluster keeps working."""
    first = make_cluster(hsms=1)
    first.stop()
    key = first.data / "private" / first.cluster_id / "customerCA.key"
    pem = key.read_bytes()
    old = first.cluster_dir / "customerCA.key"
    key.rename(old)  # where older versions kept it (the cluster key stays in private/)
    second = make_cluster(hsms=1)
    assert not old.exists()
    assert key.read_bytes() == pem and mode(key) == 0o600
    assert mode(key.parent) == 0o700 and mode(key.parent.parent) == 0o700
    assert tls13(second, 0)[0] == "TLSv1.3"


def test_data_dir_through_a_symlink_is_fine(make_cluster, tmp_path):
    """The operator's own layout: --data names a symlink to a private directory; openhsmd checks
    the directory it resolves to and runs."""
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "data").symlink_to(real)
    c = make_cluster(hsms=1)
    assert (real / "openhsmd.db").is_file()
    assert f"openhsmd: data directory {real}\n" in c.output
    assert tls13(c, 0)[0] == "TLSv1.3"
