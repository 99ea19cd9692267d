/* Personalises the virtual card: keys, certificates, EF 0002 / EF 0004 exactly as domain.md §2 describes. */
#include "sim_internal.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- byte builder ---- */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom;
} buf_t;

static void put(buf_t *b, const void *d, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t c = b->cap ? b->cap * 2 : 1024;
        while (c < b->n + n)
            c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = c;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void put_tlv(buf_t *b, uint32_t tag, const void *v, size_t n)
{
    uint8_t h[8];
    size_t hl = fmc_tlv_put_header(h, tag, n);
    put(b, h, hl);
    put(b, v, n);
}

/* ---- RSA helpers ---- */
static EVP_PKEY *gen_rsa(void) { return EVP_RSA_gen(2048); }

static int rsa_ne(EVP_PKEY *k, uint8_t n[256], uint8_t e[3])
{
    BIGNUM *bn = NULL, *be = NULL;
    int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_N, &bn) == 1 &&
             EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_RSA_E, &be) == 1 && BN_bn2binpad(bn, n, 256) == 256 &&
             BN_bn2binpad(be, e, 3) == 3;
    BN_free(bn);
    BN_free(be);
    return ok;
}

/* 90 03 e ‖ 91 82 01 00 n */
static void put_pubkey(buf_t *b, EVP_PKEY *k, int *ok)
{
    uint8_t n[256], e[3];
    if (!rsa_ne(k, n, e)) {
        *ok = 0;
        return;
    }
    put_tlv(b, FMC_TAG_RSA_E, e, 3);
    put_tlv(b, FMC_TAG_RSA_N, n, 256);
}

static void key_id(EVP_PKEY *k, uint8_t id[16])
{
    unsigned char *der = NULL;
    int dl = i2d_PUBKEY(k, &der);
    uint8_t h[32];
    fm_sha256(der, dl > 0 ? (size_t)dl : 0, h, NULL);
    memcpy(id, h, 16);
    OPENSSL_free(der);
}

static int sign_sha256(EVP_PKEY *k, const uint8_t *m, size_t n, uint8_t sig[256])
{
    size_t sl = 256;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestSign(md, sig, &sl, m, n) == 1 && sl == 256;
    EVP_MD_CTX_free(md);
    return ok;
}

static int sign_raw_pkcs1(EVP_PKEY *k, const uint8_t *m, size_t n, uint8_t sig[256])
{
    size_t sl = 256;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(k, NULL);
    int ok = pc && EVP_PKEY_sign_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_sign(pc, sig, &sl, m, n) == 1 && sl == 256;
    EVP_PKEY_CTX_free(pc);
    return ok;
}

/* ---- X.509 ---- */
static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ex = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (!ex)
        return 0;
    int ok = X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return ok;
}

static X509 *make_cert(EVP_PKEY *subject_key, const char *cn, const char *ou, X509 *issuer, EVP_PKEY *issuer_key,
                       int ca, const char *usage, const char *eku)
{
    X509 *x = X509_new();
    if (!x)
        return NULL;
    int ok = X509_set_version(x, 2);
    uint8_t serial[12];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7F;
    BIGNUM *bs = BN_bin2bn(serial, sizeof serial, NULL);
    ok = ok && bs && BN_to_ASN1_INTEGER(bs, X509_get_serialNumber(x));
    BN_free(bs);
    ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -86400) && X509_gmtime_adj(X509_getm_notAfter(x), 5L * 365 * 86400);
    X509_NAME *nm = X509_get_subject_name(x);
    ok = ok && X509_NAME_add_entry_by_txt(nm, "C", MBSTRING_ASC, (const unsigned char *)"JP", -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_ASC, (const unsigned char *)"facematch virtual card (TEST ONLY)", -1, -1, 0);
    if (ou)
        ok = ok && X509_NAME_add_entry_by_txt(nm, "OU", MBSTRING_ASC, (const unsigned char *)ou, -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    ok = ok && X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : nm);
    ok = ok && X509_set_pubkey(x, subject_key);
    X509 *iss = issuer ? issuer : x;
    ok = ok && add_ext(x, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    ok = ok && add_ext(x, iss, NID_key_usage, usage);
    ok = ok && add_ext(x, iss, NID_subject_key_identifier, "hash");
    if (issuer || !ca)
        ok = ok && add_ext(x, iss, NID_authority_key_identifier, "keyid:always");
    if (eku)
        ok = ok && add_ext(x, iss, NID_ext_key_usage, eku);
    ok = ok && X509_sign(x, issuer_key, EVP_sha256()) > 0;
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static uint8_t *der_of(X509 *x, size_t *len)
{
    unsigned char *d = NULL;
    int n = i2d_X509(x, &d);
    if (n <= 0)
        return NULL;
    uint8_t *c = malloc((size_t)n);
    if (c)
        memcpy(c, d, (size_t)n);
    OPENSSL_free(d);
    *len = (size_t)n;
    return c;
}

/* ---- files ---- */
static uint8_t *padded(const uint8_t *d, size_t n, size_t *len)
{
    size_t total = (n + 1 + 255) / 256 * 256; /* at least one FF filler byte, whole 256-byte blocks */
    uint8_t *p = malloc(total);
    if (!p)
        return NULL;
    memcpy(p, d, n);
    memset(p + n, 0xFF, total - n);
    *len = total;
    return p;
}

static int add_data(sim_ap *ap, unsigned fid, const uint8_t *d, size_t n, unsigned mask)
{
    sim_file *f = &ap->files[ap->nfiles++];
    f->fid = fid;
    f->kind = SIM_EF_DATA;
    f->read_mask = mask;
    f->data = padded(d, n, &f->len);
    return f->data != NULL;
}

static void add_pin(fm_cardsim *s, sim_ap *ap, unsigned fid, int pin, const char *value, int max)
{
    sim_file *f = &ap->files[ap->nfiles++];
    f->fid = fid;
    f->kind = SIM_EF_PIN;
    f->pin = pin;
    snprintf(s->pins[pin].value, sizeof s->pins[pin].value, "%s", value);
    s->pins[pin].max = s->pins[pin].left = max;
}

static void add_key(sim_ap *ap, unsigned fid, EVP_PKEY *k, int pin)
{
    sim_file *f = &ap->files[ap->nfiles++];
    f->fid = fid;
    f->kind = SIM_EF_KEY;
    f->key = k;
    f->pin = pin;
}

/* A small synthetic grey PNG standing in for the printed name / address / security-code images. */
static fm_status text_png(fm_ctx *ctx, const char *text, int w, int h, uint8_t **out, size_t *len)
{
    fm_image *im = NULL;
    fm_status st = fm_image_create(ctx, FM_PIX_GRAY8, w, h, &im);
    if (st)
        return st;
    int stride;
    uint8_t *px = (uint8_t *)fm_image_plane(im, 0, &stride);
    uint8_t hsh[32];
    fm_sha256(text, strlen(text), hsh, NULL);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int bit = (hsh[(x / 6) % 32] >> ((y / 6) % 8)) & 1;
            px[y * stride + x] = (y > 4 && y < h - 4 && bit) ? 30 : 250;
        }
    size_t n = 0;
    st = fm_image_encode(ctx, im, FM_FORMAT_PNG, 0, NULL, 0, &n);
    if (st == FM_ERR_BUFFER_TOO_SMALL) {
        *out = malloc(n);
        st = *out ? fm_image_encode(ctx, im, FM_FORMAT_PNG, 0, *out, n, len)
                  : fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    fm_image_destroy(im);
    return st;
}

static fm_status encode_portrait(fm_ctx *ctx, const fm_cardsim_holder *h, uint8_t **out, size_t *len)
{
    if (h->portrait_jp2) {
        *out = malloc(h->portrait_jp2_len);
        if (!*out)
            return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        memcpy(*out, h->portrait_jp2, h->portrait_jp2_len);
        *len = h->portrait_jp2_len;
        return FM_OK;
    }
    fm_image *src = NULL, *crop = NULL, *small = NULL, *conv = NULL;
    const fm_image *in = h->portrait;
    fm_status st = FM_OK;
    if (!in) {
        if (!h->portrait_path[0])
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: no portrait given");
        st = fm_image_load(ctx, h->portrait_path, FM_PIX_RGB24, &src, NULL);
        if (st)
            return st;
        in = src;
    }
    int tw = h->portrait_width > 0 ? h->portrait_width : 300, th = h->portrait_height > 0 ? h->portrait_height : 400;
    int W = fm_image_width(in), H = fm_image_height(in);
    /* centre crop to the target aspect ratio */
    int cw = W, ch = (int)((long long)W * th / tw);
    if (ch > H) {
        ch = H;
        cw = (int)((long long)H * tw / th);
    }
    if (cw < 1 || ch < 1) {
        st = fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: portrait too small");
        goto done;
    }
    st = fm_image_crop(ctx, in, (W - cw) / 2, (H - ch) / 2, cw, ch, &crop);
    if (!st)
        st = fm_image_resize(ctx, crop, tw, th, cw >= tw ? FM_RESIZE_AREA : FM_RESIZE_BILINEAR, &small);
    if (!st)
        st = fm_image_convert(ctx, small, h->portrait_grey ? FM_PIX_GRAY8 : FM_PIX_RGB24, &conv);
    if (st)
        goto done;
    int ratio = h->portrait_ratio > 0 ? h->portrait_ratio : 40;
    size_t n = 0;
    st = fm_image_encode(ctx, conv, FM_FORMAT_JP2, ratio, NULL, 0, &n);
    if (st == FM_ERR_BUFFER_TOO_SMALL) {
        *out = malloc(n);
        st = *out ? fm_image_encode(ctx, conv, FM_FORMAT_JP2, ratio, *out, n, len)
                  : fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        if (st) {
            free(*out);
            *out = NULL;
        }
    } else if (st == FM_OK) {
        st = fm_fail(ctx, FM_ERR_INTERNAL, "fm_image_encode size query returned no size");
    }
done:
    fm_image_destroy(src);
    fm_image_destroy(crop);
    fm_image_destroy(small);
    fm_image_destroy(conv);
    return st;
}

static int valid_digits(const char *s, size_t n)
{
    if (strlen(s) != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

fm_status sim_personalise(fm_ctx *ctx, fm_cardsim *s, const fm_cardsim_holder *h)
{
    /* validate the description */
    if (!valid_digits(h->birth_date, 8) || !fmc_date_valid(h->birth_date))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: birth_date must be a real YYYYMMDD date");
    if (!valid_digits(h->expiry, 8) || !fmc_date_valid(h->expiry))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: expiry must be a real YYYYMMDD date");
    if (h->sex != '1' && h->sex != '2' && h->sex != '9')
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: sex must be 1, 2 or 9");
    if (!valid_digits(h->security_code, 4))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: security_code must be 4 digits");
    if (!valid_digits(h->auth_pin, 4))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: auth_pin must be 4 digits");
    size_t spl = strlen(h->sign_pin);
    if (spl < 6 || spl > 16)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: sign_pin must be 6-16 characters A-Z 0-9");
    if (h->my_number[0] && !fm_card_my_number_valid(h->my_number))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "holder: my_number is not 12 digits with a valid check digit");
    char pin_b[15], year[5];
    memcpy(year, h->expiry, 4); /* PIN B takes the expiry YEAR */
    year[4] = '\0';
    fm_status st = fm_card_make_pin_b(ctx, h->birth_date, year, h->security_code, pin_b);
    if (st)
        return st;

    uint8_t *portrait = NULL, *name_png = NULL, *addr_png = NULL, *code_png = NULL, *ca_der = NULL,
            *auth_der = NULL, *sign_der = NULL;
    size_t portrait_len = 0, name_len = 0, addr_len = 0, code_len = 0, auth_len = 0, sign_len = 0;
    X509 *ca = NULL, *auth = NULL, *sign = NULL;
    buf_t pk = {0}, inner = {0}, ef2 = {0}, body = {0}, cvc = {0}, ef4 = {0};
    int ok = 1;

    st = encode_portrait(ctx, h, &portrait, &portrait_len);
    if (!st)
        st = text_png(ctx, h->name[0] ? h->name : "name", 240, 40, &name_png, &name_len);
    if (!st)
        st = text_png(ctx, "address", 300, 60, &addr_png, &addr_len);
    if (!st)
        st = text_png(ctx, h->security_code, 80, 24, &code_png, &code_len);
    if (st)
        goto done;

    s->jlis_ca = gen_rsa();
    s->visual_signer = gen_rsa();
    s->card_key = gen_rsa();
    s->jpki_ca = gen_rsa();
    s->auth_key = gen_rsa();
    s->sign_key = gen_rsa();
    if (!s->jlis_ca || !s->visual_signer || !s->card_key || !s->jpki_ca || !s->auth_key || !s->sign_key) {
        st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: RSA key generation failed");
        goto done;
    }
    if (h->has_admin_key)
        memcpy(s->admin_key, h->admin_key, 16);
    else if (RAND_bytes(s->admin_key, 16) != 1) {
        st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: RAND_bytes failed");
        goto done;
    }

    /* ---- visual AP: EF 0002 ---- */
    put_pubkey(&pk, s->card_key, &ok);
    {
        /* DF21 offset table (format unconfirmed; the simulator's guess): 9 big-endian 2-byte offsets of DF22..DF2A
         * from the start of FF20's value. DF21's own TLV is 3 + 18 bytes. */
        buf_t rest = {0};
        size_t offs[9];
        size_t base = 3 + 18;
        offs[0] = base + rest.n; put_tlv(&rest, FMC_TAG_BIRTH, h->birth_date, 8);
        offs[1] = base + rest.n; put_tlv(&rest, FMC_TAG_SEX, &h->sex, 1);
        offs[2] = base + rest.n; put_tlv(&rest, FMC_TAG_PUBKEY, pk.p, pk.n);
        offs[3] = base + rest.n; put_tlv(&rest, FMC_TAG_NAME_IMG, name_png, name_len);
        offs[4] = base + rest.n; put_tlv(&rest, FMC_TAG_ADDR_IMG, addr_png, addr_len);
        offs[5] = base + rest.n; put_tlv(&rest, FMC_TAG_PORTRAIT, portrait, portrait_len);
        uint8_t zero_sig[256] = {0};
        offs[6] = base + rest.n; put_tlv(&rest, FMC_TAG_SIGNATURE, zero_sig, 256);
        offs[7] = base + rest.n; put_tlv(&rest, FMC_TAG_EXPIRY, h->expiry, 8);
        offs[8] = base + rest.n; put_tlv(&rest, FMC_TAG_CODE_IMG, code_png, code_len);
        uint8_t table[18];
        for (int i = 0; i < 9; i++) {
            table[2 * i] = (uint8_t)(offs[i] >> 8);
            table[2 * i + 1] = (uint8_t)offs[i];
        }
        put_tlv(&inner, FMC_TAG_OFFSETS, table, 18);
        put(&inner, rest.p, rest.n);
        free(rest.p);
        if (rest.oom)
            ok = 0;
    }
    put_tlv(&ef2, FMC_TAG_VISUAL, inner.p, inner.n);
    if (!ok || pk.oom || inner.oom || ef2.oom) {
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "cardsim: building EF 0002 failed");
        goto done;
    }
    {
        /* sign it exactly as the card's issuer does: DF28 = PKCS#1 v1.5 over DigestInfo{sha256, 96-byte digest} */
        fmc_visual_parsed vp;
        if (fmc_parse_visual(ctx, ef2.p, ef2.n, &vp) != FM_OK) {
            st = fm_fail(ctx, FM_ERR_INTERNAL, "cardsim: own EF 0002 does not parse: %s", fm_ctx_errmsg(ctx));
            goto done;
        }
        uint8_t di[19 + 96];
        memcpy(di, FMC_DI_SHA256x3_PREFIX, 19);
        fmc_visual_digest(&vp, di + 19);
        uint8_t sig[256];
        if (!sign_raw_pkcs1(s->visual_signer, di, sizeof di, sig)) {
            st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: signing DF28 failed");
            goto done;
        }
        uint8_t *slot = (uint8_t *)vp.f[FMC_TAG_SIGNATURE - 0xDF20].value;
        memcpy(slot, sig, 256);
    }
    /* ---- visual AP: EF 0004 ---- */
    {
        uint8_t sid[16];
        key_id(s->jlis_ca, s->jlis_key_id);
        key_id(s->visual_signer, sid);
        put(&body, s->jlis_key_id, 16);
        put(&body, sid, 16);
        put_pubkey(&body, s->visual_signer, &ok);
        if (!ok || body.oom || body.n != FMC_CVC_BODY_LEN) {
            st = fm_fail(ctx, FM_ERR_INTERNAL, "cardsim: EF 0004 body is %zu bytes, expected %d", body.n,
                         FMC_CVC_BODY_LEN);
            goto done;
        }
        uint8_t sig[256];
        if (!sign_sha256(s->jlis_ca, body.p, body.n, sig)) {
            st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: signing EF 0004 failed");
            goto done;
        }
        put_tlv(&cvc, FMC_TAG_CVC_BODY, body.p, body.n);
        put_tlv(&cvc, FMC_TAG_CVC_SIG, sig, 256);
        put_tlv(&ef4, FMC_TAG_CVC, cvc.p, cvc.n);
        if (cvc.oom || ef4.oom) {
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
    }
    /* ---- JPKI certificates ---- */
    char cn[128];
    ca = make_cert(s->jpki_ca, "facematch JPKI test CA", "JPKI test CA (not J-LIS)", NULL, s->jpki_ca, 1,
                   "critical,keyCertSign,cRLSign", NULL);
    auth = ca ? make_cert(s->auth_key, "facematch virtual card user authentication", "JPKI user authentication",
                          ca, s->jpki_ca, 0, "critical,digitalSignature", "clientAuth")
              : NULL;
    snprintf(cn, sizeof cn, "%s", h->name[0] ? h->name : "facematch virtual card holder");
    sign = ca ? make_cert(s->sign_key, cn, "JPKI digital signature", ca, s->jpki_ca, 0,
                          "critical,digitalSignature,nonRepudiation", NULL)
              : NULL;
    if (!ca || !auth || !sign || !(ca_der = der_of(ca, &s->jpki_ca_der_len)) ||
        !(auth_der = der_of(auth, &auth_len)) || !(sign_der = der_of(sign, &sign_len))) {
        st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: issuing test certificates failed");
        goto done;
    }
    if (ca_der[1] != 0x82 || auth_der[1] != 0x82 || sign_der[1] != 0x82) {
        st = fm_fail(ctx, FM_ERR_INTERNAL, "cardsim: certificate does not start 30 82");
        goto done;
    }
    s->jpki_ca_der = ca_der;
    ca_der = NULL;

    /* ---- file systems ---- */
    static const char token[] = "JPKIAPICCTOKEN2                 "; /* content unconfirmed */
    sim_ap *jp = &s->aps[0], *vi = &s->aps[1], *tx = &s->aps[2], *rr = &s->aps[3];
    jp->aid = FMC_AID_JPKI;
    vi->aid = FMC_AID_VISUAL;
    tx->aid = FMC_AID_TEXT;
    rr->aid = FMC_AID_RESIDENT;
    ok = add_data(jp, FMC_EF_JPKI_AUTH_CERT, auth_der, auth_len, 0) &&
         add_data(jp, FMC_EF_JPKI_AUTH_CA, s->jpki_ca_der, s->jpki_ca_der_len, 0) &&
         add_data(jp, FMC_EF_JPKI_SIGN_CERT, sign_der, sign_len, 1u << FM_CARDSIM_PIN_SIGN) &&
         add_data(jp, FMC_EF_JPKI_SIGN_CA, s->jpki_ca_der, s->jpki_ca_der_len, 0) &&
         add_data(jp, FMC_EF_JPKI_TOKEN, (const uint8_t *)token, 32, 0);
    add_key(jp, FMC_EF_JPKI_AUTH_KEY, s->auth_key, FM_CARDSIM_PIN_AUTH);
    add_pin(s, jp, FMC_EF_JPKI_AUTH_PIN, FM_CARDSIM_PIN_AUTH, h->auth_pin, FMC_TRIES_AUTH);
    add_key(jp, FMC_EF_JPKI_SIGN_KEY, s->sign_key, FM_CARDSIM_PIN_SIGN);
    add_pin(s, jp, FMC_EF_JPKI_SIGN_PIN, FM_CARDSIM_PIN_SIGN, h->sign_pin, FMC_TRIES_SIGN);
    ok = ok && add_data(vi, FMC_EF_VISUAL_DATA, ef2.p, ef2.n, (1u << FM_CARDSIM_PIN_A) | (1u << FM_CARDSIM_PIN_B)) &&
         add_data(vi, FMC_EF_VISUAL_CERT, ef4.p, ef4.n, 0);
    add_pin(s, vi, FMC_EF_VISUAL_PIN_B, FM_CARDSIM_PIN_B, pin_b, FMC_TRIES_VISUAL);
    add_pin(s, vi, FMC_EF_VISUAL_PIN_A, FM_CARDSIM_PIN_A, h->my_number, FMC_TRIES_VISUAL);
    {
        uint8_t mn[32];
        size_t mnl = 0;
        uint8_t h2[8];
        size_t hl = fmc_tlv_put_header(h2, 0x10, strlen(h->my_number)); /* placeholder tag, content unconfirmed */
        memcpy(mn, h2, hl);
        memcpy(mn + hl, h->my_number, strlen(h->my_number));
        mnl = hl + strlen(h->my_number);
        ok = ok && add_data(tx, FMC_EF_TEXT_MYNUMBER, mn, mnl, 1u << FM_CARDSIM_PIN_TEXT);
        OPENSSL_cleanse(mn, sizeof mn);
    }
    add_pin(s, tx, FMC_EF_TEXT_PIN, FM_CARDSIM_PIN_TEXT, h->text_pin[0] ? h->text_pin : h->auth_pin, FMC_TRIES_TEXT);
    add_pin(s, rr, FMC_EF_RESIDENT_PIN, FM_CARDSIM_PIN_RESIDENT, h->resident_pin[0] ? h->resident_pin : h->auth_pin,
            FMC_TRIES_RESIDENT);
    if (!ok)
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
done:
    OPENSSL_cleanse(pin_b, sizeof pin_b);
    free(portrait);
    free(name_png);
    free(addr_png);
    free(code_png);
    free(ca_der);
    free(auth_der);
    free(sign_der);
    X509_free(ca);
    X509_free(auth);
    X509_free(sign);
    free(pk.p);
    free(inner.p);
    free(ef2.p);
    free(body.p);
    free(cvc.p);
    free(ef4.p);
    return st;
}

/* ---- exports ---- */
fm_status fm_cardsim_pem(fm_ctx *ctx, const fm_cardsim *s, int which, char *buf, size_t cap, size_t *len)
{
    if (!s || !len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_cardsim_pem: NULL argument");
    BIO *b = BIO_new(BIO_s_mem());
    if (!b)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    int ok;
    if (which == FM_CARDSIM_PEM_JLIS_CA) {
        ok = PEM_write_bio_PUBKEY(b, s->jlis_ca);
    } else {
        const unsigned char *q = s->jpki_ca_der;
        X509 *x = d2i_X509(NULL, &q, (long)s->jpki_ca_der_len);
        ok = x && PEM_write_bio_X509(b, x);
        X509_free(x);
    }
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    fm_status st = FM_OK;
    if (!ok || n <= 0) {
        st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: PEM export failed");
    } else {
        *len = (size_t)n;
        if (!buf || cap < (size_t)n)
            st = fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "PEM needs %ld bytes", n);
        else
            memcpy(buf, p, (size_t)n);
    }
    BIO_free(b);
    return st;
}

static fm_status write_file(fm_ctx *ctx, const char *dir, const char *name, const void *d, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return fm_fail(ctx, FM_ERR_IO, "cannot write %s", path);
    size_t w = fwrite(d, 1, n, f);
    int cl = fclose(f);
    if (w != n || cl != 0)
        return fm_fail(ctx, FM_ERR_IO, "cannot write %s", path);
    return FM_OK;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = '\n';
    out[2 * n + 1] = '\0';
}

fm_status fm_cardsim_export(fm_ctx *ctx, const fm_cardsim *s, const char *dir)
{
    if (!s || !dir)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_cardsim_export: NULL argument");
    mkdir(dir, 0700);
    char pem[8192];
    size_t n;
    fm_status st = fm_cardsim_pem(ctx, s, FM_CARDSIM_PEM_JLIS_CA, pem, sizeof pem, &n);
    if (!st)
        st = write_file(ctx, dir, "jlis-ca.pem", pem, n);
    if (!st)
        st = fm_cardsim_pem(ctx, s, FM_CARDSIM_PEM_JPKI_CA, pem, sizeof pem, &n);
    if (!st)
        st = write_file(ctx, dir, "jpki-ca.pem", pem, n);
    char hx[40];
    if (!st) {
        hex(s->jlis_key_id, 16, hx);
        st = write_file(ctx, dir, "jlis-ca.keyid", hx, 33);
    }
    if (!st) {
        hex(s->admin_key, 16, hx);
        st = write_file(ctx, dir, "admin-key.hex", hx, 33);
        OPENSSL_cleanse(hx, sizeof hx);
    }
    if (!st) {
        const sim_ap *jp = &s->aps[0];
        for (int i = 0; i < jp->nfiles; i++)
            if (jp->files[i].fid == FMC_EF_JPKI_AUTH_CERT) {
                const unsigned char *q = jp->files[i].data;
                X509 *x = d2i_X509(NULL, &q, (long)jp->files[i].len);
                BIO *b = BIO_new(BIO_s_mem());
                if (x && b && PEM_write_bio_X509(b, x)) {
                    char *p;
                    long m = BIO_get_mem_data(b, &p);
                    st = write_file(ctx, dir, "auth-cert.pem", p, (size_t)m);
                } else {
                    st = fm_fail(ctx, FM_ERR_CRYPTO, "cardsim: exporting the auth certificate failed");
                }
                BIO_free(b);
                X509_free(x);
            }
    }
    return st;
}
