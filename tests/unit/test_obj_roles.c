/* SPDX-License-Identifier: Apache-2.0
 * Key role classes (issue 15; Tookan: Bortolozzo, Centenaro, Focardi, Steel, CCS 2010): the table
 * row, the record codec (old records' bytes unchanged, hostile records refused), creation with a
 * class (data: never wrap/unwrap; wrapping: never encrypt/decrypt), set-attribute against the
 * immutable class whatever the key's other flags are (the flip sequences), the class itself read
 * only, the use check, a sensitive key with a class wrapped only by a local or trusted
 * wrapping-class key, and what a key with a class unwraps keeping a class and sensitivity.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/obj.h"

/* ---- helpers ---- */

static struct ohsm_obj aes_key(void)
{
    struct ohsm_obj o;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    memcpy(o.owner, "alice", 6);
    memcpy(o.label, "k1", 3);
    o.handle = ohsm_handle_make(3, 42);
    o.owner_id = 7;
    o.value_len = 32;
    o.kcv[0] = 0x9b, o.kcv[1] = 0x94, o.kcv[2] = 0xbd;
    o.has_kcv = true;
    return o;
}

static const uint8_t T[] = {1}, F[] = {0};

static struct ohsm_tmpl_attr tattr(uint32_t id, const uint8_t *v, uint32_t len)
{
    struct ohsm_tmpl_attr a = {id, len, v};
    return a;
}

static void be32(uint8_t out[4], uint32_t v)
{
    out[0] = (uint8_t)(v >> 24);
    out[1] = (uint8_t)(v >> 16);
    out[2] = (uint8_t)(v >> 8);
    out[3] = (uint8_t)v;
}

/* A parsed creation template: the role class (when role >= 0) and the four role flags
 * (-1: not given, 0/1: false/true), in the order given by wrap_first. */
struct want {
    int role;
    int enc, dec, wrap, unwrap;
};

static ohsm_rv apply(struct ohsm_obj *o, struct want w, bool wrap_first)
{
    static struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    ohsm_tmpl_init(&b);
    if (wrap_first && w.wrap >= 0) {
        ohsm_tmpl_put_bool(&b, OHSM_A_WRAP, w.wrap != 0);
    }
    if (w.role >= 0) {
        ohsm_tmpl_put_u32(&b, OHSM_A_ROLE_CLASS, (uint32_t)w.role);
    }
    if (w.enc >= 0) {
        ohsm_tmpl_put_bool(&b, OHSM_A_ENCRYPT, w.enc != 0);
    }
    if (w.dec >= 0) {
        ohsm_tmpl_put_bool(&b, OHSM_A_DECRYPT, w.dec != 0);
    }
    if (!wrap_first && w.wrap >= 0) {
        ohsm_tmpl_put_bool(&b, OHSM_A_WRAP, w.wrap != 0);
    }
    if (w.unwrap >= 0) {
        ohsm_tmpl_put_bool(&b, OHSM_A_UNWRAP, w.unwrap != 0);
    }
    assert_false(b.overflow);
    ohsm_rv rv = ohsm_tmpl_parse(b.buf, b.len, &t);
    if (rv != OHSM_OK) {
        return rv;
    }
    return ohsm_obj_apply_template(o, &t);
}

/* A key of this role class as creation makes it, with the flags given. */
static struct ohsm_obj made(uint32_t role, int enc, int dec, int wrap, int unwrap)
{
    struct ohsm_obj o = aes_key();
    struct want w = {(int)role, enc, dec, wrap, unwrap};
    assert_int_equal(apply(&o, w, false), OHSM_OK);
    assert_int_equal(o.role_class, role);
    return o;
}

/* set_check then set_apply, as the HSM's set-attribute does. */
static ohsm_rv set(struct ohsm_obj *o, uint32_t id, bool v)
{
    struct ohsm_tmpl_attr a = tattr(id, v ? T : F, 1);
    ohsm_rv rv = ohsm_obj_set_check(o, &a, OHSM_UT_CU, true);
    return rv == OHSM_OK ? ohsm_obj_set_apply(o, &a) : rv;
}

static uint8_t g_enc[OHSM_OBJ_ENC_MAX];

static size_t enc(const struct ohsm_obj *o)
{
    size_t n = 0;
    assert_int_equal(ohsm_obj_encode(o, g_enc, sizeof(g_enc), &n), OHSM_OK);
    return n;
}

/* Appends one raw attribute to an encoding (to build records the codec never makes). */
static size_t append(uint8_t *p, size_t n, uint32_t id, const uint8_t *v, uint32_t len)
{
    be32(p + n, id);
    be32(p + n + 4, len);
    memcpy(p + n + 8, v, len);
    return n + 8 + len;
}

/* Sets the one-byte value of boolean attribute id inside an encoding. */
static void poke_bool(uint8_t *p, size_t n, uint32_t id, uint8_t v)
{
    for (size_t off = 0; off + 8 <= n;) {
        uint32_t i = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
                     (uint32_t)p[off + 2] << 8 | p[off + 3];
        uint32_t len = (uint32_t)p[off + 4] << 24 | (uint32_t)p[off + 5] << 16 |
                       (uint32_t)p[off + 6] << 8 | p[off + 7];
        if (i == id) {
            assert_int_equal(len, 1);
            p[off + 8] = v;
            return;
        }
        off += 8 + len;
    }
    fail_msg("attribute 0x%x not in the record", id);
}

/* ---- table ---- */

/* The row: a u32 given at creation only, no CLI or key_mgmt_util name, before ec-params. */
static void test_obj_roles_table(void **state)
{
    (void)state;
    const struct ohsm_attr_def *d = ohsm_attr_by_id(OHSM_A_ROLE_CLASS);
    assert_non_null(d);
    assert_int_equal(d->id, 0x8000000Bu);
    assert_null(d->cli);
    assert_null(d->kmu);
    assert_int_equal(d->kind, OHSM_AK_U32);
    assert_int_equal(d->flag, 0);
    assert_true(d->at_create);
    assert_false(d->settable);
    size_t n = 0;
    const struct ohsm_attr_def *t = ohsm_attr_table(&n);
    assert_int_equal(t[n - 1].id, OHSM_A_EC_PARAMS);
    static struct ohsm_tmpl_buf b;
    ohsm_tmpl_init(&b);
    /* No text name: the tools' "name=value" templates cannot give it. */
    assert_int_equal(ohsm_tmpl_put_text(&b, "role-class", "1"), OHSM_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(b.len, 0);
}

/* ---- records ---- */

/* Without a class a record's bytes are those of before issue 15; with one, 12 bytes follow
 * everything else (after the quorum values) and decode back; equal objects encode equally. */
static void test_obj_roles_record(void **state)
{
    (void)state;
    static uint8_t old[OHSM_OBJ_ENC_MAX], a[OHSM_OBJ_ENC_MAX];
    struct ohsm_obj o = aes_key(), d;
    assert_int_equal(ohsm_obj_share_user(&o, 9, "bob", true), OHSM_OK);
    o.quorum_manage = 2;
    size_t nold = enc(&o);
    memcpy(old, g_enc, nold);
    for (size_t off = 0; off < nold;) { /* no role-class attribute when the class is 0 */
        uint32_t id = (uint32_t)old[off] << 24 | (uint32_t)old[off + 1] << 16 |
                      (uint32_t)old[off + 2] << 8 | old[off + 3];
        uint32_t len = (uint32_t)old[off + 4] << 24 | (uint32_t)old[off + 5] << 16 |
                       (uint32_t)old[off + 6] << 8 | old[off + 7];
        assert_int_not_equal(id, OHSM_A_ROLE_CLASS);
        off += 8 + len;
    }
    memset(&d, 0xa5, sizeof(d));
    assert_int_equal(ohsm_obj_decode(old, nold, &d), OHSM_OK);
    assert_int_equal(d.role_class, 0);
    assert_int_equal(enc(&d), nold);
    assert_memory_equal(g_enc, old, nold);
    for (uint32_t role = OHSM_ROLE_DATA; role <= OHSM_ROLE_WRAPPING; role++) {
        o.role_class = role;
        size_t n = enc(&o);
        assert_int_equal(n, nold + 12);
        assert_memory_equal(g_enc, old, nold);
        uint8_t tail[12] = {0x80, 0, 0, 0x0b, 0, 0, 0, 4, 0, 0, 0, (uint8_t)role};
        assert_memory_equal(g_enc + nold, tail, 12);
        memcpy(a, g_enc, n);
        memset(&d, 0, sizeof(d));
        assert_int_equal(ohsm_obj_decode(a, n, &d), OHSM_OK);
        assert_int_equal(d.role_class, role);
        assert_int_equal(d.quorum_manage, 2);
        assert_int_equal(enc(&d), n);
        assert_memory_equal(g_enc, a, n);
    }
}

/* Hostile records: an explicit 0 (not canonical), an unknown class, a wrong length, a duplicate,
 * the wrong place, and flags outside the class are all refused. */
static void test_obj_roles_decode_rejects(void **state)
{
    (void)state;
    static uint8_t p[OHSM_OBJ_ENC_MAX];
    struct ohsm_obj o = aes_key(), d;
    uint8_t v[4];
    o.quorum_use = 2;
    size_t base = enc(&o);
    memcpy(p, g_enc, base);
    uint32_t bad[] = {0, 3, 0x80000001u, UINT32_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        be32(v, bad[i]);
        size_t n = append(p, base, OHSM_A_ROLE_CLASS, v, 4);
        assert_int_equal(ohsm_obj_decode(p, n, &d), OHSM_PROTOCOL);
    }
    be32(v, OHSM_ROLE_DATA);
    assert_int_equal(ohsm_obj_decode(p, append(p, base, OHSM_A_ROLE_CLASS, v, 4), &d), OHSM_OK);
    assert_int_equal(ohsm_obj_decode(p, append(p, base, OHSM_A_ROLE_CLASS, v + 1, 3), &d),
                     OHSM_PROTOCOL);
    size_t n = append(p, base, OHSM_A_ROLE_CLASS, v, 4);
    assert_int_equal(ohsm_obj_decode(p, append(p, n, OHSM_A_ROLE_CLASS, v, 4), &d),
                     OHSM_PROTOCOL);
    /* Before the quorum value instead of after it: not canonical. */
    o.quorum_use = 0;
    size_t nq = enc(&o);
    memcpy(p, g_enc, nq);
    n = append(p, nq, OHSM_A_ROLE_CLASS, v, 4);
    uint8_t two[4] = {0, 0, 0, 2};
    assert_int_equal(ohsm_obj_decode(p, append(p, n, OHSM_A_QUORUM_USE, two, 4), &d),
                     OHSM_PROTOCOL);
    /* Encrypt, decrypt, wrap or unwrap outside the class, each alone. */
    struct {
        uint32_t role, attr;
        bool ok;
    } flips[] = {
        {OHSM_ROLE_DATA, OHSM_A_ENCRYPT, true},      {OHSM_ROLE_DATA, OHSM_A_DECRYPT, true},
        {OHSM_ROLE_DATA, OHSM_A_WRAP, false},        {OHSM_ROLE_DATA, OHSM_A_UNWRAP, false},
        {OHSM_ROLE_WRAPPING, OHSM_A_ENCRYPT, false}, {OHSM_ROLE_WRAPPING, OHSM_A_DECRYPT, false},
        {OHSM_ROLE_WRAPPING, OHSM_A_WRAP, true},     {OHSM_ROLE_WRAPPING, OHSM_A_UNWRAP, true},
    };
    for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
        o = aes_key();
        o.role_class = flips[i].role;
        n = enc(&o);
        memcpy(p, g_enc, n);
        poke_bool(p, n, flips[i].attr, 1);
        memset(&d, 0, sizeof(d));
        assert_int_equal(ohsm_obj_decode(p, n, &d), flips[i].ok ? OHSM_OK : OHSM_PROTOCOL);
    }
}

/* ---- creation ---- */

/* Templates carry 0, 1 and 2; anything else is OHSM_ATTRIBUTE_VALUE_INVALID at parsing and at
 * application (a caller's own template). */
static void test_obj_roles_template_values(void **state)
{
    (void)state;
    static struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    uint8_t v[4];
    for (uint32_t role = 0; role <= 4; role++) {
        ohsm_tmpl_init(&b);
        ohsm_tmpl_put_u32(&b, OHSM_A_ROLE_CLASS, role);
        assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t),
                         role <= OHSM_ROLE_WRAPPING ? OHSM_OK : OHSM_ATTRIBUTE_VALUE_INVALID);
    }
    struct ohsm_obj o = aes_key(), before = o;
    be32(v, 3);
    t.n = 1;
    t.a[0] = tattr(OHSM_A_ROLE_CLASS, v, 4);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_ATTRIBUTE_VALUE_INVALID);
    assert_memory_equal(&o, &before, sizeof(o));
    be32(v, 0);
    assert_int_equal(ohsm_obj_apply_template(&o, &t), OHSM_OK);
    assert_int_equal(o.role_class, 0);
}

/* Data keys: encrypt/decrypt yes, wrap or unwrap true refused; wrapping keys the reverse; no
 * class: all four (as key_mgmt_util's genSymKey makes them). Refusals change nothing, and the
 * template's order does not matter. */
static void test_obj_roles_create(void **state)
{
    (void)state;
    struct ohsm_obj o = aes_key(), before = o;
    struct want cases[] = {
        {OHSM_ROLE_DATA, 1, 1, -1, -1},    {OHSM_ROLE_DATA, 1, 1, 0, 0},
        {OHSM_ROLE_DATA, 1, 1, 1, -1},     {OHSM_ROLE_DATA, 1, 1, -1, 1},
        {OHSM_ROLE_DATA, -1, -1, 1, 0},    {OHSM_ROLE_WRAPPING, -1, -1, 1, 1},
        {OHSM_ROLE_WRAPPING, 0, 0, 1, 1},  {OHSM_ROLE_WRAPPING, 1, -1, 1, 1},
        {OHSM_ROLE_WRAPPING, -1, 1, 1, 1}, {OHSM_ROLE_WRAPPING, 1, 0, -1, -1},
        {OHSM_ROLE_NONE, 1, 1, 1, 1},      {-1, 1, 1, 1, 1},
    };
    bool ok[] = {true, true, false, false, false, true, true, false, false, false, true, true};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int order = 0; order < 2; order++) {
            o = before;
            ohsm_rv rv = apply(&o, cases[i], order == 1);
            if (!ok[i]) {
                assert_int_equal(rv, OHSM_TEMPLATE_INCONSISTENT);
                assert_memory_equal(&o, &before, sizeof(o));
                continue;
            }
            assert_int_equal(rv, OHSM_OK);
            assert_int_equal(o.role_class, cases[i].role < 0 ? 0 : (uint32_t)cases[i].role);
            assert_int_equal((o.flags & OHSM_F_ENCRYPT) != 0, cases[i].enc == 1);
            assert_int_equal((o.flags & OHSM_F_WRAP) != 0, cases[i].wrap == 1);
        }
    }
    /* A class is given once: a template cannot change the one a record has. */
    o = made(OHSM_ROLE_DATA, 1, 1, -1, -1);
    before = o;
    struct want other = {OHSM_ROLE_WRAPPING, -1, -1, -1, -1};
    assert_int_equal(apply(&o, other, false), OHSM_TEMPLATE_INCONSISTENT);
    assert_memory_equal(&o, &before, sizeof(o));
    struct want same = {OHSM_ROLE_DATA, -1, -1, -1, -1};
    assert_int_equal(apply(&o, same, false), OHSM_OK);
    assert_int_equal(o.role_class, OHSM_ROLE_DATA);
}

/* A key pair gets each half's template separately, the same class in both: with class 2 the
 * private half cannot decrypt, with class 1 the public half cannot wrap. */
static void test_obj_roles_pair(void **state)
{
    (void)state;
    struct ohsm_obj priv, pub;
    struct want wrap_pub = {OHSM_ROLE_WRAPPING, 0, -1, 1, -1};
    struct want unwrap_priv = {OHSM_ROLE_WRAPPING, -1, 0, -1, 1};
    struct want decrypt_priv = {OHSM_ROLE_WRAPPING, -1, 1, -1, 1};
    struct want data_pub = {OHSM_ROLE_DATA, 1, -1, 1, -1};
    struct want data_priv = {OHSM_ROLE_DATA, -1, 1, -1, -1};
    ohsm_obj_defaults(&pub, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, true);
    ohsm_obj_defaults(&priv, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, true);
    assert_int_equal(apply(&pub, wrap_pub, false), OHSM_OK);
    assert_int_equal(apply(&priv, unwrap_priv, false), OHSM_OK);
    assert_int_equal(ohsm_obj_check_use(&pub, OHSM_USE_WRAP), OHSM_OK);
    assert_int_equal(ohsm_obj_check_use(&priv, OHSM_USE_UNWRAP), OHSM_OK);
    assert_int_equal(ohsm_obj_check_use(&priv, OHSM_USE_DECRYPT), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(set(&priv, OHSM_A_DECRYPT, true), OHSM_TEMPLATE_INCONSISTENT);
    ohsm_obj_defaults(&priv, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, true);
    assert_int_equal(apply(&priv, decrypt_priv, false), OHSM_TEMPLATE_INCONSISTENT);
    ohsm_obj_defaults(&pub, OHSM_CLASS_PUBLIC, OHSM_KT_RSA, true);
    assert_int_equal(apply(&pub, data_pub, false), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(apply(&priv, data_priv, false), OHSM_OK);
    assert_int_equal(ohsm_obj_check_use(&priv, OHSM_USE_DECRYPT), OHSM_OK);
    assert_int_equal(set(&priv, OHSM_A_UNWRAP, true), OHSM_TEMPLATE_INCONSISTENT);
}

/* ---- set-attribute ---- */

/* A data key never gets wrap or unwrap, even after decrypt (or both) is turned off (Tookan's
 * attacks through one change after the other); a wrapping key never gets encrypt or decrypt even
 * after wrap and unwrap are off. Turning roles off, and back on within the class, is fine. */
static void test_obj_roles_set_flips(void **state)
{
    (void)state;
    struct ohsm_obj o = made(OHSM_ROLE_DATA, 1, 1, -1, -1);
    assert_int_equal(set(&o, OHSM_A_WRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_UNWRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_DECRYPT, false), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_WRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_ENCRYPT, false), OHSM_OK);
    struct ohsm_obj before = o;
    assert_int_equal(set(&o, OHSM_A_WRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_UNWRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_memory_equal(&o, &before, sizeof(o));
    assert_int_equal(set(&o, OHSM_A_WRAP, false), OHSM_OK); /* off is always fine */
    assert_int_equal(set(&o, OHSM_A_DECRYPT, true), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_ENCRYPT, true), OHSM_OK);
    assert_true((o.flags & (OHSM_F_ENCRYPT | OHSM_F_DECRYPT)) ==
                (OHSM_F_ENCRYPT | OHSM_F_DECRYPT));
    assert_int_equal(o.flags & (OHSM_F_WRAP | OHSM_F_UNWRAP), 0);

    o = made(OHSM_ROLE_WRAPPING, -1, -1, 1, 1);
    assert_int_equal(set(&o, OHSM_A_DECRYPT, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_ENCRYPT, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_WRAP, false), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_UNWRAP, false), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_DECRYPT, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_ENCRYPT, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&o, OHSM_A_ENCRYPT, false), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_UNWRAP, true), OHSM_OK);
    assert_int_equal(o.flags & (OHSM_F_ENCRYPT | OHSM_F_DECRYPT), 0);

    /* No class: every role may be turned on, as the CLI does today. */
    o = made(OHSM_ROLE_NONE, 0, 0, 0, 0);
    assert_int_equal(set(&o, OHSM_A_ENCRYPT, true), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_DECRYPT, true), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_WRAP, true), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_UNWRAP, true), OHSM_OK);
}

/* Two HSMs whose copies of one data key differ (each got a different set-attribute): on both,
 * wrap stays refused, because only the creation record's class decides. */
static void test_obj_roles_set_diverged(void **state)
{
    (void)state;
    struct ohsm_obj a = made(OHSM_ROLE_DATA, 1, 1, 0, 0), b = a;
    assert_int_equal(set(&a, OHSM_A_DECRYPT, false), OHSM_OK);
    assert_int_equal(set(&b, OHSM_A_ENCRYPT, false), OHSM_OK);
    assert_int_equal(set(&a, OHSM_A_WRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&b, OHSM_A_WRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&a, OHSM_A_UNWRAP, true), OHSM_TEMPLATE_INCONSISTENT);
    assert_int_equal(set(&b, OHSM_A_UNWRAP, true), OHSM_TEMPLATE_INCONSISTENT);
}

/* The class itself is read only, to set_check and set_apply alike, whatever the value; and
 * set_apply alone (no check first) still refuses a role outside the class, changing nothing. */
static void test_obj_roles_set_class(void **state)
{
    (void)state;
    uint8_t v[4];
    struct ohsm_obj o = made(OHSM_ROLE_DATA, 1, 1, -1, -1), before = o;
    for (uint32_t role = 0; role <= OHSM_ROLE_WRAPPING; role++) {
        be32(v, role);
        struct ohsm_tmpl_attr a = tattr(OHSM_A_ROLE_CLASS, v, 4);
        assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CU, true), OHSM_ATTRIBUTE_READ_ONLY);
        assert_int_equal(ohsm_obj_set_check(&o, &a, OHSM_UT_CO, false), OHSM_ATTRIBUTE_READ_ONLY);
        assert_int_equal(ohsm_obj_set_apply(&o, &a), OHSM_ATTRIBUTE_READ_ONLY);
    }
    struct ohsm_tmpl_attr w = tattr(OHSM_A_WRAP, T, 1);
    assert_int_equal(ohsm_obj_set_apply(&o, &w), OHSM_TEMPLATE_INCONSISTENT);
    assert_memory_equal(&o, &before, sizeof(o));
    /* A key made unmodifiable answers read-only first, as for any attribute. */
    assert_int_equal(set(&o, OHSM_A_MODIFIABLE, false), OHSM_OK);
    assert_int_equal(set(&o, OHSM_A_WRAP, true), OHSM_ATTRIBUTE_READ_ONLY);
}

/* ---- use and reading ---- */

/* Uses follow the flags within the class; a record forged in memory with a flag outside its
 * class is still refused that use. The class reads back and matches. */
static void test_obj_roles_use_and_get(void **state)
{
    (void)state;
    static struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    uint8_t v[4];
    size_t n = 0;
    struct ohsm_obj o = made(OHSM_ROLE_DATA, 1, 1, -1, -1);
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_ENCRYPT), OHSM_OK);
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_DECRYPT), OHSM_OK);
    o.flags |= OHSM_F_WRAP | OHSM_F_UNWRAP; /* never made so: forged */
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_WRAP), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_UNWRAP), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    struct ohsm_obj p = aes_key();
    assert_int_equal(ohsm_obj_check_wrap(&p, &o), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    size_t nenc = 0;
    assert_int_equal(ohsm_obj_encode(&o, g_enc, sizeof(g_enc), &nenc), OHSM_OK);
    assert_int_equal(ohsm_obj_decode(g_enc, nenc, &p), OHSM_PROTOCOL);

    o = made(OHSM_ROLE_WRAPPING, -1, -1, 1, 1);
    o.flags |= OHSM_F_ENCRYPT | OHSM_F_DECRYPT;
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_DECRYPT), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_ENCRYPT), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(ohsm_obj_check_use(&o, OHSM_USE_WRAP), OHSM_OK);
    assert_int_equal(ohsm_obj_attr_get(&o, OHSM_A_ROLE_CLASS, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(n, 4);
    assert_int_equal(v[3], OHSM_ROLE_WRAPPING);
    ohsm_tmpl_init(&b);
    ohsm_tmpl_put_u32(&b, OHSM_A_ROLE_CLASS, OHSM_ROLE_WRAPPING);
    assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
    assert_true(ohsm_obj_match(&o, &t));
    struct ohsm_obj none = aes_key();
    assert_false(ohsm_obj_match(&none, &t));
    assert_int_equal(ohsm_obj_attr_get(&none, OHSM_A_ROLE_CLASS, v, sizeof(v), &n), OHSM_OK);
    assert_int_equal(v[3], 0);
}

/* A sensitive key with a class leaves only under a wrapping-class key: not under a key without a
 * class (which may decrypt too, as key_mgmt_util makes them), nor a data key. Keys without a
 * class, and non-sensitive ones, are wrapped as before. */
static void test_obj_roles_wrap_payload(void **state)
{
    (void)state;
    struct ohsm_obj none = made(OHSM_ROLE_NONE, 1, 1, 1, 1);
    struct ohsm_obj wrapping = made(OHSM_ROLE_WRAPPING, -1, -1, 1, 1);
    struct ohsm_obj data = made(OHSM_ROLE_DATA, 1, 1, -1, -1);
    struct ohsm_obj data2 = made(OHSM_ROLE_DATA, 1, 1, -1, -1);
    assert_true(data.flags & OHSM_F_SENSITIVE);
    assert_int_equal(ohsm_obj_check_wrap(&data, &none), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(ohsm_obj_check_wrap(&data, &wrapping), OHSM_OK);
    assert_int_equal(ohsm_obj_check_wrap(&wrapping, &wrapping), OHSM_OK);
    assert_int_equal(ohsm_obj_check_wrap(&wrapping, &none), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    data2.flags |= OHSM_F_WRAP; /* forged: a data key never wraps */
    assert_int_equal(ohsm_obj_check_wrap(&data, &data2), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    /* Without a class: as before, whoever wraps. */
    struct ohsm_obj plain = aes_key();
    assert_int_equal(ohsm_obj_check_wrap(&plain, &none), OHSM_OK);
    assert_int_equal(ohsm_obj_check_wrap(&plain, &wrapping), OHSM_OK);
    /* A wrapping key not generated here (imported, unwrapped: a value maybe known outside) only
     * once an admin trusts it. */
    assert_true(wrapping.flags & OHSM_F_LOCAL);
    wrapping.flags &= ~(uint32_t)OHSM_F_LOCAL;
    assert_int_equal(ohsm_obj_check_wrap(&data, &wrapping), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(ohsm_obj_check_wrap(&plain, &wrapping), OHSM_OK); /* no class: as before */
    wrapping.flags |= OHSM_F_TRUSTED;
    assert_int_equal(ohsm_obj_check_wrap(&data, &wrapping), OHSM_OK);
    none.flags |= OHSM_F_TRUSTED; /* trusted, but may decrypt */
    assert_int_equal(ohsm_obj_check_wrap(&data, &none), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    /* Not sensitive: its value is not protected by the HSM anyway. */
    data.flags &= ~(uint32_t)OHSM_F_SENSITIVE;
    assert_int_equal(ohsm_obj_check_wrap(&data, &none), OHSM_OK);
}

/* What a key with a class unwraps gets a class and stays sensitive (no laundering into a key of
 * no class, or a readable one); keys without a class unwrap anything as before. */
static void test_obj_roles_unwrap(void **state)
{
    (void)state;
    static struct ohsm_tmpl_buf b;
    struct ohsm_tmpl t;
    struct ohsm_obj w = made(OHSM_ROLE_WRAPPING, -1, -1, 1, 1);
    struct ohsm_obj none = made(OHSM_ROLE_NONE, 1, 1, 1, 1);
    struct {
        int role, sensitive;
        ohsm_rv rv;
    } cases[] = {
        {-1, -1, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_ROLE_NONE, -1, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_ROLE_DATA, 0, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_ROLE_WRAPPING, 0, OHSM_TEMPLATE_INCONSISTENT},
        {-1, 1, OHSM_TEMPLATE_INCONSISTENT},
        {OHSM_ROLE_DATA, -1, OHSM_OK},
        {OHSM_ROLE_DATA, 1, OHSM_OK},
        {OHSM_ROLE_WRAPPING, -1, OHSM_OK},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ohsm_tmpl_init(&b);
        ohsm_tmpl_put_bytes(&b, OHSM_A_LABEL, "u", 1);
        if (cases[i].sensitive >= 0) {
            ohsm_tmpl_put_bool(&b, OHSM_A_SENSITIVE, cases[i].sensitive != 0);
        }
        if (cases[i].role >= 0) {
            ohsm_tmpl_put_u32(&b, OHSM_A_ROLE_CLASS, (uint32_t)cases[i].role);
        }
        assert_int_equal(ohsm_tmpl_parse(b.buf, b.len, &t), OHSM_OK);
        assert_int_equal(ohsm_obj_check_unwrap(&w, &t), cases[i].rv);
        assert_int_equal(ohsm_obj_check_unwrap(&none, &t), OHSM_OK);
    }
    assert_int_equal(ohsm_obj_check_unwrap(NULL, &t), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_obj_check_unwrap(&w, NULL), OHSM_ARGUMENTS_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_obj_roles_table),
        cmocka_unit_test(test_obj_roles_record),
        cmocka_unit_test(test_obj_roles_decode_rejects),
        cmocka_unit_test(test_obj_roles_template_values),
        cmocka_unit_test(test_obj_roles_create),
        cmocka_unit_test(test_obj_roles_pair),
        cmocka_unit_test(test_obj_roles_set_flips),
        cmocka_unit_test(test_obj_roles_set_diverged),
        cmocka_unit_test(test_obj_roles_set_class),
        cmocka_unit_test(test_obj_roles_use_and_get),
        cmocka_unit_test(test_obj_roles_wrap_payload),
        cmocka_unit_test(test_obj_roles_unwrap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
