/* SPDX-License-Identifier: Apache-2.0
 *
 * Completion words and the history rule of openhsm-cmu's shell (complete.h), from the command
 * table's argument specs. Input lines are untrusted and may hold a password: the copies split
 * here are wiped before they are freed.
 */
#include "cmu/complete.h"

#include <stdlib.h>
#include <string.h>

#include "core/line.h"

#include "openhsm/user.h"

/* The words argument a may be. */
static void arg_words(const struct ohsm_cmu_table *t, const struct ohsm_cmu_arg *a,
                      void (*add)(void *sink, const char *w), void *sink)
{
    switch (a->kind) {
    case OHSM_CMU_ARG_UTYPE:
        for (unsigned u = 0; u <= (unsigned)OHSM_UT_MAX; u++) {
            if ((a->types & OHSM_CMU_T(u)) != 0) {
                add(sink, ohsm_utype_cmu_name((enum ohsm_utype)u));
            }
        }
        break;
    case OHSM_CMU_ARG_KEYWORD:
        add(sink, a->metavar);
        break;
    case OHSM_CMU_ARG_PASSWORD:
        add(sink, OHSM_CMU_HPSWD);
        break;
    case OHSM_CMU_ARG_COMMAND:
        for (size_t i = 0; i < t->n; i++) {
            add(sink, t->cmds[i].name);
        }
        break;
    default:
        break; /* free values: nothing to offer */
    }
}

void ohsm_cmu_complete(const void *tab, const char *before, void (*add)(void *sink, const char *w),
                       void *sink)
{
    const struct ohsm_cmu_table *t = tab;
    char *tok[OHSM_CMU_MAX_TOKENS];
    size_t ntok = 0;
    size_t len = strlen(before);
    char *copy = ohsm_line_split_copy(before, tok, OHSM_CMU_MAX_TOKENS, &ntok);

    if (copy == NULL || ntok >= OHSM_CMU_MAX_TOKENS) {
        goto out;
    }
    if (ntok == 0) {
        for (size_t i = 0; i < t->n; i++) {
            add(sink, t->cmds[i].name);
        }
        goto out;
    }
    const struct ohsm_cmu_cmd *c = ohsm_cmu_find(t->cmds, t->n, tok[0], NULL);
    if (c == NULL) {
        goto out;
    }
    /* Which argument the word at the cursor is: an optional keyword not typed is skipped. */
    size_t p = 0;
    for (size_t i = 1; i < ntok && p < OHSM_CMU_MAX_ARGS; i++) {
        while (p < OHSM_CMU_MAX_ARGS && c->args[p].kind == OHSM_CMU_ARG_KEYWORD &&
               c->args[p].optional && strcmp(tok[i], c->args[p].metavar) != 0) {
            p++;
        }
        p++;
    }
    for (; p < OHSM_CMU_MAX_ARGS && c->args[p].kind != OHSM_CMU_ARG_END; p++) {
        arg_words(t, &c->args[p], add, sink);
        if (!(c->args[p].kind == OHSM_CMU_ARG_KEYWORD && c->args[p].optional)) {
            break;
        }
    }
out:
    ohsm_line_copy_drop(copy, len);
}

/* Does row c set, prove or register a user's credentials? */
static bool credential_row(const struct ohsm_cmu_cmd *c)
{
    bool utype = false;
    for (size_t i = 0; i < OHSM_CMU_MAX_ARGS && c->args[i].kind != OHSM_CMU_ARG_END; i++) {
        if (c->args[i].kind == OHSM_CMU_ARG_PASSWORD) {
            return true;
        }
        utype = utype || c->args[i].kind == OHSM_CMU_ARG_UTYPE;
    }
    return utype && (c->flags & OHSM_CMU_F_CRITICAL) != 0;
}

bool ohsm_cmu_hist_keep(const void *tab, const char *line)
{
    const struct ohsm_cmu_table *t = tab;
    char *tok[OHSM_CMU_MAX_TOKENS];
    size_t ntok = 0;
    bool keep = false;
    size_t len = strlen(line);
    char *copy = ohsm_line_split_copy(line, tok, OHSM_CMU_MAX_TOKENS, &ntok);

    if (copy != NULL && ntok > 0) {
        bool ambiguous = false;
        const struct ohsm_cmu_cmd *c = ohsm_cmu_find(t->cmds, t->n, tok[0], &ambiguous);
        /* An unknown or ambiguous word may be a mistyped credential command: not kept. */
        keep = c != NULL && !ambiguous && !credential_row(c);
    }
    ohsm_line_copy_drop(copy, len);
    return keep;
}
