/* SPDX-License-Identifier: Apache-2.0
 *
 * Shell habits on a terminal, shared by openhsm-cli, openhsm-cmu and openhsm-kmu: Tab completion
 * through libedit's readline interface from the words a tool's grammar table offers at the cursor,
 * and the history file (hist.h) fed to libedit's history, with the tool's rule deciding which
 * lines may be kept (never one that carried a secret). Only for terminal sessions: a tool calls
 * nothing here when reading a script.
 * Not thread-safe: libedit's readline state is process-global, and so is this module's (listed in
 * edit.c).
 */
#ifndef OHSM_CMU_EDIT_H
#define OHSM_CMU_EDIT_H

#include <stdbool.h>

#include "cmu/hist.h"

/* Receives one word that may stand where the cursor is. */
typedef void (*ohsm_edit_add_fn)(void *sink, const char *word);

/* Offers, through add, every word the grammar allows at the word being completed; before is the
 * line up to the start of that word (borrowed, may hold a secret: not to be kept). The words need
 * not be filtered by what was typed: edit.c keeps those that start with it. */
typedef void (*ohsm_edit_words_fn)(const void *arg, const char *before, ohsm_edit_add_fn add,
                                   void *sink);

/* Installs Tab completion from words(arg, ...). arg is borrowed for the process's life. */
void ohsm_edit_complete_with(ohsm_edit_words_fn words, const void *arg);

/* Opens the history file $HOME/name, loads the lines keep(karg, line) accepts into libedit's
 * history and remembers the rule for ohsm_edit_remember. When the file cannot be used, prints one
 * line "PROG: history off: ..." to stderr; the session goes on with in-memory history. */
void ohsm_edit_history(const char *prog, const char *name, ohsm_hist_keep_fn keep,
                       const void *karg);

/* Adds line to the history (libedit's and the file, saved at once) when the rule keeps it. */
void ohsm_edit_remember(const char *line);

/* Frees the history. */
void ohsm_edit_end(void);

#endif
