/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cmu's commands as one static table (name, positional argument specs, flags, handler,
 * help) and the one path every line takes: split, check against the row (parse.c), ask for a
 * hidden password when -hpswd was given (twice for a new one), show the caution banner and ask
 * y/n for critical commands, then call the row's handler, which calls libopenhsm and prints one
 * line per server. Help and usage are printed from the table. Input lines are untrusted and may
 * carry passwords: typed passwords live in stack buffers wiped on every path, and a line that
 * holds a password in clear never enters the history.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cmu/cmu.h"

#define BANNER                                                                                     \
    "*************************CAUTION********************************\n"                           \
    "This is a CRITICAL operation, should be done on all nodes in the\n"                           \
    "cluster. AWS does NOT synchronize these changes automatically with the\n"                     \
    "nodes on which this operation is not executed or failed, please\n"                            \
    "ensure this operation is executed on all nodes in the cluster.\n"                             \
    "****************************************************************\n"

/* Not an ohsm_rv: marks a result slot the library did not fill. */
#define UNFILLED ((ohsm_rv)OHSM_RV_COUNT_)

/* Typed passwords: room to see that one is too long rather than cut it. */
#define PW_BUF 256

struct ohsm_result *ohsm_cmu_results_new(struct ohsm_cmu *c)
{
    struct ohsm_result *res = calloc(c->n, sizeof(*res));
    if (res == NULL) {
        (void)fprintf(c->out, "Error: %s\n", ohsm_rv_str(OHSM_HOST_MEMORY));
        c->failed = true;
        return NULL;
    }
    ohsm_cmu_results_reset(c, res);
    return res;
}

void ohsm_cmu_results_reset(struct ohsm_cmu *c, struct ohsm_result *res)
{
    for (size_t i = 0; i < c->n; i++) {
        res[i].rv = UNFILLED;
    }
}

void ohsm_cmu_finish(struct ohsm_cmu *c, const char *cmd, ohsm_rv rv, struct ohsm_result *res)
{
    for (size_t i = 0; i < c->n; i++) {
        if (res[i].rv == UNFILLED) {
            res[i].rv = rv != OHSM_OK ? rv : OHSM_DEVICE_ERROR;
        }
    }
    (void)ohsm_cmu_report(c, cmd, res);
    free(res);
}

static void h_login(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res != NULL) {
        ohsm_rv rv = ohsm_client_login(c->client, p->type, p->user, p->password, res, NULL);
        (void)fputc('\n', c->out); /* the guide's loginHSM: a blank line, then one per server */
        ohsm_cmu_finish(c, "loginHSM", rv, res);
    }
}

static void h_logout(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    (void)p;
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res != NULL) {
        ohsm_rv rv = ohsm_client_logout(c->client, res);
        (void)fputc('\n', c->out);
        ohsm_cmu_finish(c, "logoutHSM", rv, res);
    }
}

static void h_create(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res != NULL) {
        (void)fprintf(c->out, "Creating User %s(%s) on %zu nodes\n", p->user,
                      ohsm_utype_cmu_name(p->type), c->n);
        const struct ohsm_approval *ap = ohsm_cmu_approval_get(c);
        ohsm_rv rv = ap != NULL ? ohsm_client_create_user_q(c->client, p->type, p->user,
                                                            p->password, ap, res)
                                : ohsm_client_create_user(c->client, p->type, p->user,
                                                          p->password, res);
        ohsm_cmu_finish(c, "createUser", rv, res);
        ohsm_cmu_approval_spent(c, ap, rv);
    }
}

static void h_delete(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res != NULL) {
        (void)fprintf(c->out, "Deleting user %s(%s) on %zu nodes\n", p->user,
                      ohsm_utype_cmu_name(p->type), c->n);
        const struct ohsm_approval *ap = ohsm_cmu_approval_get(c);
        ohsm_rv rv = ap != NULL
                         ? ohsm_client_delete_user_q(c->client, p->type, p->user, ap, res)
                         : ohsm_client_delete_user(c->client, p->type, p->user, res);
        ohsm_cmu_finish(c, "deleteUser", rv, res);
        ohsm_cmu_approval_spent(c, ap, rv);
    }
}

static void h_change(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    struct ohsm_result *res = ohsm_cmu_results_new(c);
    if (res != NULL) {
        (void)fprintf(c->out, "Changing password for %s(%s) on %zu nodes\n", p->user,
                      ohsm_utype_cmu_name(p->type), c->n);
        const struct ohsm_approval *ap = ohsm_cmu_approval_get(c);
        ohsm_rv rv = ap != NULL ? ohsm_client_change_password_q(c->client, p->type, p->user,
                                                                p->password, ap, res, NULL)
                                : ohsm_client_change_password(c->client, p->type, p->user,
                                                              p->password, res, NULL);
        ohsm_cmu_finish(c, "changePswd", rv, res);
        ohsm_cmu_approval_spent(c, ap, rv);
    }
}

void ohsm_cmu_scope(const struct ohsm_cmu *c, size_t *lo, size_t *hi)
{
    *lo = c->in_server ? c->server : 0;
    *hi = c->in_server ? c->server + 1 : c->n;
}

static void h_list(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    (void)p;
    ohsm_cmu_scope(c, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        struct ohsm_user_info *users = NULL;
        size_t n = 0;
        ohsm_rv rv = ohsm_client_list_users(c->client, i, &users, &n);
        if (rv == OHSM_OK) {
            ohsm_cmu_print_users(c, i, users, n);
        } else {
            ohsm_cmu_report_one(c, "listUsers", i, rv);
        }
        free(users);
    }
}

static void h_info(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    ohsm_cmu_print_server_info(c, p->server);
}

static void h_hsm_info(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    size_t lo, hi;
    (void)p;
    ohsm_cmu_scope(c, &lo, &hi);
    (void)fprintf(c->out, "Getting HSM Info on %zu nodes\n", hi - lo);
    for (size_t i = lo; i < hi; i++) {
        struct ohsm_hsm_info h;
        memset(&h, 0, sizeof(h));
        ohsm_rv rv = ohsm_client_hsm_info(c->client, i, &h);
        if (rv == OHSM_OK) {
            ohsm_cmu_print_hsm_info(c, i, &h);
        } else {
            ohsm_cmu_report_one(c, "getHSMInfo", i, rv);
        }
    }
}

/* Every session is TLS 1.3 from this tool to the HSM, verified against the cluster's trust
 * anchor: end-to-end by construction. The command reconnects what it can and says where that
 * holds. */
static void h_e2e(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    (void)p;
    ohsm_rv rv = ohsm_client_reconnect(c->client);
    (void)rv; /* per-server state is read below */
    (void)fputc('\n', c->out);
    for (size_t i = 0; i < c->n; i++) {
        struct ohsm_hsm_status st;
        memset(&st, 0, sizeof(st));
        st.last_rv = OHSM_NOT_CONNECTED;
        if (ohsm_client_hsm_status(c->client, i, &st) == OHSM_OK && st.connected) {
            char label[128];
            ohsm_cmu_label(c, i, label, sizeof(label));
            (void)fprintf(c->out, "E2E enabled on %s\n", label);
        } else {
            ohsm_cmu_report_one(c, "enable_e2e", i, st.last_rv);
        }
    }
}

static void h_help(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);

static void h_quit(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    (void)p;
    c->quit = true;
}

/* The table reads best as rows; the formatter would split every field. */
/* clang-format off */
#define T_ANY                                                                                      \
    (OHSM_CMU_T(OHSM_UT_CO) | OHSM_CMU_T(OHSM_UT_CU) | OHSM_CMU_T(OHSM_UT_AU) |                    \
     OHSM_CMU_T(OHSM_UT_PRECO))
#define T_NEW (OHSM_CMU_T(OHSM_UT_CO) | OHSM_CMU_T(OHSM_UT_CU) | OHSM_CMU_T(OHSM_UT_AU))
#define A_TYPE_ANY {OHSM_CMU_ARG_UTYPE, "<CO|CU|AU|PRECO>", T_ANY, false}
#define A_USER {OHSM_CMU_ARG_USER, "<user name>", 0, false}
#define A_PW {OHSM_CMU_ARG_PASSWORD, "<password | -hpswd>", 0, false}

#define A_HANDLE {OHSM_CMU_ARG_HANDLE, "<key handle>", 0, false}
#define A_UID {OHSM_CMU_ARG_USER_ID, "<user id>", 0, false}
#define A_FILE {OHSM_CMU_ARG_FILE, "<output file>", 0, true}
#define A_DEST {OHSM_CMU_ARG_SERVER, "<destination server>", 0, false}
#define A_SVC(mask) {OHSM_CMU_ARG_SERVICE, "<service>", (mask), false}
#define SVC_34 ((1u << 3) | (1u << 4))
#define SVC_345 ((1u << 3) | (1u << 4) | (1u << 5))
#define A_IN(name) {OHSM_CMU_ARG_IN_FILE, name, 0, false}

static const struct ohsm_cmu_cmd cmds[] = {
    {"approveToken", {A_IN("<approval file>")}, 0, OHSM_OP_COUNT_, ohsm_cmu_approve_token,
     "Approves a quorum token with its approvers' signatures, for the next guarded command",
     "The approval file is the guide's text file: Multi Token File Path (the getToken file),\n"
     "Token File Path, Number of Approvals, then for each approver Approver Type (2 CO, 1 CU),\n"
     "Approver Name and Approval File (openssl dgst -sha256 -sign KEY -out SIG TOKENFILE).\n"
     "Each HSM checks the signatures when the approval is used: by this session's next\n"
     "createUser, deleteUser, changePswd or setMValue, which spends it when it succeeds.",
     "anyone; the HSMs check the approvers"},
    {"changePswd", {A_TYPE_ANY, A_USER, A_PW}, OHSM_CMU_F_CRITICAL | OHSM_CMU_F_NEW_PW,
     OHSM_OP_CHANGE_OWN_PW, h_change,
     "Changes a user's password on every HSM",
     "Any user may change their own password; a CO may change anyone's. Changing the PRECO's\n"
     "password activates the cluster: admin becomes a CO. A locked-out user is unlocked by a\n"
     "CO setting a new password. With -hpswd the password is asked for twice, without echo.",
     NULL},
    {"createUser", {{OHSM_CMU_ARG_UTYPE, "<CO|CU|AU>", T_NEW, false}, A_USER, A_PW},
     OHSM_CMU_F_CRITICAL | OHSM_CMU_F_NEW_PW, OHSM_OP_MANAGE_USERS, h_create,
     "Creates a user on every HSM (CO only)",
     "User names are 1 to 31 letters, digits or '_' and are not case-sensitive; passwords are\n"
     "7 to 32 characters. With -hpswd the password is asked for twice, without echo.", NULL},
    {"deleteUser", {A_TYPE_ANY, A_USER}, 0, OHSM_OP_MANAGE_USERS, h_delete,
     "Deletes a user from every HSM (CO only)",
     "The last CO and the user who is logged in cannot be deleted.", NULL},
    {"delToken", {{OHSM_CMU_ARG_KEYWORD, "all", 0, true}}, 0, OHSM_OP_COUNT_,
     ohsm_cmu_del_token, "Deletes your quorum tokens (all: everyone's, CO) on every HSM",
     "Also forgets an approval approveToken kept.", NULL},
    {"enable_e2e", {{0}}, 0, OHSM_OP_COUNT_, h_e2e,
     "Shows that each HSM session is end-to-end encrypted",
     "Sessions are always TLS 1.3 to the HSM, verified against the cluster's trust anchor;\n"
     "this reconnects servers that are down and reports each one.", NULL},
    {"exit", {{0}}, 0, OHSM_OP_COUNT_, ohsm_cmu_exit, "Leaves server mode", NULL, NULL},
    {"findAllKeys", {A_UID, {OHSM_CMU_ARG_BOOL01, "<key hash (0/1)>", 0, false}, A_FILE}, 0,
     OHSM_OP_KEY_INFO, ohsm_cmu_find_all_keys,
     "Lists the keys a crypto user owns or shares, per HSM",
     "Marks each key (o) when the user owns it and (s) when it is shared with them. With key\n"
     "hash 1, each HSM also prints its digest over all its token keys, owners and shares: equal\n"
     "digests mean the HSMs hold the same keys (none is printed for a user without keys).\n"
     "The user id is each HSM's own (listUsers); the output may go to a file instead.",
     "CO or AU"},
    {"getAttribute", {A_HANDLE, {OHSM_CMU_ARG_ATTR_ID, "<attribute id>", 0, false}, A_FILE}, 0,
     OHSM_OP_KEY_INFO, ohsm_cmu_get_attribute,
     "Shows one attribute of a key (or all: 512), per HSM",
     "The attribute id is an OBJ_ATTR_* number (OBJ_ATTR_EXTRACTABLE is 354, OBJ_ATTR_LABEL 3,\n"
     "OBJ_ATTR_KEY_TYPE 256); the crypto user must own the key or have it shared. Booleans and\n"
     "numbers print as 0x%08x, text as text, byte strings in hex. The output may go to a file.",
     NULL},
    {"getMValue", {A_SVC(SVC_34)}, 0, OHSM_OP_COUNT_, ohsm_cmu_get_mvalue,
     "Shows a quorum service's minimum number of approvals (M) on each HSM",
     "Services: 3 USER_MGMT (createUser, deleteUser, changePswd of another user),\n"
     "4 MISC_CO (setMValue). No login is needed.", "anyone, no login needed"},
    {"getToken", {A_SVC(SVC_345), A_USER, {OHSM_CMU_ARG_FILE, "<token file>", 0, false}}, 0,
     OHSM_OP_COUNT_, ohsm_cmu_get_token,
     "Gets a quorum token from every HSM into a file for approvers to sign",
     "The user is the one logged in. Services: 3 USER_MGMT, 4 MISC_CO, and 5 REGISTRATION (the\n"
     "token registerQuorumPubKey wants signed). Approvers sign the file with\n"
     "openssl dgst -sha256 -sign KEY -out SIG FILE.", "CO (CU for registration)"},
    {"getHSMInfo", {{0}}, 0, OHSM_OP_CLUSTER_INFO, h_hsm_info,
     "Shows model, serial, FIPS state, memory and versions of each HSM",
     "No login is needed.", NULL},
    {"getKeyInfo", {{OHSM_CMU_ARG_KEYWORD, "-k", 0, true}, A_HANDLE, A_FILE}, 0,
     OHSM_OP_KEY_INFO, ohsm_cmu_key_info,
     "Shows a key's owner and the users it is shared with, per HSM",
     "Token or session key, the owner's user id and the ids of the crypto users the key is\n"
     "shared with, as each HSM numbers its users. The owner and its shared users may ask; a CO\n"
     "sees every key's owners. The output may go to a file instead.",
     "CU (owner or shared), or CO"},
    {"help", {{OHSM_CMU_ARG_COMMAND, "<command>", 0, true}}, 0, OHSM_OP_COUNT_, h_help,
     "Lists the commands, or shows the usage of one", NULL, NULL},
    {"info", {{OHSM_CMU_ARG_KEYWORD, "server", 0, false},
              {OHSM_CMU_ARG_SERVER, "<server id>", 0, false}},
     0, OHSM_OP_COUNT_, h_info, "Shows a server's address, state and who is logged in on it",
     "Servers are numbered from 0 in the order of the cluster configuration.", NULL},
    {"listUsers", {{0}}, 0, OHSM_OP_CLUSTER_INFO, h_list, "Lists the users of each HSM",
     "No login is needed.", NULL},
    {"loginHSM", {A_TYPE_ANY, A_USER, A_PW}, 0, OHSM_OP_COUNT_, h_login, "Logs in to every HSM",
     "After 5 failed logins in a row (or the cluster's limit) a user is locked out on that HSM\n"
     "until a CO sets a new password. With -hpswd the password is asked for without echo.", NULL},
    {"listTokens", {{0}}, 0, OHSM_OP_COUNT_, ohsm_cmu_list_tokens,
     "Lists the quorum tokens on each HSM", NULL, NULL},
    {"logoutHSM", {{0}}, 0, OHSM_OP_COUNT_, h_logout, "Logs out of every HSM", NULL, NULL},
    {"quit", {{0}}, 0, OHSM_OP_COUNT_, h_quit, "Ends the session", NULL, NULL},
    {"registerQuorumPubKey",
     {{OHSM_CMU_ARG_UTYPE, "<CO|CU>", OHSM_CMU_T(OHSM_UT_CO) | OHSM_CMU_T(OHSM_UT_CU), false},
      A_USER, A_IN("<registration token>"), A_IN("<signed registration token>"),
      A_IN("<public key>")},
     OHSM_CMU_F_CRITICAL, OHSM_OP_COUNT_, ohsm_cmu_register_quorum_key,
     "Registers your RSA-2048 public key for approving quorum tokens",
     "The registration token is a getToken 5 file of the user who is logged in, signed with the\n"
     "key's private half (openssl dgst -sha256 -sign); the public key is PEM.", "CO or CU"},
    {"server", {{OHSM_CMU_ARG_SERVER, "<server id>", 0, false}}, 0, OHSM_OP_COUNT_, ohsm_cmu_server,
     "Enters server mode on one server (exit leaves it)",
     "In server mode listUsers, getHSMInfo, getKeyInfo, getAttribute and findAllKeys ask only\n"
     "that server, and syncKey and syncUser copy from it. Changes (users, shares) still go to\n"
     "every server.", NULL},
    {"setMValue", {A_SVC(SVC_34), {OHSM_CMU_ARG_MVALUE, "<value 1..8>", 0, false}},
     OHSM_CMU_F_CRITICAL | OHSM_CMU_F_TIGHT, OHSM_OP_COUNT_, ohsm_cmu_set_mvalue,
     "Sets a quorum service's minimum number of approvals (M) on every HSM",
     "Needs an approved MISC_CO (4) token (approveToken) when service 4's value is above 1.",
     "CO"},
    {"shareKey", {A_HANDLE, A_UID, {OHSM_CMU_ARG_BOOL01, "<share 1 | unshare 0>", 0, false}},
     OHSM_CMU_F_CRITICAL | OHSM_CMU_F_TIGHT, OHSM_OP_KEY_MGMT, ohsm_cmu_share_key,
     "Shares a key with a crypto user, or unshares it, on every HSM",
     "Only the key's owner may share it. The user id (listUsers) must name the same crypto user\n"
     "on every server; a shared user may use the key but not manage it.", NULL},
    {"syncKey", {A_HANDLE, A_DEST}, 0, OHSM_OP_MASKED_OBJECTS, ohsm_cmu_sync_key,
     "Copies a key (or its deletion) to a server that missed a change",
     "The key's newest masked object (sealed under the cluster's masking key; never the key in\n"
     "clear) is copied from the server you are in (server mode), else from the first other\n"
     "server that has the key. A CU may sync the keys it owns, a CO any key. In server mode on\n"
     "a server where the key was deleted, the sealed proof of deletion is copied instead.",
     "CO or CU (owner)"},
    {"syncUser", {A_UID, A_DEST}, 0, OHSM_OP_MANAGE_USERS, ohsm_cmu_sync_user,
     "Copies a user (name, type, password) to a server that missed a change",
     "The user id is that of the server copied from: the one you are in (server mode), else\n"
     "the first other server that has the id. The user record travels sealed under the\n"
     "cluster's masking key.", NULL},
};

/* clang-format on */

static void print_usage(struct ohsm_cmu *c, const struct ohsm_cmu_cmd *cmd)
{
    char usage[256];
    if (ohsm_cmu_usage(cmd, usage, sizeof(usage))) {
        (void)fprintf(c->out, "Usage: %s\n", usage);
    }
}

static void h_help(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p)
{
    if (p->topic != NULL) {
        char who[96];
        ohsm_cmu_who(p->topic, who, sizeof(who));
        print_usage(c, p->topic);
        (void)fprintf(c->out, "\n%s. Who may run it: %s.\n", p->topic->summary, who);
        if (p->topic->help != NULL) {
            (void)fprintf(c->out, "%s\n", p->topic->help);
        }
        return;
    }
    (void)fprintf(c->out, "Commands:\n\n");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        (void)fprintf(c->out, "    %-14s %s\n", cmds[i].name, cmds[i].summary);
    }
    (void)fprintf(c->out,
                  "\nType 'help <command>' for its arguments. A command may be shortened to any\n"
                  "prefix that names only it (listU for listUsers).\n");
}

/* Asks for a hidden password (twice for a new one) into pw; false (message printed) when the
 * command must not go on. */
static bool ask_password(struct ohsm_cmu *c, bool twice, char *pw, char *again)
{
    enum ohsm_cmu_read st = ohsm_cmu_io_secret(&c->io, "Enter password:", pw, PW_BUF);
    if (st == OHSM_CMU_READ_OK && twice) {
        st = ohsm_cmu_io_secret(&c->io, "Re-enter password:", again, PW_BUF);
    }
    switch (st) {
    case OHSM_CMU_READ_OK:
        break;
    case OHSM_CMU_READ_EOF:
        (void)fprintf(c->out, "No password entered; nothing was done\n");
        return false;
    case OHSM_CMU_READ_NOECHO:
        (void)fprintf(c->out, "Cannot turn off terminal echo; password not read\n");
        return false;
    case OHSM_CMU_READ_LONG:
        (void)fprintf(c->out, "Invalid password: %s\n", ohsm_rv_str(OHSM_PIN_LEN_RANGE));
        return false;
    }
    if (ohsm_cmu_check_password(pw) != OHSM_OK) {
        (void)fprintf(c->out, "Invalid password: %s\n", ohsm_rv_str(OHSM_PIN_LEN_RANGE));
        return false;
    }
    if (twice) {
        size_t a = strlen(pw), b = strlen(again);
        if (a != b || CRYPTO_memcmp(pw, again, a) != 0) {
            (void)fprintf(c->out, "Passwords do not match; nothing was done\n");
            return false;
        }
    }
    return true;
}

/* The caution banner and the y/n question; true to go on. End of input cancels. tight: no blank
 * line before the banner (shareKey's page shows none; createUser and changePswd show one). */
static bool confirm(struct ohsm_cmu *c, bool tight)
{
    char answer[64];

    (void)fprintf(c->out, "%s%s\n", tight ? "" : "\n", BANNER);
    for (;;) {
        enum ohsm_cmu_read st =
            ohsm_cmu_io_answer(&c->io, "Do you want to continue(y/n)?", answer, sizeof(answer));
        if (st == OHSM_CMU_READ_EOF) {
            c->failed = true; /* the script ended before the answer: the command did not run */
            return false;
        }
        enum ohsm_cmu_answer a =
            st == OHSM_CMU_READ_OK ? ohsm_cmu_answer(answer) : OHSM_CMU_ANSWER_INVALID;
        if (a != OHSM_CMU_ANSWER_INVALID) {
            return a == OHSM_CMU_ANSWER_YES;
        }
        (void)fprintf(c->out, "Invalid option, please type 'y' or 'n'\n\n");
    }
}

/* The line as typed, words joined by one space, for the history. */
static void remember(struct ohsm_cmu *c, char **tok, size_t ntok)
{
    char line[OHSM_CMU_LINE_MAX];
    size_t off = 0;

    line[0] = '\0';
    for (size_t i = 0; i < ntok; i++) {
        int w = snprintf(line + off, sizeof(line) - off, "%s%s", i == 0 ? "" : " ", tok[i]);
        if (w < 0 || (size_t)w >= sizeof(line) - off) {
            return; /* cannot happen for a line that fit the reader; never store a cut line */
        }
        off += (size_t)w;
    }
    ohsm_cmu_io_remember(&c->io, line);
}

void ohsm_cmu_run_line(struct ohsm_cmu *c, char *line)
{
    char *tok[OHSM_CMU_MAX_TOKENS];
    char err[256];
    char pw[PW_BUF], again[PW_BUF];
    struct ohsm_cmu_parsed p;
    size_t ntok = ohsm_cmu_split(line, tok, OHSM_CMU_MAX_TOKENS);

    pw[0] = again[0] = '\0';
    enum ohsm_cmu_status st =
        ohsm_cmu_parse(cmds, sizeof(cmds) / sizeof(cmds[0]), tok, ntok, c->n, &p, err, sizeof(err));
    switch (st) {
    case OHSM_CMU_EMPTY:
        goto out;
    case OHSM_CMU_UNKNOWN:
    case OHSM_CMU_AMBIGUOUS:
        (void)fprintf(c->out, "%s\nType 'help' to list the commands.\n", err);
        c->failed = true;
        goto out;
    case OHSM_CMU_USAGE:
        print_usage(c, p.cmd);
        c->failed = true;
        goto out;
    case OHSM_CMU_BAD_ARG:
        (void)fprintf(c->out, "%s\n", err);
        c->failed = true;
        goto out;
    case OHSM_CMU_OK:
        break;
    }
    if (p.password == NULL) {
        remember(c, tok, ntok < OHSM_CMU_MAX_TOKENS ? ntok : OHSM_CMU_MAX_TOKENS);
    }
    if (p.hidden) {
        if (!ask_password(c, (p.cmd->flags & OHSM_CMU_F_NEW_PW) != 0, pw, again)) {
            c->failed = true;
            goto out;
        }
        p.password = pw;
    }
    if ((p.cmd->flags & OHSM_CMU_F_CRITICAL) != 0 &&
        !confirm(c, (p.cmd->flags & OHSM_CMU_F_TIGHT) != 0)) {
        goto out;
    }
    p.cmd->handler(c, &p);
out:
    OPENSSL_cleanse(pw, sizeof(pw));
    OPENSSL_cleanse(again, sizeof(again));
    p.password = NULL;
    (void)fflush(c->out);
}

const struct ohsm_cmu_cmd *ohsm_cmu_commands(size_t *n)
{
    *n = sizeof(cmds) / sizeof(cmds[0]);
    return cmds;
}
