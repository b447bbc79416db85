/* SPDX-License-Identifier: Apache-2.0
 *
 * Form decoding (see form.h). The decoded names and values live in one buffer no longer than the
 * input plus two NULs per parameter (decoding never lengthens text), with the pointer arrays
 * sized from a count of '&' taken before anything is allocated.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "http/form.h"

struct ohsm_form {
    size_t n;
    char **names;
    char **values;
    char *buf;
    size_t buf_len;
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t n;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            min = 0x80;
            c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            min = 0x800;
            c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            min = 0x10000;
            c &= 0x07;
        } else {
            return false;
        }
        if (len - i - 1 < n) {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) {
                return false;
            }
            c = (c << 6) | (s[i + k] & 0x3Fu);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return false;
        }
        i += n + 1;
    }
    return true;
}

/* Decodes in[0..len) into out (NUL-terminated); returns the decoded length or -1 (message set). */
static long decode_part(const char *in, size_t len, char *out, const char *what, char *msg,
                        size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi = len - i > 2 ? hexval(in[i + 1]) : -1;
            int lo = len - i > 2 ? hexval(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(msg, cap, "malformed percent-escape in a parameter %s", what);
                return -1;
            }
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (c == '\0') {
            snprintf(msg, cap, "NUL byte in a parameter %s", what);
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    if (!utf8_valid((const unsigned char *)out, o)) {
        snprintf(msg, cap, "parameter %s is not valid UTF-8", what);
        return -1;
    }
    return (long)o;
}

void ohsm_form_free(struct ohsm_form *f)
{
    if (f == NULL) {
        return;
    }
    if (f->buf != NULL) {
        /* Values may be secrets (passwords in a query body). */
        OPENSSL_cleanse(f->buf, f->buf_len);
    }
    free(f->buf);
    free(f->names);
    free(f->values);
    free(f);
}

ohsm_rv ohsm_form_parse(const char *in, size_t len, unsigned flags, struct ohsm_form **out,
                        char *msg, size_t cap)
{
    ohsm_rv rv = OHSM_ARGUMENTS_BAD;
    struct ohsm_form *f = NULL;
    size_t segs = 1;

    OHSM_ENSURE(out != NULL && (in != NULL || len == 0) && msg != NULL && cap > 0,
                OHSM_ARGUMENTS_BAD);
    msg[0] = '\0';
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '&') {
            segs++;
        }
        if (in[i] == '\0') {
            snprintf(msg, cap, "NUL byte in the form data");
            return OHSM_ARGUMENTS_BAD;
        }
    }
    /* Empty segments count here too; a form of 1000 parameters has at most 1000 non-empty
     * segments, so refusing more segments than that (plus slack for stray '&') is exact enough
     * for the bound and keeps the allocation small. */
    if (segs > 2 * OHSM_FORM_MAX_PARAMS + 1) {
        snprintf(msg, cap, "more than %d parameters", OHSM_FORM_MAX_PARAMS);
        return OHSM_ARGUMENTS_BAD;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return OHSM_HOST_MEMORY;
    }
    f->buf_len = len + 2 * segs + 1;
    f->buf = malloc(f->buf_len);
    f->names = calloc(segs, sizeof(char *));
    f->values = calloc(segs, sizeof(char *));
    if (f->buf == NULL || f->names == NULL || f->values == NULL) {
        rv = OHSM_HOST_MEMORY;
        goto out;
    }
    size_t o = 0;
    size_t start = 0;
    while (start <= len) {
        size_t end = start;
        while (end < len && in[end] != '&') {
            end++;
        }
        if (end > start) {
            size_t eq = start;
            while (eq < end && in[eq] != '=') {
                eq++;
            }
            if (eq == start) {
                snprintf(msg, cap, "a parameter without a name");
                goto out;
            }
            if (f->n == OHSM_FORM_MAX_PARAMS) {
                snprintf(msg, cap, "more than %d parameters", OHSM_FORM_MAX_PARAMS);
                goto out;
            }
            long nl = decode_part(in + start, eq - start, f->buf + o, "name", msg, cap);
            if (nl < 0) {
                goto out;
            }
            f->names[f->n] = f->buf + o;
            o += (size_t)nl + 1;
            size_t vstart = eq < end ? eq + 1 : end;
            long vl = decode_part(in + vstart, end - vstart, f->buf + o, "value", msg, cap);
            if (vl < 0) {
                goto out;
            }
            f->values[f->n] = f->buf + o;
            o += (size_t)vl + 1;
            if ((flags & OHSM_FORM_ALLOW_DUP) == 0) {
                for (size_t k = 0; k < f->n; k++) {
                    if (strcmp(f->names[k], f->names[f->n]) == 0) {
                        snprintf(msg, cap, "parameter given twice");
                        goto out;
                    }
                }
            }
            f->n++;
        }
        start = end + 1;
    }
    *out = f;
    f = NULL;
    rv = OHSM_OK;
out:
    ohsm_form_free(f);
    return rv;
}

const char *ohsm_form_get(const struct ohsm_form *f, const char *name)
{
    if (f == NULL || name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], name) == 0) {
            return f->values[i];
        }
    }
    return NULL;
}

size_t ohsm_form_count(const struct ohsm_form *f)
{
    return f != NULL ? f->n : 0;
}

const char *ohsm_form_name(const struct ohsm_form *f, size_t i)
{
    return f != NULL && i < f->n ? f->names[i] : NULL;
}

const char *ohsm_form_value(const struct ohsm_form *f, size_t i)
{
    return f != NULL && i < f->n ? f->values[i] : NULL;
}
