/* SPDX-License-Identifier: Apache-2.0
 * Form decoding and the EC2 reply writer: escapes, '+', malformed input refused, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/form.h"
#include "http/xml.h"

static struct ohsm_form *parse_ok(const char *s, unsigned flags)
{
    struct ohsm_form *f = NULL;
    char msg[128];
    assert_int_equal(ohsm_form_parse(s, strlen(s), flags, &f, msg, sizeof(msg)), OHSM_OK);
    return f;
}

static void parse_bad(const char *s, size_t len)
{
    struct ohsm_form *f = NULL;
    char msg[128] = "";
    assert_int_equal(ohsm_form_parse(s, len, 0, &f, msg, sizeof(msg)), OHSM_ARGUMENTS_BAD);
    assert_null(f);
    assert_true(msg[0] != '\0');
}

/* Escapes and '+' decode; order is kept; empty segments are skipped; a bare name is "". */
static void test_form_decode(void **state)
{
    (void)state;
    struct ohsm_form *f =
        parse_ok("Action=DescribeSubnets&&Filter.1.Name=a+b%2Fc&Flag&Version=2016-11-15&", 0);
    assert_int_equal(ohsm_form_count(f), 4);
    assert_string_equal(ohsm_form_name(f, 0), "Action");
    assert_string_equal(ohsm_form_get(f, "Filter.1.Name"), "a b/c");
    assert_string_equal(ohsm_form_get(f, "Flag"), "");
    assert_string_equal(ohsm_form_value(f, 3), "2016-11-15");
    assert_null(ohsm_form_get(f, "Missing"));
    assert_null(ohsm_form_name(f, 4));
    ohsm_form_free(f);
    f = parse_ok("", 0);
    assert_int_equal(ohsm_form_count(f), 0);
    ohsm_form_free(f);
    f = parse_ok("%E1%88%B4=%e1%88%b4", 0);
    assert_string_equal(ohsm_form_get(f, "\xe1\x88\xb4"), "\xe1\x88\xb4");
    ohsm_form_free(f);
    f = parse_ok("a=1&a=2", OHSM_FORM_ALLOW_DUP);
    assert_int_equal(ohsm_form_count(f), 2);
    ohsm_form_free(f);
}

/* Malformed escapes, NUL (raw or escaped), invalid UTF-8, repeats, no name: refused. */
static void test_form_refuses(void **state)
{
    (void)state;
    parse_bad("a=%", 3);
    parse_bad("a=%4", 4);
    parse_bad("a=%zz", 5);
    parse_bad("a=%00", 5);
    parse_bad("a=b\0c", 5);
    parse_bad("a=%C0%AF", 8);     /* overlong '/' */
    parse_bad("a=%ED%A0%80", 11); /* a surrogate */
    parse_bad("a=%FF", 5);
    parse_bad("a=%E1%88", 8); /* truncated sequence */
    parse_bad("a=1&a=2", 7);
    parse_bad("=x", 2);
}

/* 1000 parameters are fine, 1001 are refused. */
static void test_form_max_params(void **state)
{
    (void)state;
    size_t cap = 12 * 1002;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t o = 0;
    for (int i = 0; i < OHSM_FORM_MAX_PARAMS; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%sp%d=1", i > 0 ? "&" : "", i);
    }
    struct ohsm_form *f = parse_ok(buf, 0);
    assert_int_equal(ohsm_form_count(f), OHSM_FORM_MAX_PARAMS);
    ohsm_form_free(f);
    o += (size_t)snprintf(buf + o, cap - o, "&extra=1");
    parse_bad(buf, o);
    free(buf);
    /* Many empty segments do not get past the count either. */
    char *amps = malloc(5000);
    assert_non_null(amps);
    memset(amps, '&', 5000);
    parse_bad(amps, 5000);
    free(amps);
}

/* Text is escaped; a reply over the bound fails and stays failed. */
static void test_xml_writer(void **state)
{
    (void)state;
    struct ohsm_xml x;
    ohsm_xml_init(&x, 256);
    ohsm_xml_open(&x, "item");
    ohsm_xml_text(&x, "a", "<&>\"'\x01");
    ohsm_xml_bool(&x, "b", true);
    ohsm_xml_textf(&x, "n", "%d", 42);
    ohsm_xml_close(&x, "item");
    assert_false(x.failed);
    assert_string_equal(x.buf,
                        "<item><a>&lt;&amp;&gt;&quot;&apos;?</a><b>true</b><n>42</n></item>");
    for (int i = 0; i < 100; i++) {
        ohsm_xml_text(&x, "a", "0123456789");
    }
    assert_true(x.failed);
    size_t len = x.len;
    ohsm_xml_raw(&x, "x");
    assert_int_equal(x.len, len);
    assert_true(x.len < 256);
    ohsm_xml_done(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_decode),
        cmocka_unit_test(test_form_refuses),
        cmocka_unit_test(test_form_max_params),
        cmocka_unit_test(test_xml_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
