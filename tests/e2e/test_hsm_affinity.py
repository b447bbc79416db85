# SPDX-License-Identifier: Apache-2.0
"""Issue 15: an HSM keeps a busy local client's thread and the HSM thread serving it on one CPU
(src/hsm/affinity.h), spoken on the raw wire from this (loopback) host:

- two logged-in connections used in turn, so neither is alone: the HSM threads serving them are
  each pinned to a single CPU, one the HSM process may use;
- one of them closed and the other going on alone: its thread gets the process's whole CPU set
  back (a lone connection's thread spins for its next request instead);
- the HSM's main (accept) thread is never pinned;
- twelve connections racing in and out on twelve client threads while their HSM threads are
  pinned and moved: every operation works, and afterwards nothing stays pinned.

Every wait is a condition with a deadline. Needs two CPUs or more (skips otherwise).
"""
import os
import threading

import pytest

import wire
from conftest import wait_for
from test_cli import cluster_with_users
from test_session_groups import encrypt, login, session_key

PW = "pinned-pass1"


@pytest.fixture(scope="module")
def hsm(tmp_path_factory):
    with cluster_with_users(tmp_path_factory.mktemp("affinity") / "data", 1, ("alice", PW)) as c:
        yield c


def cpus(pid, tid):
    """The CPUs thread tid of pid may run on (a set of ints), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            line = next(x for x in f if x.startswith("Cpus_allowed_list:"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return None
    out = set()
    for part in line.split(":", 1)[1].strip().split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def threads(pid):
    """{tid: CPU set} of pid's threads now."""
    got = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        c = cpus(pid, tid)
        if c is not None:
            got[int(tid)] = c
    return got


def test_busy_local_connections_pin_their_threads_and_a_lone_one_is_unpinned(hsm):
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to pin to")
    pid = hsm.hsm_process(0)
    whole = cpus(pid, pid)
    assert whole is not None and len(whole) >= 2, whole
    a, rv = login(hsm, "alice", PW, None)
    assert rv == 0
    b, rv = login(hsm, "alice", PW, None)
    assert rv == 0
    ka, kb = session_key(a, 2), session_key(b, 2)
    ids = iter(range(10, 10**9))

    def pinned_pair():
        for _ in range(20):  # in turn: neither connection is alone
            assert encrypt(a, ka, next(ids)) == 0
            assert encrypt(b, kb, next(ids)) == 0
        one = {t: c for t, c in threads(pid).items() if len(c) == 1}
        return one if len(one) >= 2 else None

    one = wait_for(pinned_pair, 20.0, "two HSM threads pinned to one CPU each")
    assert pid not in one, "the accept thread was pinned"
    assert all(c <= whole for c in one.values()), (one, whole)

    b.close()  # its thread ends; a goes on alone

    def unpinned():
        for _ in range(10):
            assert encrypt(a, ka, next(ids)) == 0
        now = threads(pid)
        return now if all(c == whole for c in now.values()) else None

    wait_for(unpinned, 20.0, "every HSM thread back on the process's CPUs")
    assert wire.call(a, next(ids), wire.LOGOUT).get(2, 0) == 0
    a.close()


def test_many_connections_racing_in_and_out_while_threads_move(hsm):
    """Twelve logged-in connections on twelve client threads encrypt at once, half of them
    closing and logging in again midway, while their HSM threads are pinned, moved and unpinned:
    every operation succeeds, and afterwards one connection alone leaves no thread pinned."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: nothing to pin to")
    pid = hsm.hsm_process(0)
    whole = cpus(pid, pid)
    errors = []

    def worker(n):
        try:
            for round_ in range(2 if n % 2 else 1):
                s, rv = login(hsm, "alice", PW, None)
                assert rv == 0, rv
                k = session_key(s, 2)
                for i in range(150):
                    got = encrypt(s, k, 10 + i)
                    assert got == 0, (n, round_, i, got)
                s.close()
        except Exception as e:  # reported below, with the others
            errors.append(repr(e))

    ts = [threading.Thread(target=worker, args=(n,)) for n in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts), "a client thread hung"
    assert not errors, errors
    a, rv = login(hsm, "alice", PW, None)
    assert rv == 0
    ka = session_key(a, 2)
    ids = iter(range(10, 10**9))

    def settled():
        for _ in range(5):
            assert encrypt(a, ka, next(ids)) == 0
        now = threads(pid)
        return now if all(c == whole for c in now.values()) else None

    wait_for(settled, 20.0, "every HSM thread back on the process's CPUs")
    a.close()
