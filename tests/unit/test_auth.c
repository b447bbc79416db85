/* SPDX-License-Identifier: Apache-2.0
 * MFA token-sign login and registration, quorum tokens and approvals in openhsm-hsm, request by
 * request through ohsm_dispatch without sockets: every failed or abandoned MFA attempt counts
 * once toward lockout and a success resets the count; tokens are single-use, bound to their
 * session, kind and user, and expire (an injected clock); quorum-guarded operations need M valid
 * approvals by distinct admins with registered keys and cannot be replayed; key services (issue 5,
 * second wave) are approved by the key's own crypto users, per key, on sign, wrap, unwrap, share,
 * unshare and set-attribute. Signatures are made as `openssl pkeyutl -sign -pkeyopt
 * digest:sha256` makes them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm/hsm.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"
#include "openhsm/token.h"

/* ---- keys and signatures (made once: RSA key generation is slow) ---- */

#define NKEYS 5
static EVP_PKEY *keys[NKEYS]; /* RSA-2048 */
static EVP_PKEY *weak;        /* RSA-1024 */

struct der {
    uint8_t b[1024];
    size_t n;
};

static struct der pub(EVP_PKEY *k)
{
    struct der d;
    uint8_t *p = d.b;
    int n = i2d_PUBKEY(k, NULL);
    assert_true(n > 0 && (size_t)n <= sizeof(d.b));
    assert_int_equal(i2d_PUBKEY(k, &p), n);
    d.n = (size_t)n;
    return d;
}

struct sig {
    uint8_t b[512];
    size_t n;
};

/* RSA PKCS#1 v1.5 with the 32 token bytes as the SHA-256 digest. */
static struct sig sign(EVP_PKEY *k, const uint8_t tok[OHSM_TOKEN_LEN])
{
    struct sig s;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
    assert_non_null(c);
    s.n = sizeof(s.b);
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()), 1);
    assert_int_equal(EVP_PKEY_sign(c, s.b, &s.n, tok, OHSM_TOKEN_LEN), 1);
    EVP_PKEY_CTX_free(c);
    return s;
}

static int group_setup(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++) {
        keys[i] = EVP_RSA_gen(2048);
        if (keys[i] == NULL) {
            return -1;
        }
    }
    weak = EVP_RSA_gen(1024);
    return weak == NULL ? -1 : 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NKEYS; i++) {
        EVP_PKEY_free(keys[i]);
    }
    EVP_PKEY_free(weak);
    return 0;
}

/* ---- fixture: two HSMs of one cluster, a clock the tests move ---- */

static uint64_t fake_now;
static uint64_t clock_now(void)
{
    return fake_now;
}

#define LIFETIME 60

struct fx {
    char dir[64];
    struct ohsm_hsm a, b;
};

static const uint8_t cluster_mk[OHSM_MASKING_KEY_LEN] = {
    9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2};

static void hsm_open(struct ohsm_hsm *h, const char *dir, const char *id, uint32_t slot)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s.db", dir, id);
    memset(h, 0, sizeof(*h));
    h->cost = (struct ohsm_pwhash_cost){4, 8, 1};
    h->max_sessions = 8;
    h->slot = slot;
    h->now = clock_now;
    h->token_lifetime = LIFETIME;
    pthread_mutex_init(&h->lock, NULL);
    struct ohsm_store_init in = {"cluster-t", id, 5, (const uint8_t *)"appuserpw", 9, &h->cost};
    assert_int_equal(ohsm_store_open(path, &in, &h->store), OHSM_OK);
    assert_int_equal(ohsm_store_meta(h->store, &h->meta), OHSM_OK);
    assert_int_equal(ohsm_mask_key_new(cluster_mk, &h->mk), OHSM_OK);
    size_t skipped = 0;
    assert_int_equal(ohsm_hsm_load(h, &skipped), OHSM_OK);
}

static void hsm_close(struct ohsm_hsm *h)
{
    ohsm_objtab_free(h->objs);
    ohsm_mask_key_free(h->mk);
    ohsm_store_close(h->store);
    pthread_mutex_destroy(&h->lock);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/ohsm-auth-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    hsm_open(&f->a, f->dir, "hsm-a", 1);
    hsm_open(&f->b, f->dir, "hsm-b", 2);
    fake_now = 1700000000;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    hsm_close(&f->a);
    hsm_close(&f->b);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* ---- requests ---- */

/* What a reply carried, copied out before the reply is cleared. */
struct got {
    uint8_t tok[OHSM_APPROVAL_REC_LEN];
    size_t tok_len;
    uint32_t lifetime;
    char user[32];
    uint32_t utype;
    size_t ntok;
    Ohsm__QuorumToken list[8];
    char names[8][32];
    uint32_t values[3];
};

static ohsm_rv run(struct ohsm_hsm *h, struct ohsm_session *s, Ohsm__Request *q, struct got *g)
{
    struct ohsm_reply r;
    struct got tmp;
    if (g == NULL) {
        g = &tmp;
    }
    memset(g, 0, sizeof(*g));
    q->id = 7;
    ohsm_reply_init(&r, 7);
    ohsm_dispatch(h, s, q, &r);
    const Ohsm__Response *p = &r.resp;
    if (p->rv == OHSM_OK) {
        switch (p->body_case) {
        case OHSM__RESPONSE__BODY_TOKEN:
            assert_true(p->token->token.len <= sizeof(g->tok));
            memcpy(g->tok, p->token->token.data, p->token->token.len);
            g->tok_len = p->token->token.len;
            g->lifetime = p->token->lifetime;
            break;
        case OHSM__RESPONSE__BODY_LOGIN:
            snprintf(g->user, sizeof(g->user), "%s", p->login->username);
            g->utype = p->login->user_type;
            break;
        case OHSM__RESPONSE__BODY_QTOKENS:
            assert_true(p->qtokens->n_tokens <= 8);
            g->ntok = p->qtokens->n_tokens;
            for (size_t i = 0; i < g->ntok; i++) {
                g->list[i] = *p->qtokens->tokens[i];
                snprintf(g->names[i], sizeof(g->names[i]), "%s", g->list[i].username);
                g->list[i].username = g->names[i];
            }
            break;
        case OHSM__RESPONSE__BODY_QVALUES:
            g->values[0] = p->qvalues->user;
            g->values[1] = p->qvalues->quorum;
            g->values[2] = p->qvalues->cluster;
            break;
        default:
            break;
        }
    } else {
        assert_int_equal(p->body_case, OHSM__RESPONSE__BODY__NOT_SET);
    }
    ohsm_reply_clear(&r);
    return (ohsm_rv)p->rv;
}

static ohsm_rv login(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t, const char *u,
                     const char *pw)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq m = OHSM__LOGIN_REQ__INIT;
    m.user_type = (uint32_t)t;
    m.username = (char *)u;
    m.password.data = (uint8_t *)pw;
    m.password.len = strlen(pw);
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &m;
    return run(h, s, &q, NULL);
}

static ohsm_rv logout(struct ohsm_hsm *h, struct ohsm_session *s)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LogoutReq m = OHSM__LOGOUT_REQ__INIT;
    q.op_case = OHSM__REQUEST__OP_LOGOUT;
    q.logout = &m;
    return run(h, s, &q, NULL);
}

#define CREATE OHSM__REQUEST__OP_CREATE_USER
#define DELETE OHSM__REQUEST__OP_DELETE_USER
#define CHPW OHSM__REQUEST__OP_CHANGE_PASSWORD

static ohsm_rv user_op(struct ohsm_hsm *h, struct ohsm_session *s, int op, enum ohsm_utype t,
                       const char *u, const char *pw, Ohsm__Approval *ap)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CreateUserReq c = OHSM__CREATE_USER_REQ__INIT;
    Ohsm__DeleteUserReq d = OHSM__DELETE_USER_REQ__INIT;
    Ohsm__ChangePasswordReq p = OHSM__CHANGE_PASSWORD_REQ__INIT;
    q.op_case = (Ohsm__Request__OpCase)op;
    if (op == CREATE) {
        c.user_type = (uint32_t)t;
        c.username = (char *)u;
        c.password.data = (uint8_t *)pw;
        c.password.len = strlen(pw);
        c.approval = ap;
        q.create_user = &c;
    } else if (op == DELETE) {
        d.user_type = (uint32_t)t;
        d.username = (char *)u;
        d.approval = ap;
        q.delete_user = &d;
    } else {
        p.user_type = (uint32_t)t;
        p.username = (char *)u;
        p.password.data = (uint8_t *)pw;
        p.password.len = strlen(pw);
        p.approval = ap;
        q.change_password = &p;
    }
    return run(h, s, &q, NULL);
}

static ohsm_rv mfa_begin(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t,
                         const char *u, const char *pw, struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaBeginReq m = OHSM__MFA_BEGIN_REQ__INIT;
    m.user_type = (uint32_t)t;
    m.username = (char *)u;
    m.password.data = (uint8_t *)pw;
    m.password.len = strlen(pw);
    q.op_case = OHSM__REQUEST__OP_MFA_BEGIN;
    q.mfa_begin = &m;
    return run(h, s, &q, g);
}

static ohsm_rv mfa_finish(struct ohsm_hsm *h, struct ohsm_session *s, const struct sig *sg,
                          struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaFinishReq m = OHSM__MFA_FINISH_REQ__INIT;
    if (sg != NULL) {
        m.signature.data = (uint8_t *)sg->b;
        m.signature.len = sg->n;
    }
    q.op_case = OHSM__REQUEST__OP_MFA_FINISH;
    q.mfa_finish = &m;
    return run(h, s, &q, g);
}

static ohsm_rv reg_begin(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t,
                         const char *u, struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaRegBeginReq m = OHSM__MFA_REG_BEGIN_REQ__INIT;
    m.user_type = (uint32_t)t;
    m.username = (char *)u;
    q.op_case = OHSM__REQUEST__OP_MFA_REG_BEGIN;
    q.mfa_reg_begin = &m;
    return run(h, s, &q, g);
}

struct regf {
    const char *pw;
    const struct der *key; /* NULL: none */
    const struct sig *sig; /* NULL: none */
    bool deregister;
    bool change_quorum;
    Ohsm__Approval *ap;
};

static ohsm_rv reg_finish(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t,
                          const char *u, const struct regf *x)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MfaRegFinishReq m = OHSM__MFA_REG_FINISH_REQ__INIT;
    m.user_type = (uint32_t)t;
    m.username = (char *)u;
    m.password.data = (uint8_t *)x->pw;
    m.password.len = strlen(x->pw);
    if (x->key != NULL) {
        m.public_key.data = (uint8_t *)x->key->b;
        m.public_key.len = x->key->n;
    }
    if (x->sig != NULL) {
        m.signature.data = (uint8_t *)x->sig->b;
        m.signature.len = x->sig->n;
    }
    m.deregister = x->deregister;
    m.change_quorum = x->change_quorum;
    m.approval = x->ap;
    q.op_case = OHSM__REQUEST__OP_MFA_REG_FINISH;
    q.mfa_reg_finish = &m;
    return run(h, s, &q, NULL);
}

/* The whole change-mfa: begin, sign the token with k, finish. */
static ohsm_rv set_mfa(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t, const char *u,
                       const char *pw, EVP_PKEY *k, bool change_quorum, Ohsm__Approval *ap)
{
    struct got g;
    ohsm_rv rv = reg_begin(h, s, t, u, &g);
    if (rv != OHSM_OK) {
        return rv;
    }
    assert_int_equal(g.tok_len, OHSM_TOKEN_LEN);
    struct der d = pub(k);
    struct sig sg = sign(k, g.tok);
    struct regf x = {pw, &d, &sg, false, change_quorum, ap};
    return reg_finish(h, s, t, u, &x);
}

static ohsm_rv qgen(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t service, struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumGenReq m = OHSM__QUORUM_GEN_REQ__INIT;
    m.service = service;
    q.op_case = OHSM__REQUEST__OP_QUORUM_GEN;
    q.quorum_gen = &m;
    return run(h, s, &q, g);
}

static ohsm_rv qlist(struct ohsm_hsm *h, struct ohsm_session *s, struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumListReq m = OHSM__QUORUM_LIST_REQ__INIT;
    q.op_case = OHSM__REQUEST__OP_QUORUM_LIST;
    q.quorum_list = &m;
    return run(h, s, &q, g);
}

static ohsm_rv qvalues(struct ohsm_hsm *h, struct ohsm_session *s, struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumValuesReq m = OHSM__QUORUM_VALUES_REQ__INIT;
    q.op_case = OHSM__REQUEST__OP_QUORUM_VALUES;
    q.quorum_values = &m;
    return run(h, s, &q, g);
}

static ohsm_rv qset(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t service, uint32_t value,
                    Ohsm__Approval *ap)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumSetReq m = OHSM__QUORUM_SET_REQ__INIT;
    m.service = service;
    m.value = value;
    m.approval = ap;
    q.op_case = OHSM__REQUEST__OP_QUORUM_SET;
    q.quorum_set = &m;
    return run(h, s, &q, NULL);
}

static ohsm_rv qdelete(struct ohsm_hsm *h, struct ohsm_session *s, bool all)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumDeleteReq m = OHSM__QUORUM_DELETE_REQ__INIT;
    m.all = all;
    q.op_case = OHSM__REQUEST__OP_QUORUM_DELETE;
    q.quorum_delete = &m;
    return run(h, s, &q, NULL);
}

static ohsm_rv qregister(struct ohsm_hsm *h, struct ohsm_session *s, const uint8_t *data,
                         size_t len, const struct sig *sg, const struct der *d)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumRegisterReq m = OHSM__QUORUM_REGISTER_REQ__INIT;
    m.approval_data.data = (uint8_t *)data;
    m.approval_data.len = len;
    m.signature.data = (uint8_t *)sg->b;
    m.signature.len = sg->n;
    m.public_key.data = (uint8_t *)d->b;
    m.public_key.len = d->n;
    q.op_case = OHSM__REQUEST__OP_QUORUM_REGISTER;
    q.quorum_register = &m;
    return run(h, s, &q, NULL);
}

/* The signature of SHA-256(data) with k: an approval. */
static struct sig sign_data(EVP_PKEY *k, const uint8_t *data, size_t len)
{
    uint8_t d[OHSM_TOKEN_LEN];
    assert_int_equal(ohsm_approval_digest(data, len, d), OHSM_OK);
    return sign(k, d);
}

/* Registers the session user's quorum key k on h. */
static void reg_quorum(struct ohsm_hsm *h, struct ohsm_session *s, EVP_PKEY *k)
{
    struct got g;
    assert_int_equal(qgen(h, s, OHSM_QS_REGISTRATION, &g), OHSM_OK);
    struct sig sg = sign_data(k, g.tok, g.tok_len);
    struct der d = pub(k);
    assert_int_equal(qregister(h, s, g.tok, g.tok_len, &sg, &d), OHSM_OK);
}

/* A signed approval file as the CLI sends it. */
struct appr {
    Ohsm__Approval ap;
    Ohsm__ApprovalSig sig[6];
    Ohsm__ApprovalSig *ptr[6];
    struct sig s[6];
    uint8_t data[2 * OHSM_APPROVAL_REC_LEN];
};

static void appr_init(struct appr *a, const uint8_t *data, size_t len)
{
    memset(a, 0, sizeof(*a));
    ohsm__approval__init(&a->ap);
    assert_true(len <= sizeof(a->data));
    memcpy(a->data, data, len);
    a->ap.data.data = a->data;
    a->ap.data.len = len;
    a->ap.sigs = a->ptr;
}

/* Adds user's signature made with k. */
static void appr_add(struct appr *a, const char *user, EVP_PKEY *k)
{
    size_t i = a->ap.n_sigs++;
    a->s[i] = sign_data(k, a->ap.data.data, a->ap.data.len);
    ohsm__approval_sig__init(&a->sig[i]);
    a->sig[i].username = (char *)user;
    a->sig[i].signature.data = a->s[i].b;
    a->sig[i].signature.len = a->s[i].n;
    a->ptr[i] = &a->sig[i];
}

static struct ohsm_store_user get(struct ohsm_hsm *h, const char *name)
{
    struct ohsm_store_user u;
    assert_int_equal(ohsm_store_user_by_name(h->store, name, &u), OHSM_OK);
    return u;
}

static uint32_t fails(struct ohsm_hsm *h, const char *name)
{
    return get(h, name).fail_count;
}

/* Activates h (admin / adminpw1 in session co) and adds admin2, admin3, admin4 (CO) and cu1, cu2
 * (CU), passwords "<name>pw". */
static void populate(struct ohsm_hsm *h, struct ohsm_session *co)
{
    static const char *const cos[] = {"admin2", "admin3", "admin4"};
    static const char *const cus[] = {"cu1", "cu2"};
    char pw[32];
    ohsm_session_init(h, co);
    assert_int_equal(login(h, co, OHSM_UT_PRECO, "admin", "password"), OHSM_OK);
    assert_int_equal(user_op(h, co, CHPW, OHSM_UT_PRECO, "admin", "adminpw1", NULL), OHSM_OK);
    for (size_t i = 0; i < 3; i++) {
        snprintf(pw, sizeof(pw), "%spw", cos[i]);
        assert_int_equal(user_op(h, co, CREATE, OHSM_UT_CO, cos[i], pw, NULL), OHSM_OK);
    }
    for (size_t i = 0; i < 2; i++) {
        snprintf(pw, sizeof(pw), "%spw1234", cus[i]);
        assert_int_equal(user_op(h, co, CREATE, OHSM_UT_CU, cus[i], pw, NULL), OHSM_OK);
    }
}

/* A new session logged in as user. */
static struct ohsm_session as(struct ohsm_hsm *h, enum ohsm_utype t, const char *u, const char *pw)
{
    struct ohsm_session s;
    ohsm_session_init(h, &s);
    assert_int_equal(login(h, &s, t, u, pw), OHSM_OK);
    return s;
}

/* cu1 registers MFA key keys[0] (password stays cu1pw1234). */
static void cu1_mfa(struct ohsm_hsm *h)
{
    struct ohsm_session cu = as(h, OHSM_UT_CU, "cu1", "cu1pw1234");
    assert_int_equal(set_mfa(h, &cu, OHSM_UT_CU, "cu1", "cu1pw1234", keys[0], false, NULL),
                     OHSM_OK);
    ohsm_session_end(h, &cu);
}

/* One MFA login attempt of cu1 in a fresh session, signing its token with k (NULL: an empty
 * signature). */
static ohsm_rv cu1_mfa_login(struct ohsm_hsm *h, EVP_PKEY *k)
{
    struct ohsm_session s;
    struct got g;
    ohsm_session_init(h, &s);
    ohsm_rv rv = mfa_begin(h, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g);
    if (rv == OHSM_OK) {
        struct sig sg = {{0}, 0};
        if (k != NULL) {
            sg = sign(k, g.tok);
        }
        rv = mfa_finish(h, &s, &sg, NULL);
    }
    ohsm_session_end(h, &s);
    return rv;
}

/* ---- MFA login ---- */

/* A registered user logs in with password and signature; the count charged by the password step
 * is reset by the success; plain login is refused before any password work. */
static void test_auth_mfa_login_ok(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, s;
    struct got g;
    populate(&f->a, &co);
    cu1_mfa(&f->a);
    assert_true(get(&f->a, "cu1").mfa);
    ohsm_session_init(&f->a, &s);
    assert_int_equal(login(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234"), OHSM_MFA_REQUIRED);
    assert_int_equal(login(&f->a, &s, OHSM_UT_CU, "cu1", "wrongpw99"), OHSM_MFA_REQUIRED);
    assert_int_equal(fails(&f->a, "cu1"), 0);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    assert_int_equal(g.tok_len, OHSM_TOKEN_LEN);
    assert_int_equal(g.lifetime, LIFETIME);
    assert_int_equal(fails(&f->a, "cu1"), 1); /* charged when issued */
    assert_false(s.logged_in);
    struct sig sg = sign(keys[0], g.tok);
    assert_int_equal(mfa_finish(&f->a, &s, &sg, &g), OHSM_OK);
    assert_string_equal(g.user, "cu1");
    assert_int_equal(g.utype, OHSM_UT_CU);
    assert_true(s.logged_in);
    assert_int_equal(fails(&f->a, "cu1"), 0);
    assert_int_equal(qlist(&f->a, &s, &g), OHSM_OK); /* the session works */
    /* a second finish: nothing pending, and the session is logged in anyway */
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_USER_ALREADY_LOGGED_IN);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", NULL),
                     OHSM_USER_ALREADY_LOGGED_IN);
    /* two fresh tokens differ */
    struct ohsm_session s1, s2;
    struct got g1, g2;
    ohsm_session_init(&f->a, &s1);
    ohsm_session_init(&f->a, &s2);
    assert_int_equal(mfa_begin(&f->a, &s1, OHSM_UT_CU, "cu1", "cu1pw1234", &g1), OHSM_OK);
    assert_int_equal(mfa_begin(&f->a, &s2, OHSM_UT_CU, "cu1", "cu1pw1234", &g2), OHSM_OK);
    assert_memory_not_equal(g1.tok, g2.tok, OHSM_TOKEN_LEN);
}

/* Password-step errors: unknown user, wrong type, wrong password (counted), no MFA key. */
static void test_auth_mfa_begin_errors(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, s;
    populate(&f->a, &co);
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu2", "cu2pw1234", NULL),
                     OHSM_MFA_NOT_ENABLED);
    assert_int_equal(fails(&f->a, "cu2"), 0);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu2", "badpass1", NULL), OHSM_PIN_INCORRECT);
    assert_int_equal(fails(&f->a, "cu2"), 1);
    cu1_mfa(&f->a);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "ghost", "whatever1", NULL),
                     OHSM_PIN_INCORRECT);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CO, "cu1", "cu1pw1234", NULL),
                     OHSM_USER_TYPE_INVALID);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "short", NULL), OHSM_PIN_LEN_RANGE);
    assert_int_equal(mfa_begin(&f->a, &s, 77, "cu1", "cu1pw1234", NULL), OHSM_USER_TYPE_INVALID);
    assert_int_equal(fails(&f->a, "cu1"), 0);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "badpass1", NULL), OHSM_PIN_INCORRECT);
    assert_int_equal(fails(&f->a, "cu1"), 1);
    assert_int_equal(s.mfa.kind, 0); /* no token for a wrong password */
}

/* Each kind of bad second step fails and counts exactly one failure; a success resets. */
static void test_auth_mfa_failures_count(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, s, t;
    struct got g, gt;
    populate(&f->a, &co);
    cu1_mfa(&f->a);

    assert_int_equal(cu1_mfa_login(&f->a, keys[1]), OHSM_TOKEN_INVALID); /* other key */
    assert_int_equal(fails(&f->a, "cu1"), 1);
    assert_int_equal(cu1_mfa_login(&f->a, NULL), OHSM_TOKEN_INVALID); /* empty: abandoned */
    assert_int_equal(fails(&f->a, "cu1"), 2);

    /* garbage of the right length */
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    struct sig junk;
    junk.n = 256;
    assert_int_equal(RAND_bytes(junk.b, 256), 1);
    assert_int_equal(mfa_finish(&f->a, &s, &junk, NULL), OHSM_TOKEN_INVALID);
    assert_int_equal(fails(&f->a, "cu1"), 3);
    /* used up: the right signature of that token now finds nothing, and is not counted again */
    struct sig right = sign(keys[0], g.tok);
    assert_int_equal(mfa_finish(&f->a, &s, &right, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(fails(&f->a, "cu1"), 3);
    assert_false(s.logged_in);

    /* a success resets */
    assert_int_equal(cu1_mfa_login(&f->a, keys[0]), OHSM_OK);
    assert_int_equal(fails(&f->a, "cu1"), 0);

    /* finish without begin: nothing to consume, nothing counted */
    ohsm_session_init(&f->a, &t);
    assert_int_equal(mfa_finish(&f->a, &t, &right, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(fails(&f->a, "cu1"), 0);

    /* swapped: the token of another session does not log this one in */
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    assert_int_equal(mfa_begin(&f->a, &t, OHSM_UT_CU, "cu1", "cu1pw1234", &gt), OHSM_OK);
    struct sig sg = sign(keys[0], g.tok);
    struct sig st = sign(keys[0], gt.tok);
    assert_int_equal(mfa_finish(&f->a, &t, &sg, NULL), OHSM_TOKEN_INVALID);
    assert_int_equal(mfa_finish(&f->a, &s, &st, NULL), OHSM_TOKEN_INVALID);
    assert_int_equal(fails(&f->a, "cu1"), 2);

    /* a registration token's signature does not log in */
    struct ohsm_session a2 = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    ohsm_session_init(&f->a, &s);
    assert_int_equal(reg_begin(&f->a, &a2, OHSM_UT_CU, "cu1", &gt), OHSM_OK);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    st = sign(keys[0], gt.tok);
    assert_int_equal(mfa_finish(&f->a, &s, &st, NULL), OHSM_TOKEN_INVALID);
    assert_int_equal(fails(&f->a, "cu1"), 3);

    /* a reused signature file: the token it signed is gone */
    assert_int_equal(cu1_mfa_login(&f->a, keys[0]), OHSM_OK);
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    sg = sign(keys[0], g.tok);
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_OK);
    assert_int_equal(logout(&f->a, &s), OHSM_OK);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", NULL), OHSM_OK);
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_TOKEN_INVALID);
    assert_int_equal(fails(&f->a, "cu1"), 1);

    /* expired: the right signature one second too late */
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    sg = sign(keys[0], g.tok);
    fake_now += LIFETIME;
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_TOKEN_EXPIRED);
    assert_int_equal(fails(&f->a, "cu1"), 2);
    /* ... while one second earlier works */
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    sg = sign(keys[0], g.tok);
    fake_now += LIFETIME - 1;
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_OK);
    assert_int_equal(fails(&f->a, "cu1"), 0);
}

/* Five failed attempts lock: then the password step refuses even the right password; an
 * abandoned token (a second begin) counts; an admin's password change unlocks. */
static void test_auth_mfa_lockout(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, s;
    struct got g;
    populate(&f->a, &co);
    cu1_mfa(&f->a);
    assert_int_equal(cu1_mfa_login(&f->a, keys[1]), OHSM_TOKEN_INVALID);
    assert_int_equal(cu1_mfa_login(&f->a, NULL), OHSM_TOKEN_INVALID);
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "wrongpw1", NULL), OHSM_PIN_INCORRECT);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", NULL), OHSM_OK);
    assert_int_equal(fails(&f->a, "cu1"), 4);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", &g), OHSM_OK);
    assert_int_equal(fails(&f->a, "cu1"), 5);
    /* the fifth attempt is still in flight: a good signature completes it */
    struct sig sg = sign(keys[0], g.tok);
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_OK);
    assert_int_equal(fails(&f->a, "cu1"), 0);
    ohsm_session_end(&f->a, &s);
    for (uint32_t i = 1; i <= 5; i++) {
        assert_int_equal(cu1_mfa_login(&f->a, keys[1]), OHSM_TOKEN_INVALID);
        assert_int_equal(fails(&f->a, "cu1"), i);
    }
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "cu1pw1234", NULL), OHSM_PIN_LOCKED);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu1", "wrongpw1", NULL), OHSM_PIN_LOCKED);
    assert_int_equal(fails(&f->a, "cu1"), 5);
    assert_int_equal(cu1_mfa_login(&f->a, keys[0]), OHSM_PIN_LOCKED);
    assert_int_equal(user_op(&f->a, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pw1234", NULL), OHSM_OK);
    assert_int_equal(fails(&f->a, "cu1"), 0);
    assert_int_equal(cu1_mfa_login(&f->a, keys[0]), OHSM_OK);
}

/* ---- change-mfa ---- */

/* Who may change whose MFA key; the PRECO and an unauthenticated session may not. */
static void test_auth_change_mfa_rules(void **state)
{
    struct fx *f = *state;
    struct ohsm_session pre, co, none;
    struct got g;
    ohsm_session_init(&f->a, &pre);
    ohsm_session_init(&f->a, &none);
    assert_int_equal(login(&f->a, &pre, OHSM_UT_PRECO, "admin", "password"), OHSM_OK);
    assert_int_equal(reg_begin(&f->a, &pre, OHSM_UT_PRECO, "admin", NULL), OHSM_NOT_ACTIVATED);
    assert_int_equal(reg_begin(&f->a, &none, OHSM_UT_CU, "cu1", NULL), OHSM_USER_NOT_LOGGED_IN);
    ohsm_session_end(&f->a, &pre); /* activation changes admin's password: no other session */
    populate(&f->a, &co);
    struct ohsm_session cu1 = as(&f->a, OHSM_UT_CU, "cu1", "cu1pw1234");
    struct ohsm_session au = as(&f->a, OHSM_UT_AU, "app_user", "appuserpw");
    /* a crypto user for another user, or for a user that does not exist: access denied */
    assert_int_equal(reg_begin(&f->a, &cu1, OHSM_UT_CU, "cu2", NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(reg_begin(&f->a, &cu1, OHSM_UT_CU, "ghost", NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(set_mfa(&f->a, &cu1, OHSM_UT_CO, "admin2", "admin2pw", keys[1], false, NULL),
                     OHSM_ACCESS_DENIED);
    assert_int_equal(reg_begin(&f->a, &au, OHSM_UT_AU, "app_user", NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_AU, "app_user", NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "ghost", NULL), OHSM_USER_NOT_FOUND);
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CO, "cu2", NULL), OHSM_USER_TYPE_INVALID);
    assert_false(get(&f->a, "admin2").mfa);
    /* oneself (crypto user, admin) and, as an admin, another user */
    assert_int_equal(set_mfa(&f->a, &cu1, OHSM_UT_CU, "cu1", "cu1pwnew1", keys[0], false, NULL),
                     OHSM_OK);
    assert_int_equal(set_mfa(&f->a, &co, OHSM_UT_CO, "admin", "adminpw2", keys[1], false, NULL),
                     OHSM_OK);
    assert_int_equal(set_mfa(&f->a, &co, OHSM_UT_CU, "cu2", "cu2pwnew1", keys[2], true, NULL),
                     OHSM_OK);
    assert_true(get(&f->a, "cu1").mfa);
    assert_false(get(&f->a, "cu1").mofn);
    assert_true(get(&f->a, "admin").mfa);
    assert_true(get(&f->a, "cu2").mfa);
    assert_true(get(&f->a, "cu2").mofn);
    /* the new password and key log in */
    struct ohsm_session s;
    ohsm_session_init(&f->a, &s);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu2", "cu2pw1234", NULL),
                     OHSM_PIN_INCORRECT);
    assert_int_equal(mfa_begin(&f->a, &s, OHSM_UT_CU, "cu2", "cu2pwnew1", &g), OHSM_OK);
    struct sig sg = sign(keys[2], g.tok);
    assert_int_equal(mfa_finish(&f->a, &s, &sg, NULL), OHSM_OK);
}

/* A bad registration changes nothing and does not count toward the target's lockout. */
static void test_auth_change_mfa_failures(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co;
    struct got g, g2;
    populate(&f->a, &co);
    struct der good = pub(keys[0]);
    struct der w = pub(weak);
    struct sig sg;

    /* no token */
    memset(&g, 0, sizeof(g));
    sg = sign(keys[0], g.tok);
    struct regf x = {"newpass12", &good, &sg, false, false, NULL};
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_NOT_FOUND);
    /* RSA-1024: refused, and the token is used up */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    sg = sign(weak, g.tok);
    x.key = &w;
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_PUBLIC_KEY_INVALID);
    sg = sign(keys[0], g.tok);
    x.key = &good;
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_NOT_FOUND);
    /* not a key at all */
    struct der junk = {{0x30, 0x03, 0x02, 0x01, 0x01}, 5};
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    x.key = &junk;
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_PUBLIC_KEY_INVALID);
    /* signed by another key than the one given */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    sg = sign(keys[1], g.tok);
    x.key = &good;
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_INVALID);
    /* the token was for another user */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu2", &g), OHSM_OK);
    sg = sign(keys[0], g.tok);
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_NOT_FOUND);
    /* a newer begin replaces the older token */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g2), OHSM_OK);
    sg = sign(keys[0], g.tok);
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_INVALID);
    sg = sign(keys[0], g2.tok); /* and the attempt used the newer one up */
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_NOT_FOUND);
    /* expired */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    sg = sign(keys[0], g.tok);
    fake_now += LIFETIME;
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_EXPIRED);
    /* a bad password: nothing registered */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    sg = sign(keys[0], g.tok);
    x.pw = "short";
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_PIN_LEN_RANGE);
    /* a token issued before logout is gone after it */
    assert_int_equal(reg_begin(&f->a, &co, OHSM_UT_CU, "cu1", &g), OHSM_OK);
    assert_int_equal(logout(&f->a, &co), OHSM_OK);
    assert_int_equal(login(&f->a, &co, OHSM_UT_CO, "admin", "adminpw1"), OHSM_OK);
    sg = sign(keys[0], g.tok);
    x.pw = "newpass12";
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_NOT_FOUND);

    struct ohsm_store_user u = get(&f->a, "cu1");
    assert_false(u.mfa);
    assert_false(u.mofn);
    assert_int_equal(u.fail_count, 0);
    struct ohsm_session s = as(&f->a, OHSM_UT_CU, "cu1", "cu1pw1234"); /* password unchanged */
    ohsm_session_end(&f->a, &s);
}

/* Deregistering removes the key (and the quorum key with change_quorum) and sets the password. */
static void test_auth_change_mfa_deregister(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co;
    populate(&f->a, &co);
    assert_int_equal(set_mfa(&f->a, &co, OHSM_UT_CU, "cu1", "cu1pw1234", keys[0], true, NULL),
                     OHSM_OK);
    assert_true(get(&f->a, "cu1").mofn);
    struct der d = pub(keys[0]);
    struct regf x = {"cu1pwnew1", &d, NULL, true, false, NULL};
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_ARGUMENTS_BAD);
    x.key = NULL;
    x.pw = "tiny";
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_PIN_LEN_RANGE);
    x.pw = "cu1pwnew1";
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_OK);
    assert_false(get(&f->a, "cu1").mfa);
    assert_true(get(&f->a, "cu1").mofn); /* change_quorum was not asked */
    struct ohsm_session s = as(&f->a, OHSM_UT_CU, "cu1", "cu1pwnew1");
    x.change_quorum = true;
    assert_int_equal(reg_finish(&f->a, &s, OHSM_UT_CU, "cu1", &x), OHSM_OK); /* oneself */
    assert_false(get(&f->a, "cu1").mofn);
    uint8_t *k = (uint8_t *)"x";
    size_t n = 1;
    assert_int_equal(
        ohsm_store_user_pubkey(f->a.store, get(&f->a, "cu1").id, OHSM_STORE_MFA_KEY, &k, &n),
        OHSM_OK);
    assert_null(k);
    assert_int_equal(n, 0);
}

/* ---- quorum ---- */

/* Generating, listing, deleting tokens; values need no login; expired tokens vanish. */
static void test_auth_quorum_tokens(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, none;
    struct got g;
    struct ohsm_approval_rec a;
    ohsm_session_init(&f->a, &none);
    assert_int_equal(qvalues(&f->a, &none, &g), OHSM_OK);
    assert_int_equal(g.values[0], 1);
    assert_int_equal(g.values[1], 1);
    assert_int_equal(g.values[2], 1);
    populate(&f->a, &co);
    struct ohsm_session cu = as(&f->a, OHSM_UT_CU, "cu1", "cu1pw1234");
    struct ohsm_session au = as(&f->a, OHSM_UT_AU, "app_user", "appuserpw");
    assert_int_equal(qgen(&f->a, &none, OHSM_QS_USER, NULL), OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(qgen(&f->a, &au, OHSM_QS_REGISTRATION, NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(qgen(&f->a, &cu, OHSM_QS_USER, NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(qgen(&f->a, &co, 0, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_KEY_MGMT, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qgen(&f->a, &co, 99, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qlist(&f->a, &none, NULL), OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(qlist(&f->a, &au, NULL), OHSM_ACCESS_DENIED);

    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    assert_int_equal(g.tok_len, OHSM_APPROVAL_REC_LEN);
    assert_int_equal(g.lifetime, LIFETIME);
    assert_int_equal(ohsm_approval_rec_decode(g.tok, g.tok_len, &a), OHSM_OK);
    assert_int_equal(a.service, OHSM_QS_USER);
    assert_int_equal(a.slot, 1);
    assert_string_equal(a.hsm_id, "hsm-a");
    assert_string_equal(a.username, "admin");
    assert_int_equal(a.expires, fake_now + LIFETIME);
    assert_int_equal(a.key_handle, 0);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, NULL), OHSM_QUORUM_TOKEN_EXISTS);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_QUORUM, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_CLUSTER, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &cu, OHSM_QS_REGISTRATION, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &cu, OHSM_QS_REGISTRATION, NULL), OHSM_OK); /* replaces */
    /* another session of the same admin: still one token per user and service */
    struct ohsm_session co2 = as(&f->a, OHSM_UT_CO, "admin", "adminpw1");
    assert_int_equal(qgen(&f->a, &co2, OHSM_QS_USER, NULL), OHSM_QUORUM_TOKEN_EXISTS);
    fake_now += 10;
    assert_int_equal(qlist(&f->a, &cu, &g), OHSM_OK);
    assert_int_equal(g.ntok, 4);
    for (size_t i = 0; i < g.ntok; i++) {
        assert_int_equal(g.list[i].approvals_required, 1);
        assert_int_equal(g.list[i].approvals, 0);
        assert_int_equal(g.list[i].timeout_seconds, LIFETIME - 10);
    }
    assert_string_equal(g.list[0].username, "admin");
    assert_int_equal(g.list[0].service, OHSM_QS_USER);
    assert_string_equal(g.list[3].username, "cu1");
    assert_int_equal(g.list[3].service, OHSM_QS_REGISTRATION);

    assert_int_equal(qdelete(&f->a, &none, false), OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(qdelete(&f->a, &cu, true), OHSM_ACCESS_DENIED);
    assert_int_equal(qdelete(&f->a, &au, false), OHSM_ACCESS_DENIED);
    assert_int_equal(qdelete(&f->a, &cu, false), OHSM_OK);
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK);
    assert_int_equal(g.ntok, 3);
    assert_int_equal(qdelete(&f->a, &co2, false), OHSM_OK); /* the user's, from any session */
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK);
    assert_int_equal(g.ntok, 0);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &cu, OHSM_QS_REGISTRATION, NULL), OHSM_OK);
    assert_int_equal(qdelete(&f->a, &co, true), OHSM_OK);
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK);
    assert_int_equal(g.ntok, 0);
    /* expiry */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, NULL), OHSM_OK);
    fake_now += LIFETIME;
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK);
    assert_int_equal(g.ntok, 0);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, NULL), OHSM_OK);
}

/* Tokens die with their session and at logout; the table is bounded. */
static void test_auth_quorum_session_end(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co;
    struct got g;
    populate(&f->a, &co);
    struct ohsm_session s = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    struct ohsm_session t = as(&f->a, OHSM_UT_CO, "admin3", "admin3pw");
    assert_int_equal(qgen(&f->a, &s, OHSM_QS_USER, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &t, OHSM_QS_USER, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, NULL), OHSM_OK);
    ohsm_session_end(&f->a, &s);
    assert_int_equal(logout(&f->a, &t), OHSM_OK);
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK);
    assert_int_equal(g.ntok, 1);
    assert_string_equal(g.list[0].username, "admin");
    /* full: every slot taken */
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_MAX; i++) {
        if (f->a.qtok[i].id == 0) {
            f->a.qtok[i].id = 1000 + i;
            f->a.qtok[i].expires = fake_now + 100;
            f->a.qtok[i].service = OHSM_QS_CLUSTER;
        }
    }
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_QUORUM, NULL), OHSM_OBJECT_TOO_MANY);
    fake_now += 100; /* the fillers expire; ours (LIFETIME 60) too */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_QUORUM, NULL), OHSM_OK);
}

/* Registering a quorum key proves possession with a registration token of one's own. */
static void test_auth_quorum_register(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co;
    struct got g, g2;
    populate(&f->a, &co);
    struct ohsm_session cu = as(&f->a, OHSM_UT_CU, "cu1", "cu1pw1234");
    struct ohsm_session a2 = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    struct der d = pub(keys[0]);
    struct der w = pub(weak);
    struct sig sg;

    /* wrong key: the token is used up */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_REGISTRATION, &g), OHSM_OK);
    sg = sign_data(keys[1], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_INVALID);
    sg = sign_data(keys[0], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_NOT_FOUND);
    /* RSA-1024 */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_REGISTRATION, &g), OHSM_OK);
    sg = sign_data(weak, g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &w), OHSM_PUBLIC_KEY_INVALID);
    /* someone else's registration token, a user-service token, malformed data, expired */
    assert_int_equal(qgen(&f->a, &a2, OHSM_QS_REGISTRATION, &g), OHSM_OK);
    sg = sign_data(keys[0], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    sg = sign_data(keys[0], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_REGISTRATION, &g), OHSM_OK);
    sg = sign_data(keys[0], g.tok, g.tok_len - 1);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len - 1, &sg, &d), OHSM_DATA_INVALID);
    g.tok[30] ^= 1; /* a nonce this HSM never issued */
    sg = sign_data(keys[0], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_NOT_FOUND);
    g.tok[30] ^= 1;
    fake_now += LIFETIME;
    sg = sign_data(keys[0], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_EXPIRED);
    assert_false(get(&f->a, "admin").mofn);
    /* the right way; then the same file again finds nothing */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_REGISTRATION, &g), OHSM_OK);
    sg = sign_data(keys[0], g.tok, g.tok_len);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_OK);
    assert_true(get(&f->a, "admin").mofn);
    assert_int_equal(qregister(&f->a, &co, g.tok, g.tok_len, &sg, &d), OHSM_TOKEN_NOT_FOUND);
    /* crypto users register too */
    assert_int_equal(qgen(&f->a, &cu, OHSM_QS_REGISTRATION, &g2), OHSM_OK);
    reg_quorum(&f->a, &cu, keys[1]);
    assert_true(get(&f->a, "cu1").mofn);
    assert_false(get(&f->a, "cu1").mfa);
}

/* Values: range, services, reachability by registered admins, and the quorum service guards
 * setting them once its own value is above 1. */
static void test_auth_quorum_set(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, none;
    struct got g;
    struct appr a;
    populate(&f->a, &co);
    ohsm_session_init(&f->a, &none);
    struct ohsm_session cu = as(&f->a, OHSM_UT_CU, "cu1", "cu1pw1234");
    struct ohsm_session a2 = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    struct ohsm_session a3 = as(&f->a, OHSM_UT_CO, "admin3", "admin3pw");
    assert_int_equal(qset(&f->a, &none, OHSM_QS_USER, 1, NULL), OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(qset(&f->a, &cu, OHSM_QS_USER, 1, NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 0, NULL), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 9, NULL), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_REGISTRATION, 1, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qset(&f->a, &co, 0, 1, NULL), OHSM_ARGUMENTS_BAD);
    /* nobody has a quorum key: 2 could never be reached */
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 2, NULL), OHSM_QUORUM_VALUE_INVALID);
    reg_quorum(&f->a, &co, keys[0]);
    reg_quorum(&f->a, &cu, keys[3]); /* crypto users do not approve */
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 2, NULL), OHSM_QUORUM_VALUE_INVALID);
    reg_quorum(&f->a, &a2, keys[1]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 3, NULL), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 2, NULL), OHSM_OK);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_CLUSTER, 2, NULL), OHSM_OK);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_QUORUM, 2, NULL), OHSM_OK);
    assert_int_equal(qvalues(&f->a, &none, &g), OHSM_OK);
    assert_int_equal(g.values[0], 2);
    assert_int_equal(g.values[1], 2);
    assert_int_equal(g.values[2], 2);
    /* now the quorum service's own value guards it */
    reg_quorum(&f->a, &a3, keys[2]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 3, NULL), OHSM_QUORUM_REQUIRED);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_QUORUM, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 3, &a.ap), OHSM_QUORUM_INSUFFICIENT);
    appr_add(&a, "admin3", keys[2]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 4, &a.ap), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 3, &a.ap), OHSM_OK);
    assert_int_equal(qvalues(&f->a, &none, &g), OHSM_OK);
    assert_int_equal(g.values[0], 3);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 1, &a.ap), OHSM_TOKEN_NOT_FOUND); /* used */
    /* a user-service token does not approve a quorum-service change */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    appr_add(&a, "admin2", keys[1]);
    appr_add(&a, "admin3", keys[2]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 1, &a.ap), OHSM_TOKEN_NOT_FOUND);
}

/* Deleting a user with the user service at 2: approvals are counted only when valid, by distinct
 * admins with registered keys; short of 2 the token stays; on success it is gone (no replay). */
static void test_auth_quorum_guarded_delete(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co;
    struct got g;
    struct appr a;
    populate(&f->a, &co);
    struct ohsm_session cu = as(&f->a, OHSM_UT_CU, "cu1", "cu1pw1234");
    struct ohsm_session a2 = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    struct ohsm_session a3 = as(&f->a, OHSM_UT_CO, "admin3", "admin3pw");
    reg_quorum(&f->a, &co, keys[0]);
    reg_quorum(&f->a, &a2, keys[1]);
    reg_quorum(&f->a, &a3, keys[2]);
    reg_quorum(&f->a, &cu, keys[3]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 2, NULL), OHSM_OK);

    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "cu2", "", NULL),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(user_op(&f->a, &cu, DELETE, OHSM_UT_CU, "cu2", "", NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "cu2", "", &a.ap),
                     OHSM_QUORUM_INSUFFICIENT);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "cu2", "", &a.ap),
                     OHSM_QUORUM_INSUFFICIENT);
    appr_add(&a, "ADMIN2", keys[1]); /* the same approver twice */
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "cu2", "", &a.ap),
                     OHSM_QUORUM_INSUFFICIENT);
    a.ap.n_sigs = 1;
    appr_add(&a, "cu1", keys[3]);    /* a crypto user with a registered key */
    appr_add(&a, "admin4", keys[4]); /* an admin without one */
    appr_add(&a, "admin3", keys[4]); /* a registered admin, wrong key */
    appr_add(&a, "nobody", keys[2]);
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "cu2", "", &a.ap),
                     OHSM_QUORUM_INSUFFICIENT);
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK); /* the token stays, with its count */
    assert_int_equal(g.ntok, 1);
    assert_int_equal(g.list[0].approvals, 1);
    assert_int_equal(g.list[0].approvals_required, 2);
    assert_int_equal(get(&f->a, "cu2").type, OHSM_UT_CU); /* still there */
    /* another admin cannot use this admin's token */
    struct appr b = a;
    b.ap.data.data = b.data;
    b.ap.sigs = b.ptr;
    for (size_t i = 0; i < b.ap.n_sigs; i++) {
        b.ptr[i] = &b.sig[i];
        b.sig[i].signature.data = b.s[i].b;
    }
    appr_add(&b, "admin", keys[0]);
    assert_int_equal(user_op(&f->a, &a2, DELETE, OHSM_UT_CU, "cu2", "", &b.ap),
                     OHSM_TOKEN_NOT_FOUND);
    /* the owner approves too: 2 with admin2. A failing operation keeps the token. */
    appr_add(&a, "admin", keys[0]);
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "ghost", "", &a.ap),
                     OHSM_USER_NOT_FOUND);
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CU, "cu2", "", &a.ap), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_name(f->a.store, "cu2", &(struct ohsm_store_user){0}),
                     OHSM_USER_NOT_FOUND);
    /* no replay */
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CO, "admin4", "", &a.ap),
                     OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(qlist(&f->a, &co, &g), OHSM_OK);
    assert_int_equal(g.ntok, 0);
    /* an expired approval */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    appr_add(&a, "admin2", keys[1]);
    appr_add(&a, "admin3", keys[2]);
    fake_now += LIFETIME;
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CO, "admin4", "", &a.ap),
                     OHSM_TOKEN_EXPIRED);
    /* malformed data */
    a.ap.data.len = 10;
    assert_int_equal(user_op(&f->a, &co, DELETE, OHSM_UT_CO, "admin4", "", &a.ap),
                     OHSM_DATA_INVALID);
    assert_int_equal(get(&f->a, "admin4").type, OHSM_UT_CO);
}

/* Create, another's password and another's MFA key are guarded; one's own password and MFA key
 * are not. */
static void test_auth_quorum_guarded_user_ops(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co;
    struct got g;
    struct appr a;
    populate(&f->a, &co);
    struct ohsm_session a2 = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    reg_quorum(&f->a, &co, keys[0]);
    reg_quorum(&f->a, &a2, keys[1]);
    assert_int_equal(qset(&f->a, &co, OHSM_QS_USER, 2, NULL), OHSM_OK);
    assert_int_equal(user_op(&f->a, &co, CREATE, OHSM_UT_CU, "cu9", "cu9pw1234", NULL),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(user_op(&f->a, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pwnew1", NULL),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(set_mfa(&f->a, &co, OHSM_UT_CU, "cu1", "cu1pw1234", keys[2], false, NULL),
                     OHSM_QUORUM_REQUIRED);
    assert_false(get(&f->a, "cu1").mfa);
    assert_int_equal(user_op(&f->a, &co, CHPW, OHSM_UT_CO, "admin", "adminpw2", NULL), OHSM_OK);
    assert_int_equal(set_mfa(&f->a, &a2, OHSM_UT_CO, "admin2", "admin2pw", keys[1], false, NULL),
                     OHSM_OK);
    /* one token each time */
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    appr_add(&a, "admin", keys[0]);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(user_op(&f->a, &co, CREATE, OHSM_UT_CU, "cu9", "cu9pw1234", &a.ap), OHSM_OK);
    assert_int_equal(user_op(&f->a, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pwnew1", &a.ap),
                     OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    appr_add(&a, "admin", keys[0]);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(user_op(&f->a, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pwnew1", &a.ap), OHSM_OK);
    assert_int_equal(qgen(&f->a, &co, OHSM_QS_USER, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    appr_add(&a, "admin", keys[0]);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(set_mfa(&f->a, &co, OHSM_UT_CU, "cu1", "cu1pw1234", keys[2], false, &a.ap),
                     OHSM_OK);
    assert_true(get(&f->a, "cu1").mfa);
    struct regf x = {"cu1pw1234", NULL, NULL, true, false, &a.ap};
    assert_int_equal(reg_finish(&f->a, &co, OHSM_UT_CU, "cu1", &x), OHSM_TOKEN_NOT_FOUND);
    assert_true(get(&f->a, "cu1").mfa);
}

/* Two HSMs: each finds its own record in the concatenated approval data, and the approvers sign
 * once for both. */
static void test_auth_quorum_two_hsms(void **state)
{
    struct fx *f = *state;
    struct ohsm_session ca, cb, a2a, a2b;
    struct got ga, gb;
    struct appr a;
    uint8_t data[2 * OHSM_APPROVAL_REC_LEN];
    populate(&f->a, &ca);
    populate(&f->b, &cb);
    a2a = as(&f->a, OHSM_UT_CO, "admin2", "admin2pw");
    a2b = as(&f->b, OHSM_UT_CO, "admin2", "admin2pw");
    reg_quorum(&f->a, &ca, keys[0]);
    reg_quorum(&f->b, &cb, keys[0]);
    reg_quorum(&f->a, &a2a, keys[1]);
    reg_quorum(&f->b, &a2b, keys[1]);
    assert_int_equal(qset(&f->a, &ca, OHSM_QS_USER, 2, NULL), OHSM_OK);
    assert_int_equal(qset(&f->b, &cb, OHSM_QS_USER, 2, NULL), OHSM_OK);
    assert_int_equal(qgen(&f->a, &ca, OHSM_QS_USER, &ga), OHSM_OK);
    assert_int_equal(qgen(&f->b, &cb, OHSM_QS_USER, &gb), OHSM_OK);
    memcpy(data, ga.tok, OHSM_APPROVAL_REC_LEN);
    memcpy(data + OHSM_APPROVAL_REC_LEN, gb.tok, OHSM_APPROVAL_REC_LEN);
    /* HSM a's record alone does not serve HSM b */
    appr_init(&a, ga.tok, OHSM_APPROVAL_REC_LEN);
    appr_add(&a, "admin", keys[0]);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(user_op(&f->b, &cb, DELETE, OHSM_UT_CU, "cu2", "", &a.ap),
                     OHSM_TOKEN_NOT_FOUND);
    appr_init(&a, data, sizeof(data));
    appr_add(&a, "admin", keys[0]);
    appr_add(&a, "admin2", keys[1]);
    assert_int_equal(user_op(&f->a, &ca, DELETE, OHSM_UT_CU, "cu2", "", &a.ap), OHSM_OK);
    assert_int_equal(user_op(&f->b, &cb, DELETE, OHSM_UT_CU, "cu2", "", &a.ap), OHSM_OK);
    assert_int_equal(user_op(&f->a, &ca, DELETE, OHSM_UT_CU, "cu1", "", &a.ap),
                     OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(user_op(&f->b, &cb, DELETE, OHSM_UT_CU, "cu1", "", &a.ap),
                     OHSM_TOKEN_NOT_FOUND);
}

/* ---- key quorum: the key-management and key-usage services ---- */

/* What a key request's reply carried. */
struct kres {
    struct ohsm_obj o[2];
    size_t n;
    uint8_t masked[4096]; /* the first masked object */
    size_t masked_len;
    uint8_t data[1024];
    size_t data_len;
};

static ohsm_rv krun(struct ohsm_hsm *h, struct ohsm_session *s, Ohsm__Request *q, struct kres *k)
{
    static struct kres scratch;
    struct ohsm_reply r;
    if (k == NULL) {
        k = &scratch;
    }
    memset(k, 0, sizeof(*k));
    q->id = 9;
    ohsm_reply_init(&r, 9);
    ohsm_dispatch(h, s, q, &r);
    const Ohsm__Response *p = &r.resp;
    ohsm_rv rv = (ohsm_rv)p->rv;
    if (rv == OHSM_OK && p->body_case == OHSM__RESPONSE__BODY_KEY) {
        k->n = p->key->n_records;
        assert_true(k->n <= 2);
        for (size_t i = 0; i < k->n; i++) {
            assert_int_equal(
                ohsm_obj_decode(p->key->records[i].data, p->key->records[i].len, &k->o[i]),
                OHSM_OK);
        }
        if (p->key->n_masked > 0) {
            assert_true(p->key->masked[0].len <= sizeof(k->masked));
            memcpy(k->masked, p->key->masked[0].data, p->key->masked[0].len);
            k->masked_len = p->key->masked[0].len;
        }
    } else if (rv == OHSM_OK && p->body_case == OHSM__RESPONSE__BODY_DATA) {
        assert_true(p->data->data.len <= sizeof(k->data));
        if (p->data->data.len > 0) { /* verify answers no data */
            memcpy(k->data, p->data->data.data, p->data->data.len);
        }
        k->data_len = p->data->data.len;
    } else if (rv != OHSM_OK) {
        assert_int_equal(p->body_case, OHSM__RESPONSE__BODY__NOT_SET);
    }
    ohsm_reply_clear(&r);
    return rv;
}

/* A key to generate: AES-256 (wrap, unwrap), a 32-byte generic secret (sign, verify) or an EC
 * P-256 pair; quorum values (0: not given; pub_manage for a pair's public half); shares. */
struct kspec {
    uint32_t ktype;
    uint32_t manage;
    uint32_t use;
    uint32_t pub_manage;
    const char *share[4]; /* NULL-terminated */
    bool session;
};

static ohsm_rv kgen(struct ohsm_hsm *h, struct ohsm_session *s, const struct kspec *x,
                    struct kres *k)
{
    static struct ohsm_tmpl_buf t, pt;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
    size_t ns = 0;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_init(&pt);
    g.ktype = x->ktype;
    if (x->ktype == OHSM_KT_EC) {
        g.curve = OHSM_CURVE_P256;
        ohsm_tmpl_put_bool(&t, OHSM_A_SIGN, true);
        ohsm_tmpl_put_bool(&pt, OHSM_A_VERIFY, true);
    } else {
        g.length = 32;
    }
    if (x->ktype == OHSM_KT_AES) {
        ohsm_tmpl_put_bool(&t, OHSM_A_WRAP, true);
        ohsm_tmpl_put_bool(&t, OHSM_A_UNWRAP, true);
    }
    if (x->manage != 0) {
        ohsm_tmpl_put_u32(&t, OHSM_A_QUORUM_MANAGE, x->manage);
    }
    if (x->use != 0) {
        ohsm_tmpl_put_u32(&t, OHSM_A_QUORUM_USE, x->use);
    }
    if (x->pub_manage != 0) {
        ohsm_tmpl_put_u32(&pt, OHSM_A_QUORUM_MANAGE, x->pub_manage);
    }
    if (x->session) {
        ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, false);
    }
    while (ns < 4 && x->share[ns] != NULL) {
        ns++;
    }
    g.share = (char **)x->share;
    g.n_share = ns;
    g.template_.data = t.buf;
    g.template_.len = t.len;
    if (pt.len > 0) {
        g.pub_template.data = pt.buf;
        g.pub_template.len = pt.len;
    }
    q.op_case = OHSM__REQUEST__OP_KEY_GEN;
    q.key_gen = &g;
    return krun(h, s, &q, k);
}

/* HMAC-SHA256 sign of "message" (op SIGN) or verify of sig (op VERIFY). */
static ohsm_rv kcrypt(struct ohsm_hsm *h, struct ohsm_session *s, Ohsm__CryptoOp op,
                      uint64_t handle, uint32_t mech, const uint8_t *sig, size_t sig_len,
                      Ohsm__Approval *ap, struct kres *k)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CryptoReq c = OHSM__CRYPTO_REQ__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    m.mech = mech;
    m.hash = OHSM_H_SHA256;
    c.op = op;
    c.handle = handle;
    c.mech = &m;
    c.data.data = (uint8_t *)"message";
    c.data.len = 7;
    c.signature.data = (uint8_t *)sig;
    c.signature.len = sig_len;
    c.approval = ap;
    q.op_case = OHSM__REQUEST__OP_CRYPTO;
    q.crypto = &c;
    return krun(h, s, &q, k);
}

static ohsm_rv ksign(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle,
                     Ohsm__Approval *ap, struct kres *k)
{
    return kcrypt(h, s, OHSM__CRYPTO_OP__SIGN, handle, OHSM_M_HMAC, NULL, 0, ap, k);
}

static ohsm_rv kwrap(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t wrapping,
                     uint64_t payload, uint32_t mech, Ohsm__Approval *pap, Ohsm__Approval *wap,
                     struct kres *k)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__WrapReq w = OHSM__WRAP_REQ__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    m.mech = mech;
    w.wrapping = wrapping;
    w.payload = payload;
    w.mech = &m;
    w.payload_approval = pap;
    w.wrapping_approval = wap;
    q.op_case = OHSM__REQUEST__OP_WRAP;
    q.wrap = &w;
    return krun(h, s, &q, k);
}

/* Unwraps (AES-KWP) an AES key with quorum value use (0: none) shared with share (NULL: none). */
static ohsm_rv kunwrap(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t unwrapping,
                       const struct kres *wrapped, uint32_t use, const char *share,
                       Ohsm__Approval *ap, struct kres *k)
{
    static struct ohsm_tmpl_buf t;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__UnwrapReq u = OHSM__UNWRAP_REQ__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    char *sh[1] = {(char *)share};
    ohsm_tmpl_init(&t);
    if (use != 0) {
        ohsm_tmpl_put_u32(&t, OHSM_A_QUORUM_USE, use);
    }
    m.mech = OHSM_M_AES_KWP;
    u.unwrapping = unwrapping;
    u.mech = &m;
    u.wrapped.data = (uint8_t *)wrapped->data;
    u.wrapped.len = wrapped->data_len;
    u.cls = OHSM_CLASS_SECRET;
    u.ktype = OHSM_KT_AES;
    u.template_.data = t.buf;
    u.template_.len = t.len;
    u.share = share != NULL ? sh : NULL;
    u.n_share = share != NULL ? 1 : 0;
    u.approval = ap;
    q.op_case = OHSM__REQUEST__OP_UNWRAP;
    q.unwrap = &u;
    return krun(h, s, &q, k);
}

static ohsm_rv kshare(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle, const char *user,
                      bool share, Ohsm__Approval *ap, struct kres *k)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyShareReq m = OHSM__KEY_SHARE_REQ__INIT;
    m.handle = handle;
    m.username = (char *)user;
    m.share = share;
    m.approval = ap;
    q.op_case = OHSM__REQUEST__OP_KEY_SHARE;
    q.key_share = &m;
    return krun(h, s, &q, k);
}

/* Sets label (label non-NULL) or trusted=true (label NULL). */
static ohsm_rv kset(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle, const char *label,
                    Ohsm__Approval *ap, struct kres *k)
{
    static struct ohsm_tmpl_buf t;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeySetAttrReq m = OHSM__KEY_SET_ATTR_REQ__INIT;
    ohsm_tmpl_init(&t);
    if (label != NULL) {
        ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, label, strlen(label));
    } else {
        ohsm_tmpl_put_bool(&t, OHSM_A_TRUSTED, true);
    }
    m.handle = handle;
    m.template_.data = t.buf;
    m.template_.len = t.len;
    m.approval = ap;
    q.op_case = OHSM__REQUEST__OP_KEY_SET_ATTR;
    q.key_set_attr = &m;
    return krun(h, s, &q, k);
}

static ohsm_rv kget(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle, struct kres *k)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGetReq m = OHSM__KEY_GET_REQ__INIT;
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_KEY_GET;
    q.key_get = &m;
    return krun(h, s, &q, k);
}

static ohsm_rv qgen_key(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t service,
                        uint64_t handle, struct got *g)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumGenReq m = OHSM__QUORUM_GEN_REQ__INIT;
    m.service = service;
    m.key_handle = handle;
    q.op_case = OHSM__REQUEST__OP_QUORUM_GEN;
    q.quorum_gen = &m;
    return run(h, s, &q, g);
}

static ohsm_rv qdelete_data(struct ohsm_hsm *h, struct ohsm_session *s, const uint8_t *data,
                            size_t len, bool all)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__QuorumDeleteReq m = OHSM__QUORUM_DELETE_REQ__INIT;
    m.all = all;
    m.approval_data.data = (uint8_t *)data;
    m.approval_data.len = len;
    q.op_case = OHSM__REQUEST__OP_QUORUM_DELETE;
    q.quorum_delete = &m;
    return run(h, s, &q, NULL);
}

/* The sessions of the key tests: admin (co, quorum key keys[3]) and crypto users cu1, cu2, cu3
 * with quorum keys keys[0], keys[1], keys[2]. */
struct kp {
    struct ohsm_session co;
    struct ohsm_session cu[3];
};

static void key_people(struct ohsm_hsm *h, struct kp *p)
{
    static const char *const names[3] = {"cu1", "cu2", "cu3"};
    char pw[32];
    populate(h, &p->co);
    assert_int_equal(user_op(h, &p->co, CREATE, OHSM_UT_CU, "cu3", "cu3pw1234", NULL), OHSM_OK);
    reg_quorum(h, &p->co, keys[3]);
    for (int i = 0; i < 3; i++) {
        snprintf(pw, sizeof(pw), "%spw1234", names[i]);
        p->cu[i] = as(h, OHSM_UT_CU, names[i], pw);
        reg_quorum(h, &p->cu[i], keys[i]);
    }
}

/* A fresh token of service for key handle, generated by session s, approved by cu1 and cu2. */
static void approve(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t service, uint64_t handle,
                    struct appr *a)
{
    struct got g;
    assert_int_equal(qgen_key(h, s, service, handle, &g), OHSM_OK);
    appr_init(a, g.tok, g.tok_len);
    appr_add(a, "cu1", keys[0]);
    appr_add(a, "cu2", keys[1]);
}

/* Key tokens: crypto users that own or are shared a token key get them (several each, naming the
 * key); admins, other crypto users, session keys and keyless requests do not. */
static void test_auth_key_token_gen(void **state)
{
    struct fx *f = *state;
    struct kp p;
    struct kres k;
    struct got g;
    struct ohsm_approval_rec a;
    key_people(&f->a, &p);
    struct kspec x = {OHSM_KT_GENERIC_SECRET, 2, 0, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, &k), OHSM_OK);
    uint64_t hd = k.o[0].handle;

    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, hd, &g), OHSM_OK);
    assert_int_equal(g.tok_len, OHSM_APPROVAL_REC_LEN);
    assert_int_equal(ohsm_approval_rec_decode(g.tok, g.tok_len, &a), OHSM_OK);
    assert_int_equal(a.service, OHSM_QS_KEY_USAGE);
    assert_int_equal(a.key_handle, hd);
    assert_string_equal(a.username, "cu1");
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, hd, NULL), OHSM_OK); /* more */
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, hd, NULL), OHSM_OK);
    assert_int_equal(qgen_key(&f->a, &p.cu[1], OHSM_QS_KEY_MGMT, hd, NULL), OHSM_OK); /* shared */
    assert_int_equal(qgen_key(&f->a, &p.co, OHSM_QS_KEY_USAGE, hd, NULL), OHSM_ACCESS_DENIED);
    assert_int_equal(qgen_key(&f->a, &p.cu[2], OHSM_QS_KEY_USAGE, hd, NULL),
                     OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, 0, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, hd + 32, NULL),
                     OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(qgen_key(&f->a, &p.co, OHSM_QS_USER, hd, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_REGISTRATION, hd, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_MAX_ + 1, hd, NULL), OHSM_ARGUMENTS_BAD);
    struct kspec sx = {OHSM_KT_GENERIC_SECRET, 0, 0, 0, {NULL}, true};
    assert_int_equal(kgen(&f->a, &p.cu[0], &sx, &k), OHSM_OK);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, k.o[0].handle, NULL),
                     OHSM_KEY_FUNCTION_NOT_PERMITTED);

    /* listed with the key and its value for the service (use 0: 1 approval) */
    assert_int_equal(qlist(&f->a, &p.cu[2], &g), OHSM_OK);
    assert_int_equal(g.ntok, 4);
    for (size_t i = 0; i < g.ntok; i++) {
        assert_int_equal(g.list[i].key_handle, hd);
        assert_int_equal(g.list[i].approvals_required,
                         g.list[i].service == OHSM_QS_KEY_MGMT ? 2 : 1);
    }
    assert_int_equal(qdelete(&f->a, &p.cu[0], false), OHSM_OK);
    assert_int_equal(qlist(&f->a, &p.cu[0], &g), OHSM_OK);
    assert_int_equal(g.ntok, 1);
    assert_string_equal(g.list[0].username, "cu2");
    /* bounded per user and service, so that no user fills the HSM's table */
    for (size_t i = 0; i < OHSM_HSM_QTOKENS_USER_MAX; i++) {
        assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, hd, NULL), OHSM_OK);
    }
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, hd, NULL), OHSM_OBJECT_TOO_MANY);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, hd, NULL), OHSM_OK);
    assert_int_equal(qgen_key(&f->a, &p.cu[1], OHSM_QS_KEY_USAGE, hd, NULL), OHSM_OK);
}

/* Signing with a key whose use-key-quorum-value is 2: approvals count only when valid and by
 * distinct crypto users associated with the key that have a quorum key; the token must be the
 * signer's, of key-usage, for this key; a failed sign keeps it, a successful one uses it up. */
static void test_auth_key_sign_guarded(void **state)
{
    struct fx *f = *state;
    struct kp p;
    struct kres k, sg;
    struct got g;
    struct appr a, b;
    key_people(&f->a, &p);
    struct kspec x = {OHSM_KT_GENERIC_SECRET, 0, 2, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, &k), OHSM_OK);
    uint64_t hd = k.o[0].handle;
    assert_int_equal(k.o[0].quorum_use, 2);

    assert_int_equal(ksign(&f->a, &p.cu[0], hd, NULL, NULL), OHSM_QUORUM_REQUIRED);
    assert_int_equal(qgen_key(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, hd, &g), OHSM_OK);
    appr_init(&a, g.tok, g.tok_len);
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_QUORUM_INSUFFICIENT);
    appr_add(&a, "cu1", keys[0]); /* the owner: 1 */
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_QUORUM_INSUFFICIENT);
    appr_add(&a, "cu3", keys[2]);   /* a registered crypto user not associated with the key */
    appr_add(&a, "admin", keys[3]); /* a registered admin */
    appr_add(&a, "CU1", keys[0]);   /* the owner again */
    appr_add(&a, "cu2", keys[4]);   /* the shared user with a wrong key */
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_QUORUM_INSUFFICIENT);
    assert_int_equal(qlist(&f->a, &p.cu[0], &g), OHSM_OK);
    assert_int_equal(g.ntok, 1);
    assert_int_equal(g.list[0].approvals, 1);
    assert_int_equal(g.list[0].approvals_required, 2);
    a.ap.n_sigs = 1;
    appr_add(&a, "cu2", keys[1]); /* the shared user: 2 */
    /* a sign that fails (a mechanism the key does not do) keeps the token */
    assert_int_equal(
        kcrypt(&f->a, &p.cu[0], OHSM__CRYPTO_OP__SIGN, hd, OHSM_M_ECDSA, NULL, 0, &a.ap, NULL),
        OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, &sg), OHSM_OK);
    assert_int_equal(sg.data_len, 32);
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND); /* used */
    /* verifying needs no quorum */
    assert_int_equal(kcrypt(&f->a, &p.cu[0], OHSM__CRYPTO_OP__VERIFY, hd, OHSM_M_HMAC, sg.data,
                            sg.data_len, NULL, NULL),
                     OHSM_OK);

    /* a key-management token of this key does not approve a sign */
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, hd, &a);
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    /* nor does a key-usage token of another key, which still serves its own key */
    struct kres k2;
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, &k2), OHSM_OK);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, k2.o[0].handle, &a);
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(ksign(&f->a, &p.cu[0], k2.o[0].handle, &a.ap, NULL), OHSM_OK);
    /* the shared user signs with a token of their own, not with the owner's */
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, hd, &a);
    approve(&f->a, &p.cu[1], OHSM_QS_KEY_USAGE, hd, &b);
    assert_int_equal(ksign(&f->a, &p.cu[1], hd, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(ksign(&f->a, &p.cu[1], hd, &b.ap, NULL), OHSM_OK);
    /* the unrelated user cannot sign at all */
    assert_int_equal(ksign(&f->a, &p.cu[2], hd, &a.ap, NULL), OHSM_KEY_HANDLE_INVALID);
    /* expired */
    fake_now += LIFETIME;
    assert_int_equal(ksign(&f->a, &p.cu[0], hd, &a.ap, NULL), OHSM_TOKEN_EXPIRED);

    /* values 0 and 1: no approval needed, one given is ignored */
    struct kspec one = {OHSM_KT_GENERIC_SECRET, 2, 1, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &one, &k), OHSM_OK);
    assert_int_equal(ksign(&f->a, &p.cu[0], k.o[0].handle, NULL, NULL), OHSM_OK);
    appr_init(&b, (const uint8_t *)"junk", 4);
    assert_int_equal(ksign(&f->a, &p.cu[0], k.o[0].handle, &b.ap, NULL), OHSM_OK);
}

/* Wrapping: the payload key's manage value with the payload approval and the wrapping key's with
 * the wrapping approval, each checked on its own; both used up only when the wrap succeeds. */
static void test_auth_key_wrap_guarded(void **state)
{
    struct fx *f = *state;
    struct kp p;
    struct kres w, pl, w0, p0, out;
    struct appr pa, wa, pa2;
    key_people(&f->a, &p);
    struct kspec q2 = {OHSM_KT_AES, 2, 0, 0, {"cu2", NULL}, false};
    struct kspec q0 = {OHSM_KT_AES, 0, 0, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &q2, &w), OHSM_OK);
    assert_int_equal(kgen(&f->a, &p.cu[0], &q2, &pl), OHSM_OK);
    assert_int_equal(kgen(&f->a, &p.cu[0], &q0, &w0), OHSM_OK);
    assert_int_equal(kgen(&f->a, &p.cu[0], &q0, &p0), OHSM_OK);
    uint64_t W = w.o[0].handle, P = pl.o[0].handle;
    uint64_t W0 = w0.o[0].handle, P0 = p0.o[0].handle;

    assert_int_equal(kwrap(&f->a, &p.cu[0], W0, P0, OHSM_M_AES_KWP, NULL, NULL, &out), OHSM_OK);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, NULL, NULL, NULL),
                     OHSM_QUORUM_REQUIRED);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, P, &pa);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, W, &wa);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, &pa.ap, NULL, NULL),
                     OHSM_QUORUM_REQUIRED); /* the wrapping key's is missing */
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, NULL, &wa.ap, NULL),
                     OHSM_QUORUM_REQUIRED); /* the payload key's is missing */
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, &wa.ap, &pa.ap, NULL),
                     OHSM_TOKEN_NOT_FOUND); /* swapped */
    pa2 = pa;
    pa2.ap.data.data = pa2.data;
    pa2.ap.sigs = pa2.ptr;
    for (size_t i = 0; i < 2; i++) {
        pa2.ptr[i] = &pa2.sig[i];
        pa2.sig[i].signature.data = pa2.s[i].b;
    }
    pa2.ap.n_sigs = 1; /* only the owner */
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, &pa2.ap, &wa.ap, NULL),
                     OHSM_QUORUM_INSUFFICIENT);
    /* a wrap that fails (a mechanism AES keys do not wrap with) keeps both tokens */
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_RSA_OAEP, &pa.ap, &wa.ap, NULL),
                     OHSM_KEY_TYPE_INCONSISTENT);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, &pa.ap, &wa.ap, &out), OHSM_OK);
    assert_int_equal(out.data_len, 40);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, &pa.ap, &wa.ap, NULL),
                     OHSM_TOKEN_NOT_FOUND); /* no replay */
    /* one key with a quorum, the other without: only its approval is needed */
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, P, &pa);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W0, P, OHSM_M_AES_KWP, &pa.ap, NULL, NULL), OHSM_OK);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, W, &wa);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P0, OHSM_M_AES_KWP, NULL, &wa.ap, NULL), OHSM_OK);
    /* a wrap that fails the quorum of one key leaves the other key's token usable */
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, P, &pa);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W, P, OHSM_M_AES_KWP, &pa.ap, NULL, NULL),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(kwrap(&f->a, &p.cu[0], W0, P, OHSM_M_AES_KWP, &pa.ap, NULL, NULL), OHSM_OK);
}

/* Unwrapping with a key whose manage value is 2 needs its approval; the new key's own values are
 * checked against its users (a refusal creates nothing and keeps the token). */
static void test_auth_key_unwrap_guarded(void **state)
{
    struct fx *f = *state;
    struct kp p;
    struct kres w, pl, wrapped, nk;
    struct appr a;
    key_people(&f->a, &p);
    struct kspec q2 = {OHSM_KT_AES, 2, 0, 0, {"cu2", NULL}, false};
    struct kspec q0 = {OHSM_KT_AES, 0, 0, 0, {NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &q2, &w), OHSM_OK);
    assert_int_equal(kgen(&f->a, &p.cu[0], &q0, &pl), OHSM_OK);
    uint64_t W = w.o[0].handle;
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, W, &a);
    assert_int_equal(
        kwrap(&f->a, &p.cu[0], W, pl.o[0].handle, OHSM_M_AES_KWP, NULL, &a.ap, &wrapped), OHSM_OK);
    size_t before = ohsm_objtab_count(f->a.objs);
    assert_int_equal(kunwrap(&f->a, &p.cu[0], W, &wrapped, 0, NULL, NULL, NULL),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(kunwrap(&f->a, &p.cu[0], W, &wrapped, 0, NULL, &a.ap, NULL),
                     OHSM_TOKEN_NOT_FOUND); /* the wrap used it */
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, W, &a);
    assert_int_equal(kunwrap(&f->a, &p.cu[0], W, &wrapped, 2, NULL, &a.ap, NULL),
                     OHSM_QUORUM_VALUE_INVALID); /* use 2 for a key of one user */
    assert_int_equal(ohsm_objtab_count(f->a.objs), before);
    assert_int_equal(kunwrap(&f->a, &p.cu[0], W, &wrapped, 2, "cu2", &a.ap, &nk), OHSM_OK);
    assert_int_equal(nk.n, 1);
    assert_int_equal(nk.o[0].quorum_use, 2);
    assert_int_equal(nk.o[0].quorum_manage, 0);
    assert_int_equal(nk.o[0].nshared, 1);
    assert_memory_equal(nk.o[0].kcv, pl.o[0].kcv, 3);
    assert_int_equal(ohsm_objtab_count(f->a.objs), before + 1);
    assert_int_equal(kunwrap(&f->a, &p.cu[0], W, &wrapped, 0, NULL, &a.ap, NULL),
                     OHSM_TOKEN_NOT_FOUND);
    /* the shared user unwraps too, with approvals of their own token */
    approve(&f->a, &p.cu[1], OHSM_QS_KEY_MGMT, W, &a);
    assert_int_equal(kunwrap(&f->a, &p.cu[1], W, &wrapped, 0, NULL, &a.ap, NULL), OHSM_OK);
}

/* Share, unshare and set-attribute of a key whose manage value is 2 need approvals; unsharing
 * below a value (manage or use) is refused even when approved; admins' `trusted` is theirs. */
static void test_auth_key_share_guarded(void **state)
{
    struct fx *f = *state;
    struct kp p;
    struct kres k, r;
    struct appr a;
    key_people(&f->a, &p);
    struct kspec q2 = {OHSM_KT_AES, 2, 0, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &q2, &k), OHSM_OK);
    uint64_t K = k.o[0].handle;

    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu3", true, NULL, NULL), OHSM_QUORUM_REQUIRED);
    assert_int_equal(kshare(&f->a, &p.cu[1], K, "cu3", true, NULL, NULL), OHSM_KEY_NOT_OWNER);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_USAGE, K, &a); /* the wrong service */
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu3", true, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, K, &a);
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "ghost", true, &a.ap, NULL),
                     OHSM_USER_NOT_FOUND); /* fails: the token stays */
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu3", true, &a.ap, &r), OHSM_OK);
    assert_int_equal(r.o[0].nshared, 2);
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu3", false, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu3", false, NULL, NULL), OHSM_QUORUM_REQUIRED);
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, K, &a);
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu3", false, &a.ap, &r), OHSM_OK);
    assert_int_equal(r.o[0].nshared, 1);
    /* cu2 is the last user besides the owner: unsharing would leave 1 < 2 */
    approve(&f->a, &p.cu[0], OHSM_QS_KEY_MGMT, K, &a);
    assert_int_equal(kshare(&f->a, &p.cu[0], K, "cu2", false, &a.ap, NULL),
                     OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(kget(&f->a, &p.cu[0], K, &r), OHSM_OK);
    assert_int_equal(r.o[0].nshared, 1);
    /* ... and the token is still good, here for a set-attribute */
    assert_int_equal(kset(&f->a, &p.cu[0], K, "renamed", NULL, NULL), OHSM_QUORUM_REQUIRED);
    assert_int_equal(kset(&f->a, &p.cu[0], K, "renamed", &a.ap, &r), OHSM_OK);
    assert_string_equal(r.o[0].label, "renamed");
    assert_int_equal(kset(&f->a, &p.cu[0], K, "again", &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    /* an admin marks it trusted without approvals (admins hold no key tokens) */
    assert_int_equal(kset(&f->a, &p.co, K, NULL, NULL, &r), OHSM_OK);
    assert_true(r.o[0].flags & OHSM_F_TRUSTED);

    /* a use value counts for unsharing too; no manage value: no approval */
    struct kspec u2 = {OHSM_KT_GENERIC_SECRET, 0, 2, 0, {"cu2", "cu3", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &u2, &k), OHSM_OK);
    assert_int_equal(kshare(&f->a, &p.cu[0], k.o[0].handle, "cu3", false, NULL, NULL), OHSM_OK);
    assert_int_equal(kshare(&f->a, &p.cu[0], k.o[0].handle, "cu2", false, NULL, NULL),
                     OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(kset(&f->a, &p.cu[0], k.o[0].handle, "free", NULL, NULL), OHSM_OK);
}

/* Creation: values above 1 need that many users (owner + distinct shares), for both halves of a
 * pair; out of range is an attribute error; nothing is created on refusal; the values travel in
 * the masked object to another HSM. */
static void test_auth_key_create_values(void **state)
{
    struct fx *f = *state;
    struct kp p;
    struct ohsm_session cob, cub;
    struct kres k, r;
    key_people(&f->a, &p);
    size_t before = ohsm_objtab_count(f->a.objs);
    struct kspec x = {OHSM_KT_AES, 0, 2, 0, {NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, NULL), OHSM_QUORUM_VALUE_INVALID);
    x = (struct kspec){OHSM_KT_AES, 3, 0, 0, {"cu2", "CU2", NULL}, false}; /* one share */
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, NULL), OHSM_QUORUM_VALUE_INVALID);
    x = (struct kspec){OHSM_KT_AES, OHSM_QUORUM_MAX + 1, 0, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, NULL), OHSM_ATTRIBUTE_VALUE_INVALID);
    x = (struct kspec){OHSM_KT_EC, 0, 2, 3, {"cu2", NULL}, false}; /* the public half's 3 */
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, NULL), OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(ohsm_objtab_count(f->a.objs), before);
    x = (struct kspec){OHSM_KT_EC, 0, 2, 2, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, &k), OHSM_OK);
    assert_int_equal(k.n, 2);
    assert_int_equal(k.o[0].quorum_use, 2);
    assert_int_equal(k.o[0].quorum_manage, 0);
    assert_int_equal(k.o[1].quorum_manage, 2);
    assert_int_equal(k.o[1].quorum_use, 0);
    x = (struct kspec){OHSM_KT_AES, 3, 3, 0, {"cu2", "cu3", NULL}, false};
    assert_int_equal(kgen(&f->a, &p.cu[0], &x, &k), OHSM_OK);
    assert_int_equal(k.o[0].quorum_manage, 3);
    assert_int_equal(k.o[0].quorum_use, 3);

    /* import: the same rule */
    static struct ohsm_tmpl_buf t;
    uint8_t raw[32] = {1, 2, 3};
    char *sh[1] = {"cu2"};
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyImportReq im = OHSM__KEY_IMPORT_REQ__INIT;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_u32(&t, OHSM_A_QUORUM_MANAGE, 2);
    im.cls = OHSM_CLASS_SECRET;
    im.ktype = OHSM_KT_AES;
    im.material.data = raw;
    im.material.len = sizeof(raw);
    im.template_.data = t.buf;
    im.template_.len = t.len;
    q.op_case = OHSM__REQUEST__OP_KEY_IMPORT;
    q.key_import = &im;
    assert_int_equal(krun(&f->a, &p.cu[0], &q, NULL), OHSM_QUORUM_VALUE_INVALID);
    im.share = sh;
    im.n_share = 1;
    assert_int_equal(krun(&f->a, &p.cu[0], &q, &r), OHSM_OK);
    assert_int_equal(r.o[0].quorum_manage, 2);

    /* replication: HSM b gets the values from the masked object */
    assert_true(k.masked_len > 0);
    populate(&f->b, &cob);
    cub = as(&f->b, OHSM_UT_CU, "cu1", "cu1pw1234");
    Ohsm__Request mq = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq mi = OHSM__MASKED_INSERT_REQ__INIT;
    mi.masked.data = k.masked;
    mi.masked.len = k.masked_len;
    mq.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    mq.masked_insert = &mi;
    assert_int_equal(krun(&f->b, &cub, &mq, NULL), OHSM_OK);
    assert_int_equal(kget(&f->b, &cub, k.o[0].handle, &r), OHSM_OK);
    assert_int_equal(r.o[0].quorum_manage, 3);
    assert_int_equal(r.o[0].quorum_use, 3);
}

/* QuorumDelete with approval data drops only the session user's token whose record for this HSM
 * is in it (what the client does on the other HSMs after a sign used the approval on one). */
static void test_auth_key_quorum_delete(void **state)
{
    struct fx *f = *state;
    struct kp pa, pb;
    struct kres k;
    struct got ga, gb, g;
    struct appr a;
    uint8_t data[2 * OHSM_APPROVAL_REC_LEN];
    key_people(&f->a, &pa);
    key_people(&f->b, &pb);
    struct kspec x = {OHSM_KT_GENERIC_SECRET, 0, 2, 0, {"cu2", NULL}, false};
    assert_int_equal(kgen(&f->a, &pa.cu[0], &x, &k), OHSM_OK);
    uint64_t K = k.o[0].handle;
    assert_int_equal(qgen_key(&f->a, &pa.cu[0], OHSM_QS_KEY_USAGE, K, &ga), OHSM_OK);
    assert_int_equal(qgen_key(&f->a, &pa.cu[1], OHSM_QS_KEY_USAGE, K, &g), OHSM_OK);
    assert_int_equal(qdelete_data(&f->a, &pa.cu[1], ga.tok, ga.tok_len, false),
                     OHSM_TOKEN_NOT_FOUND); /* not cu2's */
    assert_int_equal(qdelete_data(&f->a, &pa.cu[0], ga.tok, ga.tok_len, true), OHSM_ACCESS_DENIED);
    assert_int_equal(qdelete_data(&f->a, &pa.co, ga.tok, ga.tok_len, true), OHSM_ARGUMENTS_BAD);
    assert_int_equal(qdelete_data(&f->a, &pa.cu[0], ga.tok, 10, false), OHSM_DATA_INVALID);
    assert_int_equal(qlist(&f->a, &pa.cu[0], &g), OHSM_OK);
    assert_int_equal(g.ntok, 2);
    assert_int_equal(qdelete_data(&f->a, &pa.cu[0], ga.tok, ga.tok_len, false), OHSM_OK);
    assert_int_equal(qdelete_data(&f->a, &pa.cu[0], ga.tok, ga.tok_len, false),
                     OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(qlist(&f->a, &pa.cu[0], &g), OHSM_OK);
    assert_int_equal(g.ntok, 1);
    assert_string_equal(g.list[0].username, "cu2");
    appr_init(&a, ga.tok, ga.tok_len);
    appr_add(&a, "cu1", keys[0]);
    appr_add(&a, "cu2", keys[1]);
    assert_int_equal(ksign(&f->a, &pa.cu[0], K, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    /* an expired token is none */
    assert_int_equal(qgen_key(&f->a, &pa.cu[0], OHSM_QS_KEY_USAGE, K, &ga), OHSM_OK);
    fake_now += LIFETIME;
    assert_int_equal(qdelete_data(&f->a, &pa.cu[0], ga.tok, ga.tok_len, false),
                     OHSM_TOKEN_NOT_FOUND);

    /* two HSMs: the key on both; one approval for both; the sign on a uses a's token, the
     * delete on b drops b's, and the approval is then good nowhere */
    Ohsm__Request mq = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq mi = OHSM__MASKED_INSERT_REQ__INIT;
    mi.masked.data = k.masked;
    mi.masked.len = k.masked_len;
    mq.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    mq.masked_insert = &mi;
    assert_int_equal(krun(&f->b, &pb.cu[0], &mq, NULL), OHSM_OK);
    assert_int_equal(qgen_key(&f->a, &pa.cu[0], OHSM_QS_KEY_USAGE, K, &ga), OHSM_OK);
    assert_int_equal(qgen_key(&f->b, &pb.cu[0], OHSM_QS_KEY_USAGE, K, &gb), OHSM_OK);
    memcpy(data, ga.tok, OHSM_APPROVAL_REC_LEN);
    memcpy(data + OHSM_APPROVAL_REC_LEN, gb.tok, OHSM_APPROVAL_REC_LEN);
    appr_init(&a, data, sizeof(data));
    appr_add(&a, "cu1", keys[0]);
    appr_add(&a, "cu2", keys[1]);
    assert_int_equal(ksign(&f->a, &pa.cu[0], K, &a.ap, NULL), OHSM_OK);
    assert_int_equal(qdelete_data(&f->b, &pb.cu[0], data, sizeof(data), false), OHSM_OK);
    assert_int_equal(ksign(&f->b, &pb.cu[0], K, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(ksign(&f->a, &pa.cu[0], K, &a.ap, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(qdelete_data(&f->a, &pa.cu[0], data, sizeof(data), false),
                     OHSM_TOKEN_NOT_FOUND);
}

int main(void)

{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_mfa_login_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_mfa_begin_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_mfa_failures_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_mfa_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_change_mfa_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_change_mfa_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_change_mfa_deregister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_session_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_guarded_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_guarded_user_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_quorum_two_hsms, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_token_gen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_sign_guarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_wrap_guarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_unwrap_guarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_share_guarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_create_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_quorum_delete, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
