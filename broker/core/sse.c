/* SPDX-License-Identifier: MIT */
/*
 * sse.c: Server-Sent Events streams (docs/protocol.md section 8). An SSE
 * stream is a session that takes message events only; its replay over
 * several topics is replay.c's, like a WebSocket subscribe's. Service
 * thread only.
 */
#include "core/core_int.h"

struct session *core_sse_open(struct core *core, const struct transport *transport, void *conn)
{
    struct session *s = core_add_session(core, transport, conn);
    if (s) {
        s->is_sse = true;
        access_session_start(core, s);
    }
    return s;
}

void core_sse_subscribe(struct core *core, struct session *s, char **patterns, size_t n,
                        bool has_since, uint64_t since)
{
    uint64_t upto = core->last_delivered_seq;
    struct replay *r = has_since && upto > 0 ? replay_new(core, s, n, upto, NULL) : NULL;
    for (size_t i = 0; i < n; i++) {
        if (session_find_sub(s, patterns[i]))
            continue;
        struct subscription *sub = core_add_sub(core, s, patterns[i]);
        if (!sub)
            continue;
        sub->covers_after = upto;
        if (r)
            replay_add(r, sub, since, 0);
    }
    if (r)
        replay_start(r);
}
