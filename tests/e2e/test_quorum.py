# SPDX-License-Identifier: Apache-2.0
"""Quorum (M of N) authentication end to end, following the CloudHSM guide's first-time setup and
admin pages: admins register RSA-2048 keys with registration tokens they sign with the real openssl,
an admin sets the user service's quorum value to 2, and user management then needs a quorum token
approved by two distinct registered admins. Each check reads back what it changed (user list,
openhsm-cmu listUsers, quorum token-sign list / list-quorum-values), so an error that still changed
something, or a success that changed nothing, fails.
"""
import base64
import hashlib
import os
import shutil

import pytest

from test_cli import ADMIN_PW, activate, as_admin, cli, users
from test_cmu import cmu
from test_cmu import users as cmu_users
from tokens import Interactive, approve, read_json, rsa_key, sign_b64, sign_mfa, write_json

ADMINS = ("admin", "admin2", "admin3")
QUORUM_ON = [{"strategy": "token-sign", "status": "enabled"}]
REQUIRED = "Quorum approval is required for this operation"
INSUFFICIENT = "Not enough valid quorum approvals"
SET_OK = "Set quorum value successful"
SERVICES = {"user": 1, "quorum": 2, "cluster": 3, "registration": 4}
REC = 96


def pw_of(user):
    return ADMIN_PW if user == "admin" else f"{user}_Pw1234"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("qkeys")
    made = {}

    class Keys:
        def __getitem__(self, name):
            if name not in made:
                made[name] = rsa_key(d, name)
            return made[name]

    return Keys()


def shell_as(cluster, user, role="admin"):
    sh = Interactive(cluster)
    got = sh.run(f"login --username {user} --role {role} --password {pw_of(user)}")
    assert got == {"error_code": 0, "data": {"username": user, "role": role}}, got
    return sh


def create(cluster, user, role):
    code, out, text = cli(cluster, "user", "create", "--username", user, "--role", role,
                          "--password", pw_of(user), **as_admin())
    assert code == 0 and out["data"] == {"username": user, "role": role}, text


def records(approval_b64, cluster, service, user):
    """Checks the approval records: one per HSM in config order, for this service and user."""
    data = base64.b64decode(approval_b64, validate=True)
    hsms = cluster.cfg["hsms"]
    assert len(data) == REC * len(hsms), len(data)
    for i, h in enumerate(hsms):
        r = data[i * REC:(i + 1) * REC]
        assert r[:4] == b"OHQ1", r
        assert r[4] == SERVICES[service], r
        assert r[8:24].rstrip(b"\0").decode() == h["id"], r
        assert r[40:72].rstrip(b"\0").decode() == user, r
    return data


def b64sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def check_registration_file(path, cluster, user):
    d = read_json(path)
    assert set(d) == {"version", "tokens"} and d["version"] == "2.0", d
    assert len(d["tokens"]) == 1, d
    t = d["tokens"][0]
    assert set(t) == {"approval_data", "unsigned", "signed"} and t["signed"] == "", t
    data = records(t["approval_data"], cluster, "registration", user)
    assert t["unsigned"] == b64sha(data), t


def check_quorum_file(path, cluster, service, user):
    d = read_json(path)
    assert set(d) == {"version", "approval_data", "token", "signatures"}, d
    assert d["version"] == "2.0" and d["signatures"] == [], d
    data = records(d["approval_data"], cluster, service, user)
    assert d["token"] == b64sha(data), d
    return d


def register_key(cluster, tmp, keys, user, role="admin"):
    """The guide's registration: generate a registration token, sign it, register the key."""
    key, pub = keys[user]
    sh = shell_as(cluster, user, role)
    try:
        f = tmp / f"reg-{user}.json"
        got = sh.run(f"quorum token-sign generate --service registration --token {f}")
        assert got == {"error_code": 0, "data": {"filepath": str(f)}}, got
        check_registration_file(f, cluster, user)
        sign_mfa(f, key)
        got = sh.run(f"user change-quorum token-sign register --public-key {pub} "
                     f"--signed-token {f}")
        assert got == {"error_code": 0, "data": {"username": user, "role": role}}, got
    finally:
        assert sh.close() == 0
    return f


def prepare(cluster, tmp, keys, more=(), cus=()):
    """Activated; admins admin, admin2, admin3 with registered keys; more admins and crypto users
    without keys."""
    activate(cluster)
    for a in ADMINS[1:] + tuple(more):
        create(cluster, a, "admin")
    for u in cus:
        create(cluster, u, "crypto-user")
    for a in ADMINS:
        register_key(cluster, tmp, keys, a)


def values(cluster):
    code, out, text = cli(cluster, "quorum", "token-sign", "list-quorum-values", **as_admin())
    assert code == 0, text
    return out["data"]


def set_value(cluster, service, value):
    return cli(cluster, "quorum", "token-sign", "set-quorum-value", "--service", service,
               "--value", str(value), **as_admin())


def err(got, *needles):
    assert got["error_code"] == 1 and isinstance(got["data"], str), got
    for n in needles:
        assert n in got["data"], (n, got)
    return got["data"]


def token_list(sh):
    got = sh.run("quorum token-sign list")
    assert got["error_code"] == 0, got
    return got["data"]["tokens"]


def signed_copy(src, dst, signers, keys, over=None):
    """A copy of quorum token file src with signatures of signers (username, key name); over: sign
    that base64 value instead of the file's token."""
    shutil.copy(src, dst)
    for who, keyname in signers:
        if over is None:
            approve(dst, keys[keyname][0], who)
        else:
            d = read_json(dst)
            d["signatures"].append({"username": who,
                                    "signature": sign_b64(over, keys[keyname][0], dst.parent)})
            write_json(dst, d)
    return dst


# ---- the tests ----

def test_first_time_setup(cluster, keys, tmp_path):
    activate(cluster)
    for a in ("admin2", "admin3", "admin4"):
        create(cluster, a, "admin")
    listed = users(cluster)
    for u in listed.values():
        assert list(u) == ["username", "role", "locked", "mfa", "quorum", "cluster-coverage"], u
        assert u["quorum"] == [], u
    files = {a: register_key(cluster, tmp_path, keys, a) for a in ADMINS}

    # admin4 proves nothing: its token signed by another key, then a replayed registration file.
    key4, pub4 = keys["admin4"]
    sh = shell_as(cluster, "admin4")
    try:
        f = tmp_path / "reg-admin4.json"
        assert sh.run(f"quorum token-sign generate --service registration --token {f}")[
            "error_code"] == 0
        sign_mfa(f, keys["admin2"][0])
        err(sh.run(f"user change-quorum token-sign register --public-key {pub4} "
                   f"--signed-token {f}"), "does not verify")
        # admin's own (used) file with admin's key: not admin4's token, and consumed anyway.
        err(sh.run(f"user change-quorum token-sign register --public-key {keys['admin'][1]} "
                   f"--signed-token {files['admin']}"), "No such token")
        # An EC or RSA-1024 key is refused.
        _, weak = rsa_key(tmp_path, "weak", bits=1024)
        sign_mfa(f, key4)
        err(sh.run(f"user change-quorum token-sign register --public-key {weak} "
                   f"--signed-token {f}"), "RSA-2048")
    finally:
        sh.close()

    listed = users(cluster)
    for a in ADMINS:
        assert listed[a]["quorum"] == QUORUM_ON, listed[a]
        assert listed[a]["mfa"] == [], listed[a]
    assert listed["admin4"]["quorum"] == []
    assert listed["app_user"]["quorum"] == []
    cm = cmu_users(cmu(cluster, "listUsers\n"))
    for server in (0, 1):
        for a in ADMINS:
            assert cm[server][a][2] == "YES", cm
        assert cm[server]["admin4"][2] == "NO", cm

    assert values(cluster) == {"user": 1, "quorum": 1, "cluster": 1}
    code, out, text = set_value(cluster, "user", 2)
    assert code == 0 and out == {"error_code": 0, "data": SET_OK}, text
    assert values(cluster) == {"user": 2, "quorum": 1, "cluster": 1}


def test_user_service_needs_two_approvals(cluster, keys, tmp_path):
    prepare(cluster, tmp_path, keys, more=("admin4",), cus=("cu1", "t1", "t2"))
    register_key(cluster, tmp_path, keys, "cu1", role="crypto-user")  # a CU's key never counts
    code, out, text = set_value(cluster, "user", 2)
    assert code == 0, text

    sh = shell_as(cluster, "admin")
    try:
        err(sh.run("user delete --username t1 --role crypto-user"), REQUIRED)
        f1 = tmp_path / "user1.token"
        got = sh.run(f"quorum token-sign generate --service user --token {f1}")
        assert got == {"error_code": 0, "data": {"filepath": str(f1)}}, got
        tok = check_quorum_file(f1, cluster, "user", "admin")
        # One active token per user and service.
        err(sh.run(f"quorum token-sign generate --service user --token {tmp_path}/again.token"),
            "already exists")
        listed = token_list(sh)
        assert len(listed) == 1, listed
        t = listed[0]
        assert {k: t[k] for k in ("username", "service", "approvals-required",
                                  "number-of-approvals", "cluster-coverage")} == {
            "username": "admin", "service": "user", "approvals-required": {"value": 2},
            "number-of-approvals": {"value": 0}, "cluster-coverage": "full"}, t
        assert 0 < t["token-timeout-seconds"]["value"] <= 600, t

        def delete(target, approval):
            return sh.run(f"user delete --username {target} --role crypto-user "
                          f"--approval {approval}")

        one = signed_copy(f1, tmp_path / "one.token", [("admin2", "admin2")], keys)
        err(delete("t1", one), INSUFFICIENT)
        assert token_list(sh)[0]["number-of-approvals"] == {"value": 1}
        bad = {
            "twice": [("admin2", "admin2"), ("admin2", "admin2")],
            "cu": [("admin2", "admin2"), ("cu1", "cu1")],
            "unregistered": [("admin2", "admin2"), ("admin4", "admin4")],
            "wrong-key": [("admin2", "admin2"), ("admin3", "admin2")],
        }
        for name, signers in bad.items():
            a = signed_copy(f1, tmp_path / f"{name}.token", signers, keys)
            err(delete("t1", a), INSUFFICIENT)
        # admin3 signs some other token: it does not count for this one.
        other = base64.b64encode(os.urandom(32)).decode()
        a = signed_copy(f1, tmp_path / "other.token", [("admin2", "admin2")], keys)
        d = read_json(a)
        d["signatures"].append({"username": "admin3",
                                "signature": sign_b64(other, keys["admin3"][0], tmp_path)})
        write_json(a, d)
        err(delete("t1", a), INSUFFICIENT)
        listed = token_list(sh)
        assert len(listed) == 1 and listed[0]["number-of-approvals"] == {"value": 1}, listed
        assert {"t1", "t2"} <= set(users(cluster))

        good = signed_copy(f1, tmp_path / "good.token", [("admin2", "admin2"),
                                                         ("admin3", "admin3")], keys)
        assert read_json(good)["token"] == tok["token"]
        got = delete("t1", good)
        assert got == {"error_code": 0, "data": {"username": "t1", "role": "crypto-user"}}, got
        assert "t1" not in users(cluster)
        assert token_list(sh) == []  # used up
        # No replay: the same approval for another deletion fails and changes nothing.
        err(delete("t2", good), "No such token")
        assert "t2" in users(cluster)

        # The token's owner may approve it too: admin + admin3.
        f2 = tmp_path / "user2.token"
        assert sh.run(f"quorum token-sign generate --service user --token {f2}")[
            "error_code"] == 0
        a = signed_copy(f2, tmp_path / "owner.token", [("admin", "admin"), ("admin3", "admin3")],
                        keys)
        got = delete("t2", a)
        assert got == {"error_code": 0, "data": {"username": "t2", "role": "crypto-user"}}, got
        assert "t2" not in users(cluster)
        # Creating a user needs the quorum as well.
        err(sh.run("user create --username t3 --role crypto-user --password t3_Pw1234"),
            REQUIRED)
        assert "t3" not in users(cluster)
    finally:
        sh.close()


def test_setting_quorum_needs_quorum_once_set(cluster, keys, tmp_path):
    prepare(cluster, tmp_path, keys)
    for service in ("user", "quorum"):  # the quorum service's value is 1 for both settings
        code, out, text = set_value(cluster, service, 2)
        assert code == 0 and out["data"] == SET_OK, text
    assert values(cluster) == {"user": 2, "quorum": 2, "cluster": 1}

    code, out, text = set_value(cluster, "user", 1)
    assert code != 0 and REQUIRED in out["data"], text
    assert values(cluster)["user"] == 2

    sh = shell_as(cluster, "admin")
    try:
        # A user-service token, well approved, is not a quorum-service approval.
        fu = tmp_path / "u.token"
        assert sh.run(f"quorum token-sign generate --service user --token {fu}")[
            "error_code"] == 0
        au = signed_copy(fu, tmp_path / "u-ok.token", [("admin2", "admin2"),
                                                       ("admin3", "admin3")], keys)
        err(sh.run(f"quorum token-sign set-quorum-value --service user --value 1 "
                   f"--approval {au}"), "No such token")
        assert values(cluster)["user"] == 2

        fq = tmp_path / "q.token"
        assert sh.run(f"quorum token-sign generate --service quorum --token {fq}")[
            "error_code"] == 0
        check_quorum_file(fq, cluster, "quorum", "admin")
        one = signed_copy(fq, tmp_path / "q-one.token", [("admin2", "admin2")], keys)
        err(sh.run(f"quorum token-sign set-quorum-value --service user --value 1 "
                   f"--approval {one}"), INSUFFICIENT)
        assert values(cluster)["user"] == 2
        aq = signed_copy(fq, tmp_path / "q-ok.token", [("admin2", "admin2"),
                                                       ("admin3", "admin3")], keys)
        got = sh.run(f"quorum token-sign set-quorum-value --service user --value 1 "
                     f"--approval {aq}")
        assert got == {"error_code": 0, "data": SET_OK}, got
    finally:
        sh.close()
    assert values(cluster) == {"user": 1, "quorum": 2, "cluster": 1}


def test_value_limits_and_token_delete(cluster, keys, tmp_path):
    prepare(cluster, tmp_path, keys, more=("admin4",))
    # 4 admins, 3 of them with keys: 4 would make the service unusable.
    for v in (4, 9, 0):
        code, out, text = set_value(cluster, "user", v)
        assert code != 0 and out["error_code"] == 1, text
    code, out, text = set_value(cluster, "user", 4)
    assert "Invalid quorum value" in out["data"], text
    code, out, text = cli(cluster, "quorum", "token-sign", "set-quorum-value", "--service",
                          "bogus", "--value", "2", **as_admin())
    assert code != 0 and out["error_code"] == 1, text
    assert values(cluster) == {"user": 1, "quorum": 1, "cluster": 1}
    code, out, text = set_value(cluster, "user", 3)
    assert code == 0 and out["data"] == SET_OK, text
    code, out, text = set_value(cluster, "user", 1)  # the quorum service's value is still 1
    assert code == 0 and out["data"] == SET_OK, text
    assert values(cluster) == {"user": 1, "quorum": 1, "cluster": 1}

    sh = shell_as(cluster, "admin")
    sh2 = shell_as(cluster, "admin2")
    try:
        for s, who, service in ((sh, "admin", "user"), (sh, "admin", "quorum"),
                                (sh2, "admin2", "user")):
            got = s.run(f"quorum token-sign generate --service {service} "
                        f"--token {tmp_path}/{who}-{service}.token")
            assert got["error_code"] == 0, got
        listed = token_list(sh)
        assert sorted((t["username"], t["service"]) for t in listed) == [
            ("admin", "quorum"), ("admin", "user"), ("admin2", "user")], listed
        assert all(t["cluster-coverage"] == "full" for t in listed)
        got = sh.run("quorum token-sign delete --scope user")
        assert got == {"error_code": 0, "data": "Deletion of quorum token(s) successful"}, got
        assert [(t["username"], t["service"]) for t in token_list(sh)] == [("admin2", "user")]
        err(sh.run("quorum token-sign delete --scope everyone"))
        got = sh.run("quorum token-sign delete --scope all")
        assert got == {"error_code": 0, "data": "Deletion of quorum token(s) successful"}, got
        assert token_list(sh) == []
        assert token_list(sh2) == []
    finally:
        sh.close()
        sh2.close()


def test_bad_approval_files_change_nothing(cluster, keys, tmp_path):
    prepare(cluster, tmp_path, keys, cus=("t3",))
    code, out, text = set_value(cluster, "user", 2)
    assert code == 0, text
    sh = shell_as(cluster, "admin")
    try:
        f = tmp_path / "u.token"
        assert sh.run(f"quorum token-sign generate --service user --token {f}")[
            "error_code"] == 0
        good = signed_copy(f, tmp_path / "good.token", [("admin2", "admin2"),
                                                        ("admin3", "admin3")], keys)
        d = read_json(good)

        notjson = tmp_path / "notjson.token"
        notjson.write_text('{"version": "2.0", "approval_data": ')
        mismatch = tmp_path / "mismatch.token"
        m = dict(d)
        m["token"] = base64.b64encode(os.urandom(32)).decode()
        write_json(mismatch, m)
        v1 = tmp_path / "v1.token"
        write_json(v1, dict(d, version="1.0"))
        cut = tmp_path / "cut.token"
        ad = base64.b64decode(d["approval_data"])
        write_json(cut, dict(d, approval_data=base64.b64encode(ad[:-1]).decode()))
        cases = [(notjson, "JSON"), (mismatch, "token"), (v1, "1.0"), (cut, "approval_data"),
                 (tmp_path / "missing.token", "missing.token")]
        for path, needle in cases:
            msg = err(sh.run(f"user delete --username t3 --role crypto-user --approval {path}"),
                      needle)
            assert "Quorum approval is required" not in msg, msg
            assert "t3" in users(cluster)
        listed = token_list(sh)
        assert len(listed) == 1 and listed[0]["number-of-approvals"] == {"value": 0}, listed

        # The token was not touched: the good file still works.
        got = sh.run(f"user delete --username t3 --role crypto-user --approval {good}")
        assert got == {"error_code": 0, "data": {"username": "t3", "role": "crypto-user"}}, got
        assert "t3" not in users(cluster)
    finally:
        sh.close()
