/* SPDX-License-Identifier: MIT */
/*
 * base64.c: strict base64 on top of libwebsockets' codec (see base64.h).
 */
#include "common/base64.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libwebsockets.h>

static bool base64_is_alphabet(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int base64_decode_strict(const char *text, size_t len, unsigned char **out, size_t *out_len)
{
    size_t pad = 0;
    while (pad < 2 && len > pad && text[len - 1 - pad] == '=')
        pad++;
    size_t body = len - pad;
    for (size_t i = 0; i < body; i++)
        if (!base64_is_alphabet(text[i]))
            return -1;
    if (body % 4 == 1 || (pad && (body + pad) % 4 != 0) || body > (size_t)INT32_MAX - 8)
        return -1;
    char *padded = malloc(body + 4);
    unsigned char *bytes = malloc(body + 8); /* lws wants room beyond the decoded bytes */
    if (!padded || !bytes) {
        free(padded);
        free(bytes);
        return -1;
    }
    memcpy(padded, text, body);
    size_t plen = body;
    while (plen % 4)
        padded[plen++] = '=';
    padded[plen] = '\0';
    int n = lws_b64_decode_string_len(padded, (int)plen, (char *)bytes, (int)body + 8);
    free(padded);
    if (n < 0) {
        free(bytes);
        return -1;
    }
    bytes[n] = '\0';
    *out = bytes;
    *out_len = (size_t)n;
    return 0;
}

size_t base64_encoded_size(size_t n)
{
    return (n + 2) / 3 * 4 + 8; /* lws wants slack past the text */
}

size_t base64_encode(const unsigned char *in, size_t n, char *out)
{
    int len = lws_b64_encode_string((const char *)in, (int)n, out, (int)base64_encoded_size(n));
    if (len < 0) {
        out[0] = '\0';
        return 0;
    }
    return (size_t)len;
}
