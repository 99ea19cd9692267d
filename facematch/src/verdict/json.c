/* Verdict stage: strict base64url, deterministic JSON writer and strict JSON parser (untrusted input). */
#include "verdict_internal.h"

#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* ============================================================================================================ */
/* base64url                                                                                                     */
/* ============================================================================================================ */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t fmv_b64url_len(size_t n) { return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0); }

size_t fmv_b64_encode(const uint8_t *in, size_t n, char *out, int url)
{
    static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *A = url ? B64URL : STD;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        size_t left = n - i;
        uint32_t v = (uint32_t)in[i] << 16 | (left > 1 ? (uint32_t)in[i + 1] << 8 : 0) | (left > 2 ? in[i + 2] : 0);
        out[o++] = A[v >> 18];
        out[o++] = A[(v >> 12) & 63];
        if (left > 1)
            out[o++] = A[(v >> 6) & 63];
        else if (!url)
            out[o++] = '=';
        if (left > 2)
            out[o++] = A[v & 63];
        else if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t fmv_b64url_encode(const uint8_t *in, size_t n, char *out) { return fmv_b64_encode(in, n, out, 1); }

int fmv_b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

static int b64val(unsigned char c) { return fmv_b64_value(c, 1); }

int fmv_b64url_decode(const char *in, size_t len, uint8_t *out, size_t *out_len)
{
    if (len % 4 == 1)
        return -1;
    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        int a = b64val((unsigned char)in[i]), b = b64val((unsigned char)in[i + 1]);
        int c = b64val((unsigned char)in[i + 2]), d = b64val((unsigned char)in[i + 3]);
        if ((a | b | c | d) < 0)
            return -1;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = len - i;
    if (rest == 2) {
        int a = b64val((unsigned char)in[i]), b = b64val((unsigned char)in[i + 1]);
        if ((a | b) < 0 || (b & 15) != 0) /* non-canonical: unused bits set */
            return -1;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
    } else if (rest == 3) {
        int a = b64val((unsigned char)in[i]), b = b64val((unsigned char)in[i + 1]), c = b64val((unsigned char)in[i + 2]);
        if ((a | b | c) < 0 || (c & 3) != 0)
            return -1;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
        out[o++] = (uint8_t)((b & 15) << 4 | c >> 2);
    }
    *out_len = o;
    return 0;
}

/* ============================================================================================================ */
/* output buffer                                                                                                 */
/* ============================================================================================================ */

#define FMV_BUF_LIMIT (4u * 1024 * 1024)

void fmv_buf_init(fmv_buf *b, int secret)
{
    memset(b, 0, sizeof *b);
    b->secret = secret;
}

void fmv_buf_free(fmv_buf *b)
{
    if (b->p) {
        if (b->secret)
            OPENSSL_cleanse(b->p, b->cap);
        free(b->p);
    }
    b->p = NULL;
    b->len = b->cap = 0;
}

void fmv_put(fmv_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (n > FMV_BUF_LIMIT || b->len + n + 1 > FMV_BUF_LIMIT) {
        b->failed = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        char *np = malloc(ncap);
        if (!np) {
            b->failed = 1;
            return;
        }
        if (b->p) {
            memcpy(np, b->p, b->len);
            if (b->secret)
                OPENSSL_cleanse(b->p, b->cap);
            free(b->p);
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void fmv_puts(fmv_buf *b, const char *s) { fmv_put(b, s, strlen(s)); }

/* ============================================================================================================ */
/* writer                                                                                                        */
/* ============================================================================================================ */

void fmv_json_quote(fmv_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fmv_put(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == 0x7f) {
            u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15], u[6] = 0;
            esc = u;
        }
        if (esc) {
            fmv_put(b, s + i - run, run);
            run = 0;
            fmv_puts(b, esc);
        } else {
            run++;
        }
    }
    fmv_put(b, s + n - run, run);
    fmv_put(b, "\"", 1);
}

void fmv_json_init(fmv_json *j, fmv_buf *b)
{
    memset(j, 0, sizeof *j);
    j->b = b;
}

static void key_(fmv_json *j, const char *key)
{
    if (j->need_comma[j->depth])
        fmv_put(j->b, ",", 1);
    j->need_comma[j->depth] = 1;
    if (key) {
        fmv_json_quote(j->b, key, strlen(key));
        fmv_put(j->b, ":", 1);
    }
}

static void open_(fmv_json *j, const char *key, const char *c)
{
    key_(j, key);
    fmv_puts(j->b, c);
    if (j->depth + 1 >= (int)sizeof j->need_comma) {
        j->b->failed = 1;
        return;
    }
    j->need_comma[++j->depth] = 0;
}

static void close_(fmv_json *j, const char *c)
{
    fmv_puts(j->b, c);
    if (j->depth > 0)
        j->depth--;
}

void fmv_json_obj(fmv_json *j, const char *key) { open_(j, key, "{"); }
void fmv_json_obj_end(fmv_json *j) { close_(j, "}"); }
void fmv_json_arr(fmv_json *j, const char *key) { open_(j, key, "["); }
void fmv_json_arr_end(fmv_json *j) { close_(j, "]"); }

void fmv_json_str(fmv_json *j, const char *key, const char *v)
{
    key_(j, key);
    if (v)
        fmv_json_quote(j->b, v, strlen(v));
    else
        fmv_puts(j->b, "null");
}

void fmv_json_int(fmv_json *j, const char *key, int64_t v)
{
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)v);
    key_(j, key);
    fmv_puts(j->b, t);
}

void fmv_format_double(double v, char out[40])
{
    char dp = '.';
    const struct lconv *lc = localeconv();
    if (lc && lc->decimal_point && lc->decimal_point[0])
        dp = lc->decimal_point[0];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, 40, "%.*g", prec, v);
        if (dp != '.')
            for (char *p = out; *p; p++)
                if (*p == dp)
                    *p = '.';
        /* read back with the locale's decimal point */
        char back[40];
        memcpy(back, out, 40);
        if (dp != '.')
            for (char *p = back; *p; p++)
                if (*p == '.')
                    *p = dp;
        if (strtod(back, NULL) == v)
            return;
    }
}

void fmv_json_num(fmv_json *j, const char *key, double v)
{
    key_(j, key);
    if (!isfinite(v)) {
        fmv_puts(j->b, "null");
        return;
    }
    char t[40];
    fmv_format_double(v, t);
    fmv_puts(j->b, t);
}

void fmv_json_bool(fmv_json *j, const char *key, int v)
{
    key_(j, key);
    fmv_puts(j->b, v ? "true" : "false");
}

void fmv_json_null(fmv_json *j, const char *key)
{
    key_(j, key);
    fmv_puts(j->b, "null");
}

/* ============================================================================================================ */
/* parser                                                                                                        */
/* ============================================================================================================ */

typedef struct parser {
    const char *s;
    size_t len, pos;
    int max_depth, max_nodes;
    fmj_doc *doc;
    char *err;
    size_t errcap;
} parser;

static int perr(parser *p, const char *what)
{
    if (p->err && p->errcap)
        snprintf(p->err, p->errcap, "JSON: %s at byte %zu", what, p->pos);
    return -1;
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            p->pos++;
        else
            break;
    }
}

static int new_node(parser *p, fmj_type t)
{
    fmj_doc *d = p->doc;
    if (d->n >= p->max_nodes)
        return perr(p, "too many values"), -1;
    if (d->n == d->cap) {
        int ncap = d->cap ? d->cap * 2 : 32;
        if (ncap > p->max_nodes)
            ncap = p->max_nodes;
        fmj_node *nn = realloc(d->nodes, (size_t)ncap * sizeof *nn);
        if (!nn)
            return perr(p, "out of memory"), -1;
        d->nodes = nn;
        d->cap = ncap;
    }
    fmj_node *n = &d->nodes[d->n];
    memset(n, 0, sizeof *n);
    n->type = t;
    n->first_child = n->next = -1;
    n->start = p->pos;
    return d->n++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static void arena_put_utf8(fmj_doc *d, unsigned cp)
{
    char *o = d->arena + d->arena_len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        d->arena_len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 63));
        d->arena_len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        d->arena_len += 3;
    } else {
        o[0] = (char)(0xF0 | cp >> 18);
        o[1] = (char)(0x80 | ((cp >> 12) & 63));
        o[2] = (char)(0x80 | ((cp >> 6) & 63));
        o[3] = (char)(0x80 | (cp & 63));
        d->arena_len += 4;
    }
}

/* Parses a string at p->pos (which is '"'); decoded bytes go to the arena (an escape never decodes to more bytes
 * than its source text, so the arena sized 2*len+2 cannot overflow). */
static int parse_string(parser *p, const char **out, size_t *out_len)
{
    fmj_doc *d = p->doc;
    p->pos++; /* opening quote */
    size_t begin = d->arena_len;
    for (;;) {
        if (p->pos >= p->len)
            return perr(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return perr(p, "control character in string");
        if (c == '\\') {
            if (p->pos + 1 >= p->len)
                return perr(p, "unterminated escape");
            char e = p->s[p->pos + 1];
            const char *simple = "\"\\/bfnrt";
            const char *rep = "\"\\/\b\f\n\r\t";
            const char *hit = strchr(simple, e);
            if (e && hit) {
                d->arena[d->arena_len++] = rep[hit - simple];
                p->pos += 2;
                continue;
            }
            if (e != 'u')
                return perr(p, "bad escape");
            unsigned cp;
            if (p->pos + 6 > p->len || hex4(p->s + p->pos + 2, &cp))
                return perr(p, "bad \\u escape");
            p->pos += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                return perr(p, "lone low surrogate");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->pos + 6 > p->len || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u' ||
                    hex4(p->s + p->pos + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                    return perr(p, "lone high surrogate");
                p->pos += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0)
                return perr(p, "\\u0000 not allowed");
            arena_put_utf8(d, cp);
            continue;
        }
        /* raw UTF-8: validate (no overlongs, no surrogates, <= U+10FFFF) */
        size_t n;
        unsigned cp, min;
        if (c < 0x80) {
            n = 1, cp = c, min = 0;
        } else if ((c & 0xE0) == 0xC0) {
            n = 2, cp = c & 0x1F, min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            n = 3, cp = c & 0x0F, min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return perr(p, "invalid UTF-8");
        }
        if (p->pos + n > p->len)
            return perr(p, "truncated UTF-8");
        for (size_t k = 1; k < n; k++) {
            unsigned char cc = (unsigned char)p->s[p->pos + k];
            if ((cc & 0xC0) != 0x80)
                return perr(p, "invalid UTF-8");
            cp = cp << 6 | (cc & 63);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return perr(p, "invalid UTF-8");
        memcpy(d->arena + d->arena_len, p->s + p->pos, n);
        d->arena_len += n;
        p->pos += n;
    }
    d->arena[d->arena_len++] = '\0';
    *out_len = d->arena_len - 1 - begin;
    *out = (const char *)(uintptr_t)begin; /* an arena offset until fmj_parse turns it into a pointer */
    return 0;
}

static int parse_number(parser *p, fmj_node *n)
{
    size_t b = p->pos;
    const char *s = p->s;
    size_t i = p->pos;
    int integral = 1;
    if (i < p->len && s[i] == '-')
        i++;
    if (i >= p->len)
        return perr(p, "bad number");
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    } else {
        return perr(p, "bad number");
    }
    if (i < p->len && s[i] == '.') {
        integral = 0;
        i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return perr(p, "bad number fraction");
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        integral = 0;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        if (i >= p->len || s[i] < '0' || s[i] > '9')
            return perr(p, "bad number exponent");
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
    }
    size_t nlen = i - b;
    if (nlen > 64)
        return perr(p, "number too long");
    char tmp[72];
    memcpy(tmp, s + b, nlen);
    tmp[nlen] = '\0';
    if (integral) {
        /* exact int64 when it fits */
        int neg = tmp[0] == '-';
        uint64_t v = 0;
        int fits = 1;
        for (const char *q = tmp + neg; *q; q++) {
            unsigned dgt = (unsigned)(*q - '0');
            if (v > (UINT64_MAX - dgt) / 10) {
                fits = 0;
                break;
            }
            v = v * 10 + dgt;
        }
        if (fits && (neg ? v <= (uint64_t)INT64_MAX + 1 : v <= (uint64_t)INT64_MAX)) {
            n->is_int = 1;
            n->ival = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
        }
    }
    char dp = '.';
    const struct lconv *lc = localeconv();
    if (lc && lc->decimal_point && lc->decimal_point[0])
        dp = lc->decimal_point[0];
    if (dp != '.')
        for (char *q = tmp; *q; q++)
            if (*q == '.')
                *q = dp;
    char *endp = NULL;
    double v = strtod(tmp, &endp);
    if (!endp || *endp || !isfinite(v))
        return perr(p, "number out of range");
    n->num = v;
    p->pos = i;
    return 0;
}

static int parse_value(parser *p, int depth);

static int parse_container(parser *p, int idx, int depth, int is_obj)
{
    fmj_doc *d = p->doc;
    char close = is_obj ? '}' : ']';
    p->pos++; /* '{' or '[' */
    size_t sep = p->pos - 1;
    int last = -1;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
        return 0;
    }
    for (;;) {
        skip_ws(p);
        const char *key = NULL;
        size_t key_len = 0;
        if (is_obj) {
            if (p->pos >= p->len || p->s[p->pos] != '"')
                return perr(p, "expected a key");
            if (parse_string(p, &key, &key_len))
                return -1;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':')
                return perr(p, "expected ':'");
            p->pos++;
            skip_ws(p);
        }
        int child = parse_value(p, depth + 1);
        if (child < 0)
            return -1;
        fmj_node *c = &d->nodes[child];
        c->sep = sep;
        c->key = key;
        c->key_len = key_len;
        if (last < 0)
            d->nodes[idx].first_child = child;
        else
            d->nodes[last].next = child;
        last = child;
        d->nodes[idx].n_children++;
        skip_ws(p);
        if (p->pos >= p->len)
            return perr(p, "unterminated container");
        if (p->s[p->pos] == ',') {
            sep = p->pos;
            p->pos++;
            continue;
        }
        if (p->s[p->pos] == close) {
            p->pos++;
            return 0;
        }
        return perr(p, "expected ',' or end of container");
    }
}

static int parse_value(parser *p, int depth)
{
    if (depth > p->max_depth)
        return perr(p, "nesting too deep"), -1;
    skip_ws(p);
    if (p->pos >= p->len)
        return perr(p, "unexpected end"), -1;
    char c = p->s[p->pos];
    int idx;
    switch (c) {
    case '{':
    case '[':
        idx = new_node(p, c == '{' ? FMJ_OBJ : FMJ_ARR);
        if (idx < 0 || parse_container(p, idx, depth, c == '{'))
            return -1;
        break;
    case '"': {
        idx = new_node(p, FMJ_STR);
        if (idx < 0)
            return -1;
        const char *s;
        size_t sl;
        if (parse_string(p, &s, &sl))
            return -1;
        p->doc->nodes[idx].str = s;
        p->doc->nodes[idx].str_len = sl;
        break;
    }
    case 't':
    case 'f':
    case 'n': {
        const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
        size_t ll = strlen(lit);
        if (p->len - p->pos < ll || memcmp(p->s + p->pos, lit, ll) != 0)
            return perr(p, "bad literal"), -1;
        idx = new_node(p, c == 't' ? FMJ_TRUE : c == 'f' ? FMJ_FALSE : FMJ_NULL);
        if (idx < 0)
            return -1;
        p->pos += ll;
        break;
    }
    default:
        if (c != '-' && (c < '0' || c > '9'))
            return perr(p, "unexpected character"), -1;
        idx = new_node(p, FMJ_NUM);
        if (idx < 0 || parse_number(p, &p->doc->nodes[idx]))
            return -1;
        break;
    }
    p->doc->nodes[idx].end = p->pos;
    return idx;
}

void fmj_free(fmj_doc *doc)
{
    if (!doc)
        return;
    free(doc->nodes);
    if (doc->arena) {
        OPENSSL_cleanse(doc->arena, doc->arena_cap);
        free(doc->arena);
    }
    memset(doc, 0, sizeof *doc);
}

static int key_equal(const fmj_node *a, const fmj_node *b)
{
    return a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

int fmj_parse(const char *src, size_t len, int max_depth, int max_nodes, fmj_doc *doc, char *err, size_t errcap)
{
    memset(doc, 0, sizeof *doc);
    if (err && errcap)
        err[0] = '\0';
    parser p = {src, len, 0, max_depth, max_nodes, doc, err, errcap};
    if (!src || len == 0)
        return perr(&p, "empty input");
    if (len > FMJ_MAX_BYTES)
        return perr(&p, "input too large");
    doc->arena_cap = 2 * len + 2;
    doc->arena = malloc(doc->arena_cap);
    if (!doc->arena) {
        perr(&p, "out of memory");
        fmj_free(doc);
        return -1;
    }
    int root = parse_value(&p, 1);
    if (root >= 0) {
        skip_ws(&p);
        if (p.pos != len) {
            perr(&p, "trailing data");
            root = -1;
        }
    }
    if (root < 0) {
        fmj_free(doc);
        return -1;
    }
    /* fix up string offsets into pointers, then reject duplicate keys */
    for (int i = 0; i < doc->n; i++) {
        fmj_node *n = &doc->nodes[i];
        if (n->type == FMJ_STR)
            n->str = doc->arena + (uintptr_t)n->str;
    }
    for (int i = 0; i < doc->n; i++) {
        fmj_node *n = &doc->nodes[i];
        if (n->type != FMJ_OBJ)
            continue;
        for (int c = n->first_child; c >= 0; c = doc->nodes[c].next)
            doc->nodes[c].key = doc->arena + (uintptr_t)doc->nodes[c].key;
    }
    for (int i = 0; i < doc->n; i++) {
        fmj_node *n = &doc->nodes[i];
        if (n->type != FMJ_OBJ)
            continue;
        for (int a = n->first_child; a >= 0; a = doc->nodes[a].next)
            for (int b = doc->nodes[a].next; b >= 0; b = doc->nodes[b].next)
                if (key_equal(&doc->nodes[a], &doc->nodes[b])) {
                    if (err && errcap)
                        snprintf(err, errcap, "JSON: duplicate key \"%.40s\"", doc->nodes[a].key);
                    fmj_free(doc);
                    return -1;
                }
    }
    return 0;
}

const fmj_node *fmj_get(const fmj_doc *doc, const fmj_node *obj, const char *key)
{
    if (!obj || obj->type != FMJ_OBJ)
        return NULL;
    size_t kl = strlen(key);
    for (int c = obj->first_child; c >= 0; c = doc->nodes[c].next)
        if (doc->nodes[c].key_len == kl && memcmp(doc->nodes[c].key, key, kl) == 0)
            return &doc->nodes[c];
    return NULL;
}

const fmj_node *fmj_child(const fmj_doc *doc, const fmj_node *n, int i)
{
    if (!n || (n->type != FMJ_OBJ && n->type != FMJ_ARR) || i < 0)
        return NULL;
    for (int c = n->first_child; c >= 0; c = doc->nodes[c].next, i--)
        if (i == 0)
            return &doc->nodes[c];
    return NULL;
}
