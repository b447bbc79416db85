/* SPDX-License-Identifier: Apache-2.0
 *
 * Completion words and the history rule of openhsm-cli's shell (complete.h), from the grammar
 * rows. Command words resolve as the parser resolves them (a word that extends a row's path);
 * options are the resolved row's and the global ones. Input lines are untrusted and may hold a
 * password: the copies split here are wiped before they are freed.
 */
#include "cli/complete.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/line.h"

#define MAX_TOK 128

/* Word idx of a path, copied into buf; false when the path has no such word. */
static bool path_word(const char *path, size_t idx, char *buf, size_t cap)
{
    const char *p = path;
    for (size_t k = 0; k < idx; k++) {
        p = strchr(p, ' ');
        if (p == NULL) {
            return false;
        }
        p++;
    }
    size_t len = strcspn(p, " ");
    if (len + 1 > cap) {
        return false;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    return true;
}

/* Does some row's path start with w[0..nw) followed by t? */
static bool extends(const struct ohsm_cli_grammar *g, const char *const *w, size_t nw,
                    const char *t)
{
    char word[64];
    for (size_t i = 0; i < g->ncmds; i++) {
        const char *path = g->cmds[i].path;
        if (ohsm_cli_path_words(path) > nw && ohsm_cli_path_prefix(path, w, nw) &&
            path_word(path, nw, word, sizeof(word)) && strcmp(word, t) == 0) {
            return true;
        }
    }
    return false;
}

static bool is_option(const char *t)
{
    return t[0] == '-' && t[1] != '\0';
}

/* The option of list that token t ("--name", "--name=v", "-x") names, or NULL. */
static const struct ohsm_cli_opt *opt_named(const struct ohsm_cli_opt *list, const char *t)
{
    if (list == NULL || !is_option(t)) {
        return NULL;
    }
    if (t[1] != '-') {
        for (const struct ohsm_cli_opt *o = list; o->name != NULL; o++) {
            if (t[2] == '\0' && o->short_name != '\0' && o->short_name == t[1]) {
                return o;
            }
        }
        return NULL;
    }
    size_t len = strcspn(t + 2, "=");
    for (const struct ohsm_cli_opt *o = list; o->name != NULL; o++) {
        if (strlen(o->name) == len && memcmp(o->name, t + 2, len) == 0) {
            return o;
        }
    }
    return NULL;
}

static void add_opts(const struct ohsm_cli_opt *list, char **tok, size_t ntok,
                     void (*add)(void *sink, const char *w), void *sink)
{
    char word[96];
    for (const struct ohsm_cli_opt *o = list; o != NULL && o->name != NULL; o++) {
        bool given = false;
        for (size_t k = 0; k < ntok && !given; k++) {
            given = opt_named(list, tok[k]) == o;
        }
        int w = snprintf(word, sizeof(word), "--%s", o->name);
        if ((!given || (o->flags & OHSM_CLI_O_REPEAT) != 0) && w > 0 &&
            (size_t)w < sizeof(word)) {
            add(sink, word);
        }
    }
}

void ohsm_cli_complete(const void *gv, const char *before, void (*add)(void *sink, const char *w),
                       void *sink)
{
    const struct ohsm_cli_grammar *g = gv;
    char *tok[MAX_TOK];
    const char *w[OHSM_CLI_MAX_WORDS];
    size_t ntok = 0, nw = 0;
    char err[256];
    char word[64];
    bool opt_seen = false;
    const struct ohsm_cli_opt *pending = NULL; /* an option whose value is at the cursor */
    size_t len = strlen(before);
    char *copy = strdup(before);

    /* A line that does not split (an open quote) has the cursor inside a value. */
    if (copy == NULL || ohsm_cli_split(copy, tok, MAX_TOK, &ntok, err, sizeof(err)) != OHSM_OK) {
        goto out;
    }
    for (size_t i = 0; i < ntok; i++) {
        const struct ohsm_cli_cmd *c = ohsm_cli_find(g, w, nw);
        pending = NULL;
        if (is_option(tok[i])) {
            const struct ohsm_cli_opt *o = opt_named(c != NULL ? c->opts : NULL, tok[i]);
            o = o != NULL ? o : opt_named(g->global, tok[i]);
            opt_seen = true;
            if (o != NULL && (o->flags & OHSM_CLI_O_FLAG) == 0 && strchr(tok[i], '=') == NULL) {
                if (i + 1 == ntok) {
                    pending = o;
                }
                i++; /* its value */
            }
            continue;
        }
        if (!opt_seen && nw < OHSM_CLI_MAX_WORDS && extends(g, w, nw, tok[i])) {
            w[nw++] = tok[i];
        }
    }
    if (pending != NULL) {
        for (const struct ohsm_cli_choice *ch = pending->choices; ch != NULL && ch->value != NULL;
             ch++) {
            add(sink, ch->value);
        }
        goto out;
    }
    if (!opt_seen) {
        /* The next command words rows offer (aliases are not offered). */
        for (size_t i = 0; i < g->ncmds; i++) {
            const struct ohsm_cli_cmd *c = &g->cmds[i];
            if ((c->flags & OHSM_CLI_C_HIDDEN) == 0 && ohsm_cli_path_words(c->path) > nw &&
                ohsm_cli_path_prefix(c->path, w, nw) &&
                path_word(c->path, nw, word, sizeof(word))) {
                add(sink, word);
            }
        }
    }
    const struct ohsm_cli_cmd *c = ohsm_cli_find(g, w, nw);
    if (c != NULL && c->handler != NULL) {
        add_opts(c->opts, tok, ntok, add, sink);
        add_opts(g->global, tok, ntok, add, sink);
    }
out:
    ohsm_line_copy_drop(copy, len);
}

/* Does t name an option any row (or the global list) marks secret? */
static bool secret_option(const struct ohsm_cli_grammar *g, const char *t)
{
    const struct ohsm_cli_opt *o = opt_named(g->global, t);
    if (o != NULL && (o->flags & OHSM_CLI_O_SECRET) != 0) {
        return true;
    }
    for (size_t i = 0; i < g->ncmds; i++) {
        o = opt_named(g->cmds[i].opts, t);
        if (o != NULL && (o->flags & OHSM_CLI_O_SECRET) != 0) {
            return true;
        }
    }
    return false;
}

bool ohsm_cli_hist_keep(const void *gv, const char *line)
{
    const struct ohsm_cli_grammar *g = gv;
    char *tok[MAX_TOK];
    size_t ntok = 0;
    char err[512];
    struct ohsm_cli_args a;
    bool keep = false;
    size_t len = strlen(line);
    char *copy = strdup(line);

    /* A line that does not split or parse cannot be vetted: not kept. */
    if (copy == NULL || ohsm_cli_split(copy, tok, MAX_TOK, &ntok, err, sizeof(err)) != OHSM_OK ||
        ntok == 0) {
        goto out;
    }
    for (size_t i = 0; i < ntok; i++) {
        if (secret_option(g, tok[i])) {
            goto out;
        }
    }
    keep = ohsm_cli_parse(g, tok, ntok, &a, err, sizeof(err)) == OHSM_OK;
    OPENSSL_cleanse(&a, sizeof(a));
out:
    OPENSSL_cleanse(err, sizeof(err));
    ohsm_line_copy_drop(copy, len);
    return keep;
}
