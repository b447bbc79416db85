/* SPDX-License-Identifier: Apache-2.0
 *
 * Formatting an error message into a caller's buffer. Pure: no I/O.
 */
#ifndef OHSM_ERRF_H
#define OHSM_ERRF_H

#include <stddef.h>

/* Formats into err (cap bytes). NULL err or cap 0 does nothing; a message that does not fit is
 * truncated (a truncated message is still a message); a formatting error leaves "". */
__attribute__((format(printf, 3, 4))) void ohsm_errf(char *err, size_t cap, const char *fmt, ...);

#endif
