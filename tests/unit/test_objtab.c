/* SPDX-License-Identifier: Apache-2.0
 * The HSM's in-memory object table: handle order and paging walks, copy-on-write replacement
 * (a reader's reference outlives the swap), session objects dropped per session, digests of
 * token objects, and material checked against the record when an entry is made. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "hsm/objtab.h"
#include "openhsm/mask.h"

static const uint8_t mkb[OHSM_MASKING_KEY_LEN] = {7};
static const uint8_t key16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static struct ohsm_objent *entry(const struct ohsm_mask_key *mk, uint64_t handle, uint64_t session,
                                 uint64_t version)
{
    struct ohsm_obj o;
    struct ohsm_objent *e = NULL;
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    o.handle = handle;
    o.version = version;
    o.value_len = 16;
    memcpy(o.owner, "cu1", 4);
    if (session != 0) {
        o.flags &= ~(uint32_t)OHSM_F_TOKEN;
    }
    assert_int_equal(ohsm_objent_new(mk, &o, key16, sizeof(key16), session, &e), OHSM_OK);
    return e;
}

struct walk {
    uint64_t h[16];
    size_t n;
    size_t stop_at;
};

static bool take(void *arg, const struct ohsm_objent *e)
{
    struct walk *w = arg;
    w->h[w->n++] = e->rec.handle;
    return w->n != w->stop_at;
}

/* Entries come back in handle order whatever the insertion order; walks start after a handle
 * and stop when asked. */
static void test_objtab_order_and_walk(void **state)
{
    (void)state;
    struct ohsm_mask_key *mk = NULL;
    struct ohsm_objtab *t = NULL;
    struct walk w;
    assert_int_equal(ohsm_mask_key_new(mkb, &mk), OHSM_OK);
    assert_int_equal(ohsm_objtab_new(&t), OHSM_OK);
    const uint64_t hs[5] = {96, 32, 160, 64, 128};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ohsm_objtab_set(t, entry(mk, hs[i], 0, 1)), OHSM_OK);
    }
    assert_int_equal(ohsm_objtab_count(t), 5);
    memset(&w, 0, sizeof(w));
    ohsm_objtab_walk(t, 0, take, &w);
    assert_int_equal(w.n, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(w.h[i], 32 * (i + 1));
    }
    memset(&w, 0, sizeof(w));
    w.stop_at = 2;
    ohsm_objtab_walk(t, 64, take, &w);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.h[0], 96);
    assert_int_equal(w.h[1], 128);
    memset(&w, 0, sizeof(w));
    ohsm_objtab_walk(t, UINT64_MAX, take, &w);
    assert_int_equal(w.n, 0);
    assert_null(ohsm_objtab_get(t, 33));
    ohsm_objtab_del(t, 96);
    ohsm_objtab_del(t, 96); /* absent: nothing */
    assert_null(ohsm_objtab_get(t, 96));
    assert_int_equal(ohsm_objtab_count(t), 4);
    ohsm_objtab_free(t);
    ohsm_mask_key_free(mk);
}

/* Replacing swaps the entry; a reference taken before still reads the old one. */
static void test_objtab_copy_on_write(void **state)
{
    (void)state;
    struct ohsm_mask_key *mk = NULL;
    struct ohsm_objtab *t = NULL;
    assert_int_equal(ohsm_mask_key_new(mkb, &mk), OHSM_OK);
    assert_int_equal(ohsm_objtab_new(&t), OHSM_OK);
    assert_int_equal(ohsm_objtab_set(t, entry(mk, 32, 0, 1)), OHSM_OK);
    struct ohsm_objent *old = ohsm_objtab_get(t, 32);
    assert_non_null(old);
    assert_int_equal(ohsm_objtab_set(t, entry(mk, 32, 0, 2)), OHSM_OK);
    assert_int_equal(ohsm_objtab_count(t), 1);
    struct ohsm_objent *cur = ohsm_objtab_get(t, 32);
    assert_int_equal(cur->rec.version, 2);
    assert_int_equal(old->rec.version, 1);
    assert_memory_equal(ohsm_secret_data(old->material), key16, 16);
    /* the digest covers the record: versions differ, digests differ */
    assert_memory_not_equal(old->digest, cur->digest, 32);
    ohsm_objent_put(old);
    ohsm_objent_put(cur);
    ohsm_objtab_free(t);
    ohsm_mask_key_free(mk);
}

/* Ending a session drops its objects only. */
static void test_objtab_end_session(void **state)
{
    (void)state;
    struct ohsm_mask_key *mk = NULL;
    struct ohsm_objtab *t = NULL;
    assert_int_equal(ohsm_mask_key_new(mkb, &mk), OHSM_OK);
    assert_int_equal(ohsm_objtab_new(&t), OHSM_OK);
    assert_int_equal(ohsm_objtab_set(t, entry(mk, 32, 0, 1)), OHSM_OK);
    assert_int_equal(ohsm_objtab_set(t, entry(NULL, 64, 5, 1)), OHSM_OK);
    assert_int_equal(ohsm_objtab_set(t, entry(NULL, 96, 6, 1)), OHSM_OK);
    assert_int_equal(ohsm_objtab_set(t, entry(NULL, 128, 5, 1)), OHSM_OK);
    ohsm_objtab_end_session(t, 0); /* 0 is no session: token objects stay */
    assert_int_equal(ohsm_objtab_count(t), 4);
    ohsm_objtab_end_session(t, 5);
    assert_int_equal(ohsm_objtab_count(t), 2);
    struct ohsm_objent *e = ohsm_objtab_get(t, 96);
    assert_non_null(e);
    assert_int_equal(e->session, 6);
    ohsm_objent_put(e);
    assert_null(ohsm_objtab_get(t, 64));
    ohsm_objtab_free(t);
    ohsm_mask_key_free(mk);
}

/* Material that does not fit the record is refused: an RSA record with AES bytes; a token entry
 * needs the masking key for its digest. */
static void test_objtab_entry_checks(void **state)
{
    (void)state;
    struct ohsm_obj o;
    struct ohsm_objent *e = NULL;
    ohsm_obj_defaults(&o, OHSM_CLASS_PRIVATE, OHSM_KT_RSA, true);
    o.handle = 32;
    assert_int_not_equal(ohsm_objent_new(NULL, &o, key16, sizeof(key16), 9, &e), OHSM_OK);
    assert_null(e);
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    assert_int_equal(ohsm_objent_new(NULL, &o, key16, sizeof(key16), 0, &e), OHSM_ARGUMENTS_BAD);
    ohsm_objent_put(NULL);
    ohsm_objtab_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objtab_entry_checks),
        cmocka_unit_test(test_objtab_order_and_walk),
        cmocka_unit_test(test_objtab_copy_on_write),
        cmocka_unit_test(test_objtab_end_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
