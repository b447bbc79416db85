/* SPDX-License-Identifier: Apache-2.0
 *
 * Input for openhsm-cmu: libedit on a terminal, plain lines from a script, hidden password entry
 * (termios echo off on the terminal, ending signals held until echo is back). Everything read is
 * untrusted and may be a secret: it goes into the caller's fixed buffer, and every temporary copy
 * (libedit's returned line, the tail of an over-long line) is wiped with OPENSSL_cleanse before
 * it is let go.
 */
#include "cmu/io.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <editline/readline.h>
#include <openssl/crypto.h>

void ohsm_cmu_io_init(struct ohsm_cmu_io *io, FILE *out, const char *progname)
{
    io->tty = isatty(STDIN_FILENO) == 1;
    io->out = out;
    if (io->tty) {
        rl_readline_name = progname;
        using_history();
        stifle_history(OHSM_HIST_MAX);
    }
}

/* One byte of input: the terminal is read with read(2) so no stdio buffer sits between libedit
 * and us; a script through stdio. Returns false at end of input. */
static bool get_byte(const struct ohsm_cmu_io *io, char *c)
{
    if (io->tty) {
        for (;;) {
            ssize_t r = read(STDIN_FILENO, c, 1);
            if (r == 1) {
                return true;
            }
            if (r < 0 && errno == EINTR) {
                continue;
            }
            return false;
        }
    }
    int ch = getc(stdin);
    if (ch == EOF) {
        return false;
    }
    *c = (char)ch;
    return true;
}

/* Reads up to the next '\n' into buf (NUL-terminated, line end and a trailing CR removed). */
static enum ohsm_cmu_read raw_line(const struct ohsm_cmu_io *io, char *buf, size_t cap)
{
    size_t len = 0;
    bool any = false, overflow = false;
    char c = '\0';

    while (get_byte(io, &c)) {
        any = true;
        if (c == '\n') {
            break;
        }
        if (len + 1 < cap) {
            buf[len++] = c;
        } else {
            overflow = true;
        }
    }
    c = '\0';
    if (len > 0 && buf[len - 1] == '\r') {
        len--;
    }
    buf[len] = '\0';
    if (!any) {
        return OHSM_CMU_READ_EOF;
    }
    if (overflow) {
        OPENSSL_cleanse(buf, cap);
        buf[0] = '\0';
        return OHSM_CMU_READ_LONG;
    }
    return OHSM_CMU_READ_OK;
}

enum ohsm_cmu_read ohsm_cmu_io_command(struct ohsm_cmu_io *io, const char *prompt, char *buf,
                                       size_t cap)
{
    if (!io->tty) {
        return raw_line(io, buf, cap);
    }
    char *line = readline(prompt);
    if (line == NULL) {
        buf[0] = '\0';
        return OHSM_CMU_READ_EOF;
    }
    size_t len = strlen(line);
    enum ohsm_cmu_read st = OHSM_CMU_READ_OK;
    if (len + 1 > cap) {
        buf[0] = '\0';
        st = OHSM_CMU_READ_LONG;
    } else {
        memcpy(buf, line, len + 1);
    }
    OPENSSL_cleanse(line, len); /* it may hold a password */
    free(line);
    return st;
}

void ohsm_cmu_io_habits(struct ohsm_cmu_io *io, const char *prog, const char *histname,
                        ohsm_edit_words_fn words, const void *warg, ohsm_hist_keep_fn keep,
                        const void *karg)
{
    if (!io->tty) {
        return; /* a script never touches the history file */
    }
    ohsm_edit_complete_with(words, warg);
    ohsm_edit_history(prog, histname, keep, karg);
}

void ohsm_cmu_io_end(struct ohsm_cmu_io *io)
{
    if (io->tty) {
        ohsm_edit_end();
    }
}

void ohsm_cmu_io_remember(struct ohsm_cmu_io *io, const char *line)
{
    if (io->tty && line[0] != '\0') {
        ohsm_edit_remember(line);
    }
}

enum ohsm_cmu_read ohsm_cmu_io_secret(struct ohsm_cmu_io *io, const char *prompt, char *buf,
                                      size_t cap)
{
    struct termios saved, quiet;
    sigset_t stop, old;
    bool restore = false;
    enum ohsm_cmu_read st;

    (void)fputs(prompt, io->out);
    (void)fflush(io->out);
    /* A signal that ends the process while echo is off would leave the terminal silent: hold
     * them until echo is back; one that came meanwhile is delivered then. */
    (void)sigemptyset(&stop);
    (void)sigaddset(&stop, SIGINT);
    (void)sigaddset(&stop, SIGQUIT);
    (void)sigaddset(&stop, SIGTERM);
    (void)sigaddset(&stop, SIGTSTP);
    (void)sigaddset(&stop, SIGHUP);
    (void)sigprocmask(SIG_BLOCK, &stop, &old);
    if (io->tty) {
        if (tcgetattr(STDIN_FILENO, &saved) == 0) {
            quiet = saved;
            quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
            quiet.c_lflag |= ECHONL; /* the line end still shows, the password does not */
            restore = tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
        }
        if (!restore) {
            /* Never read a password the terminal would show. */
            (void)fputc('\n', io->out);
            (void)fflush(io->out);
            (void)sigprocmask(SIG_SETMASK, &old, NULL);
            buf[0] = '\0';
            return OHSM_CMU_READ_NOECHO;
        }
    }
    st = raw_line(io, buf, cap);
    if (restore) {
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    } else {
        (void)fputc('\n', io->out); /* a terminal would have shown the line end (ECHONL) */
    }
    (void)sigprocmask(SIG_SETMASK, &old, NULL);
    (void)fflush(io->out);
    return st;
}

enum ohsm_cmu_read ohsm_cmu_io_answer(struct ohsm_cmu_io *io, const char *prompt, char *buf,
                                      size_t cap)
{
    enum ohsm_cmu_read st;

    (void)fputs(prompt, io->out);
    (void)fflush(io->out);
    st = raw_line(io, buf, cap);
    /* A script's answer is shown as a terminal would have echoed it. An empty answer shows
     * nothing, so the complaint follows the question on its line, as in the guide's createUser
     * transcript ("Do you want to continue(y/n)?Invalid option, please type 'y' or 'n'"). */
    if (!io->tty && st == OHSM_CMU_READ_OK && buf[0] != '\0') {
        (void)fprintf(io->out, "%s\n", buf);
    }
    (void)fflush(io->out);
    return st;
}
