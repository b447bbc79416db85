/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for -attest's record checks (src/kmu/attest_rec.c): a record equals itself, and any
 * one field an HSM could report differently (flags, owner, a share, label, id, key check value,
 * public key, quorum values, handle) makes two records differ; a record that does not say what
 * was asked (label, id, token, extractable, local) fails, and one that does passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kmu/attest.h"

static void base(struct ohsm_obj *o)
{
    memset(o, 0, sizeof(*o));
    o->handle = 42;
    o->version = 1;
    o->cls = OHSM_CLASS_PRIVATE;
    o->ktype = OHSM_KT_EC;
    o->flags = OHSM_F_TOKEN | OHSM_F_LOCAL | OHSM_F_EXTRACTABLE | OHSM_F_SIGN;
    memcpy(o->owner, "alice", 6);
    o->nshared = 1;
    memcpy(o->shared[0], "bob", 4);
    memcpy(o->label, "ecc14", 6);
    memcpy(o->id, "id1", 3);
    o->id_len = 3;
    o->curve = OHSM_CURVE_P384;
    o->has_kcv = true;
    o->kcv[0] = 0xbb;
    o->spki_len = 4;
    memcpy(o->spki, "\x30\x01\x02\x03", 4);
    o->quorum_use = 2;
    o->quorum_manage = 2;
}

/* Every field that matters makes a difference; the version does not (it is not reported). */
static void test_kmu_attest_same_record(void **state)
{
    (void)state;
    struct ohsm_obj a, b;
    base(&a);
    base(&b);
    assert_true(ohsm_kmu_attest_same(&a, &b));
    b.version = 9;
    assert_true(ohsm_kmu_attest_same(&a, &b));
    for (int field = 0; field < 10; field++) {
        base(&b);
        switch (field) {
        case 0:
            b.flags &= ~(uint32_t)OHSM_F_EXTRACTABLE;
            break;
        case 1:
            b.owner[0] = 'm';
            break;
        case 2:
            b.shared[0][0] = 'c';
            break;
        case 3:
            b.label[0] = 'E';
            break;
        case 4:
            b.id[2] = '2';
            break;
        case 5:
            b.kcv[0] ^= 1;
            break;
        case 6:
            b.spki[3] ^= 1;
            break;
        case 7:
            b.quorum_use = 1;
            break;
        case 8:
            b.handle = 43;
            break;
        default:
            b.nshared = 0;
            break;
        }
        assert_false(ohsm_kmu_attest_same(&a, &b));
    }
}

/* The record says what was asked, or the check fails. */
static void test_kmu_attest_as_asked(void **state)
{
    (void)state;
    struct ohsm_obj o;
    struct ohsm_kmu_keyopts want = {"ecc14", (const uint8_t *)"id1", 3, true, true};
    base(&o);
    assert_true(ohsm_kmu_attest_as_asked(&o, &want, true));
    assert_false(ohsm_kmu_attest_as_asked(&o, &want, false)); /* imported keys are not local */
    struct ohsm_kmu_keyopts w = want;
    w.label = "ecc15";
    assert_false(ohsm_kmu_attest_as_asked(&o, &w, true));
    w = want;
    w.id_len = 2;
    assert_false(ohsm_kmu_attest_as_asked(&o, &w, true));
    w = want;
    w.token = false;
    assert_false(ohsm_kmu_attest_as_asked(&o, &w, true));
    w = want;
    w.extractable = false;
    assert_false(ohsm_kmu_attest_as_asked(&o, &w, true));
    /* A public key is extractable whatever -nex said of the pair's private key. */
    o.cls = OHSM_CLASS_PUBLIC;
    assert_true(ohsm_kmu_attest_as_asked(&o, &w, true));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kmu_attest_same_record),
        cmocka_unit_test(test_kmu_attest_as_asked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
