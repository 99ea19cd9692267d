/* facematch command-line tool: dispatches to the commands listed in commands.def. */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static const command commands[] = {
#define FM_CMD(name, fn, summary) {name, fn, summary},
#include "commands.def"
#undef FM_CMD
};

static void usage(FILE *f)
{
    fprintf(f, "usage: facematch <command> [options]   (facematch <command> --help for its options)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 success; 1 negative answer (no match, invalid verdict); 2 bad command line;\n"
               "            3 bad input file; 4 model missing or failing verification; 5 card or reader problem;\n"
               "            70 internal error\n"
               "environment: FACEMATCH_MODELS  models directory (default $XDG_CACHE_HOME/facematch/models)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return FM_EXIT_USAGE;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return FM_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("facematch %s\n", fm_version());
        return FM_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "facematch: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return FM_EXIT_USAGE;
}

int cli_exit_for(fm_status st)
{
    switch (st) {
    case FM_OK: return FM_EXIT_OK;
    case FM_ERR_INVALID_ARGUMENT: return FM_EXIT_USAGE;
    case FM_ERR_IO:
    case FM_ERR_LIMIT:
    case FM_ERR_UNSUPPORTED:
    case FM_ERR_FORMAT:
    case FM_ERR_CORRUPT:
    case FM_ERR_TRUNCATED:
    case FM_ERR_NO_FACE:
    case FM_ERR_MULTIPLE_FACES: return FM_EXIT_INPUT;
    case FM_ERR_MODEL_MISSING:
    case FM_ERR_MODEL_INVALID:
    case FM_ERR_MODEL_HASH: return FM_EXIT_MODEL;
    case FM_ERR_CARD_TRANSPORT:
    case FM_ERR_CARD_STATUS:
    case FM_ERR_CARD_RESPONSE:
    case FM_ERR_PIN_FORMAT:
    case FM_ERR_PIN_WRONG:
    case FM_ERR_PIN_LOCKED:
    case FM_ERR_PIN_LAST_TRY:
    case FM_ERR_NOT_FOUND: return FM_EXIT_CARD;
    case FM_ERR_VERIFY: return FM_EXIT_FAIL;
    default: return FM_EXIT_INTERNAL;
    }
}

int cli_error(const char *cmd, fm_status st, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "facematch %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return cli_exit_for(st);
}

int cli_is_help(const char *arg) { return arg && (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0); }

const char *cli_models_dir(int *argc, char **argv, char *buf, size_t cap)
{
    for (int i = 1; i < *argc; i++) {
        if (strcmp(argv[i], "--models") == 0 && i + 1 < *argc) {
            snprintf(buf, cap, "%s", argv[i + 1]);
            memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof argv[0]);
            *argc -= 2;
            argv[*argc] = NULL;
            return buf;
        }
    }
    if (fm_models_default_dir(buf, cap) != FM_OK)
        snprintf(buf, cap, ".");
    return buf;
}
