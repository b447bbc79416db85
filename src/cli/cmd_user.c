/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli handlers for the session and user commands: login, logout, user list, user create,
 * user delete, user change-password (the last three with an optional quorum --approval). Each
 * takes its options from the parsed command line (already checked against the grammar), checks
 * usernames and passwords with the library's rules, calls libopenhsm, and shapes the result.
 * Mutations go to every HSM; success means every HSM succeeded, otherwise the message names the
 * HSMs that failed. Passwords are wiped on every path.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

void ohsm_cli_cmd_login(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                        struct ohsm_cli_out *out)
{
    char name[OHSM_USERNAME_MAX + 1];
    char pw[OHSM_CLI_PW_CAP];
    enum ohsm_utype type;
    enum ohsm_utype actual;

    pw[0] = '\0';
    if (!ohsm_cli_username(ohsm_cli_arg(a, "username"), name, sizeof(name), out) ||
        !ohsm_cli_role_type(a, &type, out) ||
        !ohsm_cli_password(ohsm_cli_arg(a, "password"), pw, sizeof(pw), out)) {
        goto out;
    }
    if (ohsm_cli_login(ctx, type, name, pw, &actual, out)) {
        /* The user's actual role: "admin" also names the unactivated admin. */
        ohsm_cli_out_ok(out, ohsm_cli_user_data(name, ohsm_cli_role_name(actual)));
    }
out:
    OPENSSL_cleanse(pw, sizeof(pw));
}

void ohsm_cli_cmd_logout(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                         struct ohsm_cli_out *out)
{
    (void)a;
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    size_t done = 0;
    bool ok = true;

    if (res == NULL) {
        return;
    }
    if (ohsm_client_logout(ctx->client, res) != OHSM_OK) {
        /* Logged out wherever the session lived; an HSM that cannot be reached has lost it. */
        for (size_t i = 0; i < n; i++) {
            done += res[i].rv == OHSM_OK;
            ok = ok && (res[i].rv == OHSM_OK || res[i].rv == OHSM_USER_NOT_LOGGED_IN ||
                        ohsm_cli_rv_unreachable(res[i].rv));
        }
        ok = ok && done > 0;
    }
    if (ok) {
        ohsm_cli_out_msg(out, "Logout successful");
    } else {
        ohsm_cli_fanout_err(ctx, out, "Logged out", "Logout", res);
    }
    free(res);
}

void ohsm_cli_cmd_user_list(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                            struct ohsm_cli_out *out)
{
    (void)a;
    size_t n = ohsm_client_hsm_count(ctx->client);
    struct ohsm_cli_user_list *l = calloc(n > 0 ? n : 1, sizeof(*l));
    struct ohsm_user_info **users = calloc(n > 0 ? n : 1, sizeof(*users));
    struct ohsm_result *res = ohsm_cli_results(ctx, out);
    size_t answered = 0;

    if (l == NULL || users == NULL || res == NULL) {
        ohsm_cli_out_err(out, "%s", ohsm_rv_str(OHSM_HOST_MEMORY));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t cnt = 0;
        res[i].rv = ohsm_client_list_users(ctx->client, i, &users[i], &cnt);
        if (res[i].rv != OHSM_OK) {
            users[i] = NULL;
            continue;
        }
        l[i].answered = true;
        l[i].users = users[i];
        l[i].n = cnt;
        answered++;
    }
    if (answered == 0) {
        ohsm_cli_fanout_err(ctx, out, "Users listed", "Listing users", res);
        goto out;
    }
    ohsm_cli_out_ok(out, ohsm_cli_users_json(l, n));
out:
    for (size_t i = 0; users != NULL && i < n; i++) {
        free(users[i]);
    }
    free(users);
    free(l);
    free(res);
}

/* user create / delete / change-password share this: check the input, call, shape. */
enum user_op { OP_CREATE, OP_DELETE, OP_CHANGE_PASSWORD };

static void user_mutation(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                          struct ohsm_cli_out *out, enum user_op op)
{
    static const char *const done[] = {"User created", "User deleted", "Password changed"};
    static const char *const action[] = {"Creating the user", "Deleting the user",
                                         "Changing the password"};
    char name[OHSM_USERNAME_MAX + 1];
    char pw[OHSM_CLI_PW_CAP];
    struct ohsm_result *res = NULL;
    struct ohsm_cli_approval h;
    const struct ohsm_approval *ap = NULL;
    enum ohsm_utype type;
    ohsm_rv rv;

    pw[0] = '\0';
    /* A bad approval file is reported before the password is asked for. */
    if (!ohsm_cli_approval_arg(a, &h, &ap, out) ||
        !ohsm_cli_username(ohsm_cli_arg(a, "username"), name, sizeof(name), out) ||
        !ohsm_cli_role_type(a, &type, out)) {
        goto out;
    }
    if (op != OP_DELETE &&
        !ohsm_cli_new_password(ohsm_cli_arg(a, "password"), pw, sizeof(pw), out)) {
        goto out;
    }
    res = ohsm_cli_results(ctx, out);
    if (res == NULL) {
        goto out;
    }
    switch (op) {
    case OP_CREATE:
        rv = ohsm_client_create_user_q(ctx->client, type, name, pw, ap, res);
        break;
    case OP_DELETE:
        rv = ohsm_client_delete_user_q(ctx->client, type, name, ap, res);
        break;
    default:
        rv = ohsm_client_change_password_q(ctx->client, type, name, pw, ap, res, NULL);
        break;
    }
    if (rv == OHSM_OK) {
        ohsm_cli_out_ok(out, ohsm_cli_user_data(name, ohsm_cli_arg(a, "role")));
    } else {
        ohsm_cli_fanout_err(ctx, out, done[op], action[op], res);
    }
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    ohsm_cli_approval_free(&h);
    free(res);
}

void ohsm_cli_cmd_user_create(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out)
{
    user_mutation(ctx, a, out, OP_CREATE);
}

void ohsm_cli_cmd_user_delete(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out)
{
    user_mutation(ctx, a, out, OP_DELETE);
}

void ohsm_cli_cmd_user_change_password(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                       struct ohsm_cli_out *out)
{
    user_mutation(ctx, a, out, OP_CHANGE_PASSWORD);
}
