/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-cmu's line grammar: splitting, command lookup, positional argument checks and usage
 * lines, all driven by the command table (cmds.c) and all pure. Every word is untrusted input:
 * lengths are bounded before use, numbers go through strtoull with full-string and range checks,
 * and user names and passwords are checked with the same rules the HSM applies (user.h), so a bad
 * one is refused here and never reaches an HSM. Passwords are borrowed, never copied or shown.
 */
#include "cmu/parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/line.h"

/* Longest word echoed back in an error message; longer words are cut with "...". */
#define SHOW_MAX 40

size_t ohsm_cmu_split(char *line, char **tok, size_t cap)
{
    return ohsm_line_split(line, tok, cap); /* one splitter for both tools (core/line.c) */
}

const struct ohsm_cmu_cmd *ohsm_cmu_find(const struct ohsm_cmu_cmd *tab, size_t n, const char *word,
                                         bool *ambiguous)
{
    const struct ohsm_cmu_cmd *hit = NULL;
    size_t hits = 0;
    size_t len = strlen(word);

    if (ambiguous != NULL) {
        *ambiguous = false;
    }
    if (len == 0) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (strcmp(tab[i].name, word) == 0) {
            return &tab[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (strcasecmp(tab[i].name, word) == 0) {
            return &tab[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(tab[i].name, word, len) == 0) {
            hit = &tab[i];
            hits++;
        }
    }
    if (hits == 1) {
        return hit;
    }
    if (hits > 1 && ambiguous != NULL) {
        *ambiguous = true;
    }
    return NULL;
}

/* A word as it may be shown back: cut to SHOW_MAX characters. */
static void shown(const char *w, char *buf, size_t cap)
{
    size_t len = strnlen(w, SHOW_MAX + 1);
    if (len > SHOW_MAX) {
        (void)snprintf(buf, cap, "%.*s...", SHOW_MAX, w);
    } else {
        (void)snprintf(buf, cap, "%s", w);
    }
}

/* "CO, CU or AU" for a type mask. */
static void type_list(unsigned mask, char *buf, size_t cap)
{
    static const enum ohsm_utype order[] = {OHSM_UT_CO, OHSM_UT_CU, OHSM_UT_AU, OHSM_UT_PRECO};
    size_t count = 0, seen = 0, off = 0;

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        count += (mask & OHSM_CMU_T(order[i])) != 0;
    }
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]) && off < cap; i++) {
        if ((mask & OHSM_CMU_T(order[i])) == 0) {
            continue;
        }
        const char *sep = seen == 0 ? "" : (seen + 1 == count ? " or " : ", ");
        int w = snprintf(buf + off, cap - off, "%s%s", sep, ohsm_utype_cmu_name(order[i]));
        if (w < 0 || (size_t)w >= cap - off) {
            break; /* cut short: the message is still readable */
        }
        off += (size_t)w;
        seen++;
    }
}

ohsm_rv ohsm_cmu_check_password(const char *pw)
{
    if (pw == NULL) {
        return OHSM_ARGUMENTS_BAD;
    }
    return ohsm_password_check(pw, strnlen(pw, OHSM_PASSWORD_MAX + 1));
}

static enum ohsm_cmu_status bad(char *err, size_t cap, const char *what, const char *word,
                                const char *why)
{
    char w[SHOW_MAX + 4];
    shown(word, w, sizeof(w));
    (void)snprintf(err, cap, "Invalid %s '%s': %s", what, w, why);
    return OHSM_CMU_BAD_ARG;
}

/* A whole word as an unsigned number: decimal digits only, or (hex) 0x followed by hex digits.
 * No sign, no blanks, no octal, no overflow. */
static bool number(const char *word, bool hex, unsigned long long *v)
{
    int base = 10;
    const char *p = word;
    char *end = NULL;

    if (hex && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
        if (!isxdigit((unsigned char)p[0])) {
            return false;
        }
    } else if (!isdigit((unsigned char)p[0])) {
        return false;
    }
    errno = 0;
    *v = strtoull(p, &end, base);
    return errno == 0 && end != p && *end == '\0';
}

static enum ohsm_cmu_status parse_arg(const struct ohsm_cmu_cmd *tab, size_t n,
                                      const struct ohsm_cmu_arg *a, char *word, size_t nservers,
                                      struct ohsm_cmu_parsed *out, char *err, size_t cap)
{
    switch (a->kind) {
    case OHSM_CMU_ARG_UTYPE: {
        enum ohsm_utype t = OHSM_UT_NONE;
        if (ohsm_utype_from_cmu(word, &t) != OHSM_OK || (a->types & OHSM_CMU_T(t)) == 0) {
            char list[64], why[96];
            type_list(a->types, list, sizeof(list));
            (void)snprintf(why, sizeof(why), "expected %s", list);
            return bad(err, cap, "user type", word, why);
        }
        out->type = t;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_USER:
        if (ohsm_username_canon(word, out->user, sizeof(out->user)) != OHSM_OK) {
            return bad(err, cap, "user name", word, ohsm_rv_str(OHSM_USERNAME_INVALID));
        }
        return OHSM_CMU_OK;
    case OHSM_CMU_ARG_PASSWORD:
        if (strcmp(word, OHSM_CMU_HPSWD) == 0) {
            out->hidden = true;
            return OHSM_CMU_OK;
        }
        if (ohsm_cmu_check_password(word) != OHSM_OK) {
            /* The password itself is never echoed back. */
            (void)snprintf(err, cap, "Invalid password: %s", ohsm_rv_str(OHSM_PIN_LEN_RANGE));
            return OHSM_CMU_BAD_ARG;
        }
        out->password = word;
        return OHSM_CMU_OK;
    case OHSM_CMU_ARG_KEYWORD:
        if (strcmp(word, a->metavar) != 0) {
            return OHSM_CMU_USAGE;
        }
        out->keyword = out->keyword || a->optional;
        return OHSM_CMU_OK;
    case OHSM_CMU_ARG_SERVER: {
        unsigned long long v = 0;
        char why[64];
        (void)snprintf(why, sizeof(why), "expected a server number from 0 to %zu",
                       nservers > 0 ? nservers - 1 : 0);
        if (!number(word, false, &v) || v >= nservers) {
            return bad(err, cap, "server id", word, why);
        }
        out->server = (size_t)v;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_HANDLE: {
        unsigned long long v = 0;
        if (!number(word, true, &v) || v == 0) {
            return bad(err, cap, "key handle", word,
                       "expected a key handle (decimal, or 0x-hex), not 0");
        }
        out->handle = (uint64_t)v;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_USER_ID: {
        unsigned long long v = 0;
        if (!number(word, false, &v) || v == 0 || v > UINT32_MAX) {
            return bad(err, cap, "user id", word,
                       "expected a user id as listUsers shows it (1 to 4294967295)");
        }
        out->uid = (uint32_t)v;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_BOOL01:
        if (strcmp(word, "0") != 0 && strcmp(word, "1") != 0) {
            char why[96];
            (void)snprintf(why, sizeof(why), "expected 1 or 0 for %s", a->metavar);
            return bad(err, cap, "value", word, why);
        }
        out->flag = word[0] == '1';
        return OHSM_CMU_OK;
    case OHSM_CMU_ARG_ATTR_ID: {
        unsigned long long v = 0;
        if (!number(word, false, &v) || v > UINT32_MAX) {
            return bad(err, cap, "attribute id", word,
                       "expected an attribute number (listAttributes shows them)");
        }
        out->attr = (uint32_t)v;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_FILE:
        /* A word that looks like an option is a typo far more often than a file name. */
        if (word[0] == '-' || strlen(word) >= PATH_MAX) {
            return bad(err, cap, "file name", word, "expected a path to write to");
        }
        out->file = word;
        return OHSM_CMU_OK;
    case OHSM_CMU_ARG_IN_FILE:
        if (word[0] == '-' || strlen(word) >= PATH_MAX || out->nin >= OHSM_CMU_MAX_IN) {
            return bad(err, cap, "file name", word, "expected a path to read");
        }
        out->in[out->nin++] = word;
        return OHSM_CMU_OK;
    case OHSM_CMU_ARG_SERVICE: {
        unsigned long long v = 0;
        if (!number(word, false, &v) || v >= 32 || (a->types & (1u << v)) == 0) {
            return bad(err, cap, "service", word,
                       (a->types & (1u << 5)) != 0
                           ? "expected 3 (USER_MGMT), 4 (MISC_CO) or 5 (REGISTRATION)"
                           : "expected 3 (USER_MGMT) or 4 (MISC_CO)");
        }
        out->service = (unsigned)v;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_MVALUE: {
        unsigned long long v = 0;
        if (!number(word, false, &v) || v < 1 || v > 8) {
            return bad(err, cap, "quorum value", word, "expected a number from 1 to 8");
        }
        out->value = (uint32_t)v;
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_COMMAND: {
        bool amb = false;
        out->topic = ohsm_cmu_find(tab, n, word, &amb);
        if (out->topic == NULL) {
            return bad(err, cap, "command", word,
                       amb ? "ambiguous, type more of the name" : "no such command");
        }
        return OHSM_CMU_OK;
    }
    case OHSM_CMU_ARG_END:
        break;
    }
    return OHSM_CMU_USAGE;
}

/* "Ambiguous command: log (loginHSM, logoutHSM)"; a list cut short by cap stays readable. */
static void candidates(const struct ohsm_cmu_cmd *tab, size_t n, const char *word, char *err,
                       size_t cap)
{
    size_t len = strlen(word), off = 0, seen = 0;
    int w = snprintf(err, cap, "Ambiguous command: %s (", word);

    if (w < 0 || (size_t)w >= cap) {
        return;
    }
    off = (size_t)w;
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(tab[i].name, word, len) != 0) {
            continue;
        }
        w = snprintf(err + off, cap - off, "%s%s", seen == 0 ? "" : ", ", tab[i].name);
        if (w < 0 || (size_t)w >= cap - off) {
            return;
        }
        off += (size_t)w;
        seen++;
    }
    (void)snprintf(err + off, cap - off, ")");
}

enum ohsm_cmu_status ohsm_cmu_parse(const struct ohsm_cmu_cmd *tab, size_t n, char **tok,
                                    size_t ntok, size_t nservers, struct ohsm_cmu_parsed *out,
                                    char *err, size_t cap)
{
    size_t min = 0, max = 0;
    bool amb = false;

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    if (ntok == 0) {
        return OHSM_CMU_EMPTY;
    }
    out->cmd = ohsm_cmu_find(tab, n, tok[0], &amb);
    if (out->cmd == NULL) {
        char w[SHOW_MAX + 4];
        shown(tok[0], w, sizeof(w));
        if (!amb) {
            (void)snprintf(err, cap, "Unknown command: %s", w);
            return OHSM_CMU_UNKNOWN;
        }
        candidates(tab, n, w, err, cap);
        return OHSM_CMU_AMBIGUOUS;
    }
    for (const struct ohsm_cmu_arg *a = out->cmd->args; a->kind != OHSM_CMU_ARG_END; a++) {
        max++;
        min += a->optional ? 0 : 1;
    }
    if (ntok > OHSM_CMU_MAX_TOKENS || ntok - 1 < min || ntok - 1 > max) {
        return OHSM_CMU_USAGE;
    }
    /* Words and specs side by side; an optional keyword that is not there is skipped. */
    const struct ohsm_cmu_arg *a = out->cmd->args;
    for (size_t i = 1; i < ntok; i++, a++) {
        if (a->kind == OHSM_CMU_ARG_KEYWORD && a->optional && strcmp(tok[i], a->metavar) != 0) {
            a++;
        }
        if (a->kind == OHSM_CMU_ARG_END) {
            return OHSM_CMU_USAGE;
        }
        enum ohsm_cmu_status st = parse_arg(tab, n, a, tok[i], nservers, out, err, cap);
        if (st != OHSM_CMU_OK) {
            return st;
        }
    }
    for (; a->kind != OHSM_CMU_ARG_END; a++) {
        if (!a->optional) {
            return OHSM_CMU_USAGE;
        }
    }
    return OHSM_CMU_OK;
}

bool ohsm_cmu_usage(const struct ohsm_cmu_cmd *c, char *buf, size_t cap)
{
    int w = snprintf(buf, cap, "%s", c->name);
    size_t off;

    if (w < 0 || (size_t)w >= cap) {
        return false;
    }
    off = (size_t)w;
    for (const struct ohsm_cmu_arg *a = c->args; a->kind != OHSM_CMU_ARG_END; a++) {
        w = snprintf(buf + off, cap - off, a->optional ? " [%s]" : " %s", a->metavar);
        if (w < 0 || (size_t)w >= cap - off) {
            return false;
        }
        off += (size_t)w;
    }
    return true;
}

void ohsm_cmu_who(const struct ohsm_cmu_cmd *c, char *buf, size_t cap)
{
    unsigned mask = 0;

    if (c->who != NULL) {
        (void)snprintf(buf, cap, "%s", c->who);
        return;
    }
    if (c->op == OHSM_OP_COUNT_ || ohsm_perm_allowed(c->op, OHSM_UT_NONE)) {
        (void)snprintf(buf, cap, "anyone, no login needed");
        return;
    }
    for (unsigned t = OHSM_UT_PRECO; t <= OHSM_UT_MAX; t++) {
        if (ohsm_perm_allowed(c->op, (enum ohsm_utype)t)) {
            mask |= OHSM_CMU_T(t);
        }
    }
    if (mask == 0) {
        (void)snprintf(buf, cap, "no one");
        return;
    }
    type_list(mask, buf, cap);
}

enum ohsm_cmu_answer ohsm_cmu_answer(const char *line)
{
    const char *p = line;
    size_t len;

    while (ohsm_line_is_blank(*p)) {
        p++;
    }
    len = strlen(p);
    while (len > 0 && ohsm_line_is_blank(p[len - 1])) {
        len--;
    }
    if (len == 1 && (p[0] == 'y' || p[0] == 'Y')) {
        return OHSM_CMU_ANSWER_YES;
    }
    if (len == 1 && (p[0] == 'n' || p[0] == 'N')) {
        return OHSM_CMU_ANSWER_NO;
    }
    return OHSM_CMU_ANSWER_INVALID;
}
