/* SPDX-License-Identifier: MIT */
/*
 * notify.c: the sd_notify messages of notify.h, through libsystemd.
 *
 * A failed notification is logged and otherwise ignored: the broker serves
 * the same either way, and systemd reports a unit that never became ready
 * by itself (TimeoutStartSec).
 */
#include "util/notify.h"

#include <string.h>
#include <systemd/sd-daemon.h>

#include "util/log.h"

static void notify_send(const char *state)
{
    int rc = sd_notify(0, state);
    if (rc < 0)
        log_warn("sd_notify failed: %s", strerror(-rc));
}

void notify_ready(void)
{
    notify_send("READY=1\nSTATUS=serving");
}

void notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=shutting down");
}
