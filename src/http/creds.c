/* SPDX-License-Identifier: Apache-2.0
 *
 * The credentials file (see creds.h). Line by line, bounded: at most OHSM_CREDS_MAX_FILE bytes
 * and OHSM_CREDS_MAX_KEYS sections with keys. A section must give both the key id and the secret
 * or neither; a key id given twice (in two sections) is refused, as is a key line outside any
 * section, a value given twice in one section, and a key id that is not 1..128 characters of
 * [A-Za-z0-9_] (AWS's shape is 16..128 \w characters; local stand-ins commonly use "test").
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "http/creds.h"

struct creds_entry {
    char akid[OHSM_CREDS_MAX_AKID + 1];
    struct ohsm_secret *secret;
};

struct ohsm_creds {
    size_t n;
    struct creds_entry e[OHSM_CREDS_MAX_KEYS];
};

void ohsm_creds_free(struct ohsm_creds *c)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->n; i++) {
        ohsm_secret_free(c->e[i].secret);
    }
    OPENSSL_cleanse(c, sizeof(*c));
    free(c);
}

const struct ohsm_secret *ohsm_creds_find(const struct ohsm_creds *c, const char *akid)
{
    if (c == NULL || akid == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->e[i].akid, akid) == 0) {
            return c->e[i].secret;
        }
    }
    return NULL;
}

size_t ohsm_creds_count(const struct ohsm_creds *c)
{
    return c != NULL ? c->n : 0;
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

static bool akid_ok(const char *s, size_t n)
{
    if (n < 1 || n > OHSM_CREDS_MAX_AKID) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_')) {
            return false;
        }
    }
    return true;
}

/* The section being read: pointers into the caller's buffer. */
struct creds_sect {
    bool open;
    unsigned line;
    const char *akid;
    size_t akid_len;
    const char *secret;
    size_t secret_len;
};

static ohsm_rv sect_end(struct ohsm_creds *c, struct creds_sect *s, char *msg, size_t cap)
{
    if (!s->open || (s->akid == NULL && s->secret == NULL)) {
        return OHSM_OK;
    }
    if (s->akid == NULL || s->secret == NULL) {
        snprintf(msg, cap,
                 "line %u: section without both aws_access_key_id and "
                 "aws_secret_access_key",
                 s->line);
        return OHSM_CONFIG;
    }
    if (!akid_ok(s->akid, s->akid_len)) {
        snprintf(msg, cap, "line %u: aws_access_key_id is not 1..128 of [A-Za-z0-9_]", s->line);
        return OHSM_CONFIG;
    }
    if (s->secret_len == 0 || s->secret_len > 128) {
        snprintf(msg, cap, "line %u: aws_secret_access_key is not 1..128 characters", s->line);
        return OHSM_CONFIG;
    }
    if (c->n == OHSM_CREDS_MAX_KEYS) {
        snprintf(msg, cap, "more than %d keys", OHSM_CREDS_MAX_KEYS);
        return OHSM_CONFIG;
    }
    struct creds_entry *e = &c->e[c->n];
    memcpy(e->akid, s->akid, s->akid_len);
    e->akid[s->akid_len] = '\0';
    if (ohsm_creds_find(c, e->akid) != NULL) {
        snprintf(msg, cap, "line %u: access key id given twice", s->line);
        return OHSM_CONFIG;
    }
    OHSM_TRY(ohsm_secret_new(s->secret, s->secret_len, &e->secret));
    c->n++;
    return OHSM_OK;
}

ohsm_rv ohsm_creds_parse(const char *buf, size_t len, struct ohsm_creds **out, char *msg,
                         size_t cap)
{
    ohsm_rv rv = OHSM_CONFIG;
    struct ohsm_creds *c = NULL;
    struct creds_sect s = {0};
    unsigned line = 0;

    OHSM_ENSURE(out != NULL && (buf != NULL || len == 0) && msg != NULL && cap > 0,
                OHSM_ARGUMENTS_BAD);
    msg[0] = '\0';
    if (len > OHSM_CREDS_MAX_FILE) {
        snprintf(msg, cap, "credentials file over %u bytes", OHSM_CREDS_MAX_FILE);
        return OHSM_CONFIG;
    }
    c = calloc(1, sizeof(*c));
    OHSM_ENSURE(c != NULL, OHSM_HOST_MEMORY);
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && buf[end] != '\n') {
            end++;
        }
        line++;
        size_t b = pos, e = end;
        pos = end + 1;
        while (b < e && is_space(buf[b])) {
            b++;
        }
        while (e > b && is_space(buf[e - 1])) {
            e--;
        }
        if (b == e || buf[b] == '#' || buf[b] == ';') {
            continue;
        }
        if (memchr(buf + b, '\0', e - b) != NULL) {
            snprintf(msg, cap, "line %u: NUL byte", line);
            goto out;
        }
        if (buf[b] == '[') {
            if (buf[e - 1] != ']' || e - b < 3) {
                snprintf(msg, cap, "line %u: malformed section header", line);
                goto out;
            }
            rv = sect_end(c, &s, msg, cap);
            if (rv != OHSM_OK) {
                goto out;
            }
            rv = OHSM_CONFIG;
            memset(&s, 0, sizeof(s));
            s.open = true;
            s.line = line;
            continue;
        }
        const char *eq = memchr(buf + b, '=', e - b);
        if (eq == NULL) {
            snprintf(msg, cap, "line %u: expected key = value", line);
            goto out;
        }
        if (!s.open) {
            snprintf(msg, cap, "line %u: key outside a section", line);
            goto out;
        }
        size_t kb = b, ke = (size_t)(eq - buf);
        while (ke > kb && is_space(buf[ke - 1])) {
            ke--;
        }
        size_t vb = (size_t)(eq - buf) + 1;
        while (vb < e && is_space(buf[vb])) {
            vb++;
        }
        const char *key = buf + kb;
        size_t klen = ke - kb;
        const char **slot = NULL;
        size_t *slot_len = NULL;
        if (klen == 17 && memcmp(key, "aws_access_key_id", 17) == 0) {
            slot = &s.akid;
            slot_len = &s.akid_len;
        } else if (klen == 21 && memcmp(key, "aws_secret_access_key", 21) == 0) {
            slot = &s.secret;
            slot_len = &s.secret_len;
        }
        if (slot == NULL) {
            continue; /* region, aws_session_token, ...: not ours */
        }
        if (*slot != NULL) {
            snprintf(msg, cap, "line %u: %.*s given twice in a section", line, (int)klen, key);
            goto out;
        }
        *slot = buf + vb;
        *slot_len = e - vb;
    }
    rv = sect_end(c, &s, msg, cap);
    if (rv != OHSM_OK) {
        goto out;
    }
    if (c->n == 0) {
        snprintf(msg, cap, "no keys in the credentials file");
        rv = OHSM_CONFIG;
        goto out;
    }
    *out = c;
    c = NULL;
    rv = OHSM_OK;
out:
    OPENSSL_cleanse(&s, sizeof(s));
    ohsm_creds_free(c);
    return rv;
}

ohsm_rv ohsm_creds_load(const char *path, struct ohsm_creds **out, char *msg, size_t cap)
{
    ohsm_rv rv = OHSM_CONFIG;
    int fd = -1;
    char *buf = NULL;
    size_t len = 0;
    struct stat st;

    OHSM_ENSURE(path != NULL && out != NULL && msg != NULL && cap > 0, OHSM_ARGUMENTS_BAD);
    msg[0] = '\0';
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        snprintf(msg, cap, "cannot open the credentials file: %s", strerror(errno));
        goto out;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(msg, cap, "the credentials file is not a regular file");
        goto out;
    }
    if ((st.st_mode & 077) != 0) {
        snprintf(msg, cap,
                 "the credentials file is readable or writable by others (mode %03o;"
                 " chmod 600 it)",
                 (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (st.st_size < 0 || (unsigned long long)st.st_size > OHSM_CREDS_MAX_FILE) {
        snprintf(msg, cap, "credentials file over %u bytes", OHSM_CREDS_MAX_FILE);
        goto out;
    }
    buf = malloc(OHSM_CREDS_MAX_FILE + 1);
    if (buf == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, buf + len, OHSM_CREDS_MAX_FILE + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            snprintf(msg, cap, "cannot read the credentials file: %s", strerror(errno));
            goto out;
        }
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        if (len > OHSM_CREDS_MAX_FILE) {
            snprintf(msg, cap, "credentials file over %u bytes", OHSM_CREDS_MAX_FILE);
            goto out;
        }
    }
    rv = ohsm_creds_parse(buf, len, out, msg, cap);
out:
    if (buf != NULL) {
        OPENSSL_cleanse(buf, OHSM_CREDS_MAX_FILE + 1);
    }
    free(buf);
    if (fd >= 0) {
        close(fd);
    }
    return rv;
}
