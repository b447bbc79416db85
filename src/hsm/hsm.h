/* SPDX-License-Identifier: Apache-2.0
 *
 * One HSM: its store, masking key, object table, TLS context, session accounting, and the request
 * dispatcher. The store is shared by all session threads under `lock`; password hashing and
 * cryptography run outside it (cryptography takes references to immutable object-table entries).
 */
#ifndef OHSM_HSM_H
#define OHSM_HSM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hsm.pb-c.h"
#include "hsm/objtab.h"
#include "hsm/sgroup.h"
#include "hsm/ustate.h"
#include "openhsm/mask.h"
#include "openhsm/rv.h"
#include "openhsm/secret.h"
#include "openhsm/token.h"
#include "openhsm/user.h"
#include "store/store.h"

#define OHSM_HSM_MODEL "openhsm-soft"
#define OHSM_HSM_VENDOR "openhsm"
#define OHSM_HSM_FIRMWARE "0.1.0"
#define OHSM_HSM_DEFAULT_SESSIONS 64
#define OHSM_HSM_MAX_SESSIONS 4096 /* the most --max-sessions takes */
/* A shared session-object group lives only while a logged-in session is in it, and a login takes
 * its session slot before it joins a group: the group table never fills before the sessions do. */
_Static_assert(OHSM_SGROUPS_MAX >= OHSM_HSM_MAX_SESSIONS,
               "a group table smaller than the sessions");
#define OHSM_HSM_QTOKENS_MAX 256     /* live quorum tokens one HSM keeps */
#define OHSM_HSM_QTOKENS_USER_MAX 32 /* live key-service tokens of one user and service */

/* Connections without a login (server.c), in total and from one source address. */
#define OHSM_HSM_DEFAULT_UNAUTH 256
#define OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE 128

struct ohsm_conntab;  /* hsm/conntab.h */
struct ohsm_auditlog; /* hsm/auditlog.h */

/* A live quorum (or registration) token: in memory only; it dies with the session that made it,
 * on deletion, on expiry, and when an operation it approved succeeded. */
struct ohsm_qtok {
    uint64_t id;     /* unique while the process runs; 0: free slot */
    uint64_t serial; /* the session that generated it */
    uint32_t uid;    /* its owner */
    enum ohsm_qservice service;
    uint64_t expires; /* unix seconds */
    uint64_t key_handle;
    uint32_t approvals; /* valid distinct approvals seen at the last attempt */
    bool busy;          /* an approved operation is running on it */
    char user[OHSM_USERNAME_MAX + 1];
    uint8_t rec[OHSM_APPROVAL_REC_LEN]; /* the approval record it was issued as */
};

#define OHSM_HSM_SESS_HANDLE_BLOCK 1024u

struct ohsm_hsm {
    struct ohsm_store *store; /* guarded by lock */
    pthread_mutex_t lock;
    SSL_CTX *tls;
    struct ohsm_store_meta meta; /* ids, serial, lockout limit: fixed after open */
    struct ohsm_pwhash_cost cost;
    uint32_t max_sessions;
    atomic_uint sessions; /* logged-in sessions (at most max_sessions) */
    atomic_bool stopping;
    /* issue 4 */
    struct ohsm_mask_key *mk; /* the cluster masking key (derived keys); fixed after start */
    struct ohsm_objtab *objs; /* token objects (all) and session objects; own lock */
    uint32_t slot;            /* 0..31: the low bits of the handles this HSM allocates */
    atomic_uint user_gen;     /* bumped by every user change: sessions re-read their user */
    atomic_uint_fast64_t next_serial; /* session serials and session-object group ids */
    /* Handle counter values reserved in the store for session objects, [sess_next, sess_end),
     * OHSM_HSM_SESS_HANDLE_BLOCK at a time: taken without a store transaction (see keycore.c);
     * guarded by lock. */
    uint64_t sess_next, sess_end;
    /* issue 5 */
    uint32_t token_lifetime; /* seconds (MFA and quorum tokens); 0: OHSM_TOKEN_LIFETIME_DEFAULT */
    uint64_t (*now)(void);   /* the clock in unix seconds; NULL: time(NULL) (tests inject one) */
    uint64_t qtok_next;      /* guarded by lock */
    struct ohsm_qtok qtok[OHSM_HSM_QTOKENS_MAX]; /* guarded by lock */
    /* issue 10: live sessions and login attempts in flight per user */
    struct ohsm_ustate ustate;   /* guarded by lock */
    struct ohsm_sgroups sgroups; /* shared session-object groups; guarded by lock */
    uint32_t uid_reserved;       /* highest user id handed out by this process; guarded by lock */
    /* issue 10: connections without a login (server.c); set up by ohsm_hsm_serve */
    uint32_t unauth_max;        /* in total; 0: OHSM_HSM_DEFAULT_UNAUTH */
    uint32_t unauth_per_source; /* of one address; 0: OHSM_HSM_DEFAULT_UNAUTH_PER_SOURCE */
    pthread_mutex_t conn_lock;  /* guards conns; taken alone (never with lock) */
    struct ohsm_conntab *conns; /* guarded by conn_lock */
    atomic_uint threads;        /* live connection threads */
    /* issue 16: the audit log (auditlog.h); NULL: none (unit tests of the handlers) */
    struct ohsm_auditlog *audit;
};

/* Per-connection state: who is logged in on this session. The user's name and type are cached
 * and re-read from the store only when h->user_gen moved (a user changed somewhere), so a deleted
 * or demoted user loses its rights at once without SQL on every request. */
/* The session's pending MFA token (login or registration step 1); wiped when consumed. */
struct ohsm_mfa_pending {
    enum ohsm_mfa_kind kind; /* 0: none */
    uint32_t uid;            /* the user it is for (login: who logs in; register: the target) */
    uint64_t expires;        /* unix seconds */
    char user[OHSM_USERNAME_MAX + 1];
    uint8_t token[OHSM_TOKEN_LEN];
};

struct ohsm_session {
    bool logged_in;
    uint32_t uid;
    uint64_t serial; /* unique per session of this HSM process (quorum and MFA tokens) */
    /* The tag of the session objects this login sees and makes: a fresh id per login, shared
     * with the other sessions of its group when the login named one (sgroup.h). */
    uint64_t group;
    bool group_shared;    /* group is an entry of h->sgroups */
    enum ohsm_utype type; /* cached: valid while gen == h->user_gen */
    unsigned gen;
    char user[OHSM_USERNAME_MAX + 1];
    struct ohsm_mfa_pending mfa; /* issue 5 */
};

/* Sets up a session (new serial, logged out) / ends it (logs out: its session objects, pending
 * MFA token and quorum tokens die). */
void ohsm_session_init(struct ohsm_hsm *h, struct ohsm_session *s);
void ohsm_session_end(struct ohsm_hsm *h, struct ohsm_session *s);
/* Logs the session out (as ohsm_session_end); locked: the caller holds h->lock. */
void ohsm_session_logout(struct ohsm_hsm *h, struct ohsm_session *s, bool locked);

/* Storage for one response and its body, so a handler needs no heap for fixed-size replies;
 * variable-size parts come from a per-reply arena wiped and freed by ohsm_reply_clear. */
struct ohsm_reply_chunk;
struct ohsm_reply {
    Ohsm__Response resp;
    Ohsm__HelloResp hello;
    Ohsm__LoginResp login;
    Ohsm__ListUsersResp users;
    Ohsm__UserResp user;
    Ohsm__HsmInfoResp info;
    char name[32];
    struct ohsm_store_user *list; /* list_users: owned, freed by ohsm_reply_clear */
    Ohsm__User *items;
    Ohsm__User **ptrs;
    size_t n;
    /* issue 4 */
    Ohsm__KeyResp key;
    Ohsm__KeyFindResp found;
    Ohsm__DataResp data;
    Ohsm__MaskedResp masked;
    Ohsm__SyncStatusResp sync;
    ProtobufCBinaryData recs[2];
    ProtobufCBinaryData masks[2];
    uint8_t iv[16];
    /* issue 5 */
    Ohsm__TokenResp token;
    Ohsm__QuorumListResp qtokens;
    Ohsm__QuorumValuesResp qvalues;
    struct ohsm_reply_chunk *arena; /* everything allocated for this reply */
};

void ohsm_reply_init(struct ohsm_reply *r, uint64_t id);
/* Wipes and frees everything the reply allocated. */
void ohsm_reply_clear(struct ohsm_reply *r);
/* n zeroed bytes that live until ohsm_reply_clear (which wipes them: fit for plaintexts).
 * NULL when out of memory. */
void *ohsm_reply_alloc(struct ohsm_reply *r, size_t n);
/* As ohsm_reply_alloc, for data that is not secret (freed without wiping: large listings). */
void *ohsm_reply_alloc_public(struct ohsm_reply *r, size_t n);

/* Runs one validated request for a session and fills the reply (rv and body). */
void ohsm_dispatch(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                   struct ohsm_reply *r);

/* Opens the store's objects into a new object table (h->store and h->mk set). *skipped: objects
 * that did not open. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_load(struct ohsm_hsm *h, size_t *skipped);

/* Serves connections on listening socket lfd until a byte arrives on stop_fd (server.c). Sets up
 * h->conn_lock and h->conns from h->unauth_max / h->unauth_per_source. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_serve(struct ohsm_hsm *h, int lfd, int stop_fd);
/* The most connection threads ohsm_hsm_serve runs at once (each holds one descriptor). */
uint32_t ohsm_hsm_thread_cap(const struct ohsm_hsm *h);

#endif
