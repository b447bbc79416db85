/* SPDX-License-Identifier: Apache-2.0
 *
 * Completion words and the history rule of openhsm-kmu's shell (complete.h), from the flag specs
 * of the command table. Input lines are untrusted and may hold a password: the copies split here
 * are wiped before they are freed.
 */
#include "kmu/complete.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/line.h"

/* The flag of c that word ("-name") names, or NULL. */
static const struct ohsm_kmu_flag *flag_of(const struct ohsm_kmu_cmd *c, const char *word)
{
    if (word[0] != '-') {
        return NULL;
    }
    for (size_t i = 0; i < OHSM_KMU_MAX_FLAGS && c->flags[i].kind != OHSM_KMU_V_END; i++) {
        if (strcmp(c->flags[i].name, word + 1) == 0) {
            return &c->flags[i];
        }
    }
    return NULL;
}

void ohsm_kmu_complete(const void *tab, const char *before, void (*add)(void *sink, const char *w),
                       void *sink)
{
    const struct ohsm_kmu_table *t = tab;
    char *tok[OHSM_KMU_MAX_TOKENS];
    size_t ntok = 0;
    size_t len = strlen(before);
    char *copy = ohsm_line_split_copy(before, tok, OHSM_KMU_MAX_TOKENS, &ntok);
    char word[80];

    if (copy == NULL || ntok > OHSM_KMU_MAX_TOKENS) {
        goto out;
    }
    if (ntok == 0) {
        for (size_t i = 0; i < t->n; i++) {
            add(sink, t->cmds[i].name);
        }
        goto out;
    }
    const struct ohsm_kmu_cmd *c = ohsm_kmu_find(t->cmds, t->n, tok[0]);
    if (c == NULL) {
        goto out;
    }
    const struct ohsm_kmu_flag *last = flag_of(c, tok[ntok - 1]);
    if (ntok > 1 && last != NULL && last->kind != OHSM_KMU_V_SWITCH) {
        goto out; /* the cursor is at that flag's value */
    }
    for (size_t i = 0; i < OHSM_KMU_MAX_FLAGS && c->flags[i].kind != OHSM_KMU_V_END; i++) {
        const struct ohsm_kmu_flag *f = &c->flags[i];
        bool given = false;
        for (size_t k = 1; k < ntok && !given; k++) {
            const struct ohsm_kmu_flag *g = flag_of(c, tok[k]);
            /* Given already, or an alternative of a flag given (-p or -hpswd). */
            given = g == f || (g != NULL && f->group != 0 && g->group == f->group);
        }
        int w = snprintf(word, sizeof(word), "-%s", f->name);
        if (!given && w > 0 && (size_t)w < sizeof(word)) {
            add(sink, word);
        }
    }
out:
    ohsm_line_copy_drop(copy, len);
}

/* Does word name a secret flag of any row (case aside, so a mistyped -P counts)? */
static bool secret_flag(const struct ohsm_kmu_table *t, const char *word)
{
    if (word[0] != '-') {
        return false;
    }
    for (size_t i = 0; i < t->n; i++) {
        const struct ohsm_kmu_cmd *c = &t->cmds[i];
        for (size_t k = 0; k < OHSM_KMU_MAX_FLAGS && c->flags[k].kind != OHSM_KMU_V_END; k++) {
            if (c->flags[k].kind == OHSM_KMU_V_SECRET &&
                strcasecmp(c->flags[k].name, word + 1) == 0) {
                return true;
            }
        }
    }
    return false;
}

bool ohsm_kmu_hist_keep(const void *tab, const char *line)
{
    const struct ohsm_kmu_table *t = tab;
    char *tok[OHSM_KMU_MAX_TOKENS];
    size_t ntok = 0;
    bool keep = false;
    size_t len = strlen(line);
    char *copy = ohsm_line_split_copy(line, tok, OHSM_KMU_MAX_TOKENS, &ntok);

    if (copy != NULL && ntok > 0 && ntok <= OHSM_KMU_MAX_TOKENS &&
        ohsm_kmu_find(t->cmds, t->n, tok[0]) != NULL) {
        keep = true;
        for (size_t i = 1; i < ntok && keep; i++) {
            keep = !secret_flag(t, tok[i]);
        }
    }
    ohsm_line_copy_drop(copy, len);
    return keep;
}
