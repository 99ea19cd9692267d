/* fm_ctx: per-thread settings, limits and last error. */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_INPUT_BYTES (64LL * 1024 * 1024)
#define DEFAULT_MAX_PIXELS 40000000LL
#define DEFAULT_MAX_DIMENSION 16384LL
#define DEFAULT_MAX_MODEL_BYTES (256LL * 1024 * 1024)
#define MAX_THREADS 256

const char *fm_version(void) { return FM_VERSION_STRING; }

fm_ctx *fm_ctx_create(void)
{
    fm_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->max_input_bytes = DEFAULT_MAX_INPUT_BYTES;
    ctx->max_pixels = DEFAULT_MAX_PIXELS;
    ctx->max_dimension = DEFAULT_MAX_DIMENSION;
    ctx->threads = 1;
    ctx->max_model_bytes = DEFAULT_MAX_MODEL_BYTES;
    ctx->exif_orientation = 1;
    return ctx;
}

void fm_ctx_destroy(fm_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->nn_scratch) {
        fm_wipe(ctx->nn_scratch, ctx->nn_scratch_cap * sizeof(float));
        free(ctx->nn_scratch);
    }
    free(ctx);
}

const char *fm_ctx_errmsg(const fm_ctx *ctx) { return ctx ? ctx->errmsg : "no context"; }

fm_status fm_ctx_errcode(const fm_ctx *ctx) { return ctx ? ctx->last_status : FM_ERR_INVALID_ARGUMENT; }

void fm_ctx_clear_error(fm_ctx *ctx)
{
    if (!ctx)
        return;
    ctx->last_status = FM_OK;
    ctx->errmsg[0] = '\0';
}

fm_status fm_fail(fm_ctx *ctx, fm_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
        va_end(ap);
        ctx->last_status = status;
    }
    return status;
}

fm_status fm_ctx_set(fm_ctx *ctx, fm_param param, int64_t value)
{
    if (!ctx)
        return FM_ERR_INVALID_ARGUMENT;
    if (param == FM_PARAM_EXIF_ORIENTATION) {
        if (value != 0 && value != 1)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "EXIF orientation setting must be 0 or 1 (got %lld)",
                           (long long)value);
        ctx->exif_orientation = value;
        return FM_OK;
    }
    if (value < 1)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "setting %d must be >= 1 (got %lld)", (int)param,
                       (long long)value);
    switch (param) {
    case FM_PARAM_MAX_INPUT_BYTES: ctx->max_input_bytes = value; return FM_OK;
    case FM_PARAM_MAX_PIXELS: ctx->max_pixels = value; return FM_OK;
    case FM_PARAM_MAX_DIMENSION:
        if (value > 1000000)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "max dimension %lld is above 1000000", (long long)value);
        ctx->max_dimension = value;
        return FM_OK;
    case FM_PARAM_THREADS:
        if (value > MAX_THREADS)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "threads %lld is above %d", (long long)value, MAX_THREADS);
        ctx->threads = value;
        return FM_OK;
    case FM_PARAM_MAX_MODEL_BYTES: ctx->max_model_bytes = value; return FM_OK;
    case FM_PARAM_EXIF_ORIENTATION: break; /* handled above */
    }
    return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown setting %d", (int)param);
}

int64_t fm_ctx_get(const fm_ctx *ctx, fm_param param)
{
    if (!ctx)
        return -1;
    switch (param) {
    case FM_PARAM_MAX_INPUT_BYTES: return ctx->max_input_bytes;
    case FM_PARAM_MAX_PIXELS: return ctx->max_pixels;
    case FM_PARAM_MAX_DIMENSION: return ctx->max_dimension;
    case FM_PARAM_THREADS: return ctx->threads;
    case FM_PARAM_MAX_MODEL_BYTES: return ctx->max_model_bytes;
    case FM_PARAM_EXIF_ORIENTATION: return ctx->exif_orientation;
    }
    return -1;
}

void fm_wipe(void *p, size_t n)
{
    if (!p || !n)
        return;
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
#if defined(__GNUC__)
    __asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

int fm_mul_size(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return 1;
    *out = a * b;
    return 0;
}

fm_status fm_read_file(fm_ctx *ctx, const char *path, int64_t max_bytes, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!path)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "no file path given");
    FILE *f = fopen(path, "rb");
    if (!f)
        return fm_fail(ctx, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    /* read at most max_bytes + 1 bytes: one byte more than allowed proves the file is too large */
    size_t limit = max_bytes < 0 ? 0 : (size_t)max_bytes;
    size_t cap = 0, n = 0;
    uint8_t *buf = NULL;
    fm_status st = FM_OK;
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            if (ncap > limit + 1)
                ncap = limit + 1;
            if (ncap <= cap) { /* n == limit + 1 */
                st = fm_fail(ctx, FM_ERR_LIMIT, "%s is larger than the limit of %lld bytes", path,
                             (long long)max_bytes);
                break;
            }
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory reading %s", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                st = fm_fail(ctx, FM_ERR_IO, "error reading %s", path);
            else if (n > limit)
                st = fm_fail(ctx, FM_ERR_LIMIT, "%s is larger than the limit of %lld bytes", path,
                             (long long)max_bytes);
            break;
        }
    }
    fclose(f);
    if (st != FM_OK) {
        free(buf);
        return st;
    }
    *data = buf;
    *len = n;
    return FM_OK;
}
