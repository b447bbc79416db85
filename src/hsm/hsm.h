/* SPDX-License-Identifier: Apache-2.0
 *
 * One HSM: its store, TLS context, session accounting, and the request dispatcher. The store is
 * shared by all session threads under `lock`; password hashing runs outside the lock.
 */
#ifndef OHSM_HSM_H
#define OHSM_HSM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "hsm.pb-c.h"
#include "openhsm/rv.h"
#include "openhsm/secret.h"
#include "store/store.h"

#define OHSM_HSM_MODEL "openhsm-soft"
#define OHSM_HSM_VENDOR "openhsm"
#define OHSM_HSM_FIRMWARE "0.1.0"
#define OHSM_HSM_DEFAULT_SESSIONS 64

struct ohsm_hsm {
    struct ohsm_store *store; /* guarded by lock */
    pthread_mutex_t lock;
    SSL_CTX *tls;
    struct ohsm_store_meta meta; /* ids, serial, lockout limit: fixed after open */
    struct ohsm_pwhash_cost cost;
    uint32_t max_sessions;
    atomic_uint sessions;
    atomic_bool stopping;
};

/* Per-connection state: who is logged in on this session. */
struct ohsm_session {
    bool logged_in;
    uint32_t uid;
};

/* Storage for one response and its body, so a handler needs no heap for fixed-size replies. */
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
};

void ohsm_reply_init(struct ohsm_reply *r, uint64_t id);
void ohsm_reply_clear(struct ohsm_reply *r);

/* Runs one validated request for a session and fills the reply (rv and body). */
void ohsm_dispatch(struct ohsm_hsm *h, struct ohsm_session *s, const Ohsm__Request *q,
                   struct ohsm_reply *r);

/* Serves connections on listening socket lfd until a byte arrives on stop_fd. */
OHSM_NODISCARD ohsm_rv ohsm_hsm_serve(struct ohsm_hsm *h, int lfd, int stop_fd);

#endif
