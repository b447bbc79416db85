/* SPDX-License-Identifier: Apache-2.0
 * Masked objects: seal/open round trips per kind, fresh nonces, and that any flipped byte,
 * truncation, extension, wrong key or wrong kind fails with OHSM_MASKED_OBJECT_INVALID and returns
 * nothing; key-object sealing (issue 5's key quorum values travel in it, and objects sealed
 * before them open with 0); the sync digest is equal iff its inputs are. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/mask.h"

static const uint8_t mk1[OHSM_MASKING_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
static const uint8_t mk2[OHSM_MASKING_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12};
static const uint8_t material[32] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
static const uint8_t tomb[16] = {0, 0, 0, 0, 0, 0, 1, 0x23, 0, 0, 0, 0, 0, 0, 0, 5};

static struct ohsm_mask_key *key(const uint8_t *mk)
{
    struct ohsm_mask_key *k = NULL;
    assert_int_equal(ohsm_mask_key_new(mk, &k), OHSM_OK);
    assert_non_null(k);
    return k;
}

static struct ohsm_obj aes_obj(void)
{
    struct ohsm_obj o;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    memcpy(o.owner, "alice", 6);
    memcpy(o.label, "masked", 7);
    o.handle = ohsm_handle_make(1, 9);
    o.value_len = 32;
    return o;
}

/* Opening must fail with the one code and leave every output empty. */
static void assert_invalid(const struct ohsm_mask_key *k, enum ohsm_mask_kind kind,
                           const uint8_t *in, size_t len)
{
    const uint8_t *rec = (const uint8_t *)"x";
    size_t rec_len = 99;
    struct ohsm_secret *s = (struct ohsm_secret *)(uintptr_t)1;
    assert_int_equal(ohsm_mask_open(k, kind, in, len, &rec, &rec_len, &s),
                     OHSM_MASKED_OBJECT_INVALID);
    assert_null(rec);
    assert_int_equal(rec_len, 0);
    assert_null(s);
}

/* The fingerprint depends on the masking key only; free(NULL) is fine. */
static void test_mask_fingerprint(void **state)
{
    (void)state;
    struct ohsm_mask_key *a = key(mk1), *b = key(mk1), *c = key(mk2);
    uint8_t fa[8], fb[8], fc[8];
    ohsm_mask_key_fingerprint(a, fa);
    ohsm_mask_key_fingerprint(b, fb);
    ohsm_mask_key_fingerprint(c, fc);
    assert_memory_equal(fa, fb, 8);
    assert_memory_not_equal(fa, fc, 8);
    assert_memory_not_equal(fa, mk1, 8); /* not the key itself */
    ohsm_mask_key_free(a);
    ohsm_mask_key_free(b);
    ohsm_mask_key_free(c);
    ohsm_mask_key_free(NULL);
    assert_int_equal(ohsm_mask_key_new(NULL, &a), OHSM_ARGUMENTS_BAD);
}

/* Every kind round-trips: the record comes back borrowed from the input, the secret as a copy. */
static void test_mask_roundtrip(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    struct {
        enum ohsm_mask_kind kind;
        const uint8_t *rec;
        size_t rec_len;
        const uint8_t *sec;
        size_t sec_len;
    } c[] = {
        {OHSM_MASK_KEY, (const uint8_t *)"record", 6, material, sizeof(material)},
        {OHSM_MASK_USER, (const uint8_t *)"user rec", 8, (const uint8_t *)"pwhash", 6},
        {OHSM_MASK_TOMBSTONE, tomb, sizeof(tomb), NULL, 0},
        {OHSM_MASK_KEY, NULL, 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        uint8_t *m = NULL;
        size_t n = 0;
        const uint8_t *rec = NULL;
        size_t rec_len = 0;
        struct ohsm_secret *s = NULL;
        assert_int_equal(
            ohsm_mask_seal(k, c[i].kind, c[i].rec, c[i].rec_len, c[i].sec, c[i].sec_len, &m, &n),
            OHSM_OK);
        assert_int_equal(n, 4 + 1 + 1 + 4 + c[i].rec_len + 12 + 4 + c[i].sec_len + 16);
        assert_memory_equal(m, "OHMO\1", 5);
        assert_int_equal(ohsm_mask_open(k, c[i].kind, m, n, &rec, &rec_len, &s), OHSM_OK);
        assert_int_equal(rec_len, c[i].rec_len);
        assert_true(rec >= m && rec <= m + n);
        if (rec_len > 0) {
            assert_memory_equal(rec, c[i].rec, rec_len);
        }
        assert_int_equal(ohsm_secret_len(s), c[i].sec_len);
        if (c[i].sec_len > 0) {
            assert_memory_equal(ohsm_secret_data(s), c[i].sec, c[i].sec_len);
        }
        ohsm_secret_free(s);
        free(m);
    }
    ohsm_mask_key_free(k);
}

/* Two seals of the same input differ (fresh nonce); the material is not in the sealed bytes. */
static void test_mask_fresh_nonce(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, (const uint8_t *)"r", 1, material,
                                    sizeof(material), &a, &na),
                     OHSM_OK);
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, (const uint8_t *)"r", 1, material,
                                    sizeof(material), &b, &nb),
                     OHSM_OK);
    assert_int_equal(na, nb);
    assert_memory_not_equal(a, b, na);
    assert_null(memmem(a, na, material, 4));
    free(a);
    free(b);
    ohsm_mask_key_free(k);
}

/* Flipping any single bit of any byte makes the object invalid. */
static void test_mask_flipped_byte(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    uint8_t *m = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, (const uint8_t *)"rec", 3, material,
                                    sizeof(material), &m, &n),
                     OHSM_OK);
    for (size_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit++) {
            m[i] ^= (uint8_t)(1u << bit);
            assert_invalid(k, OHSM_MASK_KEY, m, n);
            m[i] ^= (uint8_t)(1u << bit);
        }
    }
    free(m);
    ohsm_mask_key_free(k);
}

/* Every truncation and any appended byte is invalid; so are NULL and oversized input. */
static void test_mask_truncated(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    uint8_t *m = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_USER, (const uint8_t *)"rec", 3, material,
                                    sizeof(material), &m, &n),
                     OHSM_OK);
    for (size_t cut = 0; cut < n; cut++) {
        assert_invalid(k, OHSM_MASK_USER, m, cut);
    }
    uint8_t *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, m, n);
    longer[n] = 0;
    assert_invalid(k, OHSM_MASK_USER, longer, n + 1);
    assert_invalid(k, OHSM_MASK_USER, NULL, 0);
    assert_invalid(k, OHSM_MASK_USER, m, OHSM_MASK_MAX + 1);
    free(longer);
    free(m);
    ohsm_mask_key_free(k);
}

/* Another cluster's masking key, or the wrong kind, cannot open it. */
static void test_mask_wrong_key_kind(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1), *other = key(mk2);
    uint8_t *m = NULL, *t = NULL;
    size_t n = 0, tn = 0;
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, (const uint8_t *)"rec", 3, material,
                                    sizeof(material), &m, &n),
                     OHSM_OK);
    assert_invalid(other, OHSM_MASK_KEY, m, n);
    assert_invalid(k, OHSM_MASK_USER, m, n);
    assert_invalid(k, OHSM_MASK_TOMBSTONE, m, n);
    assert_invalid(k, (enum ohsm_mask_kind)9, m, n);
    /* relabelling the kind byte does not help: it is authenticated */
    m[5] = OHSM_MASK_USER;
    assert_invalid(k, OHSM_MASK_USER, m, n);
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_TOMBSTONE, tomb, sizeof(tomb), NULL, 0, &t, &tn),
                     OHSM_OK);
    assert_invalid(other, OHSM_MASK_TOMBSTONE, t, tn);
    assert_invalid(k, OHSM_MASK_KEY, t, tn);
    free(t);
    free(m);
    ohsm_mask_key_free(k);
    ohsm_mask_key_free(other);
}

/* Bad seal arguments: unknown kind, tombstones with a secret or of the wrong size, too big. */
static void test_mask_seal_rejects(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    uint8_t *m = NULL;
    size_t n = 0;
    static uint8_t big[OHSM_MASK_MAX];
    assert_int_equal(ohsm_mask_seal(k, (enum ohsm_mask_kind)0, NULL, 0, NULL, 0, &m, &n),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_TOMBSTONE, tomb, 15, NULL, 0, &m, &n),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_TOMBSTONE, tomb, 16, material, 1, &m, &n),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, NULL, 3, NULL, 0, &m, &n),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, big, sizeof(big), NULL, 0, &m, &n),
                     OHSM_DATA_LEN_RANGE);
    assert_null(m);
    ohsm_mask_key_free(k);
}

/* Key objects: the record decodes back to the same object with the same material. */
static void test_mask_obj_roundtrip(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    struct ohsm_obj o = aes_obj(), d;
    struct ohsm_secret *s = NULL;
    uint8_t *m = NULL;
    size_t n = 0;
    uint8_t e1[OHSM_OBJ_ENC_MAX], e2[OHSM_OBJ_ENC_MAX];
    size_t n1 = 0, n2 = 0;
    assert_int_equal(ohsm_obj_share(&o, "bob", true), OHSM_OK);
    assert_int_equal(ohsm_mask_seal_obj(k, &o, material, sizeof(material), &m, &n), OHSM_OK);
    assert_int_equal(ohsm_mask_open_obj(k, m, n, &d, &s), OHSM_OK);
    assert_int_equal(ohsm_obj_encode(&o, e1, sizeof(e1), &n1), OHSM_OK);
    assert_int_equal(ohsm_obj_encode(&d, e2, sizeof(e2), &n2), OHSM_OK);
    assert_int_equal(n1, n2);
    assert_memory_equal(e1, e2, n1);
    assert_int_equal(ohsm_secret_len(s), sizeof(material));
    assert_memory_equal(ohsm_secret_data(s), material, sizeof(material));
    ohsm_secret_free(s);
    /* a tampered copy yields no material */
    m[20] ^= 1;
    s = (struct ohsm_secret *)(uintptr_t)1;
    assert_int_equal(ohsm_mask_open_obj(k, m, n, &d, &s), OHSM_MASKED_OBJECT_INVALID);
    assert_null(s);
    free(m);
    ohsm_mask_key_free(k);
}

/* An authentic KEY object whose record does not decode is still invalid (and returns nothing). */
static void test_mask_obj_bad_record(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    struct ohsm_obj d;
    struct ohsm_secret *s = NULL;
    uint8_t *m = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_mask_seal(k, OHSM_MASK_KEY, (const uint8_t *)"not a record", 12, material,
                                    sizeof(material), &m, &n),
                     OHSM_OK);
    assert_int_equal(ohsm_mask_open_obj(k, m, n, &d, &s), OHSM_MASKED_OBJECT_INVALID);
    assert_null(s);
    free(m);
    ohsm_mask_key_free(k);
}

/* Key quorum values travel in masked objects (how they replicate) and count in the digest; an
 * object sealed before issue 5 (its record has no quorum attributes) opens with 0 and the same
 * digest. */
static void test_mask_obj_quorum(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1);
    struct ohsm_obj o = aes_obj(), d;
    struct ohsm_secret *s = NULL;
    uint8_t *m = NULL;
    size_t n = 0;
    uint8_t rec[OHSM_OBJ_ENC_MAX];
    size_t rec_len = 0;
    uint8_t d0[32], d1[32];

    /* an issue-4 record is today's encoding of a key without quorum values */
    assert_int_equal(ohsm_obj_encode(&o, rec, sizeof(rec), &rec_len), OHSM_OK);
    for (size_t off = 0; off < rec_len;) {
        uint32_t id = (uint32_t)rec[off] << 24 | (uint32_t)rec[off + 1] << 16 |
                      (uint32_t)rec[off + 2] << 8 | rec[off + 3];
        uint32_t len = (uint32_t)rec[off + 4] << 24 | (uint32_t)rec[off + 5] << 16 |
                       (uint32_t)rec[off + 6] << 8 | rec[off + 7];
        assert_true(id != OHSM_A_QUORUM_MANAGE && id != OHSM_A_QUORUM_USE);
        off += 8 + len;
    }
    assert_int_equal(
        ohsm_mask_seal(k, OHSM_MASK_KEY, rec, rec_len, material, sizeof(material), &m, &n),
        OHSM_OK);
    memset(&d, 0xa5, sizeof(d));
    assert_int_equal(ohsm_mask_open_obj(k, m, n, &d, &s), OHSM_OK);
    assert_int_equal(d.quorum_manage, 0);
    assert_int_equal(d.quorum_use, 0);
    ohsm_secret_free(s);
    free(m);
    assert_int_equal(ohsm_mask_digest(k, rec, rec_len, material, sizeof(material), d0), OHSM_OK);

    o.quorum_manage = 2;
    o.quorum_use = 3;
    assert_int_equal(ohsm_obj_share(&o, "bob", true), OHSM_OK);
    assert_int_equal(ohsm_obj_share(&o, "carol", true), OHSM_OK);
    assert_int_equal(ohsm_mask_seal_obj(k, &o, material, sizeof(material), &m, &n), OHSM_OK);
    assert_int_equal(ohsm_mask_open_obj(k, m, n, &d, &s), OHSM_OK);
    assert_int_equal(d.quorum_manage, 2);
    assert_int_equal(d.quorum_use, 3);
    ohsm_secret_free(s);
    free(m);
    /* the digest covers them: equal objects but for one value differ */
    struct ohsm_obj x = aes_obj(), y = aes_obj();
    y.quorum_use = 1;
    assert_int_equal(ohsm_obj_encode(&x, rec, sizeof(rec), &rec_len), OHSM_OK);
    assert_int_equal(ohsm_mask_digest(k, rec, rec_len, material, sizeof(material), d1), OHSM_OK);
    assert_memory_equal(d0, d1, 32);
    assert_int_equal(ohsm_obj_encode(&y, rec, sizeof(rec), &rec_len), OHSM_OK);
    assert_int_equal(ohsm_mask_digest(k, rec, rec_len, material, sizeof(material), d1), OHSM_OK);
    assert_memory_not_equal(d0, d1, 32);
    ohsm_mask_key_free(k);
}

/* The digest is deterministic, keyed, and changes with the record, the material, or the split
 * between them. */
static void test_mask_digest(void **state)
{
    (void)state;
    struct ohsm_mask_key *k = key(mk1), *other = key(mk2);
    uint8_t a[32], b[32];
    const uint8_t *r = (const uint8_t *)"abc";
    assert_int_equal(ohsm_mask_digest(k, r, 3, material, 32, a), OHSM_OK);
    assert_int_equal(ohsm_mask_digest(k, r, 3, material, 32, b), OHSM_OK);
    assert_memory_equal(a, b, 32);
    assert_int_equal(ohsm_mask_digest(other, r, 3, material, 32, b), OHSM_OK);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(ohsm_mask_digest(k, (const uint8_t *)"abd", 3, material, 32, b), OHSM_OK);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(ohsm_mask_digest(k, r, 3, material, 31, b), OHSM_OK);
    assert_memory_not_equal(a, b, 32);
    /* ("ab", "c...") and ("a", "bc...") must differ */
    uint8_t x[4] = {'a', 'b', 'c', 'd'};
    assert_int_equal(ohsm_mask_digest(k, x, 2, x + 2, 2, a), OHSM_OK);
    assert_int_equal(ohsm_mask_digest(k, x, 1, x + 1, 3, b), OHSM_OK);
    assert_memory_not_equal(a, b, 32);
    assert_int_equal(ohsm_mask_digest(k, NULL, 0, NULL, 0, a), OHSM_OK);
    assert_int_equal(ohsm_mask_digest(k, NULL, 2, NULL, 0, a), OHSM_ARGUMENTS_BAD);
    ohsm_mask_key_free(k);
    ohsm_mask_key_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mask_fingerprint),    cmocka_unit_test(test_mask_roundtrip),
        cmocka_unit_test(test_mask_fresh_nonce),    cmocka_unit_test(test_mask_flipped_byte),
        cmocka_unit_test(test_mask_truncated),      cmocka_unit_test(test_mask_wrong_key_kind),
        cmocka_unit_test(test_mask_seal_rejects),   cmocka_unit_test(test_mask_obj_roundtrip),
        cmocka_unit_test(test_mask_obj_bad_record), cmocka_unit_test(test_mask_digest),
        cmocka_unit_test(test_mask_obj_quorum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
