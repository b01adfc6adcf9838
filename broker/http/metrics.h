/*
 * metrics.h: the broker's numbers, as /api/stats JSON and /metrics text.
 *
 * Owns nothing: it reads the counters that core.c and store.c keep and
 * renders them (Prometheus text exposition format 0.0.4).
 */
#ifndef WSB_METRICS_H
#define WSB_METRICS_H

#include "core/core.h"
#include "util/sbuf.h"
#include "store/store.h"

void metrics_render_stats(const struct core *core, const struct store *store, struct sbuf *out);
void metrics_render_prometheus(const struct core *core, const struct store *store,
                               struct sbuf *out);

#endif
