/* SPDX-License-Identifier: MIT */
/*
 * redis_wire.c: records, live payloads and the URL of the Redis engine
 * (see redis_wire.h). Every reader checks each length against what is
 * left before it copies a byte.
 */
#include "store/redis_wire.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *redis_record_encode(const struct store_msg *msg, size_t *len)
{
    size_t user_len = msg->from_user ? strlen(msg->from_user) : 0;
    size_t topic_len = strlen(msg->topic);
    char head[128];
    int n = snprintf(head, sizeof(head), "%" PRId64 " %d %ld %zu %zu\n", msg->ts,
                     msg->is_binary ? 1 : 0, msg->from_user ? (long)user_len : -1L, topic_len,
                     msg->data_len);
    size_t total = (size_t)n + user_len + topic_len + msg->data_len;
    char *out = malloc(total);
    if (!out)
        return NULL;
    char *at = out;
    memcpy(at, head, (size_t)n);
    at += n;
    if (user_len)
        memcpy(at, msg->from_user, user_len);
    at += user_len;
    memcpy(at, msg->topic, topic_len);
    at += topic_len;
    if (msg->data_len)
        memcpy(at, msg->data, msg->data_len);
    *len = total;
    return out;
}

/* A decimal integer of buf[*at..end) up to `stop`: strict (digits only, an
 * optional '-' when allowed, no leading '+' or space), moves *at past stop. */
static int read_int(const char *buf, size_t end, size_t *at, char stop, bool negative_ok,
                    int64_t *out)
{
    size_t i = *at;
    bool neg = false;
    if (i < end && buf[i] == '-' && negative_ok) {
        neg = true;
        i++;
    }
    size_t digits = 0;
    uint64_t v = 0;
    /* One way to write each number: no leading zero, no "-0". */
    if (i + 1 < end && buf[i] == '0' && buf[i + 1] >= '0' && buf[i + 1] <= '9')
        return -1;
    if (neg && i < end && buf[i] == '0')
        return -1;
    while (i < end && buf[i] >= '0' && buf[i] <= '9') {
        if (++digits > 18)
            return -1;
        v = v * 10 + (uint64_t)(buf[i] - '0');
        i++;
    }
    if (digits == 0 || i >= end || buf[i] != stop)
        return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    *at = i + 1;
    return 0;
}

static char *copy_bytes(const char *bytes, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (len)
        memcpy(out, bytes, len);
    out[len] = '\0';
    return out;
}

int redis_record_decode(const char *rec, size_t len, uint64_t seq, struct store_msg *msg)
{
    memset(msg, 0, sizeof(*msg));
    size_t at = 0;
    int64_t ts, bin, ulen, tlen, dlen;
    if (read_int(rec, len, &at, ' ', true, &ts) < 0 ||
        read_int(rec, len, &at, ' ', false, &bin) < 0 ||
        read_int(rec, len, &at, ' ', true, &ulen) < 0 ||
        read_int(rec, len, &at, ' ', false, &tlen) < 0 ||
        read_int(rec, len, &at, '\n', false, &dlen) < 0)
        return -1;
    if (bin > 1 || ulen < -1 || tlen < 1)
        return -1;
    size_t u = ulen > 0 ? (size_t)ulen : 0;
    size_t left = len - at;
    if (u > left || (size_t)tlen > left - u || (size_t)dlen != left - u - (size_t)tlen)
        return -1;
    msg->seq = seq;
    msg->ts = ts;
    msg->is_binary = bin == 1;
    msg->from_user = ulen >= 0 ? copy_bytes(rec + at, u) : NULL;
    msg->topic = copy_bytes(rec + at + u, (size_t)tlen);
    msg->data = (unsigned char *)copy_bytes(rec + at + u + (size_t)tlen, (size_t)dlen);
    msg->data_len = (size_t)dlen;
    if (!msg->topic || !msg->data || (ulen >= 0 && !msg->from_user)) {
        store_msg_clear(msg);
        return -1;
    }
    return 0;
}

int redis_live_next(const char *payload, size_t len, size_t *at, struct redis_live_entry *out)
{
    size_t i = *at;
    if (i >= len)
        return 0;
    int64_t seq, rlen;
    if (read_int(payload, len, &i, ' ', false, &seq) < 0 || seq < 1)
        return -1;
    const char *origin = payload + i;
    const char *space = memchr(origin, ' ', len - i);
    if (!space || space == origin)
        return -1;
    out->origin = origin;
    out->origin_len = (size_t)(space - origin);
    i += out->origin_len + 1;
    if (read_int(payload, len, &i, '\n', false, &rlen) < 0 || (size_t)rlen > len - i)
        return -1;
    out->seq = (uint64_t)seq;
    out->rec = payload + i;
    out->rec_len = (size_t)rlen;
    *at = i + (size_t)rlen;
    return 1;
}

/* --- the URL ------------------------------------------------------------- */

/* Where a URL's password is: [*from, *to) (empty when there is none). */
static void url_password_span(const char *text, size_t *from, size_t *to)
{
    *from = *to = 0;
    if (strncmp(text, "redis://", 8) != 0)
        return;
    const char *auth = text + 8;
    const char *slash = strchr(auth, '/');
    size_t len = slash ? (size_t)(slash - auth) : strlen(auth);
    const char *at = memrchr(auth, '@', len);
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon) {
        *from = (size_t)(colon + 1 - text);
        *to = (size_t)(at - text);
    }
}

/* The reason, on one line: the URL is quoted with anything unprintable as
 * '?' and its password as "***" (the line goes to logs and terminals). */
static int url_fail(char *err, size_t errlen, const char *why, const char *text)
{
    char shown[201];
    size_t n = 0, from, to;
    url_password_span(text, &from, &to);
    for (size_t i = 0; text[i] && n + 4 < sizeof(shown); i++) {
        if (i == from && to > from) {
            memcpy(shown + n, "***", 3);
            n += 3;
            i = to - 1;
            continue;
        }
        shown[n++] = (text[i] >= 0x20 && text[i] < 0x7f) ? text[i] : '?';
    }
    shown[n] = '\0';
    snprintf(err, errlen,
             "wsbroker: --redis: %s in \"%s\" (expected redis://[:PASSWORD@]HOST[:PORT][/DB])", why,
             shown);
    return -1;
}

/* A decimal number in [lo, hi] making up all of s[0..len). */
static int url_number(const char *s, size_t len, long lo, long hi, int *out)
{
    if (len == 0 || len > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int redis_url_parse(const char *text, struct redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    out->port = 6379;
    const char *scheme = "redis://";
    if (strncmp(text, scheme, strlen(scheme)) != 0)
        return url_fail(err, errlen, "not a redis:// URL", text);
    const char *p = text + strlen(scheme);
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *at = memrchr(p, '@', (size_t)(end - p));
    if (at) {
        /* [user]:password@ ; Redis 6 ACL users are not used: the part
         * before ':' must be empty or "default". */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (!colon)
            return url_fail(err, errlen, "credentials without ':'", text);
        size_t user_len = (size_t)(colon - p);
        if (user_len && !(user_len == 7 && strncmp(p, "default", 7) == 0))
            return url_fail(err, errlen, "only the default user is supported", text);
        size_t pass_len = (size_t)(at - colon - 1);
        if (pass_len == 0 || pass_len >= sizeof(out->password))
            return url_fail(err, errlen, "empty or over-long password", text);
        memcpy(out->password, colon + 1, pass_len);
        p = at + 1;
    }
    const char *port = memchr(p, ':', (size_t)(end - p));
    const char *host_end = port ? port : end;
    size_t host_len = (size_t)(host_end - p);
    if (host_len == 0 || host_len >= sizeof(out->host))
        return url_fail(err, errlen, "missing or over-long host", text);
    memcpy(out->host, p, host_len);
    if (port && url_number(port + 1, (size_t)(end - port - 1), 1, 65535, &out->port) < 0)
        return url_fail(err, errlen, "bad port", text);
    if (slash && slash[1] != '\0' && url_number(slash + 1, strlen(slash + 1), 0, 15, &out->db) < 0)
        return url_fail(err, errlen, "bad database number (0..15)", text);
    return 0;
}
