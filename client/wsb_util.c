/*
 * wsb_util.c: URL parsing, raw JSON scanning, base64, topic matching, PRNG,
 * clocks (see wsb_util.h).
 *
 * Exists so that the library and the tools share one implementation of the
 * small things that must agree byte for byte (URLs, binary frames, topic
 * rules), without dragging in the broker's modules.
 */
#include "wsb_util.h"

#include <libwebsockets.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static int url_scheme(const char *url, int *tls, const char **rest)
{
    if (strncmp(url, "ws://", 5) == 0) {
        *tls = 0;
        *rest = url + 5;
        return 0;
    }
    if (strncmp(url, "wss://", 6) == 0) {
        *tls = 1;
        *rest = url + 6;
        return 0;
    }
    return -1;
}

/* Splits "host[:port]" or "[v6]:port" from p[0..len). */
static int url_authority(const char *p, size_t len, struct wsb_url *out)
{
    const char *host = p, *port = NULL;
    size_t hostlen = len;

    if (len && p[0] == '[') {
        const char *close = memchr(p, ']', len);
        if (!close)
            return -1;
        host = p + 1;
        hostlen = (size_t)(close - host);
        if (close + 1 < p + len) {
            if (close[1] != ':')
                return -1;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', len);
        if (colon) {
            hostlen = (size_t)(colon - p);
            port = colon + 1;
        }
    }
    if (!hostlen || hostlen >= sizeof(out->host))
        return -1;
    memcpy(out->host, host, hostlen);
    out->host[hostlen] = '\0';
    if (port) {
        size_t plen = (size_t)(p + len - port);
        char buf[8];
        char *end;
        if (!plen || plen >= sizeof(buf))
            return -1;
        memcpy(buf, port, plen);
        buf[plen] = '\0';
        long n = strtol(buf, &end, 10);
        if (*end || n < 1 || n > 65535)
            return -1;
        out->port = (int)n;
    }
    return 0;
}

int wsb_url_parse(const char *url, struct wsb_url *out, char *err, size_t errlen)
{
    const char *rest;

    memset(out, 0, sizeof(*out));
    if (!url || url_scheme(url, &out->tls, &rest) < 0) {
        set_err(err, errlen, "URL must start with ws:// or wss://");
        return -1;
    }
    out->port = out->tls ? 443 : 80;
    size_t authlen = strcspn(rest, "/?#");
    if (url_authority(rest, authlen, out) < 0) {
        set_err(err, errlen, "URL has a bad host or port");
        return -1;
    }
    const char *path = rest + authlen;
    size_t pathlen = strcspn(path, "#");
    if (pathlen + 2 > sizeof(out->path)) {
        set_err(err, errlen, "URL path too long");
        return -1;
    }
    if (pathlen == 0 || path[0] != '/')
        out->path[0] = '/';
    memcpy(out->path + strlen(out->path), path, pathlen);
    return 0;
}

int wsb_url_add_token(char *path, size_t size, const char *token)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);

    const char *sep = strchr(path, '?') ? "&token=" : "?token=";
    if (n + strlen(sep) + 1 > size)
        return -1;
    memcpy(path + n, sep, strlen(sep) + 1);
    n += strlen(sep);
    for (const unsigned char *t = (const unsigned char *)token; *t; t++) {
        int plain = (*t >= 'A' && *t <= 'Z') || (*t >= 'a' && *t <= 'z') ||
                    (*t >= '0' && *t <= '9') || *t == '-' || *t == '_' || *t == '.' || *t == '~';
        if (n + (plain ? 1 : 3) + 1 > size)
            return -1;
        if (plain) {
            path[n++] = (char)*t;
        } else {
            path[n++] = '%';
            path[n++] = hex[*t >> 4];
            path[n++] = hex[*t & 15];
        }
    }
    path[n] = '\0';
    return 0;
}

/* JSON scanning. The input is known-valid JSON, so the scanner only has to
 * find where a value ends, not to validate it. */

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* s[i] is the opening quote; returns the index just past the closing one. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Returns the index just past the value starting at s[i]. */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (i >= len)
        return len;
    if (s[i] == '"')
        return skip_string(s, len, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        while (i < len) {
            char ch = s[i];
            if (ch == '"') {
                i = skip_string(s, len, i);
                continue;
            }
            if (ch == '{' || ch == '[')
                depth++;
            else if (ch == '}' || ch == ']')
                depth--;
            i++;
            if (depth == 0)
                return i;
        }
        return len;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\t' && s[i] != '\r')
        i++;
    return i;
}

/* Compares the JSON string literal s[start..end) (with quotes) to key. Keys
 * with escapes never match, which is fine for the protocol's field names. */
static int key_equals(const char *s, size_t start, size_t end, const char *key)
{
    size_t klen = strlen(key);
    return end - start == klen + 2 && memcmp(s + start + 1, key, klen) == 0;
}

int wsb_json_member(const char *obj, size_t len, const char *key, const char **val, size_t *vlen)
{
    size_t i = skip_ws(obj, len, 0);
    if (i >= len || obj[i] != '{')
        return -1;
    i++;
    for (;;) {
        i = skip_ws(obj, len, i);
        if (i >= len || obj[i] != '"')
            return -1;
        size_t kstart = i;
        i = skip_string(obj, len, i);
        size_t kend = i;
        i = skip_ws(obj, len, i);
        if (i >= len || obj[i] != ':')
            return -1;
        i = skip_ws(obj, len, i + 1);
        size_t vstart = i;
        i = skip_value(obj, len, i);
        if (key_equals(obj, kstart, kend, key)) {
            *val = obj + vstart;
            *vlen = i - vstart;
            return 0;
        }
        i = skip_ws(obj, len, i);
        if (i >= len || obj[i] != ',')
            return -1;
        i++;
    }
}

int wsb_json_array_next(const char *arr, size_t len, size_t *pos, const char **val, size_t *vlen)
{
    size_t i = *pos;
    if (i == 0) {
        i = skip_ws(arr, len, 0);
        if (i >= len || arr[i] != '[')
            return -1;
        i++;
    } else {
        i = skip_ws(arr, len, i);
        if (i >= len || arr[i] != ',')
            return -1;
        i++;
    }
    i = skip_ws(arr, len, i);
    if (i >= len || arr[i] == ']')
        return -1;
    size_t start = i;
    i = skip_value(arr, len, i);
    *val = arr + start;
    *vlen = i - start;
    *pos = i;
    return 0;
}

/* Base64 is libwebsockets': its coders want a few bytes of slack in the
 * output, which wsb_b64_encoded_len includes. */
#define B64_SLACK 4

size_t wsb_b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4 + 1 + B64_SLACK;
}

void wsb_b64_encode(const unsigned char *in, size_t n, char *out)
{
    if (lws_b64_encode_string((const char *)in, (int)n, out, (int)wsb_b64_encoded_len(n)) < 0)
        out[0] = '\0';
}

/* lws decodes leniently (it skips bad characters and drops a group cut
 * short): only padded standard base64 is handed to it. */
static int b64_is_strict(const char *in, size_t len)
{
    if (len % 4 != 0)
        return 0;
    size_t pad = len >= 1 && in[len - 1] == '=' ? (len >= 2 && in[len - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < len - pad; i++) {
        char ch = in[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/'))
            return 0;
    }
    return 1;
}

long wsb_b64_decode(const char *in, size_t len, unsigned char *out)
{
    if (!b64_is_strict(in, len))
        return -1;
    if (len == 0)
        return 0;
    int n = lws_b64_decode_string_len(in, (int)len, (char *)out, (int)(len / 4 * 3 + 3));
    return n < 0 ? -1 : n;
}

static void quote_put(char *out, size_t size, size_t *n, char ch)
{
    if (*n + 1 < size)
        out[*n] = ch;
    (*n)++;
}

size_t wsb_json_quote(const char *s, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;

    quote_put(out, size, &n, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') {
            quote_put(out, size, &n, '\\');
            quote_put(out, size, &n, (char)*p);
        } else if (*p < 0x20) {
            const char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
            for (int i = 0; i < 6; i++)
                quote_put(out, size, &n, esc[i]);
        } else {
            quote_put(out, size, &n, (char)*p);
        }
    }
    quote_put(out, size, &n, '"');
    if (size)
        out[n < size ? n : size - 1] = '\0';
    return n;
}

size_t wsb_json_minify(const char *in, size_t len, char *out)
{
    size_t n = 0;
    int in_string = 0;

    for (size_t i = 0; i < len; i++) {
        char ch = in[i];
        if (in_string) {
            out[n++] = ch;
            if (ch == '\\' && i + 1 < len)
                out[n++] = in[++i];
            else if (ch == '"')
                in_string = 0;
        } else if (ch == '"') {
            in_string = 1;
            out[n++] = ch;
        } else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') {
            out[n++] = ch;
        }
    }
    out[n] = '\0';
    return n;
}

int wsb_topic_matches(const char *pattern, const char *name)
{
    const char *p = pattern, *n = name;

    if (name[0] == '$' && (pattern[0] == '*' || pattern[0] == '>'))
        return 0;
    for (;;) {
        size_t plen = strcspn(p, ".");
        size_t nlen = strcspn(n, ".");
        if (plen == 1 && p[0] == '>')
            return nlen > 0;
        if (!(plen == 1 && p[0] == '*') && (plen != nlen || memcmp(p, n, plen) != 0))
            return 0;
        p += plen;
        n += nlen;
        if (!*p || !*n)
            return !*p && !*n;
        p++;
        n++;
    }
}

uint64_t wsb_prng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int64_t wsb_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t wsb_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t wsb_wall_ms(void)
{
    return wsb_wall_us() / 1000;
}

int wsb_binary_split(const unsigned char *frame, size_t len, const char **env, size_t *envlen,
                     const unsigned char **payload, size_t *paylen)
{
    if (len < 2)
        return -1;
    size_t h = ((size_t)frame[0] << 8) | frame[1];
    if (h == 0 || 2 + h > len)
        return -1;
    *env = (const char *)frame + 2;
    *envlen = h;
    *payload = frame + 2 + h;
    *paylen = len - 2 - h;
    return 0;
}
