/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm: the client library. Reads a cluster configuration (HSM endpoints and trust anchor),
 * connects to every HSM over TLS 1.3 (verifying each against the trust anchor), logs in on each,
 * sends every mutation to all HSMs and reports a result per HSM, and keeps serving when an HSM is
 * down (that HSM's result is OHSM_NOT_CONNECTED or OHSM_TIMEOUT; the call goes on with the rest).
 * A lost connection is re-established on the next call (its login state is gone: the HSM reports
 * OHSM_USER_NOT_LOGGED_IN until the user logs in again).
 *
 * Thread-safety: one struct ohsm_client may be used from several threads; calls are serialised.
 *
 * Results: every call that touches several HSMs fills res[i] for each HSM i of the config (res
 * must have ohsm_client_hsm_count() entries) and returns OHSM_OK when every HSM succeeded, else the
 * first failing HSM's code.
 */
#ifndef OHSM_CLIENT_H
#define OHSM_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"
#include "openhsm/user.h"

/* Environment variable naming the cluster configuration when none is given. */
#define OHSM_CLUSTER_CONFIG_ENV "OPENHSM_CLUSTER_CONFIG"

struct ohsm_cfg;
struct ohsm_client;

/* Loads a cluster configuration (JSON written by openhsmd: cluster_id, trust_anchor, timeout_ms,
 * hsms[] of {id, host, port}). A relative trust_anchor path is taken relative to the file.
 * Errors: OHSM_CONFIG (message in err, which may be NULL), OHSM_HOST_MEMORY. Caller frees. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_cfg_load(const char *path, struct ohsm_cfg **out, char *err,
                                              size_t err_cap);
OHSM_API void ohsm_cfg_free(struct ohsm_cfg *cfg); /* NULL ok */
OHSM_API const char *ohsm_cfg_cluster_id(const struct ohsm_cfg *cfg);
OHSM_API size_t ohsm_cfg_hsm_count(const struct ohsm_cfg *cfg);

/* Connects to every HSM of cfg (borrowed; must outlive the client). HSMs that cannot be reached
 * are not an error here: they show as not connected. Errors: OHSM_HOST_MEMORY, OHSM_CONFIG. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_new(const struct ohsm_cfg *cfg,
                                                struct ohsm_client **out);
OHSM_API void ohsm_client_free(struct ohsm_client *c); /* NULL ok; closes connections */

struct ohsm_result {
    ohsm_rv rv;
};

struct ohsm_hsm_status {
    char id[32];      /* hsm-xxxxxxxxxxx */
    char host[64];    /* as in the config, e.g. 127.0.0.1 */
    uint16_t port;
    bool connected;   /* a live TLS session right now */
    ohsm_rv last_rv;  /* why it is not connected (OHSM_OK when it is) */
    bool logged_in;   /* this client's session on it is logged in */
    enum ohsm_utype user_type;
    char username[32];
};

OHSM_API size_t ohsm_client_hsm_count(const struct ohsm_client *c);
/* Status of HSM i (0-based, config order). Does not touch the network. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_hsm_status(struct ohsm_client *c, size_t i,
                                                       struct ohsm_hsm_status *out);
/* Tries to (re)connect every HSM that is not connected. Returns OHSM_OK if all are connected. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_reconnect(struct ohsm_client *c);

/* Logs in on every HSM. type is the type asked for (OHSM_UT_CO also matches the PRECO, as the CLI's
 * "admin" role names both). *actual (may be NULL) receives the user's type from the first HSM that
 * accepted. Per-HSM errors: OHSM_PIN_INCORRECT, OHSM_PIN_LOCKED, OHSM_USER_TYPE_INVALID,
 * OHSM_USER_ALREADY_LOGGED_IN, OHSM_NOT_CONNECTED, ... */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_login(struct ohsm_client *c, enum ohsm_utype type,
                                                  const char *username, const char *password,
                                                  struct ohsm_result *res, enum ohsm_utype *actual);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_logout(struct ohsm_client *c, struct ohsm_result *res);

OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_create_user(struct ohsm_client *c,
                                                        enum ohsm_utype type, const char *username,
                                                        const char *password,
                                                        struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_delete_user(struct ohsm_client *c,
                                                        enum ohsm_utype type, const char *username,
                                                        struct ohsm_result *res);
/* Sets a new password. For the PRECO's own password this activates the HSM (PRECO -> CO).
 * *activated (may be NULL) is set when at least one HSM was activated by this call. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_change_password(struct ohsm_client *c,
                                                            enum ohsm_utype type,
                                                            const char *username,
                                                            const char *password,
                                                            struct ohsm_result *res,
                                                            bool *activated);

struct ohsm_user_info {
    uint32_t id;
    enum ohsm_utype type;
    char username[32];
    uint32_t login_failures;
    bool locked;
    bool mfa;         /* 2FA registered */
    bool mofn_pubkey; /* quorum key registered */
};

/* Users on HSM i, in id order. *users is malloc'd (caller frees with free(); NULL when n is 0). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_list_users(struct ohsm_client *c, size_t i,
                                                       struct ohsm_user_info **users, size_t *n);

struct ohsm_hsm_info {
    char hsm_id[32];
    char cluster_id[32];
    char serial[32];
    char model[32];
    char vendor[32];
    char firmware[32];
    bool activated;
    bool fips;
    uint32_t users, max_users;
    uint32_t sessions, max_sessions;
    uint32_t lockout_attempts;
};

/* Information about HSM i (no login needed). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_hsm_info(struct ohsm_client *c, size_t i,
                                                     struct ohsm_hsm_info *out);

#endif
