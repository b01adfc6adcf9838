/* SPDX-License-Identifier: MIT */
/*
 * binframe.c: see binframe.h.
 */
#include "common/binframe.h"

int binframe_split(const unsigned char *frame, size_t len, const char **env, size_t *env_len,
                   const unsigned char **payload, size_t *payload_len)
{
    if (len < 2)
        return -1;
    size_t h = ((size_t)frame[0] << 8) | frame[1];
    if (h + 2 > len)
        return -1;
    *env = (const char *)frame + 2;
    *env_len = h;
    *payload = frame + 2 + h;
    *payload_len = len - 2 - h;
    return 0;
}

int binframe_put_prefix(unsigned char out[2], size_t env_len)
{
    if (env_len > BINFRAME_MAX_ENVELOPE)
        return -1;
    out[0] = (unsigned char)(env_len >> 8);
    out[1] = (unsigned char)(env_len & 0xff);
    return 0;
}
