/* SPDX-License-Identifier: Apache-2.0
 *
 * One hex digit's value, for the parsers of hex text (CLI key references and ids, key_mgmt_util
 * arguments, attribute values). Pure; trusts nothing.
 */
#ifndef OHSM_HEX_H
#define OHSM_HEX_H

/* 0..15 for [0-9a-fA-F], -1 for anything else. */
static inline int ohsm_hex_digit(char c)
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

#endif
