/* SPDX-License-Identifier: Apache-2.0
 *
 * Supervision of openhsm-hsm processes: spawn (fork + execv, never a shell), wait until each HSM's
 * port accepts TCP connections, restart an HSM that dies on the same port with a backoff, and stop
 * them all on SIGINT/SIGTERM. Signals arrive through a signalfd (SIGCHLD, SIGINT and SIGTERM are
 * blocked for the whole process while a struct ohsm_sup exists), so no work runs in a signal
 * handler. Children get an empty signal mask, their own process group (so a terminal's Ctrl-C
 * reaches only openhsmd, which then stops them in order), PR_SET_PDEATHSIG(SIGTERM), stdin from
 * /dev/null and stdout+stderr appended to hsm.log; each child's pid is written to hsm.pid
 * atomically right after fork. Every fork runs on a thread of the supervisor's own that lives as
 * long as the struct ohsm_sup, whichever thread asked for it: PDEATHSIG follows the forking
 * thread, so an HSM started from a short-lived request thread would otherwise die with it.
 *
 * One struct ohsm_sup per process (it owns SIGCHLD). ohsm_sup_new/start/run/stop/free belong to
 * the main thread; the functions at the end may be called from any thread while it runs.
 */
#ifndef OHSM_CLOUD_SUPERVISE_H
#define OHSM_CLOUD_SUPERVISE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "openhsm/rv.h"

#define OHSM_SUP_BACKOFF_MIN_MS 500u
#define OHSM_SUP_BACKOFF_MAX_MS 5000u
#define OHSM_SUP_STABLE_MS 10000u /* an HSM up this long is healthy again: backoff resets */
#define OHSM_SUP_READY_MS 20000u
#define OHSM_SUP_STOP_MS 10000u

struct ohsm_sup_cfg {
    const char *hsm_bin;   /* borrowed; path of openhsm-hsm */
    uint32_t max_sessions; /* passed as --max-sessions when not 0 */
    uint32_t ready_ms;     /* how long start waits for every port; 0: OHSM_SUP_READY_MS */
    uint32_t stop_ms;      /* how long stop waits before SIGKILL; 0: OHSM_SUP_STOP_MS */
    FILE *out;             /* status lines (restarts); borrowed */
    FILE *err;             /* failures, with log tails; borrowed */
};

struct ohsm_sup_hsm {
    const char *hsm_id; /* all borrowed, copied by ohsm_sup_add */
    const char *cluster_id;
    const char *hsm_dir;     /* holds hsm.crt, hsm.key; gets hsm.db, hsm.log, hsm.pid */
    const char *cluster_dir; /* holds app_user.secret and masking.key */
    uint16_t port;           /* on 127.0.0.1 */
    uint32_t lockout;
    uint32_t slot;           /* handle slot: the HSM's position in its cluster (0..31) */
};

struct ohsm_sup;

/* Delay before restarting an HSM that just exited, given the delay used for its previous restart
 * (0: none yet) and how long it ran: OHSM_SUP_BACKOFF_MIN_MS after a first exit or after a run of
 * at least OHSM_SUP_STABLE_MS, else the previous delay doubled, capped at OHSM_SUP_BACKOFF_MAX_MS.
 */
uint32_t ohsm_sup_backoff_ms(uint32_t prev_ms, uint64_t uptime_ms);

/* Blocks SIGCHLD/SIGINT/SIGTERM and opens the signalfd. cfg is copied (hsm_bin and the FILEs stay
 * borrowed). Caller frees. Errors: OHSM_ARGUMENTS_BAD, OHSM_HOST_MEMORY, OHSM_IO. */
OHSM_NODISCARD ohsm_rv ohsm_sup_new(const struct ohsm_sup_cfg *cfg, struct ohsm_sup **out);
/* Stops every HSM still running (as ohsm_sup_stop), closes the signalfd and restores the signal
 * mask. NULL ok. */
void ohsm_sup_free(struct ohsm_sup *s);

/* Registers an HSM (not started yet). Errors: OHSM_ARGUMENTS_BAD, OHSM_HOST_MEMORY,
 * OHSM_BUFFER_TOO_SMALL (a path too long). */
OHSM_NODISCARD ohsm_rv ohsm_sup_add(struct ohsm_sup *s, const struct ohsm_sup_hsm *h);

/* Starts every registered HSM and waits until each port accepts a connection. On failure it has
 * printed which HSM failed and the tail of its hsm.log to cfg->err; the caller then stops the
 * rest. *stop_asked is set (and OHSM_OK returned) when SIGINT/SIGTERM came while waiting.
 * Errors: OHSM_IO (port taken, spawn failed), OHSM_DEVICE_ERROR (an HSM exited), OHSM_TIMEOUT. */
OHSM_NODISCARD ohsm_rv ohsm_sup_start(struct ohsm_sup *s, bool *stop_asked);

/* Supervises until SIGINT or SIGTERM: every HSM that exits (for any reason) is restarted on its
 * port after ohsm_sup_backoff_ms, with a line on cfg->out. Errors: OHSM_IO (signalfd failed). */
OHSM_NODISCARD ohsm_rv ohsm_sup_run(struct ohsm_sup *s);

/* Sends SIGTERM to every running HSM, waits up to cfg->stop_ms for them to exit, SIGKILLs the
 * rest, reaps all and removes their hsm.pid. A second SIGINT/SIGTERM meanwhile skips the wait. */
void ohsm_sup_stop(struct ohsm_sup *s);

/* ---- from other threads (the control plane), while ohsm_sup_run supervises ----
 * Every function below takes the supervisor's lock; ids are those given to ohsm_sup_add (which
 * may also be called now; a duplicate id is OHSM_ARGUMENTS_BAD). Unknown id: OHSM_ARGUMENTS_BAD. */

/* Starts a registered HSM that is not running (clearing a hold) and waits until its port accepts
 * a connection (cfg.ready_ms). Running already: OHSM_OK. Errors: OHSM_IO (port taken or spawn
 * failed), OHSM_DEVICE_ERROR (it exited while starting; log tail printed), OHSM_TIMEOUT (stopped
 * again). A failed launch leaves the HSM held (not restarted). */
OHSM_NODISCARD ohsm_rv ohsm_sup_launch(struct ohsm_sup *s, const char *id);
/* Stops an HSM and keeps it stopped (no restart) until ohsm_sup_launch: SIGTERM, SIGKILL after
 * cfg.stop_ms. */
OHSM_NODISCARD ohsm_rv ohsm_sup_hold(struct ohsm_sup *s, const char *id);
/* Stops an HSM for good and forgets it. Errors: OHSM_DEVICE_ERROR (it would not die). */
OHSM_NODISCARD ohsm_rv ohsm_sup_remove(struct ohsm_sup *s, const char *id);
/* SIGSTOP / SIGCONT: a hung HSM (its port still accepts, nothing answers). Errors:
 * OHSM_DEVICE_ERROR (not running), OHSM_IO. */
OHSM_NODISCARD ohsm_rv ohsm_sup_pause(struct ohsm_sup *s, const char *id);
OHSM_NODISCARD ohsm_rv ohsm_sup_resume(struct ohsm_sup *s, const char *id);

struct ohsm_sup_status {
    bool running; /* a process exists (it may be paused) */
    long pid;
    bool held;   /* stopped on purpose: not restarted */
    bool paused;
    uint32_t restarts;
};
OHSM_NODISCARD ohsm_rv ohsm_sup_status(struct ohsm_sup *s, const char *id,
                                       struct ohsm_sup_status *out);

#endif
