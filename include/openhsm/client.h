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

#include "openhsm/mech.h"
#include "openhsm/obj.h"
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
/* ohsm_client_new with flags. OHSM_CLIENT_NO_THREADS: the client starts no threads of its own.
 * By default it opens the connections to several HSMs at once, one thread each, so that hung HSMs
 * cost one timeout together; an application that forbids threads (PKCS#11's
 * CKF_LIBRARY_CANT_CREATE_OS_THREADS) gets them opened one after the other. */
#define OHSM_CLIENT_NO_THREADS 1u
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_new_flags(const struct ohsm_cfg *cfg, unsigned flags,
                                                      struct ohsm_client **out);

/* Session-object sharing among the clients of one process. A group made by ohsm_sgroup_new names
 * itself to every HSM at each login of a client put in it (a random 16-byte value, sent only over
 * the clients' TLS connections), and the HSMs give all those logins, when they are of one user,
 * one set of session objects: any client of the group uses the session objects another made,
 * which live until the last of the group's sessions on that HSM ends. Without a group a client's
 * session objects are its own and die with its sessions. A PKCS#11 library keeps one group for
 * its pool of clients, so work on session objects spreads over all its connections. */
#define OHSM_SGROUP_TOKEN_LEN 16
struct ohsm_sgroup;
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_sgroup_new(struct ohsm_sgroup **out);
/* Drops the caller's reference (each client in the group holds one of its own). NULL ok. */
OHSM_API void ohsm_sgroup_free(struct ohsm_sgroup *g);
/* A new scope: logins from now on start a fresh set of session objects (the old set dies with
 * the sessions still in it), and the session objects known to the group are forgotten. Call it
 * when the user logs out or another logs in. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_sgroup_renew(struct ohsm_sgroup *g);
/* Puts c in group g (NULL: a group of its own) for its next logins; call it while c is logged
 * out. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_set_sgroup(struct ohsm_client *c,
                                                       struct ohsm_sgroup *g);

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
    /* What getHSMInfo and cluster hsm-info show (issue 11); a software HSM has no PCI device
     * (ids 0) and no separate private memory (0). Memory in KiB: the HSM host's. */
    uint32_t hsm_flags;
    uint32_t device_id, class_code, system_vendor_id, subsystem_id;
    uint64_t total_public_memory, free_public_memory;
    uint64_t total_private_memory, free_private_memory;
    uint32_t hardware_major, hardware_minor;
    uint32_t firmware_major, firmware_minor, build_number;
    bool temperature_known; /* false: the host has no sensor to read */
    int32_t temperature;    /* degrees Celsius */
    char firmware_id[48];   /* "openhsm-soft-FW-0.01-<build>" */
};

/* Information about HSM i (no login needed). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_hsm_info(struct ohsm_client *c, size_t i,
                                                     struct ohsm_hsm_info *out);

/* ==== Keys and cryptography (issue 4) ====
 * Token keys exist on every HSM with the same handle: the client creates a key on one HSM and
 * inserts its masked object into the others (res[i] is each HSM's part). Changes to a key (delete,
 * attributes, shares) go to every HSM. Reads and cryptography go to one HSM, round-robin over the
 * HSMs where this client is logged in, moving on to the next HSM when one is unreachable.
 * Session keys (token=false) live only on the HSM that made them and die with the session.
 * Outputs named **out are malloc'd; the caller frees them (and wipes plaintexts first). */

struct ohsm_keygen {
    uint32_t ktype;               /* enum ohsm_ktype */
    uint32_t length;              /* secret keys: bytes; RSA: modulus bits; EC: 0 */
    uint64_t public_exponent;     /* RSA; 0 = 65537 */
    uint32_t curve;               /* EC: enum ohsm_curve */
    const uint8_t *tmpl;          /* secret / private key attributes (encoded; may be NULL) */
    size_t tmpl_len;
    const uint8_t *pub_tmpl;      /* public key attributes (pairs) */
    size_t pub_tmpl_len;
    const char *const *share;     /* crypto users to share with */
    size_t nshare;
};

/* Generates a key or key pair. objs[0] is the secret or private key, objs[1] the public key;
 * *nobj gets 1 or 2. Returns OHSM_OK when the key exists on every HSM; when it could not be made
 * at all the HSM's error; when it exists on some HSMs only, the first failing HSM's code with the
 * key on the others (the client repairs those HSMs when they come back). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_generate(struct ohsm_client *c,
                                                         const struct ohsm_keygen *g,
                                                         struct ohsm_obj objs[2], size_t *nobj,
                                                         struct ohsm_result *res);
/* Imports material (secret keys raw, private keys PKCS#8 DER, public keys SPKI DER). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_import(struct ohsm_client *c, uint32_t cls,
                                                       uint32_t ktype, const uint8_t *material,
                                                       size_t len, const uint8_t *tmpl,
                                                       size_t tmpl_len, const char *const *share,
                                                       size_t nshare, struct ohsm_obj *obj,
                                                       struct ohsm_result *res);
/* Unwraps a wrapped key into a new key (replicated like a generated one). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_unwrap(
    struct ohsm_client *c, uint64_t unwrapping, const struct ohsm_mech_params *m,
    const uint8_t *wrapped, size_t wrapped_len, uint32_t cls, uint32_t ktype,
    const uint8_t *tmpl, size_t tmpl_len, const char *const *share, size_t nshare,
    struct ohsm_obj *obj, struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_delete(struct ohsm_client *c, uint64_t handle,
                                                       struct ohsm_result *res);
/* As ohsm_client_key_delete, without a round trip of its own when handle is a session object this
 * client's group knows (its HSM session up and logged in): the delete is queued on that HSM's
 * connection and written with the connection's next request, OHSM_OK is returned at once, and from
 * now on no call of any client of the group may name the handle (OHSM_KEY_HANDLE_INVALID). The
 * answer is read by a later call on the connection, which then forgets the object. If the
 * connection ends first (HSM closed it, HSM lost), the handle stays invalid and the delete goes
 * out again with the next call of any client of a shared group that logs a connection to that HSM
 * in (a second delete of an object already gone is answered "no such key", which forgets it as
 * well); until then, or if the client is freed first, the HSM frees the key at the latest with the
 * group's sessions. Any other handle gets the plain delete. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_delete_later(struct ohsm_client *c,
                                                             uint64_t handle,
                                                             struct ohsm_result *res);
/* Sets attributes (encoded template of one or more). obj (may be NULL) gets the new record. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_set_attrs(struct ohsm_client *c, uint64_t handle,
                                                          const uint8_t *tmpl, size_t tmpl_len,
                                                          struct ohsm_obj *obj,
                                                          struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_share(struct ohsm_client *c, uint64_t handle,
                                                      const char *username, bool share,
                                                      struct ohsm_result *res);
/* Keys the session may see matching tmpl (every key when tmpl_len is 0), in handle order, from
 * one HSM (balanced) / from HSM i. *objs malloc'd (NULL when *n is 0). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_find(struct ohsm_client *c, const uint8_t *tmpl,
                                                     size_t tmpl_len, struct ohsm_obj **objs,
                                                     size_t *n);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_find_on(struct ohsm_client *c, size_t i,
                                                        const uint8_t *tmpl, size_t tmpl_len,
                                                        struct ohsm_obj **objs, size_t *n);
/* One key's record: balanced / from HSM i. Errors: OHSM_KEY_HANDLE_INVALID (none the session may
 * see). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_get(struct ohsm_client *c, uint64_t handle,
                                                    struct ohsm_obj *obj);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_get_on(struct ohsm_client *c, size_t i,
                                                       uint64_t handle, struct ohsm_obj *obj);
/* The public key (SPKI DER) of an RSA/EC key, either half. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_export_public(struct ohsm_client *c,
                                                              uint64_t handle, uint8_t **out,
                                                              size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_wrap(struct ohsm_client *c, uint64_t wrapping,
                                                     uint64_t payload,
                                                     const struct ohsm_mech_params *m,
                                                     uint8_t **out, size_t *out_len);

/* Cryptography. encrypt: when m has no IV the HSM makes one and it is returned in iv (cap 16;
 * *iv_len 0 when none). AES-GCM always takes the HSM's IV: one in m is refused by the HSM
 * (OHSM_MECHANISM_PARAM_INVALID), as is one for AES-GCM key wrapping (the wrapped blob starts
 * with the IV the HSM made). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_encrypt(struct ohsm_client *c, uint64_t handle,
                                                    const struct ohsm_mech_params *m,
                                                    const uint8_t *in, size_t in_len,
                                                    uint8_t **out, size_t *out_len, uint8_t iv[16],
                                                    size_t *iv_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_decrypt(struct ohsm_client *c, uint64_t handle,
                                                    const struct ohsm_mech_params *m,
                                                    const uint8_t *in, size_t in_len,
                                                    uint8_t **out, size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_sign(struct ohsm_client *c, uint64_t handle,
                                                 const struct ohsm_mech_params *m,
                                                 const uint8_t *in, size_t in_len, uint8_t **out,
                                                 size_t *out_len);
/* OHSM_OK, or OHSM_SIGNATURE_INVALID when the signature does not verify. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_verify(struct ohsm_client *c, uint64_t handle,
                                                   const struct ohsm_mech_params *m,
                                                   const uint8_t *in, size_t in_len,
                                                   const uint8_t *sig, size_t sig_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_digest(struct ohsm_client *c, uint32_t hash,
                                                   const uint8_t *in, size_t in_len,
                                                   uint8_t **out, size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_random(struct ohsm_client *c, uint8_t *out,
                                                   size_t len);

/* Pipelined cryptography: runs n independent operations, keeping up to `window` requests in flight
 * per HSM and spreading them over the HSMs where the client is logged in (only HSM `only` when it
 * is not SIZE_MAX). Each op gets its own rv and output (out/out_cap/out_len, caller's buffer;
 * OHSM_BUFFER_TOO_SMALL sets out_len to the size needed) and, for an encryption that asked the
 * HSM for an IV, iv/iv_len. An op whose HSM fails, or does not know its key, moves to another
 * HSM. window is capped at 1024 (0 means 1). Returns OHSM_OK when every op succeeded, else the
 * rv of the first failing op (by index). */
enum ohsm_cop_kind { OHSM_COP_ENCRYPT = 1, OHSM_COP_DECRYPT = 2, OHSM_COP_SIGN = 3,
                     OHSM_COP_VERIFY = 4, OHSM_COP_DIGEST = 5 };
struct ohsm_cop {
    enum ohsm_cop_kind kind;
    uint64_t handle;
    const struct ohsm_mech_params *m;
    const uint8_t *in;
    size_t in_len;
    const uint8_t *sig; /* verify */
    size_t sig_len;
    uint8_t *out;
    size_t out_cap;
    size_t out_len;
    ohsm_rv rv;
    uint8_t iv[16]; /* encrypt: the IV the HSM generated (iv_len 0 when none) */
    size_t iv_len;
};
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_batch(struct ohsm_client *c, struct ohsm_cop *ops,
                                                  size_t n, size_t window, size_t only);

/* ---- masked objects and sync ---- */

/* Masked object of a key from HSM i / inserted into HSM i (replace: see MaskedInsertReq). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_masked_extract(struct ohsm_client *c, size_t i,
                                                           uint64_t handle, uint8_t **out,
                                                           size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_masked_insert(struct ohsm_client *c, size_t i,
                                                          const uint8_t *masked, size_t len,
                                                          bool replace, struct ohsm_obj *obj);
/* key_mgmt_util insertMaskedObject: the key of a masked object (of this cluster, extracted from a
 * key the logged-in crypto user owns) inserted as a new key: a new handle, the same on every HSM
 * (made on one, replicated like a generated key). obj gets its record; res[i] (may be NULL) each
 * HSM's result. Errors: OHSM_MASKED_OBJECT_INVALID (tampered, foreign, a tombstone),
 * OHSM_KEY_HANDLE_INVALID (not the user's key), OHSM_USER_TYPE_INVALID (not a crypto user). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_masked_insert_new(struct ohsm_client *c,
                                                              const uint8_t *masked, size_t len,
                                                              struct ohsm_obj *obj,
                                                              struct ohsm_result *res);

enum ohsm_sync_kind {
    OHSM_SYNC_MISSING = 1, /* the HSM lacks an object (or user) others have */
    OHSM_SYNC_EXTRA = 2,   /* the HSM has an object the others deleted (or never had) */
    OHSM_SYNC_STALE = 3,   /* the HSM has an older version (or a different one) */
};
struct ohsm_sync_item {
    size_t hsm;                        /* the HSM that differs (config index) */
    enum ohsm_sync_kind kind;
    bool is_user;
    uint64_t handle;                   /* objects; users: the user id */
    char username[OHSM_USERNAME_MAX + 1]; /* users */
};
struct ohsm_sync_hsm {
    ohsm_rv rv;                 /* OHSM_OK when the HSM answered */
    char objects_digest[65];    /* hex */
    char users_digest[65];
    size_t objects, users;
};
struct ohsm_sync_report {
    bool in_sync;               /* every reachable HSM equal and every HSM reachable */
    size_t nhsm;
    struct ohsm_sync_hsm *hsm;  /* nhsm entries */
    size_t nitems;
    struct ohsm_sync_item *items;
};
/* Asks every HSM for its digests and compares. Needs a login (admin, CU or AU). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_sync_status(struct ohsm_client *c,
                                                        struct ohsm_sync_report **out);
OHSM_API void ohsm_sync_report_free(struct ohsm_sync_report *r); /* NULL ok */
/* Repairs differences: missing/stale objects are inserted from an HSM that has the newest
 * version, extra objects (deleted elsewhere) are deleted; with an admin or appliance-user login,
 * users likewise (the newest sealed record, or the tombstone of a deleted user, is copied; an HSM
 * never takes an older record). *repaired (may be NULL) counts fixes. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_sync_repair(struct ohsm_client *c, size_t *repaired);
/* Copies one key / one user from HSM `from` to HSM `to` (CMU syncKey / syncUser). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_sync_key(struct ohsm_client *c, uint64_t handle,
                                                     size_t from, size_t to);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_sync_user(struct ohsm_client *c,
                                                      const char *username, size_t from,
                                                      size_t to);
/* Automatic repair (default on; off when the environment has OPENHSM_AUTO_REPAIR=0): after a login
 * on every HSM, and when an HSM that missed a change is reachable again, the client compares sync
 * status and repairs objects. */
#define OHSM_AUTO_REPAIR_ENV "OPENHSM_AUTO_REPAIR"
OHSM_API void ohsm_client_set_auto_repair(struct ohsm_client *c, bool on);


/* ==== MFA (token-sign) and quorum (M of N) (issue 5) ====
 * Tokens and signatures are as in include/openhsm/token.h. tokens[i], sigs[i] belong to HSM i of
 * the config (the CLI's token files list one token per HSM in config order). A call that fans out
 * fills res[i] per HSM as every other mutation does. */

/* One HSM's token: an MFA token (32 bytes) or an approval record (OHSM_APPROVAL_REC_LEN). len 0:
 * that HSM gave none (see res[i]). */
struct ohsm_token {
    uint8_t data[128];
    size_t len;
    uint32_t lifetime; /* seconds left when issued */
};

/* One approver's signature of a quorum token. */
struct ohsm_approval_sig {
    const char *username;
    const uint8_t *sig;
    size_t len;
};
/* A signed quorum token (the CLI's --approval file): data = approval_data (every HSM's record). */
struct ohsm_approval {
    const uint8_t *data;
    size_t len;
    const struct ohsm_approval_sig *sigs;
    size_t n;
};

/* MFA login, step 1: the password on every HSM; tokens (ohsm_client_hsm_count() entries) get each
 * HSM's fresh token. Per-HSM errors as login, plus OHSM_MFA_NOT_ENABLED. A user with MFA cannot
 * log in with ohsm_client_login (OHSM_MFA_REQUIRED); an MFA login is never repeated by itself
 * after a reconnect (it needs a new signature). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_login_mfa_begin(struct ohsm_client *c,
                                                            enum ohsm_utype type,
                                                            const char *username,
                                                            const char *password,
                                                            struct ohsm_token *tokens,
                                                            struct ohsm_result *res);
/* Step 2: sigs[i] / sig_lens[i] for HSM i (length 0: none, which fails that HSM's login and
 * abandons its token; sigs and sig_lens NULL: none for any HSM). Only HSMs that issued a token in step 1 are asked. *actual as in login.
 * Per-HSM errors: OHSM_TOKEN_INVALID, OHSM_TOKEN_EXPIRED, OHSM_TOKEN_NOT_FOUND, OHSM_PIN_LOCKED. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_login_mfa_finish(struct ohsm_client *c,
                                                             const uint8_t *const *sigs,
                                                             const size_t *sig_lens,
                                                             struct ohsm_result *res,
                                                             enum ohsm_utype *actual);

/* Registering an MFA key for username (oneself, or anyone as an admin), step 1: one fresh token
 * per HSM. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_mfa_register_begin(struct ohsm_client *c,
                                                               enum ohsm_utype type,
                                                               const char *username,
                                                               struct ohsm_token *tokens,
                                                               struct ohsm_result *res);
/* Step 2: registers pub_der (RSA-2048 SubjectPublicKeyInfo) on every HSM whose token sigs[i]
 * signs, and sets password. change_quorum: the same key becomes the user's quorum key. ap: an
 * approval for another user when the user service's quorum value is > 1 (NULL: none). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_mfa_register_finish(
    struct ohsm_client *c, enum ohsm_utype type, const char *username, const char *password,
    const uint8_t *pub_der, size_t pub_len, const uint8_t *const *sigs, const size_t *sig_lens,
    bool change_quorum, const struct ohsm_approval *ap, struct ohsm_result *res);
/* Removes username's MFA key (and quorum key with change_quorum) and sets password. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_mfa_deregister(struct ohsm_client *c,
                                                           enum ohsm_utype type,
                                                           const char *username,
                                                           const char *password,
                                                           bool change_quorum,
                                                           const struct ohsm_approval *ap,
                                                           struct ohsm_result *res);

/* User management with a quorum approval (ap NULL: as the calls without _q). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_create_user_q(struct ohsm_client *c,
                                                          enum ohsm_utype type,
                                                          const char *username,
                                                          const char *password,
                                                          const struct ohsm_approval *ap,
                                                          struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_delete_user_q(struct ohsm_client *c,
                                                          enum ohsm_utype type,
                                                          const char *username,
                                                          const struct ohsm_approval *ap,
                                                          struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_change_password_q(
    struct ohsm_client *c, enum ohsm_utype type, const char *username, const char *password,
    const struct ohsm_approval *ap, struct ohsm_result *res, bool *activated);

/* A quorum (or registration) token for service (enum ohsm_qservice; key_handle for the key
 * services, else 0): every HSM issues its record; *data (malloc'd, caller frees) is the records
 * of the HSMs that answered, in config order (the token file's approval_data). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_quorum_generate(struct ohsm_client *c, int service,
                                                            uint64_t key_handle, uint8_t **data,
                                                            size_t *len, struct ohsm_result *res);

struct ohsm_qtoken_info {
    char username[32];
    int service; /* enum ohsm_qservice */
    uint32_t approvals_required;
    uint32_t approvals;
    uint32_t timeout_seconds;
    uint64_t key_handle;
};
/* Tokens on HSM i (any user's). *out malloc'd (caller frees; NULL when n is 0). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_quorum_list(struct ohsm_client *c, size_t i,
                                                        struct ohsm_qtoken_info **out, size_t *n);

struct ohsm_quorum_values {
    uint32_t user, quorum, cluster;
};
/* Quorum values on HSM i (no login needed). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_quorum_values(struct ohsm_client *c, size_t i,
                                                          struct ohsm_quorum_values *out);
/* Sets a service's quorum value (1..8) on every HSM; ap when the quorum service's value is > 1. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_quorum_set(struct ohsm_client *c, int service,
                                                       uint32_t value,
                                                       const struct ohsm_approval *ap,
                                                       struct ohsm_result *res);
/* Deletes the session user's tokens (all false) or every token (all true, admins) everywhere. */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_quorum_delete(struct ohsm_client *c, bool all,
                                                          struct ohsm_result *res);
/* Registers the logged-in user's quorum public key: data = a registration token's approval_data,
 * sig = the signature of SHA-256(data). */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_quorum_register(struct ohsm_client *c,
                                                            const uint8_t *data, size_t len,
                                                            const uint8_t *sig, size_t sig_len,
                                                            const uint8_t *pub_der,
                                                            size_t pub_len,
                                                            struct ohsm_result *res);

/* Key quorum (issue 5): the key calls with approvals (NULL: none; as the calls without _q). An
 * approval is a quorum token of service key-usage (sign) or key-management (the others) generated
 * for that key (ohsm_client_quorum_generate with the key's handle) and signed by crypto users
 * associated with the key (owner or shared) that have a quorum key. Per-HSM/returned errors:
 * OHSM_QUORUM_REQUIRED, OHSM_QUORUM_INSUFFICIENT, OHSM_TOKEN_NOT_FOUND, ... */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_sign_q(struct ohsm_client *c, uint64_t handle,
                                                   const struct ohsm_mech_params *m,
                                                   const uint8_t *in, size_t in_len,
                                                   const struct ohsm_approval *ap, uint8_t **out,
                                                   size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_wrap_q(struct ohsm_client *c, uint64_t wrapping,
                                                       uint64_t payload,
                                                       const struct ohsm_mech_params *m,
                                                       const struct ohsm_approval *payload_ap,
                                                       const struct ohsm_approval *wrapping_ap,
                                                       uint8_t **out, size_t *out_len);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_unwrap_q(
    struct ohsm_client *c, uint64_t unwrapping, const struct ohsm_mech_params *m,
    const uint8_t *wrapped, size_t wrapped_len, uint32_t cls, uint32_t ktype,
    const uint8_t *tmpl, size_t tmpl_len, const char *const *share, size_t nshare,
    const struct ohsm_approval *ap, struct ohsm_obj *obj, struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_set_attrs_q(struct ohsm_client *c,
                                                            uint64_t handle, const uint8_t *tmpl,
                                                            size_t tmpl_len,
                                                            const struct ohsm_approval *ap,
                                                            struct ohsm_obj *obj,
                                                            struct ohsm_result *res);
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_share_q(struct ohsm_client *c, uint64_t handle,
                                                        const char *username, bool share,
                                                        const struct ohsm_approval *ap,
                                                        struct ohsm_result *res);

/* ---- key derivation (issue 15) ---- */

/* How to derive: the mechanism and its parameters (borrowed). OHSM_M_ECDH (PKCS#11
 * CKM_ECDH1_DERIVE): peer_point is the other party's X9.62 uncompressed point on the base key's
 * curve; kdf_hash an enum ohsm_hash (OHSM_H_NONE: the raw shared secret's leading bytes, PKCS#11
 * CKD_NULL, with no shared info; else the ANSI X9.63 KDF, CKD_SHAx_KDF, over shared_info). */
struct ohsm_derive {
    uint32_t mech;     /* OHSM_M_ECDH */
    uint32_t kdf_hash; /* enum ohsm_hash; OHSM_H_NONE = raw secret */
    const uint8_t *peer_point;
    size_t peer_point_len;
    const uint8_t *shared_info;
    size_t shared_info_len;
};

/* Derives a new secret key (cls OHSM_CLASS_SECRET; ktype OHSM_KT_AES or OHSM_KT_GENERIC_SECRET)
 * from key base in the HSM: base is an EC private key with derive=true that the user owns or is
 * shared; tmpl must give the length (value-len, bytes) and may give the other attributes. Made on
 * one HSM (the base key's own HSM when base is a session key) and replicated like an unwrapped key
 * (obj gets the record; res per HSM as for ohsm_client_key_generate). Errors:
 * OHSM_KEY_FUNCTION_NOT_PERMITTED (derive=false), OHSM_KEY_TYPE_INCONSISTENT (not an EC private
 * key), OHSM_MECHANISM_INVALID, OHSM_MECHANISM_PARAM_INVALID (bad point or KDF parameters),
 * OHSM_TEMPLATE_INCONSISTENT (another class or type, no value-len), OHSM_KEY_SIZE_RANGE,
 * OHSM_QUORUM_REQUIRED (base under a key quorum), OHSM_KEY_HANDLE_INVALID, ... */
OHSM_NODISCARD OHSM_API ohsm_rv ohsm_client_key_derive(struct ohsm_client *c, uint64_t base,
                                                       const struct ohsm_derive *d, uint32_t cls,
                                                       uint32_t ktype, const uint8_t *tmpl,
                                                       size_t tmpl_len, const char *const *share,
                                                       size_t nshare, struct ohsm_obj *obj,
                                                       struct ohsm_result *res);

#endif
