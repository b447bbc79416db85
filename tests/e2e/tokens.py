# SPDX-License-Identifier: Apache-2.0
"""Token files signed the way the CloudHSM guide tells a person to: keys made with `openssl genrsa`
and `openssl rsa -pubout`, every token taken out of the JSON file with `base64 -d`, signed with
`openssl pkeyutl -sign -pkeyopt digest:sha256`, and the signature put back with `base64 -w0`.
Nothing here signs in Python, so the tests prove the HSM accepts what real openssl makes.

Also a driver for `openhsm-cli interactive` over pipes that follows its prompts (which the CLI
writes to stderr) while reading the JSON objects it prints on stdout.
"""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import threading
import time

from conftest import BIN

CLI = str(BIN / "openhsm-cli")
SIGNED_PROMPT = ("Enter signed token file path (press enter if same as the unsigned token "
                 "file):")
PUBKEY_PROMPT = "Enter public key PEM file path:"


def _run(argv, **kw):
    p = subprocess.run([str(a) for a in argv], capture_output=True, timeout=60, **kw)
    assert p.returncode == 0, (argv, p.stdout, p.stderr)
    return p.stdout


def rsa_key(d, name, bits=2048):
    """openssl genrsa + openssl rsa -pubout, as set-up-mfa-for-cloudhsm-cli shows. Returns
    (private key path, public key PEM path)."""
    d = pathlib.Path(d)
    key, pub = d / f"{name}.key", d / f"{name}.pub"
    _run(["openssl", "genrsa", "-out", key, str(bits)])
    _run(["openssl", "rsa", "-in", key, "-outform", "PEM", "-pubout", "-out", pub])
    return key, pub


def ec_key(d, name):
    """A P-256 key pair (not acceptable for MFA or quorum)."""
    d = pathlib.Path(d)
    key, pub = d / f"{name}.key", d / f"{name}.pub"
    _run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
    _run(["openssl", "ec", "-in", key, "-pubout", "-out", pub])
    return key, pub


_seq = [0]
_seq_lock = threading.Lock()


def sign_b64(token_b64, key, workdir):
    """The guide's four steps for one token: echo | base64 -d > t.bin; openssl pkeyutl -sign ...;
    base64 -w0 sig.bin. Returns the base64 signature."""
    with _seq_lock:
        _seq[0] += 1
        n = _seq[0]
    d = pathlib.Path(workdir) / f"sign{n}"
    d.mkdir(parents=True)
    (d / "token.b64").write_text(token_b64 + "\n")
    with open(d / "token.bin", "wb") as f:
        p = subprocess.run(["base64", "-d", str(d / "token.b64")], stdout=f,
                           stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 0, p.stderr
    _run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-pkeyopt", "digest:sha256", "-keyform",
          "PEM", "-in", d / "token.bin", "-out", d / "token.sig.bin"])
    sig = _run(["base64", "-w0", d / "token.sig.bin"]).decode().strip()
    assert len(base64.b64decode(sig, validate=True)) == 256, "not an RSA-2048 signature"
    return sig


def read_json(path):
    return json.loads(pathlib.Path(path).read_text())


def write_json(path, obj):
    """Writes a complete file atomically (temp file + rename), as a script should."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def wait_json(path, ready=lambda d: True, timeout=60):
    """Waits until path holds JSON for which ready(data) is true; returns the data."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            data = json.loads(pathlib.Path(path).read_text())
            if ready(data):
                return data
        except (OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear (complete) in {timeout}s")
        time.sleep(0.05)


def check_mfa_file(data, count):
    """The unsigned MFA token file: version 2.0, one 32-byte token per HSM, nothing signed."""
    assert set(data) == {"version", "tokens"}, data
    assert data["version"] == "2.0", data
    assert len(data["tokens"]) == count, data
    for t in data["tokens"]:
        assert set(t) == {"unsigned", "signed"}, t
        assert len(t["unsigned"]) == 44, t
        assert len(base64.b64decode(t["unsigned"], validate=True)) == 32, t
        assert t["signed"] == "", t
    assert len({t["unsigned"] for t in data["tokens"]}) == count, "tokens repeat"


def sign_mfa(path, key, out=None, workdir=None):
    """Signs every token of an MFA (or registration) token file with key; writes out (default:
    the same file). Returns the signed data."""
    path = pathlib.Path(path)
    data = read_json(path)
    for t in data["tokens"]:
        t["signed"] = sign_b64(t["unsigned"], key, workdir or path.parent)
    write_json(out or path, data)
    return data


def approve(path, key, username, out=None, workdir=None):
    """An approver signs a quorum token file's "token" and adds {"username","signature"}."""
    path = pathlib.Path(path)
    data = read_json(path)
    sig = sign_b64(data["token"], key, workdir or path.parent)
    data["signatures"].append({"username": username, "signature": sig})
    write_json(out or path, data)
    return data


def approved_copy(src, dst, signers):
    """A copy of quorum token file src approved by signers: (username, private key path) pairs,
    each signing the file's "token" with openssl as the guide shows."""
    shutil.copy(src, dst)
    for who, key in signers:
        approve(dst, key, who)
    return pathlib.Path(dst)


APPROVAL_REC_LEN = 96


def approval_records(approval_b64):
    """The records of a token's approval_data (include/openhsm/token.h layout, big-endian):
    "OHQ1" | service | slot | 0[2] | hsm_id[16] | nonce[16] | username[32] | expires u64 |
    key_handle u64 | 0[8]. Returns a list of dicts; asserts the fixed parts."""
    data = base64.b64decode(approval_b64, validate=True)
    assert len(data) % APPROVAL_REC_LEN == 0, len(data)
    out = []
    for i in range(0, len(data), APPROVAL_REC_LEN):
        r = data[i:i + APPROVAL_REC_LEN]
        assert r[:4] == b"OHQ1" and r[6:8] == bytes(2) and r[88:] == bytes(8), r
        out.append({"service": r[4], "hsm_id": r[8:24].rstrip(b"\0").decode(),
                    "nonce": r[24:40], "username": r[40:72].rstrip(b"\0").decode(),
                    "expires": int.from_bytes(r[72:80], "big"),
                    "key_handle": int.from_bytes(r[80:88], "big")})
    return out


class Interactive:
    """`openhsm-cli interactive` over pipes: send lines, wait for prompts on stderr, read the JSON
    objects of stdout one at a time."""

    def __init__(self, cluster, **env):
        self.p = subprocess.Popen([CLI, "interactive"], env=cluster.env(**env),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.cond = threading.Condition()
        self.out = bytearray()
        self.err = bytearray()
        self.opos = 0
        self.epos = 0
        self.eof = [False, False]
        self.threads = [threading.Thread(target=self._pump, args=(self.p.stdout, self.out, 0),
                                         daemon=True),
                        threading.Thread(target=self._pump, args=(self.p.stderr, self.err, 1),
                                         daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, f, buf, k):
        fd = f.fileno()
        while True:
            try:
                b = os.read(fd, 65536)
            except OSError:
                b = b""
            with self.cond:
                if not b:
                    self.eof[k] = True
                    self.cond.notify_all()
                    return
                buf.extend(b)
                self.cond.notify_all()

    def _state(self):
        return (f"\n--- stdout ---\n{self.out.decode(errors='replace')}"
                f"\n--- stderr ---\n{self.err.decode(errors='replace')}")

    def send(self, line):
        self.p.stdin.write(line.encode() + b"\n")
        self.p.stdin.flush()

    def expect(self, text, timeout=60):
        """Waits for text (a prompt) on stderr after what was already matched."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                i = self.err.find(needle, self.epos)
                if i >= 0:
                    self.epos = i + len(needle)
                    return
                # A JSON object instead of the prompt: the command ended (an error, usually).
                rest = self.out[self.opos:].decode(errors="replace").strip()
                if rest.endswith("}") and self._try_obj(peek=True) is not None:
                    raise AssertionError(f"expected prompt {text!r}, got an answer:"
                                         + self._state())
                left = deadline - time.monotonic()
                if left <= 0 or self.eof[1]:
                    raise AssertionError(f"prompt {text!r} did not come" + self._state())
                self.cond.wait(min(left, 0.5))

    def _try_obj(self, peek=False):
        text = self.out[self.opos:].decode(errors="replace")
        stripped = text.lstrip()
        if not stripped:
            return None
        assert stripped[0] == "{", "stdout is not a JSON object:" + self._state()
        try:
            obj, end = json.JSONDecoder().raw_decode(stripped)
        except ValueError:
            return None
        if not peek:
            consumed = len(text) - len(stripped) + end
            self.opos += len(text[:consumed].encode())
        return obj

    def obj(self, timeout=120):
        """The next JSON object the shell prints."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = self._try_obj()
                if got is not None:
                    return got
                left = deadline - time.monotonic()
                if left <= 0 or self.eof[0]:
                    raise AssertionError("no JSON answer" + self._state())
                self.cond.wait(min(left, 0.5))

    def run(self, line, timeout=120):
        self.send(line)
        return self.obj(timeout)

    def ok(self, line):
        got = self.run(line)
        assert got["error_code"] == 0, (line, got)
        return got["data"]

    def stderr_since(self, mark):
        with self.cond:
            return self.err[mark:].decode(errors="replace")

    def mark(self):
        with self.cond:
            return len(self.err)

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        for t in self.threads:
            t.join(5)
        return self.p.returncode
