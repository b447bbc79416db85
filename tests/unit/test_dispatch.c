/* SPDX-License-Identifier: Apache-2.0
 * The HSM's rules, request by request, without sockets: activation, the PRECO's limits,
 * permission checks per role, lockout and its reset, last-admin and self-deletion refusals; and
 * for keys: ownership and sharing, admins see but cannot use, session objects, masked objects
 * between two HSMs of one cluster (tampering, tombstones, versions), attribute rules, forbidden
 * uses, wrapping, sync status and user sync, persistence across a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hsm/handlers.h"
#include "hsm/hsm.h"
#include "openhsm/mech.h"
#include "openhsm/obj.h"

/* One HSM of the fixture: its database directory and state. */
struct one {
    char path[128];
    struct ohsm_hsm h;
};

struct fx {
    char dir[64];
    struct ohsm_hsm h; /* HSM A (slot 3) */
    struct one b;      /* HSM B (slot 7), same cluster masking key */
};

static const uint8_t cluster_mk[OHSM_MASKING_KEY_LEN] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                         12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                         23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void hsm_open(struct ohsm_hsm *h, const char *path, uint32_t lockout, uint32_t slot)
{
    memset(h, 0, sizeof(*h));
    h->cost = (struct ohsm_pwhash_cost){4, 8, 1};
    h->max_sessions = 8;
    h->slot = slot;
    pthread_mutex_init(&h->lock, NULL);
    struct ohsm_store_init in = {"cluster-t", "hsm-t", lockout, (const uint8_t *)"appuserpw",
                                 9,           &h->cost};
    assert_int_equal(ohsm_store_open(path, &in, &h->store), OHSM_OK);
    assert_int_equal(ohsm_store_meta(h->store, &h->meta), OHSM_OK);
    assert_int_equal(ohsm_mask_key_new(cluster_mk, &h->mk), OHSM_OK);
    size_t skipped = 99;
    assert_int_equal(ohsm_hsm_load(h, &skipped), OHSM_OK);
    assert_int_equal(skipped, 0);
}

static void hsm_close(struct ohsm_hsm *h)
{
    ohsm_objtab_free(h->objs);
    ohsm_mask_key_free(h->mk);
    ohsm_store_close(h->store);
    h->objs = NULL;
    h->mk = NULL;
    h->store = NULL;
}

static int setup_n(void **state, uint32_t lockout)
{
    struct fx *f = calloc(1, sizeof(*f));
    char path[128];
    snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/ohsm-disp-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(path, sizeof(path), "%s/hsm.db", f->dir);
    hsm_open(&f->h, path, lockout, 3);
    snprintf(f->b.path, sizeof(f->b.path), "%s/hsm-b.db", f->dir);
    hsm_open(&f->b.h, f->b.path, lockout, 7);
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
    hsm_close(&f->h);
    hsm_close(&f->b.h);
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
    struct ohsm_session s;
    ohsm_session_init(&f->h, &s);
    assert_int_equal(login(f, &s, OHSM_UT_PRECO, "admin", "password"), OHSM_OK);
    assert_int_equal(user_op(f, &s, CREATE, OHSM_UT_CU, "alice", "alicepw1"), OHSM_NOT_ACTIVATED);
    assert_int_equal(user_op(f, &s, CHPW, OHSM_UT_AU, "app_user", "whatever1"), OHSM_NOT_ACTIVATED);
    assert_int_equal(user_op(f, &s, CHPW, OHSM_UT_PRECO, "admin", "adminpw1"), OHSM_OK);
    assert_int_equal(get(f, "admin").type, OHSM_UT_CO);
    /* the same session is now an admin */
    assert_int_equal(user_op(f, &s, CREATE, OHSM_UT_CU, "alice", "alicepw1"), OHSM_OK);
    struct ohsm_session s2;
    ohsm_session_init(&f->h, &s2);
    assert_int_equal(login(f, &s2, OHSM_UT_PRECO, "admin", "adminpw1"), OHSM_USER_TYPE_INVALID);
    assert_int_equal(login(f, &s2, OHSM_UT_CO, "ADMIN", "adminpw1"), OHSM_OK);
}

/* Only admins manage users; unauthenticated sessions get "not logged in". */
static void test_dispatch_manage_users_by_role(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, cu, au, none;
    ohsm_session_init(&f->h, &co);
    ohsm_session_init(&f->h, &cu);
    ohsm_session_init(&f->h, &au);
    ohsm_session_init(&f->h, &none);
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
    /* the logged-in-user rule: not while cu1 has a live session here; after its logout, yes */
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pass3"), OHSM_USER_LOGGED_IN);
    ohsm_session_end(&f->h, &cu);
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "cu1", "cu1pass3"), OHSM_OK);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_PRECO, "p", "ppppppp1"),
                     OHSM_USER_TYPE_INVALID);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "CU1", "cu1pass1"), OHSM_USER_EXISTS);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "bad-name", "cu1pass1"),
                     OHSM_USERNAME_INVALID);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "shortpw", "123456"), OHSM_PIN_LEN_RANGE);
}

/* Self-deletion, the last admin, the appliance user and a wrong type are refused. */
static void test_dispatch_delete_rules(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, co2;
    ohsm_session_init(&f->h, &co);
    ohsm_session_init(&f->h, &co2);
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
    struct ohsm_session co, cu;
    ohsm_session_init(&f->h, &co);
    ohsm_session_init(&f->h, &cu);
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "bob", "bobpass1"), OHSM_OK);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "wrongpw1"), OHSM_PIN_INCORRECT);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "bobpass1"), OHSM_OK); /* resets */
    assert_int_equal(get(f, "bob").fail_count, 0);
    assert_int_equal(user_op(f, &cu, CHPW, OHSM_UT_CU, "bob", "bobpass1"), OHSM_OK);
    ohsm_session_end(&f->h, &cu);
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
    struct ohsm_session x;
    ohsm_session_init(&f->h, &x);
    assert_int_equal(login(f, &x, OHSM_UT_CU, "ghost", "whatever1"), OHSM_PIN_INCORRECT);
    assert_int_equal(login(f, &x, OHSM_UT_CO, "bob", "whatever1"), OHSM_USER_TYPE_INVALID);
    assert_int_equal(get(f, "bob").fail_count, 0);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "bob", "bobpass2"), OHSM_USER_ALREADY_LOGGED_IN);
}

/* With the legacy limit of 20, the 6th..20th failures still do not lock. */
/* Attempts in flight hold failure slots: with the limit's worth of attempts being checked, a
 * further attempt is refused as locked before any hashing, and nothing is counted for it. */
static void test_dispatch_lockout_inflight(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, cu;
    ohsm_session_init(&f->h, &co);
    ohsm_session_init(&f->h, &cu);
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "dave", "davepass1"), OHSM_OK);
    uint32_t id = get(f, "dave").id;
    for (int i = 0; i < 5; i++) { /* five checks under way on other connections */
        assert_int_equal(ohsm_ustate_attempt_take(&f->h.ustate, id, 0, 5, NULL), OHSM_OK);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "dave", "davepass1"), OHSM_PIN_LOCKED);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "dave", "wrongpw1"), OHSM_PIN_LOCKED);
    assert_int_equal(get(f, "dave").fail_count, 0);
    ohsm_ustate_attempt_put(&f->h.ustate, id); /* one ended (right password: no failure) */
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "dave", "wrongpw1"), OHSM_PIN_INCORRECT);
    assert_int_equal(get(f, "dave").fail_count, 1);
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "dave", "davepass1"), OHSM_PIN_LOCKED);
    for (int i = 0; i < 4; i++) {
        ohsm_ustate_attempt_put(&f->h.ustate, id);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "dave", "davepass1"), OHSM_OK);
}

/* The logged-in-user rule: no password change of a user with a live session here other than the
 * caller's own, for an admin changing it and for the user itself with a second session. */
static void test_dispatch_logged_in_rule(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, a1, a2;
    ohsm_session_init(&f->h, &co);
    ohsm_session_init(&f->h, &a1);
    ohsm_session_init(&f->h, &a2);
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "alice", "alicepw1"), OHSM_OK);
    assert_int_equal(login(f, &a1, OHSM_UT_CU, "alice", "alicepw1"), OHSM_OK);
    assert_int_equal(user_op(f, &a1, CHPW, OHSM_UT_CU, "alice", "alicepw2"), OHSM_OK); /* alone */
    assert_int_equal(login(f, &a2, OHSM_UT_CU, "alice", "alicepw2"), OHSM_OK);
    assert_int_equal(user_op(f, &a1, CHPW, OHSM_UT_CU, "alice", "alicepw3"), OHSM_USER_LOGGED_IN);
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "alice", "alicepw3"), OHSM_USER_LOGGED_IN);
    ohsm_session_end(&f->h, &a2);
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "alice", "alicepw3"), OHSM_USER_LOGGED_IN);
    ohsm_session_end(&f->h, &a1);
    assert_int_equal(user_op(f, &co, CHPW, OHSM_UT_CU, "alice", "alicepw3"), OHSM_OK);
    assert_int_equal(login(f, &a1, OHSM_UT_CU, "alice", "alicepw2"), OHSM_PIN_INCORRECT);
    assert_int_equal(login(f, &a1, OHSM_UT_CU, "alice", "alicepw3"), OHSM_OK);
}

static void test_dispatch_lockout_legacy20(void **state)
{
    struct fx *f = *state;
    struct ohsm_session co, cu;
    ohsm_session_init(&f->h, &co);
    ohsm_session_init(&f->h, &cu);
    activate(f, &co);
    assert_int_equal(user_op(f, &co, CREATE, OHSM_UT_CU, "carol", "carolpw1"), OHSM_OK);
    for (int i = 1; i <= 19; i++) {
        assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "wrongpw1"), OHSM_PIN_INCORRECT);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "carolpw1"), OHSM_OK);
    ohsm_session_end(&f->h, &cu);
    for (int i = 1; i <= 20; i++) {
        assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "wrongpw1"), OHSM_PIN_INCORRECT);
    }
    assert_int_equal(login(f, &cu, OHSM_UT_CU, "carol", "carolpw1"), OHSM_PIN_LOCKED);
}

/* ---- keys ---- */

static ohsm_rv run(struct ohsm_hsm *h, struct ohsm_session *s, Ohsm__Request *q,
                   struct ohsm_reply *r)
{
    q->id = 9;
    ohsm_reply_init(r, 9);
    ohsm_dispatch(h, s, q, r);
    return (ohsm_rv)r->resp.rv;
}

/* A login; group (NULL: none) names a session-object group of OHSM_SGROUP_TOKEN_LEN bytes. */
static ohsm_rv login_group(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t,
                           const char *u, const char *pw, const uint8_t *group)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LoginReq m = OHSM__LOGIN_REQ__INIT;
    struct ohsm_reply r;
    m.user_type = (uint32_t)t;
    m.username = (char *)u;
    m.password.data = (uint8_t *)pw;
    m.password.len = strlen(pw);
    if (group != NULL) {
        m.group.data = (uint8_t *)group;
        m.group.len = OHSM_SGROUP_TOKEN_LEN;
    }
    q.op_case = OHSM__REQUEST__OP_LOGIN;
    q.login = &m;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv hlogin(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t, const char *u,
                      const char *pw)
{
    return login_group(h, s, t, u, pw, NULL);
}

static ohsm_rv hcreate(struct ohsm_hsm *h, struct ohsm_session *s, enum ohsm_utype t, const char *u,
                       const char *pw)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CreateUserReq c = OHSM__CREATE_USER_REQ__INIT;
    struct ohsm_reply r;
    c.user_type = (uint32_t)t;
    c.username = (char *)u;
    c.password.data = (uint8_t *)pw;
    c.password.len = strlen(pw);
    q.op_case = OHSM__REQUEST__OP_CREATE_USER;
    q.create_user = &c;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv hlogout(struct ohsm_hsm *h, struct ohsm_session *s)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__LogoutReq m = OHSM__LOGOUT_REQ__INIT;
    struct ohsm_reply r;
    q.op_case = OHSM__REQUEST__OP_LOGOUT;
    q.logout = &m;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

/* Sessions on one HSM: an admin, crypto users cu1 and cu2, the appliance user. */
struct who {
    struct ohsm_session co, cu1, cu2, au;
};

/* Activates HSM h, creates cu1 and cu2 and logs everyone in. */
static void people(struct ohsm_hsm *h, struct who *w)
{
    ohsm_session_init(h, &w->co);
    ohsm_session_init(h, &w->cu1);
    ohsm_session_init(h, &w->cu2);
    ohsm_session_init(h, &w->au);
    assert_int_equal(hlogin(h, &w->co, OHSM_UT_PRECO, "admin", "password"), OHSM_OK);
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__ChangePasswordReq p = OHSM__CHANGE_PASSWORD_REQ__INIT;
    struct ohsm_reply r;
    p.user_type = OHSM_UT_PRECO;
    p.username = (char *)"admin";
    p.password.data = (uint8_t *)"adminpw1";
    p.password.len = 8;
    q.op_case = OHSM__REQUEST__OP_CHANGE_PASSWORD;
    q.change_password = &p;
    assert_int_equal(run(h, &w->co, &q, &r), OHSM_OK);
    ohsm_reply_clear(&r);
    assert_int_equal(hcreate(h, &w->co, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    assert_int_equal(hcreate(h, &w->co, OHSM_UT_CU, "cu2", "cu2pass1"), OHSM_OK);
    assert_int_equal(hlogin(h, &w->cu1, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    assert_int_equal(hlogin(h, &w->cu2, OHSM_UT_CU, "cu2", "cu2pass1"), OHSM_OK);
    assert_int_equal(hlogin(h, &w->au, OHSM_UT_AU, "app_user", "appuserpw"), OHSM_OK);
}

/* A key as the reply gave it: record and (token keys) masked object. */
struct made {
    struct ohsm_obj o[2];
    size_t n;
    uint8_t *masked[2];
    size_t masked_len[2];
    size_t nmasked;
};

static void made_free(struct made *m)
{
    free(m->masked[0]);
    free(m->masked[1]);
    memset(m, 0, sizeof(*m));
}

static void take_key(struct ohsm_reply *r, struct made *m)
{
    memset(m, 0, sizeof(*m));
    assert_int_equal(r->resp.body_case, OHSM__RESPONSE__BODY_KEY);
    m->n = r->resp.key->n_records;
    for (size_t i = 0; i < m->n; i++) {
        assert_int_equal(
            ohsm_obj_decode(r->resp.key->records[i].data, r->resp.key->records[i].len, &m->o[i]),
            OHSM_OK);
    }
    m->nmasked = r->resp.key->n_masked;
    for (size_t i = 0; i < m->nmasked; i++) {
        m->masked_len[i] = r->resp.key->masked[i].len;
        m->masked[i] = malloc(m->masked_len[i]);
        memcpy(m->masked[i], r->resp.key->masked[i].data, m->masked_len[i]);
    }
}

static ohsm_rv gen(struct ohsm_hsm *h, struct ohsm_session *s, uint32_t ktype, uint32_t length,
                   uint32_t curve, const struct ohsm_tmpl_buf *t, const char *share, struct made *m)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
    struct ohsm_reply r;
    char *sh[1] = {(char *)share};
    g.ktype = ktype;
    g.length = length;
    g.curve = curve;
    if (t != NULL) {
        g.template_.data = (uint8_t *)t->buf;
        g.template_.len = t->len;
    }
    if (share != NULL) {
        g.share = sh;
        g.n_share = 1;
    }
    q.op_case = OHSM__REQUEST__OP_KEY_GEN;
    q.key_gen = &g;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        take_key(&r, m);
    }
    ohsm_reply_clear(&r);
    return rv;
}

/* An AES-256 token key of cu with encrypt/decrypt/wrap/unwrap true. */
static struct made aes_key(struct ohsm_hsm *h, struct ohsm_session *s, bool extractable)
{
    struct ohsm_tmpl_buf t;
    struct made m;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, "k", 1);
    ohsm_tmpl_put_bool(&t, OHSM_A_ENCRYPT, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_DECRYPT, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_WRAP, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_UNWRAP, true);
    ohsm_tmpl_put_bool(&t, OHSM_A_EXTRACTABLE, extractable);
    assert_int_equal(gen(h, s, OHSM_KT_AES, 32, 0, &t, NULL, &m), OHSM_OK);
    return m;
}

static ohsm_rv key_get(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle,
                       struct ohsm_obj *o)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGetReq g = OHSM__KEY_GET_REQ__INIT;
    struct ohsm_reply r;
    struct made m;
    g.handle = handle;
    q.op_case = OHSM__REQUEST__OP_KEY_GET;
    q.key_get = &g;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        take_key(&r, &m);
        if (o != NULL) {
            *o = m.o[0];
        }
    }
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv key_delete(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyDeleteReq d = OHSM__KEY_DELETE_REQ__INIT;
    struct ohsm_reply r;
    d.handle = handle;
    q.op_case = OHSM__REQUEST__OP_KEY_DELETE;
    q.key_delete = &d;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv set_attrs(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle,
                         const struct ohsm_tmpl_buf *t)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeySetAttrReq a = OHSM__KEY_SET_ATTR_REQ__INIT;
    struct ohsm_reply r;
    a.handle = handle;
    a.template_.data = (uint8_t *)t->buf;
    a.template_.len = t->len;
    q.op_case = OHSM__REQUEST__OP_KEY_SET_ATTR;
    q.key_set_attr = &a;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv set_bool(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle, uint32_t id,
                        bool v)
{
    struct ohsm_tmpl_buf t;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, id, v);
    return set_attrs(h, s, handle, &t);
}

static ohsm_rv share(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle, const char *user,
                     bool on)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyShareReq a = OHSM__KEY_SHARE_REQ__INIT;
    struct ohsm_reply r;
    a.handle = handle;
    a.username = (char *)user;
    a.share = on;
    q.op_case = OHSM__REQUEST__OP_KEY_SHARE;
    q.key_share = &a;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

/* Runs a crypto operation; out (may be NULL) gets a malloc'd copy of the data, iv the iv. */
static ohsm_rv do_crypt(struct ohsm_hsm *h, struct ohsm_session *s, Ohsm__CryptoOp op,
                        uint64_t handle, Ohsm__Mech *mech, const uint8_t *in, size_t in_len,
                        const uint8_t *sig, size_t sig_len, uint8_t **out, size_t *out_len,
                        uint8_t iv[16], size_t *iv_len)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CryptoReq c = OHSM__CRYPTO_REQ__INIT;
    struct ohsm_reply r;
    c.op = op;
    c.handle = handle;
    c.mech = mech;
    c.data.data = (uint8_t *)in;
    c.data.len = in_len;
    c.signature.data = (uint8_t *)sig;
    c.signature.len = sig_len;
    q.op_case = OHSM__REQUEST__OP_CRYPTO;
    q.crypto = &c;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK && out != NULL) {
        assert_int_equal(r.resp.body_case, OHSM__RESPONSE__BODY_DATA);
        *out_len = r.resp.data->data.len;
        *out = malloc(*out_len + 1);
        memcpy(*out, r.resp.data->data.data, *out_len);
        if (iv != NULL) {
            *iv_len = r.resp.data->iv.len;
            memcpy(iv, r.resp.data->iv.data, r.resp.data->iv.len);
        }
    }
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv gcm_encrypt(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle)
{
    Ohsm__Mech m = OHSM__MECH__INIT;
    m.mech = OHSM_M_AES_GCM;
    return do_crypt(h, s, OHSM__CRYPTO_OP__ENCRYPT, handle, &m, (const uint8_t *)"hello", 5, NULL,
                    0, NULL, NULL, NULL, NULL);
}

static ohsm_rv masked_insert(struct ohsm_hsm *h, struct ohsm_session *s, const uint8_t *p, size_t n,
                             bool replace)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq m = OHSM__MASKED_INSERT_REQ__INIT;
    struct ohsm_reply r;
    m.masked.data = (uint8_t *)p;
    m.masked.len = n;
    m.replace = replace;
    q.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    q.masked_insert = &m;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv masked_extract(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t handle,
                              uint8_t **out, size_t *n)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedExtractReq m = OHSM__MASKED_EXTRACT_REQ__INIT;
    struct ohsm_reply r;
    m.handle = handle;
    q.op_case = OHSM__REQUEST__OP_MASKED_EXTRACT;
    q.masked_extract = &m;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        *n = r.resp.masked->masked.len;
        *out = malloc(*n);
        memcpy(*out, r.resp.masked->masked.data, *n);
    }
    ohsm_reply_clear(&r);
    return rv;
}

/* Handles found by a session (template t may be NULL), one page of at most max after `after`. */
static ohsm_rv find(struct ohsm_hsm *h, struct ohsm_session *s, const struct ohsm_tmpl_buf *t,
                    uint64_t after, uint32_t max, uint64_t *handles, size_t *n, bool *more)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyFindReq fr = OHSM__KEY_FIND_REQ__INIT;
    struct ohsm_reply r;
    if (t != NULL) {
        fr.template_.data = (uint8_t *)t->buf;
        fr.template_.len = t->len;
    }
    fr.after = after;
    fr.max = max;
    q.op_case = OHSM__REQUEST__OP_KEY_FIND;
    q.key_find = &fr;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        struct ohsm_obj o;
        *n = r.resp.found->n_records;
        *more = r.resp.found->more;
        for (size_t i = 0; i < *n; i++) {
            assert_int_equal(
                ohsm_obj_decode(r.resp.found->records[i].data, r.resp.found->records[i].len, &o),
                OHSM_OK);
            handles[i] = o.handle;
        }
    }
    ohsm_reply_clear(&r);
    return rv;
}

/* A generated key has this HSM's slot, version 1, the session's user as owner, and is stored
 * sealed; its owner sees it, another CU does not, the admin and AU see its metadata. */
static void test_dispatch_key_gen_owner(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_obj o;
    people(&f->h, &w);
    struct made m = aes_key(&f->h, &w.cu1, true);
    assert_int_equal(m.n, 1);
    assert_int_equal(m.nmasked, 1);
    assert_int_equal(ohsm_handle_slot(m.o[0].handle), 3);
    assert_int_equal(m.o[0].version, 1);
    assert_string_equal(m.o[0].owner, "cu1");
    assert_true(m.o[0].has_kcv);
    assert_true((m.o[0].flags & OHSM_F_LOCAL) != 0);
    uint64_t v = 0;
    uint8_t *blob = NULL;
    size_t blen = 0;
    assert_int_equal(ohsm_store_obj_get(f->h.store, m.o[0].handle, &v, &blob, &blen), OHSM_OK);
    assert_int_equal(v, 1);
    assert_int_equal(blen, m.masked_len[0]);
    assert_memory_equal(blob, m.masked[0], blen);
    free(blob);
    assert_int_equal(key_get(&f->h, &w.cu1, m.o[0].handle, &o), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.cu2, m.o[0].handle, NULL), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(key_get(&f->h, &w.co, m.o[0].handle, &o), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.au, m.o[0].handle, &o), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.cu1, m.o[0].handle + 32, NULL), OHSM_KEY_HANDLE_INVALID);
    /* handles count up */
    struct made m2 = aes_key(&f->h, &w.cu1, true);
    assert_int_equal(m2.o[0].handle, ohsm_handle_make(3, 2));
    made_free(&m);
    made_free(&m2);
}

/* Admins and appliance users create and use no keys; unauthenticated sessions nothing. */
static void test_dispatch_admin_cannot_use_keys(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct made m;
    struct ohsm_session none;
    people(&f->h, &w);
    ohsm_session_init(&f->h, &none);
    struct made k = aes_key(&f->h, &w.cu1, true);
    assert_int_equal(gen(&f->h, &w.co, OHSM_KT_AES, 16, 0, NULL, NULL, &m), OHSM_ACCESS_DENIED);
    assert_int_equal(gen(&f->h, &w.au, OHSM_KT_AES, 16, 0, NULL, NULL, &m), OHSM_ACCESS_DENIED);
    assert_int_equal(gen(&f->h, &none, OHSM_KT_AES, 16, 0, NULL, NULL, &m),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_equal(gcm_encrypt(&f->h, &w.co, k.o[0].handle), OHSM_ACCESS_DENIED);
    assert_int_equal(gcm_encrypt(&f->h, &w.au, k.o[0].handle), OHSM_ACCESS_DENIED);
    assert_int_equal(key_delete(&f->h, &w.co, k.o[0].handle), OHSM_ACCESS_DENIED);
    assert_int_equal(key_get(&f->h, &none, k.o[0].handle, NULL), OHSM_USER_NOT_LOGGED_IN);
    /* admin may set trusted (only) */
    assert_int_equal(set_bool(&f->h, &w.co, k.o[0].handle, OHSM_A_TRUSTED, true), OHSM_OK);
    assert_int_equal(set_bool(&f->h, &w.co, k.o[0].handle, OHSM_A_ENCRYPT, false),
                     OHSM_ACCESS_DENIED);
    assert_int_equal(set_bool(&f->h, &w.cu1, k.o[0].handle, OHSM_A_TRUSTED, false),
                     OHSM_ACCESS_DENIED);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu1, k.o[0].handle), OHSM_OK);
    made_free(&k);
}

/* Shared users use a key but manage nothing; only crypto users can be shared with; unsharing
 * takes the use away. */
static void test_dispatch_sharing(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_obj o;
    people(&f->h, &w);
    struct made k = aes_key(&f->h, &w.cu1, true);
    uint64_t hd = k.o[0].handle;
    assert_int_equal(gcm_encrypt(&f->h, &w.cu2, hd), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(share(&f->h, &w.cu1, hd, "admin", true), OHSM_USER_TYPE_INVALID);
    assert_int_equal(share(&f->h, &w.cu1, hd, "nobody", true), OHSM_USER_NOT_FOUND);
    assert_int_equal(share(&f->h, &w.cu1, hd, "cu1", true), OHSM_ARGUMENTS_BAD);
    assert_int_equal(key_get(&f->h, &w.cu1, hd, &o), OHSM_OK);
    assert_int_equal(o.version, 1); /* refusals changed nothing */
    assert_int_equal(share(&f->h, &w.cu1, hd, "CU2", true), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.cu2, hd, &o), OHSM_OK);
    assert_int_equal(o.nshared, 1);
    assert_string_equal(o.shared[0], "cu2");
    assert_int_equal(o.version, 2);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu2, hd), OHSM_OK);
    assert_int_equal(key_delete(&f->h, &w.cu2, hd), OHSM_KEY_NOT_OWNER);
    assert_int_equal(set_bool(&f->h, &w.cu2, hd, OHSM_A_ENCRYPT, false), OHSM_KEY_NOT_OWNER);
    assert_int_equal(share(&f->h, &w.cu2, hd, "cu2", false), OHSM_KEY_NOT_OWNER);
    assert_int_equal(share(&f->h, &w.cu1, hd, "cu2", false), OHSM_OK);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu2, hd), OHSM_KEY_HANDLE_INVALID);
    /* generated with a share list */
    struct made k2;
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, NULL, "cu2", &k2), OHSM_OK);
    assert_int_equal(k2.o[0].nshared, 1);
    assert_int_equal(k2.o[0].version, 1);
    assert_int_equal(key_get(&f->h, &w.cu2, k2.o[0].handle, NULL), OHSM_OK);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, NULL, "ghost", &k2),
                     OHSM_USER_NOT_FOUND);
    made_free(&k);
    made_free(&k2);
}

/* Session keys: no masked object, invisible to other sessions (even of the same user), gone at
 * logout and at the end of the connection. */
static void test_dispatch_session_objects(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_session again;
    struct ohsm_tmpl_buf t;
    struct made m;
    people(&f->h, &w);
    ohsm_session_init(&f->h, &again);
    assert_int_equal(hlogin(&f->h, &again, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_ENCRYPT, true);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, &t, NULL, &m), OHSM_OK);
    assert_int_equal(m.nmasked, 0);
    uint64_t hd = m.o[0].handle;
    uint64_t v;
    uint8_t *blob = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_store_obj_get(f->h.store, hd, &v, &blob, &n), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu1, hd), OHSM_OK);
    assert_int_equal(gcm_encrypt(&f->h, &again, hd), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(key_get(&f->h, &w.co, hd, NULL), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(masked_extract(&f->h, &w.cu1, hd, &blob, &n), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(hlogout(&f->h, &w.cu1), OHSM_OK);
    assert_int_equal(hlogin(&f->h, &w.cu1, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu1, hd), OHSM_KEY_HANDLE_INVALID);
    /* and at the end of the connection */
    assert_int_equal(gen(&f->h, &again, OHSM_KT_AES, 16, 0, &t, NULL, &m), OHSM_OK);
    size_t before = ohsm_objtab_count(f->h.objs);
    ohsm_session_end(&f->h, &again);
    assert_int_equal(ohsm_objtab_count(f->h.objs), before - 1);
    /* a mixed pair (token private, session public) is refused */
    struct ohsm_tmpl_buf pt;
    ohsm_tmpl_init(&pt);
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
    struct ohsm_reply r;
    ohsm_tmpl_put_bool(&pt, OHSM_A_TOKEN, false);
    g.ktype = OHSM_KT_EC;
    g.curve = OHSM_CURVE_P256;
    g.pub_template.data = pt.buf;
    g.pub_template.len = pt.len;
    q.op_case = OHSM__REQUEST__OP_KEY_GEN;
    q.key_gen = &g;
    assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_TEMPLATE_INCONSISTENT);
    ohsm_reply_clear(&r);
}

static ohsm_rv glogin(struct ohsm_hsm *h, struct ohsm_session *s, const char *u, const char *pw,
                      const uint8_t *group)
{
    return login_group(h, s, OHSM_UT_CU, u, pw, group);
}

/* Sessions of one user that name the same group share their session objects, which live until
 * the group's last session ends; another user naming the group is refused (and changes nothing);
 * a session outside the group sees nothing; a group made again after its end starts empty. */
static void test_dispatch_session_groups(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_session a, b, c, thief;
    struct ohsm_tmpl_buf t;
    struct made m;
    const uint8_t g[OHSM_SGROUP_TOKEN_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    people(&f->h, &w);
    ohsm_session_init(&f->h, &a);
    ohsm_session_init(&f->h, &b);
    ohsm_session_init(&f->h, &c);
    ohsm_session_init(&f->h, &thief);
    assert_int_equal(glogin(&f->h, &a, "cu1", "cu1pass1", g), OHSM_OK);
    assert_int_equal(glogin(&f->h, &b, "cu1", "cu1pass1", g), OHSM_OK);
    assert_int_equal(hlogin(&f->h, &c, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    unsigned sessions = atomic_load(&f->h.sessions);
    assert_int_equal(glogin(&f->h, &thief, "cu2", "cu2pass1", g), OHSM_ARGUMENTS_BAD);
    assert_false(thief.logged_in);
    assert_int_equal(atomic_load(&f->h.sessions), sessions);
    assert_int_equal(ohsm_sgroups_count(&f->h.sgroups), 1);

    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, false);
    ohsm_tmpl_put_bool(&t, OHSM_A_ENCRYPT, true);
    assert_int_equal(gen(&f->h, &a, OHSM_KT_AES, 16, 0, &t, NULL, &m), OHSM_OK);
    uint64_t hd = m.o[0].handle;
    assert_int_equal(gcm_encrypt(&f->h, &b, hd), OHSM_OK);
    assert_int_equal(gcm_encrypt(&f->h, &c, hd), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu1, hd), OHSM_KEY_HANDLE_INVALID);
    size_t before = ohsm_objtab_count(f->h.objs);
    ohsm_session_end(&f->h, &a); /* the maker leaves: b keeps the key alive */
    assert_int_equal(ohsm_objtab_count(f->h.objs), before);
    assert_int_equal(gcm_encrypt(&f->h, &b, hd), OHSM_OK);
    assert_int_equal(hlogout(&f->h, &b), OHSM_OK); /* the last one: the key dies */
    assert_int_equal(ohsm_objtab_count(f->h.objs), before - 1);
    assert_int_equal(ohsm_sgroups_count(&f->h.sgroups), 0);
    /* The same name later is a new, empty group, and may be another user's now. */
    assert_int_equal(glogin(&f->h, &thief, "cu2", "cu2pass1", g), OHSM_OK);
    assert_int_equal(gcm_encrypt(&f->h, &thief, hd), OHSM_KEY_HANDLE_INVALID);
    ohsm_session_end(&f->h, &thief);
    ohsm_session_end(&f->h, &c);
    assert_int_equal(ohsm_sgroups_count(&f->h.sgroups), 0);
}

/* A key made on A is inserted into B with the same handle; a tampered or foreign masked object
 * is refused and changes nothing; inserting twice is refused. */
static void test_dispatch_masked_insert(void **state)
{
    struct fx *f = *state;
    struct who a, b;
    struct ohsm_obj o;
    people(&f->h, &a);
    people(&f->b.h, &b);
    struct made k = aes_key(&f->h, &a.cu1, true);
    uint64_t hd = k.o[0].handle;
    uint8_t *bad = malloc(k.masked_len[0]);
    for (size_t i = 0; i < k.masked_len[0]; i += 7) {
        memcpy(bad, k.masked[0], k.masked_len[0]);
        bad[i] ^= 0x01;
        assert_int_equal(masked_insert(&f->b.h, &b.cu1, bad, k.masked_len[0], false),
                         OHSM_MASKED_OBJECT_INVALID);
    }
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k.masked[0], k.masked_len[0] - 1, false),
                     OHSM_MASKED_OBJECT_INVALID);
    assert_int_equal(ohsm_objtab_count(f->b.h.objs), 0);
    uint32_t nobj = 9;
    assert_int_equal(ohsm_store_obj_count(f->b.h.store, &nobj), OHSM_OK);
    assert_int_equal(nobj, 0);
    /* sealed under another masking key */
    struct ohsm_mask_key *other = NULL;
    uint8_t omk[OHSM_MASKING_KEY_LEN] = {9};
    uint8_t *foreign = NULL;
    size_t flen = 0;
    uint8_t raw[32] = {0};
    assert_int_equal(ohsm_mask_key_new(omk, &other), OHSM_OK);
    assert_int_equal(ohsm_mask_seal_obj(other, &k.o[0], raw, sizeof(raw), &foreign, &flen),
                     OHSM_OK);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, foreign, flen, false),
                     OHSM_MASKED_OBJECT_INVALID);
    ohsm_mask_key_free(other);
    free(foreign);
    /* the real one */
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k.masked[0], k.masked_len[0], false), OHSM_OK);
    assert_int_equal(key_get(&f->b.h, &b.cu1, hd, &o), OHSM_OK);
    assert_int_equal(o.handle, hd);
    assert_memory_equal(o.kcv, k.o[0].kcv, 3);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k.masked[0], k.masked_len[0], false),
                     OHSM_OBJECT_EXISTS);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k.masked[0], k.masked_len[0], true),
                     OHSM_OBJECT_EXISTS); /* replace needs a newer version */
    /* same material on both: a ciphertext from A decrypts on B */
    Ohsm__Mech m = OHSM__MECH__INIT;
    uint8_t *ct = NULL, *pt = NULL, iv[16];
    size_t ct_len = 0, pt_len = 0, iv_len = 0;
    m.mech = OHSM_M_AES_GCM;
    assert_int_equal(do_crypt(&f->h, &a.cu1, OHSM__CRYPTO_OP__ENCRYPT, hd, &m,
                              (const uint8_t *)"secret", 6, NULL, 0, &ct, &ct_len, iv, &iv_len),
                     OHSM_OK);
    assert_int_equal(iv_len, 12);
    m.iv.data = iv;
    m.iv.len = iv_len;
    assert_int_equal(do_crypt(&f->b.h, &b.cu1, OHSM__CRYPTO_OP__DECRYPT, hd, &m, ct, ct_len, NULL,
                              0, &pt, &pt_len, NULL, NULL),
                     OHSM_OK);
    assert_int_equal(pt_len, 6);
    assert_memory_equal(pt, "secret", 6);
    /* truncated ciphertext: an error, not a crash */
    assert_int_not_equal(do_crypt(&f->b.h, &b.cu1, OHSM__CRYPTO_OP__DECRYPT, hd, &m, ct, 10, NULL,
                                  0, NULL, NULL, NULL, NULL),
                         OHSM_OK);
    free(ct);
    free(pt);
    free(bad);
    made_free(&k);
}

/* Deletion leaves a sealed tombstone; it deletes the copy on another HSM and blocks any
 * re-insertion of the old version there and here. */
static void test_dispatch_tombstone(void **state)
{
    struct fx *f = *state;
    struct who a, b;
    uint8_t *tomb = NULL;
    size_t tlen = 0;
    people(&f->h, &a);
    people(&f->b.h, &b);
    struct made k = aes_key(&f->h, &a.cu1, true);
    uint64_t hd = k.o[0].handle;
    assert_int_equal(masked_insert(&f->b.h, &b.co, k.masked[0], k.masked_len[0], false), OHSM_OK);
    assert_int_equal(key_delete(&f->h, &a.cu1, hd), OHSM_OK);
    assert_int_equal(key_get(&f->h, &a.cu1, hd, NULL), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(key_delete(&f->h, &a.cu1, hd), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(masked_insert(&f->h, &a.cu1, k.masked[0], k.masked_len[0], true),
                     OHSM_OBJECT_EXISTS);
    assert_int_equal(masked_extract(&f->h, &a.au, hd, &tomb, &tlen), OHSM_OK);
    tomb[tlen / 2] ^= 0x40;
    assert_int_equal(masked_insert(&f->b.h, &b.au, tomb, tlen, false), OHSM_MASKED_OBJECT_INVALID);
    assert_int_equal(key_get(&f->b.h, &b.cu1, hd, NULL), OHSM_OK);
    tomb[tlen / 2] ^= 0x40;
    assert_int_equal(masked_insert(&f->b.h, &b.au, tomb, tlen, false), OHSM_OK);
    assert_int_equal(key_get(&f->b.h, &b.cu1, hd, NULL), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(masked_insert(&f->b.h, &b.au, tomb, tlen, false), OHSM_OBJECT_EXISTS);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k.masked[0], k.masked_len[0], true),
                     OHSM_OBJECT_EXISTS);
    /* a tombstone for a key B never had is recorded too */
    struct made k2 = aes_key(&f->h, &a.cu1, true);
    free(tomb);
    assert_int_equal(key_delete(&f->h, &a.cu1, k2.o[0].handle), OHSM_OK);
    assert_int_equal(masked_extract(&f->h, &a.cu1, k2.o[0].handle, &tomb, &tlen), OHSM_OK);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, tomb, tlen, false), OHSM_OK);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k2.masked[0], k2.masked_len[0], false),
                     OHSM_OBJECT_EXISTS);
    free(tomb);
    made_free(&k);
    made_free(&k2);
}

/* A change bumps the version; B takes the newer masked object only with replace. */
static void test_dispatch_replace_newer(void **state)
{
    struct fx *f = *state;
    struct who a, b;
    struct ohsm_obj o;
    uint8_t *v2 = NULL;
    size_t v2len = 0;
    people(&f->h, &a);
    people(&f->b.h, &b);
    struct made k = aes_key(&f->h, &a.cu1, true);
    uint64_t hd = k.o[0].handle;
    assert_int_equal(masked_insert(&f->b.h, &b.co, k.masked[0], k.masked_len[0], false), OHSM_OK);
    assert_int_equal(set_bool(&f->h, &a.cu1, hd, OHSM_A_SIGN, false), OHSM_OK);
    assert_int_equal(masked_extract(&f->h, &a.cu1, hd, &v2, &v2len), OHSM_OK);
    assert_int_equal(masked_insert(&f->b.h, &b.co, v2, v2len, false), OHSM_OBJECT_EXISTS);
    assert_int_equal(key_get(&f->b.h, &b.cu1, hd, &o), OHSM_OK);
    assert_int_equal(o.version, 1);
    assert_int_equal(masked_insert(&f->b.h, &b.co, v2, v2len, true), OHSM_OK);
    assert_int_equal(key_get(&f->b.h, &b.cu1, hd, &o), OHSM_OK);
    assert_int_equal(o.version, 2);
    assert_false(o.flags & OHSM_F_SIGN);
    assert_int_equal(masked_insert(&f->b.h, &b.co, k.masked[0], k.masked_len[0], true),
                     OHSM_OBJECT_EXISTS);
    free(v2);
    made_free(&k);
}

/* Attribute rules: read-only and one-way attributes, modifiable=false, all or nothing. */
static void test_dispatch_attribute_rules(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_obj o;
    struct ohsm_tmpl_buf t;
    people(&f->h, &w);
    struct made k = aes_key(&f->h, &w.cu1, true);
    uint64_t hd = k.o[0].handle;
    assert_int_equal(set_bool(&f->h, &w.cu1, hd, OHSM_A_EXTRACTABLE, false),
                     OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(set_bool(&f->h, &w.cu1, hd, OHSM_A_LOCAL, false), OHSM_ATTRIBUTE_READ_ONLY);
    assert_int_equal(set_bool(&f->h, &w.cu1, hd, OHSM_A_SENSITIVE, false),
                     OHSM_ATTRIBUTE_READ_ONLY);
    /* all or nothing: the label is not changed when the second attribute is refused */
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, "new", 3);
    ohsm_tmpl_put_bool(&t, OHSM_A_EXTRACTABLE, false);
    assert_int_not_equal(set_attrs(&f->h, &w.cu1, hd, &t), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.cu1, hd, &o), OHSM_OK);
    assert_string_equal(o.label, "k");
    assert_int_equal(o.version, 1);
    /* unknown attribute id */
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, 0x7777, true);
    assert_int_equal(set_attrs(&f->h, &w.cu1, hd, &t), OHSM_ATTRIBUTE_TYPE_INVALID);
    /* several at once: one version step */
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, "new", 3);
    ohsm_tmpl_put_bool(&t, OHSM_A_DERIVE, true);
    assert_int_equal(set_attrs(&f->h, &w.cu1, hd, &t), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.cu1, hd, &o), OHSM_OK);
    assert_string_equal(o.label, "new");
    assert_int_equal(o.version, 2);
    /* modifiable goes true -> false once; then nothing changes */
    assert_int_equal(set_bool(&f->h, &w.cu1, hd, OHSM_A_MODIFIABLE, false), OHSM_OK);
    assert_int_not_equal(set_bool(&f->h, &w.cu1, hd, OHSM_A_ENCRYPT, false), OHSM_OK);
    assert_int_not_equal(set_bool(&f->h, &w.cu1, hd, OHSM_A_MODIFIABLE, true), OHSM_OK);
    assert_int_equal(key_get(&f->h, &w.cu1, hd, &o), OHSM_OK);
    assert_int_equal(o.version, 3);
    assert_true(o.flags & OHSM_F_ENCRYPT);
    /* destroyable=false: the key cannot be deleted */
    struct ohsm_tmpl_buf d;
    struct made k2;
    ohsm_tmpl_init(&d);
    ohsm_tmpl_put_bool(&d, OHSM_A_DESTROYABLE, false);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, &d, NULL, &k2), OHSM_OK);
    assert_int_equal(key_delete(&f->h, &w.cu1, k2.o[0].handle), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    assert_int_equal(key_get(&f->h, &w.cu1, k2.o[0].handle, NULL), OHSM_OK);
    /* bad sizes and templates create nothing */
    size_t before = ohsm_objtab_count(f->h.objs);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 20, 0, NULL, NULL, &k2), OHSM_KEY_SIZE_RANGE);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_RSA, 1024, 0, NULL, NULL, &k2),
                     OHSM_KEY_SIZE_RANGE);
    assert_int_equal(gen(&f->h, &w.cu1, 99, 16, 0, NULL, NULL, &k2), OHSM_KEY_TYPE_INCONSISTENT);
    ohsm_tmpl_init(&d);
    ohsm_tmpl_put_bool(&d, OHSM_A_LOCAL, false);
    assert_int_not_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, &d, NULL, &k2), OHSM_OK);
    assert_int_equal(ohsm_objtab_count(f->h.objs), before);
    made_free(&k);
    made_free(&k2);
}

/* Uses the attributes forbid are refused: encrypt=false, sign with a public key, wrapping an
 * unextractable key, a wrapping key without wrap=true. */
static void test_dispatch_forbidden_use(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct made k;
    people(&f->h, &w);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, NULL, NULL, &k), OHSM_OK);
    assert_int_equal(gcm_encrypt(&f->h, &w.cu1, k.o[0].handle), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    struct made wk = aes_key(&f->h, &w.cu1, true);
    struct made ne = aes_key(&f->h, &w.cu1, false);
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__WrapReq wr = OHSM__WRAP_REQ__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    struct ohsm_reply r;
    m.mech = OHSM_M_AES_KWP;
    wr.mech = &m;
    wr.wrapping = wk.o[0].handle;
    wr.payload = ne.o[0].handle;
    q.op_case = OHSM__REQUEST__OP_WRAP;
    q.wrap = &wr;
    assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_KEY_UNEXTRACTABLE);
    ohsm_reply_clear(&r);
    wr.wrapping = k.o[0].handle; /* wrap=false */
    wr.payload = wk.o[0].handle;
    assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_KEY_FUNCTION_NOT_PERMITTED);
    ohsm_reply_clear(&r);
    /* cu2 cannot wrap cu1's key even when shared (owner only) */
    assert_int_equal(share(&f->h, &w.cu1, wk.o[0].handle, "cu2", true), OHSM_OK);
    wr.wrapping = wk.o[0].handle;
    wr.payload = wk.o[0].handle;
    assert_int_equal(run(&f->h, &w.cu2, &q, &r), OHSM_KEY_NOT_OWNER);
    ohsm_reply_clear(&r);
    /* an EC public key does not sign */
    struct made ec;
    Ohsm__Mech em = OHSM__MECH__INIT;
    struct ohsm_tmpl_buf t, pt;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, OHSM_A_SIGN, true);
    ohsm_tmpl_init(&pt);
    ohsm_tmpl_put_bool(&pt, OHSM_A_VERIFY, true);
    Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
    g.ktype = OHSM_KT_EC;
    g.curve = OHSM_CURVE_P256;
    g.template_.data = t.buf;
    g.template_.len = t.len;
    g.pub_template.data = pt.buf;
    g.pub_template.len = pt.len;
    Ohsm__Request gq = OHSM__REQUEST__INIT;
    gq.op_case = OHSM__REQUEST__OP_KEY_GEN;
    gq.key_gen = &g;
    assert_int_equal(run(&f->h, &w.cu1, &gq, &r), OHSM_OK);
    take_key(&r, &ec);
    ohsm_reply_clear(&r);
    em.mech = OHSM_M_ECDSA;
    em.hash = OHSM_H_SHA256;
    assert_int_not_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__SIGN, ec.o[1].handle, &em,
                                  (const uint8_t *)"m", 1, NULL, 0, NULL, NULL, NULL, NULL),
                         OHSM_OK);
    made_free(&k);
    made_free(&wk);
    made_free(&ne);
    made_free(&ec);
}

/* Signatures through the HSM: RSA PKCS#1 and ECDSA sign with the private half, verify with the
 * public half; a changed message does not verify; both halves carry the same SPKI, which export
 * returns. */
static void test_dispatch_sign_verify(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct made p;
    struct ohsm_reply r;
    people(&f->h, &w);
    const uint32_t kt[2] = {OHSM_KT_RSA, OHSM_KT_EC};
    const uint32_t mech[2] = {OHSM_M_RSA_PKCS, OHSM_M_ECDSA};
    for (int i = 0; i < 2; i++) {
        struct ohsm_tmpl_buf t, pt;
        ohsm_tmpl_init(&t);
        ohsm_tmpl_put_bool(&t, OHSM_A_SIGN, true);
        ohsm_tmpl_init(&pt);
        ohsm_tmpl_put_bool(&pt, OHSM_A_VERIFY, true);
        Ohsm__KeyGenReq g = OHSM__KEY_GEN_REQ__INIT;
        Ohsm__Request q = OHSM__REQUEST__INIT;
        g.ktype = kt[i];
        g.length = kt[i] == OHSM_KT_RSA ? 2048 : 0;
        g.curve = kt[i] == OHSM_KT_EC ? OHSM_CURVE_P256 : 0;
        g.template_.data = t.buf;
        g.template_.len = t.len;
        g.pub_template.data = pt.buf;
        g.pub_template.len = pt.len;
        q.op_case = OHSM__REQUEST__OP_KEY_GEN;
        q.key_gen = &g;
        assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_OK);
        take_key(&r, &p);
        ohsm_reply_clear(&r);
        assert_int_equal(p.n, 2);
        assert_int_equal(p.nmasked, 2);
        assert_int_equal(p.o[0].cls, OHSM_CLASS_PRIVATE);
        assert_int_equal(p.o[1].cls, OHSM_CLASS_PUBLIC);
        assert_int_equal(p.o[0].spki_len, p.o[1].spki_len);
        assert_memory_equal(p.o[0].spki, p.o[1].spki, p.o[0].spki_len);
        Ohsm__Mech m = OHSM__MECH__INIT;
        uint8_t *sig = NULL;
        size_t sig_len = 0;
        m.mech = mech[i];
        m.hash = OHSM_H_SHA256;
        assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__SIGN, p.o[0].handle, &m,
                                  (const uint8_t *)"message", 7, NULL, 0, &sig, &sig_len, NULL,
                                  NULL),
                         OHSM_OK);
        assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__VERIFY, p.o[1].handle, &m,
                                  (const uint8_t *)"message", 7, sig, sig_len, NULL, NULL, NULL,
                                  NULL),
                         OHSM_OK);
        assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__VERIFY, p.o[1].handle, &m,
                                  (const uint8_t *)"messagE", 7, sig, sig_len, NULL, NULL, NULL,
                                  NULL),
                         OHSM_SIGNATURE_INVALID);
        /* export: the SPKI, to anyone who sees the key; secret keys have none */
        Ohsm__KeyExportReq x = OHSM__KEY_EXPORT_REQ__INIT;
        Ohsm__Request xq = OHSM__REQUEST__INIT;
        x.handle = p.o[0].handle;
        xq.op_case = OHSM__REQUEST__OP_KEY_EXPORT;
        xq.key_export = &x;
        assert_int_equal(run(&f->h, &w.co, &xq, &r), OHSM_OK);
        assert_int_equal(r.resp.data->data.len, p.o[0].spki_len);
        assert_memory_equal(r.resp.data->data.data, p.o[0].spki, p.o[0].spki_len);
        ohsm_reply_clear(&r);
        free(sig);
        made_free(&p);
    }
}

/* Wrap with AES-KWP and unwrap into a new key: same check value, not local, never-extractable
 * and always-sensitive false; a flipped wrapped byte is refused and creates nothing. */
static void test_dispatch_wrap_unwrap(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_reply r;
    struct made nk;
    people(&f->h, &w);
    struct made wk = aes_key(&f->h, &w.cu1, true);
    struct made pk = aes_key(&f->h, &w.cu1, true);
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__WrapReq wr = OHSM__WRAP_REQ__INIT;
    Ohsm__Mech m = OHSM__MECH__INIT;
    m.mech = OHSM_M_AES_KWP;
    wr.mech = &m;
    wr.wrapping = wk.o[0].handle;
    wr.payload = pk.o[0].handle;
    q.op_case = OHSM__REQUEST__OP_WRAP;
    q.wrap = &wr;
    assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_OK);
    size_t wlen = r.resp.data->data.len;
    uint8_t *wrapped = malloc(wlen);
    memcpy(wrapped, r.resp.data->data.data, wlen);
    ohsm_reply_clear(&r);
    assert_int_equal(wlen, 40);
    Ohsm__UnwrapReq u = OHSM__UNWRAP_REQ__INIT;
    Ohsm__Request uq = OHSM__REQUEST__INIT;
    u.unwrapping = wk.o[0].handle;
    u.mech = &m;
    u.cls = OHSM_CLASS_SECRET;
    u.ktype = OHSM_KT_AES;
    u.wrapped.data = wrapped;
    u.wrapped.len = wlen;
    uq.op_case = OHSM__REQUEST__OP_UNWRAP;
    uq.unwrap = &u;
    size_t before = ohsm_objtab_count(f->h.objs);
    wrapped[5] ^= 1;
    assert_int_equal(run(&f->h, &w.cu1, &uq, &r), OHSM_WRAPPED_KEY_INVALID);
    ohsm_reply_clear(&r);
    assert_int_equal(ohsm_objtab_count(f->h.objs), before);
    wrapped[5] ^= 1;
    assert_int_equal(run(&f->h, &w.cu2, &uq, &r), OHSM_KEY_HANDLE_INVALID);
    ohsm_reply_clear(&r);
    assert_int_equal(run(&f->h, &w.cu1, &uq, &r), OHSM_OK);
    take_key(&r, &nk);
    ohsm_reply_clear(&r);
    assert_memory_equal(nk.o[0].kcv, pk.o[0].kcv, 3);
    assert_int_equal(nk.o[0].value_len, 32);
    assert_false(nk.o[0].flags & OHSM_F_LOCAL);
    assert_false(nk.o[0].flags & OHSM_F_ALWAYS_SENSITIVE);
    assert_false(nk.o[0].flags & OHSM_F_NEVER_EXTRACTABLE);
    assert_int_equal(nk.nmasked, 1);
    free(wrapped);
    made_free(&wk);
    made_free(&pk);
    made_free(&nk);
}

/* Import: a raw AES key of a wrong size is refused and creates nothing; a good one gets local
 * false; random and digest work for a CU only. */
static void test_dispatch_import_random_digest(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_reply r;
    struct made k;
    uint8_t raw[32];
    people(&f->h, &w);
    memset(raw, 0x11, sizeof(raw));
    Ohsm__KeyImportReq im = OHSM__KEY_IMPORT_REQ__INIT;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    im.cls = OHSM_CLASS_SECRET;
    im.ktype = OHSM_KT_AES;
    im.material.data = raw;
    im.material.len = 20;
    q.op_case = OHSM__REQUEST__OP_KEY_IMPORT;
    q.key_import = &im;
    assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_KEY_SIZE_RANGE);
    ohsm_reply_clear(&r);
    im.cls = OHSM_CLASS_PRIVATE; /* raw bytes are no PKCS#8 */
    im.ktype = OHSM_KT_RSA;
    assert_int_not_equal(run(&f->h, &w.cu1, &q, &r), OHSM_OK);
    ohsm_reply_clear(&r);
    assert_int_equal(ohsm_objtab_count(f->h.objs), 0);
    im.cls = OHSM_CLASS_SECRET;
    im.ktype = OHSM_KT_AES;
    im.material.len = 32;
    assert_int_equal(run(&f->h, &w.cu1, &q, &r), OHSM_OK);
    take_key(&r, &k);
    ohsm_reply_clear(&r);
    assert_false(k.o[0].flags & OHSM_F_LOCAL);
    assert_int_equal(k.o[0].value_len, 32);
    made_free(&k);
    Ohsm__RandomReq rr = OHSM__RANDOM_REQ__INIT;
    Ohsm__Request rq = OHSM__REQUEST__INIT;
    rq.op_case = OHSM__REQUEST__OP_RANDOM;
    rq.random = &rr;
    rr.length = 0;
    assert_int_equal(run(&f->h, &w.cu1, &rq, &r), OHSM_DATA_LEN_RANGE);
    ohsm_reply_clear(&r);
    rr.length = 65537;
    assert_int_equal(run(&f->h, &w.cu1, &rq, &r), OHSM_DATA_LEN_RANGE);
    ohsm_reply_clear(&r);
    rr.length = 32;
    assert_int_equal(run(&f->h, &w.co, &rq, &r), OHSM_ACCESS_DENIED);
    ohsm_reply_clear(&r);
    assert_int_equal(run(&f->h, &w.cu1, &rq, &r), OHSM_OK);
    assert_int_equal(r.resp.data->data.len, 32);
    ohsm_reply_clear(&r);
    Ohsm__Mech m = OHSM__MECH__INIT;
    uint8_t *d = NULL;
    size_t dlen = 0;
    m.mech = OHSM_M_DIGEST;
    m.hash = OHSM_H_SHA256;
    assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__DIGEST, 0, &m, (const uint8_t *)"abc",
                              3, NULL, 0, &d, &dlen, NULL, NULL),
                     OHSM_OK);
    static const uint8_t abc256[4] = {0xba, 0x78, 0x16, 0xbf};
    assert_int_equal(dlen, 32);
    assert_memory_equal(d, abc256, 4);
    free(d);
}

/* Find: in handle order, paged with after/max, only what the session sees, filtered. */
static void test_dispatch_find_paging(void **state)
{
    struct fx *f = *state;
    struct who w;
    uint64_t hs[300];
    size_t n = 0;
    bool more = false;
    people(&f->h, &w);
    struct made k[5];
    for (int i = 0; i < 5; i++) {
        k[i] = aes_key(&f->h, i == 2 ? &w.cu2 : &w.cu1, true);
    }
    assert_int_equal(find(&f->h, &w.cu1, NULL, 0, 2, hs, &n, &more), OHSM_OK);
    assert_int_equal(n, 2);
    assert_true(more);
    assert_int_equal(hs[0], k[0].o[0].handle);
    assert_int_equal(hs[1], k[1].o[0].handle);
    assert_int_equal(find(&f->h, &w.cu1, NULL, hs[1], 2, hs, &n, &more), OHSM_OK);
    assert_int_equal(n, 2);
    assert_false(more);
    assert_int_equal(hs[0], k[3].o[0].handle); /* cu2's key skipped */
    assert_int_equal(find(&f->h, &w.co, NULL, 0, 0, hs, &n, &more), OHSM_OK);
    assert_int_equal(n, 5);
    struct ohsm_tmpl_buf t;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_u32(&t, OHSM_A_KEY_TYPE, OHSM_KT_RSA);
    assert_int_equal(find(&f->h, &w.co, &t, 0, 0, hs, &n, &more), OHSM_OK);
    assert_int_equal(n, 0);
    for (int i = 0; i < 5; i++) {
        made_free(&k[i]);
    }
}

/* A crypto user who owns keys cannot be deleted (CloudHSM's rule); without keys they can. */
static void test_dispatch_delete_user_owning_keys(void **state)
{
    struct fx *f = *state;
    struct who w;
    people(&f->h, &w);
    struct made k = aes_key(&f->h, &w.cu2, true);
    assert_int_equal(user_op(f, &w.co, DELETE, OHSM_UT_CU, "cu2", ""), OHSM_USER_OWNS_KEYS);
    assert_int_equal(key_delete(&f->h, &w.cu2, k.o[0].handle), OHSM_OK);
    assert_int_equal(user_op(f, &w.co, DELETE, OHSM_UT_CU, "cu2", ""), OHSM_OK);
    /* the deleted user's session loses its rights at once */
    assert_int_equal(gen(&f->h, &w.cu2, OHSM_KT_AES, 16, 0, NULL, NULL, &k),
                     OHSM_USER_NOT_LOGGED_IN);
    made_free(&k);
}

static ohsm_rv sync_status(struct ohsm_hsm *h, struct ohsm_session *s, uint8_t od[32],
                           uint8_t ud[32], size_t *nobj, size_t *nusers)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__SyncStatusReq m = OHSM__SYNC_STATUS_REQ__INIT;
    struct ohsm_reply r;
    q.op_case = OHSM__REQUEST__OP_SYNC_STATUS;
    q.sync_status = &m;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        assert_int_equal(r.resp.sync->objects_digest.len, 32);
        memcpy(od, r.resp.sync->objects_digest.data, 32);
        memcpy(ud, r.resp.sync->users_digest.data, 32);
        *nobj = r.resp.sync->n_objects;
        *nusers = r.resp.sync->n_users;
    }
    ohsm_reply_clear(&r);
    return rv;
}

/* Two HSMs with the same objects and users report the same digests; a change on one shows. */
static void test_dispatch_sync_status(void **state)
{
    struct fx *f = *state;
    struct who a, b;
    uint8_t oa[32], ua[32], ob[32], ub[32];
    size_t na, nb, nua, nub;
    struct ohsm_session none;
    people(&f->h, &a);
    people(&f->b.h, &b);
    ohsm_session_init(&f->h, &none);
    assert_int_equal(sync_status(&f->h, &none, oa, ua, &na, &nua), OHSM_USER_NOT_LOGGED_IN);
    struct made k = aes_key(&f->h, &a.cu1, true);
    assert_int_equal(masked_insert(&f->b.h, &b.cu1, k.masked[0], k.masked_len[0], false), OHSM_OK);
    assert_int_equal(sync_status(&f->h, &a.cu1, oa, ua, &na, &nua), OHSM_OK);
    assert_int_equal(sync_status(&f->b.h, &b.au, ob, ub, &nb, &nub), OHSM_OK);
    assert_int_equal(na, 1);
    assert_int_equal(nua, 4);
    assert_memory_equal(oa, ob, 32);
    assert_memory_equal(ua, ub, 32); /* password records differ by salt: not in the digest */
    assert_int_equal(set_bool(&f->h, &a.cu1, k.o[0].handle, OHSM_A_SIGN, false), OHSM_OK);
    assert_int_equal(sync_status(&f->h, &a.co, oa, ua, &na, &nua), OHSM_OK);
    assert_memory_not_equal(oa, ob, 32);
    /* deletion: one tombstone entry, and the live-object digest changes */
    assert_int_equal(key_delete(&f->h, &a.cu1, k.o[0].handle), OHSM_OK);
    assert_int_equal(sync_status(&f->h, &a.co, oa, ua, &na, &nua), OHSM_OK);
    assert_int_equal(na, 1);
    made_free(&k);
}

static ohsm_rv huser(struct ohsm_hsm *h, struct ohsm_session *s, int op, enum ohsm_utype t,
                     const char *u, const char *pw)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__DeleteUserReq d = OHSM__DELETE_USER_REQ__INIT;
    Ohsm__ChangePasswordReq p = OHSM__CHANGE_PASSWORD_REQ__INIT;
    struct ohsm_reply r;
    q.op_case = (Ohsm__Request__OpCase)op;
    if (op == OHSM__REQUEST__OP_DELETE_USER) {
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
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

/* A sealed user record of h (by name, or by id when id != 0): *blob malloc'd. */
static ohsm_rv uextract(struct ohsm_hsm *h, struct ohsm_session *s, const char *name, uint32_t id,
                        uint8_t **blob, size_t *n)
{
    Ohsm__UserExtractReq x = OHSM__USER_EXTRACT_REQ__INIT;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    struct ohsm_reply r;
    x.username = (char *)(name != NULL ? name : "");
    x.user_id = id;
    q.op_case = OHSM__REQUEST__OP_USER_EXTRACT;
    q.user_extract = &x;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        *n = r.resp.masked->masked.len;
        *blob = malloc(*n);
        assert_non_null(*blob);
        memcpy(*blob, r.resp.masked->masked.data, *n);
    }
    ohsm_reply_clear(&r);
    return rv;
}

static ohsm_rv uinsert(struct ohsm_hsm *h, struct ohsm_session *s, const uint8_t *blob, size_t n)
{
    Ohsm__UserInsertReq in = OHSM__USER_INSERT_REQ__INIT;
    Ohsm__Request q = OHSM__REQUEST__INIT;
    struct ohsm_reply r;
    in.masked.data = (uint8_t *)blob;
    in.masked.len = n;
    q.op_case = OHSM__REQUEST__OP_USER_INSERT;
    q.user_insert = &in;
    ohsm_rv rv = run(h, s, &q, &r);
    ohsm_reply_clear(&r);
    return rv;
}

/* syncUser: a user extracted from A (sealed with its password record) logs in on B after
 * insertion, with A's id; crypto users may not move users; tampering is refused; the same or an
 * older version is refused (no rollback), a newer one replaces; a tombstone deletes and is final. */
static void test_dispatch_user_sync(void **state)
{
    struct fx *f = *state;
    struct who a, b;
    struct ohsm_session s;
    uint8_t *v1 = NULL, *v2 = NULL, *dead = NULL;
    size_t n1 = 0, n2 = 0, nd = 0;
    people(&f->h, &a);
    people(&f->b.h, &b);
    assert_int_equal(hcreate(&f->h, &a.co, OHSM_UT_CU, "zed", "zedpass1"), OHSM_OK); /* A only */
    assert_int_equal(hcreate(&f->h, &a.co, OHSM_UT_CU, "carol", "carolpw1"), OHSM_OK);
    struct ohsm_store_user ca;
    assert_int_equal(ohsm_store_user_by_name(f->h.store, "carol", &ca), OHSM_OK);
    assert_int_equal(uextract(&f->h, &a.cu1, "carol", 0, &v1, &n1), OHSM_ACCESS_DENIED);
    assert_int_equal(uextract(&f->h, &a.co, "carol", 0, &v1, &n1), OHSM_OK);
    v1[n1 - 3] ^= 1;
    assert_int_equal(uinsert(&f->b.h, &b.au, v1, n1), OHSM_MASKED_OBJECT_INVALID);
    v1[n1 - 3] ^= 1;
    assert_int_equal(uinsert(&f->b.h, &b.cu1, v1, n1), OHSM_ACCESS_DENIED);
    assert_int_equal(uinsert(&f->b.h, &b.au, v1, n1), OHSM_OK);
    struct ohsm_store_user cb;
    assert_int_equal(ohsm_store_user_by_name(f->b.h.store, "carol", &cb), OHSM_OK);
    assert_int_equal(cb.id, ca.id); /* one id on both HSMs */
    assert_int_equal(cb.version, 1);
    assert_memory_equal(cb.pwrec, ca.pwrec, sizeof(cb.pwrec));
    assert_int_equal(uinsert(&f->b.h, &b.au, v1, n1), OHSM_USER_RECORD_STALE); /* same version */
    ohsm_session_init(&f->b.h, &s);
    assert_int_equal(hlogin(&f->b.h, &s, OHSM_UT_CU, "carol", "carolpw1"), OHSM_OK);
    ohsm_session_end(&f->b.h, &s);
    /* a newer record (password changed on A) replaces; the old one can no longer come back */
    assert_int_equal(huser(&f->h, &a.co, CHPW, OHSM_UT_CU, "carol", "carolpw2"), OHSM_OK);
    assert_int_equal(uextract(&f->h, &a.co, NULL, ca.id, &v2, &n2), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, v2, n2), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, v1, n1), OHSM_USER_RECORD_STALE);
    assert_int_equal(hlogin(&f->b.h, &s, OHSM_UT_CU, "carol", "carolpw1"), OHSM_PIN_INCORRECT);
    assert_int_equal(hlogin(&f->b.h, &s, OHSM_UT_CU, "carol", "carolpw2"), OHSM_OK);
    /* the logged-in-user rule holds for inserted records too */
    assert_int_equal(huser(&f->h, &a.co, CHPW, OHSM_UT_CU, "carol", "carolpw3"), OHSM_OK);
    free(v2);
    assert_int_equal(uextract(&f->h, &a.co, NULL, ca.id, &v2, &n2), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, v2, n2), OHSM_USER_LOGGED_IN);
    ohsm_session_end(&f->b.h, &s);
    assert_int_equal(uinsert(&f->b.h, &b.co, v2, n2), OHSM_OK);
    /* deleted on A: the tombstone deletes on B, and neither record brings carol back */
    assert_int_equal(huser(&f->h, &a.co, DELETE, OHSM_UT_CU, "carol", ""), OHSM_OK);
    assert_int_equal(uextract(&f->h, &a.co, "carol", 0, &dead, &nd), OHSM_USER_NOT_FOUND);
    assert_int_equal(uextract(&f->h, &a.co, NULL, ca.id, &dead, &nd), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, dead, nd), OHSM_OK);
    assert_int_equal(ohsm_store_user_by_name(f->b.h.store, "carol", &cb), OHSM_USER_NOT_FOUND);
    assert_int_equal(uinsert(&f->b.h, &b.co, v2, n2), OHSM_USER_RECORD_STALE);
    assert_int_equal(uinsert(&f->b.h, &b.co, v1, n1), OHSM_USER_RECORD_STALE);
    assert_int_equal(uinsert(&f->b.h, &b.co, dead, nd), OHSM_USER_RECORD_STALE);
    assert_int_equal(hlogin(&f->b.h, &s, OHSM_UT_CU, "carol", "carolpw3"), OHSM_PIN_INCORRECT);
    free(v1);
    free(v2);
    free(dead);
    /* one id, two users: B made dave with the id A gave zed; A's record of zed is a conflict */
    assert_int_equal(uextract(&f->h, &a.co, "zed", 0, &v1, &n1), OHSM_OK);
    struct ohsm_store_user za;
    assert_int_equal(ohsm_store_user_by_name(f->h.store, "zed", &za), OHSM_OK);
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__CreateUserReq c = OHSM__CREATE_USER_REQ__INIT;
    struct ohsm_reply r;
    c.user_type = OHSM_UT_CU;
    c.username = (char *)"dave";
    c.password.data = (uint8_t *)"davepass1";
    c.password.len = 9;
    c.user_id = za.id;
    q.op_case = OHSM__REQUEST__OP_CREATE_USER;
    q.create_user = &c;
    assert_int_equal(run(&f->b.h, &b.co, &q, &r), OHSM_OK);
    ohsm_reply_clear(&r);
    assert_int_equal(run(&f->b.h, &b.co, &q, &r), OHSM_OK); /* the same creation again: done */
    ohsm_reply_clear(&r);
    c.username = (char *)"dan";
    assert_int_equal(run(&f->b.h, &b.co, &q, &r), OHSM_USER_EXISTS); /* the id is taken now */
    ohsm_reply_clear(&r);
    assert_int_equal(uinsert(&f->b.h, &b.co, v1, n1), OHSM_USER_EXISTS);
    assert_int_equal(ohsm_store_user_by_name(f->b.h.store, "zed", &cb), OHSM_USER_NOT_FOUND);
    free(v1);
    /* a creation that a repair copied to B first: the creator's own request there succeeds, the
     * same id with another password does not */
    assert_int_equal(hcreate(&f->h, &a.co, OHSM_UT_CU, "yan", "yanpass1"), OHSM_OK);
    struct ohsm_store_user ya;
    assert_int_equal(ohsm_store_user_by_name(f->h.store, "yan", &ya), OHSM_OK);
    assert_int_equal(uextract(&f->h, &a.co, "yan", 0, &v1, &n1), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, v1, n1), OHSM_OK);
    c.username = (char *)"yan";
    c.user_id = ya.id;
    c.password.data = (uint8_t *)"yanpass2";
    c.password.len = 8;
    assert_int_equal(run(&f->b.h, &b.co, &q, &r), OHSM_USER_EXISTS);
    ohsm_reply_clear(&r);
    c.password.data = (uint8_t *)"yanpass1";
    assert_int_equal(run(&f->b.h, &b.co, &q, &r), OHSM_OK);
    assert_int_equal(r.resp.user->user_id, ya.id);
    ohsm_reply_clear(&r);
    free(v1);
    OPENSSL_cleanse(&ya, sizeof(ya));
    /* a deletion is final whatever the versions: tia changed twice on B after A deleted her */
    assert_int_equal(hcreate(&f->h, &a.co, OHSM_UT_CU, "tia", "tiapass1"), OHSM_OK);
    assert_int_equal(uextract(&f->h, &a.co, "tia", 0, &v1, &n1), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, v1, n1), OHSM_OK);
    free(v1);
    assert_int_equal(huser(&f->b.h, &b.co, CHPW, OHSM_UT_CU, "tia", "tiapass2"), OHSM_OK);
    assert_int_equal(huser(&f->b.h, &b.co, CHPW, OHSM_UT_CU, "tia", "tiapass3"), OHSM_OK);
    struct ohsm_store_user ta;
    assert_int_equal(ohsm_store_user_by_name(f->h.store, "tia", &ta), OHSM_OK);
    assert_int_equal(huser(&f->h, &a.co, DELETE, OHSM_UT_CU, "tia", ""), OHSM_OK);
    assert_int_equal(uextract(&f->h, &a.co, NULL, ta.id, &dead, &nd), OHSM_OK);
    assert_int_equal(uinsert(&f->b.h, &b.co, dead, nd), OHSM_OK);
    struct ohsm_store_utomb tb;
    assert_int_equal(ohsm_store_user_by_name(f->b.h.store, "tia", &cb), OHSM_USER_NOT_FOUND);
    assert_int_equal(ohsm_store_user_tomb_get(f->b.h.store, ta.id, &tb), OHSM_OK);
    assert_int_equal(tb.version, 4); /* above B's last record of her (3) */
    free(dead);
    OPENSSL_cleanse(&ta, sizeof(ta));
    OPENSSL_cleanse(&ca, sizeof(ca));
}

/* MaskedInsertReq.as_new: the copy keeps the record's shares whose users are still those crypto
 * users; a sharer deleted since the extraction (and a new user of its name) gets none. */
static ohsm_rv masked_insert_new(struct ohsm_hsm *h, struct ohsm_session *s, const uint8_t *p,
                                 size_t n, struct made *m)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__MaskedInsertReq mi = OHSM__MASKED_INSERT_REQ__INIT;
    struct ohsm_reply r;
    mi.masked.data = (uint8_t *)p;
    mi.masked.len = n;
    mi.as_new = true;
    q.op_case = OHSM__REQUEST__OP_MASKED_INSERT;
    q.masked_insert = &mi;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK) {
        take_key(&r, m);
    }
    ohsm_reply_clear(&r);
    return rv;
}

static void test_dispatch_masked_new_live_shares(void **state)
{
    struct fx *f = *state;
    struct who a;
    struct made k, c;
    struct ohsm_tmpl_buf t;
    people(&f->h, &a);
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bytes(&t, OHSM_A_LABEL, "s", 1);
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, true);
    assert_int_equal(gen(&f->h, &a.cu1, OHSM_KT_AES, 32, 0, &t, "cu2", &k), OHSM_OK);
    uint32_t old_cu2 = get(f, "cu2").id;
    assert_int_equal(k.o[0].nshared, 1);
    assert_int_equal(k.o[0].shared_id[0], old_cu2);
    /* A live sharer keeps its share. */
    assert_int_equal(masked_insert_new(&f->h, &a.cu1, k.masked[0], k.masked_len[0], &c), OHSM_OK);
    assert_int_equal(c.o[0].nshared, 1);
    assert_int_equal(c.o[0].shared_id[0], old_cu2);
    assert_string_equal(c.o[0].shared[0], "cu2");
    made_free(&c);
    /* cu2 deleted (its shares go) and created again: a new id, and no share in a new copy. */
    assert_int_equal(huser(&f->h, &a.co, OHSM__REQUEST__OP_DELETE_USER, OHSM_UT_CU, "cu2", NULL),
                     OHSM_OK);
    assert_int_equal(hcreate(&f->h, &a.co, OHSM_UT_CU, "cu2", "cu2pass1"), OHSM_OK);
    assert_int_not_equal(get(f, "cu2").id, old_cu2);
    assert_int_equal(masked_insert_new(&f->h, &a.cu1, k.masked[0], k.masked_len[0], &c), OHSM_OK);
    assert_int_equal(c.o[0].nshared, 0);
    assert_int_equal(c.o[0].shared_id[0], 0);
    assert_string_equal(c.o[0].owner, "cu1");
    made_free(&c);
    made_free(&k);
}

/* Objects survive a restart: reopening the store with the masking key loads them, with the same
 * sync digests; the handle counter continues. */
static void test_dispatch_restart(void **state)
{
    struct fx *f = *state;
    struct who w;
    uint8_t o1[32], u1[32], o2[32], u2[32];
    size_t n1, n2, nu;
    people(&f->b.h, &w);
    struct made k = aes_key(&f->b.h, &w.cu1, true);
    struct ohsm_tmpl_buf t;
    struct made s;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, false);
    assert_int_equal(gen(&f->b.h, &w.cu1, OHSM_KT_AES, 16, 0, &t, NULL, &s), OHSM_OK);
    assert_int_equal(sync_status(&f->b.h, &w.cu1, o1, u1, &n1, &nu), OHSM_OK);
    hsm_close(&f->b.h);
    hsm_open(&f->b.h, f->b.path, 5, 7);
    assert_int_equal(ohsm_objtab_count(f->b.h.objs), 1); /* the session key is gone */
    struct ohsm_session cu;
    ohsm_session_init(&f->b.h, &cu);
    assert_int_equal(hlogin(&f->b.h, &cu, OHSM_UT_CU, "cu1", "cu1pass1"), OHSM_OK);
    assert_int_equal(sync_status(&f->b.h, &cu, o2, u2, &n2, &nu), OHSM_OK);
    assert_int_equal(n2, 1);
    assert_memory_equal(o1, o2, 32);
    assert_int_equal(gcm_encrypt(&f->b.h, &cu, k.o[0].handle), OHSM_OK);
    struct made k2 = aes_key(&f->b.h, &cu, true);
    /* The token key took seq 1; the session key seq 2, from a block of session handles that
     * reserved seq 2 .. 2 + OHSM_HSM_SESS_HANDLE_BLOCK - 1 in the counter. */
    assert_int_equal(s.o[0].handle, ohsm_handle_make(7, 2));
    assert_int_equal(k2.o[0].handle, ohsm_handle_make(7, 2 + OHSM_HSM_SESS_HANDLE_BLOCK));
    made_free(&k);
    made_free(&s);
    made_free(&k2);
}

/* ---- issue 10, item 8: the review's findings ---- */

/* Runs a wrap of payload with wrapping under mech; out (may be NULL) gets a malloc'd copy. */
static ohsm_rv wrap(struct ohsm_hsm *h, struct ohsm_session *s, uint64_t wrapping, uint64_t payload,
                    Ohsm__Mech *mech, uint8_t **out, size_t *out_len)
{
    Ohsm__Request q = OHSM__REQUEST__INIT;
    Ohsm__WrapReq wr = OHSM__WRAP_REQ__INIT;
    struct ohsm_reply r;
    wr.mech = mech;
    wr.wrapping = wrapping;
    wr.payload = payload;
    q.op_case = OHSM__REQUEST__OP_WRAP;
    q.wrap = &wr;
    ohsm_rv rv = run(h, s, &q, &r);
    if (rv == OHSM_OK && out != NULL) {
        *out_len = r.resp.data->data.len;
        *out = malloc(*out_len);
        memcpy(*out, r.resp.data->data.data, *out_len);
    }
    ohsm_reply_clear(&r);
    return rv;
}

/* AES-GCM through the HSM: an IV in an encrypt or wrap request is refused (even all zeros), the
 * reply carries nothing; without one each encryption gets its own IV back in the reply, each wrap
 * its own IV at the front of the blob, and decryption and unwrapping still take the IV. */
static void test_dispatch_gcm_iv_from_hsm(void **state)
{
    struct fx *f = *state;
    struct who w;
    people(&f->h, &w);
    struct made k = aes_key(&f->h, &w.cu1, true);
    struct made p = aes_key(&f->h, &w.cu1, true);
    uint64_t hd = k.o[0].handle;
    uint8_t chosen[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    uint8_t zeros[12] = {0};
    uint8_t *ct[2] = {NULL, NULL}, *wb[2] = {NULL, NULL}, *pt = NULL, iv[2][16];
    size_t ct_len[2] = {0, 0}, wb_len[2] = {0, 0}, iv_len[2] = {0, 0}, pt_len = 0;
    Ohsm__Mech m = OHSM__MECH__INIT;
    m.mech = OHSM_M_AES_GCM;
    m.iv.data = chosen;
    m.iv.len = sizeof(chosen);
    assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__ENCRYPT, hd, &m,
                              (const uint8_t *)"attack", 6, NULL, 0, &ct[0], &ct_len[0], iv[0],
                              &iv_len[0]),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_null(ct[0]);
    assert_int_equal(wrap(&f->h, &w.cu1, hd, p.o[0].handle, &m, &wb[0], &wb_len[0]),
                     OHSM_MECHANISM_PARAM_INVALID);
    assert_null(wb[0]);
    m.iv.data = zeros;
    assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__ENCRYPT, hd, &m,
                              (const uint8_t *)"attack", 6, NULL, 0, NULL, NULL, NULL, NULL),
                     OHSM_MECHANISM_PARAM_INVALID);
    /* the HSM's IVs */
    m.iv.data = NULL;
    m.iv.len = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__ENCRYPT, hd, &m,
                                  (const uint8_t *)"attack", 6, NULL, 0, &ct[i], &ct_len[i], iv[i],
                                  &iv_len[i]),
                         OHSM_OK);
        assert_int_equal(iv_len[i], 12);
        assert_int_equal(ct_len[i], 6 + 16);
        assert_int_equal(wrap(&f->h, &w.cu1, hd, p.o[0].handle, &m, &wb[i], &wb_len[i]), OHSM_OK);
        assert_int_equal(wb_len[i], 12 + 32 + 16);
    }
    assert_memory_not_equal(iv[0], iv[1], 12);
    assert_memory_not_equal(ct[0], ct[1], 6);
    assert_memory_not_equal(wb[0], wb[1], 12);
    assert_memory_not_equal(wb[0] + 12, wb[1] + 12, 32);
    m.iv.data = iv[1];
    m.iv.len = 12;
    assert_int_equal(do_crypt(&f->h, &w.cu1, OHSM__CRYPTO_OP__DECRYPT, hd, &m, ct[1], ct_len[1],
                              NULL, 0, &pt, &pt_len, NULL, NULL),
                     OHSM_OK);
    assert_int_equal(pt_len, 6);
    assert_memory_equal(pt, "attack", 6);
    for (int i = 0; i < 2; i++) {
        free(ct[i]);
        free(wb[i]);
    }
    free(pt);
    made_free(&k);
    made_free(&p);
}

/* Masked objects by the visibility rule of key_get: a crypto user extracts those of keys it owns
 * or is shared, and for any other key gets OHSM_KEY_HANDLE_INVALID exactly as key_get gives
 * (absent and invisible look the same); admins and the appliance user extract any (CMU syncKey);
 * a tombstone (handle and version only) goes to any of them, so repairs carry deletions. */
static void test_dispatch_masked_extract_visibility(void **state)
{
    struct fx *f = *state;
    struct who w;
    uint8_t *blob = NULL;
    size_t n = 0;
    people(&f->h, &w);
    struct made k = aes_key(&f->h, &w.cu1, true);
    uint64_t hd = k.o[0].handle;
    assert_int_equal(key_get(&f->h, &w.cu2, hd, NULL), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(masked_extract(&f->h, &w.cu2, hd, &blob, &n), OHSM_KEY_HANDLE_INVALID);
    assert_int_equal(masked_extract(&f->h, &w.cu2, hd + 64, &blob, &n), OHSM_KEY_HANDLE_INVALID);
    assert_null(blob);
    struct ohsm_session none;
    ohsm_session_init(&f->h, &none);
    assert_int_equal(masked_extract(&f->h, &none, hd, &blob, &n), OHSM_USER_NOT_LOGGED_IN);
    /* the owner, admins, the appliance user */
    struct ohsm_session *may[] = {&w.cu1, &w.co, &w.au};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(masked_extract(&f->h, may[i], hd, &blob, &n), OHSM_OK);
        assert_int_equal(n, k.masked_len[0]);
        assert_memory_equal(blob, k.masked[0], n);
        free(blob);
        blob = NULL;
    }
    /* shared: yes; unshared again: no */
    assert_int_equal(share(&f->h, &w.cu1, hd, "cu2", true), OHSM_OK);
    assert_int_equal(masked_extract(&f->h, &w.cu2, hd, &blob, &n), OHSM_OK);
    free(blob);
    blob = NULL;
    assert_int_equal(share(&f->h, &w.cu1, hd, "cu2", false), OHSM_OK);
    assert_int_equal(masked_extract(&f->h, &w.cu2, hd, &blob, &n), OHSM_KEY_HANDLE_INVALID);
    /* another crypto user's session key stays invisible too */
    struct made sk;
    struct ohsm_tmpl_buf t;
    ohsm_tmpl_init(&t);
    ohsm_tmpl_put_bool(&t, OHSM_A_TOKEN, false);
    assert_int_equal(gen(&f->h, &w.cu1, OHSM_KT_AES, 16, 0, &t, NULL, &sk), OHSM_OK);
    assert_int_equal(masked_extract(&f->h, &w.cu1, sk.o[0].handle, &blob, &n),
                     OHSM_KEY_HANDLE_INVALID);
    /* deleted: its tombstone goes to anyone of the row */
    assert_int_equal(key_delete(&f->h, &w.cu1, hd), OHSM_OK);
    assert_int_equal(masked_extract(&f->h, &w.cu2, hd, &blob, &n), OHSM_OK);
    assert_memory_not_equal(blob, k.masked[0], 16);
    free(blob);
    made_free(&k);
    made_free(&sk);
}

/* A creation that passed its session check before its user was deleted (a long RSA-4096
 * generation while `user delete` lands) fails when it comes to insert the key, under the lock
 * that the deletion takes, with OHSM_USER_NOT_LOGGED_IN, and leaves nothing: no object, no
 * stored row, no handle used. The user is re-read by id, so a new user of the same name does
 * not make the old session's key its own; a share target deleted meanwhile fails it too. */
static void test_dispatch_create_racing_owner_deletion(void **state)
{
    struct fx *f = *state;
    struct who w;
    struct ohsm_reply r;
    struct ohsm_session eve;
    static const ProtobufCBinaryData no_tmpl = {0, NULL};
    uint8_t material[32];
    uint32_t stored = 9;
    char *to_cu2[1] = {(char *)"cu2"};
    people(&f->h, &w);
    memset(material, 0x5A, sizeof(material));
    ohsm_session_init(&f->h, &eve);
    assert_int_equal(hcreate(&f->h, &w.co, OHSM_UT_CU, "eve1", "eve1pass1"), OHSM_OK);
    assert_int_equal(hlogin(&f->h, &eve, OHSM_UT_CU, "eve1", "eve1pass1"), OHSM_OK);
    /* what the key handlers do after their checks: one that succeeds, as a baseline */
    ohsm_reply_init(&r, 1);
    assert_int_equal(ohsm_hsm_import(&f->h, &eve, OHSM_CLASS_SECRET, OHSM_KT_AES, material,
                                     sizeof(material), &no_tmpl, NULL, 0, &r),
                     OHSM_OK);
    struct made k;
    take_key(&r, &k);
    ohsm_reply_clear(&r);
    assert_int_equal(k.o[0].handle, ohsm_handle_make(3, 1));
    assert_int_equal(key_delete(&f->h, &eve, k.o[0].handle), OHSM_OK);
    made_free(&k);
    size_t objs = ohsm_objtab_count(f->h.objs);

    /* the deletion lands between the session check and the insert */
    assert_int_equal(user_op(f, &w.co, DELETE, OHSM_UT_CU, "eve1", ""), OHSM_OK);
    ohsm_reply_init(&r, 2);
    assert_int_equal(ohsm_hsm_import(&f->h, &eve, OHSM_CLASS_SECRET, OHSM_KT_AES, material,
                                     sizeof(material), &no_tmpl, NULL, 0, &r),
                     OHSM_USER_NOT_LOGGED_IN);
    assert_int_not_equal(r.resp.body_case, OHSM__RESPONSE__BODY_KEY);
    ohsm_reply_clear(&r);
    /* a new eve1 (another id) does not revive the old session */
    assert_int_equal(hcreate(&f->h, &w.co, OHSM_UT_CU, "eve1", "eve1pass2"), OHSM_OK);
    ohsm_reply_init(&r, 3);
    assert_int_equal(ohsm_hsm_import(&f->h, &eve, OHSM_CLASS_SECRET, OHSM_KT_AES, material,
                                     sizeof(material), &no_tmpl, NULL, 0, &r),
                     OHSM_USER_NOT_LOGGED_IN);
    ohsm_reply_clear(&r);
    /* a share target deleted between the check and the insert */
    assert_int_equal(hlogout(&f->h, &w.cu2), OHSM_OK);
    assert_int_equal(user_op(f, &w.co, DELETE, OHSM_UT_CU, "cu2", ""), OHSM_OK);
    ohsm_reply_init(&r, 4);
    assert_int_equal(ohsm_hsm_import(&f->h, &w.cu1, OHSM_CLASS_SECRET, OHSM_KT_AES, material,
                                     sizeof(material), &no_tmpl, to_cu2, 1, &r),
                     OHSM_USER_NOT_FOUND);
    ohsm_reply_clear(&r);
    /* nothing was made: no entry, no row, and the next key takes the next unused handle */
    assert_int_equal(ohsm_objtab_count(f->h.objs), objs);
    assert_int_equal(ohsm_store_obj_count(f->h.store, &stored), OHSM_OK);
    assert_int_equal(stored, 0);
    struct made k2 = aes_key(&f->h, &w.cu1, true);
    assert_int_equal(k2.o[0].handle, ohsm_handle_make(3, 2));
    assert_string_equal(k2.o[0].owner, "cu1");
    /* and the stale session is logged out for whatever it asks next */
    assert_int_equal(gen(&f->h, &eve, OHSM_KT_AES, 16, 0, NULL, NULL, &k), OHSM_USER_NOT_LOGGED_IN);
    made_free(&k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dispatch_preco_then_activate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_manage_users_by_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_delete_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_lockout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_lockout_legacy20, setup20, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_lockout_inflight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_logged_in_rule, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_key_gen_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_admin_cannot_use_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_sharing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_session_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_session_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_masked_insert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_masked_new_live_shares, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_tombstone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_replace_newer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_attribute_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_forbidden_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_sign_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_wrap_unwrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_import_random_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_find_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_delete_user_owning_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_sync_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_user_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_gcm_iv_from_hsm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_masked_extract_visibility, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dispatch_create_racing_owner_deletion, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
