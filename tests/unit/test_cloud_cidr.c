/* SPDX-License-Identifier: Apache-2.0
 * IPv4 address math of the VPC subset: strict parsing, canonical form, containment, overlap,
 * sizes and AWS's five reserved addresses for /16, /24 and /28 blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cloud/cidr.h"

static struct ohsm_cidr cidr(const char *s)
{
    struct ohsm_cidr c;
    assert_int_equal(ohsm_cidr_parse(s, &c, NULL), OHSM_OK);
    return c;
}

static uint32_t ip(const char *s)
{
    uint32_t v;
    assert_int_equal(ohsm_cidr_ip_parse(s, &v), OHSM_OK);
    return v;
}

/* Malformed text of every kind is refused: NULL, empty, out of range, leading zeros, junk. */
static void test_cidr_malformed(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0/24",
        "256.0.0.0/24",
        "010.0.0.0/24",
        "10.0.0.00/24",
        "10.0.0.0/024",
        "10.0.0.0/24x",
        "10.0.0.0/24 ",
        " 10.0.0.0/24",
        "10.0.0.0/",
        "10.0.0.0//24",
        "10..0.0/24",
        "10.0.0.0.0/24",
        "1000.0.0.0/8",
        "10.0.0.-1/24",
        "10.0.0.0/-1",
        "+10.0.0.0/8",
        "0x0a.0.0.0/8",
        "10.0.0.0/1000",
        "a.b.c.d/8",
        "10.0.0.0\n/24",
        "/24",
    };
    struct ohsm_cidr c = {0x01020304u, 7};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(ohsm_cidr_parse(bad[i], &c, NULL), OHSM_ARGUMENTS_BAD);
    }
    /* nothing written on failure */
    assert_int_equal(c.base, 0x01020304u);
    assert_int_equal(c.prefix, 7);
    assert_int_equal(ohsm_cidr_parse(NULL, &c, NULL), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_cidr_parse("10.0.0.0/8", NULL, NULL), OHSM_ARGUMENTS_BAD);

    uint32_t v = 7;
    static const char *const badip[] = {"",          "1.2.3",    "1.2.3.4.",   "01.2.3.4",
                                        "1.2.3.256", "1.2.3.4 ", "1.2.3.4/32", "1.2.3.04"};
    for (size_t i = 0; i < sizeof(badip) / sizeof(badip[0]); i++) {
        assert_int_equal(ohsm_cidr_ip_parse(badip[i], &v), OHSM_ARGUMENTS_BAD);
    }
    assert_int_equal(v, 7);
}

/* Well-formed blocks parse; host bits are cleared and reported; the text round-trips. */
static void test_cidr_canonical(void **state)
{
    (void)state;
    struct ohsm_cidr c;
    bool canon = true;
    char t[OHSM_CIDR_TEXT_MAX];
    assert_int_equal(ohsm_cidr_parse("100.68.0.18/18", &c, &canon), OHSM_OK);
    assert_false(canon);
    assert_int_equal(ohsm_cidr_format(&c, t, sizeof(t)), OHSM_OK);
    assert_string_equal(t, "100.68.0.0/18");
    assert_int_equal(ohsm_cidr_parse("10.0.0.0/16", &c, &canon), OHSM_OK);
    assert_true(canon);
    assert_int_equal(ohsm_cidr_parse("0.0.0.0/0", &c, &canon), OHSM_OK);
    assert_int_equal(c.base, 0);
    assert_int_equal(c.prefix, 0);
    assert_int_equal(ohsm_cidr_parse("255.255.255.255/32", &c, &canon), OHSM_OK);
    assert_int_equal(ohsm_cidr_format(&c, t, sizeof(t)), OHSM_OK);
    assert_string_equal(t, "255.255.255.255/32");
    assert_int_equal(ohsm_cidr_format(&c, t, sizeof(t) - 1), OHSM_BUFFER_TOO_SMALL);
    char q[OHSM_CIDR_IP_MAX];
    assert_int_equal(ohsm_cidr_ip_format(ip("0.0.0.0"), q, sizeof(q)), OHSM_OK);
    assert_string_equal(q, "0.0.0.0");
    assert_int_equal(ohsm_cidr_ip_format(ip("172.31.255.254"), q, sizeof(q)), OHSM_OK);
    assert_string_equal(q, "172.31.255.254");
    assert_int_equal(ohsm_cidr_ip_format(1, q, 8), OHSM_BUFFER_TOO_SMALL);
}

/* Sizes, usable counts and reserved addresses of /16, /24 and /28, edges included. */
static void test_cidr_sizes_reserved(void **state)
{
    (void)state;
    struct ohsm_cidr a = cidr("10.0.0.0/16"), b = cidr("10.0.1.0/24"), c = cidr("10.0.2.16/28");
    assert_int_equal(ohsm_cidr_size(&a), 65536);
    assert_int_equal(ohsm_cidr_usable(&a), 65531);
    assert_int_equal(ohsm_cidr_usable(&b), 251);
    assert_int_equal(ohsm_cidr_usable(&c), 11);
    struct ohsm_cidr all = cidr("0.0.0.0/0");
    assert_int_equal(ohsm_cidr_size(&all), (uint64_t)1 << 32);
    struct ohsm_cidr one = cidr("1.2.3.4/32");
    assert_int_equal(ohsm_cidr_usable(&one), 0);

    const char *const res[] = {"10.0.2.16", "10.0.2.17", "10.0.2.18", "10.0.2.19", "10.0.2.31"};
    for (size_t i = 0; i < 5; i++) {
        assert_true(ohsm_cidr_reserved(&c, ip(res[i])));
    }
    assert_false(ohsm_cidr_reserved(&c, ip("10.0.2.20")));
    assert_false(ohsm_cidr_reserved(&c, ip("10.0.2.30")));
    assert_false(ohsm_cidr_reserved(&c, ip("10.0.2.32"))); /* outside */
    assert_true(ohsm_cidr_reserved(&a, ip("10.0.255.255")));
    assert_true(ohsm_cidr_reserved(&a, ip("10.0.0.3")));
    assert_false(ohsm_cidr_reserved(&a, ip("10.0.0.255")));
    assert_true(ohsm_cidr_reserved(&b, ip("10.0.1.255")));

    uint32_t v = 0;
    assert_int_equal(ohsm_cidr_nth_usable(&c, 0, &v), OHSM_OK);
    assert_int_equal(v, ip("10.0.2.20"));
    assert_int_equal(ohsm_cidr_nth_usable(&c, 10, &v), OHSM_OK);
    assert_int_equal(v, ip("10.0.2.30"));
    assert_int_equal(ohsm_cidr_nth_usable(&c, 11, &v), OHSM_ARGUMENTS_BAD);
    assert_int_equal(ohsm_cidr_nth_usable(&a, 65530, &v), OHSM_OK);
    assert_int_equal(v, ip("10.0.255.254"));
    assert_int_equal(ohsm_cidr_last(&b), ip("10.0.1.255"));
    assert_int_equal(ohsm_cidr_mask(0), 0);
    assert_int_equal(ohsm_cidr_mask(32), 0xffffffffu);
    assert_int_equal(ohsm_cidr_mask(28), 0xfffffff0u);
}

/* Containment and overlap, including equal blocks and neighbours that only touch. */
static void test_cidr_contains_overlaps(void **state)
{
    (void)state;
    struct ohsm_cidr vpc = cidr("10.0.0.0/16"), s1 = cidr("10.0.1.0/24"),
                     s2 = cidr("10.0.1.128/25"), s3 = cidr("10.0.2.0/24"),
                     out = cidr("10.1.0.0/24"), big = cidr("10.0.0.0/8");
    assert_true(ohsm_cidr_contains(&vpc, &s1));
    assert_true(ohsm_cidr_contains(&vpc, &vpc));
    assert_false(ohsm_cidr_contains(&vpc, &out));
    assert_false(ohsm_cidr_contains(&vpc, &big));
    assert_true(ohsm_cidr_overlaps(&s1, &s2));
    assert_true(ohsm_cidr_overlaps(&s2, &s1));
    assert_false(ohsm_cidr_overlaps(&s1, &s3));
    assert_true(ohsm_cidr_overlaps(&big, &s3));
    assert_true(ohsm_cidr_has(&s1, ip("10.0.1.0")));
    assert_true(ohsm_cidr_has(&s1, ip("10.0.1.255")));
    assert_false(ohsm_cidr_has(&s1, ip("10.0.2.0")));
    assert_false(ohsm_cidr_has(&s1, ip("10.0.0.255")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_malformed),
        cmocka_unit_test(test_cidr_canonical),
        cmocka_unit_test(test_cidr_sizes_reserved),
        cmocka_unit_test(test_cidr_contains_overlaps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
