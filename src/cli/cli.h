/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cli internals shared by its modules: the per-run context (configuration, client, mode),
 * the command handlers named by the grammar table (table.c), session helpers (session.c: connect,
 * log in with the result policy, prompt for passwords, report per-HSM failures) and terminal input
 * (term.c). Handlers parse their options, call libopenhsm and fill a struct ohsm_cli_out; they hold
 * no rules of their own (the HSM enforces permissions).
 */
#ifndef OHSM_CLI_CLI_H
#define OHSM_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "cli/grammar.h"
#include "cli/keyarg.h"
#include "cli/keyshape.h"
#include "cli/shape.h"
#include "cli/tokfile.h"
#include "openhsm/client.h"

/* Longest accepted line of input (shell command or password). */
#define OHSM_CLI_LINE_MAX 8192
/* A buffer for a typed password: room for the longest valid one and then some, so that an
 * over-long entry is reported as such instead of being cut. */
#define OHSM_CLI_PW_CAP 256

/* Not thread-safe; one per process. */
struct ohsm_cli_ctx {
    const struct ohsm_cli_grammar *g;
    const char *config_path; /* borrowed (argv or environment) */
    const char *cluster_id;  /* --cluster-id given at start, or NULL */
    struct ohsm_cfg *cfg;
    struct ohsm_client *client;
    bool shell; /* inside `interactive` */
    bool quit;  /* `quit` was given */
};

/* The grammar: the one table of commands (table.c). */
extern const struct ohsm_cli_grammar ohsm_cli_grammar;

/* Handlers (cmd_user.c, cmd_cluster.c, shell.c, cmd_mfa.c, cmd_quorum.c). */
void ohsm_cli_cmd_login(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                        struct ohsm_cli_out *out);
void ohsm_cli_cmd_logout(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                         struct ohsm_cli_out *out);
void ohsm_cli_cmd_user_list(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                            struct ohsm_cli_out *out);
void ohsm_cli_cmd_user_create(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out);
void ohsm_cli_cmd_user_delete(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out);
void ohsm_cli_cmd_user_change_password(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                       struct ohsm_cli_out *out);
/* Token-sign MFA (cmd_mfa.c). */
void ohsm_cli_cmd_login_mfa(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                            struct ohsm_cli_out *out);
void ohsm_cli_cmd_user_change_mfa(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                  struct ohsm_cli_out *out);
/* Quorum (cmd_quorum.c). */
void ohsm_cli_cmd_user_quorum_register(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                       struct ohsm_cli_out *out);
void ohsm_cli_cmd_quorum_generate(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                  struct ohsm_cli_out *out);
void ohsm_cli_cmd_quorum_list(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out);
void ohsm_cli_cmd_quorum_values(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out);
void ohsm_cli_cmd_quorum_set(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                             struct ohsm_cli_out *out);
void ohsm_cli_cmd_quorum_delete(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out);
void ohsm_cli_cmd_cluster_activate(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                   struct ohsm_cli_out *out);
void ohsm_cli_cmd_cluster_hsm_info(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                   struct ohsm_cli_out *out);
void ohsm_cli_cmd_cluster_sync_status(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                      struct ohsm_cli_out *out);
void ohsm_cli_cmd_cluster_sync_repair(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                      struct ohsm_cli_out *out);
/* Key commands (cmd_key.c). A handler serving several rows reads the mechanism or key type
 * from the last word of the row's path. */
void ohsm_cli_cmd_key_gen_symmetric(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                    struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_gen_pair(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                               struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_import_pem(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_list(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                           struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_delete(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                             struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_set_attribute(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                    struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_share(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                            struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_generate_file(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                    struct ohsm_cli_out *out);
/* Wrapping (cmd_wrap.c). */
void ohsm_cli_cmd_key_wrap(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                           struct ohsm_cli_out *out);
void ohsm_cli_cmd_key_unwrap(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                             struct ohsm_cli_out *out);
/* Cryptography (cmd_crypto.c). */
void ohsm_cli_cmd_crypto_sign(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out);
void ohsm_cli_cmd_crypto_verify(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out);
void ohsm_cli_cmd_crypto_encrypt(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out);
void ohsm_cli_cmd_crypto_decrypt(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out);
void ohsm_cli_cmd_crypto_digest(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out);
void ohsm_cli_cmd_crypto_random(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                struct ohsm_cli_out *out);
void ohsm_cli_cmd_help(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                       struct ohsm_cli_out *out);
void ohsm_cli_cmd_quit(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                       struct ohsm_cli_out *out);
void ohsm_cli_cmd_interactive(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                              struct ohsm_cli_out *out);

/* Runs one parsed command (not a help request) in the current mode and prints its JSON result;
 * wipes the command's secret values. Returns the exit status (0 on success) (shell.c). */
int ohsm_cli_run(struct ohsm_cli_ctx *ctx, struct ohsm_cli_args *a);
/* Prints {"error_code": 1, "data": msg}; returns 1. */
int ohsm_cli_emit_err(const char *msg);

/* Session helpers (session.c). Each reports its failure into out and returns false. */

/* Loads the configuration and connects the client, once. */
bool ohsm_cli_connect(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out);
/* calloc'd array of ohsm_client_hsm_count() results; NULL (and out filled) when out of memory. */
struct ohsm_result *ohsm_cli_results(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out);
/* Fills out with the error of a fan-out call (see ohsm_cli_fanout_msg). */
void ohsm_cli_fanout_err(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out, const char *done,
                         const char *action, const struct ohsm_result *res);
/* Logs in on every HSM. Succeeds when at least one HSM accepted and every other HSM could not be
 * reached; otherwise undoes a partial login and reports every HSM's answer. *actual gets the
 * user's type. */
bool ohsm_cli_login(struct ohsm_cli_ctx *ctx, enum ohsm_utype type, const char *username,
                    const char *password, enum ohsm_utype *actual, struct ohsm_cli_out *out);
/* Logs out, ignoring the result (cleanup after single-command mode or activation). */
void ohsm_cli_logout_quiet(struct ohsm_cli_ctx *ctx);
/* Single-command mode: logs in with CLOUDHSM_ROLE / CLOUDHSM_PIN when both are set.
 * *logged_in tells whether a logout is due. */
bool ohsm_cli_env_login(struct ohsm_cli_ctx *ctx, bool *logged_in, struct ohsm_cli_out *out);
/* Canonical username (lower case) of the --username value into name[OHSM_USERNAME_MAX + 1]. */
bool ohsm_cli_username(const char *in, char *name, size_t cap, struct ohsm_cli_out *out);
/* A password for login: the given value, or one prompted for ("Enter password:"). pw has
 * OHSM_CLI_PW_CAP bytes; the caller wipes it. */
bool ohsm_cli_password(const char *given, char *pw, size_t cap, struct ohsm_cli_out *out);
/* A new password: the given value, or prompted for twice ("Enter password:", "Confirm
 * password:") and compared; checked against the password rules. The caller wipes pw. */
bool ohsm_cli_new_password(const char *given, char *pw, size_t cap, struct ohsm_cli_out *out);

/* {"username": name, "role": role}; NULL when out of memory (session.c). */
json_t *ohsm_cli_user_data(const char *name, const char *role);
/* The --role value as a user type (the grammar already limited it to the allowed roles). */
bool ohsm_cli_role_type(const struct ohsm_cli_args *a, enum ohsm_utype *t,
                        struct ohsm_cli_out *out);

/* Quorum approvals (cmd_quorum.c). */

/* A parsed --approval file and the library's view of it (pointers into f). */
struct ohsm_cli_approval {
    struct ohsm_qtokfile f;
    struct ohsm_approval_sig *sigs;
    struct ohsm_approval ap;
};
/* Reads and parses the --approval file when one was given: *ap is NULL without one, else points
 * into h. A bad file is reported (nothing was sent). The caller frees h in every case. */
bool ohsm_cli_approval_arg(const struct ohsm_cli_args *a, struct ohsm_cli_approval *h,
                           const struct ohsm_approval **ap, struct ohsm_cli_out *out);
/* The same for the approval file of option opt ("payload-approval" ...). */
bool ohsm_cli_approval_opt(const struct ohsm_cli_args *a, const char *opt,
                           struct ohsm_cli_approval *h, const struct ohsm_approval **ap,
                           struct ohsm_cli_out *out);
void ohsm_cli_approval_free(struct ohsm_cli_approval *h);
/* Saves a token file: format_rv and json are what an ohsm_tokfile_format_* / ohsm_qtokfile_format
 * call gave; writes json to path (0600). On failure reports to out and returns false. */
bool ohsm_cli_tokfile_save(ohsm_rv format_rv, const char *json, const char *path,
                           struct ohsm_cli_out *out);

/* Token-sign helpers (cmd_mfa.c). */

/* Reads an RSA-2048 public key PEM file into DER SubjectPublicKeyInfo (*der malloc'd). */
bool ohsm_cli_pubkey_load(const char *path, uint8_t **der, size_t *len, struct ohsm_cli_out *out);

/* Key helpers (keys.c). Each reports its failure into out and returns false. */

/* Longest data, signature or wrapped key read from --data / --data-path (bytes). */
#define OHSM_CLI_DATA_MAX (256u * 1024u)

/* The last word of the command's path ("aes-gcm" of `key wrap aes-gcm`). */
const char *ohsm_cli_last_word(const struct ohsm_cli_args *a);
/* Bytes from exactly one of option b64_opt (base64) or path_opt (a file), at most max. *buf is
 * malloc'd (NULL when empty); the caller wipes and frees it. */
bool ohsm_cli_input(const struct ohsm_cli_args *a, const char *b64_opt, const char *path_opt,
                    size_t max, uint8_t **buf, size_t *len, struct ohsm_cli_out *out);
/* Reads a whole file of at most max bytes (NUL-terminated, malloc'd; caller wipes and frees). */
bool ohsm_cli_read_file(const char *path, size_t max, uint8_t **buf, size_t *len,
                        struct ohsm_cli_out *out);
/* Writes a file with exactly this mode, replacing an existing regular file atomically (a new file
 * renamed over it); a symbolic link or other non-regular file there is refused, never followed.
 * false: the error was reported on out and the target is unchanged. */
bool ohsm_cli_write_file(const char *path, const uint8_t *p, size_t n, unsigned mode,
                         struct ohsm_cli_out *out);
/* Hex option value (NULL: *len 0) into buf of cap bytes. */
bool ohsm_cli_hex_arg(const struct ohsm_cli_args *a, const char *opt, uint8_t *buf, size_t cap,
                      size_t *len, struct ohsm_cli_out *out);
/* Number option value in [min, max]; def when the option is absent. */
bool ohsm_cli_num_arg(const struct ohsm_cli_args *a, const char *opt, uint64_t min, uint64_t max,
                      uint64_t def, uint64_t *v, struct ohsm_cli_out *out);
/* Appends --manage-key-quorum-value / --use-key-quorum-value, when given, to a creation template
 * (ohsm_cli_quorum_put; ids / nids as ohsm_cli_attr_put keeps them). */
bool ohsm_cli_quorum_args(const struct ohsm_cli_args *a, struct ohsm_tmpl_buf *b, uint32_t *ids,
                          size_t *nids, struct ohsm_cli_out *out);
/* "<action> failed: <rv>" for a call one HSM answered; a quorum refusal is its message alone. */
void ohsm_cli_rv_err(struct ohsm_cli_out *out, const char *action, ohsm_rv rv);
/* --share-crypto-users values, canonical, into names[OHSM_SHARE_MAX] (pointers into store). */
bool ohsm_cli_share_list(const struct ohsm_cli_args *a,
                         char store[OHSM_SHARE_MAX][OHSM_USERNAME_MAX + 1],
                         const char *names[OHSM_SHARE_MAX], size_t *n, struct ohsm_cli_out *out);
/* Keys the session sees on every HSM that match f, merged (coverage per key). */
bool ohsm_cli_keys_find(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_filter *f,
                        struct ohsm_cli_keyset *ks, struct ohsm_cli_out *out);
/* The one key the filter option opt selects (none or several: an error). */
bool ohsm_cli_key_one(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a, const char *opt,
                      struct ohsm_obj *obj, struct ohsm_cli_out *out);
/* Reports a failed key creation: rv when the key was not made (nobj 0), else which HSMs lack
 * the key (res) and its reference. */
void ohsm_cli_create_err(struct ohsm_cli_ctx *ctx, struct ohsm_cli_out *out, const char *action,
                         ohsm_rv rv, const struct ohsm_obj *obj, size_t nobj,
                         const struct ohsm_result *res);

/* Terminal input (term.c). */

/* Reads one line from fd (without its newline) into buf, a byte at a time so that nothing beyond
 * the line is consumed. Returns 1 for a line, 0 at end of input with nothing read, -1 on a read
 * error, -2 when the line does not fit in cap - 1 bytes (the rest of the line is discarded). */
int ohsm_cli_read_line(int fd, char *buf, size_t cap, size_t *len);
/* Writes prompt to stderr and reads a line from stdin, with echo off when stdin is a terminal.
 * Errors: OHSM_PIN_LEN_RANGE (too long), OHSM_IO (end of input, read error or ^C). buf is wiped
 * on error. */
OHSM_NODISCARD ohsm_rv ohsm_cli_read_secret(const char *prompt, char *buf, size_t cap);
/* As ohsm_cli_read_secret for input that is not secret (a file path): echo stays on. */
OHSM_NODISCARD ohsm_rv ohsm_cli_read_text(const char *prompt, char *buf, size_t cap);

#endif
