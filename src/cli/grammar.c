/* SPDX-License-Identifier: Apache-2.0
 *
 * The generic command-line parser of openhsm-cli: reads tokens (argv, or a shell line split by
 * lex.c) against a grammar table (grammar.h). It trusts nothing in the tokens: every option must
 * be declared by the resolved row or the global list, values are checked against allowed choices,
 * repeats and missing values are refused, and error messages never echo a secret option's value.
 * Parsed values borrow the tokens; nothing is allocated.
 */
#include "cli/grammar.h"

#include <stdarg.h>
#include <string.h>

#include <openssl/crypto.h>

bool ohsm_cli_fmt(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (cap == 0) {
        return false;
    }
    va_start(ap, fmt);
    int r = vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    if (r < 0) {
        buf[0] = '\0';
        return false;
    }
    if ((size_t)r >= cap) {
        /* Truncated: say so rather than end mid-word. */
        if (cap > 4) {
            memcpy(buf + cap - 4, "...", 4);
        }
        return false;
    }
    return true;
}

__attribute__((format(printf, 3, 4))) static ohsm_rv fail(char *err, size_t cap, const char *fmt,
                                                          ...)
{
    va_list ap;
    char tmp[512];
    va_start(ap, fmt);
    int r = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (r < 0) {
        tmp[0] = '\0';
    }
    /* Truncation is marked by ohsm_cli_fmt; a shortened message is still an error message. */
    (void)ohsm_cli_fmt(err, cap, "%s", r < 0 ? "invalid command line" : tmp);
    return OHSM_ARGUMENTS_BAD;
}

/* Word idx of a space-separated path: pointer and length, or NULL when there is no such word. */
static const char *path_word(const char *path, size_t idx, size_t *len)
{
    const char *p = path;
    for (size_t k = 0;; k++) {
        const char *sp = strchr(p, ' ');
        size_t l = sp != NULL ? (size_t)(sp - p) : strlen(p);
        if (k == idx) {
            *len = l;
            return p;
        }
        if (sp == NULL) {
            return NULL;
        }
        p = sp + 1;
    }
}

size_t ohsm_cli_path_words(const char *path)
{
    size_t n = 1;
    for (const char *p = path; *p != '\0'; p++) {
        n += *p == ' ';
    }
    return n;
}

bool ohsm_cli_path_prefix(const char *path, const char *const *w, size_t nw)
{
    for (size_t k = 0; k < nw; k++) {
        size_t len;
        const char *pw = path_word(path, k, &len);
        if (pw == NULL || strlen(w[k]) != len || memcmp(pw, w[k], len) != 0) {
            return false;
        }
    }
    return true;
}

const struct ohsm_cli_cmd *ohsm_cli_find(const struct ohsm_cli_grammar *g, const char *const *w,
                                         size_t nw)
{
    for (size_t i = 0; i < g->ncmds; i++) {
        const struct ohsm_cli_cmd *c = &g->cmds[i];
        if (ohsm_cli_path_words(c->path) == nw && ohsm_cli_path_prefix(c->path, w, nw)) {
            return c;
        }
    }
    return NULL;
}

/* Do the words w[0..nw) followed by t start some row's longer path? */
static bool extends(const struct ohsm_cli_grammar *g, const char *const *w, size_t nw,
                    const char *t)
{
    const char *tmp[OHSM_CLI_MAX_WORDS + 1];
    if (nw >= OHSM_CLI_MAX_WORDS) {
        return false;
    }
    memcpy(tmp, w, nw * sizeof(*w));
    tmp[nw] = t;
    for (size_t i = 0; i < g->ncmds; i++) {
        const char *path = g->cmds[i].path;
        if (ohsm_cli_path_words(path) > nw && ohsm_cli_path_prefix(path, tmp, nw + 1)) {
            return true;
        }
    }
    return false;
}

/* "a b c" from words, into buf. */
static const char *join(const char *const *w, size_t nw, char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t k = 0; k < nw && off < cap; k++) {
        int r = snprintf(buf + off, cap - off, "%s%s", k > 0 ? " " : "", w[k]);
        if (r < 0 || (size_t)r >= cap - off) {
            break; /* a truncated name in a message is harmless */
        }
        off += (size_t)r;
    }
    return buf;
}

/* The next words after w[0..nw) that rows offer, comma-separated, into buf. */
static const char *children(const struct ohsm_cli_grammar *g, const char *const *w, size_t nw,
                            char *buf, size_t cap)
{
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->ncmds; i++) {
        const struct ohsm_cli_cmd *c = &g->cmds[i];
        size_t len;
        const char *word = path_word(c->path, nw, &len);
        if (word == NULL || (c->flags & OHSM_CLI_C_HIDDEN) != 0 ||
            !ohsm_cli_path_prefix(c->path, w, nw)) {
            continue;
        }
        /* Skip a word an earlier row already offered. */
        bool dup = false;
        for (size_t j = 0; j < i && !dup; j++) {
            size_t l2;
            const char *w2 = path_word(g->cmds[j].path, nw, &l2);
            dup = w2 != NULL && (g->cmds[j].flags & OHSM_CLI_C_HIDDEN) == 0 &&
                  ohsm_cli_path_prefix(g->cmds[j].path, w, nw) && l2 == len &&
                  memcmp(w2, word, len) == 0;
        }
        if (dup) {
            continue;
        }
        int r = snprintf(buf + off, cap - off, "%s%.*s", off > 0 ? ", " : "", (int)len, word);
        if (r < 0 || (size_t)r >= cap - off) {
            break;
        }
        off += (size_t)r;
    }
    return buf;
}

static bool is_option(const char *t)
{
    return t[0] == '-' && t[1] != '\0';
}

/* Looks t ("--name", "--name=value" or "-x") up in list; *inl receives an inline value. */
static const struct ohsm_cli_opt *lookup(const struct ohsm_cli_opt *list, char *t, char **inl)
{
    *inl = NULL;
    if (list == NULL) {
        return NULL;
    }
    if (t[1] != '-') {
        if (t[2] != '\0') {
            return NULL;
        }
        for (const struct ohsm_cli_opt *o = list; o->name != NULL; o++) {
            if (o->short_name != '\0' && o->short_name == t[1]) {
                return o;
            }
        }
        return NULL;
    }
    const char *name = t + 2;
    char *eq = strchr(t + 2, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    for (const struct ohsm_cli_opt *o = list; o->name != NULL; o++) {
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0) {
            *inl = eq != NULL ? eq + 1 : NULL;
            return o;
        }
    }
    return NULL;
}

static size_t seen(const struct ohsm_cli_args *a, const struct ohsm_cli_opt *o)
{
    size_t n = 0;
    for (size_t k = 0; k < a->nkv; k++) {
        n += a->kv[k].opt == o;
    }
    return n;
}

static ohsm_rv check_choice(const struct ohsm_cli_opt *o, const char *v, char *err, size_t cap)
{
    char list[256];
    size_t off = 0;
    if (o->choices == NULL) {
        return OHSM_OK;
    }
    list[0] = '\0';
    for (const struct ohsm_cli_choice *ch = o->choices; ch->value != NULL; ch++) {
        if (strcmp(ch->value, v) == 0) {
            return OHSM_OK;
        }
        int r = snprintf(list + off, sizeof(list) - off, "%s%s", off > 0 ? ", " : "", ch->value);
        if (r > 0 && (size_t)r < sizeof(list) - off) {
            off += (size_t)r;
        }
    }
    return fail(err, cap, "invalid value '%s' for '--%s' (possible values: %s)", v, o->name, list);
}

/* Checks a value against the option's allowed values and, for a number option, its form. */
static ohsm_rv check_value(const struct ohsm_cli_opt *o, const char *v, char *err, size_t cap)
{
    if ((o->flags & OHSM_CLI_O_NUMBER) != 0) {
        size_t len = strspn(v, "0123456789");
        /* 19 digits always fit in 64 bits; the handler checks the range it needs. */
        if (len == 0 || len > 19 || v[len] != '\0') {
            return fail(err, cap, "invalid value '%.40s' for '--%s': expected a number", v,
                        o->name);
        }
    }
    return check_choice(o, v, err, cap);
}

static ohsm_rv add_kv(struct ohsm_cli_args *a, const struct ohsm_cli_opt *o, char *v, char *err,
                      size_t cap)
{
    if (a->nkv >= OHSM_CLI_MAX_KV) {
        return fail(err, cap, "too many options (at most %d)", OHSM_CLI_MAX_KV);
    }
    a->kv[a->nkv].opt = o;
    a->kv[a->nkv].value = v;
    a->nkv++;
    return OHSM_OK;
}

/* Reads option o at tok[*i] (inline value inl) and its values. */
static ohsm_rv take_option(struct ohsm_cli_args *a, const struct ohsm_cli_opt *o, char *inl,
                           char **tok, size_t n, size_t *i, char *err, size_t cap)
{
    ohsm_rv rv;
    if ((o->flags & OHSM_CLI_O_REPEAT) == 0 && seen(a, o) > 0) {
        return fail(err, cap, "option '--%s' given more than once", o->name);
    }
    if ((o->flags & OHSM_CLI_O_FLAG) != 0) {
        if (inl != NULL) {
            return fail(err, cap, "option '--%s' takes no value", o->name);
        }
        return add_kv(a, o, NULL, err, cap);
    }
    char *v = inl;
    if (v == NULL) {
        /* A following "--x" is the next option, not a value: the value is missing. */
        if (*i + 1 >= n || (tok[*i + 1][0] == '-' && tok[*i + 1][1] == '-')) {
            return fail(err, cap, "option '--%s' needs a value <%s>", o->name, o->metavar);
        }
        v = tok[++*i];
    }
    if (v[0] == '\0') {
        return fail(err, cap, "option '--%s' needs a non-empty value <%s>", o->name, o->metavar);
    }
    rv = check_value(o, v, err, cap);
    if (rv == OHSM_OK) {
        rv = add_kv(a, o, v, err, cap);
    }
    while (rv == OHSM_OK && inl == NULL && (o->flags & OHSM_CLI_O_MULTI) != 0 && *i + 1 < n &&
           !is_option(tok[*i + 1])) {
        v = tok[++*i];
        rv = check_value(o, v, err, cap);
        if (rv == OHSM_OK) {
            rv = add_kv(a, o, v, err, cap);
        }
    }
    return rv;
}

static bool is_global(const struct ohsm_cli_grammar *g, const struct ohsm_cli_opt *o)
{
    for (const struct ohsm_cli_opt *p = g->global; p != NULL && p->name != NULL; p++) {
        if (p == o) {
            return true;
        }
    }
    return false;
}

/* The subcommand word t comes after options of the command a->words names (as in `login
 * --username U --role R mfa-token-sign`): every option read so far must be one the subcommand
 * declares too, with the same form; the values are re-checked and bound to its options. */
static ohsm_rv rebind(const struct ohsm_cli_grammar *g, struct ohsm_cli_args *a, const char *t,
                      char *err, size_t cap)
{
    const char *w[OHSM_CLI_MAX_WORDS];
    char buf[160];
    ohsm_rv rv;

    if (a->nwords >= OHSM_CLI_MAX_WORDS) {
        return fail(err, cap, "unexpected argument '%s'", t);
    }
    memcpy(w, a->words, a->nwords * sizeof(w[0]));
    w[a->nwords] = t;
    const struct ohsm_cli_cmd *c = ohsm_cli_find(g, w, a->nwords + 1);
    for (size_t k = 0; k < a->nkv; k++) {
        const struct ohsm_cli_opt *old = a->kv[k].opt;
        const struct ohsm_cli_opt *o = NULL;
        if (is_global(g, old)) {
            continue;
        }
        for (const struct ohsm_cli_opt *p = c != NULL ? c->opts : NULL;
             p != NULL && p->name != NULL; p++) {
            if (strcmp(p->name, old->name) == 0) {
                o = p;
                break;
            }
        }
        /* Same form, so that what was read (and what is wiped later) stays right. */
        unsigned form = OHSM_CLI_O_FLAG | OHSM_CLI_O_MULTI | OHSM_CLI_O_REPEAT | OHSM_CLI_O_SECRET;
        if (o == NULL || c->handler == NULL || (o->flags & form) != (old->flags & form)) {
            return fail(err, cap, "unexpected option '--%s' for '%s'", old->name,
                        join(w, a->nwords + 1, buf, sizeof(buf)));
        }
        if (a->kv[k].value != NULL) {
            rv = check_value(o, a->kv[k].value, err, cap);
            if (rv != OHSM_OK) {
                return rv;
            }
        }
        a->kv[k].opt = o;
    }
    return OHSM_OK;
}

/* Exactly one of the row's ONE_OF options must have been given. */
static ohsm_rv check_one_of(const struct ohsm_cli_args *a, char *err, size_t cap)
{
    const struct ohsm_cli_opt *given = NULL;
    char list[256];
    size_t off = 0;
    bool any = false;

    list[0] = '\0';
    for (const struct ohsm_cli_opt *o = a->cmd->opts; o != NULL && o->name != NULL; o++) {
        if ((o->flags & OHSM_CLI_O_ONE_OF) == 0) {
            continue;
        }
        any = true;
        int r =
            snprintf(list + off, sizeof(list) - off, "%s'--%s'", off > 0 ? " or " : "", o->name);
        if (r > 0 && (size_t)r < sizeof(list) - off) {
            off += (size_t)r;
        }
        if (seen(a, o) == 0) {
            continue;
        }
        if (given != NULL) {
            return fail(err, cap, "options '--%s' and '--%s' cannot be used together", given->name,
                        o->name);
        }
        given = o;
    }
    if (any && given == NULL) {
        return fail(err, cap, "'%s' needs one of %s", a->cmd->path, list);
    }
    return OHSM_OK;
}

ohsm_rv ohsm_cli_parse(const struct ohsm_cli_grammar *g, char **tok, size_t n,
                       struct ohsm_cli_args *a, char *err, size_t cap)
{
    char buf[160];
    char kids[256];
    bool cmd_opt_seen = false;
    const struct ohsm_cli_opt *last = NULL; /* the option read just before a stray word */
    ohsm_rv rv;

    memset(a, 0, sizeof(*a));
    err[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        char *t = tok[i];
        const struct ohsm_cli_cmd *c = ohsm_cli_find(g, a->words, a->nwords);
        if (is_option(t)) {
            if (strcmp(t, "-h") == 0 || strcmp(t, "--help") == 0) {
                a->help = true;
                a->cmd = c;
                return OHSM_OK;
            }
            char *inl;
            const struct ohsm_cli_opt *o = lookup(c != NULL ? c->opts : NULL, t, &inl);
            bool own = o != NULL;
            if (o == NULL) {
                o = lookup(g->global, t, &inl);
            }
            if (o == NULL) {
                /* Name only: an unknown "--x=value" may carry a secret. */
                const char *eq = strchr(t, '=');
                int len = eq != NULL ? (int)(eq - t) : (int)strlen(t);
                if (c != NULL) {
                    return fail(err, cap, "unexpected option '%.*s' for '%s'", len, t, c->path);
                }
                return fail(err, cap, "unexpected option '%.*s'", len, t);
            }
            cmd_opt_seen = cmd_opt_seen || own;
            rv = take_option(a, o, inl, tok, n, &i, err, cap);
            if (rv != OHSM_OK) {
                return rv;
            }
            last = o;
            continue;
        }
        if (extends(g, a->words, a->nwords, t)) {
            if (cmd_opt_seen) {
                rv = rebind(g, a, t, err, cap);
                if (rv != OHSM_OK) {
                    return rv;
                }
            }
            a->words[a->nwords++] = t;
            last = NULL;
            continue;
        }
        if (c == NULL || c->handler == NULL) {
            if (a->nwords == 0) {
                return fail(err, cap, "unrecognized command '%s'", t);
            }
            return fail(err, cap, "unrecognized subcommand '%s' for '%s' (expected one of: %s)", t,
                        join(a->words, a->nwords, buf, sizeof(buf)),
                        children(g, a->words, a->nwords, kids, sizeof(kids)));
        }
        if (c->positional == NULL) {
            if (last != NULL && (last->flags & OHSM_CLI_O_SECRET) != 0) {
                return fail(err, cap,
                            "unexpected argument after '--%s' for '%s' (quote a value that "
                            "contains spaces)",
                            last->name, c->path);
            }
            return fail(err, cap, "unexpected argument '%s' for '%s'", t, c->path);
        }
        if (a->npos >= OHSM_CLI_MAX_POS) {
            return fail(err, cap, "too many arguments for '%s'", c->path);
        }
        a->pos[a->npos++] = t;
    }
    a->cmd = ohsm_cli_find(g, a->words, a->nwords);
    if (a->cmd == NULL || a->cmd->handler == NULL) {
        if (a->nwords == 0) {
            return fail(err, cap, "no command given (expected one of: %s)",
                        children(g, a->words, 0, kids, sizeof(kids)));
        }
        return fail(err, cap, "'%s' needs a subcommand (one of: %s)",
                    join(a->words, a->nwords, buf, sizeof(buf)),
                    children(g, a->words, a->nwords, kids, sizeof(kids)));
    }
    for (const struct ohsm_cli_opt *o = a->cmd->opts; o != NULL && o->name != NULL; o++) {
        if ((o->flags & OHSM_CLI_O_REQUIRED) != 0 && seen(a, o) == 0) {
            return fail(err, cap, "missing required option '--%s <%s>' for '%s'", o->name,
                        o->metavar != NULL ? o->metavar : "", a->cmd->path);
        }
    }
    return check_one_of(a, err, cap);
}

char *ohsm_cli_arg(const struct ohsm_cli_args *a, const char *name)
{
    for (size_t k = 0; k < a->nkv; k++) {
        if (strcmp(a->kv[k].opt->name, name) == 0) {
            return a->kv[k].value;
        }
    }
    return NULL;
}

bool ohsm_cli_flag(const struct ohsm_cli_args *a, const char *name)
{
    for (size_t k = 0; k < a->nkv; k++) {
        if (strcmp(a->kv[k].opt->name, name) == 0) {
            return true;
        }
    }
    return false;
}

size_t ohsm_cli_arg_values(const struct ohsm_cli_args *a, const char *name, const char **out,
                           size_t cap)
{
    size_t n = 0;
    for (size_t k = 0; k < a->nkv; k++) {
        if (strcmp(a->kv[k].opt->name, name) == 0) {
            if (n < cap) {
                out[n] = a->kv[k].value;
            }
            n++;
        }
    }
    return n;
}

void ohsm_cli_args_wipe(struct ohsm_cli_args *a)
{
    for (size_t k = 0; k < a->nkv; k++) {
        char *v = a->kv[k].value;
        if (v != NULL && (a->kv[k].opt->flags & OHSM_CLI_O_SECRET) != 0) {
            OPENSSL_cleanse(v, strlen(v));
        }
    }
}
