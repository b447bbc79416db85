/* SPDX-License-Identifier: Apache-2.0
 *
 * Error message formatting shared by every module that reports detail text to its caller.
 */
#include "core/errf.h"

#include <stdarg.h>
#include <stdio.h>

void ohsm_errf(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (err == NULL || cap == 0) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    if (n < 0) {
        err[0] = '\0';
    } else if ((size_t)n >= cap) {
        err[cap - 1] = '\0';
    }
}
