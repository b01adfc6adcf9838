/* SPDX-License-Identifier: MIT */
/*
 * wsb_io.h: reading broker frames and writing queued requests (see
 * wsb_io.c). Service thread only.
 */
#ifndef WSB_IO_H
#define WSB_IO_H

#include "wsb_client_int.h"

/* LWS_CALLBACK_CLIENT_RECEIVE: one fragment of a frame. */
void wsb_io_receive(wsb_client *c, struct lws *wsi, void *in, size_t len);
/* LWS_CALLBACK_CLIENT_WRITEABLE: writes queued frames; -1 closes. */
int wsb_io_writeable(wsb_client *c, struct lws *wsi);

#endif
