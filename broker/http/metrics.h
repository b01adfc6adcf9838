/* SPDX-License-Identifier: MIT */
/*
 * metrics.h: GET /api/stats (JSON) and GET /metrics (Prometheus text
 * exposition format 0.0.4), docs/protocol.md section 8.
 *
 * Owns nothing: it reads the counters that core.c and store.c keep and
 * renders them.
 */
#ifndef WSB_METRICS_H
#define WSB_METRICS_H

#include <stdbool.h>

#include <libwebsockets.h>

#include "config/topic_rules.h"
#include "core/core.h"
#include "http/context.h"
#include "store/store.h"
#include "util/sbuf.h"

void metrics_render_stats(const struct core *core, const struct store *store,
                          const struct topic_rules *rules, struct sbuf *out);
void metrics_render_prometheus(const struct core *core, const struct store *store,
                               struct sbuf *out);

/* Answers /metrics when `prometheus`, else /api/stats. */
int metrics_serve(const struct http_ctx *ctx, struct lws *wsi, bool prometheus);

#endif
