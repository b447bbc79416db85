/* SPDX-License-Identifier: Apache-2.0
 * The HSM store: seeding a new HSM, user CRUD, the last-admin rule, failure counters and
 * activation, and that all of it survives closing and reopening the database. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store/store.h"

static const struct ohsm_pwhash_cost cheap = {4, 8, 1};

struct fx {
    char dir[64];
    char path[96];
    struct ohsm_store *s;
};

static struct ohsm_store_init init_for(void)
{
    struct ohsm_store_init in = {"cluster-test", "hsm-test", 5, NULL, 0, &cheap};
    return in;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/ohsm-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/hsm.db", f->dir);
    struct ohsm_store_init in = init_for();
    assert_int_equal(ohsm_store_open(f->path, &in, &f->s), OHSM_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    ohsm_store_close(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    struct ohsm_store_init in = init_for();
    in.lockout_attempts = 20; /* must be ignored: the stored value wins */
    ohsm_store_close(f->s);
    assert_int_equal(ohsm_store_open(f->path, &in, &f->s), OHSM_OK);
}

/* A new HSM holds admin (PRECO, "password") as user 1 and app_user (AU) as user 2. */
static void test_store_seeded_users(void **state)
{
    struct fx *f = *state;
    struct ohsm_store_user *u = NULL;
    size_t n = 0;
    struct ohsm_store_meta m;
    assert_int_equal(ohsm_store_user_list(f->s, &u, &n), OHSM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(u[0].id, 1);
    assert_string_equal(u[0].name, "admin");
    assert_int_equal(u[0].type, OHSM_UT_PRECO);
    assert_int_equal(ohsm_pwhash_verify(u[0].pwrec, OHSM_PWHASH_LEN,
                                        (const uint8_t *)"password", 8), OHSM_OK);
    assert_int_equal(u[1].id, 2);
    assert_string_equal(u[1].name, "app_user");
    assert_int_equal(u[1].type, OHSM_UT_AU);
    free(u);
    assert_int_equal(ohsm_store_meta(f->s, &m), OHSM_OK);
    assert_false(m.activated);
    assert_int_equal(m.lockout_attempts, 5);
    assert_string_equal(m.hsm_id, "hsm-test");
    assert_int_equal(strlen(m.serial), 8);
}

/* Duplicate names are refused; unknown names and ids are not found. */
static void test_store_add_duplicate(void **state)
{
    struct fx *f = *state;
    uint8_t rec[OHSM_PWHASH_LEN] = {1};
    uint32_t id = 0;
    struct ohsm_store_user u;
    assert_int_equal(ohsm_store_user_add(f->s, "alice", OHSM_UT_CU, rec, &id), OHSM_OK);
    assert_int_equal(id, 3);
    assert_int_equal(ohsm_store_user_add(f->s, "alice", OHSM_UT_CO, rec, &id), OHSM_USER_EXISTS);
    assert_int_equal(ohsm_store_user_by_name(f->s, "bob", &u), OHSM_USER_NOT_FOUND);
    assert_int_equal(ohsm_store_user_by_id(f->s, 99, &u), OHSM_USER_NOT_FOUND);
    assert_int_equal(ohsm_store_user_del(f->s, 99), OHSM_USER_NOT_FOUND);
}

/* The PRECO's password change activates the HSM; the last CO cannot be deleted, others can. */
static void test_store_activation_and_last_admin(void **state)
{
    struct fx *f = *state;
    uint8_t rec[OHSM_PWHASH_LEN];
    struct ohsm_store_meta m;
    uint32_t id = 0;
    assert_int_equal(ohsm_pwhash_make(&cheap, (const uint8_t *)"newpass1", 8, rec), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_password(f->s, 1, rec, OHSM_UT_CO), OHSM_OK);
    reopen(f);
    assert_int_equal(ohsm_store_meta(f->s, &m), OHSM_OK);
    assert_true(m.activated);
    assert_int_equal(m.lockout_attempts, 5);
    assert_int_equal(ohsm_store_user_del(f->s, 1), OHSM_LAST_ADMIN);
    assert_int_equal(ohsm_store_user_add(f->s, "co2", OHSM_UT_CO, rec, &id), OHSM_OK);
    assert_int_equal(ohsm_store_user_del(f->s, 1), OHSM_OK);
    assert_int_equal(ohsm_store_user_del(f->s, id), OHSM_LAST_ADMIN);
    assert_int_equal(ohsm_store_user_set_password(f->s, 77, rec, OHSM_UT_CU), OHSM_USER_NOT_FOUND);
}

/* Failure counters count up, persist across reopen, and a password change resets them. */
static void test_store_fail_counter(void **state)
{
    struct fx *f = *state;
    uint32_t c = 0;
    struct ohsm_store_user u;
    uint8_t rec[OHSM_PWHASH_LEN] = {0};
    for (uint32_t i = 1; i <= 5; i++) {
        assert_int_equal(ohsm_store_fail_inc(f->s, 1, &c), OHSM_OK);
        assert_int_equal(c, i);
    }
    reopen(f);
    assert_int_equal(ohsm_store_user_by_id(f->s, 1, &u), OHSM_OK);
    assert_int_equal(u.fail_count, 5);
    assert_int_equal(ohsm_store_fail_reset(f->s, 1), OHSM_OK);
    assert_int_equal(ohsm_store_fail_inc(f->s, 1, &c), OHSM_OK);
    assert_int_equal(c, 1);
    assert_int_equal(ohsm_store_user_set_password(f->s, 1, rec, OHSM_UT_PRECO), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, 1, &u), OHSM_OK);
    assert_int_equal(u.fail_count, 0);
    assert_int_equal(ohsm_store_fail_inc(f->s, 42, &c), OHSM_USER_NOT_FOUND);
}

/* No more than 1024 users fit. */
static void test_store_user_limit(void **state)
{
    struct fx *f = *state;
    uint8_t rec[OHSM_PWHASH_LEN] = {0};
    char name[32];
    uint32_t id = 0;
    for (int i = 0; i < OHSM_MAX_USERS - 2; i++) {
        snprintf(name, sizeof(name), "u%d", i);
        assert_int_equal(ohsm_store_user_add(f->s, name, OHSM_UT_CU, rec, &id), OHSM_OK);
    }
    assert_int_equal(ohsm_store_user_add(f->s, "onemore", OHSM_UT_CU, rec, &id),
                     OHSM_USER_TOO_MANY);
}

/* A file that is not a database is an error, not a crash. */
static void test_store_garbage_file(void **state)
{
    struct fx *f = *state;
    char p[128];
    struct ohsm_store *s = NULL;
    struct ohsm_store_init in = init_for();
    snprintf(p, sizeof(p), "%s/junk.db", f->dir);
    FILE *fp = fopen(p, "w");
    fputs("this is not sqlite, just some text that is long enough to look like a header....", fp);
    fclose(fp);
    assert_int_equal(ohsm_store_open(p, &in, &s), OHSM_DB);
    assert_null(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_garbage_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_seeded_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_add_duplicate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_activation_and_last_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_fail_counter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_user_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
