/* SPDX-License-Identifier: Apache-2.0
 *
 * What openhsm-cmu's shell offers and remembers, read from its one command table (cmds.c): the
 * words Tab may complete at the cursor (command names, then each argument's allowed words: user
 * types, keywords, -hpswd, command names for help) and the rule for the history file (a line is
 * kept only when it names a command and cannot carry a credential: never a command with a
 * password argument, nor a critical command that names a user type, which sets or registers a
 * user's credentials: loginHSM, changePswd, createUser, registerQuorumPubKey). Pure: no I/O.
 * Lines are untrusted and may hold a password: copies are wiped.
 */
#ifndef OHSM_CMU_COMPLETE_H
#define OHSM_CMU_COMPLETE_H

#include <stdbool.h>
#include <stddef.h>

#include "cmu/parse.h"

struct ohsm_cmu_table {
    const struct ohsm_cmu_cmd *cmds; /* borrowed */
    size_t n;
};

/* Offers through add every word allowed after `before` (the line up to the word being completed).
 * tab is a struct ohsm_cmu_table (void for the edit.h callback type). */
void ohsm_cmu_complete(const void *tab, const char *before, void (*add)(void *sink, const char *w),
                       void *sink);

/* May line enter the history? tab is a struct ohsm_cmu_table. */
bool ohsm_cmu_hist_keep(const void *tab, const char *line);

#endif
