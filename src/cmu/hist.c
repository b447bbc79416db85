/* SPDX-License-Identifier: Apache-2.0
 *
 * The history file of the interactive shells (hist.h): checked open without following links,
 * bounded read, atomic replace on save. The file is untrusted input (size, lines and line length
 * are capped; a line the caller's rule refuses is dropped), and it is never written through a
 * symbolic link or into a file of another user.
 */
#include "cmu/hist.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* Why a file we opened is not ours to use; NULL when it is. */
static const char *refuse(const struct stat *st)
{
    if (!S_ISREG(st->st_mode)) {
        return "is not a regular file";
    }
    if (st->st_uid != geteuid()) {
        return "belongs to another user";
    }
    if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        return "is writable by group or others";
    }
    return NULL;
}

static void push(struct ohsm_hist *h, char *copy)
{
    if (h->n == OHSM_HIST_MAX) {
        free(h->lines[0]);
        memmove(h->lines, h->lines + 1, (OHSM_HIST_MAX - 1) * sizeof(h->lines[0]));
        h->n--;
    }
    h->lines[h->n++] = copy;
}

bool ohsm_hist_add(struct ohsm_hist *h, const char *line)
{
    if (line[0] == '\0' || (h->n > 0 && strcmp(h->lines[h->n - 1], line) == 0)) {
        return false;
    }
    char *copy = strdup(line);
    if (copy == NULL) {
        return false;
    }
    push(h, copy);
    return true;
}

/* Reads the lines of fd (bounded) through keep. */
static void load(struct ohsm_hist *h, int fd, ohsm_hist_keep_fn keep, const void *arg)
{
    char buf[4096];
    char line[OHSM_HIST_LINE_MAX];
    size_t len = 0, total = 0;
    bool skip = false;

    for (;;) {
        ssize_t r = read(fd, buf, sizeof(buf));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        for (ssize_t i = 0; i < r && total < OHSM_HIST_FILE_MAX; i++, total++) {
            char c = buf[i];
            if (c != '\n') {
                if (len + 1 < sizeof(line) && c != '\0') {
                    line[len++] = c;
                } else {
                    skip = true; /* too long, or binary: not a command line we wrote */
                }
                continue;
            }
            line[len] = '\0';
            if (!skip && (keep == NULL || keep(arg, line))) {
                (void)ohsm_hist_add(h, line);
            }
            len = 0;
            skip = false;
        }
        if (total >= OHSM_HIST_FILE_MAX) {
            break;
        }
    }
    /* A last line without its line end was cut short by a writer: not kept. */
    OPENSSL_cleanse(line, sizeof(line));
    OPENSSL_cleanse(buf, sizeof(buf));
}

bool ohsm_hist_open(struct ohsm_hist *h, const char *home, const char *name,
                    ohsm_hist_keep_fn keep, const void *arg, char *why, size_t cap)
{
    struct stat st;
    const char *bad;
    int fd;

    memset(h, 0, sizeof(*h));
    why[0] = '\0';
    if (home == NULL || home[0] != '/') {
        (void)snprintf(why, cap, "history off: HOME is not set to an absolute path");
        return false;
    }
    int w = snprintf(h->path, sizeof(h->path), "%s/%s", home, name);
    if (w < 0 || (size_t)w >= sizeof(h->path) - 8) { /* room for mkstemp's ".XXXXXX" */
        h->path[0] = '\0';
        (void)snprintf(why, cap, "history off: HOME is too long");
        return false;
    }
    fd = open(h->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) {
        fd = open(h->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            (void)snprintf(why, cap, "history off: cannot create %s: %s", h->path,
                           strerror(errno));
            return false;
        }
        (void)fchmod(fd, 0600); /* whatever the umask allowed, no more than the user */
        (void)close(fd);
        h->on = true;
        return true;
    }
    if (fd < 0) {
        (void)snprintf(why, cap, "history off: %s %s", h->path,
                       errno == ELOOP ? "is a symbolic link; not following it" : strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0) {
        (void)snprintf(why, cap, "history off: %s: %s", h->path, strerror(errno));
        (void)close(fd);
        return false;
    }
    bad = refuse(&st);
    if (bad != NULL) {
        (void)snprintf(why, cap, "history off: %s %s; leaving it alone", h->path, bad);
        (void)close(fd);
        return false;
    }
    load(h, fd, keep, arg);
    (void)close(fd);
    h->on = true;
    return true;
}

/* Writes every line to fd; false on a short write. */
static bool write_all(int fd, const struct ohsm_hist *h)
{
    for (size_t i = 0; i < h->n; i++) {
        const char *s = h->lines[i];
        size_t len = strlen(s), off = 0;
        while (off <= len) {
            const char *p = off < len ? s + off : "\n";
            size_t want = off < len ? len - off : 1;
            ssize_t r = write(fd, p, want);
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r <= 0) {
                return false;
            }
            off += (size_t)r;
        }
    }
    return true;
}

bool ohsm_hist_save(struct ohsm_hist *h, char *why, size_t cap)
{
    char tmp[sizeof(h->path) + 8];
    struct stat st;
    const char *bad;

    why[0] = '\0';
    if (!h->on) {
        return false;
    }
    /* The file may have been swapped since it was opened: check the path again. */
    if (lstat(h->path, &st) == 0) {
        bad = S_ISLNK(st.st_mode) ? "is a symbolic link; not following it" : refuse(&st);
        if (bad != NULL) {
            (void)snprintf(why, cap, "history off: %s %s", h->path, bad);
            h->on = false;
            return false;
        }
    }
    (void)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", h->path);
    int fd = mkstemp(tmp); /* O_EXCL, mode 0600 */
    if (fd < 0) {
        (void)snprintf(why, cap, "history off: cannot write beside %s: %s", h->path,
                       strerror(errno));
        h->on = false;
        return false;
    }
    bool ok = fchmod(fd, 0600) == 0 && write_all(fd, h) && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, h->path) != 0) {
        ok = false;
    }
    if (!ok) {
        (void)snprintf(why, cap, "history off: cannot write %s: %s", h->path, strerror(errno));
        (void)unlink(tmp);
        h->on = false;
    }
    return ok;
}

void ohsm_hist_free(struct ohsm_hist *h)
{
    for (size_t i = 0; i < h->n; i++) {
        free(h->lines[i]);
        h->lines[i] = NULL;
    }
    h->n = 0;
    h->on = false;
}
