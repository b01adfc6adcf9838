/* SPDX-License-Identifier: MIT */
/*
 * cli.h: what the files of the `wsb` command line tool share.
 *
 * Owns: the exit statuses of the tool (part of its documented behaviour),
 * the entry points of its subcommands (cli_pub.c, cli_sub.c, cli_backup.c,
 * bench.c), and
 * what wsb.c gives them: the options they share, connecting, printing a
 * message, and the interrupt flag.
 */
#ifndef WSB_CLI_H
#define WSB_CLI_H

#include "wsb.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

enum cli_exit {
    CLI_OK = 0,     /* everything asked was done */
    CLI_FAIL = 1,   /* the broker refused something, or the input was bad */
    CLI_USAGE = 2,  /* bad command line */
    CLI_CONNECT = 3 /* could not reach the broker, or lost it for good */
};

int cli_pub(int argc, char **argv);
int cli_sub(int argc, char **argv);
int cli_history(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_backup(int argc, char **argv);

/* Parses a non-negative integer option value; 0 or -1. */
int cli_parse_u64(const char *s, unsigned long long *out);

/* The most --url values, and the most broker URLs in them all. */
#define CLI_MAX_URL_ARGS 16
#define CLI_MAX_URLS 64

/* Options every subcommand shares. --url and --token may also come from
 * WSB_URL and WSB_TOKEN; the flags win. --url may be given several times,
 * each a URL or a comma-separated list of them: brokers that serve as one,
 * tried round robin (wsb_options.urls). */
struct cli_common {
    const char *url;                        /* the first --url value (or WSB_URL, or the default) */
    const char *url_args[CLI_MAX_URL_ARGS]; /* every --url value, or WSB_URL */
    int n_url_args;
    const char *token;      /* --token */
    const char *token_file; /* --token-file */
    const char *cacert;     /* --cacert: PEM file of the CAs trusted for wss:// */
    int insecure;           /* --insecure: no certificate verification */
    int timeout_s;
    int verbose;
    bool url_flag; /* --url was given */
};

enum {
    OPT_URL = 1000,
    OPT_TOKEN,
    OPT_TIMEOUT,
    OPT_SINCE,
    OPT_LAST,
    OPT_COUNT,
    OPT_LIMIT,
    OPT_KEY,
    OPT_NO_ECHO,
    OPT_BINARY,
    OPT_QUIET,
    OPT_INSECURE,
    OPT_PRESENCE,
    OPT_EXPECT_LAST,
    OPT_CONFLATE,
    OPT_TOKEN_FILE,
    OPT_CACERT,
    CLI_OPT_HELP = -2,
    CLI_OPT_USAGE = -3
};

/* The usage lines of the options every connecting subcommand shares. */
#define CLI_COMMON_USAGE                                                                           \
    "  --url URL        broker (default " WSB_DEFAULT_URL ");\n"                                   \
    "                   several brokers serving as one: --url again, or URL,URL,...\n"             \
    "  --token T        JWT or API key (shows in ps: prefer --token-file or WSB_TOKEN)\n"          \
    "  --token-file F   read the token from F (again at every reconnect)\n"                        \
    "  --cacert FILE    PEM file of the CAs to trust for wss:// (default: the system's)\n"         \
    "  --insecure       wss:// without verifying the certificate (tests only)\n"                   \
    "  --timeout S      seconds to wait for the broker (default 10)\n"                             \
    "  -v, --verbose    report connection events on stderr\n"                                      \
    "Environment: WSB_TOKEN, the token when no --token or --token-file is given.\n"

/* The next option of a subcommand's command line (argv[0] names the
 * subcommand), the shared ones (--url, --token, --token-file, --cacert,
 * --insecure, --timeout, --verbose, --help) handled into co on the way; opts
 * lists the subcommand's own: its value, -1
 * at the end, CLI_OPT_HELP when --help printed the usage on stdout, or
 * CLI_OPT_USAGE when a bad or unknown option was reported on stderr. */
int cli_next_option(int argc, char **argv, const char *shortopts, const struct option *opts,
                    struct cli_common *co, const char *usage);

/* Creates the client and connects; prints why not and returns NULL with
 * the exit status in *rc (usage for a bad URL, connect otherwise). */
wsb_client *cli_connect(struct cli_common *co, int max_reconnects, int *rc);

/* The token to present (cli_creds.c): token (--token), else the content
 * of token_file, else $WSB_TOKEN. *out gets a malloc'ed copy, or NULL for
 * none. 0, or -1 with the reason in err. */
int cli_token_resolve(const char *token, const char *token_file, char **out, char *err,
                      size_t errlen);
/* A wsb_token_fn reading the token file named by arg. */
int cli_token_from_file(wsb_client *c, char *buf, size_t size, void *arg);

/* Writes a message as one JSON object line. */
void cli_print_message(FILE *out, const struct wsb_message *m);

/* SIGINT and SIGTERM set the interrupt flag; SIGPIPE is ignored. */
void cli_install_signals(void);
bool cli_interrupted(void);

#endif
