# SPDX-License-Identifier: Apache-2.0
"""The permission table end to end: every cell that this issue's commands reach, through the real
cloudhsm_mgmt_util clone, for each session type (admin, crypto user, appliance user,
unauthenticated). Rows reached: get basic cluster info (listUsers, getHSMInfo), change own
password, change any user's password, add/remove users. The other rows (sync status, masked
objects, keys, crypto, digests) have no command yet; their cells are unit-tested in test_perm.c
and enforced by the same table in openhsm-hsm."""
from test_cmu import ADMIN_PW, activate, cmu, create, failed_on_all, list_users, per_server

DENIED = "This user type may not perform this operation"
NOT_LOGGED_IN = "User is not logged in"


def session(cluster, login, commands):
    """Runs commands after an optional loginHSM line, answering y to every caution prompt."""
    script = (login + "\n" if login else "")
    for c in commands:
        script += c + "\n"
        if c.split()[0] in ("createUser", "changePswd"):
            script += "y\n"
    return cmu(cluster, script + "quit\n")


def test_permission_cells_reached_by_user_commands(cluster):
    activate(cluster)
    cmu(cluster, f"loginHSM CO admin {ADMIN_PW}\n" + create("CU", "cu1", "cu1pass1") +
        create("CU", "victim", "victim01") + "quit\n")
    au_pw = cluster.app_user_password()
    logins = {
        "admin": f"loginHSM CO admin {ADMIN_PW}",
        "crypto-user": "loginHSM CU cu1 cu1pass1",
        "appliance-user": f"loginHSM AU app_user {au_pw}",
        "unauthenticated": None,
    }
    # Row "get basic cluster info": yes for every column.
    for who, login in logins.items():
        out = session(cluster, login, ["listUsers", "getHSMInfo"])
        assert out.count("Users on server") == 2, (who, out)
        assert "Serial Number" in out, (who, out)

    # Row "add, remove users": admin only.
    for who, login in logins.items():
        out = session(cluster, login, ["createUser CU newby newbypw1", "deleteUser CU victim"])
        if who == "admin":
            per_server(out, "createUser")
            per_server(out, "deleteUser")
        else:
            reason = NOT_LOGGED_IN if login is None else DENIED
            failed_on_all(out, "createUser", reason)
            failed_on_all(out, "deleteUser", reason)
    after = list_users(cluster)
    for s in (0, 1):
        assert "newby" in after[s] and "victim" not in after[s]

    # Row "change any user's password": admin only (target: newby).
    for who, login in logins.items():
        out = session(cluster, login, [f"changePswd CU newby byadmin{who[:3]}"])
        if who == "admin":
            per_server(out, "changePswd")
        else:
            failed_on_all(out, "changePswd", NOT_LOGGED_IN if login is None else DENIED)
    out = session(cluster, "loginHSM CU newby byadminadm", ["listUsers"])
    per_server(out, "loginHSM")

    # Row "change own password": admin, CU and AU yes; not applicable unauthenticated.
    out = session(cluster, logins["admin"], [f"changePswd CO admin {ADMIN_PW}2"])
    per_server(out, "changePswd")
    out = session(cluster, logins["crypto-user"], ["changePswd CU cu1 cu1pass2"])
    per_server(out, "changePswd")
    out = session(cluster, logins["appliance-user"], ["changePswd AU app_user appuser-new1"])
    per_server(out, "changePswd")
    out = session(cluster, None, ["changePswd CU cu1 hijacked1"])
    failed_on_all(out, "changePswd", NOT_LOGGED_IN)
    # the new passwords are the ones that work now
    per_server(session(cluster, f"loginHSM CO admin {ADMIN_PW}2", []), "loginHSM")
    per_server(session(cluster, "loginHSM CU cu1 cu1pass2", []), "loginHSM")
    per_server(session(cluster, "loginHSM AU app_user appuser-new1", []), "loginHSM")
