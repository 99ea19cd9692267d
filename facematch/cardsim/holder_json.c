/* Holder description (a flat JSON object) for the virtual card. A small strict parser: one object of string,
 * number and boolean values; anything else is rejected with the position. */
#include "sim_internal.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void fm_cardsim_holder_init(fm_cardsim_holder *h)
{
    memset(h, 0, sizeof *h);
    h->sex = '9';
}

void fm_cardsim_holder_wipe(fm_cardsim_holder *h)
{
    if (!h)
        return;
    OPENSSL_cleanse(h->auth_pin, sizeof h->auth_pin);
    OPENSSL_cleanse(h->sign_pin, sizeof h->sign_pin);
    OPENSSL_cleanse(h->my_number, sizeof h->my_number);
    OPENSSL_cleanse(h->text_pin, sizeof h->text_pin);
    OPENSSL_cleanse(h->resident_pin, sizeof h->resident_pin);
    OPENSSL_cleanse(h->security_code, sizeof h->security_code);
    OPENSSL_cleanse(h->admin_key, sizeof h->admin_key);
}

typedef struct {
    const char *s;
    size_t n, i;
} jp;

static void ws(jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

/* string into out (ASCII escapes only); returns 0 on error */
static int str(jp *p, char *out, size_t cap)
{
    if (p->i >= p->n || p->s[p->i] != '"')
        return 0;
    p->i++;
    size_t o = 0;
    while (p->i < p->n && p->s[p->i] != '"') {
        char c = p->s[p->i++];
        if (c == '\\') {
            if (p->i >= p->n)
                return 0;
            c = p->s[p->i++];
            switch (c) {
            case '"': case '\\': case '/': break;
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            default: return 0;
            }
        } else if ((unsigned char)c < 0x20) {
            return 0;
        }
        if (o + 1 >= cap)
            return 0;
        out[o++] = c;
    }
    if (p->i >= p->n)
        return 0;
    p->i++;
    out[o] = '\0';
    return 1;
}

/* Copies a value; 0 if it does not fit (the description is then rejected rather than silently cut). */
static int copy_field(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return 0;
    memcpy(dst, v, n + 1);
    return 1;
}

static int norm_date(const char *in, char out[9])
{
    size_t n = strlen(in);
    if (n == 10 && in[4] == '-' && in[7] == '-') {
        memcpy(out, in, 4);
        memcpy(out + 4, in + 5, 2);
        memcpy(out + 6, in + 8, 2);
        out[8] = '\0';
        return 1;
    }
    return copy_field(out, 9, in);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

fm_status fm_cardsim_holder_load(fm_ctx *ctx, const char *path, fm_cardsim_holder *h)
{
    uint8_t *data = NULL;
    size_t len = 0;
    fm_status st = fm_read_file(ctx, path, 1 << 20, &data, &len);
    if (st)
        return st;
    fm_cardsim_holder_init(h);
    jp p = {(const char *)data, len, 0};
    char key[64], val[1024];
    int first = 1;
    ws(&p);
    if (p.i >= p.n || p.s[p.i] != '{')
        goto bad;
    p.i++;
    for (;;) {
        ws(&p);
        if (p.i < p.n && p.s[p.i] == '}') {
            p.i++;
            break;
        }
        if (!first) {
            if (p.i >= p.n || p.s[p.i] != ',')
                goto bad;
            p.i++;
            ws(&p);
        }
        first = 0;
        if (!str(&p, key, sizeof key))
            goto bad;
        ws(&p);
        if (p.i >= p.n || p.s[p.i] != ':')
            goto bad;
        p.i++;
        ws(&p);
        if (p.i < p.n && p.s[p.i] == '"') {
            if (!str(&p, val, sizeof val))
                goto bad;
        } else {
            size_t o = 0;
            while (p.i < p.n && o + 1 < sizeof val &&
                   (strchr("-+.eE", p.s[p.i]) || (p.s[p.i] >= '0' && p.s[p.i] <= '9') ||
                    (p.s[p.i] >= 'a' && p.s[p.i] <= 'z')))
                val[o++] = p.s[p.i++];
            val[o] = '\0';
            if (!o)
                goto bad;
        }
        if (!strcmp(key, "portrait")) {
            const char *slash = strrchr(path, '/');
            size_t dl = (slash && val[0] != '/') ? (size_t)(slash - path) : 0;
            size_t vl = strlen(val);
            if (dl + 1 + vl + 1 > sizeof h->portrait_path)
                goto bad_value;
            if (dl) {
                memcpy(h->portrait_path, path, dl);
                h->portrait_path[dl] = '/';
            }
            memcpy(h->portrait_path + (dl ? dl + 1 : 0), val, vl + 1);
        } else if (!strcmp(key, "birth_date")) {
            if (!norm_date(val, h->birth_date))
                goto bad_value;
        } else if (!strcmp(key, "expiry")) {
            if (!norm_date(val, h->expiry))
                goto bad_value;
        } else if (!strcmp(key, "sex")) {
            h->sex = !strcmp(val, "male") ? '1' : !strcmp(val, "female") ? '2' : (strlen(val) == 1 ? val[0] : '?');
        } else if (!strcmp(key, "security_code")) {
            if (!copy_field(h->security_code, sizeof h->security_code, val))
                goto bad_value;
        } else if (!strcmp(key, "auth_pin")) {
            if (!copy_field(h->auth_pin, sizeof h->auth_pin, val))
                goto bad_value;
        } else if (!strcmp(key, "sign_pin")) {
            if (!copy_field(h->sign_pin, sizeof h->sign_pin, val))
                goto bad_value;
        } else if (!strcmp(key, "my_number")) {
            if (!copy_field(h->my_number, sizeof h->my_number, val))
                goto bad_value;
        } else if (!strcmp(key, "text_pin")) {
            if (!copy_field(h->text_pin, sizeof h->text_pin, val))
                goto bad_value;
        } else if (!strcmp(key, "resident_pin")) {
            if (!copy_field(h->resident_pin, sizeof h->resident_pin, val))
                goto bad_value;
        } else if (!strcmp(key, "name")) {
            if (!copy_field(h->name, sizeof h->name, val))
                goto bad_value;
        } else if (!strcmp(key, "portrait_width")) {
            h->portrait_width = atoi(val);
        } else if (!strcmp(key, "portrait_height")) {
            h->portrait_height = atoi(val);
        } else if (!strcmp(key, "portrait_ratio")) {
            h->portrait_ratio = atoi(val);
        } else if (!strcmp(key, "portrait_grey")) {
            h->portrait_grey = !strcmp(val, "true");
        } else if (!strcmp(key, "admin_key")) {
            if (strlen(val) != 32)
                goto bad_value;
            for (int i = 0; i < 16; i++) {
                int a = hexval(val[2 * i]), b = hexval(val[2 * i + 1]);
                if (a < 0 || b < 0)
                    goto bad_value;
                h->admin_key[i] = (uint8_t)(a * 16 + b);
            }
            h->has_admin_key = 1;
        } else if (key[0] != '_') { /* keys starting with '_' are comments */
            OPENSSL_cleanse(val, sizeof val);
            OPENSSL_cleanse(data, len);
            free(data);
            return fm_fail(ctx, FM_ERR_FORMAT, "%s: unknown key \"%s\"", path, key);
        }
        OPENSSL_cleanse(val, sizeof val);
    }
    ws(&p);
    if (p.i != p.n)
        goto bad;
    OPENSSL_cleanse(data, len);
    free(data);
    return FM_OK;
bad_value:
    OPENSSL_cleanse(val, sizeof val);
    OPENSSL_cleanse(data, len);
    free(data);
    return fm_fail(ctx, FM_ERR_FORMAT, "%s: bad value for \"%s\"", path, key);
bad:
    OPENSSL_cleanse(val, sizeof val);
    OPENSSL_cleanse(data, len);
    free(data);
    return fm_fail(ctx, FM_ERR_FORMAT, "%s: not a flat JSON object (error near byte %zu)", path, p.i);
}
