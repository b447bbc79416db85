/* SPDX-License-Identifier: Apache-2.0
 *
 * The JSON shapes openhsm-cli prints, built by pure functions from library results so they can be
 * unit-tested without a cluster: the {"error_code", "data"} envelope, the merged `user list` of
 * all HSMs (locked on any HSM, MFA and quorum keys, cluster coverage), the merged `quorum
 * token-sign list`, one `cluster hsm-info` entry, CLI role names, and the message naming which
 * HSMs failed a fan-out call. Inputs are library results (trusted to be NUL-terminated within
 * their fixed arrays); nothing here touches the network or a secret.
 */
#ifndef OHSM_CLI_SHAPE_H
#define OHSM_CLI_SHAPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "openhsm/client.h"
#include "openhsm/token.h"

/* The result of one command. */
struct ohsm_cli_out {
    int error_code; /* 0 on success */
    json_t *data;   /* owned; an object, array or string */
    bool silent;    /* nothing to print (quit), or the command printed text itself (help) */
    bool secret;    /* data holds a plaintext: wiped (with its printed text) once printed */
};

/* Success with data (taken; NULL from a failed jansson call becomes an out-of-memory error). */
void ohsm_cli_out_ok(struct ohsm_cli_out *o, json_t *data);
/* Success whose data is a message string, e.g. "Logout successful". */
void ohsm_cli_out_msg(struct ohsm_cli_out *o, const char *msg);
/* Failure: error_code 1 and the formatted message as data. Replaces earlier data. */
__attribute__((format(printf, 2, 3))) void ohsm_cli_out_err(struct ohsm_cli_out *o, const char *fmt,
                                                            ...);
/* Frees data (wiping its strings first when secret) and resets o. */
void ohsm_cli_out_clear(struct ohsm_cli_out *o);
/* The envelope as pretty JSON (2-space indent, keys in insertion order); caller frees with free().
 * NULL when out of memory. */
char *ohsm_cli_out_dump(const struct ohsm_cli_out *o);

/* Sets o[k] = v (taken); false when v is NULL or the set fails. */
bool ohsm_cli_jput(json_t *o, const char *k, json_t *v);
/* A JSON string of s; bytes that are not UTF-8 become '?'. NULL when out of memory. */
json_t *ohsm_cli_jstr(const char *s);
/* Overwrites every string inside j (recursively) with zeros: for data that held a plaintext. */
void ohsm_cli_json_wipe(json_t *j);

/* Role as the CLI prints it: "admin", "crypto-user", "unactivated-admin",
 * "internal(APPLIANCE_USER)". */
const char *ohsm_cli_role_name(enum ohsm_utype t);

/* One HSM's part in a call that went to every HSM. */
struct ohsm_cli_hsm_result {
    const char *id;
    const char *host;
    uint16_t port;
    ohsm_rv rv;
};

/* Is rv a failure to reach the HSM (no trusted connection), as opposed to the HSM refusing? */
bool ohsm_cli_rv_unreachable(ohsm_rv rv);

/* Writes the error message for a fan-out call that failed somewhere, e.g.
 *   "User created on 1 of 2 HSMs; hsm-abc (127.0.0.1:2225): Not connected to the HSM"
 *   "Login failed: Invalid username or password"  (every HSM failed alike)
 *   "Quorum approval is required for this operation"  (every HSM asked for a quorum alike, the
 *   CloudHSM CLI's message as it prints it)
 * done: what success is called ("User created"); action: the operation ("Login"). */
void ohsm_cli_fanout_msg(char *buf, size_t cap, const char *done, const char *action,
                         const struct ohsm_cli_hsm_result *r, size_t n);

/* One HSM's `user list` answer. */
struct ohsm_cli_user_list {
    bool answered;
    const struct ohsm_user_info *users;
    size_t n;
};

/* {"users": [{"username", "role", "locked", "mfa", "quorum", "cluster-coverage"}...]} merged over
 * nhsm lists: users in the order first seen (HSM order, then id order); "locked" is "true" when
 * locked on any HSM; "mfa" / "quorum" list the token-sign strategy when any HSM holds the user's
 * MFA / quorum key; coverage is "full" when every HSM answered and lists the user, else
 * "partial". NULL when out of memory. */
json_t *ohsm_cli_users_json(const struct ohsm_cli_user_list *l, size_t nhsm);

/* One HSM's `quorum token-sign list` answer. */
struct ohsm_cli_qtoken_list {
    bool answered;
    const struct ohsm_qtoken_info *tokens;
    size_t n;
};

/* {"tokens": [{"username", "service", "approvals-required": {"value": N}, "number-of-approvals":
 * {"value": N}, "token-timeout-seconds": {"value": N}, "cluster-coverage"}...]} merged over nhsm
 * lists: one entry per (username, service, key) in the order first seen; approvals required is
 * the largest and approvals and timeout the smallest any HSM reports (what holds everywhere);
 * coverage "full" when every HSM answered and has the token. Tokens of the key services also get
 * "key-reference". NULL when out of memory. */
json_t *ohsm_cli_qtokens_json(const struct ohsm_cli_qtoken_list *l, size_t nhsm);

/* One `cluster hsm-info` entry. info is NULL when the HSM did not answer (info_rv says why);
 * cluster_id is used then. NULL when out of memory. */
json_t *ohsm_cli_hsm_json(const struct ohsm_hsm_status *st, const char *cluster_id,
                          const struct ohsm_hsm_info *info, ohsm_rv info_rv);

#endif
