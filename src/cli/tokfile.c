/* SPDX-License-Identifier: Apache-2.0
 *
 * Issue 5: being written.
 */
#include <stddef.h>
typedef int ohsm_placeholder_tokfile;
