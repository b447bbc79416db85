/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm-pkcs11.so internals: the library's state, sessions, the pool of libopenhsm clients,
 * and the helpers the entry-point modules share.
 *
 * State: everything lives in one heap struct (p11_state) reached through p11_enter(), which also
 * checks the process: a forked child that has not called C_Initialize sees
 * CKR_CRYPTOKI_NOT_INITIALIZED, and its C_Initialize starts afresh, abandoning (never closing) the
 * parent's connections and locks, which belong to the parent.
 *
 * Locks (order: session -> state -> pool): the state lock guards the session table, the login
 * state and the session-object table; a session's own lock is held for a whole call on that
 * session (network calls included), so two threads on one session are serialised and different
 * sessions run in parallel. The state and session locks are the application's mutex functions when
 * it gave them without CKF_OS_LOCKING_OK, else pthread mutexes.
 *
 * Connections: a pool of libopenhsm clients (each one TLS connection per HSM, logged in as the
 * PKCS#11 user), shared by all sessions: a call borrows a free client for its duration, a new one
 * is opened (up to a limit) when all are busy. An HSM serves each connection on one thread, so
 * several connections let many application threads use every core of every HSM. All the clients
 * are in one libopenhsm session-object group (struct ohsm_sgroup), so the HSMs give their sessions
 * one set of session objects: any client uses any session object, and work on one key spreads
 * over every connection. Crypto operations that find every client busy queue on the least queued
 * one and run pipelined by its holder (p11_pool_cop).
 */
#ifndef OHSM_P11_H
#define OHSM_P11_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ck.h"
#include "openhsm/client.h"
#include "openhsm/secret.h"

#include "ckr.h"
#include "mech.h"
#include "stream.h"

/* Entry points exported from the module. */
#define P11_API __attribute__((visibility("default")))

/* Runs a libopenhsm call whose result does not matter (a best-effort logout or clean-up). */
#define P11_BEST_EFFORT(expr)                                                                      \
    do {                                                                                           \
        ohsm_rv p11_be_ = (expr);                                                                  \
        (void)p11_be_;                                                                             \
    } while (0)

#define P11_SLOT_ID 1UL
#define P11_MAX_SESSIONS 1024 /* CloudHSM: PKCS#11 sessions per application */
#define P11_POOL_MAX_DEFAULT 8
#define P11_POOL_MAX_LIMIT 64
#define P11_BUF_MAX (256u * 1024u) /* data buffered by multi-part one-shot mechanisms */

/* ---- logging (module.c) ---- */
enum p11_log_level { P11_LOG_ERROR = 0, P11_LOG_WARN = 1, P11_LOG_INFO = 2, P11_LOG_DEBUG = 3 };
/* One line to the log (stderr unless the configuration names a file). Never pass secrets. */
void p11_log(enum p11_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- locks ---- */
struct p11_lock {
    void *app;           /* the application's mutex (CreateMutex), or NULL */
    pthread_mutex_t mu;  /* used when app is NULL */
};
CK_RV p11_lock_init(struct p11_lock *l);
void p11_lock_destroy(struct p11_lock *l);
void p11_lock(struct p11_lock *l);
void p11_unlock(struct p11_lock *l);

/* ---- the pool of clients (pool.c) ---- */
struct p11_waiter;
struct p11_conn {
    struct ohsm_client *c;
    bool busy;
    unsigned login_gen; /* the login generation this client is in (see p11_pool) */
    /* Crypto operations of other threads waiting for this client (p11_pool_cop): its holder
     * runs them with its own, pipelined. */
    struct p11_waiter *qhead, *qtail;
    size_t qlen;
    bool handed; /* the last give-back handed the client to the queue (fairness, see pool.c) */
};

struct p11_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* threads waiting for any client (any_waiters of them) */
    unsigned any_waiters;
    const struct ohsm_cfg *cfg;
    struct ohsm_sgroup *group; /* every client's: one set of session objects per HSM */
    struct p11_conn *conn[P11_POOL_MAX_LIMIT];
    size_t n, max;
    unsigned client_flags; /* ohsm_client_new_flags */
    /* The login every client must be in: generation bumped by each C_Login / C_Logout. */
    unsigned login_gen;
    bool logged_in;
    char username[OHSM_USERNAME_MAX + 1];
    struct ohsm_secret *pw;
};

CK_RV p11_pool_init(struct p11_pool *p, const struct ohsm_cfg *cfg, size_t max,
                    unsigned client_flags);
/* Frees every client (logged out); no client may be borrowed. */
void p11_pool_fini(struct p11_pool *p);
/* Borrows a free client, opening a new one when all are busy and the pool is not full, else
 * waiting. The client is brought into the pool's login state first (a failure there is returned
 * and the client given back). */
CK_RV p11_pool_get(struct p11_pool *p, struct p11_conn **out);
void p11_pool_put(struct p11_pool *p, struct p11_conn *c);
/* One crypto operation (op->kind encrypt, decrypt, sign or verify; the caller's buffers) through
 * any client. When no client is free and the pool is full, the operation joins the queue of the
 * least queued client and that client's holder runs
 * it together with its own and the others queued, as one pipelined ohsm_client_batch (several
 * requests in flight on one connection instead of one thread at a time); a thread alone runs it as
 * the plain call. Returns a pool error (the operation did not run) or CKR_OK with op->rv its
 * result (OHSM_BUFFER_TOO_SMALL: op->out_len is the size needed). */
CK_RV p11_pool_cop(struct p11_pool *p, struct ohsm_cop *op);
/* C_Login / C_Logout on every client (the first does the real check on every HSM). */
CK_RV p11_pool_login(struct p11_pool *p, const char *user, const char *pw, size_t pw_len);
CK_RV p11_pool_logout(struct p11_pool *p);
bool p11_pool_logged_in(struct p11_pool *p);

/* ---- operations in a session ---- */
enum p11_opkind {
    P11_NONE = 0,
    P11_ENCRYPT,
    P11_DECRYPT,
    P11_SIGN,
    P11_VERIFY,
    P11_DIGEST,
};

struct p11_opst {
    enum p11_opkind kind;
    struct p11_mech m;        /* parsed mechanism; pointers own copies (param_copy, aad, label) */
    uint8_t *param_copy;      /* the application's parameter block, copied */
    size_t param_len;
    uint8_t *aad, *label;     /* owned copies of prm.aad / prm.label */
    CK_OBJECT_HANDLE key;
    CK_ULONG out_max;         /* upper bound of a single-part output (length queries) */
    bool multi;               /* Update was called: only Update/Final from now on */
    struct p11_stream *stream;
    void *md;                 /* EVP_MD_CTX * of a local hash (sign/verify with hashing, digest) */
    uint8_t *buf;             /* data buffered for one-shot mechanisms in multi-part use */
    size_t buf_len;
    /* A computed result the application's buffer was too small for: returned by the repeated
     * call (GCM encryption must not run twice: a second IV). Wiped when taken or ended. */
    uint8_t *held;
    size_t held_len;
};

struct p11_session {
    CK_SESSION_HANDLE h;
    CK_FLAGS flags; /* CKF_SERIAL_SESSION, CKF_RW_SESSION */
    struct p11_lock lock;
    unsigned refs;  /* guarded by the state lock */
    bool closed;
    struct p11_opst op[2]; /* [0] encrypt/decrypt/digest/sign/verify; dual ops are not offered */
    /* C_FindObjects state */
    bool finding;
    CK_OBJECT_HANDLE *found;
    size_t nfound, found_pos;
};

/* A session object and the session that made it. */
struct p11_sobj {
    CK_OBJECT_HANDLE h;
    CK_SESSION_HANDLE owner;
};

/* Facts of a key that never change (class, type, size): cached per handle so an operation's Init
 * needs no round trip after the first. */
struct p11_keyfacts {
    CK_OBJECT_HANDLE h;
    uint32_t cls, ktype;
    uint32_t modulus_bits, curve, value_len;
    uint32_t flags; /* may change: forgotten when this library changes the key's attributes */
};

struct p11_state {
    unsigned forks; /* the process's fork count when it was made (module.c) */
    bool app_locks; /* mutex functions of the application in use */
    CK_CREATEMUTEX create_mutex;
    CK_DESTROYMUTEX destroy_mutex;
    CK_LOCKMUTEX lock_mutex;
    CK_UNLOCKMUTEX unlock_mutex;
    struct p11_lock lock; /* guards what follows */
    struct ohsm_cfg *cfg;
    struct p11_pool pool;
    struct p11_session **sess;
    size_t nsess, sess_cap;
    CK_SESSION_HANDLE next_sess;
    size_t rw_sessions;
    struct p11_sobj *sobj;
    size_t nsobj, sobj_cap;
    struct p11_keyfacts *facts;
    size_t nfacts, facts_cap;
};

/* The live state of this process, or NULL (not initialized, or a forked child that has not called
 * C_Initialize). */
struct p11_state *p11_state_get(void);
/* Entry check of every function but C_Initialize/C_GetFunctionList/C_GetInterface*. */
#define P11_ENTER(st)                                                                              \
    struct p11_state *st = p11_state_get();                                                        \
    if (st == NULL) {                                                                              \
        return CKR_CRYPTOKI_NOT_INITIALIZED;                                                       \
    }

/* ---- sessions (session.c) ---- */
/* Finds and locks session h (CKR_SESSION_HANDLE_INVALID); p11_session_release unlocks it. */
CK_RV p11_session_acquire(struct p11_state *st, CK_SESSION_HANDLE h, struct p11_session **out);
void p11_session_release(struct p11_state *st, struct p11_session *s);
/* Whether session h exists (else CKR_SESSION_HANDLE_INVALID), for the calls that need nothing
 * more of it: acquires and releases it at once. */
CK_RV p11_session_check(struct p11_state *st, CK_SESSION_HANDLE h);
/* Copies mechanism m (its parameter block and the buffers it points to, except the GCM IV output,
 * which stays the application's) into op and parses it for `which` with a key of type kt. */
CK_RV p11_op_mech(struct p11_opst *op, const CK_MECHANISM *m, enum p11_op which, CK_KEY_TYPE kt);
/* Ends an operation, wiping and freeing what it holds. */
void p11_op_end(struct p11_opst *op);
/* Closes every session (C_Finalize, C_CloseAllSessions); destroys their session objects when
 * destroy is set. */
void p11_sessions_close_all(struct p11_state *st, bool destroy);
/* Whether s may make, change or destroy an object: a token object (token set) only through a R/W
 * session (else CKR_SESSION_READ_ONLY), a session object through any. */
CK_RV p11_session_writes(const struct p11_session *s, bool token);
/* The session state the application sees. */
CK_STATE p11_session_state(struct p11_state *st, const struct p11_session *s);

/* ---- objects (object.c) ---- */
/* Whether h is a session object of this application (made by one of its sessions). */
bool p11_obj_is_session(struct p11_state *st, CK_OBJECT_HANDLE h);
CK_RV p11_sobj_add(struct p11_state *st, CK_OBJECT_HANDLE h, CK_SESSION_HANDLE s);
void p11_sobj_del(struct p11_state *st, CK_OBJECT_HANDLE h);
/* Destroys the session objects of session s (all when s is 0) on their HSMs. */
void p11_sobj_destroy_of(struct p11_state *st, CK_SESSION_HANDLE s);
/* Key facts: from the cache, else from the HSM (the record also checks that h exists and is
 * visible). rec (may be NULL) gets the fresh record when one was read. Errors: CKR_*_HANDLE_INVALID
 * per ctx. */
CK_RV p11_key_facts(struct p11_state *st, CK_OBJECT_HANDLE h, enum p11_ckr_ctx ctx,
                    struct p11_keyfacts *out, struct ohsm_obj *rec, bool *have_rec);
void p11_key_facts_forget(struct p11_state *st, CK_OBJECT_HANDLE h);
/* Borrows a client (*c) and a result array of one entry per HSM (*res, *nh of them) for a change
 * sent to every HSM. The caller gives both back (free(*res), p11_pool_put(*c)) whatever this
 * returns: each is NULL when it was not had. */
CK_RV p11_fanout_get(struct p11_state *st, struct p11_conn **c, struct ohsm_result **res,
                     size_t *nh);
/* The CK_RV of a change sent to every HSM (p11_fanout_rv in object.c): a change made on some HSMs
 * while the others could not be reached stands; a refusal by any HSM is the answer. */
CK_RV p11_fanout_rv(ohsm_rv orv, const struct ohsm_result *res, size_t nh, enum p11_ckr_ctx ctx);
/* Reads object h's record through the right client. */
CK_RV p11_obj_read(struct p11_state *st, CK_OBJECT_HANDLE h, enum p11_ckr_ctx ctx,
                   struct ohsm_obj *out);

/* ---- role classes (keys.c) ----
 * Every key this library makes carries a role class (obj.h, OHSM_A_ROLE_CLASS), which the HSM
 * holds it to for life, so no sequence of calls gives one key (or one key pair) both the data
 * roles (encrypt, decrypt) and the wrapping roles (wrap, unwrap): the Tookan wrap/decrypt and
 * encrypt/unwrap attacks. A template with wrap or unwrap is a wrapping key, one with neither a data
 * key; one that asks for both gets no class and is refused nothing (CloudHSM's behaviour, needed by
 * tools such as pkcs11-tool whose RSA key pairs ask for all four), with a log line. b may be NULL
 * (the other half of a pair). */
uint32_t p11_role_class(const struct ohsm_tmpl_buf *a, const struct ohsm_tmpl_buf *b);
/* Appends the class to t (nothing for OHSM_ROLE_NONE). */
void p11_role_put(struct ohsm_tmpl_buf *t, uint32_t role);

/* ---- results ---- */
/* The CK_RV of a libopenhsm call's result, with the transport failures of every HSM mapped to
 * CKR_DEVICE_ERROR (some HSM answered) or CKR_DEVICE_REMOVED (none did). */
CK_RV p11_rv(ohsm_rv rv, enum p11_ckr_ctx ctx);
/* A failure of the transport (the HSM did not answer), not an answer. */
bool p11_rv_transport(ohsm_rv rv);
/* Puts a result of len bytes into the application's buffer per PKCS#11's length rules:
 * out NULL -> *out_len = len, CKR_OK (the caller keeps the operation); *out_len < len ->
 * CKR_BUFFER_TOO_SMALL with *out_len = len; else copies. */
CK_RV p11_give(const uint8_t *data, size_t len, CK_BYTE_PTR out, CK_ULONG_PTR out_len);

/* ---- growable arrays (util.c) ---- */
/* Room for element n of array v (cap elements of elem bytes, n <= cap): v itself while n < *cap,
 * else v reallocated to twice *cap (first when *cap is 0) with *cap updated. NULL when memory runs
 * out or the size would overflow: v is then unchanged and still the caller's. */
void *p11_grow(void *v, size_t *cap, size_t n, size_t elem, size_t first);

/* Blank-padded copies for CK_*_INFO text fields. */
void p11_pad(CK_UTF8CHAR *dst, size_t n, const char *src);

#endif
