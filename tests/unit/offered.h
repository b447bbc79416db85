/* SPDX-License-Identifier: Apache-2.0
 *
 * Test helper for the three shells' completion functions (cli, cmu, kmu complete.h, all of the
 * edit.h callback type): did `complete` offer `word` for the line `before`?
 */
#ifndef OHSM_TEST_OFFERED_H
#define OHSM_TEST_OFFERED_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void (*ohsm_test_complete_fn)(const void *tab, const char *before,
                                      void (*add)(void *sink, const char *w), void *sink);

struct ohsm_test_words {
    char w[256][64];
    size_t n;
};

static inline void ohsm_test_collect(void *sink, const char *word)
{
    struct ohsm_test_words *s = sink;
    if (s->n < 256) {
        (void)snprintf(s->w[s->n++], sizeof(s->w[0]), "%s", word);
    }
}

static inline bool ohsm_test_offered(ohsm_test_complete_fn complete, const void *tab,
                                     const char *before, const char *word)
{
    static struct ohsm_test_words s; /* 16 KiB: off the stack */
    s.n = 0;
    complete(tab, before, ohsm_test_collect, &s);
    for (size_t i = 0; i < s.n; i++) {
        if (strcmp(s.w[i], word) == 0) {
            return true;
        }
    }
    return false;
}

#endif
