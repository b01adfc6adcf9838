/* SPDX-License-Identifier: MIT */
/*
 * cli_run.c: running the `wsb` tool from a test; see cli_run.h.
 */
#include "cli_run.h"

#include "harness.h"

#include <check.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/* Starts `wsb ARGS...` (NULL-terminated) with pipes on all three streams. */
void run_start(struct run *r, const char *const *args)
{
    int in[2], out[2], err[2];
    const char *argv[32];
    int n = 0;

    memset(r, 0, sizeof(*r));
    ck_assert(pipe(in) == 0 && pipe(out) == 0 && pipe(err) == 0);
    argv[n++] = harness_wsb_bin();
    for (int i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    r->pid = fork();
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(in[1]);
        close(out[0]);
        close(err[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    r->in_fd = in[1];
    r->out_fd = out[0];
    r->err_fd = err[0];
}

void run_feed(struct run *r, const char *input)
{
    if (input && write(r->in_fd, input, strlen(input)) != (ssize_t)strlen(input))
        ck_abort_msg("short write to wsb's stdin");
    close(r->in_fd);
    r->in_fd = -1;
}

void drain(int *fd, char *buf, size_t cap, size_t *len)
{
    ssize_t n = read(*fd, buf + *len, cap - 1 - *len);
    if (n <= 0) {
        close(*fd);
        *fd = -1;
        return;
    }
    *len += (size_t)n;
    buf[*len] = '\0';
}

/* Reads both outputs until the process ends; 0, or -1 after ms. */
int run_wait(struct run *r, int ms)
{
    long long deadline = harness_now_ms() + ms;
    while ((r->out_fd >= 0 || r->err_fd >= 0) && harness_now_ms() < deadline) {
        struct pollfd p[2] = {{.fd = r->out_fd, .events = POLLIN},
                              {.fd = r->err_fd, .events = POLLIN}};
        if (poll(p, 2, 50) <= 0)
            continue;
        if (p[0].revents)
            drain(&r->out_fd, r->out, sizeof(r->out), &r->out_len);
        if (p[1].revents)
            drain(&r->err_fd, r->err, sizeof(r->err), &r->err_len);
    }
    if (r->out_fd >= 0 || r->err_fd >= 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        return -1;
    }
    int st;
    waitpid(r->pid, &st, 0);
    r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return 0;
}

/* Runs wsb to completion with the given stdin; returns its exit status. */
int wsb(struct run *r, const char *input, ...)
{
    const char *args[32];
    va_list ap;
    int n = 0;
    va_start(ap, input);
    for (const char *a = va_arg(ap, const char *); a && n < 31; a = va_arg(ap, const char *))
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    run_start(r, args);
    run_feed(r, input);
    ck_assert_msg(run_wait(r, 20000) == 0, "wsb did not finish; stderr: %s", r->err);
    return r->status;
}

int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* The JSON object on line `index` (0-based) of text; caller decrefs. */
json_t *line_json(const char *text, int index)
{
    const char *p = text;
    for (int i = 0; i < index && p; i++) {
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    ck_assert_ptr_nonnull(p);
    size_t len = strcspn(p, "\n");
    json_error_t err;
    json_t *v = json_loadb(p, len, 0, &err);
    ck_assert_msg(v != NULL, "line %d is not JSON: %.*s", index, (int)len, p);
    return v;
}

json_int_t line_int(const char *text, int index, const char *key)
{
    json_t *v = line_json(text, index);
    json_int_t n = json_integer_value(json_object_get(v, key));
    json_decref(v);
    return n;
}

int run_wait_lines(struct run *r, int lines, int ms)
{
    long long deadline = harness_now_ms() + ms;
    while (count_lines(r->out) < lines && r->out_fd >= 0 && harness_now_ms() < deadline) {
        struct pollfd p = {.fd = r->out_fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0)
            drain(&r->out_fd, r->out, sizeof(r->out), &r->out_len);
    }
    return count_lines(r->out) >= lines;
}
