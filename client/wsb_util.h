/*
 * wsb_util.h: small pieces shared by libwsb, the wsb tool and its bench.
 *
 * Owns: URL parsing, the raw-JSON value scanner (to pass a message's `data`
 * through byte for byte instead of re-serialising it), base64, topic
 * pattern matching, the per-client PRNG and clocks. Nothing here allocates
 * except where a function says so; nothing here has state.
 *
 * Not part of the public API: the symbols are hidden in the shared library
 * and only the static archive and the tools use them.
 */
#ifndef WSB_UTIL_H
#define WSB_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define WSB_DEFAULT_URL "ws://127.0.0.1:8080/ws"
#define WSB_URL_HOST_MAX 256
#define WSB_URL_PATH_MAX 2048

struct wsb_url {
    int tls;                     /* wss:// */
    char host[WSB_URL_HOST_MAX]; /* without brackets for IPv6 */
    int port;
    char path[WSB_URL_PATH_MAX]; /* starts with '/', includes any query */
};

/* Parses ws://HOST[:PORT][/PATH][?QUERY] or wss://...; 0 or -1 with a reason
 * in err. */
int wsb_url_parse(const char *url, struct wsb_url *out, char *err, size_t errlen);

/* Appends "token=<url-encoded token>" to path as a query parameter. 0 or -1
 * when it does not fit. */
int wsb_url_add_token(char *path, size_t size, const char *token);

/* In the JSON object text obj[0..len) (already known to be valid JSON),
 * finds the value of top-level member `key` and returns its exact bytes in
 * *val, *vlen. Returns 0, or -1 when absent. */
int wsb_json_member(const char *obj, size_t len, const char *key, const char **val, size_t *vlen);

/* Iterates the elements of a JSON array text: *pos starts at 0; each call
 * returns 0 with the next element's bytes, -1 at the end. */
int wsb_json_array_next(const char *arr, size_t len, size_t *pos, const char **val, size_t *vlen);

/* Base64 (standard alphabet, padded), by libwebsockets. encode writes a
 * NUL-terminated string into wsb_b64_encoded_len(n) bytes (slack included).
 * decode returns the decoded length or -1 on bad input; out needs
 * (len / 4) * 3 + 4 bytes. */
size_t wsb_b64_encoded_len(size_t n);
void wsb_b64_encode(const unsigned char *in, size_t n, char *out);
long wsb_b64_decode(const char *in, size_t len, unsigned char *out);

/* Writes s as a JSON string literal (with quotes) into out, at most size
 * bytes with the NUL; returns the length it needed (like snprintf). */
size_t wsb_json_quote(const char *s, char *out, size_t size);

/* Copies the JSON text in[0..len) to out without whitespace outside
 * strings; out needs len + 1 bytes. Returns the new length. */
size_t wsb_json_minify(const char *in, size_t len, char *out);

/* 1 when the topic pattern (with '*' and '>') matches the name. */
int wsb_topic_matches(const char *pattern, const char *name);

/* A splitmix64 generator: seeded per client, no global state. */
uint64_t wsb_prng_next(uint64_t *state);

/* Clocks: monotonic microseconds, and wall-clock milliseconds and
 * microseconds since the Unix epoch. */
int64_t wsb_mono_us(void);
int64_t wsb_wall_ms(void);
int64_t wsb_wall_us(void);

/* The binary frame of docs/protocol.md section 2: [u16 BE H][H bytes JSON][payload].
 * Splits frame[0..len); 0 or -1 when malformed. */
int wsb_binary_split(const unsigned char *frame, size_t len, const char **env, size_t *envlen,
                     const unsigned char **payload, size_t *paylen);

#endif
