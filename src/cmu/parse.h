/* SPDX-License-Identifier: Apache-2.0
 *
 * The grammar machinery of openhsm-cmu (the cloudhsm_mgmt_util clone), kept free of I/O and of
 * the client so it can be unit-tested: a command table row type whose argument specs say what
 * each positional word is (user type, user name, password or -hpswd, a keyword, a server id, a
 * command name, a key handle, a user id, 0 or 1, an attribute id, an output file), a splitter
 * for command lines, command lookup by exact name or unique prefix (as CMU accepts "listU" for
 * listUsers), argument validation with the user.h rules before anything is sent to an HSM, usage
 * lines printed from the same rows, and the y/n answer of the caution prompt. Input lines are
 * untrusted; parsed values borrow the caller's tokens, which may hold a password the caller
 * wipes.
 */
#ifndef OHSM_CMU_PARSE_H
#define OHSM_CMU_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/perm.h"
#include "openhsm/user.h"

struct ohsm_cmu;
struct ohsm_cmu_parsed;

#define OHSM_CMU_MAX_ARGS 5   /* positional words a command may take */
#define OHSM_CMU_MAX_TOKENS 8 /* words a line may have before it is refused outright */
#define OHSM_CMU_HPSWD "-hpswd"

/* What a positional word is. OHSM_CMU_ARG_END (0) ends a row's list. */
enum ohsm_cmu_arg_kind {
    OHSM_CMU_ARG_END = 0,
    OHSM_CMU_ARG_UTYPE,    /* CO, CU, AU, PRECO (PCO = CO); the row says which are allowed */
    OHSM_CMU_ARG_USER,     /* 1..31 of [A-Za-z0-9_], kept lower-case */
    OHSM_CMU_ARG_PASSWORD, /* 7..32 characters, or -hpswd to be asked for it without echo */
    OHSM_CMU_ARG_KEYWORD,  /* exactly the metavar (e.g. "server") */
    OHSM_CMU_ARG_SERVER,   /* a server number 0..n-1 */
    OHSM_CMU_ARG_COMMAND,  /* a command name of the table (help's topic) */
    OHSM_CMU_ARG_HANDLE,   /* a key handle: decimal, or 0x-hex as the CLI prints it; not 0 */
    OHSM_CMU_ARG_USER_ID,  /* a user id as listUsers shows it: decimal 1..2^32-1 */
    OHSM_CMU_ARG_BOOL01,   /* exactly 0 or 1 */
    OHSM_CMU_ARG_ATTR_ID,  /* an attribute id (OBJ_ATTR_* number): decimal 0..2^32-1; the
                            * handler checks it against the attribute table */
    OHSM_CMU_ARG_FILE,     /* an output file path (borrowed) */
    OHSM_CMU_ARG_SERVICE,  /* a quorum service number (3 USER_MGMT, 4 MISC_CO, 5 REGISTRATION);
                            * the row's `types` has bit n for each allowed number n */
    OHSM_CMU_ARG_MVALUE,   /* a quorum value: 1 to 8 */
    OHSM_CMU_ARG_IN_FILE,  /* a file to read (borrowed); up to OHSM_CMU_MAX_IN per command */
};

#define OHSM_CMU_MAX_IN 3

/* Bit for a user type in ohsm_cmu_arg.types. */
#define OHSM_CMU_T(t) (1u << (unsigned)(t))

struct ohsm_cmu_arg {
    enum ohsm_cmu_arg_kind kind;
    const char *metavar; /* shown in usage: "<user name>", or the keyword itself */
    unsigned types;      /* OHSM_CMU_ARG_UTYPE: OHSM_CMU_T() of each allowed type */
    bool optional;       /* may be left off: trailing arguments, or a keyword anywhere (it is
                          * then skipped when the word in its place is not the keyword, as
                          * getKeyInfo's -k) */
};

/* Command flags. */
#define OHSM_CMU_F_CRITICAL 0x01u /* prints the caution banner and asks y/n before running */
#define OHSM_CMU_F_NEW_PW 0x02u   /* a new password: -hpswd asks twice and wants a match */
#define OHSM_CMU_F_TIGHT 0x04u    /* the caution banner follows the command line directly */

typedef void (*ohsm_cmu_handler)(struct ohsm_cmu *cmu, struct ohsm_cmu_parsed *p);

/* One row of the grammar. */
struct ohsm_cmu_cmd {
    const char *name;
    struct ohsm_cmu_arg args[OHSM_CMU_MAX_ARGS + 1]; /* ends with OHSM_CMU_ARG_END */
    unsigned flags;
    enum ohsm_op op; /* permission-table row the HSM checks; OHSM_OP_COUNT_ for none */
    ohsm_cmu_handler handler;
    const char *summary; /* one line for the command list */
    const char *help;    /* a further paragraph for `help <command>`, or NULL */
    const char *who;     /* who may run it, when the guide says more than the op's row (e.g.
                          * "CO or AU" for findAllKeys); NULL: from the permission table */
};

/* A command line checked against its row. */
struct ohsm_cmu_parsed {
    const struct ohsm_cmu_cmd *cmd;
    enum ohsm_utype type;             /* OHSM_CMU_ARG_UTYPE, else OHSM_UT_NONE */
    char user[OHSM_USERNAME_MAX + 1]; /* OHSM_CMU_ARG_USER, canonical lower-case */
    char *password;                   /* borrowed token; NULL when hidden or absent */
    bool hidden;                      /* -hpswd was given */
    size_t server;                    /* OHSM_CMU_ARG_SERVER */
    const struct ohsm_cmu_cmd *topic; /* OHSM_CMU_ARG_COMMAND, or NULL */
    uint64_t handle;                  /* OHSM_CMU_ARG_HANDLE */
    uint32_t uid;                     /* OHSM_CMU_ARG_USER_ID */
    bool flag;                        /* OHSM_CMU_ARG_BOOL01 */
    uint32_t attr;                    /* OHSM_CMU_ARG_ATTR_ID */
    const char *file;                 /* OHSM_CMU_ARG_FILE (borrowed token), or NULL */
    bool keyword;                     /* an optional OHSM_CMU_ARG_KEYWORD was given */
    unsigned service;                 /* OHSM_CMU_ARG_SERVICE: the CMU number */
    uint32_t value;                   /* OHSM_CMU_ARG_MVALUE */
    const char *in[OHSM_CMU_MAX_IN];  /* OHSM_CMU_ARG_IN_FILE, in order (borrowed tokens) */
    size_t nin;
};

enum ohsm_cmu_status {
    OHSM_CMU_OK = 0,
    OHSM_CMU_EMPTY,     /* blank line: nothing to do */
    OHSM_CMU_UNKNOWN,   /* no such command */
    OHSM_CMU_AMBIGUOUS, /* a prefix of several commands */
    OHSM_CMU_USAGE,     /* wrong number of words or a wrong keyword: print the usage line */
    OHSM_CMU_BAD_ARG,   /* an argument broke a rule: err says which and why */
};

/* Splits line in place on blanks (space, tab, CR, LF). Stores up to cap token pointers in tok
 * and returns how many tokens the line has (which may be more than cap). */
size_t ohsm_cmu_split(char *line, char **tok, size_t cap);

/* The row named by word: the exact name, else a case-insensitive exact name, else the only row
 * whose name starts with word (case-insensitive). NULL when none; *ambiguous (may be NULL) is set
 * when several rows share the prefix. */
const struct ohsm_cmu_cmd *ohsm_cmu_find(const struct ohsm_cmu_cmd *tab, size_t n, const char *word,
                                         bool *ambiguous);

/* Parses tokens tok[0..ntok) (ntok may exceed OHSM_CMU_MAX_TOKENS: the line is then too long
 * for any row) against tab for a cluster of nservers servers. On anything but OHSM_CMU_OK or
 * OHSM_CMU_EMPTY, err (cap > 0) holds one line for the user; out->cmd is set whenever the command
 * was found (so usage can be printed). Never prints, never sends. Passwords are not copied. */
enum ohsm_cmu_status ohsm_cmu_parse(const struct ohsm_cmu_cmd *tab, size_t n, char **tok,
                                    size_t ntok, size_t nservers, struct ohsm_cmu_parsed *out,
                                    char *err, size_t cap);

/* Checks a password (given or typed) against the rules: OHSM_OK or OHSM_PIN_LEN_RANGE. */
ohsm_rv ohsm_cmu_check_password(const char *pw);

/* Who may run c: its `who` text, else from the permission table (perm.h): e.g. "CO", "CO, CU or AU
 * (logged in)", "anyone, no login needed". The HSM decides; this is for help. */
void ohsm_cmu_who(const struct ohsm_cmu_cmd *c, char *buf, size_t cap);

/* Writes "<name> <arg> <arg>..." (optional arguments in brackets) into buf; false on truncation. */
bool ohsm_cmu_usage(const struct ohsm_cmu_cmd *c, char *buf, size_t cap);

/* The caution prompt's answer. */
enum ohsm_cmu_answer {
    OHSM_CMU_ANSWER_YES,
    OHSM_CMU_ANSWER_NO,
    OHSM_CMU_ANSWER_INVALID,
};
/* "y"/"Y" and "n"/"N" (surrounding blanks ignored); anything else is invalid. */
enum ohsm_cmu_answer ohsm_cmu_answer(const char *line);

#endif
