/* SPDX-License-Identifier: MIT */
/*
 * fuzz_common.h: checks shared by the libFuzzer targets.
 *
 * Owns: the invariants every parsed request and every encoded reply must
 * hold (docs/protocol.md sections 2, 4 and 7), written once so that the text and
 * the binary envelope targets check the same things. A violated invariant
 * prints what failed and aborts, which libFuzzer reports as a crash with the
 * input that caused it.
 */
#ifndef WSB_FUZZ_COMMON_H
#define WSB_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "proto/envelope.h"

/* Aborts with `what` on stderr unless `ok`. */
void fuzz_require(bool ok, const char *what);

/* Checks the fields of a successfully parsed request (text or binary). */
void fuzz_check_request(const struct request *req);

/* Checks a parse failure: a known error code, a bounded message, and an
 * `error` reply that is a JSON object carrying that code and id. */
void fuzz_check_error(const struct request_error *err);

/* Encodes the request's publish as a stored message (seq, ts and, when the
 * request has a key, that key as the publisher's user) and checks the
 * `message` frame and the history JSON object carry everything intact. */
void fuzz_check_message_round_trip(const struct request *req, uint64_t seq);

#endif
