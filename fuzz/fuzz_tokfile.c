/* SPDX-License-Identifier: Apache-2.0
 *
 * Fuzz target for the CLI's token file parsers (issue 5). Being written.
 */
#include <stddef.h>
#include <stdint.h>

#include "cli/tokfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)data;
    (void)size;
    return 0;
}
