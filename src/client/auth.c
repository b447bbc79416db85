/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm's MFA (token-sign) and quorum (M of N) calls. The two-step calls (MFA login, MFA
 * registration) remember per HSM whether step 1 left a token pending in that HSM's session, and
 * step 2 asks only those HSMs, each with its own signature (a fan-out of per-HSM requests). An
 * MFA login is never saved for re-login: it needs a fresh signature, so an HSM that reconnects
 * after it stays logged out. Quorum tokens are the HSMs' approval records concatenated in config
 * order; after a guarded operation that ran on one HSM only, the other HSMs are told to drop their
 * records of its approval (no replay there). Answers are untrusted: the wire decoder bounded them,
 * and this file checks every token's exact length before copying it. Passwords are borrowed and
 * travel only inside requests (the connection layer wipes the packed frame); signatures and public
 * keys are not secret.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "client/internal.h"

#define ALL OHSM_ALL

static size_t pw_len(const char *pw)
{
    return strnlen(pw, OHSM_WIRE_SECRET_MAX + 1);
}

static ohsm_rv first_failure(const struct ohsm_client *c, const struct ohsm_result *res)
{
    for (size_t i = 0; i < c->n; i++) {
        if (res[i].rv != OHSM_OK) {
            return res[i].rv;
        }
    }
    return OHSM_OK;
}

/* res, or a temporary array in *tmp (caller frees) when the caller wants no results. */
static struct ohsm_result *res_or_tmp(const struct ohsm_client *c, struct ohsm_result *res,
                                      struct ohsm_result **tmp)
{
    *tmp = NULL;
    if (res != NULL) {
        return res;
    }
    *tmp = calloc(c->n, sizeof(**tmp));
    return *tmp;
}

/* The signatures of step 2: sig_lens NULL means none at all; a length needs its buffer. */
static bool sigs_ok(const struct ohsm_client *c, const uint8_t *const *sigs, const size_t *sig_lens)
{
    for (size_t i = 0; sig_lens != NULL && i < c->n; i++) {
        if (sig_lens[i] > 0 &&
            (sigs == NULL || sigs[i] == NULL || sig_lens[i] > OHSM_TOKEN_SIG_MAX)) {
            return false;
        }
    }
    return true;
}

static ProtobufCBinaryData sig_of(const uint8_t *const *sigs, const size_t *sig_lens, size_t i)
{
    ProtobufCBinaryData b = {0, NULL};
    if (sig_lens != NULL && sig_lens[i] > 0) {
        b.data = (uint8_t *)sigs[i];
        b.len = sig_lens[i];
    }
    return b;
}

/* ---- step 1 of the two-step calls ---- */

struct begin_arg {
    struct ohsm_token *tokens;
    struct ohsm_result *res;
    bool reg; /* registration (else login) */
};

/* An MFA token answer: exactly OHSM_TOKEN_LEN bytes, else the HSM broke the protocol. */
static void on_token(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg)
{
    struct begin_arg *a = arg;
    struct hsm_slot *h = &c->hsm[i];
    if (r->body_case != OHSM__RESPONSE__BODY_TOKEN || r->token == NULL ||
        r->token->token.len != OHSM_TOKEN_LEN) {
        a->res[i].rv = OHSM_PROTOCOL;
        return;
    }
    memcpy(a->tokens[i].data, r->token->token.data, OHSM_TOKEN_LEN);
    a->tokens[i].len = OHSM_TOKEN_LEN;
    a->tokens[i].lifetime = r->token->lifetime;
    if (a->reg) {
        h->reg_pending = true;
    } else {
        h->mfa_pending = true;
    }
}

/* Runs a step-1 request everywhere and records, per HSM, the pending token or the failure. */
static ohsm_rv begin(struct ohsm_client *c, Ohsm__Request *q, bool reg, bool relogin,
                     struct ohsm_token *tokens, struct ohsm_result *res)
{
    struct ohsm_result *tmp = NULL;
    struct begin_arg a = {tokens, NULL, reg};

    a.res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(a.res != NULL, OHSM_HOST_MEMORY);
    memset(tokens, 0, c->n * sizeof(*tokens));
    (void)pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        /* A new step 1 replaces any earlier one (the HSM replaces its pending token too). */
        if (reg) {
            c->hsm[i].reg_pending = false;
        } else {
            c->hsm[i].mfa_pending = false;
        }
    }
    /* The result is recomputed below: on_token may find an answer broken. */
    ohsm_rv ignored = ohsm_client_run_locked(c, q, ALL, relogin, a.res, on_token, &a);
    (void)ignored;
    for (size_t i = 0; i < c->n; i++) {
        if (reg) {
            c->hsm[i].reg_rv = c->hsm[i].reg_pending ? OHSM_OK : a.res[i].rv;
        } else {
            c->hsm[i].mfa_rv = c->hsm[i].mfa_pending ? OHSM_OK : a.res[i].rv;
        }
    }
    ohsm_rv rv = first_failure(c, a.res);
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    return rv;
}

/* ---- step 2: per-HSM requests to the HSMs with a pending token ---- */

struct finish {
    Ohsm__Request *q;
    Ohsm__Request **qs;
    bool *use;
    Ohsm__Response **resp;
};

static void finish_free(struct finish *f)
{
    free(f->q);
    free(f->qs);
    free(f->use);
    free(f->resp);
}

static ohsm_rv finish_alloc(const struct ohsm_client *c, struct finish *f)
{
    f->q = calloc(c->n, sizeof(*f->q));
    f->qs = calloc(c->n, sizeof(*f->qs));
    f->use = calloc(c->n, sizeof(*f->use));
    f->resp = calloc(c->n, sizeof(*f->resp));
    if (f->q == NULL || f->qs == NULL || f->use == NULL || f->resp == NULL) {
        finish_free(f);
        return OHSM_HOST_MEMORY;
    }
    return OHSM_OK;
}

/* Sends the prepared requests (f->qs[i] where f->use[i]); the others keep step 1's result.
 * Every pending token is spent afterwards, whatever happened. Caller holds the lock. */
static void finish_run(struct ohsm_client *c, struct finish *f, bool reg, bool relogin,
                       struct ohsm_result *res)
{
    bool any = false;
    for (size_t i = 0; i < c->n; i++) {
        any = any || f->use[i];
    }
    if (any) {
        ohsm_rv ignored = ohsm_route_fanout_per(c, f->qs, 1, f->use, relogin, res, f->resp);
        (void)ignored; /* res[i] has it; the caller looks at every HSM */
    }
    for (size_t i = 0; i < c->n; i++) {
        struct hsm_slot *h = &c->hsm[i];
        if (!f->use[i]) {
            res[i].rv = reg ? h->reg_rv : h->mfa_rv;
        }
        if (reg) {
            h->reg_pending = false;
            h->reg_rv = OHSM_TOKEN_NOT_FOUND;
        } else {
            h->mfa_pending = false;
            h->mfa_rv = OHSM_TOKEN_NOT_FOUND;
        }
    }
}

ohsm_rv ohsm_client_login_mfa_begin(struct ohsm_client *c, enum ohsm_utype type,
                                    const char *username, const char *password,
                                    struct ohsm_token *tokens, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaBeginReq m = OHSM__MFA_BEGIN_REQ__INIT;

    OHSM_ENSURE(c != NULL && username != NULL && password != NULL && tokens != NULL,
                OHSM_ARGUMENTS_BAD);
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    m.password.data = (uint8_t *)password;
    m.password.len = pw_len(password);
    q.op_case = OHSM__REQUEST__OP_MFA_BEGIN;
    q.mfa_begin = &m;
    /* No re-login first: this is a login (as ohsm_client_login). */
    return begin(c, &q, false, false, tokens, res);
}

ohsm_rv ohsm_client_login_mfa_finish(struct ohsm_client *c, const uint8_t *const *sigs,
                                     const size_t *sig_lens, struct ohsm_result *res,
                                     enum ohsm_utype *actual)
{
    struct finish f;
    struct ohsm_login_arg a = {OHSM_UT_NONE, false};
    struct ohsm_result *tmp = NULL;
    Ohsm__MfaFinishReq *m = NULL;

    OHSM_ENSURE(c != NULL && sigs_ok(c, sigs, sig_lens), OHSM_ARGUMENTS_BAD);
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m = calloc(c->n, sizeof(*m));
    if (m == NULL || finish_alloc(c, &f) != OHSM_OK) {
        free(m);
        free(tmp);
        return OHSM_HOST_MEMORY;
    }
    (void)pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        f.use[i] = c->hsm[i].mfa_pending;
        ohsm__request__init(&f.q[i]);
        ohsm__mfa_finish_req__init(&m[i]);
        m[i].signature = sig_of(sigs, sig_lens, i); /* empty: abandons the login there */
        f.q[i].op_case = OHSM__REQUEST__OP_MFA_FINISH;
        f.q[i].mfa_finish = &m[i];
        f.qs[i] = &f.q[i];
    }
    finish_run(c, &f, false, false, res);
    for (size_t i = 0; i < c->n; i++) {
        if (!f.use[i] || res[i].rv != OHSM_OK) {
            continue;
        }
        if (f.resp[i] == NULL || f.resp[i]->body_case != OHSM__RESPONSE__BODY_LOGIN) {
            res[i].rv = OHSM_PROTOCOL;
            continue;
        }
        ohsm_client_on_login(c, i, f.resp[i], &a);
    }
    if (a.got) {
        /* An MFA login cannot be replayed: whatever login was saved before no longer speaks
         * for this client, and HSMs that reconnect stay logged out. */
        ohsm_client_forget_credentials(c);
    }
    ohsm_rv rv = first_failure(c, res);
    if (rv == OHSM_OK && a.actual != OHSM_UT_PRECO) {
        ohsm_sync_auto(c, true);
    }
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_route_free_resps(f.resp, c->n);
    f.resp = NULL;
    finish_free(&f);
    free(m);
    free(tmp);
    if (actual != NULL) {
        *actual = a.actual;
    }
    return rv;
}

ohsm_rv ohsm_client_mfa_register_begin(struct ohsm_client *c, enum ohsm_utype type,
                                       const char *username, struct ohsm_token *tokens,
                                       struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaRegBeginReq m = OHSM__MFA_REG_BEGIN_REQ__INIT;

    OHSM_ENSURE(c != NULL && username != NULL && tokens != NULL, OHSM_ARGUMENTS_BAD);
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    q.op_case = OHSM__REQUEST__OP_MFA_REG_BEGIN;
    q.mfa_reg_begin = &m;
    return begin(c, &q, true, true, tokens, res);
}

/* The saved login after username's MFA key changed: a user who now has MFA cannot be logged in
 * again with a password alone; a deregistration set a new password. Caller holds the lock. */
static void after_mfa_change(struct ohsm_client *c, const char *username, const char *password,
                             bool deregister, const struct ohsm_result *res)
{
    if (deregister) {
        ohsm_client_note_password(c, username, password, res);
        return;
    }
    bool changed = false;
    for (size_t i = 0; i < c->n; i++) {
        changed = changed || res[i].rv == OHSM_OK;
    }
    if (changed && c->cred_pw != NULL && strcmp(username, c->cred_user) == 0) {
        ohsm_client_forget_credentials(c);
    }
}

static bool pubkey_ok(const uint8_t *pub_der, size_t pub_len)
{
    return pub_der != NULL && pub_len > 0 && pub_len <= OHSM_TOKEN_PUBKEY_MAX;
}

ohsm_rv ohsm_client_mfa_register_finish(struct ohsm_client *c, enum ohsm_utype type,
                                        const char *username, const char *password,
                                        const uint8_t *pub_der, size_t pub_len,
                                        const uint8_t *const *sigs, const size_t *sig_lens,
                                        bool change_quorum, const struct ohsm_approval *ap,
                                        struct ohsm_result *res)
{
    struct finish f;
    struct ohsm_conv_approval apb;
    Ohsm__Approval *apm = NULL;
    struct ohsm_result *tmp = NULL;
    Ohsm__MfaRegFinishReq *m = NULL;

    OHSM_ENSURE(c != NULL && username != NULL && password != NULL && pubkey_ok(pub_der, pub_len) &&
                    sigs_ok(c, sigs, sig_lens),
                OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &apm));
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m = calloc(c->n, sizeof(*m));
    if (m == NULL || finish_alloc(c, &f) != OHSM_OK) {
        free(m);
        free(tmp);
        return OHSM_HOST_MEMORY;
    }
    (void)pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->n; i++) {
        f.use[i] = c->hsm[i].reg_pending;
        ohsm__request__init(&f.q[i]);
        ohsm__mfa_reg_finish_req__init(&m[i]);
        m[i].user_type = (uint32_t)type;
        m[i].username = (char *)username;
        m[i].password.data = (uint8_t *)password;
        m[i].password.len = pw_len(password);
        m[i].public_key.data = (uint8_t *)pub_der;
        m[i].public_key.len = pub_len;
        m[i].signature = sig_of(sigs, sig_lens, i);
        m[i].change_quorum = change_quorum;
        m[i].approval = apm;
        f.q[i].op_case = OHSM__REQUEST__OP_MFA_REG_FINISH;
        f.q[i].mfa_reg_finish = &m[i];
        f.qs[i] = &f.q[i];
    }
    finish_run(c, &f, true, true, res);
    after_mfa_change(c, username, password, false, res);
    ohsm_rv rv = first_failure(c, res);
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_route_free_resps(f.resp, c->n);
    f.resp = NULL;
    finish_free(&f);
    free(m);
    free(tmp);
    return rv;
}

ohsm_rv ohsm_client_mfa_deregister(struct ohsm_client *c, enum ohsm_utype type,
                                   const char *username, const char *password, bool change_quorum,
                                   const struct ohsm_approval *ap, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaRegFinishReq m = OHSM__MFA_REG_FINISH_REQ__INIT;
    struct ohsm_conv_approval apb;
    struct ohsm_result *tmp = NULL;

    OHSM_ENSURE(c != NULL && username != NULL && password != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    res = res_or_tmp(c, res, &tmp);
    OHSM_ENSURE(res != NULL, OHSM_HOST_MEMORY);
    m.user_type = (uint32_t)type;
    m.username = (char *)username;
    m.password.data = (uint8_t *)password;
    m.password.len = pw_len(password);
    m.deregister = true;
    m.change_quorum = change_quorum;
    q.op_case = OHSM__REQUEST__OP_MFA_REG_FINISH;
    q.mfa_reg_finish = &m;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv rv = ohsm_client_run_locked(c, &q, ALL, true, res, NULL, NULL);
    after_mfa_change(c, username, password, true, res);
    (void)pthread_mutex_unlock(&c->lock);
    free(tmp);
    return rv;
}

/* ---- quorum ---- */

struct gen_arg {
    uint8_t *recs; /* n slots of OHSM_APPROVAL_REC_LEN */
    bool *got;
    struct ohsm_result *res;
};

static void on_gen(struct ohsm_client *c, size_t i, const Ohsm__Response *r, void *arg)
{
    struct gen_arg *a = arg;
    (void)c;
    if (r->body_case != OHSM__RESPONSE__BODY_TOKEN || r->token == NULL ||
        r->token->token.len != OHSM_APPROVAL_REC_LEN) {
        a->res[i].rv = OHSM_PROTOCOL;
        return;
    }
    memcpy(a->recs + i * OHSM_APPROVAL_REC_LEN, r->token->token.data, OHSM_APPROVAL_REC_LEN);
    a->got[i] = true;
}

ohsm_rv ohsm_client_quorum_generate(struct ohsm_client *c, int service, uint64_t key_handle,
                                    uint8_t **data, size_t *len, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumGenReq m = OHSM__QUORUM_GEN_REQ__INIT;
    struct ohsm_result *tmp = NULL;
    struct gen_arg a = {NULL, NULL, NULL};
    ohsm_rv rv = OHSM_HOST_MEMORY;

    OHSM_ENSURE(c != NULL && data != NULL && len != NULL, OHSM_ARGUMENTS_BAD);
    *data = NULL;
    *len = 0;
    OHSM_ENSURE(service > OHSM_QS_NONE && service <= OHSM_QS_MAX_, OHSM_ARGUMENTS_BAD);
    /* A key service's token is for one key; the others are for none. */
    bool key_service = service == OHSM_QS_KEY_MGMT || service == OHSM_QS_KEY_USAGE;
    OHSM_ENSURE(key_service == (key_handle != 0), OHSM_ARGUMENTS_BAD);
    a.res = res_or_tmp(c, res, &tmp);
    a.recs = malloc(c->n * OHSM_APPROVAL_REC_LEN);
    a.got = calloc(c->n, sizeof(*a.got));
    if (a.res == NULL || a.recs == NULL || a.got == NULL) {
        goto out;
    }
    m.service = (uint32_t)service;
    m.key_handle = key_handle;
    q.op_case = OHSM__REQUEST__OP_QUORUM_GEN;
    q.quorum_gen = &m;
    (void)pthread_mutex_lock(&c->lock);
    ohsm_rv ignored = ohsm_client_run_locked(c, &q, ALL, true, a.res, on_gen, &a);
    (void)ignored; /* on_gen may fail an HSM: recomputed from res */
    rv = first_failure(c, a.res);
    (void)pthread_mutex_unlock(&c->lock);
    /* The records of the HSMs that answered, in config order: moved down in place. */
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (a.got[i]) {
            memmove(a.recs + k * OHSM_APPROVAL_REC_LEN, a.recs + i * OHSM_APPROVAL_REC_LEN,
                    OHSM_APPROVAL_REC_LEN);
            k++;
        }
    }
    if (k > 0) {
        *data = a.recs;
        *len = k * OHSM_APPROVAL_REC_LEN;
        a.recs = NULL;
    }
out:
    free(a.recs);
    free(a.got);
    free(tmp);
    return rv;
}

struct qlist_arg {
    struct ohsm_qtoken_info *out;
    size_t n;
    ohsm_rv rv;
};

static void on_qlist(struct ohsm_client *c, size_t hsm, const Ohsm__Response *r, void *arg)
{
    struct qlist_arg *a = arg;
    (void)c;
    (void)hsm;
    if (r->body_case != OHSM__RESPONSE__BODY_QTOKENS || r->qtokens == NULL) {
        a->rv = OHSM_PROTOCOL;
        return;
    }
    size_t n = r->qtokens->n_tokens;
    if (n == 0) {
        return;
    }
    a->out = calloc(n, sizeof(*a->out));
    if (a->out == NULL) {
        a->rv = OHSM_HOST_MEMORY;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const Ohsm__QuorumToken *t = r->qtokens->tokens[i];
        struct ohsm_qtoken_info *o = &a->out[i];
        if (t == NULL || t->username == NULL) {
            a->rv = OHSM_PROTOCOL;
            return;
        }
        (void)snprintf(o->username, sizeof(o->username), "%s", t->username);
        o->service = t->service <= OHSM_QS_MAX_ ? (int)t->service : OHSM_QS_NONE;
        o->approvals_required = t->approvals_required;
        o->approvals = t->approvals;
        o->timeout_seconds = t->timeout_seconds;
        o->key_handle = t->key_handle;
    }
    a->n = n;
}

ohsm_rv ohsm_client_quorum_list(struct ohsm_client *c, size_t i, struct ohsm_qtoken_info **out,
                                size_t *n)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumListReq m = OHSM__QUORUM_LIST_REQ__INIT;
    struct qlist_arg a = {NULL, 0, OHSM_OK};

    OHSM_ENSURE(c != NULL && out != NULL && n != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    q.op_case = OHSM__REQUEST__OP_QUORUM_LIST;
    q.quorum_list = &m;
    ohsm_rv rv = ohsm_client_run(c, &q, i, NULL, on_qlist, &a);
    if (rv == OHSM_OK) {
        rv = a.rv;
    }
    if (rv != OHSM_OK) {
        free(a.out);
        return rv;
    }
    *out = a.out;
    *n = a.n;
    return OHSM_OK;
}

struct qvalues_arg {
    struct ohsm_quorum_values *out;
    ohsm_rv rv;
};

static void on_qvalues(struct ohsm_client *c, size_t hsm, const Ohsm__Response *r, void *arg)
{
    struct qvalues_arg *a = arg;
    (void)c;
    (void)hsm;
    if (r->body_case != OHSM__RESPONSE__BODY_QVALUES || r->qvalues == NULL) {
        a->rv = OHSM_PROTOCOL;
        return;
    }
    a->out->user = r->qvalues->user;
    a->out->quorum = r->qvalues->quorum;
    a->out->cluster = r->qvalues->cluster;
    a->rv = OHSM_OK;
}

ohsm_rv ohsm_client_quorum_values(struct ohsm_client *c, size_t i, struct ohsm_quorum_values *out)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumValuesReq m = OHSM__QUORUM_VALUES_REQ__INIT;
    struct qvalues_arg a = {out, OHSM_PROTOCOL};

    OHSM_ENSURE(c != NULL && out != NULL && i < c->n, OHSM_ARGUMENTS_BAD);
    memset(out, 0, sizeof(*out));
    q.op_case = OHSM__REQUEST__OP_QUORUM_VALUES;
    q.quorum_values = &m;
    ohsm_rv rv = ohsm_client_run(c, &q, i, NULL, on_qvalues, &a);
    if (rv == OHSM_OK) {
        rv = a.rv;
    }
    if (rv != OHSM_OK) {
        memset(out, 0, sizeof(*out));
    }
    return rv;
}

ohsm_rv ohsm_client_quorum_set(struct ohsm_client *c, int service, uint32_t value,
                               const struct ohsm_approval *ap, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumSetReq m = OHSM__QUORUM_SET_REQ__INIT;
    struct ohsm_conv_approval apb;

    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    /* Only the user, quorum and cluster services have a value. */
    OHSM_ENSURE(service >= OHSM_QS_USER && service <= OHSM_QS_CLUSTER, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(value >= 1 && value <= OHSM_QUORUM_MAX, OHSM_QUORUM_VALUE_INVALID);
    OHSM_TRY(ohsm_conv_approval(ap, &apb, &m.approval));
    m.service = (uint32_t)service;
    m.value = value;
    q.op_case = OHSM__REQUEST__OP_QUORUM_SET;
    q.quorum_set = &m;
    return ohsm_client_run(c, &q, ALL, res, NULL, NULL);
}

ohsm_rv ohsm_client_quorum_delete(struct ohsm_client *c, bool all, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumDeleteReq m = OHSM__QUORUM_DELETE_REQ__INIT;

    OHSM_ENSURE(c != NULL, OHSM_ARGUMENTS_BAD);
    m.all = all;
    q.op_case = OHSM__REQUEST__OP_QUORUM_DELETE;
    q.quorum_delete = &m;
    return ohsm_client_run(c, &q, ALL, res, NULL, NULL);
}

ohsm_rv ohsm_client_quorum_register(struct ohsm_client *c, const uint8_t *data, size_t len,
                                    const uint8_t *sig, size_t sig_len, const uint8_t *pub_der,
                                    size_t pub_len, struct ohsm_result *res)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumRegisterReq m = OHSM__QUORUM_REGISTER_REQ__INIT;

    OHSM_ENSURE(c != NULL && data != NULL && len > 0 &&
                    len <= (size_t)OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS && sig != NULL &&
                    sig_len > 0 && sig_len <= OHSM_TOKEN_SIG_MAX && pubkey_ok(pub_der, pub_len),
                OHSM_ARGUMENTS_BAD);
    m.approval_data.data = (uint8_t *)data;
    m.approval_data.len = len;
    m.signature.data = (uint8_t *)sig;
    m.signature.len = sig_len;
    m.public_key.data = (uint8_t *)pub_der;
    m.public_key.len = pub_len;
    q.op_case = OHSM__REQUEST__OP_QUORUM_REGISTER;
    q.quorum_register = &m;
    return ohsm_client_run(c, &q, ALL, res, NULL, NULL);
}

void ohsm_client_quorum_drop_locked(struct ohsm_client *c, size_t ran,
                                    const struct ohsm_approval *const *aps, size_t naps)
{
    Ohsm__Request q[2] = {OHSM__REQUEST__INIT, OHSM__REQUEST__INIT};
    Ohsm__QuorumDeleteReq m[2] = {OHSM__QUORUM_DELETE_REQ__INIT, OHSM__QUORUM_DELETE_REQ__INIT};
    Ohsm__Request *qs[2];
    size_t k = 0;
    bool any = false;

    for (size_t j = 0; j < naps && k < 2; j++) {
        if (aps[j] == NULL) {
            continue;
        }
        m[k].approval_data.data = (uint8_t *)aps[j]->data;
        m[k].approval_data.len = aps[j]->len;
        q[k].op_case = OHSM__REQUEST__OP_QUORUM_DELETE;
        q[k].quorum_delete = &m[k];
        qs[k] = &q[k];
        k++;
    }
    bool *use = calloc(c->n, sizeof(*use));
    struct ohsm_result *res = calloc(c->n, sizeof(*res));
    Ohsm__Response **resp = calloc(c->n * (k > 0 ? k : 1), sizeof(*resp));
    for (size_t i = 0; use != NULL && i < c->n; i++) {
        /* A token dies with its session: HSMs without a live login hold none of ours. */
        use[i] = i != ran && c->hsm[i].logged_in && c->hsm[i].conn != NULL;
        any = any || use[i];
    }
    if (k > 0 && any && res != NULL && resp != NULL) {
        ohsm_rv ignored = ohsm_route_fanout(c, qs, k, use, false, res, resp);
        (void)ignored; /* TOKEN_NOT_FOUND (none there) and transport errors change nothing */
        ohsm_route_free_resps(resp, c->n * k);
        resp = NULL;
    }
    free(resp);
    free(res);
    free(use);
}
