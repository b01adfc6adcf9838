/* SPDX-License-Identifier: MIT */
/*
 * fuzz_envelope_binary.c: libFuzzer target for envelope_parse_binary.
 *
 * Feeds the input as one binary frame, [u16 H][H bytes of JSON][payload]
 * (docs/protocol.md section 2). A parsed frame must be a publish whose payload
 * is exactly the bytes after the envelope; it is then encoded as a stored
 * message and the frame's length header, envelope and payload bytes, and
 * the base64 history form, are checked intact. A refused frame must give a
 * known error code whose `error` reply is a JSON object.
 */
#include <stddef.h>
#include <stdint.h>

#include "proto/envelope.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t seq_from_input(const uint8_t *data, size_t size)
{
    uint64_t seq = size;
    for (size_t i = 0; i < size && i < 8; i++)
        seq = seq << 8 | data[size - 1 - i];
    return seq % ENVELOPE_MAX_ID + 1;
}

static void check_payload_position(const struct request *req, const uint8_t *data, size_t size)
{
    size_t header_len = (size_t)data[0] << 8 | data[1];
    fuzz_require(req->payload == data + 2 + header_len, "payload does not follow the envelope");
    fuzz_require(req->data_len == size - 2 - header_len, "payload length is wrong");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct request req;
    struct request_error err;
    if (envelope_parse_binary(data, size, &req, &err) != 0) {
        fuzz_check_error(&err);
        return 0;
    }
    fuzz_require(req.is_binary && req.op == OP_PUBLISH, "binary frame that is not a publish");
    check_payload_position(&req, data, size);
    fuzz_check_request(&req);
    fuzz_check_message_round_trip(&req, seq_from_input(data, size));
    request_clear(&req);
    return 0;
}
