/* SPDX-License-Identifier: Apache-2.0
 *
 * libedit glue for the interactive shells (edit.h): the attempted-completion hook builds the match
 * list from the tool's grammar words (a case-sensitive prefix match first, else a case-insensitive
 * one, as the CMU and KMU take command names in any case), and history lines go through the tool's
 * rule to libedit and the history file. The line before the cursor may hold a password: the
 * copy made of it is wiped.
 * Process-global state (libedit's callbacks take no context): `g_edit` below, set once at start by
 * the main thread and used only from readline() in that thread; no lock is needed.
 */
#include "cmu/edit.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <editline/readline.h>
#include <openssl/crypto.h>

#define MAX_MATCHES 256

static struct {
    ohsm_edit_words_fn words;
    const void *warg;
    ohsm_hist_keep_fn keep;
    const void *karg;
    const char *prog;
    struct ohsm_hist hist;
    bool hist_open;
} g_edit;

struct sink {
    const char *text; /* what was typed of the word */
    size_t tlen;
    bool nocase;
    char *v[MAX_MATCHES];
    size_t n;
};

static void collect(void *arg, const char *word)
{
    struct sink *s = arg;
    int diff = s->nocase ? strncasecmp(word, s->text, s->tlen) : strncmp(word, s->text, s->tlen);
    if (diff != 0 || strlen(word) < s->tlen || s->n == MAX_MATCHES) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->v[i], word) == 0) {
            return;
        }
    }
    char *copy = strdup(word);
    if (copy != NULL) {
        s->v[s->n++] = copy;
    }
}

/* The longest prefix every match shares (in the first match's spelling). */
static char *common(const struct sink *s)
{
    size_t len = strlen(s->v[0]);
    for (size_t i = 1; i < s->n; i++) {
        size_t k = 0;
        while (k < len && s->v[i][k] != '\0' &&
               (s->nocase ? (tolower((unsigned char)s->v[i][k]) ==
                             tolower((unsigned char)s->v[0][k]))
                          : s->v[i][k] == s->v[0][k])) {
            k++;
        }
        len = k;
    }
    return strndup(s->v[0], len);
}

static char **attempt(const char *text, int start, int end)
{
    (void)end;
    rl_attempted_completion_over = 1; /* never fall back to file names */
    if (g_edit.words == NULL || start < 0 || rl_line_buffer == NULL) {
        return NULL;
    }
    size_t blen = strnlen(rl_line_buffer, (size_t)start);
    char *before = strndup(rl_line_buffer, blen);
    if (before == NULL) {
        return NULL;
    }
    struct sink s = {.text = text, .tlen = strlen(text)};
    g_edit.words(g_edit.warg, before, collect, &s);
    if (s.n == 0) {
        s.nocase = true;
        g_edit.words(g_edit.warg, before, collect, &s);
    }
    OPENSSL_cleanse(before, blen);
    free(before);
    if (s.n == 0) {
        return NULL;
    }
    /* readline's form: [0] what replaces the word, then the matches, then NULL. libedit treats a
     * list whose only match equals [0] as a single match (and appends a space). */
    char **m = calloc(s.n + 2 + (s.n == 1), sizeof(*m));
    char *lcd = s.n == 1 ? strdup(s.v[0]) : common(&s);
    if (m == NULL || lcd == NULL) {
        free(m);
        free(lcd);
        for (size_t i = 0; i < s.n; i++) {
            free(s.v[i]);
        }
        return NULL;
    }
    m[0] = lcd;
    for (size_t i = 0; i < s.n; i++) {
        m[i + 1] = s.v[i];
    }
    return m;
}

void ohsm_edit_complete_with(ohsm_edit_words_fn words, const void *arg)
{
    g_edit.words = words;
    g_edit.warg = arg;
    rl_attempted_completion_function = attempt;
    /* Words are separated by blanks only, as the tools split lines. libedit reads the basic
     * set; readline the completer set. */
    rl_basic_word_break_characters = " \t\n";
    rl_completer_word_break_characters = (char *)" \t\n";
}

void ohsm_edit_history(const char *prog, const char *name, ohsm_hist_keep_fn keep,
                       const void *karg)
{
    char why[4200];

    g_edit.prog = prog;
    g_edit.keep = keep;
    g_edit.karg = karg;
    using_history();
    stifle_history(OHSM_HIST_MAX);
    bool on = ohsm_hist_open(&g_edit.hist, getenv("HOME"), name, keep, karg, why, sizeof(why));
    g_edit.hist_open = true;
    for (size_t i = 0; i < g_edit.hist.n; i++) {
        (void)add_history(g_edit.hist.lines[i]);
    }
    if (!on) {
        (void)fprintf(stderr, "%s: %s\n", prog, why);
    }
}

void ohsm_edit_remember(const char *line)
{
    char why[4200];

    if (!g_edit.hist_open || (g_edit.keep != NULL && !g_edit.keep(g_edit.karg, line))) {
        return;
    }
    /* Kept without the blanks around it (a completion leaves a space after the last word). */
    line += strspn(line, " \t");
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t')) {
        len--;
    }
    char *trim = strndup(line, len);
    if (trim == NULL || len == 0) {
        free(trim);
        return;
    }
    (void)add_history(trim);
    if (ohsm_hist_add(&g_edit.hist, trim) && g_edit.hist.on &&
        !ohsm_hist_save(&g_edit.hist, why, sizeof(why))) {
        (void)fprintf(stderr, "%s: %s\n", g_edit.prog, why); /* once: the file is off now */
    }
    free(trim);
}

void ohsm_edit_end(void)
{
    if (g_edit.hist_open) {
        ohsm_hist_free(&g_edit.hist);
        g_edit.hist_open = false;
    }
}
