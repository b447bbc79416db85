/* SPDX-License-Identifier: Apache-2.0
 *
 * The command grammar of openhsm-cli as data, and the generic parser that reads a command line
 * against it. A grammar is one static table of rows (command path words, option specs, handler,
 * help text, the permission-table operation the command needs); the parser resolves the command
 * words, then reads named options (`--name value`, `--name=value`, flags, options that take
 * several values, options that may repeat), refuses anything the row does not declare, and checks
 * required options, groups of options of which exactly one is needed, numbers and allowed values.
 * A subcommand word may also follow its parent's options (the CloudHSM CLI's `login --username U
 * --role R mfa-token-sign --token F`) when the subcommand declares those options too. Help and
 * usage (help.c) are printed from the same rows, so they cannot drift from what the parser accepts.
 * Input (argv, shell lines) is untrusted; parsed values borrow the caller's token strings, which
 * must stay alive and writable (secret values are wiped in place by ohsm_cli_args_wipe).
 */
#ifndef OHSM_CLI_GRAMMAR_H
#define OHSM_CLI_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "openhsm/perm.h"
#include "openhsm/rv.h"

struct ohsm_cli_ctx;
struct ohsm_cli_out;
struct ohsm_cli_args;

/* Option flags. */
#define OHSM_CLI_O_REQUIRED 0x01u /* must be given (unless help was asked for) */
#define OHSM_CLI_O_FLAG 0x02u     /* takes no value */
#define OHSM_CLI_O_REPEAT 0x04u   /* may be given more than once; each time adds its values */
#define OHSM_CLI_O_MULTI 0x08u    /* takes one or more values, up to the next option */
#define OHSM_CLI_O_SECRET 0x10u   /* value is a secret: wiped by ohsm_cli_args_wipe */
#define OHSM_CLI_O_ONE_OF 0x20u   /* exactly one of the row's ONE_OF options must be given */
#define OHSM_CLI_O_NUMBER 0x40u   /* the value is a decimal number (1 to 19 digits) */

/* Command flags. */
#define OHSM_CLI_C_NO_CLUSTER 0x01u  /* runs without a cluster configuration */
#define OHSM_CLI_C_OWN_SESSION 0x02u /* single-command credentials (CLOUDHSM_PIN) are not used */
#define OHSM_CLI_C_ARGV_ONLY 0x04u   /* only as a program argument, not inside the shell */
#define OHSM_CLI_C_HIDDEN 0x08u      /* not listed in help (aliases) */

/* One allowed value of an option; a list ends with value == NULL. */
struct ohsm_cli_choice {
    const char *value;
    const char *help;
};

/* One option; a list ends with name == NULL. */
struct ohsm_cli_opt {
    const char *name;                      /* long name without the leading "--" */
    char short_name;                       /* '\0' when none */
    const char *metavar;                   /* e.g. "USERNAME"; NULL for flags */
    unsigned flags;                        /* OHSM_CLI_O_* */
    const struct ohsm_cli_choice *choices; /* NULL: any value */
    const char *help;
};

typedef void (*ohsm_cli_handler)(struct ohsm_cli_ctx *ctx, const struct ohsm_cli_args *a,
                                 struct ohsm_cli_out *out);

/* One row of the grammar. A row with a NULL handler names a group of commands (e.g. "user"). */
struct ohsm_cli_cmd {
    const char *path;                /* command words, separated by one space: "user create" */
    const char *summary;             /* one line */
    const char *about;               /* a further paragraph for help, or NULL */
    const struct ohsm_cli_opt *opts; /* NULL when the command takes no options of its own */
    const char *positional;          /* metavar of free words the command takes, or NULL for none */
    unsigned flags;                  /* OHSM_CLI_C_* */
    enum ohsm_op op;                 /* permission-table row it needs; OHSM_OP_COUNT_ when none */
    ohsm_cli_handler handler;
};

struct ohsm_cli_grammar {
    const char *prog;                /* program name used in usage lines */
    const char *summary;             /* one line about the program */
    const struct ohsm_cli_cmd *cmds; /* the table */
    size_t ncmds;
    const struct ohsm_cli_opt *global; /* options every command accepts (list ends with NULL) */
};

#define OHSM_CLI_MAX_WORDS 4
#define OHSM_CLI_MAX_KV 64
#define OHSM_CLI_MAX_POS 8

/* One option occurrence: value is NULL for a flag. */
struct ohsm_cli_kv {
    const struct ohsm_cli_opt *opt;
    char *value; /* borrowed from the token array */
};

struct ohsm_cli_args {
    const struct ohsm_cli_cmd *cmd; /* the row named; NULL when only a group (or nothing) was */
    const char *words[OHSM_CLI_MAX_WORDS]; /* the command words as typed */
    size_t nwords;
    struct ohsm_cli_kv kv[OHSM_CLI_MAX_KV]; /* options in the order given */
    size_t nkv;
    char *pos[OHSM_CLI_MAX_POS]; /* free words (only for rows with a positional metavar) */
    size_t npos;
    bool help; /* -h/--help was given: print help for cmd (or for the group in words) */
};

/* Parses tokens tok[0..n) against g into a (reset first). Tokens are borrowed. On a bad command
 * line returns OHSM_ARGUMENTS_BAD with a message for the user in err (cap > 0). When a->help is
 * set the command words may name a group and required options are not checked. */
OHSM_NODISCARD ohsm_rv ohsm_cli_parse(const struct ohsm_cli_grammar *g, char **tok, size_t n,
                                      struct ohsm_cli_args *a, char *err, size_t cap);

/* First value of option `name` (global or the command's), or NULL when not given. Borrowed. */
char *ohsm_cli_arg(const struct ohsm_cli_args *a, const char *name);
/* True when option `name` was given (for flags and valued options alike). */
bool ohsm_cli_flag(const struct ohsm_cli_args *a, const char *name);
/* Values of option `name` in order (all occurrences); returns the count, fills up to cap. */
size_t ohsm_cli_arg_values(const struct ohsm_cli_args *a, const char *name, const char **out,
                           size_t cap);
/* Wipes (OPENSSL_cleanse) the values of every secret option in place. */
void ohsm_cli_args_wipe(struct ohsm_cli_args *a);

/* The row whose path is exactly the given words, or NULL. */
const struct ohsm_cli_cmd *ohsm_cli_find(const struct ohsm_cli_grammar *g, const char *const *w,
                                         size_t nw);
/* Number of words in a row's path. */
size_t ohsm_cli_path_words(const char *path);
/* Does the first nw words of path equal w[0..nw)? */
bool ohsm_cli_path_prefix(const char *path, const char *const *w, size_t nw);

/* Splits a shell line into words in place (lex.c): blanks separate words; '...' is literal;
 * "..." keeps blanks and takes \" and \\ as escapes; outside quotes a backslash escapes the next
 * character. argv receives pointers into line. Errors (OHSM_ARGUMENTS_BAD, message in err):
 * unterminated quote, trailing backslash, more than cap words. */
OHSM_NODISCARD ohsm_rv ohsm_cli_split(char *line, char **argv, size_t cap, size_t *argc, char *err,
                                      size_t errcap);

/* snprintf into buf; on truncation ends buf with "..." and returns false (never overflows). */
__attribute__((format(printf, 3, 4))) bool ohsm_cli_fmt(char *buf, size_t cap, const char *fmt,
                                                        ...);

/* Help (help.c). ohsm_cli_help prints help for the words in a (a command, a group, or the whole
 * program when a names nothing); returns false when the words name nothing (err filled). */
bool ohsm_cli_help(FILE *f, const struct ohsm_cli_grammar *g, const char *const *w, size_t nw,
                   char *err, size_t cap);
void ohsm_cli_help_cmd(FILE *f, const struct ohsm_cli_grammar *g, const struct ohsm_cli_cmd *c);
void ohsm_cli_help_top(FILE *f, const struct ohsm_cli_grammar *g);
/* Writes the one-line usage of c ("Usage: prog words [OPTIONS] --x <X> [--y <Y>]") into buf;
 * returns false on truncation. */
bool ohsm_cli_usage_line(const struct ohsm_cli_grammar *g, const struct ohsm_cli_cmd *c, char *buf,
                         size_t cap);

#endif
