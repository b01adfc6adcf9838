/* SPDX-License-Identifier: MIT */
/*
 * fuzz_envelope_text.c: libFuzzer target for envelope_parse_text.
 *
 * Feeds the input as one text frame. A parsed request must hold the
 * invariants of fuzz_common.c (valid op and topic, fields in range, `data`
 * re-serialized as equal JSON), and a publish must encode into a `message`
 * frame and a history object that carry it intact. A publish the fast path
 * took (jscan, no jansson tree) must equal what jansson alone makes of the
 * same bytes. A refused frame must give
 * a known error code whose `error` reply is a JSON object. ASan and UBSan
 * catch memory errors and leaks (request_clear must release everything).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proto/envelope.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A seq derived from the input, so encoding sees many widths of number. */
static uint64_t seq_from_input(const uint8_t *data, size_t size)
{
    uint64_t seq = size;
    for (size_t i = 0; i < size && i < 8; i++)
        seq = seq << 8 | data[i];
    return seq % ENVELOPE_MAX_ID + 1;
}

static bool same_string(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* jansson refuses numbers it cannot hold; the fast path keeps `data` as
 * text and takes them (by design). */
static bool refused_for_number_range(const struct request_error *err)
{
    return strstr(err->message, "too big") || strstr(err->message, "overflow");
}

/* A publish taken by the fast path (no jansson tree) must be what jansson
 * alone makes of the same bytes: same fields, `data` equal as JSON. */
static void check_fast_path(const uint8_t *data, size_t size, const struct request *fast)
{
    struct request ref;
    struct request_error err;
    if (envelope_parse_text_jansson((const char *)data, size, &ref, &err) != 0) {
        if (!refused_for_number_range(&err))
            fprintf(stderr, "jansson: %s\n", err.message);
        fuzz_require(refused_for_number_range(&err), "fast path took what jansson refuses");
        return;
    }
    fuzz_require(ref.op == OP_PUBLISH && fast->op == OP_PUBLISH, "fast path op differs");
    fuzz_require(same_string(fast->topic, ref.topic), "fast path topic differs");
    fuzz_require(same_string(fast->key, ref.key), "fast path key differs");
    fuzz_require(fast->has_id == ref.has_id && fast->id == ref.id, "fast path id differs");
    fuzz_require(fast->echo == ref.echo, "fast path echo differs");
    fuzz_require(strlen(fast->data_text) == fast->data_len, "fast path data_len differs");
    json_error_t jerr;
    json_t *fast_data = json_loadb(fast->data_text, fast->data_len, JSON_DECODE_ANY, &jerr);
    fuzz_require(fast_data != NULL, "fast path data is not valid JSON for jansson");
    fuzz_require(json_equal(fast_data, json_object_get(ref.root, "data")),
                 "fast path data differs from jansson's");
    json_decref(fast_data);
    fuzz_check_request(&ref);
    fuzz_check_message_round_trip(&ref, seq_from_input(data, size));
    request_clear(&ref);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct request req;
    struct request_error err;
    if (envelope_parse_text((const char *)data, size, &req, &err) != 0) {
        fuzz_check_error(&err);
        return 0;
    }
    fuzz_require(!req.is_binary, "a text frame parsed as binary");
    if (req.root == NULL) {
        check_fast_path(data, size, &req);
    } else {
        fuzz_check_request(&req);
        if (req.op == OP_PUBLISH)
            fuzz_check_message_round_trip(&req, seq_from_input(data, size));
    }
    request_clear(&req);
    return 0;
}
