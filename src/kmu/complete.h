/* SPDX-License-Identifier: Apache-2.0
 *
 * What openhsm-kmu's shell offers and remembers, read from its one command table (cmds.c): the
 * words Tab may complete at the cursor (command names, then the command's flags not yet given,
 * "-t", "-s", ...) and the rule for the history file (a line is kept only when it names a command
 * and none of its words is a flag any command declares secret, as loginHSM's -p). Pure: no I/O.
 * Lines are untrusted and may hold a password: copies are wiped.
 */
#ifndef OHSM_KMU_COMPLETE_H
#define OHSM_KMU_COMPLETE_H

#include <stdbool.h>
#include <stddef.h>

#include "kmu/parse.h"

struct ohsm_kmu_table {
    const struct ohsm_kmu_cmd *cmds; /* borrowed */
    size_t n;
};

/* Offers through add every word allowed after `before` (the line up to the word being completed).
 * tab is a struct ohsm_kmu_table (void for the edit.h callback type). */
void ohsm_kmu_complete(const void *tab, const char *before, void (*add)(void *sink, const char *w),
                       void *sink);

/* May line enter the history? tab is a struct ohsm_kmu_table. */
bool ohsm_kmu_hist_keep(const void *tab, const char *line);

#endif
