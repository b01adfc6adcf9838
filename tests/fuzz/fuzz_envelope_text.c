/*
 * fuzz_envelope_text.c: libFuzzer target for envelope_parse_text.
 *
 * Feeds the input as one text frame. A parsed request must hold the
 * invariants of fuzz_common.c (valid op and topic, fields in range, `data`
 * re-serialized as equal JSON), and a publish must encode into a `message`
 * frame and a history object that carry it intact. A refused frame must give
 * a known error code whose `error` reply is a JSON object. ASan and UBSan
 * catch memory errors and leaks (request_clear must release everything).
 */
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct request req;
    struct request_error err;
    if (envelope_parse_text((const char *)data, size, &req, &err) != 0) {
        fuzz_check_error(&err);
        return 0;
    }
    fuzz_require(!req.is_binary, "a text frame parsed as binary");
    fuzz_check_request(&req);
    if (req.op == OP_PUBLISH)
        fuzz_check_message_round_trip(&req, seq_from_input(data, size));
    request_clear(&req);
    return 0;
}
