/* Shared helpers of the facematch CLI. */
#ifndef FM_CLI_H
#define FM_CLI_H

#include "facematch.h"

#include <stdio.h>

/* Exit codes (documented in `facematch --help` and the README). */
enum {
    FM_EXIT_OK = 0,        /* success (for checks: the check passed) */
    FM_EXIT_FAIL = 1,      /* the operation ran and its answer is negative (no match, invalid verdict, ...) */
    FM_EXIT_USAGE = 2,     /* bad command line */
    FM_EXIT_INPUT = 3,     /* bad input: unreadable, malformed or unsupported file */
    FM_EXIT_MODEL = 4,     /* a model is missing or fails verification */
    FM_EXIT_CARD = 5,      /* card or reader problem */
    FM_EXIT_INTERNAL = 70  /* internal error */
};

#define FM_CMD(name, fn, summary) int fn(int argc, char **argv);
#include "commands.def"
#undef FM_CMD

/* Maps a library status to an exit code. */
int cli_exit_for(fm_status st);
/* Prints "facematch <cmd>: <msg>" on stderr and returns the exit code for st. */
int cli_error(const char *cmd, fm_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* True if argv[i] is -h or --help. */
int cli_is_help(const char *arg);
/* Returns the models directory: --models DIR if given (argv scanned, the pair removed), else the default. */
const char *cli_models_dir(int *argc, char **argv, char *buf, size_t cap);

/* Minimal streaming JSON writer (compact output, proper string escaping, no trailing commas). */
typedef struct cli_json {
    FILE *f;
    int depth;
    int need_comma[64];
} cli_json;
void json_begin(cli_json *j, FILE *f);
void json_obj_open(cli_json *j, const char *key);   /* key NULL inside arrays / at top level */
void json_obj_close(cli_json *j);
void json_arr_open(cli_json *j, const char *key);
void json_arr_close(cli_json *j);
void json_str(cli_json *j, const char *key, const char *value); /* value NULL writes null */
void json_int(cli_json *j, const char *key, long long value);
void json_num(cli_json *j, const char *key, double value);      /* non-finite values write null */
void json_bool(cli_json *j, const char *key, int value);
void json_null(cli_json *j, const char *key);
void json_end(cli_json *j);                                      /* newline */

#endif
