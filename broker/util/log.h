/* SPDX-License-Identifier: MIT */
/*
 * log.h: one line per event on stderr.
 *
 * Owns: the process-wide log level and format. A text line looks like
 * "2026-11-26T05:30:00.123Z info  listening on 0.0.0.0:8080", without its
 * timestamp when stderr is the systemd journal (which stamps every line
 * itself); a json line, for log shippers, like
 * {"ts":"2026-11-26T05:30:00.123Z","level":"info","msg":"listening on 0.0.0.0:8080"}.
 */
#ifndef WSB_LOG_H
#define WSB_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON = 1 };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error|warn|info|debug"; returns 0 or -1. */
int log_level_parse(const char *s, enum log_level *out);

/* Sets the format; for text, also looks whether stderr is the journal
 * (JOURNAL_STREAM names it). Called once, before other threads start. */
void log_set_format(enum log_format format);
/* Parses "text|json"; returns 0 or -1. */
int log_format_parse(const char *s, enum log_format *out);

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)

#endif
