/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cmu's session: the cluster client, the number of servers, the input reader and where
 * output goes; the command table (cmds.c) and the output shapes of cloudhsm_mgmt_util (print.c:
 * per-server result lines, the listUsers table, info and getHSMInfo blocks, the connection lines
 * at start-up) and the key commands (keys.c). Handlers parse nothing themselves: they get a
 * checked struct ohsm_cmu_parsed.
 * Single-threaded: one session per process.
 */
#ifndef OHSM_CMU_CMU_H
#define OHSM_CMU_CMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cmu/io.h"
#include "cmu/parse.h"
#include "openhsm/client.h"

#define OHSM_CMU_PROMPT "aws-cloudhsm>"
#define OHSM_CMU_LINE_MAX 1024 /* longest command line accepted */

struct ohsm_cmu_approval; /* quorum.c */

struct ohsm_cmu {
    struct ohsm_client *client; /* borrowed */
    size_t n;                   /* servers in the config, numbered 0..n-1 */
    struct ohsm_cmu_io io;
    FILE *out;
    bool quit;
    bool failed;    /* a command of this session failed (on any server): the exit status says so
                     * for a script; see main.c */
    bool in_server; /* server mode (`server N`): reads and syncs use server `server` */
    size_t server;
    struct ohsm_cmu_approval *approval; /* approveToken's approval, owned; NULL: none */
};

/* cmds.c: the grammar table and the path every line takes. Splits, checks and runs one command
 * line (modified in place; the caller wipes it). Bad input prints one line (and the usage when
 * the words do not fit the command) and sends nothing. */
void ohsm_cmu_run_line(struct ohsm_cmu *c, char *line);
/* The command table itself (static, *n rows), for the shell's completion and history rule. */
const struct ohsm_cmu_cmd *ohsm_cmu_commands(size_t *n);

/* Servers [*lo, *hi) a read looks at: the one of server mode, else all. */
void ohsm_cmu_scope(const struct ohsm_cmu *c, size_t *lo, size_t *hi);
/* Result slots for every server, marked unfilled; NULL (message printed) when out of memory. */
struct ohsm_result *ohsm_cmu_results_new(struct ohsm_cmu *c);
/* Marks every slot unfilled again. */
void ohsm_cmu_results_reset(struct ohsm_cmu *c, struct ohsm_result *res);
/* Reports every server's result of cmd and frees res; a slot the library left unfilled (it failed
 * before reaching the servers) shows the call's own error rv instead of a false success. */
void ohsm_cmu_finish(struct ohsm_cmu *c, const char *cmd, ohsm_rv rv, struct ohsm_result *res);

/* keys.c: the key commands and server mode (handlers of the table's rows). */
void ohsm_cmu_share_key(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_key_info(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_find_all_keys(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_get_attribute(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_sync_key(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_sync_user(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_server(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_exit(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);

/* quorum.c: the quorum commands and the approval approveToken keeps for the session's next
 * quorum-guarded command. */
void ohsm_cmu_get_token(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_approve_token(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_list_tokens(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_del_token(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_get_mvalue(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_set_mvalue(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
void ohsm_cmu_register_quorum_key(struct ohsm_cmu *c, struct ohsm_cmu_parsed *p);
/* The kept approval (borrowed), or NULL. */
const struct ohsm_approval *ohsm_cmu_approval_get(struct ohsm_cmu *c);
/* After a command used ap (may be NULL): a successful use spends it. */
void ohsm_cmu_approval_spent(struct ohsm_cmu *c, const struct ohsm_approval *ap, ohsm_rv rv);
void ohsm_cmu_approval_free(struct ohsm_cmu *c);

/* print.c */
/* "server 1(127.0.0.1)" for server i. */
void ohsm_cmu_label(struct ohsm_cmu *c, size_t i, char *buf, size_t cap);
/* One server's result of cmd: "<cmd> success on server i(host)", "<cmd> failed: <why> on server
 * i(host)", or, when the client has no connection to it, "Server i(host) is not connected
 * (<why>)". */
void ohsm_cmu_report_one(struct ohsm_cmu *c, const char *cmd, size_t i, ohsm_rv rv);
/* ohsm_cmu_report_one for every server; returns how many failed. */
size_t ohsm_cmu_report(struct ohsm_cmu *c, const char *cmd, const struct ohsm_result *res);
void ohsm_cmu_print_users(struct ohsm_cmu *c, size_t i, const struct ohsm_user_info *u, size_t n);
void ohsm_cmu_print_server_info(struct ohsm_cmu *c, size_t i);
void ohsm_cmu_print_hsm_info(struct ohsm_cmu *c, size_t i, const struct ohsm_hsm_info *h);
/* Start-up lines: which servers were reached, which were not and why. */
void ohsm_cmu_print_connections(struct ohsm_cmu *c);

#endif
