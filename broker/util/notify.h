/* SPDX-License-Identifier: MIT */
/*
 * notify.h: tells a service manager when the broker is ready and when it
 * is stopping (the sd_notify protocol, for Type=notify in
 * deploy/wsbroker.service.in).
 *
 * Owns: nothing but the calls; outside systemd (no NOTIFY_SOCKET in the
 * environment) both calls do nothing.
 */
#ifndef WSB_NOTIFY_H
#define WSB_NOTIFY_H

/* READY=1: the store is open and the port is bound and served, so a unit
 * ordered after this one may connect at once. */
void notify_ready(void);

/* STOPPING=1: the orderly shutdown has begun. */
void notify_stopping(void);

#endif
