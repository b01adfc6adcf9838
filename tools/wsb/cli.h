/*
 * cli.h: what the files of the `wsb` command line tool share.
 *
 * Owns: the exit statuses of the tool (part of its documented behaviour)
 * and the entry points of its subcommands.
 */
#ifndef WSB_CLI_H
#define WSB_CLI_H

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

/* Parses a non-negative integer option value; 0 or -1. */
int cli_parse_u64(const char *s, unsigned long long *out);

#endif
