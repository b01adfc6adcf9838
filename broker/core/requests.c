/* SPDX-License-Identifier: MIT */
/*
 * requests.c: the requests that read without changing anything: history
 * (from the store), presence and ping (answered at once). Service thread
 * only.
 */
#include "core/core_int.h"

#include <string.h>

#include "proto/answer.h"

void core_history(struct core *core, struct session *s, struct request *req)
{
    struct store_req *sr = core_new_store_req(s, req, STORE_HISTORY);
    if (!sr || !(sr->pattern = strdup(req->topic))) {
        core_discard_req(sr);
        core_reply_error_code(core, s, req, ERR_INTERNAL, "out of memory");
        return;
    }
    sr->since = req->has_since ? req->since : 0;
    sr->limit = req->limit;
    sr->max_bytes = (size_t)core->cfg->max_message; /* the reply is cut to it below */
    sr->gone = &s->gone;
    core_submit(core, sr);
}

/* The reply stops before it would pass max_message (docs/protocol.md
 * section 10) and says `more`: the client pages on with `since`, and no
 * reply outgrows a backlog sized for messages. */
void core_finish_history(struct core *core, struct store_req *sr, struct pending *p)
{
    if (!core_result_ok(core, sr, p, "read") || !p->has_id)
        return;
    size_t n = answer_history_fit(sr->msgs, sr->n_msgs, (size_t)core->cfg->max_message);
    core_reply(core, p->session, true, p->id,
               answer_history(p->id, sr->msgs, n, sr->more || n < sr->n_msgs, sr->recovered));
}

void core_presence(struct core *core, struct session *s, struct request *req)
{
    if (!req->has_id)
        return;
    struct sbuf members;
    sbuf_init(&members);
    presence_append_members(core->presence, req->topic, &members);
    struct frame *f = answer_presence(req->id, req->topic, &members);
    sbuf_free(&members);
    core_reply(core, s, true, req->id, f);
}

void core_ping(struct core *core, struct session *s, struct request *req)
{
    if (req->has_id)
        core_reply(core, s, true, req->id, answer_pong(req->id));
}
