/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for cloudhsm_mgmt_util's approval file parser (src/cmu/apfile.c). Whatever parses
 * must keep the parser's promises: a non-empty token path, 1..32 approvers, each with a canonical
 * user name and a non-empty signature path, every string NUL-terminated within its field.
 */
#include <stdlib.h>
#include <string.h>

#include "cmu/apfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
    if (!ok) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct ohsm_cmu_apfile f;
    char why[256];

    if (!ohsm_cmu_apfile_parse((const char *)data, size, &f, why, sizeof(why))) {
        check(strnlen(why, sizeof(why)) > 0 && strnlen(why, sizeof(why)) < sizeof(why));
        return 0;
    }
    check(strnlen(f.token_path, sizeof(f.token_path)) > 0 &&
          strnlen(f.token_path, sizeof(f.token_path)) < sizeof(f.token_path));
    check(f.n >= 1 && f.n <= OHSM_APPROVAL_SIGS_MAX);
    for (size_t i = 0; i < f.n; i++) {
        char canon[OHSM_USERNAME_MAX + 1];
        check(ohsm_username_canon(f.name[i], canon, sizeof(canon)) == OHSM_OK);
        check(strcmp(canon, f.name[i]) == 0);
        size_t l = strnlen(f.sig_path[i], sizeof(f.sig_path[i]));
        check(l > 0 && l < sizeof(f.sig_path[i]));
    }
    return 0;
}
