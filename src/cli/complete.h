/* SPDX-License-Identifier: Apache-2.0
 *
 * What openhsm-cli's interactive shell offers and remembers, read from the grammar table
 * (grammar.h): the words Tab may complete at the cursor (the next command or subcommand words,
 * the command's and the global option names, an option's allowed values) and the rule for the
 * history file (a line is kept only when it splits and parses, and none of its words names an
 * option the grammar marks secret in any command, as --password, --change-password, --data).
 * Pure: no I/O. Lines are untrusted and may hold a password: copies are wiped.
 */
#ifndef OHSM_CLI_COMPLETE_H
#define OHSM_CLI_COMPLETE_H

#include <stdbool.h>

#include "cli/grammar.h"

/* Offers through add every word allowed after `before` (the line up to the word being completed).
 * g is a struct ohsm_cli_grammar (void for the edit.h callback type). */
void ohsm_cli_complete(const void *g, const char *before, void (*add)(void *sink, const char *w),
                       void *sink);

/* May line enter the history? g is a struct ohsm_cli_grammar. */
bool ohsm_cli_hist_keep(const void *g, const char *line);

#endif
