/* SPDX-License-Identifier: Apache-2.0
 *
 * IPv4 address math. The parsers accept exactly the canonical decimal text a person or the AWS
 * tools write: an octet is "0" or 1..3 digits without a leading zero, at most 255; the prefix
 * likewise, at most 32. Anything else (spaces, signs, hex, missing octets, trailing junk) is
 * refused, so one address has one spelling and the database never holds a second one.
 */
#include "cloud/cidr.h"

#include <stdio.h>
#include <string.h>

/* Reads a decimal number of at most 3 digits without a leading zero, at most max, advancing *p. */
static bool dec(const char **p, unsigned max, unsigned *out)
{
    const char *s = *p;
    unsigned v = 0;
    size_t n = 0;
    while (s[n] >= '0' && s[n] <= '9') {
        if (n == 3) {
            return false;
        }
        v = v * 10u + (unsigned)(s[n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && s[0] == '0') || v > max) {
        return false;
    }
    *p = s + n;
    *out = v;
    return true;
}

/* Reads a dotted quad at *p, advancing it past the last octet. */
static bool quad(const char **p, uint32_t *out)
{
    uint32_t ip = 0;
    for (int i = 0; i < 4; i++) {
        unsigned o;
        if (i > 0) {
            if (**p != '.') {
                return false;
            }
            (*p)++;
        }
        if (!dec(p, 255, &o)) {
            return false;
        }
        ip = ip << 8 | o;
    }
    *out = ip;
    return true;
}

ohsm_rv ohsm_cidr_ip_parse(const char *s, uint32_t *out)
{
    uint32_t ip;
    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(quad(&s, &ip) && *s == '\0', OHSM_ARGUMENTS_BAD);
    *out = ip;
    return OHSM_OK;
}

ohsm_rv ohsm_cidr_ip_format(uint32_t ip, char *out, size_t cap)
{
    OHSM_ENSURE(out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(cap >= OHSM_CIDR_IP_MAX, OHSM_BUFFER_TOO_SMALL);
    int n =
        snprintf(out, cap, "%u.%u.%u.%u", ip >> 24, ip >> 16 & 0xffu, ip >> 8 & 0xffu, ip & 0xffu);
    OHSM_ENSURE(n > 0 && (size_t)n < cap, OHSM_BUFFER_TOO_SMALL);
    return OHSM_OK;
}

uint32_t ohsm_cidr_mask(unsigned prefix)
{
    return prefix == 0 ? 0u : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

ohsm_rv ohsm_cidr_parse(const char *s, struct ohsm_cidr *out, bool *was_canonical)
{
    uint32_t ip;
    unsigned p;
    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(quad(&s, &ip) && *s == '/', OHSM_ARGUMENTS_BAD);
    s++;
    OHSM_ENSURE(dec(&s, 32, &p) && *s == '\0', OHSM_ARGUMENTS_BAD);
    uint32_t m = ohsm_cidr_mask(p);
    if (was_canonical != NULL) {
        *was_canonical = (ip & ~m) == 0;
    }
    out->base = ip & m;
    out->prefix = p;
    return OHSM_OK;
}

ohsm_rv ohsm_cidr_format(const struct ohsm_cidr *c, char *out, size_t cap)
{
    char ip[OHSM_CIDR_IP_MAX];
    OHSM_ENSURE(c != NULL && out != NULL && c->prefix <= 32, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(cap >= OHSM_CIDR_TEXT_MAX, OHSM_BUFFER_TOO_SMALL);
    OHSM_TRY(ohsm_cidr_ip_format(c->base, ip, sizeof(ip)));
    int n = snprintf(out, cap, "%s/%u", ip, c->prefix);
    OHSM_ENSURE(n > 0 && (size_t)n < cap, OHSM_BUFFER_TOO_SMALL);
    return OHSM_OK;
}

uint64_t ohsm_cidr_size(const struct ohsm_cidr *c)
{
    return (uint64_t)1 << (32u - (c->prefix > 32 ? 32u : c->prefix));
}

uint32_t ohsm_cidr_last(const struct ohsm_cidr *c)
{
    return (c->base & ohsm_cidr_mask(c->prefix)) | ~ohsm_cidr_mask(c->prefix);
}

bool ohsm_cidr_has(const struct ohsm_cidr *c, uint32_t ip)
{
    uint32_t m = ohsm_cidr_mask(c->prefix);
    return (ip & m) == (c->base & m);
}

bool ohsm_cidr_contains(const struct ohsm_cidr *outer, const struct ohsm_cidr *inner)
{
    return inner->prefix >= outer->prefix && ohsm_cidr_has(outer, inner->base);
}

bool ohsm_cidr_overlaps(const struct ohsm_cidr *a, const struct ohsm_cidr *b)
{
    /* Two blocks overlap only if one contains the other (they are aligned ranges). */
    return ohsm_cidr_contains(a, b) || ohsm_cidr_contains(b, a);
}

bool ohsm_cidr_reserved(const struct ohsm_cidr *c, uint32_t ip)
{
    if (!ohsm_cidr_has(c, ip)) {
        return false;
    }
    uint32_t off = ip - (c->base & ohsm_cidr_mask(c->prefix));
    return off < 4 || ip == ohsm_cidr_last(c);
}

uint64_t ohsm_cidr_usable(const struct ohsm_cidr *c)
{
    uint64_t n = ohsm_cidr_size(c);
    return n < 8 ? 0 : n - OHSM_CIDR_RESERVED;
}

ohsm_rv ohsm_cidr_nth_usable(const struct ohsm_cidr *c, uint64_t n, uint32_t *out)
{
    OHSM_ENSURE(c != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(n < ohsm_cidr_usable(c), OHSM_ARGUMENTS_BAD);
    *out = (c->base & ohsm_cidr_mask(c->prefix)) + 4u + (uint32_t)n;
    return OHSM_OK;
}
