/* Minimal JSON writer for the CLI. */
#include "cli.h"

#include <math.h>

static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20)
                fprintf(f, "\\u%04x", *p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

static void put_key(cli_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fputc(',', j->f);
    j->need_comma[j->depth] = 1;
    if (key) {
        put_string(j->f, key);
        fputc(':', j->f);
    }
}

void json_begin(cli_json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    for (int i = 0; i < 64; i++)
        j->need_comma[i] = 0;
}

static void open_(cli_json *j, const char *key, char c)
{
    put_key(j, key);
    fputc(c, j->f);
    if (j->depth < 63)
        j->depth++;
    j->need_comma[j->depth] = 0;
}

static void close_(cli_json *j, char c)
{
    fputc(c, j->f);
    if (j->depth > 0)
        j->depth--;
}

void json_obj_open(cli_json *j, const char *key) { open_(j, key, '{'); }
void json_obj_close(cli_json *j) { close_(j, '}'); }
void json_arr_open(cli_json *j, const char *key) { open_(j, key, '['); }
void json_arr_close(cli_json *j) { close_(j, ']'); }

void json_str(cli_json *j, const char *key, const char *value)
{
    put_key(j, key);
    if (value)
        put_string(j->f, value);
    else
        fputs("null", j->f);
}

void json_int(cli_json *j, const char *key, long long value)
{
    put_key(j, key);
    fprintf(j->f, "%lld", value);
}

void json_num(cli_json *j, const char *key, double value)
{
    put_key(j, key);
    if (isfinite(value))
        fprintf(j->f, "%.9g", value);
    else
        fputs("null", j->f);
}

void json_bool(cli_json *j, const char *key, int value)
{
    put_key(j, key);
    fputs(value ? "true" : "false", j->f);
}

void json_null(cli_json *j, const char *key)
{
    put_key(j, key);
    fputs("null", j->f);
}

void json_end(cli_json *j) { fputc('\n', j->f); fflush(j->f); }
