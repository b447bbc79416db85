/* SPDX-License-Identifier: Apache-2.0
 *
 * IPv4 address math for the VPC subset of EC2: strict parsing of dotted quads and CIDR blocks (no
 * leading zeros, no spaces, no trailing characters, every octet 0..255, prefix 0..32), the
 * canonical form AWS stores (host bits cleared: "100.68.0.18/18" -> "100.68.0.0/18"), containment,
 * overlap, and the addresses AWS reserves in a subnet (the first four and the last, VPC user guide
 * "Subnet CIDR blocks"). Pure functions: no state, thread-safe. Input is untrusted text.
 */
#ifndef OHSM_CLOUD_CIDR_H
#define OHSM_CLOUD_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openhsm/rv.h"

#define OHSM_CIDR_IP_MAX 16   /* "255.255.255.255" and its NUL */
#define OHSM_CIDR_TEXT_MAX 19 /* "255.255.255.255/32" and its NUL */
#define OHSM_CIDR_RESERVED 5  /* addresses AWS keeps in every subnet */

/* A block: base address (host byte order) and prefix length. Canonical when base has no bits
 * outside the prefix. */
struct ohsm_cidr {
    uint32_t base;
    unsigned prefix; /* 0..32 */
};

/* Parses a dotted quad ("10.0.0.5"). Errors: OHSM_ARGUMENTS_BAD (NULL, malformed). */
OHSM_NODISCARD ohsm_rv ohsm_cidr_ip_parse(const char *s, uint32_t *out);
/* Writes the dotted quad of ip into out (cap >= OHSM_CIDR_IP_MAX). Errors: OHSM_BUFFER_TOO_SMALL,
 * OHSM_ARGUMENTS_BAD. */
OHSM_NODISCARD ohsm_rv ohsm_cidr_ip_format(uint32_t ip, char *out, size_t cap);

/* Parses "a.b.c.d/p" and canonicalises it (host bits cleared). *was_canonical (may be NULL) tells
 * whether the text had no host bits set. Errors: OHSM_ARGUMENTS_BAD (NULL, malformed). */
OHSM_NODISCARD ohsm_rv ohsm_cidr_parse(const char *s, struct ohsm_cidr *out, bool *was_canonical);
/* Writes "a.b.c.d/p" (cap >= OHSM_CIDR_TEXT_MAX). Errors as ohsm_cidr_ip_format. */
OHSM_NODISCARD ohsm_rv ohsm_cidr_format(const struct ohsm_cidr *c, char *out, size_t cap);

/* The netmask of a prefix (0 for /0). */
uint32_t ohsm_cidr_mask(unsigned prefix);
/* Number of addresses in c (2^(32-prefix)), 1..2^32. */
uint64_t ohsm_cidr_size(const struct ohsm_cidr *c);
/* The last address of c (broadcast). */
uint32_t ohsm_cidr_last(const struct ohsm_cidr *c);
/* Is ip inside c? */
bool ohsm_cidr_has(const struct ohsm_cidr *c, uint32_t ip);
/* Is inner entirely inside outer (equal counts)? */
bool ohsm_cidr_contains(const struct ohsm_cidr *outer, const struct ohsm_cidr *inner);
/* Do a and b share at least one address? */
bool ohsm_cidr_overlaps(const struct ohsm_cidr *a, const struct ohsm_cidr *b);
/* Is ip one of the 5 addresses AWS reserves in subnet c (base..base+3, last)? Meaningful for
 * /16../28, where it is used; false for an ip outside c. */
bool ohsm_cidr_reserved(const struct ohsm_cidr *c, uint32_t ip);
/* Addresses usable in subnet c: size - 5 (0 when the block is smaller than 8 addresses). */
uint64_t ohsm_cidr_usable(const struct ohsm_cidr *c);
/* The n-th usable address of c (n from 0: base + 4 + n). Errors: OHSM_ARGUMENTS_BAD
 * (n >= ohsm_cidr_usable). */
OHSM_NODISCARD ohsm_rv ohsm_cidr_nth_usable(const struct ohsm_cidr *c, uint64_t n, uint32_t *out);

#endif
