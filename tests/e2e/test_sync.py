# SPDX-License-Identifier: Apache-2.0
"""Keeping the HSMs of a cluster equal, as a user of openhsm-cli sees it: one HSM hangs (SIGSTOP)
while a crypto user creates, deletes and changes keys; when it is back, `cluster sync-status`
reports exactly what differs on it, `cluster sync-repair` makes the HSMs equal again, and the
client's automatic repair (on by default; OPENHSM_AUTO_REPAIR=0 turns it off) does the same by
itself on the next login, without a command.
"""
import re

import pytest

from test_cli import activate, as_admin, cli

CU_PIN = "alice:alice-pass1"
NO_REPAIR = {"OPENHSM_AUTO_REPAIR": "0"}


def as_cu(**extra):
    return {"CLOUDHSM_ROLE": "crypto-user", "CLOUDHSM_PIN": CU_PIN, **extra}


def prepare(cluster):
    activate(cluster)
    code, out, text = cli(cluster, "user", "create", "--username", "alice", "--role",
                          "crypto-user", "--password", "alice-pass1", **as_admin())
    assert code == 0, text


def gen(cluster, label, **env):
    code, out, text = cli(cluster, "key", "generate-symmetric", "aes", "--label", label,
                          "--key-length-bytes", "32", **as_cu(**env))
    assert out is not None, text
    if code == 0:
        return out["data"]["key"]["key-reference"], code
    # Made on some HSMs only: the message names the key and the HSMs that missed it.
    m = re.search(r"Key (0x[0-9a-f]{16}) created on \d+ of \d+ HSMs", out["data"])
    assert m, text
    return m.group(1), code


def status(cluster, **env):
    code, out, text = cli(cluster, "cluster", "sync-status", **as_cu(**env))
    assert code == 0, text
    return out["data"]


def labels(cluster, **env):
    code, out, text = cli(cluster, "key", "list", "--max-items", "100", "--verbose",
                          **as_cu(**env))
    assert code == 0, text
    return {k["key-reference"]: k["attributes"]["label"] for k in out["data"]["matched_keys"]}


def diverge(cluster):
    """Makes three keys, then, with HSM 1 hung: a new key, a deletion and a relabel. Returns the
    references (new, deleted, relabelled)."""
    k1, _ = gen(cluster, "one")
    k2, _ = gen(cluster, "two")
    st = status(cluster)
    assert st["in-sync"] is True, st
    d = [h["objects-digest"] for h in st["hsms"]]
    assert d[0] == d[1], st
    cluster.pause_hsm(1)
    try:
        k3, code = gen(cluster, "three", **NO_REPAIR)
        assert code != 0  # made on HSM 0 only; the CLI says so
        code, out, text = cli(cluster, "key", "delete", "--filter", f"key-reference={k1}",
                              **as_cu(**NO_REPAIR))
        assert out is not None, text
        code, out, text = cli(cluster, "key", "set-attribute", "--filter", f"key-reference={k2}",
                              "--name", "label", "--value", "two-renamed", **as_cu(**NO_REPAIR))
        assert out is not None, text
    finally:
        cluster.resume_hsm(1)
    return k3, k1, k2


def differences(st):
    return {(d["hsm-id"], d["kind"], d.get("key-reference")) for d in st["differences"]}


def test_sync_status_reports_and_repair_fixes(cluster):
    prepare(cluster)
    new, deleted, relabelled = diverge(cluster)
    hsm1 = cluster.cfg["hsms"][1]["id"]

    st = status(cluster, **NO_REPAIR)
    assert st["in-sync"] is False, st
    assert differences(st) == {(hsm1, "missing", new), (hsm1, "extra", deleted),
                               (hsm1, "stale", relabelled)}, st
    assert st["hsms"][0]["objects-digest"] != st["hsms"][1]["objects-digest"]
    assert st["hsms"][0]["users-digest"] == st["hsms"][1]["users-digest"]

    code, out, text = cli(cluster, "cluster", "sync-repair", **as_cu(**NO_REPAIR))
    assert code == 0, text
    assert out["data"]["repaired"] == 3, out
    assert out["data"]["in-sync"] is True, out

    st = status(cluster, **NO_REPAIR)
    assert st["in-sync"] is True and st["differences"] == [], st
    assert st["hsms"][0]["objects-digest"] == st["hsms"][1]["objects-digest"], st
    assert labels(cluster, **NO_REPAIR) == {new: "three", relabelled: "two-renamed"}


def test_automatic_repair_on_next_login(cluster):
    prepare(cluster)
    new, deleted, relabelled = diverge(cluster)
    assert status(cluster, **NO_REPAIR)["in-sync"] is False
    # Any command: the client logs in on both HSMs, sees the difference and repairs it.
    assert labels(cluster) == {new: "three", relabelled: "two-renamed"}
    st = status(cluster, **NO_REPAIR)
    assert st["in-sync"] is True, st
    assert st["hsms"][0]["objects-digest"] == st["hsms"][1]["objects-digest"], st


def test_sync_commands_need_login(cluster):
    prepare(cluster)
    code, out, text = cli(cluster, "cluster", "sync-status")
    assert code != 0 and out["error_code"] == 1, text
    code, out, text = cli(cluster, "cluster", "sync-repair")
    assert code != 0 and out["error_code"] == 1, text


@pytest.mark.parametrize("hsms", [3])
def test_sync_three_hsms_two_lagging(make_cluster, hsms):
    cluster = make_cluster(hsms=hsms)
    prepare(cluster)
    k1, _ = gen(cluster, "one")
    cluster.pause_hsm(1)
    cluster.pause_hsm(2)
    try:
        k2, code = gen(cluster, "two", **NO_REPAIR)
        assert code != 0
    finally:
        cluster.resume_hsm(1)
        cluster.resume_hsm(2)
    st = status(cluster, **NO_REPAIR)
    ids = [h["id"] for h in cluster.cfg["hsms"]]
    assert differences(st) == {(ids[1], "missing", k2), (ids[2], "missing", k2)}, st
    code, out, text = cli(cluster, "cluster", "sync-repair", **as_cu(**NO_REPAIR))
    assert code == 0 and out["data"]["in-sync"] is True, text
    assert len({h["objects-digest"] for h in out["data"]["hsms"]}) == 1, out
