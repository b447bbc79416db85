/* SPDX-License-Identifier: Apache-2.0
 * Message validation: what the decoders accept and refuse, and round trips (issue 5: the MFA
 * and quorum messages and the approvals, and the key requests' approvals of the key quorum). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/mask.h"
#include "openhsm/obj.h"
#include "wire/wire.h"

static size_t pack_req(const Ohsm__Request *q, uint8_t *buf, size_t cap)
{
    size_t n = ohsm__request__get_packed_size(q);
    assert_true(n <= cap);
    return ohsm__request__pack(q, buf);
}

/* A login request round-trips with its fields intact. */
static void test_wire_login_roundtrip(void **state)
{
    (void)state;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq l = OHSM__LOGIN_REQ__INIT;
    Ohsm__Request *d = NULL;
    uint8_t buf[256];
    l.user_type = 3;
    l.username = "alice";
    l.password.data = (uint8_t *)"secret1";
    l.password.len = 7;
    q.id = 9;
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    assert_int_equal(d->id, 9);
    assert_string_equal(d->login->username, "alice");
    assert_int_equal(d->login->password.len, 7);
    ohsm_wire_req_free(d);
}

/* Requests with id 0, no operation, over-long names/passwords or a group of the wrong size are
 * refused. */
static void test_wire_request_refusals(void **state)
{
    (void)state;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq l = OHSM__LOGIN_REQ__INIT;
    Ohsm__Request *d = NULL;
    uint8_t buf[512];
    char longname[80];
    uint8_t longpw[65];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    memset(longpw, 'p', sizeof(longpw));

    q.id = 1; /* no op */
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    l.username = "alice";
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &l;
    q.id = 0;
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    q.id = 2;
    l.username = longname;
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    l.username = "alice";
    l.password.data = longpw;
    l.password.len = sizeof(longpw);
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_PROTOCOL);

    l.password.len = 64;
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    ohsm_wire_req_free(d);

    /* A session-object group is absent or exactly 16 bytes. */
    uint8_t group[OHSM_WIRE_GROUP_LEN + 1] = {7};
    l.group.data = group;
    for (size_t len = 1; len <= sizeof(group); len++) {
        l.group.len = len;
        n = pack_req(&q, buf, sizeof(buf));
        assert_int_equal(ohsm_wire_req_decode(buf, n, &d),
                         len == OHSM_WIRE_GROUP_LEN ? OHSM_OK : OHSM_PROTOCOL);
        if (len == OHSM_WIRE_GROUP_LEN) {
            assert_int_equal(d->login->group.len, OHSM_WIRE_GROUP_LEN);
            ohsm_wire_req_free(d);
        }
    }
}

/* Garbage and truncated encodings do not decode. */
static void test_wire_garbage(void **state)
{
    (void)state;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    Ohsm__Request *d = NULL;
    Ohsm__Response *r = NULL;
    assert_int_equal(ohsm_wire_req_decode(junk, sizeof(junk), &d), OHSM_PROTOCOL);
    assert_int_equal(ohsm_wire_resp_decode(junk, sizeof(junk), &r), OHSM_PROTOCOL);
    /* field 11 (login), length 10, but only 2 bytes follow */
    const uint8_t trunc[] = {0x08, 0x01, 0x5a, 0x0a, 0x12, 0x01};
    assert_int_equal(ohsm_wire_req_decode(trunc, sizeof(trunc), &d), OHSM_PROTOCOL);
}

/* A response listing users decodes; one with an over-long username is refused. */
static void test_wire_response_users(void **state)
{
    (void)state;
    Ohsm__Response r = OHSM__RESPONSE__INIT;
    Ohsm__ListUsersResp lu = OHSM__LIST_USERS_RESP__INIT;
    Ohsm__User u = OHSM__USER__INIT;
    Ohsm__User *us[1] = {&u};
    Ohsm__Response *d = NULL;
    uint8_t buf[512];
    char longname[100];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    u.id = 1;
    u.username = "admin";
    lu.n_users = 1;
    lu.users = us;
    r.id = 5;
    r.body_case = OHSM__RESPONSE__BODY_USERS;
    r.users = &lu;
    size_t n = ohsm__response__pack(&r, buf);
    assert_int_equal(ohsm_wire_resp_decode(buf, n, &d), OHSM_OK);
    assert_string_equal(d->users->users[0]->username, "admin");
    ohsm__response__free_unpacked(d, NULL);
    u.username = longname;
    n = ohsm__response__pack(&r, buf);
    assert_int_equal(ohsm_wire_resp_decode(buf, n, &d), OHSM_PROTOCOL);
}

/* ---- key and crypto messages (issue 4) ---- */

/* Packs q into a fresh buffer and returns what the decoder says about it. */
static ohsm_rv req_rv(const Ohsm__Request *q)
{
    size_t n = ohsm__request__get_packed_size(q);
    uint8_t *buf = malloc(n + 1);
    Ohsm__Request *d = NULL;
    assert_non_null(buf);
    assert_int_equal(ohsm__request__pack(q, buf), n);
    ohsm_rv rv = ohsm_wire_req_decode(buf, n, &d);
    if (rv == OHSM_OK) {
        assert_int_equal(d->op_case, q->op_case);
        ohsm_wire_req_free(d);
    }
    free(buf);
    return rv;
}

static ohsm_rv resp_rv(const Ohsm__Response *r)
{
    size_t n = ohsm__response__get_packed_size(r);
    uint8_t *buf = malloc(n + 1);
    Ohsm__Response *d = NULL;
    assert_non_null(buf);
    assert_int_equal(ohsm__response__pack(r, buf), n);
    ohsm_rv rv = ohsm_wire_resp_decode(buf, n, &d);
    if (rv == OHSM_OK) {
        assert_int_equal(d->body_case, r->body_case);
        ohsm_wire_resp_free(d);
    }
    free(buf);
    return rv;
}

/* A zeroed buffer big enough for any oversize field in these tests. */
static uint8_t *big(void)
{
    static uint8_t *b;
    if (b == NULL) {
        b = calloc(1, OHSM_WIRE_DATA_RESP_MAX + 1024);
        assert_non_null(b);
    }
    return b;
}

static ProtobufCBinaryData blob(size_t n)
{
    return (ProtobufCBinaryData){.len = n, .data = big()};
}

static char longname[OHSM_WIRE_NAME_MAX + 2];

static Ohsm__Request req(Ohsm__Request__OpCase op, void *body)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    q.id = 7;
    q.op_case = op;
    q.key_gen = body; /* the oneof members share storage */
    return q;
}

/* Every key/crypto request with a body of valid size decodes; one without a body does not. */
static void test_wire_key_requests_valid(void **state)
{
    (void)state;
    Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
    Ohsm__KeyImportReq im = OHSM__KEY_IMPORT_REQ__INIT;
    Ohsm__KeyDeleteReq del = OHSM__KEY_DELETE_REQ__INIT;
    Ohsm__KeyFindReq f = OHSM__KEY_FIND_REQ__INIT;
    Ohsm__KeyGetReq get = OHSM__KEY_GET_REQ__INIT;
    Ohsm__KeySetAttrReq sa = OHSM__KEY_SET_ATTR_REQ__INIT;
    Ohsm__KeyShareReq sh = OHSM__KEY_SHARE_REQ__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    Ohsm__WrapReq w = OHSM__WRAP_REQ__INIT;
    Ohsm__UnwrapReq u = OHSM__UNWRAP_REQ__INIT;
    Ohsm__CryptoReq c = OHSM__CRYPTO_REQ__INIT;
    Ohsm__RandomReq rnd = OHSM__RANDOM_REQ__INIT;
    Ohsm__MaskedExtractReq me = OHSM__MASKED_EXTRACT_REQ__INIT;
    Ohsm__MaskedInsertReq mi = OHSM__MASKED_INSERT_REQ__INIT;
    Ohsm__SyncStatusReq ss = OHSM__SYNC_STATUS_REQ__INIT;
    Ohsm__UserExtractReq ue = OHSM__USER_EXTRACT_REQ__INIT;
    Ohsm__UserInsertReq ui = OHSM__USER_INSERT_REQ__INIT;
    Ohsm__KeyExportReq ke = OHSM__KEY_EXPORT_REQ__INIT;
    char *shares[OHSM_SHARE_MAX];
    for (size_t i = 0; i < OHSM_SHARE_MAX; i++) {
        shares[i] = "bob";
    }
    g.template_ = blob(OHSM_OBJ_ENC_MAX);
    g.pub_template = blob(OHSM_OBJ_ENC_MAX);
    g.n_share = OHSM_SHARE_MAX;
    g.share = shares;
    im.material = blob(OHSM_WIRE_MATERIAL_MAX);
    im.template_ = blob(OHSM_OBJ_ENC_MAX);
    f.template_ = blob(OHSM_OBJ_ENC_MAX);
    sa.template_ = blob(OHSM_OBJ_ENC_MAX);
    sh.username = "bob";
    m.iv = blob(OHSM_WIRE_IV_MAX);
    m.aad = blob(OHSM_WIRE_AAD_MAX);
    m.label = blob(OHSM_WIRE_LABEL_MAX);
    w.mech = &m;
    u.mech = &m;
    u.wrapped = blob(OHSM_WIRE_WRAPPED_MAX);
    u.template_ = blob(OHSM_OBJ_ENC_MAX);
    c.op = OHSM__CRYPTO_OP__VERIFY;
    c.mech = &m;
    c.data = blob(OHSM_WIRE_DATA_MAX);
    c.signature = blob(512);
    rnd.length = 1u << 30; /* the HSM checks it, not the wire */
    mi.masked = blob(OHSM_MASK_MAX);
    ue.username = "alice";
    ui.masked = blob(OHSM_MASK_MAX);
    struct {
        Ohsm__Request__OpCase op;
        void *body;
    } cases[] = {
        {OHSM__REQUEST__OP_KEY_GEN, &g},        {OHSM__REQUEST__OP_KEY_IMPORT, &im},
        {OHSM__REQUEST__OP_KEY_DELETE, &del},   {OHSM__REQUEST__OP_KEY_FIND, &f},
        {OHSM__REQUEST__OP_KEY_GET, &get},      {OHSM__REQUEST__OP_KEY_SET_ATTR, &sa},
        {OHSM__REQUEST__OP_KEY_SHARE, &sh},     {OHSM__REQUEST__OP_WRAP, &w},
        {OHSM__REQUEST__OP_UNWRAP, &u},         {OHSM__REQUEST__OP_CRYPTO, &c},
        {OHSM__REQUEST__OP_RANDOM, &rnd},       {OHSM__REQUEST__OP_MASKED_EXTRACT, &me},
        {OHSM__REQUEST__OP_MASKED_INSERT, &mi}, {OHSM__REQUEST__OP_SYNC_STATUS, &ss},
        {OHSM__REQUEST__OP_USER_EXTRACT, &ue},  {OHSM__REQUEST__OP_USER_INSERT, &ui},
        {OHSM__REQUEST__OP_KEY_EXPORT, &ke},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Ohsm__Request q = req(cases[i].op, cases[i].body);
        assert_int_equal(req_rv(&q), OHSM_OK);
    }
    /* Wrap, unwrap and crypto need their mechanism */
    w.mech = NULL;
    u.mech = NULL;
    c.mech = NULL;
    for (size_t i = 7; i < 10; i++) {
        Ohsm__Request q = req(cases[i].op, cases[i].body);
        assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    }
    /* An unknown field (an op from the future) leaves no operation: refused. */
    const uint8_t future[] = {0x08, 0x07, 0xa2, 0x06, 0x00}; /* id 7, field 100 empty */
    Ohsm__Request *d = NULL;
    assert_int_equal(ohsm_wire_req_decode(future, sizeof(future), &d), OHSM_PROTOCOL);
}

/* Every bound of the key/crypto requests is enforced: one byte (or name, or entry) over fails. */
static void test_wire_key_requests_oversize(void **state)
{
    (void)state;
    Ohsm__Request q;
    char *shares[OHSM_SHARE_MAX + 1];
    for (size_t i = 0; i <= OHSM_SHARE_MAX; i++) {
        shares[i] = "bob";
    }

    Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_GEN, &g);
    g.template_ = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    g.template_ = blob(0);
    g.pub_template = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    g.pub_template = blob(0);
    g.n_share = OHSM_SHARE_MAX + 1;
    g.share = shares;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    g.n_share = 2;
    shares[1] = longname;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    shares[1] = "bob";
    assert_int_equal(req_rv(&q), OHSM_OK);

    Ohsm__KeyImportReq im = OHSM__KEY_IMPORT_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_IMPORT, &im);
    im.material = blob(OHSM_WIRE_MATERIAL_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    im.material = blob(32);
    im.template_ = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    im.template_ = blob(0);
    im.n_share = 1;
    im.share = (char *[]){longname};
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__KeyFindReq f = OHSM__KEY_FIND_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_FIND, &f);
    f.template_ = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__KeySetAttrReq sa = OHSM__KEY_SET_ATTR_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_SET_ATTR, &sa);
    sa.template_ = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__KeyShareReq sh = OHSM__KEY_SHARE_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_SHARE, &sh);
    sh.username = longname;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__Mech m = OHSM__MECH__INIT;
    Ohsm__WrapReq w = OHSM__WRAP_REQ__INIT;
    w.mech = &m;
    q = req(OHSM__REQUEST__OP_WRAP, &w);
    m.iv = blob(OHSM_WIRE_IV_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    m.iv = blob(0);
    m.aad = blob(OHSM_WIRE_AAD_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    m.aad = blob(0);
    m.label = blob(OHSM_WIRE_LABEL_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    m.label = blob(0);
    assert_int_equal(req_rv(&q), OHSM_OK);

    Ohsm__UnwrapReq u = OHSM__UNWRAP_REQ__INIT;
    u.mech = &m;
    q = req(OHSM__REQUEST__OP_UNWRAP, &u);
    u.wrapped = blob(OHSM_WIRE_WRAPPED_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    u.wrapped = blob(40);
    u.template_ = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    u.template_ = blob(0);
    u.n_share = OHSM_SHARE_MAX + 1;
    u.share = shares;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    u.n_share = 0;
    m.iv = blob(OHSM_WIRE_IV_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    m.iv = blob(0);

    Ohsm__CryptoReq c = OHSM__CRYPTO_REQ__INIT;
    c.mech = &m;
    q = req(OHSM__REQUEST__OP_CRYPTO, &c);
    for (int op = 0; op <= 6; op++) {
        c.op = (Ohsm__CryptoOp)op;
        assert_int_equal(req_rv(&q), op >= 1 && op <= 5 ? OHSM_OK : OHSM_PROTOCOL);
    }
    c.op = OHSM__CRYPTO_OP__SIGN;
    c.data = blob(OHSM_WIRE_DATA_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    c.data = blob(OHSM_WIRE_DATA_MAX);
    c.signature = blob(OHSM_WIRE_DATA_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__MaskedInsertReq mi = OHSM__MASKED_INSERT_REQ__INIT;
    q = req(OHSM__REQUEST__OP_MASKED_INSERT, &mi);
    mi.masked = blob(OHSM_MASK_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__UserExtractReq ue = OHSM__USER_EXTRACT_REQ__INIT;
    q = req(OHSM__REQUEST__OP_USER_EXTRACT, &ue);
    ue.username = longname;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__UserInsertReq ui = OHSM__USER_INSERT_REQ__INIT;
    q = req(OHSM__REQUEST__OP_USER_INSERT, &ui);
    ui.masked = blob(OHSM_MASK_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
}

/* A crypto request round-trips with its mechanism parameters intact. */
static void test_wire_crypto_roundtrip(void **state)
{
    (void)state;
    Ohsm__Mech m = OHSM__MECH__INIT;
    Ohsm__CryptoReq c = OHSM__CRYPTO_REQ__INIT;
    Ohsm__Request q = req(OHSM__REQUEST__OP_CRYPTO, &c);
    Ohsm__Request *d = NULL;
    uint8_t buf[256];
    m.mech = 11;
    m.hash = 3;
    m.mgf_hash = 5;
    m.salt_len = UINT32_MAX;
    m.prehashed = 1;
    m.iv = (ProtobufCBinaryData){.len = 3, .data = (uint8_t *)"abc"};
    c.op = OHSM__CRYPTO_OP__SIGN;
    c.handle = (42u << 5) | 3u;
    c.mech = &m;
    c.data = (ProtobufCBinaryData){.len = 5, .data = (uint8_t *)"hello"};
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    assert_int_equal(d->crypto->op, OHSM__CRYPTO_OP__SIGN);
    assert_int_equal(d->crypto->handle, (42u << 5) | 3u);
    assert_int_equal(d->crypto->mech->mech, 11);
    assert_int_equal(d->crypto->mech->salt_len, UINT32_MAX);
    assert_true(d->crypto->mech->prehashed);
    assert_memory_equal(d->crypto->mech->iv.data, "abc", 3);
    assert_memory_equal(d->crypto->data.data, "hello", 5);
    ohsm_wire_req_free(d);
    ohsm_wire_req_free(NULL);
    ohsm_wire_resp_free(NULL);
}

static Ohsm__Response resp(Ohsm__Response__BodyCase body_case, void *body)
{
    Ohsm__Response r = OHSM__RESPONSE__INIT;
    r.id = 7;
    r.body_case = body_case;
    r.key = body; /* the oneof members share storage */
    return r;
}

/* Key, find, data and masked responses: bounds on counts and sizes, masked never more than
 * records. */
static void test_wire_key_responses(void **state)
{
    (void)state;
    ProtobufCBinaryData recs[3] = {blob(OHSM_OBJ_ENC_MAX), blob(100), blob(1)};
    ProtobufCBinaryData masks[3] = {blob(OHSM_MASK_MAX), blob(200), blob(1)};
    Ohsm__KeyResp k = OHSM__KEY_RESP__INIT;
    Ohsm__Response r = resp(OHSM__RESPONSE__BODY_KEY, &k);
    k.n_records = 2;
    k.records = recs;
    k.n_masked = 2;
    k.masked = masks;
    assert_int_equal(resp_rv(&r), OHSM_OK);
    k.n_masked = 0; /* session objects */
    assert_int_equal(resp_rv(&r), OHSM_OK);
    k.n_records = 3;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    k.n_records = 1;
    k.n_masked = 2;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    k.n_masked = 1;
    recs[0] = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    recs[0] = blob(10);
    masks[0] = blob(OHSM_MASK_MAX + 1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);

    ProtobufCBinaryData *many = calloc(OHSM_WIRE_FIND_MAX + 1, sizeof(*many));
    Ohsm__KeyFindResp f = OHSM__KEY_FIND_RESP__INIT;
    r = resp(OHSM__RESPONSE__BODY_FOUND, &f);
    f.n_records = OHSM_WIRE_FIND_MAX;
    f.records = many;
    assert_int_equal(resp_rv(&r), OHSM_OK);
    f.n_records = OHSM_WIRE_FIND_MAX + 1;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    f.n_records = 1;
    many[0] = blob(OHSM_OBJ_ENC_MAX + 1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    free(many);

    Ohsm__DataResp dr = OHSM__DATA_RESP__INIT;
    r = resp(OHSM__RESPONSE__BODY_DATA, &dr);
    dr.data = blob(OHSM_WIRE_DATA_RESP_MAX);
    dr.iv = blob(16);
    assert_int_equal(resp_rv(&r), OHSM_OK);
    dr.data = blob(OHSM_WIRE_DATA_RESP_MAX + 1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    dr.data = blob(10);
    dr.iv = blob(17);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);

    Ohsm__MaskedResp mr = OHSM__MASKED_RESP__INIT;
    r = resp(OHSM__RESPONSE__BODY_MASKED, &mr);
    mr.masked = blob(OHSM_MASK_MAX);
    assert_int_equal(resp_rv(&r), OHSM_OK);
    mr.masked = blob(OHSM_MASK_MAX + 1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);

    /* a body from a newer HSM (unknown field 99) decodes as a reply carrying only its rv */
    const uint8_t future[] = {0x08, 0x07, 0x9a, 0x06, 0x00};
    Ohsm__Response *d = NULL;
    assert_int_equal(ohsm_wire_resp_decode(future, sizeof(future), &d), OHSM_OK);
    assert_int_equal(d->body_case, OHSM__RESPONSE__BODY__NOT_SET); /* rv-only reply */
    ohsm_wire_resp_free(d);
}

/* Sync status: digests exactly 32 bytes or empty, bounded lists, bounded usernames. */
static void test_wire_sync_response(void **state)
{
    (void)state;
    Ohsm__SyncObject o = OHSM__SYNC_OBJECT__INIT;
    Ohsm__SyncUser u = OHSM__SYNC_USER__INIT;
    Ohsm__SyncObject *os[1] = {&o};
    Ohsm__SyncUser *us[1] = {&u};
    Ohsm__SyncStatusResp s = OHSM__SYNC_STATUS_RESP__INIT;
    Ohsm__Response r = resp(OHSM__RESPONSE__BODY_SYNC, &s);
    o.handle = 33;
    o.version = 2;
    o.digest = blob(32);
    u.username = "alice";
    u.digest = blob(32);
    s.objects_digest = blob(32);
    s.users_digest = blob(32);
    s.n_objects = 1;
    s.objects = os;
    s.n_users = 1;
    s.users = us;
    assert_int_equal(resp_rv(&r), OHSM_OK);
    s.objects_digest = blob(0);
    o.digest = blob(0);
    assert_int_equal(resp_rv(&r), OHSM_OK);
    s.objects_digest = blob(31);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    s.objects_digest = blob(32);
    s.users_digest = blob(33);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    s.users_digest = blob(32);
    o.digest = blob(16);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    o.digest = blob(32);
    u.digest = blob(1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    u.digest = blob(32);
    u.username = longname;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    u.username = "alice";

    Ohsm__SyncObject **many = calloc(OHSM_WIRE_SYNC_MAX + 1, sizeof(*many));
    for (size_t i = 0; i <= OHSM_WIRE_SYNC_MAX; i++) {
        many[i] = &o;
    }
    o.digest = blob(0);
    s.objects = many;
    s.n_objects = OHSM_WIRE_SYNC_MAX;
    assert_int_equal(resp_rv(&r), OHSM_OK);
    s.n_objects = OHSM_WIRE_SYNC_MAX + 1;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    free(many);
}

/* ---- MFA and quorum messages (issue 5) ---- */

static char name31[OHSM_USERNAME_MAX + 1]; /* the longest username: valid */
static char name32[OHSM_USERNAME_MAX + 2]; /* one over */

/* A fully loaded approval: maximal data, the most signatures, each with the longest name and
 * signature. */
struct approval_fx {
    Ohsm__Approval a;
    Ohsm__ApprovalSig sig[OHSM_APPROVAL_SIGS_MAX + 1];
    Ohsm__ApprovalSig *ptrs[OHSM_APPROVAL_SIGS_MAX + 1];
};

static void approval_init(struct approval_fx *f)
{
    ohsm__approval__init(&f->a);
    for (size_t i = 0; i <= OHSM_APPROVAL_SIGS_MAX; i++) {
        ohsm__approval_sig__init(&f->sig[i]);
        f->sig[i].username = name31;
        f->sig[i].signature = blob(OHSM_TOKEN_SIG_MAX);
        f->ptrs[i] = &f->sig[i];
    }
    f->a.data = blob(OHSM_WIRE_APPROVAL_MAX);
    f->a.n_sigs = OHSM_APPROVAL_SIGS_MAX;
    f->a.sigs = f->ptrs;
}

/* With q carrying approval f (valid), each over-limit part of the approval is refused, and the
 * approval is valid again on return. */
static void approval_refusals(Ohsm__Request *q, struct approval_fx *f)
{
    assert_int_equal(req_rv(q), OHSM_OK);
    f->a.data = blob(OHSM_WIRE_APPROVAL_MAX + 1);
    assert_int_equal(req_rv(q), OHSM_PROTOCOL);
    f->a.data = blob(OHSM_WIRE_APPROVAL_MAX);
    f->a.n_sigs = OHSM_APPROVAL_SIGS_MAX + 1;
    assert_int_equal(req_rv(q), OHSM_PROTOCOL);
    f->a.n_sigs = OHSM_APPROVAL_SIGS_MAX;
    f->sig[5].username = name32;
    assert_int_equal(req_rv(q), OHSM_PROTOCOL);
    f->sig[5].username = name31;
    f->sig[OHSM_APPROVAL_SIGS_MAX - 1].signature = blob(OHSM_TOKEN_SIG_MAX + 1);
    assert_int_equal(req_rv(q), OHSM_PROTOCOL);
    f->sig[OHSM_APPROVAL_SIGS_MAX - 1].signature = blob(OHSM_TOKEN_SIG_MAX);
    assert_int_equal(req_rv(q), OHSM_OK);
}

/* Every MFA/quorum request with fields at their limits decodes, with or without approvals. */
static void test_wire_token_requests_valid(void **state)
{
    (void)state;
    struct approval_fx ap;
    Ohsm__MfaBeginReq mb = OHSM__MFA_BEGIN_REQ__INIT;
    Ohsm__MfaFinishReq mf = OHSM__MFA_FINISH_REQ__INIT;
    Ohsm__MfaRegBeginReq rb = OHSM__MFA_REG_BEGIN_REQ__INIT;
    Ohsm__MfaRegFinishReq rf = OHSM__MFA_REG_FINISH_REQ__INIT;
    Ohsm__QuorumGenReq qg = OHSM__QUORUM_GEN_REQ__INIT;
    Ohsm__QuorumListReq ql = OHSM__QUORUM_LIST_REQ__INIT;
    Ohsm__QuorumValuesReq qv = OHSM__QUORUM_VALUES_REQ__INIT;
    Ohsm__QuorumSetReq qs = OHSM__QUORUM_SET_REQ__INIT;
    Ohsm__QuorumDeleteReq qd = OHSM__QUORUM_DELETE_REQ__INIT;
    Ohsm__QuorumRegisterReq qr = OHSM__QUORUM_REGISTER_REQ__INIT;
    approval_init(&ap);
    mb.username = name31;
    mb.password = blob(OHSM_WIRE_SECRET_MAX);
    mf.signature = blob(OHSM_TOKEN_SIG_MAX);
    rb.username = name31;
    rf.username = name31;
    rf.password = blob(OHSM_WIRE_SECRET_MAX);
    rf.public_key = blob(OHSM_TOKEN_PUBKEY_MAX);
    rf.signature = blob(OHSM_TOKEN_SIG_MAX);
    rf.approval = &ap.a;
    qg.service = 99; /* the HSM checks services and values, with a clear error */
    qs.service = 0;
    qs.value = 1000;
    qs.approval = &ap.a;
    qd.all = true;
    qr.approval_data = blob(OHSM_WIRE_APPROVAL_MAX);
    qr.signature = blob(OHSM_TOKEN_SIG_MAX);
    qr.public_key = blob(OHSM_TOKEN_PUBKEY_MAX);
    struct {
        Ohsm__Request__OpCase op;
        void *body;
    } cases[] = {
        {OHSM__REQUEST__OP_MFA_BEGIN, &mb},     {OHSM__REQUEST__OP_MFA_FINISH, &mf},
        {OHSM__REQUEST__OP_MFA_REG_BEGIN, &rb}, {OHSM__REQUEST__OP_MFA_REG_FINISH, &rf},
        {OHSM__REQUEST__OP_QUORUM_GEN, &qg},    {OHSM__REQUEST__OP_QUORUM_LIST, &ql},
        {OHSM__REQUEST__OP_QUORUM_VALUES, &qv}, {OHSM__REQUEST__OP_QUORUM_SET, &qs},
        {OHSM__REQUEST__OP_QUORUM_DELETE, &qd}, {OHSM__REQUEST__OP_QUORUM_REGISTER, &qr},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Ohsm__Request q = req(cases[i].op, cases[i].body);
        assert_int_equal(req_rv(&q), OHSM_OK);
    }
    /* the same without approvals */
    rf.approval = NULL;
    qs.approval = NULL;
    mf.signature = blob(0); /* an empty signature abandons the login: the HSM's to judge */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        Ohsm__Request q = req(cases[i].op, cases[i].body);
        assert_int_equal(req_rv(&q), OHSM_OK);
    }
    /* by hand: fields 40 and 49, empty, are MfaBegin and QuorumRegister with default fields */
    const uint8_t f40[] = {0x08, 0x07, 0xc2, 0x02, 0x00};
    const uint8_t f49[] = {0x08, 0x07, 0x8a, 0x03, 0x00};
    Ohsm__Request *d = NULL;
    assert_int_equal(ohsm_wire_req_decode(f40, sizeof(f40), &d), OHSM_OK);
    assert_int_equal(d->op_case, OHSM__REQUEST__OP_MFA_BEGIN);
    assert_string_equal(d->mfa_begin->username, "");
    ohsm_wire_req_free(d);
    assert_int_equal(ohsm_wire_req_decode(f49, sizeof(f49), &d), OHSM_OK);
    assert_int_equal(d->op_case, OHSM__REQUEST__OP_QUORUM_REGISTER);
    assert_int_equal(d->quorum_register->public_key.len, 0);
    ohsm_wire_req_free(d);
}

/* Every bound of the MFA/quorum requests: one byte, name or signature over fails. */
static void test_wire_token_requests_oversize(void **state)
{
    (void)state;
    struct approval_fx ap;
    Ohsm__Request q;
    approval_init(&ap);

    Ohsm__MfaBeginReq mb = OHSM__MFA_BEGIN_REQ__INIT;
    q = req(OHSM__REQUEST__OP_MFA_BEGIN, &mb);
    mb.username = name32;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    mb.username = name31;
    mb.password = blob(OHSM_WIRE_SECRET_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    mb.password = blob(8);
    assert_int_equal(req_rv(&q), OHSM_OK);

    Ohsm__MfaFinishReq mf = OHSM__MFA_FINISH_REQ__INIT;
    q = req(OHSM__REQUEST__OP_MFA_FINISH, &mf);
    mf.signature = blob(OHSM_TOKEN_SIG_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__MfaRegBeginReq rb = OHSM__MFA_REG_BEGIN_REQ__INIT;
    q = req(OHSM__REQUEST__OP_MFA_REG_BEGIN, &rb);
    rb.username = name32;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);

    Ohsm__MfaRegFinishReq rf = OHSM__MFA_REG_FINISH_REQ__INIT;
    q = req(OHSM__REQUEST__OP_MFA_REG_FINISH, &rf);
    rf.username = name32;
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    rf.username = name31;
    rf.password = blob(OHSM_WIRE_SECRET_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    rf.password = blob(8);
    rf.public_key = blob(OHSM_TOKEN_PUBKEY_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    rf.public_key = blob(294);
    rf.signature = blob(OHSM_TOKEN_SIG_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    rf.signature = blob(256);
    rf.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__QuorumSetReq qs = OHSM__QUORUM_SET_REQ__INIT;
    q = req(OHSM__REQUEST__OP_QUORUM_SET, &qs);
    qs.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__QuorumRegisterReq qr = OHSM__QUORUM_REGISTER_REQ__INIT;
    q = req(OHSM__REQUEST__OP_QUORUM_REGISTER, &qr);
    qr.approval_data = blob(OHSM_WIRE_APPROVAL_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    qr.approval_data = blob(OHSM_APPROVAL_REC_LEN);
    qr.signature = blob(OHSM_TOKEN_SIG_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    qr.signature = blob(256);
    qr.public_key = blob(OHSM_TOKEN_PUBKEY_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    qr.public_key = blob(294);
    assert_int_equal(req_rv(&q), OHSM_OK);
}

/* The approval on create-user, delete-user and change-password: optional, bounded like any. */
static void test_wire_user_approvals(void **state)
{
    (void)state;
    struct approval_fx ap;
    Ohsm__Request q;
    approval_init(&ap);

    Ohsm__CreateUserReq cu = OHSM__CREATE_USER_REQ__INIT;
    q = req(OHSM__REQUEST__OP_CREATE_USER, &cu);
    cu.username = "alice";
    cu.password = blob(8);
    assert_int_equal(req_rv(&q), OHSM_OK);
    cu.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__DeleteUserReq du = OHSM__DELETE_USER_REQ__INIT;
    q = req(OHSM__REQUEST__OP_DELETE_USER, &du);
    du.username = "alice";
    assert_int_equal(req_rv(&q), OHSM_OK);
    du.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__ChangePasswordReq cp = OHSM__CHANGE_PASSWORD_REQ__INIT;
    q = req(OHSM__REQUEST__OP_CHANGE_PASSWORD, &cp);
    cp.username = "alice";
    cp.password = blob(8);
    assert_int_equal(req_rv(&q), OHSM_OK);
    cp.approval = &ap.a;
    approval_refusals(&q, &ap);
}

/* The key quorum's approvals: sign (CryptoReq), wrap (payload and wrapping, each on its own),
 * unwrap, set-attribute and share are optional and bounded like every approval; quorum delete's
 * approval_data holds one record per HSM at most. */
static void test_wire_key_approvals(void **state)
{
    (void)state;
    struct approval_fx ap;
    Ohsm__Mech m = OHSM__MECH__INIT;
    Ohsm__Request q;
    approval_init(&ap);

    Ohsm__CryptoReq c = OHSM__CRYPTO_REQ__INIT;
    q = req(OHSM__REQUEST__OP_CRYPTO, &c);
    c.op = OHSM__CRYPTO_OP__SIGN;
    c.mech = &m;
    c.data = blob(32);
    assert_int_equal(req_rv(&q), OHSM_OK);
    c.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__WrapReq w = OHSM__WRAP_REQ__INIT;
    q = req(OHSM__REQUEST__OP_WRAP, &w);
    w.mech = &m;
    assert_int_equal(req_rv(&q), OHSM_OK);
    w.payload_approval = &ap.a;
    approval_refusals(&q, &ap);
    w.payload_approval = NULL;
    w.wrapping_approval = &ap.a;
    approval_refusals(&q, &ap);
    w.payload_approval = &ap.a; /* both: each is checked */
    approval_refusals(&q, &ap);

    Ohsm__UnwrapReq u = OHSM__UNWRAP_REQ__INIT;
    q = req(OHSM__REQUEST__OP_UNWRAP, &u);
    u.mech = &m;
    u.wrapped = blob(40);
    assert_int_equal(req_rv(&q), OHSM_OK);
    u.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__KeySetAttrReq sa = OHSM__KEY_SET_ATTR_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_SET_ATTR, &sa);
    sa.template_ = blob(9);
    assert_int_equal(req_rv(&q), OHSM_OK);
    sa.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__KeyShareReq sh = OHSM__KEY_SHARE_REQ__INIT;
    q = req(OHSM__REQUEST__OP_KEY_SHARE, &sh);
    sh.username = "bob";
    assert_int_equal(req_rv(&q), OHSM_OK);
    sh.approval = &ap.a;
    approval_refusals(&q, &ap);

    Ohsm__QuorumDeleteReq qd = OHSM__QUORUM_DELETE_REQ__INIT;
    q = req(OHSM__REQUEST__OP_QUORUM_DELETE, &qd);
    qd.approval_data = blob(OHSM_WIRE_APPROVAL_MAX);
    assert_int_equal(req_rv(&q), OHSM_OK);
    qd.approval_data = blob(OHSM_WIRE_APPROVAL_MAX + 1);
    assert_int_equal(req_rv(&q), OHSM_PROTOCOL);
    qd.approval_data = blob(0);
    assert_int_equal(req_rv(&q), OHSM_OK);
}

/* A wrap keeps its two approvals apart through the codec, and a quorum delete its data. */
static void test_wire_key_approvals_roundtrip(void **state)
{
    (void)state;
    Ohsm__ApprovalSig sg = OHSM__APPROVAL_SIG__INIT;
    Ohsm__ApprovalSig *sgs[1] = {&sg};
    Ohsm__Approval pa = OHSM__APPROVAL__INIT, wa = OHSM__APPROVAL__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    Ohsm__WrapReq w = OHSM__WRAP_REQ__INIT;
    Ohsm__Request q = req(OHSM__REQUEST__OP_WRAP, &w);
    Ohsm__Request *d = NULL;
    uint8_t buf[512];
    sg.username = "cu2";
    sg.signature = (ProtobufCBinaryData){.len = 3, .data = (uint8_t *)"sig"};
    pa.data = (ProtobufCBinaryData){.len = 4, .data = (uint8_t *)"pay!"};
    pa.n_sigs = 1;
    pa.sigs = sgs;
    wa.data = (ProtobufCBinaryData){.len = 5, .data = (uint8_t *)"wrap!"};
    w.wrapping = 33;
    w.payload = 65;
    w.mech = &m;
    w.payload_approval = &pa;
    w.wrapping_approval = &wa;
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    assert_non_null(d->wrap->payload_approval);
    assert_non_null(d->wrap->wrapping_approval);
    assert_memory_equal(d->wrap->payload_approval->data.data, "pay!", 4);
    assert_int_equal(d->wrap->payload_approval->n_sigs, 1);
    assert_string_equal(d->wrap->payload_approval->sigs[0]->username, "cu2");
    assert_memory_equal(d->wrap->wrapping_approval->data.data, "wrap!", 5);
    assert_int_equal(d->wrap->wrapping_approval->n_sigs, 0);
    ohsm_wire_req_free(d);

    Ohsm__QuorumDeleteReq qd = OHSM__QUORUM_DELETE_REQ__INIT;
    q = req(OHSM__REQUEST__OP_QUORUM_DELETE, &qd);
    qd.approval_data = (ProtobufCBinaryData){.len = 6, .data = (uint8_t *)"record"};
    n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    assert_false(d->quorum_delete->all);
    assert_int_equal(d->quorum_delete->approval_data.len, 6);
    assert_memory_equal(d->quorum_delete->approval_data.data, "record", 6);
    ohsm_wire_req_free(d);
}

/* An MFA registration round-trips with its key, signature and approval intact. */
static void test_wire_mfa_reg_roundtrip(void **state)
{
    (void)state;
    Ohsm__ApprovalSig sg = OHSM__APPROVAL_SIG__INIT;
    Ohsm__ApprovalSig *sgs[1] = {&sg};
    Ohsm__Approval a = OHSM__APPROVAL__INIT;
    Ohsm__MfaRegFinishReq rf = OHSM__MFA_REG_FINISH_REQ__INIT;
    Ohsm__Request q = req(OHSM__REQUEST__OP_MFA_REG_FINISH, &rf);
    Ohsm__Request *d = NULL;
    uint8_t buf[512];
    sg.username = "approver1";
    sg.signature = (ProtobufCBinaryData){.len = 3, .data = (uint8_t *)"sig"};
    a.data = (ProtobufCBinaryData){.len = 4, .data = (uint8_t *)"recs"};
    a.n_sigs = 1;
    a.sigs = sgs;
    rf.user_type = 3;
    rf.username = "bob";
    rf.password = (ProtobufCBinaryData){.len = 9, .data = (uint8_t *)"password1"};
    rf.public_key = (ProtobufCBinaryData){.len = 3, .data = (uint8_t *)"key"};
    rf.signature = (ProtobufCBinaryData){.len = 2, .data = (uint8_t *)"sg"};
    rf.change_quorum = true;
    rf.approval = &a;
    size_t n = pack_req(&q, buf, sizeof(buf));
    assert_int_equal(ohsm_wire_req_decode(buf, n, &d), OHSM_OK);
    assert_string_equal(d->mfa_reg_finish->username, "bob");
    assert_memory_equal(d->mfa_reg_finish->password.data, "password1", 9);
    assert_memory_equal(d->mfa_reg_finish->public_key.data, "key", 3);
    assert_true(d->mfa_reg_finish->change_quorum);
    assert_false(d->mfa_reg_finish->deregister);
    assert_non_null(d->mfa_reg_finish->approval);
    assert_int_equal(d->mfa_reg_finish->approval->n_sigs, 1);
    assert_string_equal(d->mfa_reg_finish->approval->sigs[0]->username, "approver1");
    assert_memory_equal(d->mfa_reg_finish->approval->data.data, "recs", 4);
    ohsm_wire_req_free(d);
}

/* Token, quorum list and quorum values replies: bounded token, list and usernames. */
static void test_wire_token_responses(void **state)
{
    (void)state;
    Ohsm__TokenResp t = OHSM__TOKEN_RESP__INIT;
    Ohsm__Response r = resp(OHSM__RESPONSE__BODY_TOKEN, &t);
    t.token = blob(OHSM_WIRE_TOKEN_MAX);
    t.lifetime = 600;
    assert_int_equal(resp_rv(&r), OHSM_OK);
    t.token = blob(OHSM_WIRE_TOKEN_MAX + 1);
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    t.token = blob(OHSM_TOKEN_LEN);
    assert_int_equal(resp_rv(&r), OHSM_OK);

    Ohsm__QuorumToken qt = OHSM__QUORUM_TOKEN__INIT;
    Ohsm__QuorumToken **many = calloc(OHSM_WIRE_QTOKENS_MAX + 1, sizeof(*many));
    Ohsm__QuorumListResp ql = OHSM__QUORUM_LIST_RESP__INIT;
    assert_non_null(many);
    for (size_t i = 0; i <= OHSM_WIRE_QTOKENS_MAX; i++) {
        many[i] = &qt;
    }
    qt.username = name31;
    qt.service = 1;
    qt.approvals_required = 2;
    r = resp(OHSM__RESPONSE__BODY_QTOKENS, &ql);
    assert_int_equal(resp_rv(&r), OHSM_OK); /* empty list */
    ql.tokens = many;
    ql.n_tokens = OHSM_WIRE_QTOKENS_MAX;
    assert_int_equal(resp_rv(&r), OHSM_OK);
    ql.n_tokens = OHSM_WIRE_QTOKENS_MAX + 1;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    ql.n_tokens = 1;
    qt.username = name32;
    assert_int_equal(resp_rv(&r), OHSM_PROTOCOL);
    free(many);

    Ohsm__QuorumValuesResp qv = OHSM__QUORUM_VALUES_RESP__INIT;
    r = resp(OHSM__RESPONSE__BODY_QVALUES, &qv);
    qv.user = 2;
    qv.quorum = 1;
    qv.cluster = 8;
    assert_int_equal(resp_rv(&r), OHSM_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wire_garbage),
        cmocka_unit_test(test_wire_request_refusals),
        cmocka_unit_test(test_wire_login_roundtrip),
        cmocka_unit_test(test_wire_response_users),
        cmocka_unit_test(test_wire_key_requests_valid),
        cmocka_unit_test(test_wire_key_requests_oversize),
        cmocka_unit_test(test_wire_crypto_roundtrip),
        cmocka_unit_test(test_wire_key_responses),
        cmocka_unit_test(test_wire_sync_response),
        cmocka_unit_test(test_wire_token_requests_valid),
        cmocka_unit_test(test_wire_token_requests_oversize),
        cmocka_unit_test(test_wire_user_approvals),
        cmocka_unit_test(test_wire_mfa_reg_roundtrip),
        cmocka_unit_test(test_wire_token_responses),
        cmocka_unit_test(test_wire_key_approvals),
        cmocka_unit_test(test_wire_key_approvals_roundtrip),
    };
    memset(longname, 'n', sizeof(longname) - 1);
    memset(name31, 'a', sizeof(name31) - 1);
    memset(name32, 'b', sizeof(name32) - 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
