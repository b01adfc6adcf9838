/* SPDX-License-Identifier: MIT */
/*
 * fuzz_redis_wire.c: libFuzzer target for the Redis engine's parsers
 * (broker/store/redis_wire.c): records, live payloads and the redis:// URL.
 *
 * Each input is used three ways, since any client of the same Redis can
 * write records and payloads, and the URL comes from the command line:
 *  - as a record: a refusal leaves the message empty; a success holds data
 *    that are the input's last bytes, NUL-terminated, and re-encodes into a
 *    record no longer than the input that decodes to the same message;
 *  - as a live payload: every entry lies inside the payload, moves forward,
 *    has a seq and an origin without a space, and the end is reported only
 *    at the last byte; each entry's bytes are decoded as a record too;
 *  - as a URL (up to the first NUL): a refusal names --redis, on one line
 *    whatever the URL holds; a success holds a host without ':', '/' or
 *    '@', a port in 1..65535 and a db in 0..15.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "store/redis_wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool same_msg(const struct store_msg *a, const struct store_msg *b)
{
    bool same_user = (a->from_user == NULL && b->from_user == NULL) ||
                     (a->from_user && b->from_user && strcmp(a->from_user, b->from_user) == 0);
    return same_user && a->seq == b->seq && a->ts == b->ts && a->is_binary == b->is_binary &&
           strcmp(a->topic, b->topic) == 0 && a->data_len == b->data_len &&
           memcmp(a->data, b->data, a->data_len) == 0;
}

/* A decoded message, encoded again, decodes to itself. A topic whose first
 * byte is NUL reads as "" in C, which no record may hold, so it is skipped. */
static void check_reencode(const struct store_msg *msg, size_t input_len)
{
    if (msg->topic[0] == '\0')
        return;
    size_t len = 0;
    char *rec = redis_record_encode(msg, &len);
    fuzz_require(rec != NULL, "out of memory");
    fuzz_require(len <= input_len, "a re-encoded record longer than its source");
    struct store_msg again;
    fuzz_require(redis_record_decode(rec, len, msg->seq, &again) == 0,
                 "a re-encoded record refused");
    fuzz_require(same_msg(msg, &again), "a re-encoded record decodes differently");
    store_msg_clear(&again);
    free(rec);
}

static void check_record(const char *rec, size_t len, uint64_t seq)
{
    struct store_msg msg;
    int rc = redis_record_decode(rec, len, seq, &msg);
    fuzz_require(rc == 0 || rc == -1, "decode: neither 0 nor -1");
    if (rc != 0) {
        fuzz_require(msg.topic == NULL && msg.from_user == NULL && msg.data == NULL &&
                         msg.data_len == 0,
                     "a refused record left fields");
        return;
    }
    fuzz_require(msg.seq == seq, "seq not kept");
    fuzz_require(msg.topic != NULL && msg.data != NULL, "a decoded record without topic or data");
    fuzz_require(msg.data_len < len, "data as long as the whole record");
    fuzz_require(memcmp(msg.data, rec + len - msg.data_len, msg.data_len) == 0,
                 "data are not the record's last bytes");
    fuzz_require(msg.data[msg.data_len] == '\0', "data not NUL-terminated");
    check_reencode(&msg, len);
    store_msg_clear(&msg);
}

static void check_live(const char *payload, size_t len)
{
    size_t at = 0;
    struct redis_live_entry e;
    int rc;
    while ((rc = redis_live_next(payload, len, &at, &e)) == 1) {
        fuzz_require(e.seq >= 1, "an entry with seq 0");
        fuzz_require(e.origin > payload && e.origin_len >= 1, "an entry without origin");
        fuzz_require(memchr(e.origin, ' ', e.origin_len) == NULL, "an origin with a space");
        fuzz_require(e.origin + e.origin_len < e.rec, "an origin past its record");
        fuzz_require(e.rec + e.rec_len == payload + at, "the entry does not end where *at is");
        fuzz_require(at <= len, "an entry past the payload");
        check_record(e.rec, e.rec_len, e.seq);
    }
    fuzz_require(rc == 0 || rc == -1, "live: neither 1, 0 nor -1");
    fuzz_require(rc == -1 || at == len, "the end reported before the last byte");
}

static void check_url(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    fuzz_require(text != NULL, "out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    struct redis_url url;
    char err[512];
    err[0] = '\0';
    int rc = redis_url_parse(text, &url, err, sizeof(err));
    fuzz_require(rc == 0 || rc == -1, "url: neither 0 nor -1");
    if (rc != 0) {
        fuzz_require(strncmp(err, "wsbroker: --redis: ", 19) == 0, "a refusal not naming --redis");
        fuzz_require(strchr(err, '\n') == NULL && strchr(err, '\r') == NULL,
                     "a refusal over several lines");
    } else {
        fuzz_require(strncmp(text, "redis://", 8) == 0, "not redis:// yet accepted");
        size_t host_len = strnlen(url.host, sizeof(url.host));
        fuzz_require(host_len >= 1 && host_len < sizeof(url.host), "host empty or unterminated");
        fuzz_require(strpbrk(url.host, ":/@") == NULL, "a host holding ':', '/' or '@'");
        fuzz_require(strnlen(url.password, sizeof(url.password)) < sizeof(url.password),
                     "password unterminated");
        fuzz_require(url.port >= 1 && url.port <= 65535, "port out of range");
        fuzz_require(url.db >= 0 && url.db <= 15, "db out of range");
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so that ASan sees any read past it. */
    char *bytes = malloc(size ? size : 1);
    fuzz_require(bytes != NULL, "out of memory");
    if (size)
        memcpy(bytes, data, size);
    check_record(bytes, size, 1);
    check_live(bytes, size);
    free(bytes);
    check_url(data, size);
    return 0;
}
