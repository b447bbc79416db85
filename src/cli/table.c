/* SPDX-License-Identifier: Apache-2.0
 *
 * The grammar of openhsm-cli: the one table of commands (CloudHSM CLI's command words, options and
 * roles), each row with its options, handler, help text and the permission-table operation it
 * needs. The parser (grammar.c), help (help.c) and the shell all read this table; to add a command,
 * add its options and a row here and write its handler. Static data only.
 */
#include "cli/cli.h"

#define NOOP OHSM_OP_COUNT_ /* the command needs no permission-table operation */

/* Roles a user may be created, deleted or logged in with. */
static const struct ohsm_cli_choice roles[] = {
    {"crypto-user", "a crypto user creates, manages and uses keys"},
    {"admin", "an admin manages users (and, before activation, names the unactivated admin)"},
    {NULL, NULL},
};

static const struct ohsm_cli_opt global_opts[] = {
    {"cluster-config", '\0', "PATH", 0, NULL,
     "Cluster configuration file (client.json written by openhsmd).\n"
     "Default: the file named by " OHSM_CLUSTER_CONFIG_ENV},
    {"cluster-id", '\0', "CLUSTER_ID", 0, NULL,
     "Run against this cluster; it must be the cluster of the configuration"},
    {NULL, '\0', NULL, 0, NULL, NULL},
};

/* Initializer macros read better unwrapped. */
/* clang-format off */
#define OPT_USERNAME(what)                                                                         \
    {"username", '\0', "USERNAME", OHSM_CLI_O_REQUIRED, NULL,                                     \
     what "\n1 to 31 letters, digits or '_'; not case sensitive, shown in lower case"}
#define OPT_ROLE(what) {"role", '\0', "ROLE", OHSM_CLI_O_REQUIRED, roles, what}
#define OPT_PASSWORD(what, asked)                                                                  \
    {"password", '\0', "PASSWORD", OHSM_CLI_O_SECRET, NULL,                                       \
     what " (7 to 32 characters).\nOptional: when left out, it is asked for without echo" asked}
#define END_OPTS {NULL, '\0', NULL, 0, NULL, NULL}
/* clang-format on */

static const struct ohsm_cli_opt login_opts[] = {
    OPT_USERNAME("Name of the user logging in."),
    OPT_ROLE("Role of the user logging in"),
    OPT_PASSWORD("Password of the user", ""),
    END_OPTS,
};

static const struct ohsm_cli_opt user_create_opts[] = {
    OPT_USERNAME("Name of the new user."),
    OPT_ROLE("Role of the new user"),
    OPT_PASSWORD("Password of the new user", ", twice"),
    END_OPTS,
};

static const struct ohsm_cli_opt user_delete_opts[] = {
    OPT_USERNAME("Name of the user to delete."),
    OPT_ROLE("Role of the user to delete"),
    END_OPTS,
};

static const struct ohsm_cli_opt user_change_password_opts[] = {
    OPT_USERNAME("Name of the user whose password changes."),
    OPT_ROLE("Role of that user"),
    OPT_PASSWORD("The new password", ", twice"),
    END_OPTS,
};

static const struct ohsm_cli_opt cluster_activate_opts[] = {
    OPT_PASSWORD("The new password of the admin user", ", twice"),
    END_OPTS,
};

static const struct ohsm_cli_cmd cmds[] = {
    {"cluster", "Manage the cluster", NULL, NULL, NULL, 0, NOOP, NULL},
    {"cluster activate", "Activate a new cluster",
     "Sets the first password of the admin user. Until this is done the cluster is not\n"
     "active and the admin is an unactivated admin; afterwards the admin logs in with the\n"
     "new password. Runs as the unactivated admin; no login needed.",
     cluster_activate_opts, NULL, OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_cluster_activate},
    {"cluster hsm-info", "List the HSMs of the cluster with their hardware and firmware details",
     NULL, NULL, NULL, 0, OHSM_OP_CLUSTER_INFO, ohsm_cli_cmd_cluster_hsm_info},
    {"exit", "Leave the interactive shell (same as quit)", NULL, NULL, NULL,
     OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION | OHSM_CLI_C_HIDDEN, NOOP, ohsm_cli_cmd_quit},
    {"help", "Print help for the program or for the given command", NULL, NULL, "COMMAND",
     OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_help},
    {"interactive", "Start an interactive shell (prompt: aws-cloudhsm > )",
     "Reads commands line by line, each printing one JSON object, until quit, exit or end\n"
     "of input. A login lasts until logout or the end of the shell.",
     NULL, NULL, OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION | OHSM_CLI_C_ARGV_ONLY, NOOP,
     ohsm_cli_cmd_interactive},
    {"login", "Log in to every HSM of the cluster",
     "The role admin also matches the unactivated admin of a cluster not yet activated.\n"
     "Five wrong passwords in a row lock the user out until an admin sets a new password.",
     login_opts, NULL, OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_login},
    {"logout", "Log out of every HSM of the cluster", NULL, NULL, NULL, OHSM_CLI_C_OWN_SESSION,
     NOOP, ohsm_cli_cmd_logout},
    {"quit", "Leave the interactive shell", NULL, NULL, NULL,
     OHSM_CLI_C_NO_CLUSTER | OHSM_CLI_C_OWN_SESSION, NOOP, ohsm_cli_cmd_quit},
    {"user", "Manage the users of the HSMs", NULL, NULL, NULL, 0, NOOP, NULL},
    {"user change-password", "Change a user's password",
     "Any user may change their own password; an admin may change anyone's, which also\n"
     "unlocks a locked-out user. The current password is not needed.",
     user_change_password_opts, NULL, 0, OHSM_OP_CHANGE_OWN_PW, ohsm_cli_cmd_user_change_password},
    {"user create", "Create a user on every HSM of the cluster", NULL, user_create_opts, NULL, 0,
     OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_user_create},
    {"user delete", "Delete a user from every HSM of the cluster", NULL, user_delete_opts, NULL, 0,
     OHSM_OP_MANAGE_USERS, ohsm_cli_cmd_user_delete},
    {"user list", "List the users of the cluster",
     "A user is locked when locked out on any HSM; cluster-coverage is full when every HSM\n"
     "answered and has the user, partial otherwise.",
     NULL, NULL, 0, OHSM_OP_CLUSTER_INFO, ohsm_cli_cmd_user_list},
};

const struct ohsm_cli_grammar ohsm_cli_grammar = {
    .prog = "openhsm-cli",
    .summary = "openhsm-cli: the CloudHSM CLI for openhsm clusters (every command prints one JSON "
               "object)",
    .cmds = cmds,
    .ncmds = sizeof(cmds) / sizeof(cmds[0]),
    .global = global_opts,
};
