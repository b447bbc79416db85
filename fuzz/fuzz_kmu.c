/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for openhsm-kmu's two parsers of untrusted input: the wrapped-key file header
 * (attrs.c; a file a user is handed) and the command-line grammar (parse.c; a line typed or
 * scripted), both fed the same bytes. A header that decodes must encode back to the same bytes
 * (the format has one encoding), and a parsed command's values must all lie inside the line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmu/attrs.h"
#include "kmu/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A table of the tool's shape: every kind of flag value, a group, a required flag. */
/* clang-format off */
static const struct ohsm_kmu_cmd tab[] = {
    {"genSymKey",
     {{"t", OHSM_KMU_V_UINT, "<key type>", true, 0, 0, UINT32_MAX},
      {"s", OHSM_KMU_V_UINT, "<key size>", false, 0, 1, 65536},
      {"l", OHSM_KMU_V_TEXT, "<label>", false, 0, 0, 127},
      {"nex", OHSM_KMU_V_SWITCH, "", false, 0, 0, 0},
      {"u", OHSM_KMU_V_IDS, "<user-ids>", false, 0, 0, 0},
      {"k", OHSM_KMU_V_HANDLE, "<key handle>", false, 0, 0, 0},
      {"r", OHSM_KMU_V_HEX, "<code>", false, 0, 0, UINT32_MAX},
      {"f", OHSM_KMU_V_FILE, "<file>", false, 0, 0, 4096}},
     NULL, "gen", NULL},
    {"loginHSM",
     {{"p", OHSM_KMU_V_SECRET, "<password>", false, 'p', 0, 64},
      {"hpswd", OHSM_KMU_V_SWITCH, "", false, 'p', 0, 0}},
     NULL, "login", NULL},
};
/* clang-format on */

static void fuzz_wrapfile(const uint8_t *data, size_t size)
{
    struct ohsm_kmu_wrapfile h;
    uint8_t *again = NULL;
    size_t len = 0;

    if (ohsm_kmu_wrapfile_decode(data, size, &h) != OHSM_OK) {
        return;
    }
    if (h.wrapped < data || h.wrapped + h.wrapped_len != data + size ||
        ohsm_kmu_wrapfile_encode(&h, &again, &len) != OHSM_OK || len != size ||
        memcmp(again, data, size) != 0) {
        abort();
    }
    free(again);
}

static void fuzz_line(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    char *tok[OHSM_KMU_MAX_TOKENS];
    char err[256];
    struct ohsm_kmu_parsed p;
    size_t used = 0;

    if (line == NULL) {
        return;
    }
    memcpy(line, data, size);
    line[size] = '\0';
    size_t n = ohsm_kmu_split(line, tok, OHSM_KMU_MAX_TOKENS);
    n = n < OHSM_KMU_MAX_TOKENS ? n : OHSM_KMU_MAX_TOKENS;
    for (int all = 0; all < 2; all++) {
        enum ohsm_kmu_status st =
            ohsm_kmu_parse(tab, 2, tok, n, all != 0, &p, &used, err, sizeof(err));
        if (used > n || strlen(err) >= sizeof(err)) {
            abort();
        }
        for (int i = 0; st == OHSM_KMU_OK && i < OHSM_KMU_MAX_FLAGS; i++) {
            const char *t = p.v[i].text;
            if (t != NULL && (t < line || t > line + size)) {
                abort();
            }
        }
        char usage[2048];
        if (p.cmd != NULL) {
            (void)ohsm_kmu_usage(p.cmd, usage, sizeof(usage));
        }
    }
    free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_wrapfile(data, size);
    fuzz_line(data, size);
    return 0;
}
