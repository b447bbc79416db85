/* SPDX-License-Identifier: Apache-2.0
 *
 * Token-sign MFA and quorum tokens (include/openhsm/token.h). Being written (issue 5).
 */
#include "openhsm/token.h"
