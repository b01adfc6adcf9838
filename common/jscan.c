/* SPDX-License-Identifier: MIT */
/*
 * jscan.c: strict JSON scanning (see jscan.h).
 */
#include "common/jscan.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char *jscan_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

size_t jscan_utf8_len(const unsigned char *p, const unsigned char *end)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return n;
}

bool jscan_utf8_valid(const unsigned char *p, size_t len)
{
    const unsigned char *end = p + len;
    while (p < end) {
        if (end - p >= 8) {
            uint64_t w;
            memcpy(&w, p, sizeof(w));
            if ((w & 0x8080808080808080ULL) == 0) { /* 8 ASCII bytes */
                p += 8;
                continue;
            }
        }
        size_t n = jscan_utf8_len(p, end);
        if (n == 0)
            return false;
        p += n;
    }
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* p after "\u": the code unit, or -1. */
static int32_t read_u16(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    int32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

/* p at '\\': the byte after the escape (a surrogate pair counts as one),
 * or NULL. */
static const char *scan_escape(const char *p, const char *end)
{
    if (end - p < 2)
        return NULL;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return p + 2;
    case 'u':
        break;
    default:
        return NULL;
    }
    int32_t unit = read_u16(p + 2, end);
    if (unit < 0 || (unit >= 0xDC00 && unit <= 0xDFFF))
        return NULL; /* a lone low surrogate */
    if (unit == 0)
        return NULL; /* jansson refuses NUL inside strings */
    if (unit < 0xD800 || unit > 0xDBFF)
        return p + 6;
    /* a high surrogate must be followed by a low one */
    if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
        return NULL;
    int32_t low = read_u16(p + 8, end);
    if (low < 0xDC00 || low > 0xDFFF)
        return NULL;
    return p + 12;
}

/* The high bit of each of the 8 bytes of w that needs a closer look: a
 * quote, a backslash, a control character or a non-ASCII byte. (The
 * classic "has a zero byte" bit trick, applied to w ^ '"', w ^ '\\' and
 * w - 0x20.) A borrow can also flag a plain byte, but only one above a
 * special one: the lowest flag is always exact. */
static uint64_t word_specials(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t quote = w ^ (ones * '"');
    uint64_t backslash = w ^ (ones * '\\');
    uint64_t special =
        ((quote - ones) & ~quote) | ((backslash - ones) & ~backslash) | (w - ones * 0x20) | w;
    return special & highs;
}

/* Skips plain ASCII string bytes 8 at a time (long payload strings are
 * most of a published message's bytes), stopping at the first special
 * byte. */
static const char *skip_plain(const char *p, const char *end)
{
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, sizeof(w));
        uint64_t specials = word_specials(w);
        if (specials) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            p += __builtin_ctzll(specials) / 8; /* the first byte in memory */
#endif
            break;
        }
        p += 8;
    }
    return p;
}

const char *jscan_string(const char *p, const char *end, bool *escaped)
{
    *escaped = false;
    p++; /* the opening quote */
    while (p < end) {
        p = skip_plain(p, end);
        if (p >= end)
            break;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c == '\\') {
            *escaped = true;
            if (!(p = scan_escape(p, end)))
                return NULL;
            continue;
        }
        if (c < 0x20)
            return NULL;
        if (c < 0x80) {
            p++;
            continue;
        }
        size_t n = jscan_utf8_len((const unsigned char *)p, (const unsigned char *)end);
        if (n == 0)
            return NULL;
        p += n;
    }
    return NULL;
}

static const char *scan_digits(const char *p, const char *end)
{
    const char *start = p;
    while (p < end && *p >= '0' && *p <= '9')
        p++;
    return p > start ? p : NULL;
}

/* True when the number text [start, end) is too large for a double (it
 * would read as infinity), which jansson and most JSON readers refuse. Only
 * a number with an exponent or more than DBL_MAX_10_EXP digits can be, so
 * the common case costs nothing. */
static bool number_overflows(const char *start, const char *end, bool has_exponent)
{
    size_t len = (size_t)(end - start);
    if (!has_exponent && len <= DBL_MAX_10_EXP)
        return false;
    char small[64];
    char *copy = len < sizeof(small) ? small : malloc(len + 1);
    if (!copy)
        return true;
    memcpy(copy, start, len);
    copy[len] = '\0';
    errno = 0;
    double v = strtod(copy, NULL);
    bool overflow = errno == ERANGE && isinf(v);
    if (copy != small)
        free(copy);
    return overflow;
}

static const char *scan_number(const char *p, const char *end)
{
    const char *start = p;
    bool has_exponent = false;
    if (p < end && *p == '-')
        p++;
    if (p < end && *p == '0')
        p++;
    else if (!(p = scan_digits(p, end)))
        return NULL;
    if (p < end && *p == '.' && !(p = scan_digits(p + 1, end)))
        return NULL;
    if (p < end && (*p == 'e' || *p == 'E')) {
        has_exponent = true;
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!(p = scan_digits(p, end)))
            return NULL;
    }
    return number_overflows(start, p, has_exponent) ? NULL : p;
}

static const char *scan_literal(const char *p, const char *end, const char *word, size_t len)
{
    if ((size_t)(end - p) < len)
        return NULL;
    for (size_t i = 0; i < len; i++)
        if (p[i] != word[i])
            return NULL;
    return p + len;
}

static const char *scan_value(const char *p, const char *end, int depth);

/* p at '[' or '{'. */
static const char *scan_container(const char *p, const char *end, int depth)
{
    if (depth >= JSCAN_MAX_DEPTH)
        return NULL;
    char close = *p == '[' ? ']' : '}';
    bool is_object = *p == '{';
    p = jscan_skip_ws(p + 1, end);
    if (p < end && *p == close)
        return p + 1;
    for (;;) {
        if (is_object) {
            bool escaped;
            if (p >= end || *p != '"' || !(p = jscan_string(p, end, &escaped)))
                return NULL;
            p = jscan_skip_ws(p, end);
            if (p >= end || *p != ':')
                return NULL;
            p = jscan_skip_ws(p + 1, end);
        }
        if (!(p = scan_value(p, end, depth + 1)))
            return NULL;
        p = jscan_skip_ws(p, end);
        if (p < end && *p == close)
            return p + 1;
        if (p >= end || *p != ',')
            return NULL;
        p = jscan_skip_ws(p + 1, end);
    }
}

static const char *scan_value(const char *p, const char *end, int depth)
{
    if (p >= end)
        return NULL;
    bool escaped;
    switch (*p) {
    case '"':
        return jscan_string(p, end, &escaped);
    case '{':
    case '[':
        return scan_container(p, end, depth);
    case 't':
        return scan_literal(p, end, "true", 4);
    case 'f':
        return scan_literal(p, end, "false", 5);
    case 'n':
        return scan_literal(p, end, "null", 4);
    default:
        return scan_number(p, end);
    }
}

const char *jscan_value(const char *p, const char *end, int depth)
{
    return scan_value(p, end, depth);
}

bool jscan_member(const char *p, const char *end, const char *name, struct jspan *value)
{
    size_t name_len = strlen(name);
    bool found = false;
    p = jscan_skip_ws(p, end);
    if (p >= end || *p != '{')
        return false;
    p = jscan_skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        bool escaped;
        const char *n = p + 1;
        if (!(p = jscan_string(p, end, &escaped)) || escaped)
            return false;
        bool match = (size_t)(p - 1 - n) == name_len && memcmp(n, name, name_len) == 0;
        p = jscan_skip_ws(p, end);
        if (p >= end || *p != ':')
            return false;
        const char *v = jscan_skip_ws(p + 1, end);
        if (!(p = jscan_value(v, end, 1)))
            return false;
        if (match) {
            *value = (struct jspan){v, p};
            found = true;
        }
        p = jscan_skip_ws(p, end);
        if (p < end && *p == ',')
            p = jscan_skip_ws(p + 1, end);
    }
    return found;
}

long jscan_items(const char *p, const char *end, struct jspan *items, size_t max)
{
    size_t n = 0;
    p = jscan_skip_ws(p, end);
    if (p >= end || *p != '[')
        return -1;
    p = jscan_skip_ws(p + 1, end);
    while (p < end && *p != ']') {
        const char *v = p;
        if (n == max || !(p = jscan_value(v, end, 1)))
            return -1;
        items[n++] = (struct jspan){v, p};
        p = jscan_skip_ws(p, end);
        if (p < end && *p == ',')
            p = jscan_skip_ws(p + 1, end);
    }
    return (long)n;
}
