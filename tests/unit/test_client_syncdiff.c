/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the sync status comparison (src/client/syncdiff.c): which HSM differs, how, and
 * which HSM a repair copies from.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/syncdiff.h"

static struct ohsm_syncdiff_obj obj(uint64_t handle, uint64_t version, uint8_t d, bool deleted)
{
    struct ohsm_syncdiff_obj o;
    memset(&o, 0, sizeof(o));
    o.handle = handle;
    o.version = version;
    memset(o.digest, d, sizeof(o.digest));
    o.deleted = deleted;
    return o;
}

/* A user record: id from the name's first letter unless given (uid). */
static struct ohsm_syncdiff_user urec(uint32_t id, const char *name, uint64_t version, uint8_t d,
                                      bool deleted)
{
    struct ohsm_syncdiff_user u;
    memset(&u, 0, sizeof(u));
    (void)snprintf(u.name, sizeof(u.name), "%s", name);
    u.o = obj(id, version, d, deleted);
    return u;
}

static struct ohsm_syncdiff_user user(const char *name, uint8_t d)
{
    return urec((uint32_t)name[0], name, 1, d, false);
}

static struct ohsm_syncdiff_hsm hsm(const struct ohsm_syncdiff_obj *o, size_t no,
                                    const struct ohsm_syncdiff_user *u, size_t nu)
{
    struct ohsm_syncdiff_hsm h = {OHSM_OK, o, no, u, nu};
    return h;
}

static size_t run(const struct ohsm_syncdiff_hsm *h, size_t n, struct ohsm_syncdiff_item **it)
{
    size_t ni = SIZE_MAX;
    assert_int_equal(ohsm_syncdiff_compare(h, n, it, &ni), OHSM_OK);
    return ni;
}

static void check_obj(const struct ohsm_syncdiff_item *it, size_t hsm_i, enum ohsm_sync_kind k,
                      uint64_t handle, size_t src)
{
    assert_false(it->it.is_user);
    assert_int_equal(it->it.hsm, hsm_i);
    assert_int_equal(it->it.kind, k);
    assert_int_equal(it->it.handle, handle);
    assert_int_equal(it->src, src);
}

/* Bad arguments are refused; no HSMs means nothing to compare. */
static void test_client_syncdiff_args(void **state)
{
    (void)state;
    struct ohsm_syncdiff_item *it = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_syncdiff_compare(NULL, 1, &it, &n), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_syncdiff_compare(NULL, 0, NULL, &n), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_syncdiff_compare(NULL, 0, &it, &n), OHSM_OK);
    assert_int_equal(n, 0);
    assert_null(it);
}

/* Identical HSMs (objects, a tombstone and users) produce no items. */
static void test_client_syncdiff_equal(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj o[] = {obj(33, 1, 1, false), obj(65, 4, 2, false),
                                    obj(97, 2, 3, true)};
    struct ohsm_syncdiff_user u[] = {user("admin", 9), user("cu1", 8)};
    struct ohsm_syncdiff_hsm h[] = {hsm(o, 3, u, 2), hsm(o, 3, u, 2)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 0);
    assert_null(it);
}

/* A key one HSM lacks is MISSING there, to be copied from the HSM that has it. */
static void test_client_syncdiff_missing(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 1, 1, false), obj(65, 1, 2, false)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 1, 1, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(b, 1, NULL, 0), hsm(a, 2, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 1);
    check_obj(&it[0], 0, OHSM_SYNC_MISSING, 65, 1);
    assert_int_equal(it[0].version, 1);
    free(it);
}

/* A key alive on one HSM and tombstoned at a later version on another is EXTRA on the first;
 * the repair source is the HSM holding the tombstone. */
static void test_client_syncdiff_extra_by_tombstone(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 2, 1, false)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 3, 7, true)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 1, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 1);
    check_obj(&it[0], 0, OHSM_SYNC_EXTRA, 33, 1);
    assert_int_equal(it[0].version, 3);
    free(it);
}

/* A tombstone at the same version as a live copy wins: the deletion came last. */
static void test_client_syncdiff_tombstone_wins_tie(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 2, 1, true)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 2, 1, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 1, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 1);
    check_obj(&it[0], 1, OHSM_SYNC_EXTRA, 33, 0);
    free(it);
}

/* A tombstone on one HSM and nothing on another: both agree the key is gone. */
static void test_client_syncdiff_tombstone_vs_nothing(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 2, 1, true)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(NULL, 0, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 0);
}

/* A newer live copy than an HSM's old tombstone makes that HSM MISSING (never EXTRA). */
static void test_client_syncdiff_old_tombstone(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 1, 1, true)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 2, 1, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 1, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 1);
    check_obj(&it[0], 0, OHSM_SYNC_MISSING, 33, 1);
    free(it);
}

/* An older version is STALE, whatever its digest. */
static void test_client_syncdiff_stale_version(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 5, 1, false)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 4, 1, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 1, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 1);
    check_obj(&it[0], 1, OHSM_SYNC_STALE, 33, 0);
    assert_int_equal(it[0].version, 5);
    free(it);
}

/* Same version, different digest: the digest most HSMs hold is the reference. */
static void test_client_syncdiff_stale_digest_majority(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 3, 1, false)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 3, 2, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 1, NULL, 0), hsm(b, 1, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 1);
    check_obj(&it[0], 0, OHSM_SYNC_STALE, 33, 1);
    free(it);
}

/* A digest tie goes to the lowest HSM index, so exactly one HSM is reported. */
static void test_client_syncdiff_stale_digest_tie(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 3, 1, false)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 3, 2, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 1, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 1);
    check_obj(&it[0], 1, OHSM_SYNC_STALE, 33, 0);
    free(it);
}

/* An HSM that did not answer is not compared and makes nothing missing on the others. */
static void test_client_syncdiff_unreachable(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 1, 1, false)};
    struct ohsm_syncdiff_obj stale[] = {obj(33, 1, 5, false), obj(65, 9, 5, false)};
    struct ohsm_syncdiff_user u[] = {user("cu1", 1)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, u, 1), hsm(stale, 2, NULL, 0)};
    h[1].rv = OHSM_NOT_CONNECTED;
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 0);
}

/* Three HSMs, two lagging (one stale, one missing): both get items from the up-to-date one. */
static void test_client_syncdiff_three_two_lagging(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 1, 1, false)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 1, 1, false), obj(66, 3, 4, false)};
    struct ohsm_syncdiff_obj c[] = {obj(33, 1, 1, false), obj(66, 2, 3, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, NULL, 0), hsm(b, 2, NULL, 0), hsm(c, 2, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 2);
    check_obj(&it[0], 0, OHSM_SYNC_MISSING, 66, 1);
    check_obj(&it[1], 2, OHSM_SYNC_STALE, 66, 1);
    free(it);
}

/* A key only one HSM has (no tombstone anywhere) is MISSING on every other HSM. */
static void test_client_syncdiff_only_one_has(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(34, 1, 1, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(NULL, 0, NULL, 0), hsm(a, 1, NULL, 0),
                                    hsm(NULL, 0, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 2);
    check_obj(&it[0], 0, OHSM_SYNC_MISSING, 34, 1);
    check_obj(&it[1], 2, OHSM_SYNC_MISSING, 34, 1);
    free(it);
}

/* An HSM listing a handle twice counts with its newest entry; lists need not be sorted. */
static void test_client_syncdiff_duplicates_unsorted(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(65, 1, 2, false), obj(33, 1, 1, false),
                                    obj(33, 2, 1, true)};
    struct ohsm_syncdiff_obj b[] = {obj(33, 2, 1, true), obj(65, 1, 2, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 3, NULL, 0), hsm(b, 2, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 0);
}

/* Items come out in handle order, then HSM order. */
static void test_client_syncdiff_order(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(97, 1, 1, false), obj(33, 1, 1, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(NULL, 0, NULL, 0), hsm(NULL, 0, NULL, 0),
                                    hsm(a, 2, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 4);
    check_obj(&it[0], 0, OHSM_SYNC_MISSING, 33, 2);
    check_obj(&it[1], 1, OHSM_SYNC_MISSING, 33, 2);
    check_obj(&it[2], 0, OHSM_SYNC_MISSING, 97, 2);
    check_obj(&it[3], 1, OHSM_SYNC_MISSING, 97, 2);
    free(it);
}

static void check_user(const struct ohsm_syncdiff_item *it, size_t hsm_i, enum ohsm_sync_kind k,
                       const char *name)
{
    assert_true(it->it.is_user);
    assert_int_equal(it->it.hsm, hsm_i);
    assert_int_equal(it->it.kind, k);
    assert_string_equal(it->it.username, name);
}

/* A user some HSMs lack is MISSING there (source: a holder), whoever has more. */
static void test_client_syncdiff_user_missing(void **state)
{
    (void)state;
    struct ohsm_syncdiff_user a[] = {user("admin", 1), user("cu1", 2)};
    struct ohsm_syncdiff_user b[] = {user("admin", 1)};
    struct ohsm_syncdiff_hsm h[] = {hsm(NULL, 0, b, 1), hsm(NULL, 0, a, 2), hsm(NULL, 0, b, 1)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 2);
    check_user(&it[0], 0, OHSM_SYNC_MISSING, "cu1");
    check_user(&it[1], 2, OHSM_SYNC_MISSING, "cu1");
    assert_int_equal(it[0].src, 1);
    assert_int_equal(it[0].it.handle, 'c'); /* the user id */
    free(it);
}

/* A deleted user (tombstone on one HSM) is EXTRA where it lives on, whatever its version there:
 * deletion is final. HSMs that never had it are in sync. */
static void test_client_syncdiff_user_extra(void **state)
{
    (void)state;
    struct ohsm_syncdiff_user a[] = {user("admin", 1), urec(7, "gone", 3, 0, true)};
    struct ohsm_syncdiff_user b[] = {user("admin", 1), urec(7, "gone", 5, 2, false)};
    struct ohsm_syncdiff_user c[] = {user("admin", 1)};
    struct ohsm_syncdiff_hsm h[] = {hsm(NULL, 0, a, 2), hsm(NULL, 0, b, 2), hsm(NULL, 0, c, 1)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 1);
    check_user(&it[0], 1, OHSM_SYNC_EXTRA, "gone");
    assert_int_equal(it[0].src, 0);
    free(it);
}

/* A user at an older version is STALE (a password changed while that HSM was down); at the same
 * version another record (another change, or another name for the id) is STALE against the most
 * common one. */
static void test_client_syncdiff_user_stale(void **state)
{
    (void)state;
    struct ohsm_syncdiff_user v1[] = {urec(5, "cu1", 1, 1, false)};
    struct ohsm_syncdiff_user v2[] = {urec(5, "cu1", 2, 2, false)};
    struct ohsm_syncdiff_hsm h[] = {hsm(NULL, 0, v1, 1), hsm(NULL, 0, v2, 1), hsm(NULL, 0, v2, 1)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 3, &it), 1);
    check_user(&it[0], 0, OHSM_SYNC_STALE, "cu1");
    assert_int_equal(it[0].src, 1);
    assert_int_equal(it[0].version, 2);
    free(it);
    struct ohsm_syncdiff_user other[] = {urec(5, "cu1", 2, 9, false)};
    struct ohsm_syncdiff_hsm h2[] = {hsm(NULL, 0, other, 1), hsm(NULL, 0, v2, 1),
                                     hsm(NULL, 0, v2, 1)};
    assert_int_equal(run(h2, 3, &it), 1);
    check_user(&it[0], 0, OHSM_SYNC_STALE, "cu1");
    free(it);
    /* the newest version wins even when fewer HSMs have it */
    struct ohsm_syncdiff_hsm h3[] = {hsm(NULL, 0, v1, 1), hsm(NULL, 0, v1, 1), hsm(NULL, 0, v2, 1)};
    assert_int_equal(run(h3, 3, &it), 2);
    check_user(&it[0], 0, OHSM_SYNC_STALE, "cu1");
    check_user(&it[1], 1, OHSM_SYNC_STALE, "cu1");
    assert_int_equal(it[1].src, 2);
    free(it);
}

/* Equal tombstones everywhere: nothing to do. */
static void test_client_syncdiff_user_tombstones_equal(void **state)
{
    (void)state;
    struct ohsm_syncdiff_user a[] = {urec(9, "old", 4, 3, true)};
    struct ohsm_syncdiff_hsm h[] = {hsm(NULL, 0, a, 1), hsm(NULL, 0, a, 1)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 0);
}

/* Objects and users together: objects first, then users. */
static void test_client_syncdiff_objects_then_users(void **state)
{
    (void)state;
    struct ohsm_syncdiff_obj a[] = {obj(33, 1, 1, false)};
    struct ohsm_syncdiff_user u[] = {user("cu1", 1)};
    struct ohsm_syncdiff_hsm h[] = {hsm(a, 1, u, 1), hsm(NULL, 0, NULL, 0)};
    struct ohsm_syncdiff_item *it = NULL;
    assert_int_equal(run(h, 2, &it), 2);
    check_obj(&it[0], 1, OHSM_SYNC_MISSING, 33, 0);
    check_user(&it[1], 1, OHSM_SYNC_MISSING, "cu1");
    free(it);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_syncdiff_args),
        cmocka_unit_test(test_client_syncdiff_equal),
        cmocka_unit_test(test_client_syncdiff_missing),
        cmocka_unit_test(test_client_syncdiff_extra_by_tombstone),
        cmocka_unit_test(test_client_syncdiff_tombstone_wins_tie),
        cmocka_unit_test(test_client_syncdiff_tombstone_vs_nothing),
        cmocka_unit_test(test_client_syncdiff_old_tombstone),
        cmocka_unit_test(test_client_syncdiff_stale_version),
        cmocka_unit_test(test_client_syncdiff_stale_digest_majority),
        cmocka_unit_test(test_client_syncdiff_stale_digest_tie),
        cmocka_unit_test(test_client_syncdiff_unreachable),
        cmocka_unit_test(test_client_syncdiff_three_two_lagging),
        cmocka_unit_test(test_client_syncdiff_only_one_has),
        cmocka_unit_test(test_client_syncdiff_duplicates_unsorted),
        cmocka_unit_test(test_client_syncdiff_order),
        cmocka_unit_test(test_client_syncdiff_user_missing),
        cmocka_unit_test(test_client_syncdiff_user_extra),
        cmocka_unit_test(test_client_syncdiff_user_stale),
        cmocka_unit_test(test_client_syncdiff_user_tombstones_equal),
        cmocka_unit_test(test_client_syncdiff_objects_then_users),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
