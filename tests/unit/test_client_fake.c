/* SPDX-License-Identifier: Apache-2.0
 *
 * libopenhsm against fake HSMs in this process (TLS 1.3 on 127.0.0.1, a self-signed certificate
 * as the trust anchor): pipelining (frames written together, at most `window` in flight),
 * spreading and fail-over of batches, re-login after a lost connection and its limits, routing
 * and the engine's bookkeeping, replication of new keys, and sync repair (automatic and asked
 * for). The fakes answer hello, login, logout, change-password, verify (signature = the message
 * reversed; handle 0xdead is unknown to HSM 0), and keep a table of objects for key generation,
 * masked insert/extract (a "masked object" here is the text "M|T handle version"), delete and
 * sync status. For issue 5 they also play MFA and quorum: MFA tokens are 32 bytes that differ per
 * HSM and per issue, and the only signature a fake accepts for its token is "S", its slot, then
 * the token (so a signature meant for another HSM fails); quorum records are 96 bytes marked with
 * the HSM's slot; every approval, key, password and flag a request carries is recorded. For key
 * quorum they sign (signature = the message reversed), wrap, unwrap (a new key, as generation),
 * set attributes and share, record the approvals of each, and record the approval_data of every
 * QuorumDelete; a set guard_rv makes each of these guarded key operations fail.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/internal.h"
#include "openhsm/frame.h"

#define NFAKE 2
#define UNKNOWN_ON_0 0xdeadu
#define MAXCONN 64

/* What the last request of each kind carried (issue 5). */
struct fake_approval {
    bool present;
    uint8_t data[256];
    size_t len;
    size_t nsigs;
    char user[4][32];
    uint8_t sig[4][64];
    size_t sig_len[4];
};

struct fake5 {
    bool mfa_user;      /* plain LOGIN answers OHSM_MFA_REQUIRED */
    ohsm_rv begin_rv;   /* MFA_BEGIN and MFA_REG_BEGIN fail with this when set */
    bool short_record;  /* QUORUM_GEN answers a record one byte short */
    uint32_t tok_seq;   /* tokens issued */
    uint32_t create_id; /* the user_id of the last CREATE_USER */
    int mfa_begins, mfa_finishes, reg_begins, reg_finishes, qgens, user_ops, qsets, qdeletes,
        qregisters;
    struct fake_approval ap;  /* of the last request that can carry one (wrap: the payload's) */
    struct fake_approval ap2; /* the wrapping approval of the last wrap */
    /* key quorum: guarded key operations seen, their failure when set, QuorumDelete's data */
    int signs, wraps, unwraps, setattrs, shares;
    ohsm_rv guard_rv, qdel_rv;
    bool share_flag;
    uint64_t handle; /* of the last guarded key operation (wrap: the payload) */
    int qdel_data_n; /* QuorumDeletes that carried approval_data */
    uint8_t qdel_data[2][256];
    size_t qdel_len[2];
    char user[32];     /* username of the last user request */
    char password[64]; /* password of the last create / change / register request */
    uint8_t sig[600];  /* last MFA_FINISH / MFA_REG_FINISH / QUORUM_REGISTER signature */
    size_t sig_len;
    uint8_t pub[64];
    size_t pub_len;
    uint8_t data[256]; /* QUORUM_REGISTER approval_data */
    size_t data_len;
    bool change_quorum, deregister, all;
    uint32_t service, value;
    uint64_t key_handle;
    bool has_mfa;
};

/* One session's state on a fake. */
struct fsess {
    bool logged_in;
    bool mfa_pending, reg_pending;
    uint8_t mfa_tok[32], reg_tok[32];
    char user[32];
};

struct fake {
    uint32_t slot;
    int lfd;
    uint16_t port;
    pthread_t thr;
    pthread_mutex_t mu;
    char password[64];
    int logins;                           /* login attempts */
    uint8_t group[OHSM_SGROUP_TOKEN_LEN]; /* the last login's LoginReq.group */
    size_t group_len;
    int served;       /* verify requests answered */
    size_t max_batch; /* most requests read before answering */
    int fds[MAXCONN];
    size_t nfds;
    volatile bool stop;
    /* a tiny object table: what KEY_GEN, MASKED_INSERT, KEY_DELETE and SYNC_STATUS see */
    struct {
        uint64_t handle, version;
        bool deleted;
    } obj[16];
    size_t nobj;
    uint64_t seq;
    int gens, inserts, syncs;
    bool refuse_changes; /* MASKED_INSERT and KEY_DELETE fail with OHSM_DEVICE_ERROR */
    int hang_gen_ms;     /* KEY_GEN answers this late */
    int trickle_ms;      /* answers to a logged-in session go out one byte per trickle_ms */
    struct fake5 x;      /* issue 5 (reset per test) */
};

static struct fake fakes[NFAKE];
static SSL_CTX *server_ctx;
static char anchor[128];
static struct ohsm_cfg cfg;
static struct ohsm_cfg_hsm cfg_hsms[NFAKE];

/* ---- the fake HSM ---- */

static void put_frame(uint8_t **buf, size_t *len, const Ohsm__Response *r)
{
    size_t n = protobuf_c_message_get_packed_size(&r->base);
    *buf = realloc(*buf, *len + OHSM_FRAME_HDR + n);
    assert_non_null(*buf);
    assert_int_equal(ohsm_frame_hdr_write(n, *buf + *len), OHSM_OK);
    (void)protobuf_c_message_pack(&r->base, *buf + *len + OHSM_FRAME_HDR);
    *len += OHSM_FRAME_HDR + n;
}

static size_t find_obj(struct fake *f, uint64_t handle)
{
    for (size_t i = 0; i < f->nobj; i++) {
        if (f->obj[i].handle == handle) {
            return i;
        }
    }
    return SIZE_MAX;
}

/* Object requests; buffers live in the caller's frame until the answer is packed. */
struct objbufs {
    Ohsm__KeyResp key;
    Ohsm__MaskedResp masked;
    Ohsm__SyncStatusResp sync;
    Ohsm__SyncObject so[16];
    Ohsm__SyncObject *sop[16];
    uint8_t digest[16][32];
    ProtobufCBinaryData recs[1], blobs[1];
    uint8_t rec[OHSM_OBJ_ENC_MAX];
    char text[64];
};

/* Issue-5 answers; like objbufs, they live until the answer is packed. */
struct authbufs {
    Ohsm__TokenResp tok;
    uint8_t tokbuf[128];
    Ohsm__LoginResp login;
    char uname[32];
    Ohsm__QuorumListResp ql;
    Ohsm__QuorumToken qt[2];
    Ohsm__QuorumToken *qtp[2];
    Ohsm__QuorumValuesResp qv;
    Ohsm__DataResp data;
    uint8_t databuf[64];
    Ohsm__UserResp user;
};

static void note_approval_in(struct fake_approval *o, const Ohsm__Approval *a)
{
    memset(o, 0, sizeof(*o));
    if (a == NULL) {
        return;
    }
    o->present = true;
    o->len = a->data.len < sizeof(o->data) ? a->data.len : sizeof(o->data);
    memcpy(o->data, a->data.data, o->len);
    o->nsigs = a->n_sigs;
    for (size_t i = 0; i < a->n_sigs && i < 4; i++) {
        (void)snprintf(o->user[i], sizeof(o->user[i]), "%s", a->sigs[i]->username);
        o->sig_len[i] = a->sigs[i]->signature.len < 64 ? a->sigs[i]->signature.len : 64;
        memcpy(o->sig[i], a->sigs[i]->signature.data, o->sig_len[i]);
    }
}

static void note_approval(struct fake *f, const Ohsm__Approval *a)
{
    note_approval_in(&f->x.ap, a);
}

/* A new AES token key in the table, answered with its record and masked object. */
static void new_key(struct fake *f, Ohsm__Response *r, struct objbufs *b)
{
    struct ohsm_obj o;
    size_t len = 0;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    o.value_len = 32;
    (void)snprintf(o.owner, sizeof(o.owner), "alice");
    o.handle = ohsm_handle_make(f->slot, ++f->seq);
    assert_int_equal(ohsm_obj_encode(&o, b->rec, sizeof(b->rec), &len), OHSM_OK);
    f->obj[f->nobj].handle = o.handle;
    f->obj[f->nobj].version = 1;
    f->obj[f->nobj].deleted = false;
    f->nobj++;
    (void)snprintf(b->text, sizeof(b->text), "M %llu 1", (unsigned long long)o.handle);
    ohsm__key_resp__init(&b->key);
    b->recs[0].data = b->rec;
    b->recs[0].len = len;
    b->blobs[0].data = (uint8_t *)b->text;
    b->blobs[0].len = strlen(b->text);
    b->key.n_records = b->key.n_masked = 1;
    b->key.records = b->recs;
    b->key.masked = b->blobs;
    r->body_case = OHSM__RESPONSE__BODY_KEY;
    r->key = &b->key;
}

static void answer_obj(struct fake *f, const Ohsm__Request *q, Ohsm__Response *r, struct objbufs *b)
{
    switch (q->op_case) {
    case OHSM__REQUEST__OP_KEY_GEN:
        f->gens++;
        if (f->hang_gen_ms > 0) {
            (void)pthread_mutex_unlock(&f->mu);
            usleep((useconds_t)f->hang_gen_ms * 1000u);
            (void)pthread_mutex_lock(&f->mu);
        }
        new_key(f, r, b);
        return;
    case OHSM__REQUEST__OP_UNWRAP:
        f->x.unwraps++;
        f->x.handle = q->unwrap->unwrapping;
        note_approval(f, q->unwrap->approval);
        if (f->x.guard_rv != OHSM_OK) {
            r->rv = f->x.guard_rv;
            return;
        }
        new_key(f, r, b);
        return;
    case OHSM__REQUEST__OP_MASKED_INSERT: {
        char kind = 0;
        unsigned long long h = 0, v = 0;
        char text[64];
        (void)snprintf(text, sizeof(text), "%.*s", (int)q->masked_insert->masked.len,
                       (const char *)q->masked_insert->masked.data);
        if (f->refuse_changes || sscanf(text, "%c %llu %llu", &kind, &h, &v) != 3) {
            r->rv = f->refuse_changes ? OHSM_DEVICE_ERROR : OHSM_MASKED_OBJECT_INVALID;
            return;
        }
        size_t i = find_obj(f, h);
        if (i != SIZE_MAX && (!q->masked_insert->replace || f->obj[i].version >= v)) {
            r->rv = OHSM_OBJECT_EXISTS;
            return;
        }
        if (i == SIZE_MAX) {
            i = f->nobj++;
        }
        f->obj[i].handle = h;
        f->obj[i].version = v;
        f->obj[i].deleted = kind == 'T';
        f->inserts++;
        return;
    }
    case OHSM__REQUEST__OP_MASKED_EXTRACT: {
        size_t i = find_obj(f, q->masked_extract->handle);
        if (i == SIZE_MAX) {
            r->rv = OHSM_KEY_HANDLE_INVALID;
            return;
        }
        (void)snprintf(b->text, sizeof(b->text), "%c %llu %llu", f->obj[i].deleted ? 'T' : 'M',
                       (unsigned long long)f->obj[i].handle, (unsigned long long)f->obj[i].version);
        ohsm__masked_resp__init(&b->masked);
        b->masked.masked.data = (uint8_t *)b->text;
        b->masked.masked.len = strlen(b->text);
        r->body_case = OHSM__RESPONSE__BODY_MASKED;
        r->masked = &b->masked;
        return;
    }
    case OHSM__REQUEST__OP_KEY_DELETE: {
        size_t i = find_obj(f, q->key_delete->handle);
        if (f->refuse_changes || i == SIZE_MAX || f->obj[i].deleted) {
            r->rv = f->refuse_changes ? OHSM_DEVICE_ERROR : OHSM_KEY_HANDLE_INVALID;
            return;
        }
        f->obj[i].deleted = true;
        f->obj[i].version++;
        return;
    }
    default: { /* OHSM__REQUEST__OP_SYNC_STATUS */
        f->syncs++;
        ohsm__sync_status_resp__init(&b->sync);
        for (size_t i = 0; i < f->nobj; i++) {
            ohsm__sync_object__init(&b->so[i]);
            b->so[i].handle = f->obj[i].handle;
            b->so[i].version = f->obj[i].version;
            b->so[i].deleted = f->obj[i].deleted;
            if (!f->obj[i].deleted) {
                memset(b->digest[i], (int)(f->obj[i].handle + f->obj[i].version), 32);
                b->so[i].digest.data = b->digest[i];
                b->so[i].digest.len = 32;
            }
            b->sop[i] = &b->so[i];
        }
        b->sync.n_objects = f->nobj;
        b->sync.objects = b->sop;
        r->body_case = OHSM__RESPONSE__BODY_SYNC;
        r->sync = &b->sync;
        return;
    }
    }
}

static void note_bytes(uint8_t *dst, size_t cap, size_t *len, const ProtobufCBinaryData *b)
{
    *len = b->len < cap ? b->len : cap;
    if (*len > 0) {
        memcpy(dst, b->data, *len);
    }
}

/* A fresh token (unique per HSM and per issue), kept in the session. */
static void issue_token(struct fake *f, uint8_t tok[32], struct authbufs *b, Ohsm__Response *r)
{
    f->x.tok_seq++;
    for (size_t j = 0; j < 32; j++) {
        tok[j] = (uint8_t)(f->slot * 64u + f->x.tok_seq * 7u + j);
    }
    memcpy(b->tokbuf, tok, 32);
    b->tok.token.data = b->tokbuf;
    b->tok.token.len = 32;
    b->tok.lifetime = 600;
    r->body_case = OHSM__RESPONSE__BODY_TOKEN;
    r->token = &b->tok;
}

/* The one signature this fake accepts for tok: "S", its slot, the token. */
static bool sig_matches(const struct fake *f, const uint8_t tok[32], const ProtobufCBinaryData *sig)
{
    return sig->len == 34 && sig->data[0] == 'S' && sig->data[1] == f->slot &&
           memcmp(sig->data + 2, tok, 32) == 0;
}

static void answer_auth(struct fake *f, struct fsess *s, const Ohsm__Request *q, Ohsm__Response *r,
                        struct authbufs *b)
{
    struct fake5 *x = &f->x;
    switch (q->op_case) {
    case OHSM__REQUEST__OP_CREATE_USER:
        x->user_ops++;
        note_approval(f, q->create_user->approval);
        (void)snprintf(x->user, sizeof(x->user), "%s", q->create_user->username);
        (void)snprintf(x->password, sizeof(x->password), "%.*s", (int)q->create_user->password.len,
                       (const char *)q->create_user->password.data);
        /* Issue 10: the first HSM gives the id (here 40 + its slot), the others take it. */
        x->create_id = q->create_user->user_id;
        ohsm__user_resp__init(&b->user);
        b->user.user_id = q->create_user->user_id != 0 ? q->create_user->user_id : 40 + f->slot;
        b->user.user_type = q->create_user->user_type;
        r->body_case = OHSM__RESPONSE__BODY_USER;
        r->user = &b->user;
        return;
    case OHSM__REQUEST__OP_DELETE_USER:
        x->user_ops++;
        note_approval(f, q->delete_user->approval);
        (void)snprintf(x->user, sizeof(x->user), "%s", q->delete_user->username);
        return;
    case OHSM__REQUEST__OP_MFA_BEGIN:
        x->mfa_begins++;
        s->mfa_pending = false;
        if (x->begin_rv != OHSM_OK) {
            r->rv = x->begin_rv;
            return;
        }
        if (q->mfa_begin->password.len != strlen(f->password) ||
            memcmp(q->mfa_begin->password.data, f->password, q->mfa_begin->password.len) != 0) {
            r->rv = OHSM_PIN_INCORRECT;
            return;
        }
        (void)snprintf(s->user, sizeof(s->user), "%s", q->mfa_begin->username);
        s->mfa_pending = true;
        issue_token(f, s->mfa_tok, b, r);
        return;
    case OHSM__REQUEST__OP_MFA_FINISH:
        x->mfa_finishes++;
        note_bytes(x->sig, sizeof(x->sig), &x->sig_len, &q->mfa_finish->signature);
        if (!s->mfa_pending) {
            r->rv = OHSM_TOKEN_NOT_FOUND;
            return;
        }
        s->mfa_pending = false; /* consumed whatever happens */
        if (!sig_matches(f, s->mfa_tok, &q->mfa_finish->signature)) {
            r->rv = OHSM_TOKEN_INVALID;
            return;
        }
        s->logged_in = true;
        (void)snprintf(b->uname, sizeof(b->uname), "%s", s->user);
        b->login.user_type = OHSM_UT_CU;
        b->login.username = b->uname;
        r->body_case = OHSM__RESPONSE__BODY_LOGIN;
        r->login = &b->login;
        return;
    case OHSM__REQUEST__OP_MFA_REG_BEGIN:
        x->reg_begins++;
        s->reg_pending = false;
        if (!s->logged_in || x->begin_rv != OHSM_OK) {
            r->rv = !s->logged_in ? OHSM_USER_NOT_LOGGED_IN : x->begin_rv;
            return;
        }
        s->reg_pending = true;
        issue_token(f, s->reg_tok, b, r);
        return;
    case OHSM__REQUEST__OP_MFA_REG_FINISH: {
        const Ohsm__MfaRegFinishReq *m = q->mfa_reg_finish;
        x->reg_finishes++;
        note_approval(f, m->approval);
        note_bytes(x->sig, sizeof(x->sig), &x->sig_len, &m->signature);
        note_bytes(x->pub, sizeof(x->pub), &x->pub_len, &m->public_key);
        (void)snprintf(x->user, sizeof(x->user), "%s", m->username);
        (void)snprintf(x->password, sizeof(x->password), "%.*s", (int)m->password.len,
                       (const char *)m->password.data);
        x->change_quorum = m->change_quorum;
        x->deregister = m->deregister;
        if (m->deregister) {
            x->has_mfa = false;
            return;
        }
        bool pending = s->reg_pending;
        s->reg_pending = false;
        r->rv = !pending                                     ? OHSM_TOKEN_NOT_FOUND
                : !sig_matches(f, s->reg_tok, &m->signature) ? OHSM_TOKEN_INVALID
                                                             : OHSM_OK;
        x->has_mfa = r->rv == OHSM_OK;
        return;
    }
    case OHSM__REQUEST__OP_QUORUM_GEN:
        if (!s->logged_in) {
            r->rv = OHSM_USER_NOT_LOGGED_IN;
            return;
        }
        x->qgens++;
        x->service = q->quorum_gen->service;
        x->key_handle = q->quorum_gen->key_handle;
        memset(b->tokbuf, (int)(0x11u * (f->slot + 1u)), OHSM_APPROVAL_REC_LEN);
        memcpy(b->tokbuf, "OHQ1", 4);
        b->tokbuf[4] = (uint8_t)q->quorum_gen->service;
        b->tokbuf[5] = (uint8_t)f->slot;
        b->tok.token.data = b->tokbuf;
        b->tok.token.len = OHSM_APPROVAL_REC_LEN - (x->short_record ? 1u : 0u);
        b->tok.lifetime = 600;
        r->body_case = OHSM__RESPONSE__BODY_TOKEN;
        r->token = &b->tok;
        return;
    case OHSM__REQUEST__OP_QUORUM_LIST:
        for (size_t i = 0; i < 2; i++) {
            ohsm__quorum_token__init(&b->qt[i]);
            b->qtp[i] = &b->qt[i];
        }
        b->qt[0].username = "alice";
        b->qt[0].service = OHSM_QS_USER;
        b->qt[0].approvals_required = 2;
        b->qt[0].approvals = 1;
        b->qt[0].timeout_seconds = 500 + f->slot;
        b->qt[1].username = "bob";
        b->qt[1].service = OHSM_QS_KEY_MGMT;
        b->qt[1].approvals_required = 3;
        b->qt[1].timeout_seconds = 42;
        b->qt[1].key_handle = 0x1234;
        b->ql.n_tokens = 2;
        b->ql.tokens = b->qtp;
        r->body_case = OHSM__RESPONSE__BODY_QTOKENS;
        r->qtokens = &b->ql;
        return;
    case OHSM__REQUEST__OP_QUORUM_VALUES:
        b->qv.user = 2;
        b->qv.quorum = 1 + f->slot;
        b->qv.cluster = 3;
        r->body_case = OHSM__RESPONSE__BODY_QVALUES;
        r->qvalues = &b->qv;
        return;
    case OHSM__REQUEST__OP_QUORUM_SET:
        x->qsets++;
        x->service = q->quorum_set->service;
        x->value = q->quorum_set->value;
        note_approval(f, q->quorum_set->approval);
        return;
    case OHSM__REQUEST__OP_QUORUM_DELETE: {
        const ProtobufCBinaryData *d = &q->quorum_delete->approval_data;
        x->qdeletes++;
        x->all = q->quorum_delete->all;
        if (d->len > 0) {
            size_t k = x->qdel_data_n < 2 ? (size_t)x->qdel_data_n : 1;
            note_bytes(x->qdel_data[k], sizeof(x->qdel_data[k]), &x->qdel_len[k], d);
            x->qdel_data_n++;
        }
        r->rv = x->qdel_rv;
        return;
    }
    case OHSM__REQUEST__OP_WRAP:
        x->wraps++;
        x->handle = q->wrap->payload;
        note_approval(f, q->wrap->payload_approval);
        note_approval_in(&x->ap2, q->wrap->wrapping_approval);
        if (!s->logged_in || x->guard_rv != OHSM_OK) {
            r->rv = !s->logged_in ? OHSM_USER_NOT_LOGGED_IN : x->guard_rv;
            return;
        }
        memcpy(b->databuf, "wrapped", 7);
        b->data.data.data = b->databuf;
        b->data.data.len = 7;
        r->body_case = OHSM__RESPONSE__BODY_DATA;
        r->data = &b->data;
        return;
    case OHSM__REQUEST__OP_KEY_SET_ATTR:
        x->setattrs++;
        x->handle = q->key_set_attr->handle;
        note_approval(f, q->key_set_attr->approval);
        r->rv = x->guard_rv;
        return;
    case OHSM__REQUEST__OP_KEY_SHARE:
        x->shares++;
        x->handle = q->key_share->handle;
        x->share_flag = q->key_share->share;
        (void)snprintf(x->user, sizeof(x->user), "%s", q->key_share->username);
        note_approval(f, q->key_share->approval);
        r->rv = x->guard_rv;
        return;
    case OHSM__REQUEST__OP_QUORUM_REGISTER:
        x->qregisters++;
        note_bytes(x->data, sizeof(x->data), &x->data_len, &q->quorum_register->approval_data);
        note_bytes(x->sig, sizeof(x->sig), &x->sig_len, &q->quorum_register->signature);
        note_bytes(x->pub, sizeof(x->pub), &x->pub_len, &q->quorum_register->public_key);
        return;
    default:
        r->rv = OHSM_PROTOCOL;
        return;
    }
}

/* A sign: the message reversed, unless guard_rv says no. */
static void answer_sign(struct fake *f, const Ohsm__CryptoReq *c, Ohsm__Response *r,
                        struct authbufs *b)
{
    f->x.signs++;
    f->x.handle = c->handle;
    note_approval(f, c->approval);
    if (f->x.guard_rv != OHSM_OK || c->data.len > sizeof(b->databuf)) {
        r->rv = f->x.guard_rv != OHSM_OK ? f->x.guard_rv : OHSM_DATA_LEN_RANGE;
        return;
    }
    for (size_t i = 0; i < c->data.len; i++) {
        b->databuf[i] = c->data.data[c->data.len - 1 - i];
    }
    b->data.data.data = b->databuf;
    b->data.data.len = c->data.len;
    r->body_case = OHSM__RESPONSE__BODY_DATA;
    r->data = &b->data;
}

static void answer(struct fake *f, struct fsess *s, const Ohsm__Request *q, uint8_t **out,
                   size_t *out_len)
{
    bool *logged_in = &s->logged_in;
    struct authbufs *ab = calloc(1, sizeof(*ab));
    assert_non_null(ab);
    ohsm__token_resp__init(&ab->tok);
    ohsm__login_resp__init(&ab->login);
    ohsm__quorum_list_resp__init(&ab->ql);
    ohsm__quorum_values_resp__init(&ab->qv);
    ohsm__data_resp__init(&ab->data);
    struct objbufs *ob = calloc(1, sizeof(*ob));
    assert_non_null(ob);
    Ohsm__Response r = OHSM__RESPONSE__INIT;
    Ohsm__HelloResp hello = OHSM__HELLO_RESP__INIT;
    Ohsm__LoginResp login = OHSM__LOGIN_RESP__INIT;
    Ohsm__UserResp user = OHSM__USER_RESP__INIT;

    r.id = q->id;
    (void)pthread_mutex_lock(&f->mu);
    switch (q->op_case) {
    case OHSM__REQUEST__OP_HELLO:
        hello.version = 1;
        hello.hsm_id = f == &fakes[0] ? "hsm-a" : "hsm-b";
        hello.cluster_id = "cluster-x";
        hello.slot = f->slot;
        r.body_case = OHSM__RESPONSE__BODY_HELLO;
        r.hello = &hello;
        break;
    case OHSM__REQUEST__OP_LOGIN:
        f->logins++;
        f->group_len = q->login->group.len;
        if (q->login->group.len == OHSM_SGROUP_TOKEN_LEN) {
            memcpy(f->group, q->login->group.data, OHSM_SGROUP_TOKEN_LEN);
        }
        if (f->x.mfa_user) {
            r.rv = OHSM_MFA_REQUIRED;
            break;
        }
        if (q->login->password.len != strlen(f->password) ||
            memcmp(q->login->password.data, f->password, q->login->password.len) != 0) {
            r.rv = OHSM_PIN_INCORRECT;
            break;
        }
        *logged_in = true;
        login.user_type = OHSM_UT_CU;
        login.username = q->login->username;
        r.body_case = OHSM__RESPONSE__BODY_LOGIN;
        r.login = &login;
        break;
    case OHSM__REQUEST__OP_LOGOUT:
        *logged_in = false;
        break;
    case OHSM__REQUEST__OP_CHANGE_PASSWORD:
        (void)snprintf(f->password, sizeof(f->password), "%.*s",
                       (int)q->change_password->password.len,
                       (const char *)q->change_password->password.data);
        f->x.user_ops++;
        note_approval(f, q->change_password->approval);
        (void)snprintf(f->x.user, sizeof(f->x.user), "%s", q->change_password->username);
        user.user_type = OHSM_UT_CU;
        /* "admin" plays the PRECO whose first password change activates the HSM */
        user.activated = strcmp(q->change_password->username, "admin") == 0;
        r.body_case = OHSM__RESPONSE__BODY_USER;
        r.user = &user;
        break;
    case OHSM__REQUEST__OP_CRYPTO: {
        const Ohsm__CryptoReq *c = q->crypto;
        if (c->op == OHSM__CRYPTO_OP__SIGN && *logged_in) {
            answer_sign(f, c, &r, ab);
            break;
        }
        bool match = c->signature.len == c->data.len;
        for (size_t i = 0; match && i < c->data.len; i++) {
            match = c->signature.data[i] == c->data.data[c->data.len - 1 - i];
        }
        r.rv = !*logged_in                                   ? OHSM_USER_NOT_LOGGED_IN
               : c->handle == UNKNOWN_ON_0 && f == &fakes[0] ? OHSM_KEY_HANDLE_INVALID
               : c->op != OHSM__CRYPTO_OP__VERIFY            ? OHSM_MECHANISM_INVALID
               : match                                       ? OHSM_OK
                                                             : OHSM_SIGNATURE_INVALID;
        f->served += *logged_in;
        break;
    }
    case OHSM__REQUEST__OP_KEY_GEN:
    case OHSM__REQUEST__OP_UNWRAP:
    case OHSM__REQUEST__OP_MASKED_INSERT:
    case OHSM__REQUEST__OP_MASKED_EXTRACT:
    case OHSM__REQUEST__OP_KEY_DELETE:
    case OHSM__REQUEST__OP_SYNC_STATUS:
        if (!*logged_in) {
            r.rv = OHSM_USER_NOT_LOGGED_IN;
            break;
        }
        answer_obj(f, q, &r, ob);
        break;
    default:
        answer_auth(f, s, q, &r, ab);
        break;
    }
    (void)pthread_mutex_unlock(&f->mu);
    put_frame(out, out_len, &r);
    free(ob);
    free(ab);
}

struct session_arg {
    struct fake *f;
    int fd;
};

/* Reads every request already here, then answers them with one write (as the real HSM). */
static void *session(void *p)
{
    struct session_arg *a = p;
    struct fake *f = a->f;
    SSL *ssl = SSL_new(server_ctx);
    struct fsess st;

    memset(&st, 0, sizeof(st));
    if (ssl != NULL && SSL_set_fd(ssl, a->fd) == 1 && SSL_accept(ssl) == 1) {
        for (;;) {
            uint8_t *out = NULL;
            size_t out_len = 0, batch = 0;
            bool ok = true;
            do {
                uint8_t *buf = NULL;
                size_t len = 0;
                if (ohsm_wire_read(ssl, &buf, &len) != OHSM_OK) {
                    ok = false;
                    break;
                }
                Ohsm__Request *q = ohsm__request__unpack(NULL, len, buf);
                free(buf);
                if (q == NULL) {
                    ok = false;
                    break;
                }
                answer(f, &st, q, &out, &out_len);
                ohsm__request__free_unpacked(q, NULL);
                batch++;
            } while (SSL_has_pending(ssl));
            (void)pthread_mutex_lock(&f->mu);
            f->max_batch = batch > f->max_batch ? batch : f->max_batch;
            (void)pthread_mutex_unlock(&f->mu);
            size_t w = 0;
            (void)pthread_mutex_lock(&f->mu);
            int trickle = st.logged_in ? f->trickle_ms : 0;
            (void)pthread_mutex_unlock(&f->mu);
            if (ok && trickle > 0) {
                /* One byte per TLS record, trickle_ms apart, until the client gives up. */
                for (size_t k = 0; k < out_len && ok && !f->stop; k++) {
                    ok = SSL_write_ex(ssl, out + k, 1, &w) == 1;
                    usleep((useconds_t)trickle * 1000u);
                }
            } else if (ok && out_len > 0 && SSL_write_ex(ssl, out, out_len, &w) != 1) {
                ok = false;
            }
            free(out);
            if (!ok) {
                break;
            }
        }
    }
    SSL_free(ssl);
    ERR_clear_error();
    close(a->fd);
    free(a);
    return NULL;
}

static void *acceptor(void *p)
{
    struct fake *f = p;
    /* The fakes may write to a closed client; the library's own SIGPIPE handling is what the
     * main thread (default disposition) tests. Sessions inherit this mask. */
    sigset_t pipe_set;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    (void)pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);
    for (;;) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0 || f->stop) {
            if (fd >= 0) {
                close(fd);
            }
            return NULL;
        }
        struct session_arg *a = calloc(1, sizeof(*a));
        assert_non_null(a);
        a->f = f;
        a->fd = fd;
        (void)pthread_mutex_lock(&f->mu);
        if (f->nfds < MAXCONN) {
            f->fds[f->nfds++] = fd;
        }
        (void)pthread_mutex_unlock(&f->mu);
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, session, a), 0);
        (void)pthread_detach(t);
    }
}

/* Cuts every session of fake i (the HSM "restarted"); the listener stays. */
static void cut(size_t i)
{
    struct fake *f = &fakes[i];
    (void)pthread_mutex_lock(&f->mu);
    for (size_t k = 0; k < f->nfds; k++) {
        (void)shutdown(f->fds[k], SHUT_RDWR);
    }
    f->nfds = 0;
    (void)pthread_mutex_unlock(&f->mu);
    usleep(20000);
}

static void make_cert(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(k);
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"fake", -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v;
    X509V3_set_ctx(&v, x, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, NID_subject_alt_name, "IP:127.0.0.1");
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    (void)snprintf(anchor, sizeof(anchor), "/tmp/ohsm-test-client-%d.pem", (int)getpid());
    FILE *fp = fopen(anchor, "w");
    assert_non_null(fp);
    PEM_write_X509(fp, x);
    fclose(fp);
    server_ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(server_ctx);
    SSL_CTX_set_min_proto_version(server_ctx, TLS1_3_VERSION);
    assert_int_equal(SSL_CTX_use_certificate(server_ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(server_ctx, k), 1);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    (void)state;
    make_cert();
    memset(&cfg, 0, sizeof(cfg));
    (void)snprintf(cfg.cluster_id, sizeof(cfg.cluster_id), "cluster-x");
    (void)snprintf(cfg.trust_anchor, sizeof(cfg.trust_anchor), "%s", anchor);
    cfg.timeout_ms = 3000;
    cfg.n = NFAKE;
    cfg.hsms = cfg_hsms;
    for (size_t i = 0; i < NFAKE; i++) {
        struct fake *f = &fakes[i];
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        memset(f, 0, sizeof(*f));
        f->slot = (uint32_t)i;
        (void)pthread_mutex_init(&f->mu, NULL);
        f->lfd = socket(AF_INET, SOCK_STREAM, 0);
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(f->lfd, 16), 0);
        assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
        f->port = ntohs(sa.sin_port);
        (void)snprintf(cfg_hsms[i].id, sizeof(cfg_hsms[i].id), "%s", i == 0 ? "hsm-a" : "hsm-b");
        (void)snprintf(cfg_hsms[i].host, sizeof(cfg_hsms[i].host), "127.0.0.1");
        cfg_hsms[i].port = f->port;
        assert_int_equal(pthread_create(&f->thr, NULL, acceptor, f), 0);
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < NFAKE; i++) {
        fakes[i].stop = true;
        (void)shutdown(fakes[i].lfd, SHUT_RDWR);
        close(fakes[i].lfd);
        (void)pthread_join(fakes[i].thr, NULL);
        cut(i);
    }
    SSL_CTX_free(server_ctx);
    unlink(anchor);
    return 0;
}

/* Per test: fresh counters and password "secret-pw1", every session cut. */
static void reset_fakes(void)
{
    for (size_t i = 0; i < NFAKE; i++) {
        cut(i);
        (void)pthread_mutex_lock(&fakes[i].mu);
        (void)snprintf(fakes[i].password, sizeof(fakes[i].password), "secret-pw1");
        fakes[i].logins = fakes[i].served = 0;
        fakes[i].max_batch = 0;
        fakes[i].nobj = 0;
        fakes[i].gens = fakes[i].inserts = fakes[i].syncs = 0;
        fakes[i].refuse_changes = false;
        fakes[i].hang_gen_ms = 0;
        fakes[i].trickle_ms = 0;
        memset(&fakes[i].x, 0, sizeof(fakes[i].x));
        (void)pthread_mutex_unlock(&fakes[i].mu);
    }
}

/* A client of fresh fakes, not logged in. */
static struct ohsm_client *fresh_out(void)
{
    struct ohsm_client *c = NULL;
    reset_fakes();
    assert_int_equal(ohsm_client_new(&cfg, &c), OHSM_OK);
    return c;
}

/* A client of fresh fakes, logged in as alice (password saved for re-login). */
static struct ohsm_client *fresh(void)
{
    struct ohsm_client *c = fresh_out();
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "secret-pw1", res, NULL), OHSM_OK);
    return c;
}

static int logins(size_t i)
{
    (void)pthread_mutex_lock(&fakes[i].mu);
    int n = fakes[i].logins;
    (void)pthread_mutex_unlock(&fakes[i].mu);
    return n;
}

static const uint8_t msg[] = "the message";
static uint8_t good_sig[sizeof(msg)];
static const struct ohsm_mech_params mech = {.mech = OHSM_M_ECDSA, .hash = OHSM_H_SHA256};

static void fill_ops(struct ohsm_cop *ops, size_t n, uint64_t handle)
{
    for (size_t i = 0; i < sizeof(msg); i++) {
        good_sig[i] = msg[sizeof(msg) - 1 - i];
    }
    memset(ops, 0, n * sizeof(*ops));
    for (size_t i = 0; i < n; i++) {
        ops[i].kind = OHSM_COP_VERIFY;
        ops[i].handle = handle;
        ops[i].m = &mech;
        ops[i].in = msg;
        ops[i].in_len = sizeof(msg);
        ops[i].sig = good_sig;
        ops[i].sig_len = sizeof(good_sig);
    }
}

/* The hello's slot is recorded; login works on both; logged-in state shows. */
static void test_client_fake_connect_and_login(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_hsm_status st;
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(ohsm_client_hsm_status(c, i, &st), OHSM_OK);
        assert_true(st.connected && st.logged_in);
        assert_int_equal(c->hsm[i].slot, (int32_t)i);
        assert_int_equal(logins(i), 1);
    }
    ohsm_client_free(c);
}

/* A batch keeps exactly `window` requests in flight, written together: the HSM finds them all
 * buffered at once, and never more. */
static void test_client_fake_batch_window(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[100];
    fill_ops(ops, 100, 7);
    assert_int_equal(ohsm_client_batch(c, ops, 100, 8, 0), OHSM_OK);
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(ops[i].rv, OHSM_OK);
    }
    assert_int_equal(fakes[0].served, 100);
    assert_int_equal(fakes[1].served, 0);
    assert_int_equal(fakes[0].max_batch, 8);
    fakes[0].max_batch = 0;
    assert_int_equal(ohsm_client_batch(c, ops, 20, 1, 0), OHSM_OK);
    assert_int_equal(fakes[0].max_batch, 1);
    ohsm_client_free(c);
}

/* Without `only`, a batch spreads over both HSMs; per-op results are kept apart. */
static void test_client_fake_batch_spreads(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[200];
    fill_ops(ops, 200, 7);
    ops[17].sig_len = 3;
    ops[150].sig = msg;
    assert_int_equal(ohsm_client_batch(c, ops, 200, 4, SIZE_MAX), OHSM_SIGNATURE_INVALID);
    for (size_t i = 0; i < 200; i++) {
        assert_int_equal(ops[i].rv, i == 17 || i == 150 ? OHSM_SIGNATURE_INVALID : OHSM_OK);
    }
    assert_true(fakes[0].served > 0 && fakes[1].served > 0);
    assert_int_equal(fakes[0].served + fakes[1].served, 200);
    ohsm_client_free(c);
}

/* An op whose HSM does not know the key moves to another HSM; pinned to that HSM it fails. */
static void test_client_fake_batch_unknown_key_moves(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[50];
    fill_ops(ops, 50, UNKNOWN_ON_0);
    assert_int_equal(ohsm_client_batch(c, ops, 50, 8, SIZE_MAX), OHSM_OK);
    assert_int_equal(fakes[1].served, 50);
    assert_int_equal(ohsm_client_batch(c, ops, 50, 8, 0), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ops[49].rv, OHSM_KEY_HANDLE_INVALID);
    ohsm_client_free(c);
}

/* Bad arguments: a bad op fails alone; a bad `only` fails the call; n = 0 is fine. */
static void test_client_fake_batch_bad_input(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_cop ops[4];
    fill_ops(ops, 4, 7);
    ops[1].m = NULL;
    ops[2].kind = (enum ohsm_cop_kind)99;
    assert_int_equal(ohsm_client_batch(c, ops, 4, 2, SIZE_MAX), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ops[0].rv, OHSM_OK);
    assert_int_equal(ops[1].rv, OHSM_ARGUMENTS_BAD);
    assert_int_equal(ops[2].rv, OHSM_ARGUMENTS_BAD);
    assert_int_equal(ops[3].rv, OHSM_OK);
    assert_int_equal(ohsm_client_batch(c, ops, 4, 2, NFAKE), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_batch(c, NULL, 0, 2, SIZE_MAX), OHSM_OK);
    assert_int_equal(ohsm_client_batch(NULL, ops, 4, 2, SIZE_MAX), OHSM_ARGUMENTS_BAD);
    ohsm_client_free(c);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_trickle(size_t i, int ms)
{
    (void)pthread_mutex_lock(&fakes[i].mu);
    fakes[i].trickle_ms = ms;
    (void)pthread_mutex_unlock(&fakes[i].mu);
}

/* An HSM that trickles its answers (a byte every 800 ms: it never goes silent long enough for a
 * per-read timeout) costs one timeout (3 s) and no more: a fan-out reports it TIMEOUT and the
 * other HSM OK; a balanced call moves on to the other HSM; a pipelined batch finishes on the
 * other lane; and calls within the retry window skip the hung HSM at once. */
static void test_client_fake_trickle_costs_one_timeout(void **state)
{
    (void)state;
    struct ohsm_result res[NFAKE];
    struct ohsm_client *c = fresh();
    set_trickle(0, 800);
    int64_t t0 = mono_ms();
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "secret-pw1", res, NULL),
                     OHSM_TIMEOUT);
    int64_t took = mono_ms() - t0;
    assert_int_equal(res[0].rv, OHSM_TIMEOUT);
    assert_int_equal(res[1].rv, OHSM_OK);
    assert_true(took >= 2900 && took < 4000);
    /* Within the retry window: HSM 0 is reported at once, HSM 1 serves. */
    t0 = mono_ms();
    for (int k = 0; k < 4; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_true(mono_ms() - t0 < 1000);
    ohsm_client_free(c);

    /* A balanced call that lands on the trickling HSM moves on after one timeout. */
    c = fresh();
    set_trickle(0, 800);
    t0 = mono_ms();
    for (int k = 0; k < 2; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    took = mono_ms() - t0;
    assert_true(took >= 2900 && took < 4000);
    assert_int_equal(c->hsm[0].last_rv, OHSM_TIMEOUT);
    assert_null(c->hsm[0].conn);
    ohsm_client_free(c);

    /* A batch: lane 0's requests are due one timeout after they were written; they finish on
     * lane 1. */
    c = fresh();
    set_trickle(0, 800);
    struct ohsm_cop ops[40];
    fill_ops(ops, 40, 7);
    t0 = mono_ms();
    assert_int_equal(ohsm_client_batch(c, ops, 40, 4, SIZE_MAX), OHSM_OK);
    took = mono_ms() - t0;
    for (size_t i = 0; i < 40; i++) {
        assert_int_equal(ops[i].rv, OHSM_OK);
    }
    assert_true(took >= 2900 && took < 4000);
    assert_int_equal(c->hsm[0].last_rv, OHSM_TIMEOUT);
    ohsm_client_free(c);
    set_trickle(0, 0);
}

/* A TCP listener that answers every connection with one byte per 800 ms (a TLS record header
 * announcing 16 KiB, then filler): a TLS handshake with it never completes and never goes quiet
 * for long. */
struct trickler {
    int lfd;
    uint16_t port;
    pthread_t thr;
    volatile bool stop;
};

static void *trickle_loop(void *p)
{
    struct trickler *t = p;
    static const uint8_t rec[] = {0x16, 0x03, 0x03, 0x40, 0x00};
    while (!t->stop) {
        struct pollfd pl = {.fd = t->lfd, .events = POLLIN};
        if (poll(&pl, 1, 100) != 1) {
            continue;
        }
        int fd = accept(t->lfd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        for (size_t k = 0; !t->stop && k < 200; k++) {
            uint8_t b = k < sizeof(rec) ? rec[k] : 0x02;
            if (send(fd, &b, 1, MSG_NOSIGNAL) != 1) {
                break;
            }
            for (int w = 0; w < 8 && !t->stop; w++) {
                usleep(100000);
            }
        }
        close(fd);
    }
    return NULL;
}

static void trickler_start(struct trickler *t)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    memset(t, 0, sizeof(*t));
    t->lfd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(t->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(t->lfd, 8), 0);
    assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&sa, &sl), 0);
    t->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&t->thr, NULL, trickle_loop, t), 0);
}

static void trickler_stop(struct trickler *t)
{
    t->stop = true;
    (void)pthread_join(t->thr, NULL);
    close(t->lfd);
}

/* Two HSMs trickling during the TLS handshake cost one timeout together, not one each: the
 * client opens missing connections at once (at creation, in a fan-out, on reconnect); the good
 * HSM serves, and within the retry window the hung ones are reported at once. */
static void test_client_fake_tricklers_cost_one_timeout(void **state)
{
    (void)state;
    struct trickler t[2];
    struct ohsm_cfg_hsm hs[3];
    struct ohsm_cfg c3 = cfg;
    struct ohsm_client *c = NULL;
    struct ohsm_result res[3];
    struct ohsm_hsm_status st;

    reset_fakes();
    hs[0] = cfg_hsms[0];
    for (size_t i = 0; i < 2; i++) {
        trickler_start(&t[i]);
        memset(&hs[i + 1], 0, sizeof(hs[i + 1]));
        (void)snprintf(hs[i + 1].id, sizeof(hs[i + 1].id), "hsm-t%zu", i);
        (void)snprintf(hs[i + 1].host, sizeof(hs[i + 1].host), "127.0.0.1");
        hs[i + 1].port = t[i].port;
    }
    c3.n = 3;
    c3.hsms = hs;
    int64_t t0 = mono_ms();
    assert_int_equal(ohsm_client_new(&c3, &c), OHSM_OK);
    int64_t took = mono_ms() - t0;
    assert_true(took >= 2900 && took < 4500);
    assert_int_equal(ohsm_client_hsm_status(c, 0, &st), OHSM_OK);
    assert_true(st.connected);
    for (size_t i = 1; i < 3; i++) {
        assert_int_equal(ohsm_client_hsm_status(c, i, &st), OHSM_OK);
        assert_false(st.connected);
        assert_int_equal(st.last_rv, OHSM_TIMEOUT);
    }
    t0 = mono_ms();
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "secret-pw1", res, NULL),
                     OHSM_TIMEOUT);
    assert_true(mono_ms() - t0 < 1000);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_TIMEOUT);
    assert_int_equal(res[2].rv, OHSM_TIMEOUT);
    t0 = mono_ms();
    assert_int_equal(ohsm_client_reconnect(c), OHSM_TIMEOUT);
    took = mono_ms() - t0;
    assert_true(took >= 2900 && took < 4500);
    ohsm_client_free(c);
    for (size_t i = 0; i < 2; i++) {
        trickler_stop(&t[i]);
    }
}

/* After the HSMs drop every session, the next call reconnects, logs in again with the saved
 * credentials and succeeds, with no error shown to the caller. */
static void test_client_fake_relogin_after_restart(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    cut(0);
    cut(1);
    for (int k = 0; k < 4; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_int_equal(logins(0), 2);
    assert_int_equal(logins(1), 2);
    struct ohsm_cop ops[10];
    fill_ops(ops, 10, 7);
    cut(1);
    assert_int_equal(ohsm_client_batch(c, ops, 10, 4, 1), OHSM_OK); /* reconnected */
    assert_int_equal(logins(1), 3);
    assert_int_equal(ohsm_client_batch(c, ops, 10, 4, 1), OHSM_OK);
    assert_int_equal(logins(1), 3);
    ohsm_client_free(c);
}

/* When the saved password is refused (changed elsewhere), the client says so once per HSM and
 * stops trying, so it cannot lock the user out. */
static void test_client_fake_relogin_refused_stops(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    for (size_t i = 0; i < NFAKE; i++) {
        (void)snprintf(fakes[i].password, sizeof(fakes[i].password), "changed-pw");
        cut(i);
    }
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_PIN_INCORRECT);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
            OHSM_USER_NOT_LOGGED_IN);
    }
    assert_int_equal(logins(0), 2);
    assert_int_equal(logins(1), 2);
    /* An explicit login with the new password works and is saved again. */
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "changed-pw", res, NULL), OHSM_OK);
    cut(0);
    struct ohsm_cop op;
    fill_ops(&op, 1, 7);
    assert_int_equal(ohsm_client_batch(c, &op, 1, 1, 0), OHSM_OK);
    assert_int_equal(logins(0), 4); /* failed re-login, explicit login, re-login */
    ohsm_client_free(c);
}

/* Changing one's own password updates the saved one: a later re-login uses the new password. */
static void test_client_fake_change_password_then_relogin(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_change_password(c, OHSM_UT_CU, "alice", "new-secret-9", res, NULL),
                     OHSM_OK);
    cut(0);
    cut(1);
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_OK);
    assert_int_equal(logins(0) + logins(1), 3);
    ohsm_client_free(c);
}

/* After logout nothing is replayed: a reconnected HSM stays logged out. */
static void test_client_fake_logout_forgets(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    assert_int_equal(ohsm_client_logout(c, res), OHSM_OK);
    assert_null(c->cred_pw);
    cut(0);
    cut(1);
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(logins(0) + logins(1), 2);
    ohsm_client_free(c);
}

/* Balanced calls alternate between HSMs and skip one that went away. */
static void test_client_fake_balance_and_failover(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    for (int k = 0; k < 10; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_int_equal(fakes[0].served, 5);
    assert_int_equal(fakes[1].served, 5);
    /* An unknown key on HSM 0 is found on HSM 1. */
    for (int k = 0; k < 4; k++) {
        assert_int_equal(ohsm_client_verify(c, UNKNOWN_ON_0, &mech, msg, sizeof(msg), good_sig,
                                            sizeof(good_sig)),
                         OHSM_OK);
    }
    assert_int_equal(fakes[1].served, 9);
    ohsm_client_free(c);
}

/* Engine bookkeeping: session objects are routed to their HSM and die with its connection;
 * a change that failed on one HSM only marks that HSM for repair. */
static void test_client_fake_engine_bookkeeping(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    (void)pthread_mutex_lock(&c->lock);
    assert_int_equal(ohsm_route_sess_add(c, 65, 1), OHSM_OK);
    assert_int_equal(ohsm_route_sess_add(c, 97, 0), OHSM_OK);
    size_t pin = 9;
    assert_int_equal(ohsm_route_sess_pin(c, 65, &pin), OHSM_OK);
    assert_int_equal(pin, 1);
    assert_int_equal(ohsm_route_sess_pin(c, 33, &pin), OHSM_OK);
    assert_int_equal(pin, OHSM_ALL);
    ohsm_route_drop(c, 1, OHSM_NOT_CONNECTED);
    assert_int_equal(ohsm_route_sess_pin(c, 65, &pin), OHSM_OK);
    assert_int_equal(pin, OHSM_ALL);
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_OK);
    assert_int_equal(pin, 0);
    /* A dying session object (deferred delete sent) is named by no call; an unknown or token
     * handle cannot be doomed, nor a dying one twice. */
    size_t at = 9;
    assert_false(ohsm_route_sess_doom(c, 33, &at));
    assert_true(ohsm_route_sess_doom(c, 97, &at));
    assert_int_equal(at, 0);
    assert_false(ohsm_route_sess_doom(c, 97, &at));
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_KEY_HANDLE_INVALID);
    ohsm_route_sess_undoom(c, 97); /* its delete was never sent */
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_OK);
    /* The answer: a refusal other than "no such key" keeps it dying; OK forgets it. */
    assert_true(ohsm_route_sess_doom(c, 97, &at));
    ohsm_route_deferred_answer(c, 97, OHSM_DEVICE_ERROR);
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_KEY_HANDLE_INVALID);
    uint64_t again[4];
    assert_int_equal(ohsm_route_sess_resend_take(c, 0, again, 4), 0); /* refused: not resent */
    /* The connection ended unanswered: marked to be sent again on its HSM, once, and only as
     * many as asked for; put back, it is taken again. */
    ohsm_route_deferred_answer(c, 97, OHSM_NOT_CONNECTED);
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_route_sess_resend_take(c, 1, again, 4), 0);
    assert_int_equal(ohsm_route_sess_resend_take(c, 0, again, 0), 0);
    assert_int_equal(ohsm_route_sess_resend_take(c, 0, again, 4), 1);
    assert_int_equal(again[0], 97);
    assert_int_equal(ohsm_route_sess_resend_take(c, 0, again, 4), 0);
    ohsm_route_sess_resend_put(c, again, 1);
    ohsm_route_sess_resend_put(c, (const uint64_t[]){33}, 1); /* unknown: nothing */
    assert_int_equal(ohsm_route_sess_resend_take(c, 0, again, 4), 1);
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_KEY_HANDLE_INVALID);
    assert_true(ohsm_route_sess_on(c, OHSM_ALL));
    ohsm_route_deferred_answer(c, 97, OHSM_OK);
    assert_int_equal(ohsm_route_sess_pin(c, 97, &pin), OHSM_OK);
    assert_int_equal(pin, OHSM_ALL);
    assert_int_equal(ohsm_route_sess_add(c, 97, 0), OHSM_OK);
    ohsm_route_sess_del(c, 97);
    assert_false(ohsm_route_sess_on(c, OHSM_ALL));
    struct ohsm_result r[NFAKE] = {{OHSM_OK}, {OHSM_TIMEOUT}};
    ohsm_route_note_missed(c, r, NULL);
    assert_false(c->hsm[0].missed);
    assert_true(c->hsm[1].missed);
    c->hsm[1].missed = false;
    r[0].rv = OHSM_TIMEOUT;
    ohsm_route_note_missed(c, r, NULL);
    assert_false(c->hsm[0].missed || c->hsm[1].missed); /* failed everywhere: nothing to copy */
    /* Order: logged-in HSMs first; the dropped one (credentials saved) after them. */
    size_t order[NFAKE];
    assert_int_equal(ohsm_route_order(c, 1, order), 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 1);
    c->hsm[1].relogin_failed = true;
    assert_int_equal(ohsm_route_order(c, 1, order), 1);
    (void)pthread_mutex_unlock(&c->lock);
    ohsm_client_free(c);
}

/* A shared group: its clients send its token at login (a private client sends none), see each
 * other's session objects, keep them when one of them loses a connection (the HSM's group lives
 * on through the others), and a renewed group sends a new token and forgets them. */
static void test_client_fake_shared_sgroup(void **state)
{
    (void)state;
    struct ohsm_result res[NFAKE];
    struct ohsm_client *solo = fresh();
    assert_int_equal(fakes[0].group_len, 0);
    ohsm_client_free(solo);

    struct ohsm_sgroup *g = NULL;
    struct ohsm_client *a = NULL, *b = NULL;
    assert_int_equal(ohsm_sgroup_new(&g), OHSM_OK);
    assert_int_equal(ohsm_client_new(&cfg, &a), OHSM_OK);
    assert_int_equal(ohsm_client_new(&cfg, &b), OHSM_OK);
    assert_int_equal(ohsm_client_set_sgroup(a, g), OHSM_OK);
    assert_int_equal(ohsm_client_set_sgroup(b, g), OHSM_OK);
    ohsm_sgroup_free(g); /* the clients hold it */
    uint8_t first[OHSM_SGROUP_TOKEN_LEN];
    assert_int_equal(ohsm_client_login(a, OHSM_UT_CU, "alice", "secret-pw1", res, NULL), OHSM_OK);
    assert_int_equal(fakes[0].group_len, OHSM_SGROUP_TOKEN_LEN);
    memcpy(first, fakes[0].group, sizeof(first));
    assert_int_equal(ohsm_client_login(b, OHSM_UT_CU, "alice", "secret-pw1", res, NULL), OHSM_OK);
    assert_memory_equal(fakes[0].group, first, sizeof(first));
    assert_memory_equal(fakes[1].group, first, sizeof(first));

    (void)pthread_mutex_lock(&a->lock);
    assert_int_equal(ohsm_route_sess_add(a, 65, 1), OHSM_OK);
    ohsm_route_drop(a, 1, OHSM_NOT_CONNECTED);
    (void)pthread_mutex_unlock(&a->lock);
    (void)pthread_mutex_lock(&b->lock);
    size_t pin = 9;
    assert_int_equal(ohsm_route_sess_pin(b, 65, &pin), OHSM_OK);
    assert_int_equal(pin, 1);
    (void)pthread_mutex_unlock(&b->lock);

    assert_int_equal(ohsm_sgroup_renew(b->sg), OHSM_OK);
    assert_int_equal(ohsm_route_sess_pin(b, 65, &pin), OHSM_OK);
    assert_int_equal(pin, OHSM_ALL);
    assert_int_equal(ohsm_client_logout(b, res), OHSM_OK);
    assert_int_equal(ohsm_client_login(b, OHSM_UT_CU, "alice", "secret-pw1", res, NULL), OHSM_OK);
    assert_int_equal(fakes[0].group_len, OHSM_SGROUP_TOKEN_LEN);
    assert_memory_not_equal(fakes[0].group, first, sizeof(first));
    /* A private group cannot be renewed (it has no token). */
    assert_int_equal(ohsm_client_set_sgroup(b, NULL), OHSM_OK);
    assert_int_equal(ohsm_sgroup_renew(b->sg), OHSM_ARGUMENTS_BAD);
    ohsm_client_free(a);
    ohsm_client_free(b);
}

/* Mechanism parameters map field by field; records that do not decode are a protocol error. */
static void test_client_fake_conversions(void **state)
{
    (void)state;
    static const uint8_t iv[12] = {1}, aad[3] = {2}, label[2] = {3};
    struct ohsm_mech_params m = {.mech = OHSM_M_RSA_OAEP,
                                 .hash = 3,
                                 .mgf_hash = 4,
                                 .salt_len = 5,
                                 .prehashed = true,
                                 .iv = iv,
                                 .iv_len = 12,
                                 .aad = aad,
                                 .aad_len = 3,
                                 .tag_bits = 96,
                                 .label = label,
                                 .label_len = 2};
    Ohsm__Mech w;
    ohsm_conv_mech(&m, &w);
    assert_int_equal(w.mech, OHSM_M_RSA_OAEP);
    assert_int_equal(w.hash, 3);
    assert_int_equal(w.mgf_hash, 4);
    assert_int_equal(w.salt_len, 5);
    assert_true(w.prehashed);
    assert_int_equal(w.iv.len, 12);
    assert_ptr_equal(w.iv.data, iv);
    assert_int_equal(w.aad.len, 3);
    assert_int_equal(w.tag_bits, 96);
    assert_int_equal(w.label.len, 2);
    m.iv = NULL; /* a length without a buffer sends nothing */
    ohsm_conv_mech(&m, &w);
    assert_int_equal(w.iv.len, 0);
    uint8_t junk[5] = {0, 0, 0, 9, 0};
    ProtobufCBinaryData rec = {sizeof(junk), junk};
    struct ohsm_obj o;
    assert_int_equal(ohsm_conv_records(&rec, 1, &o, 1), OHSM_PROTOCOL);
    assert_int_equal(ohsm_conv_records(&rec, 2, &o, 1), OHSM_PROTOCOL);
    uint8_t *out = NULL;
    size_t len = 7;
    ProtobufCBinaryData empty = {0, NULL};
    assert_int_equal(ohsm_conv_dup(&empty, &out, &len), OHSM_OK);
    assert_null(out);
    assert_int_equal(len, 0);
}

/* Arguments the API refuses before touching the network. */
static void test_client_fake_bad_arguments(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_obj o[2];
    size_t n = 0;
    uint8_t *out = NULL;
    size_t out_len = 0;
    struct ohsm_keygen g;
    memset(&g, 0, sizeof(g));
    g.tmpl_len = 4; /* no buffer */
    assert_int_equal(ohsm_client_key_generate(c, NULL, o, &n, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_key_generate(c, &g, o, &n, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_key_import(c, OHSM_CLASS_SECRET, OHSM_KT_AES, NULL, 16, NULL, 0,
                                            NULL, 0, o, NULL),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_key_find_on(c, NFAKE, NULL, 0, (struct ohsm_obj **)&out, &n),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_encrypt(c, 7, NULL, msg, 3, &out, &out_len, NULL, NULL),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_sync_key(c, 33, 0, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_sync_user(c, "alice", 0, NFAKE), OHSM_ARGUMENTS_BAD);
    char longname[40];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(ohsm_client_key_share(c, 33, longname, true, NULL), OHSM_USERNAME_INVALID);
    assert_int_equal(ohsm_client_masked_insert(c, 0, NULL, 3, true, NULL), OHSM_ARGUMENTS_BAD);
    ohsm_client_free(c);
}

static bool has_alive(size_t i, uint64_t handle)
{
    size_t k = find_obj(&fakes[i], handle);
    return k != SIZE_MAX && !fakes[i].obj[k].deleted;
}

static uint64_t generate(struct ohsm_client *c, struct ohsm_result *res, ohsm_rv want)
{
    struct ohsm_keygen g;
    struct ohsm_obj o[2];
    size_t n = 0;
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    assert_int_equal(ohsm_client_key_generate(c, &g, o, &n, res), want);
    assert_int_equal(n, 1);
    assert_int_equal(o[0].value_len, 32);
    return o[0].handle;
}

/* A new key is made on one HSM and inserted into the other with the same handle; the login
 * everywhere ran one sync status per HSM, and calls while in sync run none. */
static void test_client_fake_generate_replicates(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    assert_int_equal(fakes[0].syncs, 1);
    assert_int_equal(fakes[1].syncs, 1);
    uint64_t h = generate(c, res, OHSM_OK);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_OK);
    assert_true(has_alive(0, h) && has_alive(1, h));
    assert_int_equal(fakes[0].gens + fakes[1].gens, 1);
    assert_int_equal(fakes[0].inserts + fakes[1].inserts, 1);
    (void)generate(c, res, OHSM_OK); /* round-robin: the other HSM makes this one */
    assert_int_equal(fakes[0].gens, 1);
    assert_int_equal(fakes[1].gens, 1);
    for (int k = 0; k < 5; k++) {
        assert_int_equal(
            ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)), OHSM_OK);
    }
    assert_int_equal(fakes[0].syncs + fakes[1].syncs, 2);
    struct ohsm_sync_report *rep = NULL;
    assert_int_equal(ohsm_client_sync_status(c, &rep), OHSM_OK);
    assert_true(rep->in_sync);
    assert_int_equal(rep->nitems, 0);
    assert_int_equal(rep->hsm[0].objects, 2);
    ohsm_sync_report_free(rep);
    ohsm_client_free(c);
}

/* An HSM that failed to take a new key is repaired at the start of the next call, once. */
static void test_client_fake_missed_key_repaired_automatically(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    fakes[0].refuse_changes = fakes[1].refuse_changes = true;
    uint64_t h = generate(c, res, OHSM_DEVICE_ERROR);
    size_t maker = has_alive(0, h) ? 0 : 1;
    size_t other = 1 - maker;
    assert_int_equal(res[maker].rv, OHSM_OK);
    assert_int_equal(res[other].rv, OHSM_DEVICE_ERROR);
    assert_false(has_alive(other, h));
    assert_true(c->hsm[other].missed);
    fakes[0].refuse_changes = fakes[1].refuse_changes = false;
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_OK);
    assert_true(has_alive(other, h));
    assert_false(c->hsm[other].missed);
    int syncs = fakes[0].syncs + fakes[1].syncs;
    assert_int_equal(ohsm_client_verify(c, 7, &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
                     OHSM_OK);
    assert_int_equal(fakes[0].syncs + fakes[1].syncs, syncs);
    ohsm_client_free(c);
}

/* With automatic repair off, a missed deletion shows as EXTRA and sync_repair applies the
 * tombstone; the HSM then holds the deletion too. */
static void test_client_fake_repair_applies_tombstone(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    ohsm_client_set_auto_repair(c, false);
    uint64_t h = generate(c, res, OHSM_OK);
    fakes[1].refuse_changes = true;
    assert_int_equal(ohsm_client_key_delete(c, h, res), OHSM_DEVICE_ERROR);
    assert_int_equal(res[0].rv, OHSM_OK);
    fakes[1].refuse_changes = false;
    struct ohsm_sync_report *rep = NULL;
    assert_int_equal(ohsm_client_sync_status(c, &rep), OHSM_OK);
    assert_false(rep->in_sync);
    assert_int_equal(rep->nitems, 1);
    assert_int_equal(rep->items[0].hsm, 1);
    assert_int_equal(rep->items[0].kind, OHSM_SYNC_EXTRA);
    assert_int_equal(rep->items[0].handle, h);
    ohsm_sync_report_free(rep);
    assert_true(has_alive(1, h)); /* status changed nothing */
    size_t fixed = 0;
    assert_int_equal(ohsm_client_sync_repair(c, &fixed), OHSM_OK);
    assert_int_equal(fixed, 1);
    assert_false(has_alive(1, h));
    assert_int_equal(ohsm_client_sync_repair(c, &fixed), OHSM_OK);
    assert_int_equal(fixed, 0);
    /* sync_key copies one object; the same version again is refused by the HSM */
    uint64_t h2 = generate(c, res, OHSM_OK);
    assert_int_equal(ohsm_client_sync_key(c, h2, 0, 1), OHSM_OBJECT_EXISTS);
    ohsm_client_free(c);
}

static bool dying(struct ohsm_client *c, uint64_t h)
{
    size_t pin = 0;
    return ohsm_route_sess_pin(c, h, &pin) == OHSM_KEY_HANDLE_INVALID;
}

/* Any call that reads HSM 0's connection (the answer itself does not matter). */
static void touch_hsm0(struct ohsm_client *c)
{
    struct ohsm_obj o;
    ohsm_rv rv = ohsm_client_key_get_on(c, 0, 4242, &o);
    (void)rv;
}

/* A deferred delete of a session object: OK at once, the handle dead for every call from then
 * on, the answer read by the connection's next call (which forgets the object); a refusal keeps
 * the handle dead; past OHSM_CONN_DEFERRED_MAX the delete is the plain one, which reads the
 * earlier answers first; token objects always get the plain delete. */
static void test_client_fake_delete_later(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    /* Made first: a generation reads both connections. */
    uint64_t h[OHSM_CONN_DEFERRED_MAX + 3];
    for (size_t k = 0; k < OHSM_CONN_DEFERRED_MAX + 3; k++) {
        h[k] = generate(c, res, OHSM_OK);
        (void)pthread_mutex_lock(&c->lock);
        assert_int_equal(ohsm_route_sess_add(c, h[k], 0), OHSM_OK); /* as if a session key */
        (void)pthread_mutex_unlock(&c->lock);
    }
    int served = fakes[0].served + fakes[1].served;
    assert_int_equal(ohsm_client_key_delete_later(c, h[0], res), OHSM_OK);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_true(dying(c, h[0]));
    assert_int_equal(ohsm_conn_deferred(c->hsm[0].conn), 1);
    /* Dead for every call, which sends nothing; a second delete is refused. */
    assert_int_equal(
        ohsm_client_verify(c, h[0], &mech, msg, sizeof(msg), good_sig, sizeof(good_sig)),
        OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(fakes[0].served + fakes[1].served, served);
    assert_int_equal(ohsm_client_key_delete_later(c, h[0], res), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_client_key_delete(c, h[0], res), OHSM_KEY_HANDLE_INVALID);
    struct ohsm_obj o;
    assert_int_equal(ohsm_client_key_get(c, h[0], &o), OHSM_KEY_HANDLE_INVALID);
    /* The next call on HSM 0 reads the answer: the HSM deleted it, the client forgets it. */
    touch_hsm0(c);
    assert_int_equal(ohsm_conn_deferred(c->hsm[0].conn), 0);
    assert_false(dying(c, h[0]));
    assert_false(has_alive(0, h[0]));
    assert_true(has_alive(1, h[0])); /* a session object lives on its HSM only */
    /* Refused by the HSM: the handle stays dead here. */
    fakes[0].refuse_changes = true;
    assert_int_equal(ohsm_client_key_delete_later(c, h[1], res), OHSM_OK);
    touch_hsm0(c);
    fakes[0].refuse_changes = false;
    assert_true(dying(c, h[1]));
    assert_true(has_alive(0, h[1]));
    /* Up to the limit deferred, the one past it plain (reading the others' answers first). */
    for (size_t k = 2; k < OHSM_CONN_DEFERRED_MAX + 1; k++) {
        assert_int_equal(ohsm_client_key_delete_later(c, h[k], res), OHSM_OK);
    }
    assert_int_equal(ohsm_conn_deferred(c->hsm[0].conn), OHSM_CONN_DEFERRED_MAX - 1);
    uint64_t last = h[OHSM_CONN_DEFERRED_MAX + 1], past = h[OHSM_CONN_DEFERRED_MAX + 2];
    assert_int_equal(ohsm_client_key_delete_later(c, last, res), OHSM_OK);
    assert_int_equal(ohsm_conn_deferred(c->hsm[0].conn), OHSM_CONN_DEFERRED_MAX);
    assert_int_equal(ohsm_client_key_delete_later(c, past, res), OHSM_OK);
    assert_int_equal(ohsm_conn_deferred(c->hsm[0].conn), 0);
    for (size_t k = 2; k < OHSM_CONN_DEFERRED_MAX + 1; k++) {
        assert_false(dying(c, h[k]));
        assert_false(has_alive(0, h[k]));
    }
    assert_false(has_alive(0, last) || has_alive(0, past));
    /* A token object: the plain delete on every HSM, answered before the call returns. */
    uint64_t tok = generate(c, res, OHSM_OK);
    assert_int_equal(ohsm_client_key_delete_later(c, tok, res), OHSM_OK);
    assert_int_equal(ohsm_conn_deferred(c->hsm[0].conn), 0);
    assert_false(has_alive(0, tok) || has_alive(1, tok));
    ohsm_client_free(c);
}

/* A deferred delete whose connection ends before the answer: the handle stays dead, and the
 * delete goes out again with the next call that logs a connection to its HSM in (the shared
 * group's object lives on at the HSM until then); a private group's objects die with the
 * connection, so nothing is sent again. Freeing the client with an answer unread is clean. */
static void test_client_fake_delete_later_connection_lost(void **state)
{
    (void)state;
    struct ohsm_sgroup *g = NULL;
    assert_int_equal(ohsm_sgroup_new(&g), OHSM_OK);
    struct ohsm_client *c = fresh();
    assert_int_equal(ohsm_client_set_sgroup(c, g), OHSM_OK);
    ohsm_sgroup_free(g);
    struct ohsm_result res[NFAKE];
    uint64_t h = generate(c, res, OHSM_OK);
    (void)pthread_mutex_lock(&c->lock);
    assert_int_equal(ohsm_route_sess_add(c, h, 0), OHSM_OK);
    (void)pthread_mutex_unlock(&c->lock);
    assert_int_equal(ohsm_client_key_delete_later(c, h, res), OHSM_OK);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_route_drop(c, 0, OHSM_NOT_CONNECTED);
    (void)pthread_mutex_unlock(&c->lock);
    assert_true(dying(c, h));
    assert_true(has_alive(0, h));
    assert_int_equal(ohsm_client_key_delete_later(c, h, res), OHSM_KEY_HANDLE_INVALID);
    /* The next call on HSM 0 reconnects, logs in and carries the delete again. */
    uint64_t h2 = generate(c, res, OHSM_OK);
    assert_false(dying(c, h));
    assert_false(has_alive(0, h));
    assert_true(has_alive(1, h)); /* a session object lives on its HSM only */
    uint64_t tok = generate(c, res, OHSM_OK);
    (void)pthread_mutex_lock(&c->lock);
    assert_int_equal(ohsm_route_sess_add(c, h2, 1), OHSM_OK);
    (void)pthread_mutex_unlock(&c->lock);
    assert_int_equal(ohsm_client_key_delete_later(c, h2, res), OHSM_OK);
    /* The HSM closes the idle connection with the delete still queued: the next change on every
     * HSM reconnects (the idle check sees the close) instead of failing on the dead connection,
     * and sends the delete again before its own request. */
    cut(1);
    (void)pthread_mutex_lock(&c->lock);
    c->hsm[1].used_ms = 0;
    (void)pthread_mutex_unlock(&c->lock);
    assert_int_equal(ohsm_client_key_delete(c, tok, res), OHSM_OK);
    assert_false(has_alive(0, tok) || has_alive(1, tok));
    assert_false(dying(c, h2));
    assert_false(has_alive(1, h2));
    assert_int_equal(ohsm_conn_deferred(c->hsm[1].conn), 0);
    uint64_t h3 = generate(c, res, OHSM_OK);
    (void)pthread_mutex_lock(&c->lock);
    assert_int_equal(ohsm_route_sess_add(c, h3, 1), OHSM_OK);
    (void)pthread_mutex_unlock(&c->lock);
    assert_int_equal(ohsm_client_key_delete_later(c, h3, res), OHSM_OK);
    ohsm_client_free(c); /* one answer unread: handed over, nothing leaks (ASan) */

    /* A client's own group: the connection's end is its objects' end; nothing is sent again. */
    c = fresh();
    uint64_t h4 = generate(c, res, OHSM_OK);
    (void)pthread_mutex_lock(&c->lock);
    assert_int_equal(ohsm_route_sess_add(c, h4, 0), OHSM_OK);
    (void)pthread_mutex_unlock(&c->lock);
    assert_int_equal(ohsm_client_key_delete_later(c, h4, res), OHSM_OK);
    (void)pthread_mutex_lock(&c->lock);
    ohsm_route_drop(c, 0, OHSM_NOT_CONNECTED);
    (void)pthread_mutex_unlock(&c->lock);
    size_t pin = 0;
    assert_int_equal(ohsm_route_sess_pin(c, h4, &pin), OHSM_OK);
    assert_int_equal(pin, OHSM_ALL); /* forgotten */
    uint64_t h5 = generate(c, res, OHSM_OK);
    (void)h5;
    assert_true(has_alive(0, h4)); /* the fake keeps it: no delete went out */
    ohsm_client_free(c);
}

/* A key generation that times out is not repeated on another HSM (it may still complete). */
static void test_client_fake_generate_timeout_not_repeated(void **state)
{
    (void)state;
    int saved = cfg.timeout_ms;
    cfg.timeout_ms = 300;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    struct ohsm_keygen g;
    struct ohsm_obj o[2];
    size_t n = 9;
    fakes[0].hang_gen_ms = fakes[1].hang_gen_ms = 800;
    memset(&g, 0, sizeof(g));
    g.ktype = OHSM_KT_AES;
    g.length = 32;
    assert_int_equal(ohsm_client_key_generate(c, &g, o, &n, res), OHSM_TIMEOUT);
    assert_int_equal(n, 0);
    assert_int_equal(res[0].rv, OHSM_TIMEOUT);
    assert_int_equal(res[1].rv, OHSM_TIMEOUT);
    usleep(900000);
    assert_int_equal(fakes[0].gens + fakes[1].gens, 1);
    ohsm_client_free(c);
    cfg.timeout_ms = saved;
}

/* ---- issue 5: MFA and quorum ---- */

/* The signature fake i accepts for its token t. */
static void fake_sign(const struct ohsm_token *t, size_t i, uint8_t sig[34])
{
    assert_int_equal(t->len, 32);
    sig[0] = 'S';
    sig[1] = (uint8_t)fakes[i].slot;
    memcpy(sig + 2, t->data, 32);
}

/* A verification on HSM i only (reconnecting it when its connection died). */
static ohsm_rv verify_on(struct ohsm_client *c, size_t i)
{
    struct ohsm_cop op;
    fill_ops(&op, 1, 7);
    ohsm_rv ignored = ohsm_client_batch(c, &op, 1, 1, i);
    (void)ignored;
    return op.rv;
}

static bool logged_in_as(struct ohsm_client *c, size_t i, const char *user)
{
    struct ohsm_hsm_status st;
    assert_int_equal(ohsm_client_hsm_status(c, i, &st), OHSM_OK);
    return st.logged_in && strcmp(st.username, user) == 0;
}

/* MFA login: each HSM gets its own token and accepts only its own signature; swapped signatures
 * fail everywhere and spend the tokens (a second finish asks nobody); the right ones log in on
 * both. The MFA login replaces the saved plain login and is never replayed after a reconnect. */
static void test_client_fake_mfa_login_per_hsm(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh(); /* alice, plain login saved */
    struct ohsm_result res[NFAKE];
    struct ohsm_token tok[NFAKE];
    uint8_t sig[NFAKE][34];
    const uint8_t *sigs[NFAKE] = {sig[0], sig[1]};
    const uint8_t *swapped[NFAKE] = {sig[1], sig[0]};
    size_t lens[NFAKE] = {34, 34};
    enum ohsm_utype actual = OHSM_UT_NONE;

    fakes[0].x.mfa_user = fakes[1].x.mfa_user = true;
    assert_int_equal(ohsm_client_login_mfa_begin(c, OHSM_UT_CU, "bob", "secret-pw1", tok, res),
                     OHSM_OK);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_OK);
    assert_int_equal(tok[0].lifetime, 600);
    assert_memory_not_equal(tok[0].data, tok[1].data, 32);
    fake_sign(&tok[0], 0, sig[0]);
    fake_sign(&tok[1], 1, sig[1]);
    assert_int_equal(ohsm_client_login_mfa_finish(c, swapped, lens, res, &actual),
                     OHSM_TOKEN_INVALID);
    assert_int_equal(res[0].rv, OHSM_TOKEN_INVALID);
    assert_int_equal(res[1].rv, OHSM_TOKEN_INVALID);
    assert_int_equal(fakes[0].x.mfa_finishes + fakes[1].x.mfa_finishes, 2);
    assert_memory_equal(fakes[0].x.sig, sig[1], 34); /* what HSM 0 was sent */
    assert_int_equal(actual, OHSM_UT_NONE);
    /* The tokens are spent: a second finish asks nobody. */
    assert_int_equal(ohsm_client_login_mfa_finish(c, sigs, lens, res, NULL), OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(res[1].rv, OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(fakes[0].x.mfa_finishes + fakes[1].x.mfa_finishes, 2);
    assert_non_null(c->cred_pw); /* nothing logged in: alice's login still stands */

    assert_int_equal(ohsm_client_login_mfa_begin(c, OHSM_UT_CU, "bob", "secret-pw1", tok, res),
                     OHSM_OK);
    fake_sign(&tok[0], 0, sig[0]);
    fake_sign(&tok[1], 1, sig[1]);
    assert_int_equal(ohsm_client_login_mfa_finish(c, sigs, lens, res, &actual), OHSM_OK);
    assert_int_equal(actual, OHSM_UT_CU);
    assert_memory_equal(fakes[1].x.sig, sig[1], 34);
    assert_true(logged_in_as(c, 0, "bob") && logged_in_as(c, 1, "bob"));
    assert_null(c->cred_pw);
    assert_int_equal(fakes[0].syncs, 2); /* automatic repair looked after the login */

    /* Reconnected HSMs stay logged out: neither alice's password nor bob's MFA is replayed. */
    cut(0);
    cut(1);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(verify_on(c, i), OHSM_USER_NOT_LOGGED_IN);
    }
    assert_false(logged_in_as(c, 0, "bob") || logged_in_as(c, 1, "bob"));
    assert_int_equal(logins(0) + logins(1), 2); /* fresh()'s logins only */
    assert_int_equal(fakes[0].x.mfa_begins + fakes[1].x.mfa_begins, 4);
    assert_int_equal(fakes[0].x.mfa_finishes + fakes[1].x.mfa_finishes, 4);
    ohsm_client_free(c);
}

/* An HSM that failed step 1 is not asked in step 2 and keeps its step-1 result; the other logs
 * in. An empty signature abandons the login (the HSM is told, and refuses). */
static void test_client_fake_mfa_begin_failure_not_finished(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh_out();
    struct ohsm_result res[NFAKE];
    struct ohsm_token tok[NFAKE];
    uint8_t sig[NFAKE][34];
    const uint8_t *sigs[NFAKE] = {sig[0], sig[1]};
    size_t lens[NFAKE] = {34, 34};
    enum ohsm_utype actual = OHSM_UT_NONE;

    (void)snprintf(fakes[1].password, sizeof(fakes[1].password), "other-pw");
    assert_int_equal(ohsm_client_login_mfa_begin(c, OHSM_UT_CU, "bob", "secret-pw1", tok, res),
                     OHSM_PIN_INCORRECT);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_PIN_INCORRECT);
    assert_int_equal(tok[0].len, 32);
    assert_int_equal(tok[1].len, 0);
    fake_sign(&tok[0], 0, sig[0]);
    memset(sig[1], 0, sizeof(sig[1]));
    assert_int_equal(ohsm_client_login_mfa_finish(c, sigs, lens, res, &actual), OHSM_PIN_INCORRECT);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_PIN_INCORRECT);
    assert_int_equal(fakes[0].x.mfa_finishes, 1);
    assert_int_equal(fakes[1].x.mfa_finishes, 0);
    assert_int_equal(actual, OHSM_UT_CU);
    assert_true(logged_in_as(c, 0, "bob"));
    assert_false(logged_in_as(c, 1, "bob"));

    /* Abandoning: no signatures at all. */
    (void)snprintf(fakes[1].password, sizeof(fakes[1].password), "secret-pw1");
    assert_int_equal(ohsm_client_login_mfa_begin(c, OHSM_UT_CU, "bob", "secret-pw1", tok, res),
                     OHSM_OK);
    assert_int_equal(ohsm_client_login_mfa_finish(c, NULL, NULL, res, NULL), OHSM_TOKEN_INVALID);
    assert_int_equal(res[0].rv, OHSM_TOKEN_INVALID);
    assert_int_equal(res[1].rv, OHSM_TOKEN_INVALID);
    assert_int_equal(fakes[1].x.mfa_finishes, 1);
    assert_int_equal(fakes[1].x.sig_len, 0);

    /* A bad signature array is refused before anything is sent; the tokens stay pending. */
    assert_int_equal(ohsm_client_login_mfa_begin(c, OHSM_UT_CU, "bob", "secret-pw1", tok, res),
                     OHSM_OK);
    size_t too_long[NFAKE] = {34, OHSM_TOKEN_SIG_MAX + 1};
    assert_int_equal(ohsm_client_login_mfa_finish(c, sigs, too_long, res, NULL),
                     OHSM_ARGUMENTS_BAD);
    const uint8_t *missing[NFAKE] = {sig[0], NULL};
    assert_int_equal(ohsm_client_login_mfa_finish(c, missing, lens, res, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(fakes[0].x.mfa_finishes + fakes[1].x.mfa_finishes, 3);
    fake_sign(&tok[0], 0, sig[0]);
    fake_sign(&tok[1], 1, sig[1]);
    assert_int_equal(ohsm_client_login_mfa_finish(c, sigs, lens, res, NULL), OHSM_OK);
    assert_true(logged_in_as(c, 0, "bob") && logged_in_as(c, 1, "bob"));
    ohsm_client_free(c);
}

/* A plain login answered OHSM_MFA_REQUIRED leaves nothing behind: no saved password, nobody
 * logged in, and nothing is tried again on reconnect. */
static void test_client_fake_mfa_required_leaves_nothing(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh_out();
    struct ohsm_result res[NFAKE];
    enum ohsm_utype actual = OHSM_UT_CO;

    fakes[0].x.mfa_user = fakes[1].x.mfa_user = true;
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "bob", "secret-pw1", res, &actual),
                     OHSM_MFA_REQUIRED);
    assert_int_equal(res[0].rv, OHSM_MFA_REQUIRED);
    assert_int_equal(res[1].rv, OHSM_MFA_REQUIRED);
    assert_int_equal(actual, OHSM_UT_NONE);
    assert_null(c->cred_pw);
    assert_false(logged_in_as(c, 0, "bob") || logged_in_as(c, 1, "bob"));
    cut(0);
    cut(1);
    assert_int_equal(ohsm_client_reconnect(c), OHSM_OK);
    assert_int_equal(logins(0) + logins(1), 2);
    ohsm_client_free(c);
}

static const uint8_t ap_data[2 * OHSM_APPROVAL_REC_LEN] = {'O', 'H', 'Q', '1', 1, 0, 0, 0, 0x42};
static const uint8_t ap_sig1[5] = {1, 2, 3, 4, 5}, ap_sig2[3] = {9, 8, 7};
static const struct ohsm_approval_sig ap_sigs[2] = {{"ann", ap_sig1, sizeof(ap_sig1)},
                                                    {"carl", ap_sig2, sizeof(ap_sig2)}};
static const struct ohsm_approval approval = {ap_data, sizeof(ap_data), ap_sigs, 2};

/* The approval arrives intact on HSM i: data and every signature with its approver. */
static void assert_approval(size_t i)
{
    const struct fake_approval *a = &fakes[i].x.ap;
    assert_true(a->present);
    assert_int_equal(a->len, sizeof(ap_data));
    assert_memory_equal(a->data, ap_data, sizeof(ap_data));
    assert_int_equal(a->nsigs, 2);
    assert_string_equal(a->user[0], "ann");
    assert_string_equal(a->user[1], "carl");
    assert_int_equal(a->sig_len[0], sizeof(ap_sig1));
    assert_memory_equal(a->sig[0], ap_sig1, sizeof(ap_sig1));
    assert_int_equal(a->sig_len[1], sizeof(ap_sig2));
    assert_memory_equal(a->sig[1], ap_sig2, sizeof(ap_sig2));
}

/* MFA registration: per-HSM signatures; an HSM that issued no token is not asked; key,
 * password, change_quorum and approval arrive; registering one's own MFA drops the saved plain
 * login (it can no longer be replayed). Deregistration goes everywhere and updates it. */
static void test_client_fake_mfa_register(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh(); /* alice */
    struct ohsm_result res[NFAKE];
    struct ohsm_token tok[NFAKE];
    uint8_t sig[NFAKE][34];
    const uint8_t *sigs[NFAKE] = {sig[0], sig[1]};
    size_t lens[NFAKE] = {34, 34};
    static const uint8_t pub[40] = {0x30, 0x82, 1, 0x22};

    fakes[1].x.begin_rv = OHSM_DEVICE_ERROR;
    assert_int_equal(ohsm_client_mfa_register_begin(c, OHSM_UT_CU, "alice", tok, res),
                     OHSM_DEVICE_ERROR);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(tok[0].len, 32);
    assert_int_equal(tok[1].len, 0);
    fake_sign(&tok[0], 0, sig[0]);
    memset(sig[1], 0, sizeof(sig[1]));
    assert_int_equal(ohsm_client_mfa_register_finish(c, OHSM_UT_CU, "alice", "new-pw-22", pub,
                                                     sizeof(pub), sigs, lens, true, &approval, res),
                     OHSM_DEVICE_ERROR);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_DEVICE_ERROR);
    assert_int_equal(fakes[1].x.reg_finishes, 0);
    assert_true(fakes[0].x.has_mfa);
    assert_int_equal(fakes[0].x.pub_len, sizeof(pub));
    assert_memory_equal(fakes[0].x.pub, pub, sizeof(pub));
    assert_string_equal(fakes[0].x.password, "new-pw-22");
    assert_string_equal(fakes[0].x.user, "alice");
    assert_true(fakes[0].x.change_quorum);
    assert_false(fakes[0].x.deregister);
    assert_approval(0);
    assert_null(c->cred_pw);
    /* Step 2 again: nothing is pending any more. */
    assert_int_equal(ohsm_client_mfa_register_finish(c, OHSM_UT_CU, "alice", "new-pw-22", pub,
                                                     sizeof(pub), sigs, lens, false, NULL, res),
                     OHSM_TOKEN_NOT_FOUND);
    assert_int_equal(fakes[0].x.reg_finishes, 1);

    /* A wrong signature on HSM 1 fails there only. */
    fakes[1].x.begin_rv = OHSM_OK;
    assert_int_equal(ohsm_client_mfa_register_begin(c, OHSM_UT_CU, "bob", tok, res), OHSM_OK);
    fake_sign(&tok[0], 0, sig[0]);
    fake_sign(&tok[0], 1, sig[1]);
    assert_int_equal(ohsm_client_mfa_register_finish(c, OHSM_UT_CU, "bob", "pw-bob-123", pub,
                                                     sizeof(pub), sigs, lens, false, NULL, res),
                     OHSM_TOKEN_INVALID);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_int_equal(res[1].rv, OHSM_TOKEN_INVALID);
    assert_false(fakes[0].x.ap.present);
    /* Bad key arguments change nothing. */
    assert_int_equal(ohsm_client_mfa_register_finish(c, OHSM_UT_CU, "bob", "pw-bob-123", NULL, 0,
                                                     sigs, lens, false, NULL, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_mfa_register_finish(c, OHSM_UT_CU, "bob", "pw-bob-123", pub,
                                                     OHSM_TOKEN_PUBKEY_MAX + 1, sigs, lens, false,
                                                     NULL, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(fakes[0].x.reg_finishes + fakes[1].x.reg_finishes, 3);

    /* Deregistration: one request to every HSM, no token; a plain login of the user is saved
     * with the new password. */
    ohsm_client_free(c);
    c = fresh();
    assert_int_equal(
        ohsm_client_mfa_deregister(c, OHSM_UT_CU, "alice", "plain-pw-3", true, &approval, res),
        OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_true(fakes[i].x.deregister);
        assert_true(fakes[i].x.change_quorum);
        assert_string_equal(fakes[i].x.password, "plain-pw-3");
        assert_int_equal(fakes[i].x.pub_len, 0);
        assert_int_equal(fakes[i].x.sig_len, 0);
        assert_approval(i);
        (void)snprintf(fakes[i].password, sizeof(fakes[i].password), "plain-pw-3");
    }
    cut(0);
    assert_int_equal(ohsm_client_reconnect(c), OHSM_OK);
    assert_true(logged_in_as(c, 0, "alice"));
    ohsm_client_free(c);
}

/* The _q user calls carry the approval intact to every HSM; the plain calls carry none; a bad
 * approval is refused before anything is sent. change_password_q keeps change_password's
 * behaviour: the saved password follows, and the activation flag is reported. */
static void test_client_fake_user_calls_carry_approval(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    bool activated = false;

    assert_int_equal(ohsm_client_create_user_q(c, OHSM_UT_CU, "dave", "dave-pw-1", &approval, res),
                     OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_approval(i);
        assert_string_equal(fakes[i].x.user, "dave");
        assert_string_equal(fakes[i].x.password, "dave-pw-1");
    }
    /* one id everywhere: HSM 0 gave it (0 asked: its own), HSM 1 was asked to use it */
    assert_int_equal(fakes[0].x.create_id, 0);
    assert_int_equal(fakes[1].x.create_id, 40 + fakes[0].slot);
    assert_int_equal(ohsm_client_create_user(c, OHSM_UT_CU, "erin", "erin-pw-1", res), OHSM_OK);
    assert_false(fakes[0].x.ap.present || fakes[1].x.ap.present);
    assert_int_equal(ohsm_client_delete_user_q(c, OHSM_UT_CU, "dave", &approval, res), OHSM_OK);
    assert_approval(0);
    assert_approval(1);
    assert_int_equal(ohsm_client_delete_user(c, OHSM_UT_CU, "erin", res), OHSM_OK);
    assert_false(fakes[1].x.ap.present);
    assert_string_equal(fakes[1].x.user, "erin");

    assert_int_equal(ohsm_client_change_password_q(c, OHSM_UT_CU, "alice", "alice-pw-2", &approval,
                                                   res, &activated),
                     OHSM_OK);
    assert_false(activated);
    assert_approval(0);
    assert_approval(1);
    cut(0);
    cut(1);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(verify_on(c, i), OHSM_OK); /* re-login with the new password */
    }
    assert_int_equal(
        ohsm_client_change_password_q(c, OHSM_UT_CO, "admin", "admin-pw-2", NULL, res, &activated),
        OHSM_OK);
    assert_true(activated);
    assert_false(fakes[0].x.ap.present);

    /* Bad approvals: nothing sent. */
    int ops = fakes[0].x.user_ops + fakes[1].x.user_ops;
    struct ohsm_approval bad = approval;
    bad.n = OHSM_APPROVAL_SIGS_MAX + 1;
    assert_int_equal(ohsm_client_create_user_q(c, OHSM_UT_CU, "x", "x-pw-1234", &bad, res),
                     OHSM_ARGUMENTS_BAD);
    bad = approval;
    bad.len = OHSM_APPROVAL_REC_LEN * OHSM_APPROVAL_MAX_RECS + 1;
    assert_int_equal(ohsm_client_delete_user_q(c, OHSM_UT_CU, "x", &bad, res), OHSM_ARGUMENTS_BAD);
    bad = approval;
    bad.data = NULL;
    assert_int_equal(ohsm_client_delete_user_q(c, OHSM_UT_CU, "x", &bad, res), OHSM_ARGUMENTS_BAD);
    struct ohsm_approval_sig long_sig[1] = {{"ann", ap_sig1, OHSM_TOKEN_SIG_MAX + 1}};
    struct ohsm_approval_sig no_name[1] = {{NULL, ap_sig1, sizeof(ap_sig1)}};
    struct ohsm_approval_sig long_name[1] = {{"a-name-of-thirty-two-characters!", ap_sig1, 5}};
    bad = approval;
    bad.n = 1;
    bad.sigs = long_sig;
    assert_int_equal(
        ohsm_client_change_password_q(c, OHSM_UT_CU, "x", "x-pw-1234", &bad, res, NULL),
        OHSM_ARGUMENTS_BAD);
    bad.sigs = no_name;
    assert_int_equal(ohsm_client_delete_user_q(c, OHSM_UT_CU, "x", &bad, res), OHSM_ARGUMENTS_BAD);
    bad.sigs = long_name;
    assert_int_equal(ohsm_client_delete_user_q(c, OHSM_UT_CU, "x", &bad, res), OHSM_ARGUMENTS_BAD);
    assert_int_equal(fakes[0].x.user_ops + fakes[1].x.user_ops, ops);
    ohsm_client_free(c);
}

/* A port nobody listens on. */
static uint16_t dead_port(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void assert_record(const uint8_t *rec, size_t slot, uint8_t service)
{
    assert_memory_equal(rec, "OHQ1", 4);
    assert_int_equal(rec[4], service);
    assert_int_equal(rec[5], slot);
    assert_int_equal(rec[OHSM_APPROVAL_REC_LEN - 1], 0x11u * (slot + 1));
}

/* A quorum token is the records of the HSMs that answered, in config order; an HSM that is down
 * has no record and its transport error in res; a record of the wrong length is a protocol
 * error for that HSM only. */
static void test_client_fake_quorum_generate_order(void **state)
{
    (void)state;
    struct ohsm_cfg_hsm three[3] = {cfg_hsms[0], cfg_hsms[0], cfg_hsms[1]};
    struct ohsm_cfg cfg3 = cfg;
    struct ohsm_client *c = NULL;
    struct ohsm_result res[3];
    uint8_t *data = NULL;
    size_t len = 0;

    (void)snprintf(three[1].id, sizeof(three[1].id), "hsm-c");
    three[1].port = dead_port();
    cfg3.n = 3;
    cfg3.hsms = three;
    reset_fakes();
    assert_int_equal(ohsm_client_new(&cfg3, &c), OHSM_OK);
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "secret-pw1", res, NULL),
                     OHSM_NOT_CONNECTED);
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_USER, 0, &data, &len, res),
                     OHSM_NOT_CONNECTED);
    assert_int_equal(res[0].rv, OHSM_OK);
    assert_true(ohsm_rv_is_transport(res[1].rv));
    assert_int_equal(res[2].rv, OHSM_OK);
    assert_int_equal(len, 2 * OHSM_APPROVAL_REC_LEN);
    assert_record(data, 0, OHSM_QS_USER);
    assert_record(data + OHSM_APPROVAL_REC_LEN, 1, OHSM_QS_USER);
    free(data);

    fakes[1].x.short_record = true;
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_KEY_MGMT, 0x77, &data, &len, res),
                     OHSM_NOT_CONNECTED);
    assert_int_equal(res[2].rv, OHSM_PROTOCOL);
    assert_int_equal(len, OHSM_APPROVAL_REC_LEN);
    assert_record(data, 0, OHSM_QS_KEY_MGMT);
    assert_int_equal(fakes[0].x.key_handle, 0x77);
    free(data);

    /* Nobody answers well: no data at all. */
    fakes[0].x.short_record = true;
    data = (uint8_t *)1;
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_QUORUM, 0, &data, &len, res),
                     OHSM_PROTOCOL);
    assert_null(data);
    assert_int_equal(len, 0);
    int gens = fakes[0].x.qgens;
    assert_int_equal(ohsm_client_quorum_generate(c, 0, 0, &data, &len, res), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_MAX_ + 1, 0, &data, &len, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(fakes[0].x.qgens, gens);
    ohsm_client_free(c);
}

/* list and values decode one HSM's answer; set, delete and register reach every HSM with their
 * fields (and approval); out-of-range values are refused before anything is sent. */
static void test_client_fake_quorum_calls(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    struct ohsm_qtoken_info *t = NULL;
    size_t n = 0;
    struct ohsm_quorum_values v;

    assert_int_equal(ohsm_client_quorum_list(c, 1, &t, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].username, "alice");
    assert_int_equal(t[0].service, OHSM_QS_USER);
    assert_int_equal(t[0].approvals_required, 2);
    assert_int_equal(t[0].approvals, 1);
    assert_int_equal(t[0].timeout_seconds, 501);
    assert_int_equal(t[0].key_handle, 0);
    assert_string_equal(t[1].username, "bob");
    assert_int_equal(t[1].service, OHSM_QS_KEY_MGMT);
    assert_int_equal(t[1].approvals_required, 3);
    assert_int_equal(t[1].timeout_seconds, 42);
    assert_int_equal(t[1].key_handle, 0x1234);
    free(t);
    assert_int_equal(ohsm_client_quorum_list(c, NFAKE, &t, &n), OHSM_ARGUMENTS_BAD);

    assert_int_equal(ohsm_client_quorum_values(c, 0, &v), OHSM_OK);
    assert_int_equal(v.user, 2);
    assert_int_equal(v.quorum, 1);
    assert_int_equal(v.cluster, 3);
    assert_int_equal(ohsm_client_quorum_values(c, 1, &v), OHSM_OK);
    assert_int_equal(v.quorum, 2);

    assert_int_equal(ohsm_client_quorum_set(c, OHSM_QS_USER, 0, NULL, res),
                     OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(ohsm_client_quorum_set(c, OHSM_QS_USER, OHSM_QUORUM_MAX + 1, NULL, res),
                     OHSM_QUORUM_VALUE_INVALID);
    assert_int_equal(ohsm_client_quorum_set(c, OHSM_QS_REGISTRATION, 2, NULL, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(fakes[0].x.qsets + fakes[1].x.qsets, 0);
    assert_int_equal(ohsm_client_quorum_set(c, OHSM_QS_QUORUM, 3, &approval, res), OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(fakes[i].x.service, OHSM_QS_QUORUM);
        assert_int_equal(fakes[i].x.value, 3);
        assert_approval(i);
    }

    assert_int_equal(ohsm_client_quorum_delete(c, true, res), OHSM_OK);
    assert_true(fakes[0].x.all && fakes[1].x.all);
    assert_int_equal(ohsm_client_quorum_delete(c, false, NULL), OHSM_OK);
    assert_false(fakes[0].x.all || fakes[1].x.all);

    static const uint8_t pub[20] = {0x30, 1, 2};
    static const uint8_t rsig[256] = {0xaa, 0xbb};
    assert_int_equal(ohsm_client_quorum_register(c, ap_data, sizeof(ap_data), rsig, sizeof(rsig),
                                                 pub, sizeof(pub), res),
                     OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(fakes[i].x.qregisters, 1);
        assert_int_equal(fakes[i].x.data_len, sizeof(ap_data));
        assert_memory_equal(fakes[i].x.data, ap_data, sizeof(ap_data));
        assert_int_equal(fakes[i].x.sig_len, sizeof(rsig));
        assert_memory_equal(fakes[i].x.sig, rsig, sizeof(rsig));
        assert_int_equal(fakes[i].x.pub_len, sizeof(pub));
    }
    assert_int_equal(
        ohsm_client_quorum_register(c, ap_data, 0, rsig, sizeof(rsig), pub, sizeof(pub), res),
        OHSM_ARGUMENTS_BAD);
    assert_int_equal(
        ohsm_client_quorum_register(c, ap_data, sizeof(ap_data), rsig, 0, pub, sizeof(pub), res),
        OHSM_ARGUMENTS_BAD);
    assert_int_equal(
        ohsm_client_quorum_register(c, ap_data, sizeof(ap_data), rsig, sizeof(rsig), NULL, 0, res),
        OHSM_ARGUMENTS_BAD);
    assert_int_equal(fakes[0].x.qregisters, 1);
    ohsm_client_free(c);
}

/* ---- key quorum ---- */

static const uint8_t ap2_data[OHSM_APPROVAL_REC_LEN] = {'O', 'H', 'Q', '1', OHSM_QS_KEY_MGMT,
                                                        1,   0,   0,   0,   0x77};
static const uint8_t ap2_sig[4] = {0xde, 0xad, 0xbe, 0xef};
static const struct ohsm_approval_sig ap2_sigs[1] = {{"dan", ap2_sig, sizeof(ap2_sig)}};
static const struct ohsm_approval approval2 = {ap2_data, sizeof(ap2_data), ap2_sigs, 1};

static void assert_same_approval(const struct fake_approval *got, const struct ohsm_approval *want)
{
    assert_true(got->present);
    assert_int_equal(got->len, want->len);
    assert_memory_equal(got->data, want->data, want->len);
    assert_int_equal(got->nsigs, want->n);
    for (size_t i = 0; i < want->n; i++) {
        assert_string_equal(got->user[i], want->sigs[i].username);
        assert_int_equal(got->sig_len[i], want->sigs[i].len);
        assert_memory_equal(got->sig[i], want->sigs[i].sig, want->sigs[i].len);
    }
}

/* HSM i was told to drop exactly the tokens of these approval datas, in this order. */
static void assert_dropped(size_t i, const struct ohsm_approval *a, const struct ohsm_approval *b)
{
    const struct fake5 *x = &fakes[i].x;
    int n = (a != NULL) + (b != NULL);
    assert_int_equal(x->qdeletes, n);
    assert_int_equal(x->qdel_data_n, n);
    assert_false(x->all);
    const struct ohsm_approval *want[2] = {a != NULL ? a : b, b};
    for (int k = 0; k < n; k++) {
        assert_int_equal(x->qdel_len[k], want[k]->len);
        assert_memory_equal(x->qdel_data[k], want[k]->data, want[k]->len);
    }
}

/* Forgets what the fakes saw (counters and notes; failure settings stay). */
static void clear_notes(void)
{
    for (size_t i = 0; i < NFAKE; i++) {
        struct fake5 *x = &fakes[i].x;
        (void)pthread_mutex_lock(&fakes[i].mu);
        memset(&x->ap, 0, sizeof(x->ap));
        memset(&x->ap2, 0, sizeof(x->ap2));
        x->signs = x->wraps = x->unwraps = x->setattrs = x->shares = 0;
        x->qdeletes = x->qdel_data_n = 0;
        x->handle = 0;
        fakes[i].inserts = 0;
        (void)pthread_mutex_unlock(&fakes[i].mu);
    }
}

/* The one fake whose counter (a of fake 0, b of fake 1) moved by one; the other's did not. */
static size_t one_of(int a, int b)
{
    assert_int_equal(a + b, 1);
    return a == 1 ? 0 : 1;
}

static void assert_reversed(uint8_t *out, size_t out_len)
{
    assert_int_equal(out_len, sizeof(msg));
    for (size_t i = 0; i < sizeof(msg); i++) {
        assert_int_equal(out[i], msg[sizeof(msg) - 1 - i]);
    }
    free(out);
}

/* sign_q carries its approval intact to the one HSM that signs; after that success the other
 * HSM is told to drop the token (QuorumDelete with the same approval_data, not "all"), the
 * signer is not. A plain sign carries none and drops nothing; a refused sign drops nothing; a
 * failing drop does not fail the sign; an HSM where the client is not logged in is not asked. */
static void test_client_fake_sign_q_drops_token_elsewhere(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    uint8_t *out = NULL;
    size_t out_len = 0;

    assert_int_equal(ohsm_client_sign_q(c, 7, &mech, msg, sizeof(msg), &approval, &out, &out_len),
                     OHSM_OK);
    assert_reversed(out, out_len);
    size_t s = one_of(fakes[0].x.signs, fakes[1].x.signs);
    assert_int_equal(fakes[s].x.handle, 7);
    assert_same_approval(&fakes[s].x.ap, &approval);
    assert_dropped(s, NULL, NULL);
    assert_dropped(1 - s, &approval, NULL);

    clear_notes();
    assert_int_equal(ohsm_client_sign(c, 7, &mech, msg, sizeof(msg), &out, &out_len), OHSM_OK);
    assert_reversed(out, out_len);
    s = one_of(fakes[0].x.signs, fakes[1].x.signs);
    assert_false(fakes[s].x.ap.present);
    assert_dropped(0, NULL, NULL);
    assert_dropped(1, NULL, NULL);

    clear_notes();
    fakes[0].x.guard_rv = fakes[1].x.guard_rv = OHSM_QUORUM_INSUFFICIENT;
    assert_int_equal(ohsm_client_sign_q(c, 7, &mech, msg, sizeof(msg), &approval2, &out, &out_len),
                     OHSM_QUORUM_INSUFFICIENT);
    assert_null(out);
    assert_int_equal(out_len, 0);
    s = one_of(fakes[0].x.signs, fakes[1].x.signs); /* no fail-over after a refusal */
    assert_same_approval(&fakes[s].x.ap, &approval2);
    assert_dropped(0, NULL, NULL);
    assert_dropped(1, NULL, NULL);

    clear_notes();
    fakes[0].x.guard_rv = fakes[1].x.guard_rv = OHSM_OK;
    fakes[0].x.qdel_rv = fakes[1].x.qdel_rv = OHSM_TOKEN_NOT_FOUND;
    assert_int_equal(ohsm_client_sign_q(c, 7, &mech, msg, sizeof(msg), &approval2, &out, &out_len),
                     OHSM_OK);
    assert_reversed(out, out_len);
    s = one_of(fakes[0].x.signs, fakes[1].x.signs);
    assert_dropped(1 - s, &approval2, NULL);
    ohsm_client_free(c);

    /* Logged in on HSM 0 only (HSM 1 refused the password): HSM 0 signs, HSM 1 is not asked. */
    c = fresh_out();
    (void)snprintf(fakes[1].password, sizeof(fakes[1].password), "another-pw");
    assert_int_equal(ohsm_client_login(c, OHSM_UT_CU, "alice", "secret-pw1", res, NULL),
                     OHSM_PIN_INCORRECT);
    assert_int_equal(ohsm_client_sign_q(c, 7, &mech, msg, sizeof(msg), &approval, &out, &out_len),
                     OHSM_OK);
    assert_reversed(out, out_len);
    assert_int_equal(fakes[0].x.signs, 1);
    assert_dropped(1, NULL, NULL);
    ohsm_client_free(c);
}

/* set-attribute and share/unshare carry their approval intact to every HSM (each spends its
 * own record: nothing is dropped); unwrap carries it to the HSM that unwraps, the other gets the
 * new key and drops the token; wrap carries its two approvals in their own fields and the other
 * HSM drops both tokens; the plain calls carry none and drop nothing; refusals drop nothing. */
static void test_client_fake_key_calls_carry_approval(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    static const uint8_t tmpl[4] = {1, 2, 3, 4}, wrapped[40] = {5};
    struct ohsm_obj o;
    uint8_t *out = NULL;
    size_t out_len = 0;

    assert_int_equal(ohsm_client_key_set_attrs_q(c, 7, tmpl, sizeof(tmpl), &approval, NULL, res),
                     OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(fakes[i].x.setattrs, 1);
        assert_int_equal(fakes[i].x.handle, 7);
        assert_same_approval(&fakes[i].x.ap, &approval);
        assert_dropped(i, NULL, NULL);
    }
    assert_int_equal(ohsm_client_key_set_attrs(c, 7, tmpl, sizeof(tmpl), NULL, res), OHSM_OK);
    assert_int_equal(fakes[0].x.setattrs + fakes[1].x.setattrs, 4);
    assert_false(fakes[0].x.ap.present || fakes[1].x.ap.present);

    assert_int_equal(ohsm_client_key_share_q(c, 8, "bob", true, &approval, res), OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(fakes[i].x.handle, 8);
        assert_string_equal(fakes[i].x.user, "bob");
        assert_true(fakes[i].x.share_flag);
        assert_same_approval(&fakes[i].x.ap, &approval);
    }
    assert_int_equal(ohsm_client_key_share_q(c, 8, "bob", false, &approval2, res), OHSM_OK);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_false(fakes[i].x.share_flag);
        assert_same_approval(&fakes[i].x.ap, &approval2);
        assert_dropped(i, NULL, NULL);
    }
    assert_int_equal(ohsm_client_key_share(c, 8, "carl", true, res), OHSM_OK);
    assert_int_equal(fakes[0].x.shares + fakes[1].x.shares, 6);
    assert_false(fakes[0].x.ap.present || fakes[1].x.ap.present);

    clear_notes();
    assert_int_equal(ohsm_client_key_unwrap_q(c, 9, &mech, wrapped, sizeof(wrapped),
                                              OHSM_CLASS_SECRET, OHSM_KT_AES, NULL, 0, NULL, 0,
                                              &approval, &o, res),
                     OHSM_OK);
    size_t u = one_of(fakes[0].x.unwraps, fakes[1].x.unwraps);
    assert_int_equal(fakes[u].x.handle, 9);
    assert_same_approval(&fakes[u].x.ap, &approval);
    assert_dropped(u, NULL, NULL);
    assert_int_equal(fakes[1 - u].inserts, 1);
    assert_true(has_alive(1 - u, o.handle));
    assert_dropped(1 - u, &approval, NULL);
    clear_notes();
    assert_int_equal(ohsm_client_key_unwrap(c, 9, &mech, wrapped, sizeof(wrapped),
                                            OHSM_CLASS_SECRET, OHSM_KT_AES, NULL, 0, NULL, 0, &o,
                                            res),
                     OHSM_OK);
    u = one_of(fakes[0].x.unwraps, fakes[1].x.unwraps);
    assert_false(fakes[u].x.ap.present);
    assert_dropped(0, NULL, NULL);
    assert_dropped(1, NULL, NULL);

    clear_notes();
    assert_int_equal(ohsm_client_key_wrap_q(c, 9, 7, &mech, &approval, &approval2, &out, &out_len),
                     OHSM_OK);
    assert_int_equal(out_len, 7);
    assert_memory_equal(out, "wrapped", 7);
    free(out);
    size_t w = one_of(fakes[0].x.wraps, fakes[1].x.wraps);
    assert_int_equal(fakes[w].x.handle, 7);
    assert_same_approval(&fakes[w].x.ap, &approval);
    assert_same_approval(&fakes[w].x.ap2, &approval2);
    assert_dropped(w, NULL, NULL);
    assert_dropped(1 - w, &approval, &approval2);
    clear_notes();
    assert_int_equal(ohsm_client_key_wrap_q(c, 9, 7, &mech, NULL, &approval2, &out, &out_len),
                     OHSM_OK);
    free(out);
    w = one_of(fakes[0].x.wraps, fakes[1].x.wraps);
    assert_false(fakes[w].x.ap.present);
    assert_same_approval(&fakes[w].x.ap2, &approval2);
    assert_dropped(1 - w, NULL, &approval2);
    clear_notes();
    assert_int_equal(ohsm_client_key_wrap(c, 9, 7, &mech, &out, &out_len), OHSM_OK);
    free(out);
    w = one_of(fakes[0].x.wraps, fakes[1].x.wraps);
    assert_false(fakes[w].x.ap.present || fakes[w].x.ap2.present);
    assert_dropped(0, NULL, NULL);
    assert_dropped(1, NULL, NULL);

    /* Refused by the HSM: the error comes back, nothing is dropped. */
    clear_notes();
    fakes[0].x.guard_rv = fakes[1].x.guard_rv = OHSM_QUORUM_REQUIRED;
    out = NULL;
    assert_int_equal(ohsm_client_key_wrap_q(c, 9, 7, &mech, &approval, NULL, &out, &out_len),
                     OHSM_QUORUM_REQUIRED);
    assert_null(out);
    assert_int_equal(ohsm_client_key_unwrap_q(c, 9, &mech, wrapped, sizeof(wrapped),
                                              OHSM_CLASS_SECRET, OHSM_KT_AES, NULL, 0, NULL, 0,
                                              &approval, &o, res),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(ohsm_client_key_share_q(c, 8, "bob", false, &approval, res),
                     OHSM_QUORUM_REQUIRED);
    assert_int_equal(res[0].rv, OHSM_QUORUM_REQUIRED);
    assert_int_equal(res[1].rv, OHSM_QUORUM_REQUIRED);
    assert_int_equal(fakes[0].inserts + fakes[1].inserts, 0);
    assert_dropped(0, NULL, NULL);
    assert_dropped(1, NULL, NULL);
    ohsm_client_free(c);
}

/* A bad approval (any position) makes every _q key call fail with OHSM_ARGUMENTS_BAD before
 * anything is sent. */
static void test_client_fake_key_calls_bad_approval(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    static const uint8_t tmpl[4] = {1, 2, 3, 4}, wrapped[40] = {5};
    struct ohsm_approval_sig no_sig[1] = {{"ann", NULL, 5}};
    struct ohsm_approval_sig long_name[1] = {{"a-name-of-thirty-two-characters!", ap_sig1, 5}};
    struct ohsm_approval bad[5];
    struct ohsm_obj o;
    uint8_t *out = NULL;
    size_t out_len = 0;

    for (size_t k = 0; k < 5; k++) {
        bad[k] = approval;
    }
    bad[0].data = NULL;
    bad[1].len = 0;
    bad[2].n = OHSM_APPROVAL_SIGS_MAX + 1;
    bad[3].n = 1;
    bad[3].sigs = no_sig;
    bad[4].n = 1;
    bad[4].sigs = long_name;
    clear_notes();
    for (size_t k = 0; k < 5; k++) {
        const struct ohsm_approval *b = &bad[k];
        assert_int_equal(ohsm_client_sign_q(c, 7, &mech, msg, sizeof(msg), b, &out, &out_len),
                         OHSM_ARGUMENTS_BAD);
        assert_null(out);
        assert_int_equal(ohsm_client_key_wrap_q(c, 9, 7, &mech, b, &approval, &out, &out_len),
                         OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_client_key_wrap_q(c, 9, 7, &mech, &approval, b, &out, &out_len),
                         OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_client_key_unwrap_q(c, 9, &mech, wrapped, sizeof(wrapped),
                                                  OHSM_CLASS_SECRET, OHSM_KT_AES, NULL, 0, NULL, 0,
                                                  b, &o, res),
                         OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_client_key_set_attrs_q(c, 7, tmpl, sizeof(tmpl), b, NULL, res),
                         OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_client_key_share_q(c, 8, "bob", true, b, res), OHSM_ARGUMENTS_BAD);
    }
    for (size_t i = 0; i < NFAKE; i++) {
        const struct fake5 *x = &fakes[i].x;
        assert_int_equal(x->signs + x->wraps + x->unwraps + x->setattrs + x->shares, 0);
        assert_int_equal(x->qdeletes, 0);
    }
    /* The same calls with a good approval do reach the HSMs (the fakes count them). */
    assert_int_equal(ohsm_client_key_share_q(c, 8, "bob", true, &approval, res), OHSM_OK);
    assert_int_equal(fakes[0].x.shares + fakes[1].x.shares, 2);
    ohsm_client_free(c);
}

/* A key service's token names its key (passed to every HSM, records in config order); without a
 * key, or a key with another service, the call is refused before anything is sent. */
static void test_client_fake_quorum_generate_key_services(void **state)
{
    (void)state;
    struct ohsm_client *c = fresh();
    struct ohsm_result res[NFAKE];
    uint8_t *data = NULL;
    size_t len = 0;

    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_KEY_USAGE, 0x55, &data, &len, res),
                     OHSM_OK);
    assert_int_equal(len, 2 * OHSM_APPROVAL_REC_LEN);
    for (size_t i = 0; i < NFAKE; i++) {
        assert_int_equal(fakes[i].x.service, OHSM_QS_KEY_USAGE);
        assert_int_equal(fakes[i].x.key_handle, 0x55);
        assert_record(data + i * OHSM_APPROVAL_REC_LEN, i, OHSM_QS_KEY_USAGE);
    }
    free(data);
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_KEY_MGMT, 0x66, &data, &len, res),
                     OHSM_OK);
    assert_int_equal(fakes[1].x.service, OHSM_QS_KEY_MGMT);
    assert_int_equal(fakes[1].x.key_handle, 0x66);
    free(data);
    int gens = fakes[0].x.qgens + fakes[1].x.qgens;
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_KEY_USAGE, 0, &data, &len, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_KEY_MGMT, 0, &data, &len, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_USER, 0x55, &data, &len, res),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_client_quorum_generate(c, OHSM_QS_REGISTRATION, 0x55, &data, &len, res),
                     OHSM_ARGUMENTS_BAD);
    assert_null(data);
    assert_int_equal(fakes[0].x.qgens + fakes[1].x.qgens, gens);
    ohsm_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_fake_connect_and_login),
        cmocka_unit_test(test_client_fake_batch_window),
        cmocka_unit_test(test_client_fake_batch_spreads),
        cmocka_unit_test(test_client_fake_batch_unknown_key_moves),
        cmocka_unit_test(test_client_fake_batch_bad_input),
        cmocka_unit_test(test_client_fake_relogin_after_restart),
        cmocka_unit_test(test_client_fake_relogin_refused_stops),
        cmocka_unit_test(test_client_fake_change_password_then_relogin),
        cmocka_unit_test(test_client_fake_logout_forgets),
        cmocka_unit_test(test_client_fake_balance_and_failover),
        cmocka_unit_test(test_client_fake_trickle_costs_one_timeout),
        cmocka_unit_test(test_client_fake_tricklers_cost_one_timeout),
        cmocka_unit_test(test_client_fake_engine_bookkeeping),
        cmocka_unit_test(test_client_fake_shared_sgroup),
        cmocka_unit_test(test_client_fake_conversions),
        cmocka_unit_test(test_client_fake_bad_arguments),
        cmocka_unit_test(test_client_fake_generate_replicates),
        cmocka_unit_test(test_client_fake_missed_key_repaired_automatically),
        cmocka_unit_test(test_client_fake_repair_applies_tombstone),
        cmocka_unit_test(test_client_fake_delete_later),
        cmocka_unit_test(test_client_fake_delete_later_connection_lost),
        cmocka_unit_test(test_client_fake_generate_timeout_not_repeated),
        cmocka_unit_test(test_client_fake_mfa_login_per_hsm),
        cmocka_unit_test(test_client_fake_mfa_begin_failure_not_finished),
        cmocka_unit_test(test_client_fake_mfa_required_leaves_nothing),
        cmocka_unit_test(test_client_fake_mfa_register),
        cmocka_unit_test(test_client_fake_user_calls_carry_approval),
        cmocka_unit_test(test_client_fake_quorum_generate_order),
        cmocka_unit_test(test_client_fake_quorum_calls),
        cmocka_unit_test(test_client_fake_sign_q_drops_token_elsewhere),
        cmocka_unit_test(test_client_fake_key_calls_carry_approval),
        cmocka_unit_test(test_client_fake_key_calls_bad_approval),
        cmocka_unit_test(test_client_fake_quorum_generate_key_services),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
