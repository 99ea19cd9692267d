/* Strict reader for dlib's serialization format. See dlib_ser.h. */
#include "dlib_ser.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dser_init(dser *r, const void *data, size_t len, const char *what)
{
    memset(r, 0, sizeof *r);
    r->p = (const uint8_t *)data;
    r->len = data ? len : 0;
    r->what = what ? what : "model";
}

int dser_fail(dser *r, const char *fmt, ...)
{
    if (r->failed)
        return -1;
    r->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(r->err, sizeof r->err, "%s: %s (at byte %zu of %zu)", r->what, msg, r->pos, r->len);
    return -1;
}

static int need(dser *r, size_t n)
{
    if (r->failed)
        return -1;
    if (n > r->len - r->pos)
        return dser_fail(r, "file ends early (need %zu more bytes)", n);
    return 0;
}

int dser_skip(dser *r, size_t n)
{
    if (need(r, n))
        return -1;
    r->pos += n;
    return 0;
}

static int read_mag(dser *r, int max_bytes, uint64_t *mag, int *neg, int is_signed)
{
    if (need(r, 1))
        return -1;
    uint8_t c = r->p[r->pos++];
    int n;
    if (is_signed) {
        *neg = (c & 0x80) != 0;
        n = c & 0x0F;
        if (c & 0x70)
            return dser_fail(r, "bad integer control byte 0x%02x", c);
    } else {
        *neg = 0;
        c &= 0x8F;
        if (c & 0x80)
            return dser_fail(r, "negative value where an unsigned integer was expected");
        n = c;
    }
    if (n == 0 || n > max_bytes)
        return dser_fail(r, "integer of %d bytes where at most %d are allowed", n, max_bytes);
    if (need(r, (size_t)n))
        return -1;
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | r->p[r->pos + (size_t)i];
    r->pos += (size_t)n;
    *mag = v;
    return 0;
}

int dser_i64(dser *r, int64_t *v, int max_bytes)
{
    uint64_t mag = 0;
    int neg = 0;
    if (read_mag(r, max_bytes, &mag, &neg, 1))
        return -1;
    if (mag > (uint64_t)INT64_MAX)
        return dser_fail(r, "integer out of range");
    *v = neg ? -(int64_t)mag : (int64_t)mag;
    return 0;
}

int dser_u64(dser *r, uint64_t *v, int max_bytes)
{
    int neg = 0;
    return read_mag(r, max_bytes, v, &neg, 0);
}

int dser_expect_int(dser *r, int64_t want, const char *field)
{
    int64_t v = 0;
    if (dser_i64(r, &v, 8))
        return -1;
    if (v != want)
        return dser_fail(r, "%s is %lld, expected %lld", field, (long long)v, (long long)want);
    return 0;
}

int dser_int_range(dser *r, int64_t *v, int64_t lo, int64_t hi, const char *field)
{
    if (dser_i64(r, v, 8))
        return -1;
    if (*v < lo || *v > hi)
        return dser_fail(r, "%s is %lld, expected %lld..%lld", field, (long long)*v, (long long)lo, (long long)hi);
    return 0;
}

static int read_float_details(dser *r, int64_t *mant, int64_t *ex)
{
    if (need(r, 1))
        return -1;
    if (r->p[r->pos] & 0x70)
        return dser_fail(r, "legacy ASCII floating point value is not supported");
    if (dser_i64(r, mant, 8) || dser_i64(r, ex, 2))
        return -1;
    return 0;
}

int dser_float(dser *r, float *v, int allow_nonfinite)
{
    int64_t m = 0, e = 0;
    if (read_float_details(r, &m, &e))
        return -1;
    if (e >= 32000) {
        if (!allow_nonfinite || e > 32002)
            return dser_fail(r, "non-finite floating point value");
        *v = e == 32000 ? INFINITY : e == 32001 ? -INFINITY : NAN;
        return 0;
    }
    float f = ldexpf((float)m, (int)e);
    if (!isfinite(f) && !allow_nonfinite)
        return dser_fail(r, "floating point value out of range");
    *v = f;
    return 0;
}

int dser_double(dser *r, double *v)
{
    int64_t m = 0, e = 0;
    if (read_float_details(r, &m, &e))
        return -1;
    if (e >= 32000)
        return dser_fail(r, "non-finite floating point value");
    *v = ldexp((double)m, (int)e);
    if (!isfinite(*v))
        return dser_fail(r, "floating point value out of range");
    return 0;
}

int dser_bool(dser *r, int *v)
{
    if (need(r, 1))
        return -1;
    uint8_t c = r->p[r->pos++];
    if (c != '0' && c != '1')
        return dser_fail(r, "bad boolean byte 0x%02x", c);
    *v = c == '1';
    return 0;
}

int dser_string(dser *r, char *buf, size_t cap)
{
    uint64_t n = 0;
    if (dser_u64(r, &n, 8))
        return -1;
    if (n >= cap)
        return dser_fail(r, "string of %llu bytes where a short name was expected", (unsigned long long)n);
    if (need(r, (size_t)n))
        return -1;
    memcpy(buf, r->p + r->pos, (size_t)n);
    buf[n] = 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
            buf[i] = '?';
    r->pos += (size_t)n;
    return 0;
}

int dser_expect_name(dser *r, const char *layer, const char *const names[])
{
    char got[64];
    if (dser_string(r, got, sizeof got))
        return -1;
    for (int i = 0; names[i]; i++)
        if (strcmp(got, names[i]) == 0)
            return i;
    return dser_fail(r, "%s: found layer/version '%s', expected '%s'", layer, got, names[0]);
}

static int tensor_header(dser *r, int64_t dims[4], size_t *count, size_t max_count)
{
    if (dser_expect_int(r, 2, "tensor version"))
        return -1;
    size_t total = 1;
    for (int i = 0; i < 4; i++) {
        if (dser_int_range(r, &dims[i], 0, INT32_MAX, "tensor dimension"))
            return -1;
        if (total != 0 && (size_t)dims[i] > SIZE_MAX / total)
            return dser_fail(r, "tensor size overflows");
        total *= (size_t)dims[i];
    }
    if (total > max_count)
        return dser_fail(r, "tensor of %zu values where at most %zu are allowed", total, max_count);
    if (total > (r->len - r->pos) / 4)
        return dser_fail(r, "tensor of %zu values but only %zu bytes remain", total, r->len - r->pos);
    *count = total;
    return 0;
}

int dser_tensor(dser *r, int64_t dims[4], float **data, size_t *count, size_t max_count)
{
    *data = NULL;
    if (tensor_header(r, dims, count, max_count))
        return -1;
    if (*count == 0)
        return 0;
    float *d = (float *)malloc(*count * sizeof(float));
    if (!d)
        return dser_fail(r, "out of memory for a tensor of %zu values", *count);
    const uint8_t *s = r->p + r->pos;
    for (size_t i = 0; i < *count; i++) {
        uint32_t u = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 | (uint32_t)s[4 * i + 2] << 16 |
                     (uint32_t)s[4 * i + 3] << 24;
        float f;
        memcpy(&f, &u, 4);
        if (!isfinite(f)) {
            free(d);
            return dser_fail(r, "non-finite value in a tensor");
        }
        d[i] = f;
    }
    r->pos += *count * 4;
    *data = d;
    return 0;
}

int dser_skip_tensor(dser *r)
{
    int64_t dims[4];
    size_t count;
    if (tensor_header(r, dims, &count, SIZE_MAX / 4))
        return -1;
    return dser_skip(r, count * 4);
}

int dser_alias_tensor(dser *r, int64_t dims[4])
{
    if (dser_expect_int(r, 1, "alias_tensor version"))
        return -1;
    for (int i = 0; i < 4; i++)
        if (dser_int_range(r, &dims[i], 0, INT32_MAX, "alias_tensor dimension"))
            return -1;
    return 0;
}

/* ---- additions for the fHOG detector model ---------------------------------------------------------------- */

int dser_varint(dser *r, int64_t *v, int max_bytes, int is_signed)
{
    if (need(r, 1))
        return -1;
    uint8_t c = r->p[r->pos];
    int neg = (c & 0x80) != 0, n = c & 0x0F;
    if (c & 0x70)
        return dser_fail(r, "bad integer control byte 0x%02x", c);
    if (neg && !is_signed)
        return dser_fail(r, "negative value where an unsigned integer was expected");
    if (n > max_bytes)
        return dser_fail(r, "integer of %d bytes where at most %d are allowed", n, max_bytes);
    if (need(r, 1 + (size_t)n))
        return -1;
    uint64_t m = 0;
    for (int i = n; i >= 1; i--)
        m = (m << 8) | r->p[r->pos + (size_t)i];
    r->pos += 1 + (size_t)n;
    if (m > (uint64_t)INT64_MAX)
        return dser_fail(r, "integer out of range");
    if (neg && m == 0)
        return dser_fail(r, "negative zero integer");
    *v = neg ? -(int64_t)m : (int64_t)m;
    return 0;
}

int dser_double0(dser *r, double *v)
{
    int64_t m = 0, e = 0;
    if (dser_varint(r, &m, 8, 1) || dser_varint(r, &e, 2, 1))
        return -1;
    if (e >= 32000 || e < -32768 || e > 32767)
        return dser_fail(r, "non-finite floating point value");
    double d = ldexp((double)m, (int)e);
    if (!isfinite(d))
        return dser_fail(r, "floating point value out of range");
    *v = d;
    return 0;
}

int dser_matrix_double(dser *r, int64_t *nr, int64_t *nc, double **data, size_t max_count)
{
    *data = NULL;
    int64_t a = 0, b = 0;
    if (dser_varint(r, &a, 8, 1) || dser_varint(r, &b, 8, 1))
        return -1;
    if (a > 0 || b > 0 || a < -(int64_t)INT32_MAX || b < -(int64_t)INT32_MAX)
        return dser_fail(r, "matrix size %lld x %lld: expected the negated (current) format", (long long)-a,
                         (long long)-b);
    *nr = -a;
    *nc = -b;
    if ((*nr == 0) != (*nc == 0))
        return dser_fail(r, "matrix size %lld x %lld", (long long)*nr, (long long)*nc);
    size_t count = (size_t)*nr * (size_t)*nc;
    if (count > max_count)
        return dser_fail(r, "matrix of %zu values where at most %zu are allowed", count, max_count);
    if (count > (r->len - r->pos) / 2)
        return dser_fail(r, "matrix of %zu values but only %zu bytes remain", count, r->len - r->pos);
    if (count == 0)
        return 0;
    double *d = (double *)malloc(count * sizeof(double));
    if (!d)
        return dser_fail(r, "out of memory for a matrix of %zu values", count);
    for (size_t i = 0; i < count; i++)
        if (dser_double0(r, &d[i])) {
            free(d);
            return -1;
        }
    *data = d;
    return 0;
}
