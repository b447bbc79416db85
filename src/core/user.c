/* SPDX-License-Identifier: Apache-2.0
 *
 * User type names and username/password rules. Input is untrusted (argv, wire): every string is
 * length-bounded before it is looked at.
 */
#include "openhsm/user.h"

#include <string.h>
#include <strings.h>

struct utype_name {
    enum ohsm_utype t;
    const char *cmu;
    const char *cli;
};

static const struct utype_name names[] = {
    {OHSM_UT_PRECO, "PRECO", "unactivated-admin"},
    {OHSM_UT_CO, "CO", "admin"},
    {OHSM_UT_CU, "CU", "crypto-user"},
    {OHSM_UT_AU, "AU", "appliance-user"},
};

static const struct utype_name *find(enum ohsm_utype t)
{
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].t == t) {
            return &names[i];
        }
    }
    return NULL;
}

const char *ohsm_utype_cmu_name(enum ohsm_utype t)
{
    const struct utype_name *n = find(t);
    return n != NULL ? n->cmu : "NONE";
}

const char *ohsm_utype_cli_name(enum ohsm_utype t)
{
    const struct utype_name *n = find(t);
    return n != NULL ? n->cli : "none";
}

ohsm_rv ohsm_utype_from_cmu(const char *s, enum ohsm_utype *out)
{
    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    if (strcasecmp(s, "PCO") == 0) {
        *out = OHSM_UT_CO;
        return OHSM_OK;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].cmu) == 0) {
            *out = names[i].t;
            return OHSM_OK;
        }
    }
    return OHSM_USER_TYPE_INVALID;
}

ohsm_rv ohsm_utype_from_cli(const char *s, enum ohsm_utype *out)
{
    OHSM_ENSURE(s != NULL && out != NULL, OHSM_ARGUMENTS_BAD);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(s, names[i].cli) == 0) {
            *out = names[i].t;
            return OHSM_OK;
        }
    }
    return OHSM_USER_TYPE_INVALID;
}

ohsm_rv ohsm_username_canon(const char *in, char *out, size_t cap)
{
    OHSM_ENSURE(in != NULL && out != NULL && cap > OHSM_USERNAME_MAX, OHSM_ARGUMENTS_BAD);
    size_t n = strnlen(in, OHSM_USERNAME_MAX + 1);
    OHSM_ENSURE(n >= 1 && n <= OHSM_USERNAME_MAX, OHSM_USERNAME_INVALID);
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_';
        OHSM_ENSURE(ok, OHSM_USERNAME_INVALID);
    }
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    out[n] = '\0';
    return OHSM_OK;
}

ohsm_rv ohsm_password_check(const char *pw, size_t len)
{
    OHSM_ENSURE(pw != NULL, OHSM_ARGUMENTS_BAD);
    OHSM_ENSURE(len >= OHSM_PASSWORD_MIN && len <= OHSM_PASSWORD_MAX, OHSM_PIN_LEN_RANGE);
    OHSM_ENSURE(memchr(pw, '\0', len) == NULL, OHSM_PIN_LEN_RANGE);
    return OHSM_OK;
}
