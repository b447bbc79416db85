/* SPDX-License-Identifier: Apache-2.0
 *
 * The EC2 reply writer (see xml.h and the ohsm_xml_* calls of http.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/xml.h"

void ohsm_xml_init(struct ohsm_xml *x, size_t max)
{
    memset(x, 0, sizeof(*x));
    x->max = max;
}

void ohsm_xml_done(struct ohsm_xml *x)
{
    if (x != NULL) {
        free(x->buf);
        x->buf = NULL;
        x->len = x->cap = 0;
    }
}

static void xml_put(struct ohsm_xml *x, const char *s, size_t n)
{
    if (x->failed) {
        return;
    }
    /* One byte stays free for the final NUL. */
    if (x->max - x->len <= n || x->max <= x->len) {
        x->failed = true;
        return;
    }
    if (x->cap - x->len <= n) {
        size_t want = x->cap == 0 ? 1024 : x->cap;
        while (want - x->len <= n) {
            want = want > x->max / 2 ? x->max : want * 2;
        }
        char *nb = realloc(x->buf, want);
        if (nb == NULL) {
            x->failed = true;
            return;
        }
        x->buf = nb;
        x->cap = want;
    }
    memcpy(x->buf + x->len, s, n);
    x->len += n;
    x->buf[x->len] = '\0';
}

void ohsm_xml_raw(struct ohsm_xml *x, const char *s)
{
    xml_put(x, s, strlen(s));
}

void ohsm_xml_escaped(struct ohsm_xml *x, const char *s)
{
    for (const char *p = s; *p != '\0' && !x->failed; p++) {
        unsigned char c = (unsigned char)*p;
        switch (c) {
        case '&':
            xml_put(x, "&amp;", 5);
            break;
        case '<':
            xml_put(x, "&lt;", 4);
            break;
        case '>':
            xml_put(x, "&gt;", 4);
            break;
        case '"':
            xml_put(x, "&quot;", 6);
            break;
        case '\'':
            xml_put(x, "&apos;", 6);
            break;
        default:
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                /* Not representable in XML 1.0, even as a character reference. */
                xml_put(x, "?", 1);
            } else {
                xml_put(x, p, 1);
            }
        }
    }
}

void ohsm_xml_open(struct ohsm_xml *x, const char *el)
{
    xml_put(x, "<", 1);
    ohsm_xml_raw(x, el);
    xml_put(x, ">", 1);
}

void ohsm_xml_close(struct ohsm_xml *x, const char *el)
{
    xml_put(x, "</", 2);
    ohsm_xml_raw(x, el);
    xml_put(x, ">", 1);
}

void ohsm_xml_text(struct ohsm_xml *x, const char *el, const char *text)
{
    ohsm_xml_open(x, el);
    ohsm_xml_escaped(x, text != NULL ? text : "");
    ohsm_xml_close(x, el);
}

void ohsm_xml_textf(struct ohsm_xml *x, const char *el, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        /* Truncated text would be a wrong value: fail the reply instead. */
        x->failed = true;
        return;
    }
    ohsm_xml_text(x, el, tmp);
}

void ohsm_xml_bool(struct ohsm_xml *x, const char *el, bool v)
{
    ohsm_xml_text(x, el, v ? "true" : "false");
}
