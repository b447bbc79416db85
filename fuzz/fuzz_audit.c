/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for audit logs (src/core/audit.c): the input is checked as a whole log (what
 * `openhsmd audit verify` and an HSM starting up read from disk), and its first bytes are used as
 * a user name in a record, which must format as one line that checks out.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ohsm_audit_verdict v;
    if (ohsm_audit_verify((const char *)data, size, "hsm-abcdefghijk", &v) != OHSM_OK) {
        abort();
    }
    if (v.ok && v.records == 0 && size > 0) {
        abort(); /* bytes that are no record cannot check out */
    }
    char user[80];
    size_t n = size < sizeof(user) - 1 ? size : sizeof(user) - 1;
    memcpy(user, data, n);
    user[n] = '\0';
    uint8_t prev[OHSM_AUDIT_HASH_LEN], next[OHSM_AUDIT_HASH_LEN];
    char line[OHSM_AUDIT_LINE_MAX];
    size_t len = 0;
    ohsm_audit_genesis("hsm-abcdefghijk", prev);
    struct ohsm_audit_rec r = {.op = OHSM_AUDIT_LOGIN,
                               .response = size > 0 ? (ohsm_rv)data[0] : OHSM_OK,
                               .user = user,
                               .user_type = (enum ohsm_utype)(size > 1 ? data[1] % 6 : 0)};
    if (ohsm_audit_format(&r, prev, line, sizeof(line), &len, next) != OHSM_OK) {
        abort();
    }
    if (memchr(line, '\n', len - 1) != NULL ||
        ohsm_audit_verify(line, len, "hsm-abcdefghijk", &v) != OHSM_OK || !v.ok || v.records != 1) {
        abort();
    }
    return 0;
}
