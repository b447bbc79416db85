/* SPDX-License-Identifier: Apache-2.0
 *
 * Terminal and script input for openhsm-cmu. When standard input is a terminal, commands are read
 * with libedit (prompt, line editing, history) and hidden passwords with echo turned off; when it
 * is not (a script piped in), lines are read as they come with no prompt, and what would have been
 * echoed by a terminal is written instead where it keeps a transcript readable (the y/n answer,
 * never a password). Lines land in caller-provided fixed buffers so the caller can wipe them; a
 * line longer than the buffer is read to its end, wiped and reported as too long.
 * Not thread-safe: one reader per process (libedit's readline state is global).
 */
#ifndef OHSM_CMU_IO_H
#define OHSM_CMU_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cmu/edit.h"

struct ohsm_cmu_io {
    bool tty;  /* standard input is a terminal */
    FILE *out; /* where prompts go (borrowed) */
};

enum ohsm_cmu_read {
    OHSM_CMU_READ_OK,
    OHSM_CMU_READ_EOF,
    OHSM_CMU_READ_LONG,   /* the line did not fit: it was consumed and wiped */
    OHSM_CMU_READ_NOECHO, /* a secret was asked for but terminal echo could not be turned off */
};

/* Looks at standard input and sets up libedit when it is a terminal. */
void ohsm_cmu_io_init(struct ohsm_cmu_io *io, FILE *out, const char *progname);

/* Reads one command line into buf (cap > 1), without its line end. Prompts only on a terminal. */
enum ohsm_cmu_read ohsm_cmu_io_command(struct ohsm_cmu_io *io, const char *prompt, char *buf,
                                       size_t cap);

/* On a terminal only: Tab completion from words(warg, ...) and the history file $HOME/histname,
 * whose lines (loaded and added) pass keep(karg, line) (edit.h). Borrowed arguments must live as
 * long as the process. A no-op for a script. */
void ohsm_cmu_io_habits(struct ohsm_cmu_io *io, const char *prog, const char *histname,
                        ohsm_edit_words_fn words, const void *warg, ohsm_hist_keep_fn keep,
                        const void *karg);

/* Releases what ohsm_cmu_io_habits set up. */
void ohsm_cmu_io_end(struct ohsm_cmu_io *io);

/* Adds a line to the interactive history and its file when the keep rule of ohsm_cmu_io_habits
 * allows it (no-op when not on a terminal). Callers still never pass a line that holds a
 * password; the rule is a second guard. */
void ohsm_cmu_io_remember(struct ohsm_cmu_io *io, const char *line);

/* Prompts and reads a secret without echo (terminal) or as the next line (script). The caller
 * wipes buf. */
enum ohsm_cmu_read ohsm_cmu_io_secret(struct ohsm_cmu_io *io, const char *prompt, char *buf,
                                      size_t cap);

/* Prompts and reads a short answer; in a script a non-empty answer is written after the prompt
 * as a terminal would have echoed it (an empty one writes nothing). */
enum ohsm_cmu_read ohsm_cmu_io_answer(struct ohsm_cmu_io *io, const char *prompt, char *buf,
                                      size_t cap);

#endif
