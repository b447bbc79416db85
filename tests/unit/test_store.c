/* SPDX-License-Identifier: Apache-2.0
 * The HSM store: seeding a new HSM, user CRUD, the last-admin rule, failure counters and
 * activation, and that all of it survives closing and reopening the database; key objects and
 * tombstones (sealed rows), handle allocation, the object limit, the masking-key fingerprint,
 * user sync records, the migration of issue-3 and issue-4 databases; issue 5: MFA and quorum
 * public keys, quorum values, untrusted rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "openhsm/obj.h"
#include "openhsm/token.h"
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
    assert_int_equal(
        ohsm_pwhash_verify(u[0].pwrec, OHSM_PWHASH_LEN, (const uint8_t *)"password", 8), OHSM_OK);
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

static ohsm_rv put(struct ohsm_store *s, uint64_t h, uint64_t v, const char *blob)
{
    return ohsm_store_obj_put(s, h, v, (const uint8_t *)blob, strlen(blob));
}

/* Objects: put, replace, get (a copy), delete; absent handles are invalid; bad rows refused. */
static void test_store_objects(void **state)
{
    struct fx *f = *state;
    uint64_t v = 0;
    uint8_t *b = NULL;
    size_t n = 0;
    uint32_t c = 0;
    assert_int_equal(put(f->s, 0, 1, "x"), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_obj_put(f->s, 33, 1, NULL, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(put(f->s, 33, 1, "sealed-one"), OHSM_OK);
    assert_int_equal(put(f->s, 65, 1, "sealed-two"), OHSM_OK);
    assert_int_equal(put(f->s, 33, 2, "sealed-one-v2"), OHSM_OK);
    assert_int_equal(ohsm_store_obj_count(f->s, &c), OHSM_OK);
    assert_int_equal(c, 2);
    assert_int_equal(ohsm_store_obj_get(f->s, 33, &v, &b, &n), OHSM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(n, 13);
    assert_memory_equal(b, "sealed-one-v2", 13);
    free(b);
    assert_int_equal(ohsm_store_obj_get(f->s, 97, &v, &b, &n), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_store_obj_del(f->s, 33), OHSM_OK);
    assert_int_equal(ohsm_store_obj_del(f->s, 33), OHSM_OK); /* absent: fine */
    assert_int_equal(ohsm_store_obj_get(f->s, 33, &v, &b, &n), OHSM_KEY_HANDLE_INVALID);
    /* big handles (top bits) survive the signed SQLite integer */
    uint64_t big = UINT64_C(0xfedcba9876543210);
    assert_int_equal(put(f->s, big, 7, "big"), OHSM_OK);
    assert_int_equal(ohsm_store_obj_get(f->s, big, &v, &b, &n), OHSM_OK);
    assert_int_equal(v, 7);
    free(b);
}

struct seen {
    uint64_t h[8];
    uint64_t v[8];
    size_t n;
};

static ohsm_rv collect(void *arg, uint64_t handle, uint64_t version, const uint8_t *sealed,
                       size_t len)
{
    struct seen *s = arg;
    assert_non_null(sealed);
    assert_true(len > 0);
    if (s->n == 8) {
        return OHSM_DATA_LEN_RANGE;
    }
    s->h[s->n] = handle;
    s->v[s->n] = version;
    s->n++;
    return OHSM_OK;
}

/* Tombstones: put, get, walk; deleting an object and leaving a tombstone is one transaction
 * (a rollback leaves the object). Everything persists across reopen. */
static void test_store_tombstones(void **state)
{
    struct fx *f = *state;
    struct seen s;
    uint64_t v = 0;
    uint8_t *b = NULL;
    size_t n = 0;
    assert_int_equal(put(f->s, 33, 4, "obj"), OHSM_OK);
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_obj_del(f->s, 33), OHSM_OK);
    assert_int_equal(ohsm_store_tomb_put(f->s, 33, 5, (const uint8_t *)"tomb", 4), OHSM_OK);
    ohsm_store_rollback(f->s);
    assert_int_equal(ohsm_store_obj_get(f->s, 33, &v, &b, &n), OHSM_OK);
    free(b);
    assert_int_equal(ohsm_store_tomb_get(f->s, 33, &v, &b, &n), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_obj_del(f->s, 33), OHSM_OK);
    assert_int_equal(ohsm_store_tomb_put(f->s, 33, 5, (const uint8_t *)"tomb", 4), OHSM_OK);
    assert_int_equal(ohsm_store_commit(f->s), OHSM_OK);
    assert_int_equal(put(f->s, 65, 1, "other"), OHSM_OK);
    reopen(f);
    assert_int_equal(ohsm_store_obj_get(f->s, 33, &v, &b, &n), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(ohsm_store_tomb_get(f->s, 33, &v, &b, &n), OHSM_OK);
    assert_int_equal(v, 5);
    assert_memory_equal(b, "tomb", 4);
    free(b);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ohsm_store_tomb_each(f->s, collect, &s), OHSM_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.h[0], 33);
    memset(&s, 0, sizeof(s));
    assert_int_equal(ohsm_store_obj_each(f->s, collect, &s), OHSM_OK);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.h[0], 65);
    assert_int_equal(ohsm_store_tomb_del(f->s, 33), OHSM_OK);
    assert_int_equal(ohsm_store_tomb_get(f->s, 33, &v, &b, &n), OHSM_KEY_HANDLE_INVALID);
}

/* Handles: seq << 5 | slot, counting up from 1, skipping handles already held, persistent, and
 * pushed past handles of our slot that arrive from elsewhere. */
static void test_store_handle_alloc(void **state)
{
    struct fx *f = *state;
    uint64_t h = 0;
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(f->s, 3, &h), OHSM_OK);
    assert_int_equal(ohsm_store_commit(f->s), OHSM_OK);
    assert_int_equal(h, ohsm_handle_make(3, 1));
    assert_int_equal(ohsm_store_handle_next(f->s, 32, &h), OHSM_ARGUMENTS_BAD);
    /* a rolled-back allocation is not consumed */
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(f->s, 3, &h), OHSM_OK);
    ohsm_store_rollback(f->s);
    assert_int_equal(put(f->s, ohsm_handle_make(3, 2), 1, "held"), OHSM_OK);
    assert_int_equal(ohsm_store_tomb_put(f->s, ohsm_handle_make(3, 3), 1, (const uint8_t *)"t", 1),
                     OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(f->s, 3, &h), OHSM_OK);
    assert_int_equal(h, ohsm_handle_make(3, 4));
    reopen(f);
    assert_int_equal(ohsm_store_handle_next(f->s, 3, &h), OHSM_OK);
    assert_int_equal(h, ohsm_handle_make(3, 5));
    assert_int_equal(ohsm_store_handle_seen(f->s, ohsm_handle_make(3, 40)), OHSM_OK);
    assert_int_equal(ohsm_store_handle_seen(f->s, ohsm_handle_make(3, 10)), OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(f->s, 3, &h), OHSM_OK);
    assert_int_equal(h, ohsm_handle_make(3, 41));
}

/* No more than OHSM_STORE_OBJECTS_MAX objects; replacing one at the limit still works. */
static void test_store_object_limit(void **state)
{
    struct fx *f = *state;
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    for (uint64_t i = 1; i <= OHSM_STORE_OBJECTS_MAX; i++) {
        assert_int_equal(put(f->s, i << 5, 1, "o"), OHSM_OK);
    }
    assert_int_equal(ohsm_store_commit(f->s), OHSM_OK);
    assert_int_equal(put(f->s, (uint64_t)(OHSM_STORE_OBJECTS_MAX + 1) << 5, 1, "o"),
                     OHSM_OBJECT_TOO_MANY);
    assert_int_equal(put(f->s, 1 << 5, 2, "o2"), OHSM_OK);
}

/* The masking-key fingerprint: absent on a new HSM, then recorded and persistent. */
static void test_store_mask_fp(void **state)
{
    struct fx *f = *state;
    uint8_t fp[8] = {0};
    const uint8_t want[8] = {0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff};
    bool present = true;
    assert_int_equal(ohsm_store_mask_fp(f->s, fp, &present), OHSM_OK);
    assert_false(present);
    assert_int_equal(ohsm_store_set_mask_fp(f->s, want), OHSM_OK);
    reopen(f);
    assert_int_equal(ohsm_store_mask_fp(f->s, fp, &present), OHSM_OK);
    assert_true(present);
    assert_memory_equal(fp, want, 8);
}

/* Issue 10: a record from another HSM is stored as it is (id, version), new or replacing the same
 * id and name, keeping this HSM's failure counter; a deletion leaves a tombstone; a taken id or
 * name is refused. */
static void test_store_user_put(void **state)
{
    struct fx *f = *state;
    struct ohsm_store_user in, u;
    struct ohsm_store_utomb t;
    uint32_t c = 0, next = 0;
    memset(&in, 0, sizeof(in));
    in.id = 40;
    in.version = 3;
    in.type = OHSM_UT_CU;
    snprintf(in.name, sizeof(in.name), "erin");
    memset(in.pwrec, 7, sizeof(in.pwrec));
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, NULL, 0, false), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_name(f->s, "erin", &u), OHSM_OK);
    assert_int_equal(u.id, 40);
    assert_int_equal(u.version, 3);
    assert_int_equal(ohsm_store_user_next_id(f->s, &next), OHSM_OK);
    assert_int_equal(next, 41); /* ids from other HSMs move this HSM's next id too */
    assert_int_equal(ohsm_store_fail_inc(f->s, 40, &c), OHSM_OK);
    in.version = 5;
    memset(in.pwrec, 8, sizeof(in.pwrec));
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, NULL, 0, false), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, 40, &u), OHSM_OK);
    assert_int_equal(u.pwrec[0], 8);
    assert_int_equal(u.version, 5);
    assert_int_equal(u.fail_count, 1);
    /* the same id under another name, or the name under another id: a conflict */
    snprintf(in.name, sizeof(in.name), "frank");
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, NULL, 0, false),
                     OHSM_USER_EXISTS);
    in.id = 41;
    snprintf(in.name, sizeof(in.name), "erin");
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, NULL, 0, false),
                     OHSM_USER_EXISTS);
    /* a deletion: the user goes, a tombstone stays, the id stays used */
    in.id = 40;
    in.version = 6;
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, NULL, 0, true), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, 40, &u), OHSM_USER_NOT_FOUND);
    assert_int_equal(ohsm_store_user_tomb_get(f->s, 40, &t), OHSM_OK);
    assert_int_equal(t.version, 6);
    assert_string_equal(t.name, "erin");
    assert_int_equal(ohsm_store_user_add_id(f->s, 40, "erin", OHSM_UT_CU, in.pwrec),
                     OHSM_USER_EXISTS);
    assert_int_equal(ohsm_store_user_next_id(f->s, &next), OHSM_OK);
    assert_int_equal(next, 41);
}

/* Issue 10: versions move only forward and only from the version the caller read; a deleted user
 * leaves a tombstone one above its last version and its id is never given again. */
static void test_store_user_versions(void **state)
{
    struct fx *f = *state;
    uint8_t rec[OHSM_PWHASH_LEN];
    struct ohsm_store_user u;
    struct ohsm_store_utomb t;
    struct ohsm_store_utomb *all = NULL;
    size_t n = 0;
    uint32_t id = 0, next = 0;
    memset(rec, 3, sizeof(rec));
    assert_int_equal(ohsm_store_user_add(f->s, "gus", OHSM_UT_CU, rec, &id), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, id, &u), OHSM_OK);
    assert_int_equal(u.version, 1);
    assert_int_equal(ohsm_store_user_bump(f->s, id, 1), OHSM_OK);
    assert_int_equal(ohsm_store_user_bump(f->s, id, 1), OHSM_USER_RECORD_STALE);
    assert_int_equal(ohsm_store_user_bump(f->s, 999, 1), OHSM_USER_RECORD_STALE);
    assert_int_equal(ohsm_store_user_bump(f->s, id, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_by_id(f->s, id, &u), OHSM_OK);
    assert_int_equal(u.version, 2);
    assert_int_equal(ohsm_store_user_del(f->s, id), OHSM_OK);
    assert_int_equal(ohsm_store_user_tomb_get(f->s, id, &t), OHSM_OK);
    assert_int_equal(t.version, 3);
    assert_int_equal(ohsm_store_user_tomb_get(f->s, id + 1, &t), OHSM_USER_NOT_FOUND);
    assert_int_equal(ohsm_store_user_next_id(f->s, &next), OHSM_OK);
    assert_int_equal(next, id + 1);
    assert_int_equal(ohsm_store_user_add(f->s, "gus", OHSM_UT_CU, rec, &next), OHSM_OK);
    assert_int_equal(next, id + 1); /* the name may come back; the id never does */
    assert_int_equal(ohsm_store_user_add_id(f->s, id, "gus2", OHSM_UT_CU, rec), OHSM_USER_EXISTS);
    assert_int_equal(ohsm_store_user_tombs(f->s, &all, &n), OHSM_OK);
    assert_int_equal(n, 1);
    assert_int_equal(all[0].id, id);
    free(all);
}

/* ---- issue 5: public keys and quorum values ---- */

static uint8_t key_a[294];
static uint8_t key_b[OHSM_TOKEN_PUBKEY_MAX];

static void check_key(struct ohsm_store *s, uint32_t id, enum ohsm_store_pubkey which,
                      const uint8_t *want, size_t want_len)
{
    uint8_t *der = (uint8_t *)"sentinel";
    size_t len = 99;
    assert_int_equal(ohsm_store_user_pubkey(s, id, which, &der, &len), OHSM_OK);
    assert_int_equal(len, want_len);
    if (want == NULL) {
        assert_null(der);
    } else {
        assert_non_null(der);
        assert_memory_equal(der, want, want_len);
    }
    free(der);
}

/* MFA and quorum keys: set, read back, flags follow, removed, persistent; the keys of one user
 * are independent; a deleted user's keys go with it. */
static void test_store_pubkeys(void **state)
{
    struct fx *f = *state;
    uint8_t rec[OHSM_PWHASH_LEN] = {3};
    struct ohsm_store_user u;
    uint32_t id = 0;
    assert_int_equal(ohsm_store_user_add(f->s, "carol", OHSM_UT_CU, rec, &id), OHSM_OK);
    check_key(f->s, id, OHSM_STORE_MFA_KEY, NULL, 0);
    check_key(f->s, id, OHSM_STORE_QUORUM_KEY, NULL, 0);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, id, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a)),
                     OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, id, &u), OHSM_OK);
    assert_true(u.mfa);
    assert_false(u.mofn);
    check_key(f->s, id, OHSM_STORE_QUORUM_KEY, NULL, 0);
    assert_int_equal(
        ohsm_store_user_set_pubkey(f->s, id, OHSM_STORE_QUORUM_KEY, key_b, sizeof(key_b)), OHSM_OK);
    reopen(f);
    assert_int_equal(ohsm_store_user_by_name(f->s, "carol", &u), OHSM_OK);
    assert_true(u.mfa);
    assert_true(u.mofn);
    check_key(f->s, id, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a));
    check_key(f->s, id, OHSM_STORE_QUORUM_KEY, key_b, sizeof(key_b));
    /* replace one, remove the other */
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, id, OHSM_STORE_MFA_KEY, key_b, 300), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, id, OHSM_STORE_QUORUM_KEY, NULL, 0), OHSM_OK);
    check_key(f->s, id, OHSM_STORE_MFA_KEY, key_b, 300);
    check_key(f->s, id, OHSM_STORE_QUORUM_KEY, NULL, 0);
    assert_int_equal(ohsm_store_user_by_id(f->s, id, &u), OHSM_OK);
    assert_true(u.mfa);
    assert_false(u.mofn);
    /* deleting the user drops its keys: a new user of that name has none */
    assert_int_equal(ohsm_store_user_del(f->s, id), OHSM_OK);
    assert_int_equal(ohsm_store_user_add(f->s, "carol", OHSM_UT_CU, rec, &id), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, id, &u), OHSM_OK);
    assert_false(u.mfa);
    check_key(f->s, id, OHSM_STORE_MFA_KEY, NULL, 0);
}

/* Bad key arguments and unknown users are refused and change nothing. */
static void test_store_pubkey_refusals(void **state)
{
    struct fx *f = *state;
    uint8_t over[OHSM_TOKEN_PUBKEY_MAX + 1] = {0};
    uint8_t *der = NULL;
    size_t len = 0;
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, 2, OHSM_STORE_MFA_KEY, key_a, 0),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, 2, OHSM_STORE_MFA_KEY, over, sizeof(over)),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, 2, OHSM_STORE_MFA_KEY, NULL, 5),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(
        ohsm_store_user_set_pubkey(f->s, 2, (enum ohsm_store_pubkey)3, key_a, sizeof(key_a)),
        OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_pubkey(f->s, 2, (enum ohsm_store_pubkey)0, &der, &len),
                     OHSM_ARGUMENTS_BAD);
    check_key(f->s, 2, OHSM_STORE_MFA_KEY, NULL, 0);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, 77, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a)),
                     OHSM_USER_NOT_FOUND);
    assert_int_equal(ohsm_store_user_pubkey(f->s, 77, OHSM_STORE_QUORUM_KEY, &der, &len),
                     OHSM_USER_NOT_FOUND);
    assert_null(der);
}

/* Inside ohsm_store_begin, a password change and a key change commit or roll back together. */
static void test_store_pubkey_transaction(void **state)
{
    struct fx *f = *state;
    uint8_t rec[OHSM_PWHASH_LEN];
    struct ohsm_store_user u;
    memset(rec, 0x5a, sizeof(rec));
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_password(f->s, 2, rec, OHSM_UT_AU), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, 2, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a)),
                     OHSM_OK);
    ohsm_store_rollback(f->s);
    assert_int_equal(ohsm_store_user_by_id(f->s, 2, &u), OHSM_OK);
    assert_false(u.mfa);
    assert_int_not_equal(u.pwrec[0], 0x5a);
    /* a failing step inside the caller's transaction leaves it open for the caller to undo */
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_password(f->s, 2, rec, OHSM_UT_AU), OHSM_OK);
    assert_int_equal(ohsm_store_user_del(f->s, 1), OHSM_OK); /* PRECO: not a CO */
    assert_int_equal(ohsm_store_user_set_password(f->s, 99, rec, OHSM_UT_CU), OHSM_USER_NOT_FOUND);
    ohsm_store_rollback(f->s);
    assert_int_equal(ohsm_store_user_by_id(f->s, 1, &u), OHSM_OK);
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_password(f->s, 2, rec, OHSM_UT_AU), OHSM_OK);
    assert_int_equal(ohsm_store_user_set_pubkey(f->s, 2, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a)),
                     OHSM_OK);
    assert_int_equal(ohsm_store_commit(f->s), OHSM_OK);
    reopen(f);
    assert_int_equal(ohsm_store_user_by_id(f->s, 2, &u), OHSM_OK);
    assert_true(u.mfa);
    assert_int_equal(u.pwrec[0], 0x5a);
}

/* Synced users with keys: inserted with them, replaced with others or none; bad key arguments
 * are refused before anything changes. */
static void test_store_user_put_keys(void **state)
{
    struct fx *f = *state;
    uint8_t over[OHSM_TOKEN_PUBKEY_MAX + 1] = {0};
    struct ohsm_store_user in, u;
    memset(&in, 0, sizeof(in));
    in.id = 50;
    in.version = 1;
    in.type = OHSM_UT_CO;
    in.pwrec[0] = 1;
    snprintf(in.name, sizeof(in.name), "dave");
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, key_a, sizeof(key_a), NULL, 0, false),
                     OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, 50, &u), OHSM_OK);
    assert_true(u.mfa);
    assert_false(u.mofn);
    check_key(f->s, 50, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a));
    in.version = 2;
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, key_b, sizeof(key_b), false),
                     OHSM_OK);
    assert_int_equal(ohsm_store_user_by_id(f->s, 50, &u), OHSM_OK);
    assert_false(u.mfa);
    assert_true(u.mofn);
    check_key(f->s, 50, OHSM_STORE_MFA_KEY, NULL, 0);
    check_key(f->s, 50, OHSM_STORE_QUORUM_KEY, key_b, sizeof(key_b));
    /* refused: oversize, empty non-NULL, NULL with a length; the record stays as it was */
    in.version = 3;
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, over, sizeof(over), NULL, 0, false),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 0, key_a, 0, false),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, NULL, 3, NULL, 0, false),
                     OHSM_ARGUMENTS_BAD);
    in.id = 51;
    snprintf(in.name, sizeof(in.name), "newbie");
    assert_int_equal(ohsm_store_user_put_rec(f->s, &in, over, sizeof(over), NULL, 0, false),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_user_by_name(f->s, "newbie", &u), OHSM_USER_NOT_FOUND);
    check_key(f->s, 50, OHSM_STORE_QUORUM_KEY, key_b, sizeof(key_b));
    assert_int_equal(ohsm_store_user_by_id(f->s, 50, &u), OHSM_OK);
    assert_int_equal(u.version, 2);
}

/* Quorum values: 1 until set, 1..8 for services user/quorum/cluster only, persistent. */
static void test_store_quorum_values(void **state)
{
    struct fx *f = *state;
    uint32_t v = 0;
    for (int svc = OHSM_QS_USER; svc <= OHSM_QS_CLUSTER; svc++) {
        assert_int_equal(ohsm_store_quorum_get(f->s, svc, &v), OHSM_OK);
        assert_int_equal(v, 1);
    }
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_USER, 2), OHSM_OK);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_CLUSTER, OHSM_QUORUM_MAX), OHSM_OK);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_USER, 0), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_USER, OHSM_QUORUM_MAX + 1),
                     OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_NONE, 2), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_REGISTRATION, 2), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_KEY_MGMT, 2), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_REGISTRATION, &v), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_store_quorum_get(f->s, -1, &v), OHSM_ARGUMENTS_BAD);
    reopen(f);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_USER, &v), OHSM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_QUORUM, &v), OHSM_OK);
    assert_int_equal(v, 1);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_CLUSTER, &v), OHSM_OK);
    assert_int_equal(v, OHSM_QUORUM_MAX);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_USER, 1), OHSM_OK);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_USER, &v), OHSM_OK);
    assert_int_equal(v, 1);
}

static void raw_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Rows are untrusted: an oversize or non-blob key, or a quorum value out of range, is OHSM_DB. */
static void test_store_bad_rows(void **state)
{
    struct fx *f = *state;
    struct ohsm_store_user u;
    uint8_t *der = NULL;
    size_t len = 0;
    uint32_t v = 0;
    ohsm_store_close(f->s);
    f->s = NULL;
    raw_sql(f->path, "UPDATE users SET mfa_pub = zeroblob(1025) WHERE id = 1;"
                     "UPDATE users SET mofn_pub = 'text' WHERE id = 2;"
                     "INSERT INTO meta VALUES('quorum.user', '9'), ('quorum.quorum', 'x1');");
    reopen(f);
    assert_int_equal(ohsm_store_user_by_id(f->s, 1, &u), OHSM_DB);
    assert_int_equal(ohsm_store_user_pubkey(f->s, 1, OHSM_STORE_MFA_KEY, &der, &len), OHSM_DB);
    assert_null(der);
    assert_int_equal(ohsm_store_user_by_id(f->s, 2, &u), OHSM_DB);
    assert_int_equal(ohsm_store_user_pubkey(f->s, 2, OHSM_STORE_QUORUM_KEY, &der, &len), OHSM_DB);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_USER, &v), OHSM_DB);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_QUORUM, &v), OHSM_DB);
    ohsm_store_close(f->s);
    f->s = NULL;
    raw_sql(f->path, "UPDATE users SET mfa_pub = zeroblob(0) WHERE id = 1;"
                     "UPDATE users SET mofn_pub = zeroblob(1024) WHERE id = 2;");
    reopen(f);
    assert_int_equal(ohsm_store_user_by_id(f->s, 1, &u), OHSM_DB); /* empty key */
    assert_int_equal(ohsm_store_user_by_id(f->s, 2, &u), OHSM_OK); /* the maximum */
    assert_true(u.mofn);
}

/* A database from a newer openhsm (user_version 4) is refused, not misread. */
static void test_store_newer_schema(void **state)
{
    struct fx *f = *state;
    struct ohsm_store_init in = init_for();
    ohsm_store_close(f->s);
    f->s = NULL;
    raw_sql(f->path, "PRAGMA user_version = 4;");
    assert_int_equal(ohsm_store_open(f->path, &in, &f->s), OHSM_DB);
    assert_null(f->s);
    raw_sql(f->path, "PRAGMA user_version = 3;");
    assert_int_equal(ohsm_store_open(f->path, &in, &f->s), OHSM_OK);
}

/* An issue-4 database (user_version 1, no key columns) is migrated to version 2: users, their
 * password records and counters, objects and metadata kept; the meaningless keyless flags
 * cleared; keys can then be set; reopening again changes nothing. */
static void test_store_migrate_v1(void **state)
{
    struct fx *f = *state;
    char p[128];
    struct ohsm_store *s = NULL;
    struct ohsm_store_user u;
    struct ohsm_store_meta m;
    uint64_t v = 0;
    uint8_t *b = NULL;
    size_t n = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(p, sizeof(p), "%s/v1.db", f->dir);
    raw_sql(p, "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
               "CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
               "UNIQUE, type INTEGER NOT NULL, pwrec BLOB NOT NULL, fail_count INTEGER NOT "
               "NULL DEFAULT 0, mfa INTEGER NOT NULL DEFAULT 0, mofn INTEGER NOT NULL "
               "DEFAULT 0);"
               "CREATE TABLE objects(handle INTEGER PRIMARY KEY, version INTEGER NOT NULL,"
               " sealed BLOB NOT NULL);"
               "CREATE TABLE tombstones(handle INTEGER PRIMARY KEY, version INTEGER NOT NULL,"
               " sealed BLOB NOT NULL);"
               "PRAGMA user_version = 1;"
               "INSERT INTO meta VALUES('cluster_id','cluster-v1'),('hsm_id','hsm-v1'),"
               "('lockout_attempts','5'),('activated','1'),('serial','01020304');"
               "INSERT INTO users(id,name,type,pwrec,fail_count,mfa,mofn) VALUES"
               "(1,'admin',2,zeroblob(52),0,0,0),(2,'app_user',4,zeroblob(52),0,0,0),"
               "(3,'flagged',3,randomblob(52),3,1,1);"
               "INSERT INTO objects VALUES(64, 2, x'0102');");
    struct ohsm_store_init in = init_for();
    assert_int_equal(ohsm_store_open(p, &in, &s), OHSM_OK);
    assert_int_equal(ohsm_store_meta(s, &m), OHSM_OK);
    assert_string_equal(m.hsm_id, "hsm-v1");
    assert_true(m.activated);
    assert_int_equal(ohsm_store_user_by_name(s, "flagged", &u), OHSM_OK);
    assert_int_equal(u.id, 3);
    assert_int_equal(u.type, OHSM_UT_CU);
    assert_int_equal(u.fail_count, 3);
    assert_false(u.mfa);
    assert_false(u.mofn);
    check_key(s, 3, OHSM_STORE_MFA_KEY, NULL, 0);
    assert_int_equal(ohsm_store_obj_get(s, 64, &v, &b, &n), OHSM_OK);
    assert_int_equal(v, 2);
    assert_int_equal(n, 2);
    free(b);
    assert_int_equal(ohsm_store_user_set_pubkey(s, 3, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a)),
                     OHSM_OK);
    ohsm_store_close(s);
    assert_int_equal(ohsm_store_open(p, &in, &s), OHSM_OK);
    check_key(s, 3, OHSM_STORE_MFA_KEY, key_a, sizeof(key_a));
    ohsm_store_close(s);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* An issue-3 database (meta and users only, no objects tables) opens, keeps its users and gains
 * the object tables. */
static void test_store_migrate_issue3(void **state)
{
    struct fx *f = *state;
    char p[128];
    sqlite3 *db = NULL;
    struct ohsm_store *s = NULL;
    struct ohsm_store_user u;
    struct ohsm_store_meta m;
    uint64_t h = 0;
    snprintf(p, sizeof(p), "%s/old.db", f->dir);
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "CREATE TABLE meta(k TEXT PRIMARY KEY, v TEXT NOT NULL);"
                     "CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL "
                     "UNIQUE, type INTEGER NOT NULL, pwrec BLOB NOT NULL, fail_count INTEGER NOT "
                     "NULL DEFAULT 0, mfa INTEGER NOT NULL DEFAULT 0, mofn INTEGER NOT NULL "
                     "DEFAULT 0);"
                     "INSERT INTO meta VALUES('cluster_id','cluster-old'),('hsm_id','hsm-old'),"
                     "('lockout_attempts','5'),('activated','1'),('serial','0a0b0c0d');"
                     "INSERT INTO users(id,name,type,pwrec) VALUES(1,'admin',2,"
                     "zeroblob(52)),(2,'app_user',4,zeroblob(52)),(3,'olduser',3,zeroblob(52));",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct ohsm_store_init in = init_for();
    assert_int_equal(ohsm_store_open(p, &in, &s), OHSM_OK);
    assert_int_equal(ohsm_store_meta(s, &m), OHSM_OK);
    assert_string_equal(m.hsm_id, "hsm-old");
    assert_true(m.activated);
    assert_int_equal(ohsm_store_user_by_name(s, "olduser", &u), OHSM_OK);
    assert_int_equal(u.id, 3);
    assert_false(u.mfa);
    assert_int_equal(ohsm_store_user_set_pubkey(s, 3, OHSM_STORE_QUORUM_KEY, key_a, sizeof(key_a)),
                     OHSM_OK);
    assert_int_equal(ohsm_store_obj_put(s, 64, 1, (const uint8_t *)"x", 1), OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(s, 0, &h), OHSM_OK);
    assert_int_equal(h, ohsm_handle_make(0, 1));
    ohsm_store_close(s);
}


/* Issue 12: rebind gives the closed database new cluster and HSM ids and a new serial and keeps
 * everything else (users, fail counters, activation, objects, handle counter, quorum values,
 * masking-key fingerprint); bad ids, a missing file (not created) and a file that is not a store
 * are refused and change nothing. */
static void test_store_rebind(void **state)
{
    struct fx *f = *state;
    struct ohsm_store_meta before, after;
    struct ohsm_store_user u;
    const uint8_t fp[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    uint8_t got_fp[8];
    bool present = false;
    uint32_t count = 0, v = 0;
    uint64_t h1 = 0, h2 = 0;
    char path[128];

    assert_int_equal(ohsm_store_fail_inc(f->s, 2, &count), OHSM_OK);
    assert_int_equal(ohsm_store_quorum_set(f->s, OHSM_QS_USER, 3), OHSM_OK);
    assert_int_equal(ohsm_store_set_mask_fp(f->s, fp), OHSM_OK);
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(f->s, 1, &h1), OHSM_OK);
    assert_int_equal(ohsm_store_commit(f->s), OHSM_OK);
    assert_int_equal(put(f->s, h1, 4, "sealed"), OHSM_OK);
    assert_int_equal(ohsm_store_meta(f->s, &before), OHSM_OK);
    ohsm_store_close(f->s);
    f->s = NULL;

    const char *bad[] = {"", "has space", "x\x01", "0123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_store_rebind(f->path, bad[i], "hsm-new"), OHSM_ARGUMENTS_BAD);
        assert_int_equal(ohsm_store_rebind(f->path, "cluster-new", bad[i]), OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(ohsm_store_rebind(NULL, "cluster-new", "hsm-new"), OHSM_ARGUMENTS_BAD);
    snprintf(path, sizeof(path), "%s/missing.db", f->dir);
    assert_int_equal(ohsm_store_rebind(path, "cluster-new", "hsm-new"), OHSM_DB);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/other.db", f->dir);
    raw_sql(path, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
    assert_int_equal(ohsm_store_rebind(path, "cluster-new", "hsm-new"), OHSM_DB);

    reopen(f);
    assert_int_equal(ohsm_store_meta(f->s, &after), OHSM_OK);
    assert_memory_equal(&before, &after, sizeof(before)); /* the refusals changed nothing */
    ohsm_store_close(f->s);
    f->s = NULL;

    assert_int_equal(ohsm_store_rebind(f->path, "cluster-new", "hsm-new"), OHSM_OK);
    snprintf(path, sizeof(path), "%s-wal", f->path);
    assert_int_equal(access(path, F_OK), -1); /* one file again */
    reopen(f);
    assert_int_equal(ohsm_store_meta(f->s, &after), OHSM_OK);
    assert_string_equal(after.cluster_id, "cluster-new");
    assert_string_equal(after.hsm_id, "hsm-new");
    assert_string_not_equal(after.serial, before.serial);
    assert_int_equal(strlen(after.serial), 8);
    assert_int_equal(after.lockout_attempts, before.lockout_attempts);
    assert_int_equal(after.activated, before.activated);
    assert_int_equal(ohsm_store_user_by_id(f->s, 2, &u), OHSM_OK);
    assert_string_equal(u.name, "app_user");
    assert_int_equal(u.fail_count, 1);
    assert_int_equal(ohsm_store_user_by_id(f->s, 1, &u), OHSM_OK);
    assert_int_equal(u.type, OHSM_UT_PRECO);
    assert_int_equal(ohsm_store_quorum_get(f->s, OHSM_QS_USER, &v), OHSM_OK);
    assert_int_equal(v, 3);
    assert_int_equal(ohsm_store_mask_fp(f->s, got_fp, &present), OHSM_OK);
    assert_true(present);
    assert_memory_equal(got_fp, fp, 8);
    assert_int_equal(ohsm_store_obj_count(f->s, &count), OHSM_OK);
    assert_int_equal(count, 1);
    assert_int_equal(ohsm_store_begin(f->s), OHSM_OK);
    assert_int_equal(ohsm_store_handle_next(f->s, 1, &h2), OHSM_OK);
    assert_int_equal(ohsm_store_commit(f->s), OHSM_OK);
    assert_true(h2 > h1); /* the handle counter went with the data */
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
        cmocka_unit_test_setup_teardown(test_store_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_tombstones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_handle_alloc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_object_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_mask_fp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_user_put, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_user_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migrate_issue3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pubkeys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pubkey_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pubkey_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_user_put_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_quorum_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_bad_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_migrate_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_rebind, setup, teardown),
    };
    for (size_t i = 0; i < sizeof(key_b); i++) {
        key_b[i] = (uint8_t)(i * 7 + 1);
        key_a[i % sizeof(key_a)] = (uint8_t)(i * 3 + 5);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
