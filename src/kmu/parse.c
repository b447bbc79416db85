/* SPDX-License-Identifier: Apache-2.0
 *
 * openhsm-kmu's flag grammar: splitting, command lookup, flag and value checks and usage lines,
 * all driven by the command table (cmds.c) and all pure. Every word is untrusted: lengths are
 * bounded before use, numbers go through strtoull with full-string and range checks (no sign, no
 * blanks, no trailing bytes), and a password given with -p is never echoed back in an error.
 */
#include "kmu/parse.h"
#include "core/hex.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/line.h"

/* Longest word echoed back in an error message; longer words are cut with "...". */
#define SHOW_MAX 40

size_t ohsm_kmu_split(char *line, char **tok, size_t cap)
{
    return ohsm_line_split(line, tok, cap); /* one splitter for both tools (core/line.c) */
}

const struct ohsm_kmu_cmd *ohsm_kmu_find(const struct ohsm_kmu_cmd *tab, size_t n, const char *word)
{
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

static enum ohsm_kmu_status bad(char *err, size_t cap, const char *fmt, const char *a,
                                const char *b)
{
    char wa[SHOW_MAX + 4], wb[SHOW_MAX + 4];
    shown(a != NULL ? a : "", wa, sizeof(wa));
    shown(b != NULL ? b : "", wb, sizeof(wb));
    (void)snprintf(err, cap, fmt, wa, wb);
    return OHSM_KMU_BAD;
}

/* The flag of row c named by token t ("-nex"); NULL when t is not one of c's flags. */
static int flag_index(const struct ohsm_kmu_cmd *c, const char *t)
{
    if (t[0] != '-' || t[1] == '\0') {
        return -1;
    }
    for (int i = 0; i < OHSM_KMU_MAX_FLAGS && c->flags[i].kind != OHSM_KMU_V_END; i++) {
        if (strcmp(c->flags[i].name, t + 1) == 0) {
            return i;
        }
    }
    return -1;
}

/* A decimal number with nothing else: no sign, blanks or trailing bytes. */
static bool dec(const char *s, uint64_t *v)
{
    char *end = NULL;
    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0') {
        return false;
    }
    *v = (uint64_t)x;
    return true;
}

static bool hexnum(const char *s, uint64_t *v)
{
    uint64_t x = 0;
    size_t n = 0;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
    }
    for (; s[n] != '\0'; n++) {
        int d = ohsm_hex_digit(s[n]);
        if (d < 0 || x > (UINT64_MAX >> 4)) {
            return false;
        }
        x = x << 4 | (uint64_t)d;
    }
    if (n == 0) {
        return false;
    }
    *v = x;
    return true;
}

bool ohsm_kmu_hex_bytes(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n;

    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
    }
    n = strlen(s);
    if (n == 0 || n % 2 != 0 || n / 2 > cap) {
        return false;
    }
    for (size_t i = 0; i < n / 2; i++) {
        int hi = ohsm_hex_digit(s[2 * i]), lo = ohsm_hex_digit(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return false;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    *len = n / 2;
    return true;
}

/* Splits "5,6,7" into p->ids: decimal ids, no empty items, no repeats. */
static bool ids(const char *s, struct ohsm_kmu_parsed *p)
{
    char item[24];
    const char *q = s;

    p->nids = 0;
    for (;;) {
        const char *comma = strchr(q, ',');
        size_t len = comma != NULL ? (size_t)(comma - q) : strlen(q);
        uint64_t v = 0;
        if (len == 0 || len >= sizeof(item) || p->nids >= OHSM_KMU_MAX_IDS) {
            return false;
        }
        memcpy(item, q, len);
        item[len] = '\0';
        if (!dec(item, &v) || v > UINT32_MAX) {
            return false;
        }
        for (size_t i = 0; i < p->nids; i++) {
            if (p->ids[i] == (uint32_t)v) {
                return false;
            }
        }
        p->ids[p->nids++] = (uint32_t)v;
        if (comma == NULL) {
            return true;
        }
        q = comma + 1;
    }
}

static enum ohsm_kmu_status value(const struct ohsm_kmu_flag *f, const char *t,
                                  struct ohsm_kmu_val *v, struct ohsm_kmu_parsed *p, char *err,
                                  size_t cap)
{
    char range[96];
    size_t maxlen = f->max != 0 ? (size_t)f->max : OHSM_LABEL_MAX;

    v->text = t;
    switch (f->kind) {
    case OHSM_KMU_V_HANDLE:
        if (!dec(t, &v->num) || v->num == 0) {
            return bad(err, cap, "Invalid key handle '%s' for -%s: expected a decimal handle", t,
                       f->name);
        }
        return OHSM_KMU_OK;
    case OHSM_KMU_V_UINT:
        if (!dec(t, &v->num) || v->num < f->min || v->num > f->max) {
            (void)snprintf(range, sizeof(range), "%s: expected a number from %llu to %llu", f->name,
                           (unsigned long long)f->min, (unsigned long long)f->max);
            return bad(err, cap, "Invalid value '%s' for -%s", t, range);
        }
        return OHSM_KMU_OK;
    case OHSM_KMU_V_HEX:
        if (!hexnum(t, &v->num) || (f->max != 0 && v->num > f->max)) {
            return bad(err, cap, "Invalid value '%s' for -%s: expected a hexadecimal number", t,
                       f->name);
        }
        return OHSM_KMU_OK;
    case OHSM_KMU_V_TEXT:
    case OHSM_KMU_V_FILE:
        if (t[0] == '\0' || strnlen(t, maxlen + 1) > maxlen) {
            (void)snprintf(range, sizeof(range), "%s: at most %zu characters", f->name, maxlen);
            return bad(err, cap, "Invalid value '%s' for -%s", t, range);
        }
        return OHSM_KMU_OK;
    case OHSM_KMU_V_SECRET:
        if (t[0] == '\0' || strnlen(t, maxlen + 1) > maxlen) {
            /* The value itself is never echoed back. */
            (void)snprintf(err, cap, "Invalid value for -%s: at most %zu characters", f->name,
                           maxlen);
            return OHSM_KMU_BAD;
        }
        return OHSM_KMU_OK;
    case OHSM_KMU_V_IDS:
        if (!ids(t, p)) {
            return bad(err, cap,
                       "Invalid user list '%s' for -%s: expected distinct decimal user ids "
                       "separated by commas",
                       t, f->name);
        }
        return OHSM_KMU_OK;
    case OHSM_KMU_V_SWITCH:
    case OHSM_KMU_V_END:
        break;
    }
    return OHSM_KMU_BAD;
}

/* Required flags and exactly-one-of groups. */
static enum ohsm_kmu_status complete(const struct ohsm_kmu_cmd *c, const struct ohsm_kmu_parsed *p,
                                     char *err, size_t cap)
{
    for (int i = 0; i < OHSM_KMU_MAX_FLAGS && c->flags[i].kind != OHSM_KMU_V_END; i++) {
        const struct ohsm_kmu_flag *f = &c->flags[i];
        if (f->required && !p->v[i].set) {
            return bad(err, cap, "Missing required flag -%s %s", f->name, f->metavar);
        }
        if (f->group == '\0') {
            continue;
        }
        int given = 0, first = -1;
        for (int j = 0; j < OHSM_KMU_MAX_FLAGS && c->flags[j].kind != OHSM_KMU_V_END; j++) {
            if (c->flags[j].group == f->group) {
                first = first < 0 ? j : first;
                given += p->v[j].set ? 1 : 0;
            }
        }
        if (first != i) {
            continue; /* each group is checked once, at its first flag */
        }
        if (given != 1) {
            char names[96];
            size_t off = 0;
            names[0] = '\0';
            for (int j = 0; j < OHSM_KMU_MAX_FLAGS && c->flags[j].kind != OHSM_KMU_V_END; j++) {
                if (c->flags[j].group != f->group) {
                    continue;
                }
                int w = snprintf(names + off, sizeof(names) - off, "%s-%s", off > 0 ? " or " : "",
                                 c->flags[j].name);
                if (w < 0 || (size_t)w >= sizeof(names) - off) {
                    break;
                }
                off += (size_t)w;
            }
            return bad(err, cap, given == 0 ? "Missing flag: give %s%s" : "Give only one of %s%s",
                       names, "");
        }
    }
    return OHSM_KMU_OK;
}

enum ohsm_kmu_status ohsm_kmu_parse(const struct ohsm_kmu_cmd *tab, size_t n, char **tok,
                                    size_t ntok, bool all, struct ohsm_kmu_parsed *out,
                                    size_t *used, char *err, size_t cap)
{
    size_t i = 1;

    memset(out, 0, sizeof(*out));
    err[0] = '\0';
    if (used != NULL) {
        *used = 0;
    }
    if (ntok == 0) {
        return OHSM_KMU_EMPTY;
    }
    out->cmd = ohsm_kmu_find(tab, n, tok[0]);
    if (out->cmd == NULL) {
        if (used != NULL) {
            *used = 1;
        }
        (void)bad(err, cap, "Unknown command: %s%s", tok[0], "");
        return OHSM_KMU_UNKNOWN;
    }
    enum ohsm_kmu_status st = OHSM_KMU_OK;
    for (; i < ntok; i++) {
        const char *t = tok[i];
        if (strcmp(t, "-h") == 0) {
            out->help = true;
            continue;
        }
        int fi = flag_index(out->cmd, t);
        if (fi < 0) {
            if (!all && t[0] != '-') {
                break; /* the next command of a singlecmd line */
            }
            st = t[0] == '-' ? bad(err, cap, "Unknown flag %s for %s", t, out->cmd->name)
                             : bad(err, cap, "Unexpected argument '%s' for %s", t, out->cmd->name);
            i++;
            break;
        }
        const struct ohsm_kmu_flag *f = &out->cmd->flags[fi];
        struct ohsm_kmu_val *v = &out->v[fi];
        if (v->set) {
            st = bad(err, cap, "Flag %s given more than once%s", t, "");
            i++;
            break;
        }
        v->set = true;
        if (f->kind == OHSM_KMU_V_SWITCH) {
            continue;
        }
        if (i + 1 >= ntok) {
            st = bad(err, cap, "Flag %s needs a value %s", t, f->metavar);
            i++;
            break;
        }
        i++;
        st = value(f, tok[i], v, out, err, cap);
        if (st != OHSM_KMU_OK) {
            i++;
            break;
        }
    }
    if (used != NULL) {
        *used = i;
    }
    if (st != OHSM_KMU_OK) {
        if (!all && used != NULL) {
            /* The rest of this command's words are not another command: skip them. */
            while (*used < ntok &&
                   (tok[*used][0] == '-' || ohsm_kmu_find(tab, n, tok[*used]) == NULL)) {
                (*used)++;
            }
        }
        return st;
    }
    if (out->help) {
        return OHSM_KMU_HELP;
    }
    return complete(out->cmd, out, err, cap);
}

const struct ohsm_kmu_val *ohsm_kmu_get(const struct ohsm_kmu_parsed *p, const char *name)
{
    if (p->cmd == NULL) {
        return NULL;
    }
    for (int i = 0; i < OHSM_KMU_MAX_FLAGS && p->cmd->flags[i].kind != OHSM_KMU_V_END; i++) {
        if (strcmp(p->cmd->flags[i].name, name) == 0) {
            return p->v[i].set ? &p->v[i] : NULL;
        }
    }
    return NULL;
}

bool ohsm_kmu_has(const struct ohsm_kmu_parsed *p, const char *name)
{
    return ohsm_kmu_get(p, name) != NULL;
}

static bool put(char *buf, size_t cap, size_t *off, const char *fmt, const char *a, const char *b)
{
    int w = snprintf(buf + *off, cap - *off, fmt, a, b);
    if (w < 0 || (size_t)w >= cap - *off) {
        return false;
    }
    *off += (size_t)w;
    return true;
}

bool ohsm_kmu_usage(const struct ohsm_kmu_cmd *c, char *buf, size_t cap)
{
    size_t off = 0, indent = strlen(c->name) + 1;
    char pad[48];
    bool first = true;

    if (indent >= sizeof(pad)) {
        indent = sizeof(pad) - 1;
    }
    memset(pad, ' ', indent);
    pad[indent] = '\0';
    if (!put(buf, cap, &off, "%s%s", c->name, "")) {
        return false;
    }
    for (int i = 0; i < OHSM_KMU_MAX_FLAGS && c->flags[i].kind != OHSM_KMU_V_END; i++) {
        const struct ohsm_kmu_flag *f = &c->flags[i];
        char one[96];
        if (f->group != '\0') {
            bool lead = true;
            for (int j = 0; j < i; j++) {
                lead = lead && c->flags[j].group != f->group;
            }
            if (!lead) {
                continue; /* printed with the group's first flag */
            }
            size_t o = 0;
            one[0] = '\0';
            for (int j = i; j < OHSM_KMU_MAX_FLAGS && c->flags[j].kind != OHSM_KMU_V_END; j++) {
                if (c->flags[j].group != f->group) {
                    continue;
                }
                int w = snprintf(one + o, sizeof(one) - o, "%s-%s%s%s", o == 0 ? "(" : " | ",
                                 c->flags[j].name, c->flags[j].metavar[0] != '\0' ? " " : "",
                                 c->flags[j].metavar);
                if (w < 0 || (size_t)w >= sizeof(one) - o) {
                    return false;
                }
                o += (size_t)w;
            }
            if (o + 2 > sizeof(one)) {
                return false;
            }
            one[o] = ')';
            one[o + 1] = '\0';
        } else {
            int w = snprintf(one, sizeof(one), f->required ? "-%s%s%s" : "[-%s%s%s]", f->name,
                             f->metavar[0] != '\0' ? " " : "", f->metavar);
            if (w < 0 || (size_t)w >= sizeof(one)) {
                return false;
            }
        }
        if (!(first ? put(buf, cap, &off, " %s%s", one, "")
                    : put(buf, cap, &off, "\n%s%s", pad, one))) {
            return false;
        }
        first = false;
    }
    return true;
}
