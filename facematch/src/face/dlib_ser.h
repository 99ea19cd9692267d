/* Strict reader for dlib's portable serialization format (dlib/serialize.h, dlib/dnn tensors).
 * Every read is bounds-checked; the first failure is recorded (message + offset) and later reads fail fast.
 * Not installed. */
#ifndef FM_DLIB_SER_H
#define FM_DLIB_SER_H

#include <stddef.h>
#include <stdint.h>

typedef struct dser {
    const uint8_t *p;
    size_t len, pos;
    int failed;
    char err[256];
    const char *what; /* the model being read, for messages */
} dser;

void dser_init(dser *r, const void *data, size_t len, const char *what);
/* Records a failure (printf-style); returns -1. Only the first failure is kept. */
int dser_fail(dser *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* dlib's variable-length integers: a control byte (bit 7 = negative for signed types, low nibble = byte count
 * 1..8), then little-endian magnitude bytes. max_bytes is sizeof the C++ type dlib used. Return 0 or -1. */
int dser_i64(dser *r, int64_t *v, int max_bytes);
int dser_u64(dser *r, uint64_t *v, int max_bytes);
/* Reads a signed int (4-byte type) and checks it equals want. */
int dser_expect_int(dser *r, int64_t want, const char *field);
/* Reads an int of up to 8 bytes and checks lo <= v <= hi. */
int dser_int_range(dser *r, int64_t *v, int64_t lo, int64_t hi, const char *field);
/* dlib float: float_details (int64 mantissa, int16 exponent) -> float (as dlib: ldexp((float)mantissa, exp)).
 * Rejects the legacy ASCII form and non-finite values unless allow_nonfinite. */
int dser_float(dser *r, float *v, int allow_nonfinite);
int dser_double(dser *r, double *v);
/* bool: one byte '0'/'1'. */
int dser_bool(dser *r, int *v);
/* std::string: size (unsigned long), bytes. Copies into buf (NUL-terminated); fails if longer than cap-1. */
int dser_string(dser *r, char *buf, size_t cap);
/* Reads a string and checks it is one of the given names (NULL-terminated list); returns its index or -1. */
int dser_expect_name(dser *r, const char *layer, const char *const names[]);
/* dnn tensor (version 2: num_samples, k, nr, nc as long long, then raw little-endian IEEE floats).
 * dims[4] receives n,k,nr,nc; *data is malloc'd (NULL for an empty tensor), count in *count. max_count bounds it. */
int dser_tensor(dser *r, int64_t dims[4], float **data, size_t *count, size_t max_count);
/* Skips a tensor, checking it is well-formed. */
int dser_skip_tensor(dser *r);
/* alias_tensor (version 1 + 4 dims). */
int dser_alias_tensor(dser *r, int64_t dims[4]);
/* Raw bytes. */
int dser_skip(dser *r, size_t n);

/* ---- additions for the fHOG detector model (object_detector<scan_fhog_pyramid>) ---------------------------- */
/* An integer exactly as dlib writes it, zero included (zero is a control byte with no magnitude bytes, which the
 * readers above reject). is_signed: the C++ type was signed. max_bytes: sizeof that type. Returns 0 or -1. */
int dser_varint(dser *r, int64_t *v, int max_bytes, int is_signed);
/* A double (float_details: int64 mantissa, int16 exponent), zero included; non-finite values are rejected. */
int dser_double0(dser *r, double *v);
/* dlib::matrix<double>: -nr, -nc (new format: negated) then nr*nc doubles, row-major. *data is malloc'd (NULL when
 * empty); nr*nc must not exceed max_count. */
int dser_matrix_double(dser *r, int64_t *nr, int64_t *nc, double **data, size_t max_count);

#endif
