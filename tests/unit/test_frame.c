/* SPDX-License-Identifier: Apache-2.0
 * The bounded reader and the frame header codec: truncation, overflow and size limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "openhsm/frame.h"
#include "openhsm/rd.h"

/* Reads past the end fail and poison the reader for good. */
static void test_rd_truncated_is_sticky(void **state)
{
    (void)state;
    const uint8_t b[3] = {1, 2, 3};
    struct ohsm_rd r;
    uint32_t v = 0;
    uint8_t x = 0;
    ohsm_rd_init(&r, b, sizeof(b));
    assert_int_equal(ohsm_rd_u32(&r, &v), OHSM_PROTOCOL);
    assert_int_equal(ohsm_rd_u8(&r, &x), OHSM_PROTOCOL); /* 1 byte is there, but r has failed */
    assert_int_equal(ohsm_rd_done(&r), OHSM_PROTOCOL);
}

/* A huge length cannot wrap the bounds check. */
static void test_rd_huge_length(void **state)
{
    (void)state;
    const uint8_t b[4] = {0};
    const uint8_t *p = NULL;
    struct ohsm_rd r;
    ohsm_rd_init(&r, b, sizeof(b));
    assert_int_equal(ohsm_rd_bytes(&r, SIZE_MAX, &p), OHSM_PROTOCOL);
    ohsm_rd_init(&r, b, sizeof(b));
    assert_int_equal(ohsm_rd_bytes(&r, 2, &p), OHSM_OK);
    assert_int_equal(ohsm_rd_bytes(&r, SIZE_MAX - 1, &p), OHSM_PROTOCOL);
}

/* Big-endian u32, and done() demands every byte consumed. */
static void test_rd_big_endian_and_trailing(void **state)
{
    (void)state;
    const uint8_t b[5] = {0x01, 0x02, 0x03, 0x04, 0xff};
    struct ohsm_rd r;
    uint32_t v = 0;
    ohsm_rd_init(&r, b, sizeof(b));
    assert_int_equal(ohsm_rd_u32(&r, &v), OHSM_OK);
    assert_int_equal(v, 0x01020304u);
    assert_int_equal(ohsm_rd_done(&r), OHSM_PROTOCOL);
    ohsm_rd_init(&r, NULL, 10);
    assert_int_equal(ohsm_rd_u32(&r, &v), OHSM_PROTOCOL);
}

/* Lengths 0 and > 1 MiB are refused; 1 and exactly 1 MiB are fine; headers round-trip. */
static void test_frame_limits(void **state)
{
    (void)state;
    uint8_t h[4];
    uint32_t n = 0;
    assert_int_equal(ohsm_frame_hdr_write(0, h), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_frame_hdr_write(OHSM_FRAME_MAX + 1, h), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_frame_hdr_write(OHSM_FRAME_MAX, h), OHSM_OK);
    assert_int_equal(ohsm_frame_hdr_parse(h, 4, &n), OHSM_OK);
    assert_int_equal(n, OHSM_FRAME_MAX);
    const uint8_t zero[4] = {0, 0, 0, 0};
    const uint8_t big[4] = {0x00, 0x10, 0x00, 0x01};
    const uint8_t max[4] = {0xff, 0xff, 0xff, 0xff};
    assert_int_equal(ohsm_frame_hdr_parse(zero, 4, &n), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_frame_hdr_parse(big, 4, &n), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_frame_hdr_parse(max, 4, &n), OHSM_DATA_LEN_RANGE);
    assert_int_equal(ohsm_frame_hdr_parse(h, 3, &n), OHSM_PROTOCOL);
}

/* split() takes exactly one whole frame: short or long buffers are protocol errors. */
static void test_frame_split_exact(void **state)
{
    (void)state;
    const uint8_t f[7] = {0, 0, 0, 3, 'a', 'b', 'c'};
    const uint8_t *p = NULL;
    size_t n = 0;
    assert_int_equal(ohsm_frame_split(f, 7, &p, &n), OHSM_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    assert_int_equal(ohsm_frame_split(f, 6, &p, &n), OHSM_PROTOCOL);
    const uint8_t g[8] = {0, 0, 0, 3, 'a', 'b', 'c', 'd'};
    assert_int_equal(ohsm_frame_split(g, 8, &p, &n), OHSM_PROTOCOL);
    assert_int_equal(ohsm_frame_split(NULL, 0, &p, &n), OHSM_PROTOCOL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rd_truncated_is_sticky),
        cmocka_unit_test(test_rd_huge_length),
        cmocka_unit_test(test_rd_big_endian_and_trailing),
        cmocka_unit_test(test_frame_limits),
        cmocka_unit_test(test_frame_split_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
