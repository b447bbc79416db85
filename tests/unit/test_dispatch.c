/* SPDX-License-Identifier: Apache-2.0
 * The HSM's rules, request by request, without sockets: activation, the PRECO's limits,
 * permission checks per role, lockout and its reset, last-admin and self-deletion refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hsm/hsm.h"

struct fx {
    char dir[64];
    struct ohsm_hsm h;
};

static int setup_n(void **state, uint32_t lockout)
{
    struct fx *f = calloc(1, sizeof(*f));
    char path[128];
    snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/ohsm-disp-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/hsm.db", f->dir);
    f->h.cost = (struct ohsm_pwhash_cost){4, 8, 1};
    f->h.max_sessions = 8;
    pthread_mutex_init(&f->h.lock, NULL);
    struct ohsm_store_init in = {"cluster-t", "hsm-t", lockout, (const uint8_t *)"appuserpw", 9,
                                 &f->h.cost};
    assert_int_equal(ohsm_store_open(path, &in, &f->h.store), OHSM_OK);
    assert_int_equal(ohsm_store_meta(f->h.store, &f->h.meta), OHSM_OK);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_n(state, 5);
}

static int setup20(void **state)
{
    return setup_n(state, 20);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[128];
    ohsm_store_close(f->h.store);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static ohsm_rv login(struct fx *f, struct ohsm_session *s, enum ohsm_utype t, const char *u,
                     const char *pw)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq m = OHSM__LOGIN_REQ__INIT;
    struct ohsm_reply r;
    m.user_type = (uint32_t)t;
    m.username = (char *)u;
    m.password.data = (uint8_t *)pw;
    m.password.len = strlen(pw);
    q.id = 1;
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &m;
    ohsm_reply_init(&r, 1);
    ohsm_dispatch(&f->h, s, &q, &r);
    ohsm_reply_clear(&r);
    return (ohsm_rv)r.resp.rv;
}

static ohsm_rv user_op(struct fx *f, struct ohsm_session *s, int op, enum ohsm_utype t,
                       const char *u, const char *pw)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CreateUserReq c = OHSM__CREATE_USER_REQ__INIT;
    Ohsm__DeleteUserReq d = OHSM__DELETE_USER_REQ__INIT;
    Ohsm__ChangePasswordReq p = OHSM__CHANGE_PASSWORD_REQ__INIT;
    struct ohsm_reply r;
    q.id = 2;
    q.op_case = (Ohsm__Request__OpCase)op;
    if (op == OHSM__REQUEST__OP_CREATE_USER) {
        c.user_type = (uint32_t)t;
        c.username = (char *)u;
        c.password.data = (uint8_t *)pw;
        c.password.len = strlen(pw);
        q.create_user = &c;
    } else if (op == OHSM__REQUEST__OP_DELETE_USER) {
        d.user_type = (uint32_t)t;
        d.username = (char *)u;
        q.delete_user = &d;
    } else {
        p.user_type = (uint32_t)t;
        p.username = (char *)u;
        p.password.data = (uint8_t *)pw;
        p.password.len = strlen(pw);
        q.change_password = &p;
    }
    ohsm_reply_init(&r, 2);
    ohsm_dispatch(&f->h, s, &q, &r);
    ohsm_reply_clear(&r);
    return (ohsm_rv)r.resp.rv;
}

#define CREATE OHSM__REQUEST__OP_CREATE_USER
#define DELETE OHSM__REQUEST__OP_DELETE_USER
#define CHPW OHSM__REQUEST__OP_CHANGE_PASSWORD

static struct ohsm_store_user get(struct fx *f, const char *name)
{
    struct ohsm_store_user u;
    assert_int_equal(ohsm_store_user_by_name(f->h.store, name, &u), OHSM_OK);
    return u;
}

static void activate(struct fx *f, struct ohsm_session *s)
{
    assert_int_equal(login(f, s, OHSM_UT_PRECO, "admin", "password"), OHSM_OK);
    assert_int_equal(user_op(f, s, CHPW, OHSM_UT_PRECO, "admin", "adminpw1"), OHSM_OK);
}

/* Before activation the PRECO can do nothing but change its own password, which activates. */
static void test_dispatch_preco_then_activate(void **state)
{
    struct fx *f = *state;
    struct ohsm_session s = {false, 0};
    assert_int_equal(login(f, &s, OHSM_UT_PRECO, "admin", "password"), OHSM_OK);
    assert_int_equal(user_op(f, &s, CREATE, OHSM_UT_CU, "alice", "alicepw1"), OHSM_NOT_ACTIVATED);
    assert_int_equal(user_op(f, &s, CHPW, OHSM_UT_AU, "app_user", "whatever1"),
                     OHSM_NOT_ACTIVATED);
    assert_int_equal(user_op(f, &s, CHPW, OHSM_UT_PRECO, "admin", "adminpw1"), OHSM_OK);
    assert_int_equal(get(f, "admin").type, OHSM_UT_CO);
    /* the same session is now an admin */
    assert_int_equal(user_op(f, &s, CREATE, OHSM_UT_CU, "alice", "alicepw1"), OHSM_OK);
    struct ohsm_session s2 = {false, 0};
    assert_int_equal(login(f, &s2, OHSM_UT_PRECO, "admin", "adminpw1"), OHSM_USER_TYPE_INVALID);
    assert_int_equal(login(f, &s2, OHSM_UT_CO, "ADMIN", "adminpw1"), OHSM_OK);
}

/* Only admins manage users; unauthenticated sessions get "not logged in". */
static void test_dispatch_manage_users_by_role(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co = {false, 0}, cu = {false, 0}, au = {false, 0}, none = {false, 0};
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    assert_int_equal(login(f, &au, OHSM_UT_AU, "app_user", "appuserpw"), OHSM_OK);
    assert_int_equal(user_op(f, &cu, CREATE, OHSM_UT_CU, "x1", "xpass123"), OHSM_ACCESS_DENIED);
    assert_int_equal(user_op(f, &au, CREATE, OHSM_UT_CU, "x1", "xpass123"), OHSM_ACCESS_DENIED);
    assert_int_equal(user_op(f, &none, CREATE, OHSM_UT_CU, "x1", "xpass123"),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(user_op(f, &cu, DELETE, OHSM_UT_CO, "admin", ""), OHSM_ACCESS_DENIED);
    /* change own: allowed for CU and AU; change other's: admin only */
    assert_int_equal(user_op(f, &cu, CHPW, OHSM_UT_CU, "cu1", "cu1pass2"), OHSM_OK);
    assert_int_equal(user_op(f, &au, CHPW, OHSM_UT_AU, "app_user", "appuserpw2"), OHSM_OK);
    assert_int_equal(user_op(f, &cu, CHPW, OHSM_UT_CO, "admin", "hacked123"), OHSM_ACCESS_DENIED);
    assert_int_equal(user_op(f, &none, CHPW, OHSM_UT_CU, "cu1", "hacked123"),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pass3"), OHSM_OK);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_PRECO, "p", "ppppppp1"),
                     OHSM_USER_TYPE_INVALID);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "CU1", "cu1pass1"), OHSM_USER_EXISTS);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "bad-name", "cu1pass1"),
                     OHSM_USERNAME_INVALID);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "shortpw", "123456"),
                     OHSM_PIN_LEN_RANGE);
}

/* Self-deletion, the last admin, the appliance user and a wrong type are refused. */
static void test_dispatch_delete_rules(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co = {false, 0}, co2 = {false, 0};
    activate(f, &co);
    assert_int_equal(user_op(f, &co, DELETE, OHSM_UT_CO, "admin", ""), OHSM_DELETE_SELF);
    assert_int_equal(user_op(f, &co, DELETE, OHSM_UT_AU, "app_user", ""), OHSM_ACCESS_DENIED);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CO, "admin2", "admin2pw"), OHSM_OK);
    assert_int_equal(user_op(f, &co, DELETE, OHSM_UT_CU, "admin2", ""), OHSM_USER_TYPE_INVALID);
    assert_int_equal(user_op(f, &co, DELETE, OHSM_UT_CU, "nobody", ""), OHSM_USER_NOT_FOUND);
    assert_int_equal(login(f, &co2, OHSM_UT_CO, "admin2", "admin2pw"), OHSM_OK);
    assert_int_equal(user_op(f, &co2, DELETE, OHSM_UT_CO, "admin", ""), OHSM_OK);
    /* the deleted admin's session lost its rights at once */
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "z1", "zpass123"),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(user_op(f, &co2, DELETE, OHSM_UT_CO, "admin2", ""), OHSM_DELETE_SELF);
}

/* Five failures lock; then even the right password is refused; an admin's reset unlocks. */
static void test_dispatch_lockout(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co = {false, 0}, cu = {false, 0};
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "bob", "bobpass1"), OHSM_OK);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "wrongpw1"), OHSM_PIN_INCORRECT);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "bobpass1"), OHSM_OK); /* resets */
    assert_int_equal(get(f, "bob").fail_count, 0);
    assert_int_equal(user_op(f, &cu, CHPW, OHSM_UT_CU, "bob", "bobpass1"), OHSM_OK);
    cu.logged_in = false;
    for (int i = 1; i <= 5; i++) {
        assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "wrongpw1"), OHSM_PIN_INCORRECT);
        assert_int_equal(get(f, "bob").fail_count, i);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "bobpass1"), OHSM_PIN_LOCKED);
    assert_int_equal(get(f, "bob").fail_count, 5);
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "bob", "bobpass2"), OHSM_OK);
    assert_int_equal(get(f, "bob").fail_count, 0);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "bobpass2"), OHSM_OK);
    /* unknown users and wrong types do not lock anybody */
    struct ohsm_session x = {false, 0};
    assert_int_equal(login(f, &x, OHSM_UT_CU, "ghost", "whatever1"), OHSM_PIN_INCORRECT);
    assert_int_equal(login(f, &x, OHSM_UT_CO, "bob", "whatever1"), OHSM_USER_TYPE_INVALID);
    assert_int_equal(get(f, "bob").fail_count, 0);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "bobpass2"), OHSM_USER_ALREADY_LOGGED_IN);
}

/* With the legacy limit of 20, the 6th..20th failures still do not lock. */
static void test_dispatch_lockout_legacy20(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co = {false, 0}, cu = {false, 0};
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "carol", "carolpw1"), OHSM_OK);
    for (int i = 1; i <= 19; i++) {
        assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "wrongpw1"), OHSM_PIN_INCORRECT);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "carolpw1"), OHSM_OK);
    cu.logged_in = false;
    for (int i = 1; i <= 20; i++) {
        assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "wrongpw1"), OHSM_PIN_INCORRECT);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "carolpw1"), OHSM_PIN_LOCKED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dispatch_preco_then_activate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_manage_users_by_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_delete_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_lockout_legacy20, setup20, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
