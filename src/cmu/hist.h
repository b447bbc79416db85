/* SPDX-License-Identifier: Apache-2.0
 *
 * The history file of an interactive shell (openhsm-cli, openhsm-cmu, openhsm-kmu on a terminal):
 * $HOME/NAME, one command line a line, owned by the user with mode 0600. It is opened without
 * following a symbolic link, and refused when it is not a regular file, belongs to someone else
 * or is writable by group or others; history is then off for the session (the caller prints the
 * reason once) and the file is left alone. Lines are kept in memory (at most OHSM_HIST_MAX, the
 * newest) and the whole list is written back by atomic replace (mkstemp beside it, 0600, fsync,
 * rename), so a reader never sees half a file and a link planted meanwhile is replaced, never
 * followed. A caller-given rule vets every line read from the file, so a line that carries a
 * secret (from an older version, or typed into the file) is dropped and gone at the next save.
 * The file is untrusted: its size, line count and line length are bounded.
 * No libedit here (edit.c feeds libedit); not thread-safe (one per shell).
 */
#ifndef OHSM_CMU_HIST_H
#define OHSM_CMU_HIST_H

#include <stdbool.h>
#include <stddef.h>

#define OHSM_HIST_MAX 500          /* lines kept */
#define OHSM_HIST_LINE_MAX 4096    /* longer lines in the file are skipped */
#define OHSM_HIST_FILE_MAX 1048576 /* bytes read from the file at most */

/* Does line (NUL-terminated) belong in the history? */
typedef bool (*ohsm_hist_keep_fn)(const void *arg, const char *line);

struct ohsm_hist {
    char path[4096];
    bool on;                   /* the file is in use */
    char *lines[OHSM_HIST_MAX]; /* oldest first, owned */
    size_t n;
};

/* Opens $home/name (home: the user's home directory, NULL or empty when unknown): creates it
 * (0600, O_EXCL) when absent, else checks it and reads its lines through keep (may be NULL: all
 * kept). Returns true when the file is in use; false with one line in why (cap > 0) saying why
 * history is off. h is usable (in memory) either way; release with ohsm_hist_free. */
bool ohsm_hist_open(struct ohsm_hist *h, const char *home, const char *name,
                    ohsm_hist_keep_fn keep, const void *arg, char *why, size_t cap);

/* Adds a copy of line as the newest (the oldest goes past OHSM_HIST_MAX). Empty lines and a
 * repeat of the newest line are not added. Returns false when nothing was added. */
bool ohsm_hist_add(struct ohsm_hist *h, const char *line);

/* Writes the list to the file by atomic replace, after checking the path again (a symbolic link
 * or another owner's file there turns history off). False with why filled when it could not. */
bool ohsm_hist_save(struct ohsm_hist *h, char *why, size_t cap);

/* Frees the lines; h may be reused after ohsm_hist_open. */
void ohsm_hist_free(struct ohsm_hist *h);

#endif
