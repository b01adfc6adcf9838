/* SPDX-License-Identifier: MIT */
/*
 * cli_run.h: the `wsb` tool (WSB_BIN) run as a child process by the tests
 * of tests/client/, as a user or a script would run it.
 *
 * Owns: starting it with pipes on its three streams, feeding its stdin,
 * collecting stdout and stderr until it exits (or a number of lines came),
 * its exit status, and reading its stdout as JSON lines.
 */
#ifndef WSB_TEST_CLI_RUN_H
#define WSB_TEST_CLI_RUN_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

struct run {
    pid_t pid;
    int in_fd, out_fd, err_fd;
    char out[65536];
    char err[8192];
    size_t out_len, err_len;
    int status; /* exit status, -1 when killed */
};

/* Starts `wsb ARGS...` (NULL-terminated) with pipes on all three streams. */
void run_start(struct run *r, const char *const *args);
/* Writes input (may be NULL) to its stdin and closes it. */
void run_feed(struct run *r, const char *input);
/* Reads what is there on *fd into buf; closes *fd (-1) at the end. */
void drain(int *fd, char *buf, size_t cap, size_t *len);
/* Reads both outputs until the process ends; 0, or -1 after ms (killed). */
int run_wait(struct run *r, int ms);
/* Reads stdout until it holds `lines` lines or ms pass; nonzero when it does. */
int run_wait_lines(struct run *r, int lines, int ms);
/* Runs `wsb ARGS... NULL` to completion with the given stdin; its exit status. */
int wsb(struct run *r, const char *input, ...);

int count_lines(const char *s);
/* The JSON object on line `index` (0-based) of text; caller decrefs. */
json_t *line_json(const char *text, int index);
json_int_t line_int(const char *text, int index, const char *key);

#endif
