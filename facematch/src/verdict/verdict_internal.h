/* Internal helpers of the verdict stage: strict base64url, a deterministic JSON writer, a strict JSON parser,
 * and the key structure. Not installed. See docs/verdict-format.md for the token format. */
#ifndef FM_VERDICT_INTERNAL_H
#define FM_VERDICT_INTERNAL_H

#include "internal.h"

#include <stdint.h>

#include <openssl/evp.h>

/* ---- keys --------------------------------------------------------------------------------------------------- */
struct fm_verdict_key {
    EVP_PKEY *pkey;
    fm_jws_alg alg;   /* FM_JWS_NONE for RSA (card stand-in) keys */
    int is_private;
    int is_rsa;
};

/* ---- base64url (RFC 4648 section 5, no padding) ---------------------------------------------------------------- */
/* Encoded length of n bytes (without NUL). */
size_t fmv_b64url_len(size_t n);
/* Encodes n bytes into out (needs fmv_b64url_len(n) + 1 bytes); returns the length written (NUL-terminated). */
size_t fmv_b64url_encode(const uint8_t *in, size_t n, char *out);
/* Base64 of n bytes: url = 1 base64url without padding (as above), url = 0 standard alphabet with '=' padding
 * (needs (n + 2) / 3 * 4 + 1 bytes). Returns the length written (NUL-terminated). */
size_t fmv_b64_encode(const uint8_t *in, size_t n, char *out, int url);
/* The 6-bit value of a base64 character (RFC 4648: url = section 5 alphabet, else section 4), or -1. */
int fmv_b64_value(unsigned char c, int url);
/* Strict decode: only [A-Za-z0-9_-], no padding, no whitespace, length % 4 != 1, unused trailing bits zero
 * (so every byte string has exactly one accepted encoding). out needs len * 3 / 4 + 1 bytes. 0 on success. */
int fmv_b64url_decode(const char *in, size_t len, uint8_t *out, size_t *out_len);

/* ---- growable output buffer ------------------------------------------------------------------------------------ */
typedef struct fmv_buf {
    char *p;
    size_t len, cap;
    int failed;   /* allocation failed or limit exceeded: contents are not usable */
    int secret;   /* wipe on growth and free */
} fmv_buf;
void fmv_buf_init(fmv_buf *b, int secret);
void fmv_buf_free(fmv_buf *b);
void fmv_put(fmv_buf *b, const char *s, size_t n);
void fmv_puts(fmv_buf *b, const char *s);

/* ---- deterministic JSON writer (compact, members in the order written) ------------------------------------------ */
typedef struct fmv_json {
    fmv_buf *b;
    int depth;
    unsigned char need_comma[32];
} fmv_json;
void fmv_json_init(fmv_json *j, fmv_buf *b);
void fmv_json_obj(fmv_json *j, const char *key);   /* key NULL in arrays / top level */
void fmv_json_obj_end(fmv_json *j);
void fmv_json_arr(fmv_json *j, const char *key);
void fmv_json_arr_end(fmv_json *j);
void fmv_json_str(fmv_json *j, const char *key, const char *v);   /* NULL -> null */
void fmv_json_int(fmv_json *j, const char *key, int64_t v);
void fmv_json_num(fmv_json *j, const char *key, double v);        /* NaN -> null; shortest round-trip digits */
void fmv_json_bool(fmv_json *j, const char *key, int v);
void fmv_json_null(fmv_json *j, const char *key);
/* Writes a JSON string literal with escaping. */
void fmv_json_quote(fmv_buf *b, const char *s, size_t n);
/* Shortest "%.*g" that reads back as v, '.' as decimal point whatever the locale. v must be finite. */
void fmv_format_double(double v, char out[40]);

/* ---- strict JSON parser --------------------------------------------------------------------------------------- */
typedef enum fmj_type { FMJ_NULL = 1, FMJ_FALSE, FMJ_TRUE, FMJ_NUM, FMJ_STR, FMJ_ARR, FMJ_OBJ } fmj_type;

typedef struct fmj_node {
    fmj_type type;
    int first_child, next;   /* node indices, -1 = none */
    int n_children;
    size_t start, end;       /* byte span [start, end) of the value in the source */
    size_t sep;              /* object members: offset of the ',' before the member (or of the '{' for the first) */
    const char *key;         /* object members: decoded key (NUL-terminated, no embedded NUL) */
    size_t key_len;
    const char *str;         /* FMJ_STR: decoded value (NUL-terminated, no embedded NUL) */
    size_t str_len;
    double num;              /* FMJ_NUM */
    int is_int;              /* FMJ_NUM without fraction/exponent that fits int64 */
    int64_t ival;
} fmj_node;

typedef struct fmj_doc {
    fmj_node *nodes;
    int n, cap;
    char *arena;
    size_t arena_len, arena_cap;
} fmj_doc;

#define FMJ_MAX_DEPTH 8
#define FMJ_MAX_NODES 4096
#define FMJ_MAX_BYTES 65536

/* Parses exactly one JSON value (RFC 8259; insignificant whitespace allowed; trailing bytes rejected) with limits:
 * nesting depth <= max_depth, nodes <= max_nodes, len <= FMJ_MAX_BYTES. Duplicate object keys, invalid UTF-8,
 * lone surrogates, \u0000 and numbers that overflow a double are rejected. Returns 0 on success, -1 with a message
 * in err. On failure the doc holds nothing (fmj_free is still safe). */
int fmj_parse(const char *src, size_t len, int max_depth, int max_nodes, fmj_doc *doc, char *err, size_t errcap);
void fmj_free(fmj_doc *doc);
/* Member of an object by key, or NULL. */
const fmj_node *fmj_get(const fmj_doc *doc, const fmj_node *obj, const char *key);
/* i-th child (array element or object member) or NULL. */
const fmj_node *fmj_child(const fmj_doc *doc, const fmj_node *n, int i);
static inline const fmj_node *fmj_root(const fmj_doc *doc) { return doc->n > 0 ? &doc->nodes[0] : NULL; }

/* ---- shared verdict helpers ------------------------------------------------------------------------------------ */
/* RFC 7638 thumbprint of an ES256/EdDSA key. */
fm_status fmv_thumbprint(fm_ctx *ctx, const fm_verdict_key *key, char kid[44]);
/* JWS signature over data (ES256 -> R||S 64 bytes; EdDSA -> 64 bytes). */
fm_status fmv_jws_sign(fm_ctx *ctx, const fm_verdict_key *key, const uint8_t *data, size_t n, uint8_t sig[64]);
/* 1 if sig verifies, 0 if not. */
int fmv_jws_verify(const fm_verdict_key *key, const uint8_t *data, size_t n, const uint8_t *sig, size_t sig_len);
/* 1 if sig is a PKCS#1 v1.5 SHA-256 signature of digest by the certificate's RSA key (>= 2048 bits). */
int fmv_card_verify(EVP_PKEY *pub, const uint8_t digest[32], const uint8_t *sig, size_t sig_len);
/* Name checks used for input validation: [a-z0-9_.-]{1,64}; printable ASCII 1..256; hex 16..128. */
int fmv_valid_name(const char *s);
int fmv_valid_aud(const char *s);
int fmv_valid_nonce(const char *s);
/* Sign with an option to skip the self-check of the card signature (tests forging a foreign card signature). */
fm_status fmv_sign(fm_ctx *ctx, const fm_verdict_key *key, const fm_verdict_input *in, fm_card_sign_fn card_sign,
                   void *card_user, int check_card_sig, char *token, size_t cap, size_t *token_len);

#endif
