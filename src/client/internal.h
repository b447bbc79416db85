/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm internals shared by its modules: the parsed config, one TLS connection to an HSM,
 * the client's per-HSM state, and the routing engine (route.c) the key, crypto and sync modules
 * build on. Every function declared under "engine" expects the caller to hold c->lock.
 */
#ifndef OHSM_CLIENT_INTERNAL_H
#define OHSM_CLIENT_INTERNAL_H

#include <pthread.h>

#include <openssl/ssl.h>

#include "openhsm/client.h"
#include "openhsm/secret.h"
#include "openhsm/token.h"
#include "wire/wire.h"

struct ohsm_cfg_hsm {
    char id[32];
    char host[64];
    uint16_t port;
};

struct ohsm_cfg {
    char cluster_id[32];
    char trust_anchor[512];
    int timeout_ms;
    size_t n;
    struct ohsm_cfg_hsm *hsms;
};

/* ---- one connection (conn.c) ---- */

struct ohsm_conn;

/* A TLS 1.3 client context trusting only the cluster's trust anchor. */
OHSM_NODISCARD ohsm_rv ohsm_conn_ctx(const char *trust_anchor, SSL_CTX **out);
/* Connects, verifies the HSM's certificate (chain to the anchor, and the host name or IP), and
 * says hello, all within timeout_ms (one deadline: a peer trickling bytes during the handshake or
 * the hello costs at most that); an HSM whose id differs from the config's is refused
 * (OHSM_CONFIG). Errors: OHSM_TIMEOUT, OHSM_NOT_CONNECTED, OHSM_TLS, OHSM_CONFIG, ... */
OHSM_NODISCARD ohsm_rv ohsm_conn_open(SSL_CTX *ctx, const struct ohsm_cfg_hsm *e, int timeout_ms,
                                      struct ohsm_conn **out);
void ohsm_conn_free(struct ohsm_conn *c); /* NULL ok */
/* The handle slot the HSM announced in its hello. */
uint32_t ohsm_conn_slot(const struct ohsm_conn *c);
/* The I/O calls below take an absolute deadline (ohsm_deadline_in, client/deadline.h) that the
 * caller computes once per request, or per pipelined burst; a write or read that would block
 * waits at most until then and fails with OHSM_TIMEOUT. A failed connection is not usable
 * any more (drop it). */
/* Sends one request now (queue + flush). */
OHSM_NODISCARD ohsm_rv ohsm_conn_send(struct ohsm_conn *c, const Ohsm__Request *q,
                                      int64_t deadline);
/* Appends one framed request to the connection's write buffer (flushed by ohsm_conn_flush, or
 * when the buffer grows past its limit, by the deadline given). The buffer is wiped after every
 * write: requests carry plaintexts, key material and passwords. Errors: OHSM_DATA_LEN_RANGE,
 * OHSM_HOST_MEMORY, and write errors of an implied flush. */
OHSM_NODISCARD ohsm_rv ohsm_conn_queue(struct ohsm_conn *c, const Ohsm__Request *q,
                                       int64_t deadline);
/* Writes everything queued with one SSL_write. */
OHSM_NODISCARD ohsm_rv ohsm_conn_flush(struct ohsm_conn *c, int64_t deadline);
/* Bytes queued and not yet written. */
size_t ohsm_conn_queued(const struct ohsm_conn *c);
/* Reads the response to request id (responses come in request order). The raw frame is wiped.
 * Errors: OHSM_TIMEOUT, OHSM_NOT_CONNECTED, OHSM_TLS, OHSM_PROTOCOL, OHSM_DATA_LEN_RANGE. */
OHSM_NODISCARD ohsm_rv ohsm_conn_recv(struct ohsm_conn *c, uint64_t id, int64_t deadline,
                                      Ohsm__Response **out);
/* Deferred requests: queued now and written with the connection's next request (the next
 * flush), their answers read by whichever later ohsm_conn_recv meets them (answers come in
 * request order), which hands each to the connection's callback with the request's tag and the
 * answer's rv; ohsm_conn_free hands the unanswered ones over with OHSM_NOT_CONNECTED (outcome
 * unknown: perhaps never sent). At most OHSM_CONN_DEFERRED_MAX at a time: else
 * OHSM_BUFFER_TOO_SMALL, nothing queued. A failed implied flush (a big queue) fails the
 * connection. */
#define OHSM_CONN_DEFERRED_MAX 8
typedef void (*ohsm_conn_deferred_fn)(void *arg, uint64_t tag, ohsm_rv rv);
void ohsm_conn_on_deferred(struct ohsm_conn *c, ohsm_conn_deferred_fn fn, void *arg);
OHSM_NODISCARD ohsm_rv ohsm_conn_queue_deferred(struct ohsm_conn *c, const Ohsm__Request *q,
                                                uint64_t tag, int64_t deadline);
/* Deferred requests whose answers have not been read. */
size_t ohsm_conn_deferred(const struct ohsm_conn *c);
/* Is a response (or part of one) readable without blocking? */
bool ohsm_conn_readable(struct ohsm_conn *c);
int ohsm_conn_fd(const struct ohsm_conn *c);
/* Monotonic request ids for this connection. */
uint64_t ohsm_conn_next_id(struct ohsm_conn *c);

/* Responses are freed with ohsm_wire_resp_free, which wipes DataResp (plaintexts) first. */

/* ---- client state ---- */

struct hsm_slot {
    const struct ohsm_cfg_hsm *cfg;
    struct ohsm_conn *conn;
    ohsm_rv last_rv;
    bool logged_in;
    enum ohsm_utype type;
    char username[32];
    int64_t retry_at_ms; /* after a timeout, no new attempt before this (monotonic ms) */
    int64_t used_ms;     /* the last call through conn (monotonic ms): idle check */
    int32_t slot;        /* handle slot from the last hello; -1 before the first */
    bool missed;         /* a change applied elsewhere failed here (auto repair candidate) */
    bool relogin_failed; /* the saved credentials were refused here: do not try again */
    /* Two-step calls (auth.c): whether step 1 left a token pending on this HSM's session, else
     * step 1's result here (OHSM_TOKEN_NOT_FOUND when there was no step 1), which step 2
     * reports for this HSM without asking it. */
    bool mfa_pending; /* MFA login */
    ohsm_rv mfa_rv;
    bool reg_pending; /* MFA registration */
    ohsm_rv reg_rv;
};

/* A session object this client made: it lives only on one HSM and only while the connection it
 * was made on stays up. */
struct sess_obj {
    uint64_t handle;
    size_t hsm;
    bool dying;  /* a deferred delete was sent (ohsm_client_key_delete_later), not answered yet */
    bool resend; /* dying, and that delete's connection ended unanswered: to be sent again */
};

struct ohsm_client {
    const struct ohsm_cfg *cfg;
    SSL_CTX *tls;
    pthread_mutex_t lock;
    size_t n;
    struct hsm_slot *hsm;
    size_t rr; /* round-robin cursor for reads, crypto and creation */
    /* The last successful login, replayed on reconnect (wiped at logout and free). */
    struct ohsm_secret *cred_pw;
    enum ohsm_utype cred_type;
    char cred_user[OHSM_USERNAME_MAX + 1];
    bool auto_repair;
    bool no_threads; /* the application forbids threads of ours (PKCS#11 C_Initialize flag) */
    bool in_repair;  /* repair's own requests never trigger repair */
    struct ohsm_sgroup *sg; /* the session objects it knows of (sgroup.c): its own, or shared */
};

/* ---- engine (route.c); caller holds c->lock ---- */

#define OHSM_ALL SIZE_MAX

/* Transport failures: the HSM did not answer (the call may move to another HSM). */
bool ohsm_rv_is_transport(ohsm_rv rv);
/* Makes sure HSM i is connected; a new connection is logged in again with the saved credentials
 * when relogin is set. Returns the connection error or the re-login error. */
OHSM_NODISCARD ohsm_rv ohsm_route_ensure(struct ohsm_client *c, size_t i, bool relogin);
/* Opens, at the same time, the connection of every HSM with use[i] (all when use is NULL) that has
 * none and is not inside the retry window of a timeout, so that any number of hung or trickling
 * HSMs cost one timeout together (a thread per connection when there are several). New sessions
 * are not logged in (ohsm_route_ensure does that); failures are recorded per HSM (last_rv). */
void ohsm_route_connect(struct ohsm_client *c, const bool *use);
/* Drops HSM i's connection (its session objects die with it). */
void ohsm_route_drop(struct ohsm_client *c, size_t i, ohsm_rv why);

/* Sends the k requests qs[0..k) to every HSM i with use[i] (all when use is NULL), pipelined
 * (all sent before any answer is read), and collects the answers: res[i] gets HSM i's first
 * failure (its transport error or the first non-OK rv), resp[i * k + j] the answer to qs[j]
 * (NULL when none; caller frees with ohsm_route_free_resps). relogin: as ohsm_route_ensure.
 * Returns the first failing HSM's code. */
OHSM_NODISCARD ohsm_rv ohsm_route_fanout(struct ohsm_client *c, Ohsm__Request *const *qs, size_t k,
                                         const bool *use, bool relogin, struct ohsm_result *res,
                                         Ohsm__Response **resp);
/* As ohsm_route_fanout, with requests that differ per HSM: HSM i gets qs[i * k .. i * k + k)
 * (entries of HSMs not in use are not read and may be NULL). */
OHSM_NODISCARD ohsm_rv ohsm_route_fanout_per(struct ohsm_client *c, Ohsm__Request *const *qs,
                                             size_t k, const bool *use, bool relogin,
                                             struct ohsm_result *res, Ohsm__Response **resp);
void ohsm_route_free_resps(Ohsm__Response **resp, size_t n); /* frees the array too */

/* ohsm_route_one flags. */
#define OHSM_ROUTE_HANDLE_RETRY 1u /* move on after OHSM_KEY_HANDLE_INVALID */
#define OHSM_ROUTE_CREATES 2u      /* not repeatable: no move after a timeout (it may have run) */

/* Sends q to one HSM and returns its answer in *resp (caller frees with ohsm_wire_resp_free) and
 * the HSM's index in *used (may be NULL). Order: HSM `pin` only when pin != OHSM_ALL; else the
 * logged-in HSMs round-robin starting at `prefer` when it is not OHSM_ALL (or all HSMs when none
 * is logged in). Moves on after a transport failure (with OHSM_ROUTE_CREATES only when the HSM
 * surely did not run the request: no connection, or the connection found dead), and after
 * OHSM_KEY_HANDLE_INVALID with OHSM_ROUTE_HANDLE_RETRY. Returns the answer's rv (or the last
 * transport failure). */
OHSM_NODISCARD ohsm_rv ohsm_route_one(struct ohsm_client *c, Ohsm__Request *q, size_t pin,
                                      size_t prefer, unsigned flags, Ohsm__Response **resp,
                                      size_t *used);
/* Indices of the HSMs to try for a balanced operation (logged-in first); returns the count. */
size_t ohsm_route_order(struct ohsm_client *c, size_t prefer, size_t *order);

/* Session objects: where a handle lives (OHSM_ALL for token objects or unknown handles), in *pin;
 * OHSM_KEY_HANDLE_INVALID for a session object being deleted (its delete sent, not answered):
 * no request may name it any more, on any client of the group. */
OHSM_NODISCARD ohsm_rv ohsm_route_sess_pin(const struct ohsm_client *c, uint64_t handle,
                                           size_t *pin);
/* The answer to a deferred delete of session object `tag` (an ohsm_conn_deferred_fn, arg the
 * client): an OK (or the HSM not knowing the handle) forgets the object; OHSM_NOT_CONNECTED (the
 * connection ended first: sent or not, unknown) marks it for sending again, on the next
 * connection to its HSM that any client of the group logs in (ohsm_route_ensure); any other
 * outcome keeps it dying, so its handle stays invalid here while the HSM may still hold it (the
 * HSM frees it with the group's sessions). */
void ohsm_route_deferred_answer(void *arg, uint64_t tag, ohsm_rv rv);
/* Up to max session objects of HSM hsm marked for sending their delete again, into out, their
 * marks cleared; returns how many (no lock taken while none is marked anywhere). */
size_t ohsm_route_sess_resend_take(struct ohsm_client *c, size_t hsm, uint64_t *out, size_t max);
/* Marks them again (their deletes could not be queued). */
void ohsm_route_sess_resend_put(struct ohsm_client *c, const uint64_t *handles, size_t n);
/* Marks a live session object dying (*hsm: where it lives); false when handle is no live session
 * object (unknown, a token object's, or dying already). */
bool ohsm_route_sess_doom(struct ohsm_client *c, uint64_t handle, size_t *hsm);
/* Makes a dying session object live again (its delete was not sent). */
void ohsm_route_sess_undoom(struct ohsm_client *c, uint64_t handle);
OHSM_NODISCARD ohsm_rv ohsm_route_sess_add(struct ohsm_client *c, uint64_t handle, size_t hsm);
void ohsm_route_sess_del(struct ohsm_client *c, uint64_t handle);
/* Forgets the session objects on HSM hsm (OHSM_ALL: all). */
void ohsm_route_sess_drop(struct ohsm_client *c, size_t hsm);
/* The HSM of the first known session object (OHSM_ALL: none). */
size_t ohsm_route_sess_home(const struct ohsm_client *c);
/* Whether a known session object lives on HSM hsm (OHSM_ALL: on any). */
bool ohsm_route_sess_on(const struct ohsm_client *c, size_t hsm);
/* Groups (sgroup.c): a client's own (its token never sent), a reference more, the login token
 * (false: own group, no token). */
OHSM_NODISCARD ohsm_rv ohsm_sgroup_private(struct ohsm_sgroup **out);
void ohsm_sgroup_hold(struct ohsm_sgroup *g);
bool ohsm_sgroup_token(struct ohsm_sgroup *g, uint8_t out[OHSM_SGROUP_TOKEN_LEN]);
bool ohsm_sgroup_is_shared(const struct ohsm_sgroup *g);
/* Marks HSMs that failed a change that succeeded on at least one other HSM (auto repair). */
void ohsm_route_note_missed(struct ohsm_client *c, const struct ohsm_result *res, const bool *use);

/* ---- requests to every HSM (client.c), shared with auth.c ---- */

/* Called for every HSM that answered OHSM_OK (the answer is borrowed). */
typedef void (*ohsm_each_fn)(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg);
/* Runs q on every HSM (or HSM `only`), res[i] per HSM, then `each` (may be NULL) on every HSM
 * that answered OK. relogin: as ohsm_route_ensure (false for the login calls themselves). The
 * caller holds c->lock. Returns the first failing HSM's code. */
OHSM_NODISCARD ohsm_rv ohsm_client_run_locked(struct ohsm_client *c, Ohsm__Request *q, size_t only,
                                              bool relogin, struct ohsm_result *res,
                                              ohsm_each_fn each, void *arg);
/* The same taking the lock; res may be NULL (results not wanted). */
OHSM_NODISCARD ohsm_rv ohsm_client_run(struct ohsm_client *c, Ohsm__Request *q, size_t only,
                                       struct ohsm_result *res, ohsm_each_fn each, void *arg);
/* `each` of the login calls: marks HSM i logged in as the LoginResp says; arg is a struct
 * ohsm_login_arg that gets the first user type seen. */
struct ohsm_login_arg {
    enum ohsm_utype actual;
    bool got;
};
void ohsm_client_on_login(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg);
/* Wipes the saved login (nothing is replayed on reconnect any more). Caller holds c->lock. */
void ohsm_client_forget_credentials(struct ohsm_client *c);
/* After a password change for username (res: per HSM), the saved login takes the new password
 * when it is that user's. Caller holds c->lock. */
void ohsm_client_note_password(struct ohsm_client *c, const char *username, const char *password,
                               const struct ohsm_result *res);

/* ---- quorum (auth.c) ---- */

/* After an approval-guarded operation that ran on HSM `ran` only (sign, wrap, unwrap) and spent
 * the approvals there: asks every other HSM where the client is logged in to drop the session
 * user's token whose record is in each approval's data (QuorumDeleteReq{approval_data}), so the
 * approval cannot be replayed there. aps has naps (<= 2) entries, NULL ones skipped. Answers and
 * failures are ignored: the operation already succeeded. Caller holds c->lock. */
void ohsm_client_quorum_drop_locked(struct ohsm_client *c, size_t ran,
                                    const struct ohsm_approval *const *aps, size_t naps);

/* ---- sync (sync.c) ---- */

/* Runs the automatic repair when it is on and an HSM that missed a change is back (or `force`,
 * after a login everywhere). Errors are swallowed: repair never changes a call's result. */
void ohsm_sync_auto(struct ohsm_client *c, bool force);

/* ---- conversions (convert.c) ---- */

/* Fills a wire Mech from params (borrows the params' buffers). */
void ohsm_conv_mech(const struct ohsm_mech_params *m, Ohsm__Mech *out);
/* Decodes the records of a KeyResp into objs (cap entries); errors: OHSM_PROTOCOL. */
OHSM_NODISCARD ohsm_rv ohsm_conv_records(const ProtobufCBinaryData *recs, size_t n,
                                         struct ohsm_obj *objs, size_t cap);
/* A wire Approval and the storage it points into (the bytes are borrowed from the caller's
 * struct ohsm_approval). */
struct ohsm_conv_approval {
    Ohsm__Approval msg;
    Ohsm__ApprovalSig sig[OHSM_APPROVAL_SIGS_MAX];
    Ohsm__ApprovalSig *sigp[OHSM_APPROVAL_SIGS_MAX];
};
/* Fills *buf from ap and points *out at buf->msg (NULL when ap is NULL: no approval). Checks the
 * bounds of token.h (data, signature count and sizes, usernames up to OHSM_USERNAME_MAX);
 * errors: OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_conv_approval(const struct ohsm_approval *ap,
                                          struct ohsm_conv_approval *buf, Ohsm__Approval **out);
/* Copies a bytes field into a new malloc'd buffer (an empty field gives NULL, 0). */
OHSM_NODISCARD ohsm_rv ohsm_conv_dup(const ProtobufCBinaryData *b, uint8_t **out, size_t *len);

#endif
