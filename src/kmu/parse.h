/* SPDX-License-Identifier: Apache-2.0
 *
 * The grammar machinery of openhsm-kmu (the key_mgmt_util clone), free of I/O and of the client so
 * it can be unit-tested. key_mgmt_util commands take flags ("-t 31 -s 32 -l aes256 -nex"): each
 * command row lists its flags with what their value is (a key handle, a number in a range, text,
 * a file path, a password, a list of user ids, a hex number, or no value for a switch), whether
 * it is required, and which flags are alternatives ("-p <password> | -hpswd"). The parser takes a
 * command's words in any order, refuses unknown, repeated and missing flags and bad values with
 * one line that names the flag, and never echoes a password. It can also stop at the first word
 * that is not one of the command's flags, which is how `singlecmd` runs several commands from one
 * argv. Usage lines are printed from the same rows. Input words are untrusted; parsed values
 * borrow the caller's tokens (which may hold a password the caller wipes).
 */
#ifndef OHSM_KMU_PARSE_H
#define OHSM_KMU_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/obj.h"

struct ohsm_kmu;
struct ohsm_kmu_parsed;

#define OHSM_KMU_MAX_FLAGS 24  /* flags one command may have */
#define OHSM_KMU_MAX_TOKENS 64 /* words one interactive line may have */
#define OHSM_KMU_MAX_IDS OHSM_SHARE_MAX

/* What a flag's value is. OHSM_KMU_V_END (0) ends a row's list. */
enum ohsm_kmu_vkind {
    OHSM_KMU_V_END = 0,
    OHSM_KMU_V_SWITCH, /* no value: present or not (-nex, -sess, -noheader, -hpswd) */
    OHSM_KMU_V_HANDLE, /* a key handle: decimal, 1 .. 2^64-1 */
    OHSM_KMU_V_UINT,   /* a decimal number in [min, max] */
    OHSM_KMU_V_TEXT,   /* free text of 1..max bytes (max 0: OHSM_LABEL_MAX) */
    OHSM_KMU_V_FILE,   /* a file path */
    OHSM_KMU_V_SECRET, /* a password: never shown back */
    OHSM_KMU_V_IDS,    /* comma-separated user ids, at most OHSM_KMU_MAX_IDS, no repeats */
    OHSM_KMU_V_HEX,    /* a hexadecimal number with or without 0x, up to max */
};

struct ohsm_kmu_flag {
    const char *name; /* without the dash: "nex", "min_srv" */
    enum ohsm_kmu_vkind kind;
    const char *metavar; /* shown in usage: "<key handle>" */
    bool required;
    char group;        /* non-zero: exactly one flag of this group must be given */
    uint64_t min, max; /* OHSM_KMU_V_UINT range; TEXT/FILE/SECRET max length; HEX max */
};

typedef int (*ohsm_kmu_handler)(struct ohsm_kmu *k, const struct ohsm_kmu_parsed *p);

/* One row of the grammar. */
struct ohsm_kmu_cmd {
    const char *name;
    struct ohsm_kmu_flag flags[OHSM_KMU_MAX_FLAGS + 1]; /* ends with OHSM_KMU_V_END */
    ohsm_kmu_handler handler;
    const char *summary; /* one line for the command list */
    const char *help;    /* a further paragraph for `<command> -h`, or NULL */
};

/* One flag's parsed value. */
struct ohsm_kmu_val {
    bool set;
    const char *text; /* the token as given (borrowed); NULL for switches */
    uint64_t num;     /* HANDLE, UINT, HEX */
};

/* A command checked against its row. */
struct ohsm_kmu_parsed {
    const struct ohsm_kmu_cmd *cmd;
    struct ohsm_kmu_val v[OHSM_KMU_MAX_FLAGS];
    bool help;                      /* -h was given: print usage, run nothing */
    uint32_t ids[OHSM_KMU_MAX_IDS]; /* the V_IDS flag's ids, in the order given */
    size_t nids;
};

enum ohsm_kmu_status {
    OHSM_KMU_OK = 0,
    OHSM_KMU_EMPTY,   /* no words: nothing to do */
    OHSM_KMU_UNKNOWN, /* no such command */
    OHSM_KMU_HELP,    /* -h: print the usage */
    OHSM_KMU_BAD,     /* a flag broke a rule: err says which and why (usage worth printing) */
};

/* Splits line in place on blanks (space, tab, CR, LF). Stores up to cap token pointers and returns
 * how many tokens the line has (which may be more than cap). */
size_t ohsm_kmu_split(char *line, char **tok, size_t cap);

/* The row named word: the exact name, else a case-insensitive match. NULL when none. */
const struct ohsm_kmu_cmd *ohsm_kmu_find(const struct ohsm_kmu_cmd *tab, size_t n,
                                         const char *word);

/* Parses the command at tok[0] and its flags from tok[1..]. With `all`, every token must belong to
 * the command; without it, parsing stops at the first word that is neither a flag of the command
 * nor a flag's value (the next command in singlecmd mode). *used (may be NULL) gets the number
 * of tokens consumed, the command word included. On anything but OHSM_KMU_OK/EMPTY, err (cap > 0)
 * holds one line for the user; out->cmd is set whenever the command was found. Never prints,
 * never copies a password. */
enum ohsm_kmu_status ohsm_kmu_parse(const struct ohsm_kmu_cmd *tab, size_t n, char **tok,
                                    size_t ntok, bool all, struct ohsm_kmu_parsed *out,
                                    size_t *used, char *err, size_t cap);

/* The value of the flag named name in p (NULL if the row has no such flag or it was not given). */
const struct ohsm_kmu_val *ohsm_kmu_get(const struct ohsm_kmu_parsed *p, const char *name);
/* Convenience: was the flag given? */
bool ohsm_kmu_has(const struct ohsm_kmu_parsed *p, const char *name);

/* Writes the usage of c: its name and each flag ("-t <key type>", optional ones in brackets,
 * groups as "(-p <password> | -hpswd)"), one flag per line after the first, into buf. False on
 * truncation. */
bool ohsm_kmu_usage(const struct ohsm_kmu_cmd *c, char *buf, size_t cap);

/* Parses a hex byte string ("0x1a4b31", "1A4B31"; whitespace not allowed) into out (cap bytes).
 * False when it is not an even number of hex digits or does not fit. */
bool ohsm_kmu_hex_bytes(const char *s, uint8_t *out, size_t cap, size_t *len);

#endif
