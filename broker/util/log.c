/* SPDX-License-Identifier: MIT */
/*
 * log.c: one line per event on stderr, filtered by level (see log.h).
 *
 * Owns: the process-wide level and format, global because every module
 * logs and none should carry a logger around; both are set once at start.
 * Thread-safe: each line is formatted into a local buffer and written with
 * one write(2), so lines of the store thread and the service thread never
 * interleave.
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/jquote.h"

#define LOG_LINE_MAX 1024
/* A message quoted as JSON: at most 6 bytes per byte (\u00XX), quotes, NUL. */
#define LOG_QUOTED_MAX (6 * LOG_LINE_MAX + 3)

static volatile enum log_level current_level = LOG_INFO;
static enum log_format current_format = LOG_FORMAT_TEXT;
static bool text_stamped = true; /* false when the journal stamps the lines */
static const char *level_names[] = {"error", "warn ", "info ", "debug"};
static const char *level_words[] = {"error", "warn", "info", "debug"};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

/* Finds `s` among the `count` words; its index or -1. */
static int log_word_index(const char *const *words, int count, const char *s)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(s, words[i]) == 0)
            return i;
    }
    return -1;
}

int log_level_parse(const char *s, enum log_level *out)
{
    int i = log_word_index(level_words, 4, s);
    if (i < 0)
        return -1;
    *out = (enum log_level)i;
    return 0;
}

int log_format_parse(const char *s, enum log_format *out)
{
    static const char *const formats[] = {"text", "json"};
    int i = log_word_index(formats, 2, s);
    if (i < 0)
        return -1;
    *out = (enum log_format)i;
    return 0;
}

/* Whether stderr is the stream systemd named in JOURNAL_STREAM ("dev:ino"):
 * the variable alone is inherited by children whose stderr is elsewhere. */
static bool log_stderr_is_journal(void)
{
    const char *stream = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat sb;
    if (!stream || sscanf(stream, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &sb) != 0)
        return false;
    return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
}

void log_set_format(enum log_format format)
{
    current_format = format;
    text_stamped = !log_stderr_is_journal();
}

/* "2026-11-26T05:30:00.123Z" into out (at least 32 bytes). */
static void log_timestamp(char *out, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03dZ", (int)(tv.tv_usec / 1000));
}

/* Writes the message as one line in the current format. */
static void log_emit(enum log_level level, const char *msg)
{
    char ts[32];
    log_timestamp(ts, sizeof(ts));
    char line[LOG_QUOTED_MAX + 96];
    int n;
    if (current_format == LOG_FORMAT_JSON) {
        char quoted[LOG_QUOTED_MAX];
        jquote_string(msg, quoted, sizeof(quoted));
        n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":%s}\n", ts,
                     level_words[level], quoted);
    } else if (text_stamped) {
        n = snprintf(line, sizeof(line), "%s %s %s\n", ts, level_names[level], msg);
    } else {
        n = snprintf(line, sizeof(line), "%s %s\n", level_names[level], msg);
    }
    if (n < 0)
        return;
    ssize_t ignored =
        write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    (void)ignored;
}

void log_write(enum log_level level, const char *fmt, ...)
{
    if (level > current_level)
        return;
    char msg[LOG_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m < 0)
        msg[0] = '\0';
    log_emit(level, msg);
}
