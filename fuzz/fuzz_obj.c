/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target for the object decoders: the same bytes go to ohsm_tmpl_parse (user templates
 * from the wire) and ohsm_obj_decode (records from peers and databases). A parsed template is
 * applied, matched and set-checked against a default object; a decoded record must re-encode to
 * exactly its input (the codec is canonical) and its every attribute, derived ones from a fuzzed
 * SPKI included, must be readable without crashing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "openhsm/obj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void template(const uint8_t *data, size_t size)
{
    struct ohsm_tmpl t;
    struct ohsm_obj o;
    if (ohsm_tmpl_parse(data, size, &t) != OHSM_OK) {
        return;
    }
    ohsm_obj_defaults(&o, OHSM_CLASS_SECRET, OHSM_KT_AES, true);
    memcpy(o.owner, "fuzz", 5);
    o.value_len = 32;
    (void)ohsm_obj_match(&o, &t);
    for (size_t i = 0; i < t.n; i++) {
        if (ohsm_obj_set_check(&o, &t.a[i], OHSM_UT_CU, true) == OHSM_OK &&
            ohsm_obj_set_apply(&o, &t.a[i]) != OHSM_OK) {
            abort(); /* what the check allows must apply */
        }
    }
    (void)ohsm_obj_apply_template(&o, &t);
}

static void record(const uint8_t *data, size_t size)
{
    static uint8_t enc[OHSM_OBJ_ENC_MAX];
    static uint8_t v[2048];
    struct ohsm_obj o;
    size_t n = 0;
    size_t na = 0;
    if (ohsm_obj_decode(data, size, &o) != OHSM_OK) {
        return;
    }
    if (ohsm_obj_encode(&o, enc, sizeof(enc), &n) != OHSM_OK || n != size ||
        memcmp(enc, data, n) != 0) {
        abort(); /* decode accepted a non-canonical encoding */
    }
    const struct ohsm_attr_def *t = ohsm_attr_table(&na);
    for (size_t i = 0; i < na; i++) {
        (void)ohsm_obj_attr_get(&o, t[i].id, v, sizeof(v), &n);
    }
    for (int u = 0; u <= OHSM_USE_DERIVE; u++) {
        (void)ohsm_obj_check_use(&o, (enum ohsm_use)u);
    }
    (void)ohsm_obj_check_wrap(&o, &o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    template(data, size);
    record(data, size);
    return 0;
}
