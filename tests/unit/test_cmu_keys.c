/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for openhsm-cmu's key commands (src/cmu/keys.c) through the tool's own command table
 * and line path (cmds.c), against a fake libopenhsm defined here: two servers whose user ids
 * differ (as they may between HSMs), keys with owners and shares, and a record of every change
 * the commands ask for. The properties: user ids are resolved on each server and never mixed up,
 * a shareKey whose id names different users (or none) sends nothing, findAllKeys marks owned and
 * shared keys and prints the key hash only when asked and relevant, getAttribute prints each kind
 * of value as CMU does and refuses ids it does not know, syncs pick the right source and
 * destination, and output files are written (never through a symbolic link).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmu/cmu.h"

/* ---- the fake cluster ---- */

#define NSRV 2
#define NKEYS 8
#define NUSERS 6

struct ohsm_client {
    int unused;
};

static struct {
    struct ohsm_user_info users[NSRV][NUSERS];
    size_t nusers[NSRV];
    struct ohsm_obj keys[NSRV][NKEYS];
    size_t nkeys[NSRV];
    bool connected[NSRV];
    enum ohsm_utype session; /* who is logged in (all servers) */
    /* what was asked for */
    int shares, finds, syncs_key, syncs_user;
    char share_name[32];
    bool share_on;
    uint64_t sync_handle;
    size_t sync_from, sync_to;
    char sync_name[32];
} F;

static void add_user(size_t i, uint32_t id, const char *name, enum ohsm_utype t)
{
    struct ohsm_user_info *u = &F.users[i][F.nusers[i]++];
    memset(u, 0, sizeof(*u));
    u->id = id;
    u->type = t;
    (void)snprintf(u->username, sizeof(u->username), "%s", name);
}

static struct ohsm_obj *add_key(size_t i, uint64_t h, uint32_t cls, uint32_t kt, const char *owner)
{
    struct ohsm_obj *k = &F.keys[i][F.nkeys[i]++];
    ohsm_obj_defaults(k, cls, kt, true);
    k->handle = h;
    k->version = 1;
    k->value_len = kt == OHSM_KT_AES ? 32 : 0;
    (void)snprintf(k->owner, sizeof(k->owner), "%s", owner);
    return k;
}

static void share(struct ohsm_obj *k, const char *name)
{
    (void)snprintf(k->shared[k->nshared++], sizeof(k->shared[0]), "%s", name);
}

/* Server 0: admin 1, app_user 2, alice 3, bob 4. Server 1 numbers them differently. */
static void fresh(void)
{
    memset(&F, 0, sizeof(F));
    add_user(0, 1, "admin", OHSM_UT_CO);
    add_user(0, 2, "app_user", OHSM_UT_AU);
    add_user(0, 3, "alice", OHSM_UT_CU);
    add_user(0, 4, "bob", OHSM_UT_CU);
    add_user(1, 1, "admin", OHSM_UT_CO);
    add_user(1, 2, "app_user", OHSM_UT_AU);
    add_user(1, 3, "bob", OHSM_UT_CU);
    add_user(1, 5, "alice", OHSM_UT_CU);
    F.connected[0] = F.connected[1] = true;
    F.session = OHSM_UT_CU;
}

static struct ohsm_obj *key_on(size_t i, uint64_t h)
{
    for (size_t k = 0; k < F.nkeys[i]; k++) {
        if (F.keys[i][k].handle == h) {
            return &F.keys[i][k];
        }
    }
    return NULL;
}

size_t ohsm_client_hsm_count(const struct ohsm_client *c)
{
    (void)c;
    return NSRV;
}

ohsm_rv ohsm_client_hsm_status(struct ohsm_client *c, size_t i, struct ohsm_hsm_status *out)
{
    (void)c;
    memset(out, 0, sizeof(*out));
    (void)snprintf(out->host, sizeof(out->host), "10.0.0.%zu", i + 1);
    (void)snprintf(out->id, sizeof(out->id), "hsm-%zu", i);
    out->port = 2225;
    out->connected = F.connected[i];
    out->last_rv = F.connected[i] ? OHSM_OK : OHSM_NOT_CONNECTED;
    out->logged_in = F.connected[i] && F.session != OHSM_UT_NONE;
    out->user_type = F.session;
    return OHSM_OK;
}

ohsm_rv ohsm_client_list_users(struct ohsm_client *c, size_t i, struct ohsm_user_info **users,
                               size_t *n)
{
    (void)c;
    if (!F.connected[i]) {
        return OHSM_NOT_CONNECTED;
    }
    *users = malloc(F.nusers[i] * sizeof(**users));
    assert_non_null(*users);
    memcpy(*users, F.users[i], F.nusers[i] * sizeof(**users));
    *n = F.nusers[i];
    return OHSM_OK;
}

ohsm_rv ohsm_client_key_get_on(struct ohsm_client *c, size_t i, uint64_t handle,
                               struct ohsm_obj *obj)
{
    (void)c;
    if (!F.connected[i]) {
        return OHSM_NOT_CONNECTED;
    }
    struct ohsm_obj *k = key_on(i, handle);
    if (k == NULL) {
        return OHSM_KEY_HANDLE_INVALID;
    }
    *obj = *k;
    return OHSM_OK;
}

ohsm_rv ohsm_client_key_find_on(struct ohsm_client *c, size_t i, const uint8_t *tmpl,
                                size_t tmpl_len, struct ohsm_obj **objs, size_t *n)
{
    (void)c;
    (void)tmpl;
    assert_int_equal(tmpl_len, 0);
    F.finds++;
    if (!F.connected[i]) {
        return OHSM_NOT_CONNECTED;
    }
    *objs = malloc((F.nkeys[i] + 1) * sizeof(**objs));
    assert_non_null(*objs);
    memcpy(*objs, F.keys[i], F.nkeys[i] * sizeof(**objs));
    *n = F.nkeys[i];
    return OHSM_OK;
}

ohsm_rv ohsm_client_key_share(struct ohsm_client *c, uint64_t handle, const char *username, bool on,
                              struct ohsm_result *res)
{
    (void)c;
    (void)handle;
    F.shares++;
    (void)snprintf(F.share_name, sizeof(F.share_name), "%s", username);
    F.share_on = on;
    for (size_t i = 0; i < NSRV; i++) {
        res[i].rv = F.connected[i] ? OHSM_OK : OHSM_NOT_CONNECTED;
    }
    return F.connected[0] && F.connected[1] ? OHSM_OK : OHSM_NOT_CONNECTED;
}

ohsm_rv ohsm_client_sync_status(struct ohsm_client *c, struct ohsm_sync_report **out)
{
    (void)c;
    struct ohsm_sync_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->nhsm = NSRV;
    r->hsm = calloc(NSRV, sizeof(*r->hsm));
    assert_non_null(r->hsm);
    for (size_t i = 0; i < NSRV; i++) {
        memset(r->hsm[i].objects_digest, i == 0 ? 'a' : 'b', 64);
        r->hsm[i].rv = F.connected[i] ? OHSM_OK : OHSM_NOT_CONNECTED;
    }
    *out = r;
    return OHSM_OK;
}

void ohsm_sync_report_free(struct ohsm_sync_report *r)
{
    if (r != NULL) {
        free(r->hsm);
        free(r->items);
        free(r);
    }
}

ohsm_rv ohsm_client_sync_key(struct ohsm_client *c, uint64_t handle, size_t from, size_t to)
{
    (void)c;
    F.syncs_key++;
    F.sync_handle = handle;
    F.sync_from = from;
    F.sync_to = to;
    return OHSM_OK;
}

ohsm_rv ohsm_client_sync_user(struct ohsm_client *c, const char *username, size_t from, size_t to)
{
    (void)c;
    F.syncs_user++;
    (void)snprintf(F.sync_name, sizeof(F.sync_name), "%s", username);
    F.sync_from = from;
    F.sync_to = to;
    return OHSM_OK;
}

/* The rest of the API the tool links against: not used by these tests. */
ohsm_rv ohsm_client_reconnect(struct ohsm_client *c)
{
    (void)c;
    return OHSM_OK;
}
ohsm_rv ohsm_client_login(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                          const char *password, struct ohsm_result *res, enum ohsm_utype *actual)
{
    (void)c, (void)type, (void)username, (void)password, (void)res, (void)actual;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_logout(struct ohsm_client *c, struct ohsm_result *res)
{
    (void)c, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_create_user(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                const char *password, struct ohsm_result *res)
{
    (void)c, (void)type, (void)username, (void)password, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_delete_user(struct ohsm_client *c, enum ohsm_utype type, const char *username,
                                struct ohsm_result *res)
{
    (void)c, (void)type, (void)username, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_change_password(struct ohsm_client *c, enum ohsm_utype type,
                                    const char *username, const char *password,
                                    struct ohsm_result *res, bool *activated)
{
    (void)c, (void)type, (void)username, (void)password, (void)res, (void)activated;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_hsm_info(struct ohsm_client *c, size_t i, struct ohsm_hsm_info *out)
{
    (void)c, (void)i, (void)out;
    return OHSM_DEVICE_ERROR;
}
/* The quorum calls (quorum.c is linked with the table); not driven here: the e2e tests do. */
ohsm_rv ohsm_client_create_user_q(struct ohsm_client *c, enum ohsm_utype type,
                                  const char *username, const char *password,
                                  const struct ohsm_approval *ap, struct ohsm_result *res)
{
    (void)c, (void)type, (void)username, (void)password, (void)ap, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_delete_user_q(struct ohsm_client *c, enum ohsm_utype type,
                                  const char *username, const struct ohsm_approval *ap,
                                  struct ohsm_result *res)
{
    (void)c, (void)type, (void)username, (void)ap, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_change_password_q(struct ohsm_client *c, enum ohsm_utype type,
                                      const char *username, const char *password,
                                      const struct ohsm_approval *ap, struct ohsm_result *res,
                                      bool *activated)
{
    (void)c, (void)type, (void)username, (void)password, (void)ap, (void)res, (void)activated;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_quorum_generate(struct ohsm_client *c, int service, uint64_t key_handle,
                                    uint8_t **data, size_t *len, struct ohsm_result *res)
{
    (void)c, (void)service, (void)key_handle, (void)res;
    *data = NULL;
    *len = 0;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_quorum_list(struct ohsm_client *c, size_t i, struct ohsm_qtoken_info **out,
                                size_t *n)
{
    (void)c, (void)i;
    *out = NULL;
    *n = 0;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_quorum_values(struct ohsm_client *c, size_t i, struct ohsm_quorum_values *out)
{
    (void)c, (void)i, (void)out;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_quorum_set(struct ohsm_client *c, int service, uint32_t value,
                               const struct ohsm_approval *ap, struct ohsm_result *res)
{
    (void)c, (void)service, (void)value, (void)ap, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_quorum_delete(struct ohsm_client *c, bool all, struct ohsm_result *res)
{
    (void)c, (void)all, (void)res;
    return OHSM_DEVICE_ERROR;
}
ohsm_rv ohsm_client_quorum_register(struct ohsm_client *c, const uint8_t *data, size_t len,
                                    const uint8_t *sig, size_t sig_len, const uint8_t *pub_der,
                                    size_t pub_len, struct ohsm_result *res)
{
    (void)c, (void)data, (void)len, (void)sig, (void)sig_len, (void)pub_der, (void)pub_len,
        (void)res;
    return OHSM_DEVICE_ERROR;
}

/* ---- driving the tool ---- */

static struct ohsm_client fake;
static char outbuf[65536];

/* Runs the lines of script (answers to prompts come from `answers`) and returns the output. */
static const char *run(const char *script, const char *answers, bool in_server, size_t server)
{
    struct ohsm_cmu c;
    char line[OHSM_CMU_LINE_MAX];
    FILE *in = fmemopen((void *)answers, strlen(answers), "r");
    FILE *out = fmemopen(outbuf, sizeof(outbuf), "w");

    assert_non_null(in);
    assert_non_null(out);
    FILE *saved = stdin;
    stdin = in; /* the caution prompt's answers */
    memset(&c, 0, sizeof(c));
    c.client = &fake;
    c.n = NSRV;
    c.out = out;
    c.io.tty = false;
    c.io.out = out;
    c.in_server = in_server;
    c.server = server;
    const char *p = script;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
        assert_true(len < sizeof(line));
        memcpy(line, p, len);
        line[len] = '\0';
        ohsm_cmu_run_line(&c, line);
        p += len + (nl != NULL ? 1 : 0);
    }
    (void)fputc('\0', out);
    (void)fclose(out);
    stdin = saved;
    (void)fclose(in);
    return outbuf;
}

static bool has(const char *out, const char *s)
{
    if (strstr(out, s) == NULL) {
        print_error("missing \"%s\" in:\n%s\n", s, out);
        return false;
    }
    return true;
}

/* "<cmd> failed: <why> on <where>" with the error table's text for rv. */
static bool has_fail(const char *out, const char *cmd, ohsm_rv rv, const char *where)
{
    char want[256];
    (void)snprintf(want, sizeof(want), "%s failed: %s %s", cmd, ohsm_rv_str(rv), where);
    return has(out, want);
}

#define S0 "on server 0(10.0.0.1)\n"
#define S1 "on server 1(10.0.0.2)\n"

/* ---- tests ---- */

/* getKeyInfo names owner and shared users by each server's own ids. */
static void test_cmu_keys_info_ids_per_server(void **state)
{
    (void)state;
    fresh();
    for (size_t i = 0; i < NSRV; i++) {
        share(add_key(i, 262162, OHSM_CLASS_SECRET, OHSM_KT_AES, "alice"), "bob");
    }
    const char *out = run("getKeyInfo -k 262162\n", "", false, 0);
    assert_true(has(out, "Key Info on server 0(10.0.0.1):\n\n        Token/Flash Key,\n\n"
                         "        Owned by user 3\n\n"
                         "        also, shared to following 1 user(s):\n\n                 4\n"));
    assert_true(has(out, "Key Info on server 1(10.0.0.2):\n\n        Token/Flash Key,\n\n"
                         "        Owned by user 5\n\n"
                         "        also, shared to following 1 user(s):\n\n                 3\n"));
}

/* A session key says so; an owner unknown to a server is named, not given a wrong id; a server
 * without the key says why on its own line. */
static void test_cmu_keys_info_session_unknown_missing(void **state)
{
    (void)state;
    fresh();
    struct ohsm_obj *k = add_key(0, 37, OHSM_CLASS_SECRET, OHSM_KT_AES, "ghost");
    k->flags &= ~(uint32_t)OHSM_F_TOKEN;
    const char *out = run("getKeyInfo 37\n", "", false, 0);
    assert_true(has(out, "        Session Key,\n"));
    assert_true(has(out, "        Owned by user 'ghost' (not a user on this server)\n"));
    assert_null(strstr(out, "also, shared"));
    assert_true(has_fail(out, "getKeyInfo", OHSM_KEY_HANDLE_INVALID, S1));
    /* Server mode asks only the server you are in. */
    out = run("getKeyInfo 37\n", "", true, 0);
    assert_null(strstr(out, "server 1("));
}

/* shareKey sends the one name the id stands for on every server. */
static void test_cmu_keys_share_sends_the_name(void **state)
{
    (void)state;
    fresh();
    /* id 4 is bob on server 0; on server 1 bob is 3 and 4 is nobody: still only bob. */
    const char *out = run("shareKey 262162 4 1\n", "y\n", false, 0);
    assert_true(has(out, "This is a CRITICAL operation"));
    assert_int_equal(F.shares, 1);
    assert_string_equal(F.share_name, "bob");
    assert_true(F.share_on);
    assert_true(has(out, "shareKey success on server 0(10.0.0.1)\n"));
    assert_true(has(out, "shareKey success on server 1(10.0.0.2)\n"));
    out = run("shareKey 262162 4 0\n", "y\n", false, 0);
    assert_int_equal(F.shares, 2);
    assert_false(F.share_on);
}

/* An id that names different users on two servers, or no user anywhere, or 'n': nothing sent. */
static void test_cmu_keys_share_refusals_send_nothing(void **state)
{
    (void)state;
    fresh();
    /* id 3 is alice on server 0 and bob on server 1. */
    const char *out = run("shareKey 262162 3 1\n", "y\n", false, 0);
    assert_true(has(out, "shareKey failed: user id 3 is 'alice' on server 0(10.0.0.1) but 'bob' "
                         "on server 1(10.0.0.2); nothing was changed"));
    out = run("shareKey 262162 99 1\n", "y\n", false, 0);
    assert_true(has_fail(out, "shareKey", OHSM_USER_NOT_FOUND, S0));
    assert_true(has_fail(out, "shareKey", OHSM_USER_NOT_FOUND, S1));
    out = run("shareKey 262162 4 1\n", "n\n", false, 0);
    assert_null(strstr(out, "shareKey success"));
    out = run("shareKey 262162 4 7\nshareKey 0 4 1\nshareKey 262162 4\n", "y\ny\ny\n", false, 0);
    assert_true(has(out, "Invalid value '7'"));
    assert_true(has(out, "Invalid key handle '0'"));
    assert_true(has(out, "Usage: shareKey <key handle> <user id> <share 1 | unshare 0>"));
    assert_int_equal(F.shares, 0);
}

/* findAllKeys: owned (bare) and shared (s) keys in handle order, as the guide, others left out;
 * the hash only when asked and when the user has keys. */
static void test_cmu_keys_find_all_marks_and_hash(void **state)
{
    (void)state;
    fresh();
    F.session = OHSM_UT_CO;
    for (size_t i = 0; i < NSRV; i++) {
        add_key(i, 8, OHSM_CLASS_SECRET, OHSM_KT_AES, "alice");
        share(add_key(i, 9, OHSM_CLASS_SECRET, OHSM_KT_AES, "bob"), "alice");
        add_key(i, 10, OHSM_CLASS_PUBLIC, OHSM_KT_EC, "bob"); /* bob's public key */
        share(add_key(i, 262162, OHSM_CLASS_PRIVATE, OHSM_KT_EC, "alice"), "bob");
    }
    const char *out = run("findAllKeys 3 1\n", "", false, 0);
    assert_true(has(out, "Keys on server 0(10.0.0.1):\nNumber of keys found 3\n"
                         "number of keys matched from start index 0::3\n8,9(s),262162\n"
                         "Key Hash:\n"
                         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"));
    assert_true(has(out, "findAllKeys success on server 0(10.0.0.1)\n"));
    /* On server 1, alice is user 5 and 3 is bob. */
    assert_true(has(out, "Keys on server 1(10.0.0.2):\nNumber of keys found 3\n"
                         "number of keys matched from start index 0::3\n9,10,262162(s)\n"
                         "Key Hash:\n"
                         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"));
    out = run("findAllKeys 4 0\n", "", false, 0);
    assert_null(strstr(out, "Key Hash"));
    /* The admin owns no keys: an empty list and no hash. */
    out = run("findAllKeys 1 1\n", "", false, 0);
    assert_true(has(out, "Number of keys found 0\nnumber of keys matched from start index 0::0\n"
                         "findAllKeys success on server 0(10.0.0.1)\n"));
    assert_null(strstr(out, "Key Hash"));
}

/* findAllKeys is refused to a crypto user before any key is looked up. */
static void test_cmu_keys_find_all_not_for_cu(void **state)
{
    (void)state;
    fresh();
    const char *out = run("findAllKeys 3 0\n", "", false, 0);
    assert_true(has_fail(out, "findAllKeys", OHSM_ACCESS_DENIED, S0));
    assert_true(has_fail(out, "findAllKeys", OHSM_ACCESS_DENIED, S1));
    assert_null(strstr(out, "Keys on server"));
    assert_int_equal(F.finds, 0);
}

/* getAttribute prints booleans and numbers as 0x%08x, text as text (escaped), bytes in hex. */
static void test_cmu_keys_attribute_values(void **state)
{
    (void)state;
    fresh();
    for (size_t i = 0; i < NSRV; i++) {
        struct ohsm_obj *k = add_key(i, 6, OHSM_CLASS_SECRET, OHSM_KT_AES, "alice");
        (void)snprintf(k->label, sizeof(k->label), "my\nkey");
        k->kcv[0] = 0x9b, k->kcv[1] = 0x94, k->kcv[2] = 0xbd;
        k->has_kcv = true;
    }
    const char *out = run("getAttribute 6 354\ngetAttribute 6 0\ngetAttribute 6 3\n"
                          "getAttribute 6 371\ngetAttribute 6 353\n",
                          "", false, 0);
    assert_true(has(out, "\nAttribute Value on server 0(10.0.0.1):\nOBJ_ATTR_EXTRACTABLE\n"
                         "0x00000001\n"));
    assert_true(has(out, "\nAttribute Value on server 1(10.0.0.2):\nOBJ_ATTR_EXTRACTABLE\n"
                         "0x00000001\n"));
    assert_true(has(out, "OBJ_ATTR_CLASS\n0x00000004\n"));
    assert_true(has(out, "OBJ_ATTR_LABEL\nmy\\x0akey\n"));
    assert_true(has(out, "OBJ_ATTR_KCV\n0x9b94bd\n"));
    assert_true(has(out, "OBJ_ATTR_VALUE_LEN\n0x00000020\n"));
    /* 512: every attribute the key has, in one block per server. */
    out = run("getAttribute 6 512\n", "", false, 0);
    assert_true(has(out, "OBJ_ATTR_KEY_TYPE\n0x0000001f\nOBJ_ATTR_LABEL\nmy\\x0akey\n"));
    assert_true(has(out, "OBJ_ATTR_SENSITIVE\n0x00000001\n"));
    assert_null(strstr(out, "OBJ_ATTR_MODULUS"));
    assert_null(strstr(out, "(null)"));
}

/* Unknown attribute ids are refused before anything is asked; one the key lacks fails per server.
 */
static void test_cmu_keys_attribute_refusals(void **state)
{
    (void)state;
    fresh();
    add_key(0, 6, OHSM_CLASS_SECRET, OHSM_KT_AES, "alice");
    const char *out = run("getAttribute 6 9999\ngetAttribute 6 2147483654\n", "", false, 0);
    assert_true(has(out, "Invalid attribute id '9999': no such attribute"));
    assert_true(has(out, "Invalid attribute id '2147483654': no such attribute"));
    assert_null(strstr(out, "Attribute Value"));
    out = run("getAttribute 6 288\n", "", false, 0);
    assert_true(has_fail(out, "getAttribute", OHSM_ATTRIBUTE_TYPE_INVALID, S0));
    assert_true(has_fail(out, "getAttribute", OHSM_KEY_HANDLE_INVALID, S1));
    assert_null(strstr(out, "Attribute Value"));
}

/* syncKey copies from the first other server that has the key, or from the server you are in. */
static void test_cmu_keys_sync_key_source(void **state)
{
    (void)state;
    fresh();
    add_key(1, 40, OHSM_CLASS_SECRET, OHSM_KT_AES, "alice");
    const char *out = run("syncKey 40 0\n", "", false, 0);
    assert_true(has(out, "syncKey success\n")); /* the guide's whole answer */
    assert_null(strstr(out, "Syncing key"));
    assert_int_equal(F.syncs_key, 1);
    assert_int_equal(F.sync_from, 1);
    assert_int_equal(F.sync_to, 0);
    /* Nobody else has it: nothing is copied. */
    out = run("syncKey 40 1\nsyncKey 41 0\n", "", false, 0);
    char want[128];
    (void)snprintf(want, sizeof(want),
                   "syncKey failed: %s on every other server; nothing was "
                   "copied\n",
                   ohsm_rv_str(OHSM_KEY_HANDLE_INVALID));
    assert_true(has(out, want));
    assert_int_equal(F.syncs_key, 1);
    /* Server mode: from there, even when it lacks the key (a deletion to copy). */
    out = run("syncKey 40 1\nsyncKey 40 0\n", "", true, 0);
    assert_int_equal(F.syncs_key, 2);
    assert_int_equal(F.sync_from, 0);
    assert_int_equal(F.sync_to, 1);
    assert_true(has(out, "syncKey failed: the destination server 0(10.0.0.1) is the server you are "
                         "in"));
    assert_int_equal(F.syncs_key, 2);
}

/* syncUser resolves the id on the source server and sends that name. */
static void test_cmu_keys_sync_user(void **state)
{
    (void)state;
    fresh();
    const char *out = run("syncUser 5 0\n", "", false, 0); /* 5 is alice on server 1 only */
    assert_true(
        has(out, "ExtractMaskedObject: 0x0 !\nInsertMaskedObject: 0x0 !\nsyncUser success\n"));
    assert_int_equal(F.syncs_user, 1);
    assert_string_equal(F.sync_name, "alice");
    assert_int_equal(F.sync_from, 1);
    out = run("syncUser 3 1\n", "", true, 0); /* from server 0: 3 is alice there */
    assert_string_equal(F.sync_name, "alice");
    assert_int_equal(F.sync_from, 0);
    out = run("syncUser 77 1\n", "", false, 0);
    char want[128];
    (void)snprintf(want, sizeof(want), "syncUser failed: %s on every other server",
                   ohsm_rv_str(OHSM_USER_NOT_FOUND));
    assert_true(has(out, want));
    assert_int_equal(F.syncs_user, 2);
}

/* Output files: the blocks go to the file, the outcome to the terminal; no symbolic links. */
static void test_cmu_keys_output_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cmu_keys.XXXXXX", path[64], link[64], buf[4096];
    assert_non_null(mkdtemp(dir));
    (void)snprintf(path, sizeof(path), "%s/info", dir);
    (void)snprintf(link, sizeof(link), "%s/link", dir);
    fresh();
    for (size_t i = 0; i < NSRV; i++) {
        add_key(i, 7, OHSM_CLASS_SECRET, OHSM_KT_AES, "alice");
    }
    char script[256];
    (void)snprintf(script, sizeof(script), "getKeyInfo -k 7 %s\n", path);
    const char *out = run(script, "", false, 0);
    assert_null(strstr(out, "Key Info on"));
    assert_true(has(out, "getKeyInfo success on server 1(10.0.0.2)\n"));
    assert_true(has(out, "Output written to '"));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    (void)fclose(f);
    assert_true(has(buf, "Key Info on server 1(10.0.0.2):\n\n        Token/Flash Key,\n\n"
                         "        Owned by user 5\n"));
    assert_int_equal(symlink(path, link), 0);
    (void)snprintf(script, sizeof(script), "getKeyInfo -k 7 %s\n", link);
    out = run(script, "", false, 0);
    assert_true(has(out, "Cannot write to '"));
    assert_null(strstr(out, "getKeyInfo success"));
    (void)unlink(link);
    (void)unlink(path);
    (void)rmdir(dir);
}

/* server N enters server mode; exit leaves it; exit outside it says so. */
static void test_cmu_keys_server_mode(void **state)
{
    (void)state;
    fresh();
    const char *out = run("exit\nserver 1\nserver 2\n", "", false, 0);
    assert_true(has(out, "Not in server mode"));
    assert_true(has(out, "Server is in 'E2' mode...\n"));
    assert_true(has(out, "Invalid server id '2'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmu_keys_info_ids_per_server),
        cmocka_unit_test(test_cmu_keys_info_session_unknown_missing),
        cmocka_unit_test(test_cmu_keys_share_sends_the_name),
        cmocka_unit_test(test_cmu_keys_share_refusals_send_nothing),
        cmocka_unit_test(test_cmu_keys_find_all_marks_and_hash),
        cmocka_unit_test(test_cmu_keys_find_all_not_for_cu),
        cmocka_unit_test(test_cmu_keys_attribute_values),
        cmocka_unit_test(test_cmu_keys_attribute_refusals),
        cmocka_unit_test(test_cmu_keys_sync_key_source),
        cmocka_unit_test(test_cmu_keys_sync_user),
        cmocka_unit_test(test_cmu_keys_output_file),
        cmocka_unit_test(test_cmu_keys_server_mode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
