/* SPDX-License-Identifier: Apache-2.0
 *
 * Terminal input for openhsm-cli: line reading straight from a file descriptor (so the shell loop,
 * password prompts and libedit can share stdin without stdio buffering swallowing lines) and
 * password prompts with echo off, as getpass(3) does (ECHO and ISIG off, restored afterwards), and
 * prompts for plain text such as file paths.
 * Input is untrusted: lines are length-capped, and buffers that held a password are wiped.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli/cli.h"

int ohsm_cli_read_line(int fd, char *buf, size_t cap, size_t *len)
{
    size_t n = 0;
    bool over = false;
    bool any = false;
    for (;;) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            buf[0] = '\0';
            *len = 0;
            return -1;
        }
        if (r == 0 || c == '\n') {
            if (r == 0 && !any) {
                buf[0] = '\0';
                *len = 0;
                return 0;
            }
            break;
        }
        any = true;
        if (n + 1 < cap) {
            buf[n++] = c;
        } else {
            over = true; /* keep reading to discard the rest of the line */
        }
    }
    if (n > 0 && buf[n - 1] == '\r') {
        n--;
    }
    buf[n] = '\0';
    *len = n;
    return over ? -2 : 1;
}

ohsm_rv ohsm_cli_read_secret(const char *prompt, char *buf, size_t cap)
{
    struct termios old;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    size_t len = 0;
    int r;

    if (tty) {
        /* Echo off before the prompt shows, so that nothing typed after it is echoed or flushed;
         * input typed ahead of the prompt is discarded, as getpass(3) does. */
        struct termios quiet = old;
        quiet.c_lflag &= ~(tcflag_t)(ECHO | ISIG);
        (void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    r = ohsm_cli_read_line(STDIN_FILENO, buf, cap, &len);
    if (tty) {
        (void)tcsetattr(STDIN_FILENO, TCSANOW, &old);
    }
    fputc('\n', stderr); /* the newline typed was not echoed (or came from a pipe) */
    if (r == 1 && memchr(buf, 0x03, len) != NULL) {
        r = 0; /* ^C (signals are off while reading): the user gave up */
    }
    if (r != 1) {
        OPENSSL_cleanse(buf, cap);
        buf[0] = '\0';
        return r == -2 ? OHSM_PIN_LEN_RANGE : OHSM_IO;
    }
    return OHSM_OK;
}

ohsm_rv ohsm_cli_read_text(const char *prompt, char *buf, size_t cap)
{
    size_t len = 0;
    fprintf(stderr, "%s", prompt);
    fflush(stderr);
    int r = ohsm_cli_read_line(STDIN_FILENO, buf, cap, &len);
    if (isatty(STDIN_FILENO) == 0) {
        fputc('\n', stderr); /* a terminal echoed the newline typed; a pipe did not */
    }
    if (r != 1) {
        buf[0] = '\0';
        return r == -2 ? OHSM_DATA_LEN_RANGE : OHSM_IO;
    }
    return OHSM_OK;
}
