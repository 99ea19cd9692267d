/* Strict BER-TLV parser for card data (ISO 7816-4 annex D / X.690 subset) and the EF 0002 / EF 0004 parsers.
 * Everything here reads untrusted bytes: no read past n, every length checked, nesting limited. */
#include "card_internal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

fm_status fmc_tlv_header(fm_ctx *ctx, const uint8_t *p, size_t n, uint32_t *tag, size_t *hdr_len, size_t *len)
{
    size_t i = 0;
    if (n < 1)
        return fm_fail(ctx, FM_ERR_TRUNCATED, "card data: TLV missing (no bytes left)");
    uint32_t t = p[i++];
    if ((t & 0x1F) == 0x1F) {
        /* multi-byte tag: subsequent bytes have bit 8 set while more follow; at most 3 tag bytes in total */
        int k = 0;
        for (;;) {
            if (i >= n)
                return fm_fail(ctx, FM_ERR_TRUNCATED, "card data: TLV tag cut short");
            uint8_t b = p[i++];
            if (k == 0 && b == 0x80)
                return fm_fail(ctx, FM_ERR_CORRUPT, "card data: non-minimal multi-byte tag (%02X 80)", (unsigned)t);
            t = (t << 8) | b;
            k++;
            if (!(b & 0x80))
                break;
            if (k >= 2)
                return fm_fail(ctx, FM_ERR_CORRUPT, "card data: TLV tag longer than 3 bytes");
        }
    }
    if (i >= n)
        return fm_fail(ctx, FM_ERR_TRUNCATED, "card data: TLV length missing after tag %X", (unsigned)t);
    uint8_t l0 = p[i++];
    size_t l;
    if (l0 < 0x80) {
        l = l0;
    } else if (l0 == 0x80) {
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: indefinite length (80) in tag %X is not allowed",
                       (unsigned)t);
    } else {
        size_t nb = l0 & 0x7F;
        if (nb > 3)
            return fm_fail(ctx, FM_ERR_CORRUPT, "card data: length form %02X in tag %X is not supported (max 83)",
                           l0, (unsigned)t);
        if (n - i < nb)
            return fm_fail(ctx, FM_ERR_TRUNCATED, "card data: TLV length bytes cut short in tag %X", (unsigned)t);
        l = 0;
        for (size_t k = 0; k < nb; k++)
            l = (l << 8) | p[i++];
        static const size_t min_for[4] = {0, 0x80, 0x100, 0x10000};
        if (FMC_TLV_REQUIRE_MINIMAL_LENGTH && l < min_for[nb])
            return fm_fail(ctx, FM_ERR_CORRUPT, "card data: over-long length form %02X for length %zu in tag %X", l0,
                           l, (unsigned)t);
    }
    *tag = t;
    *hdr_len = i;
    *len = l;
    return FM_OK;
}

fm_status fmc_tlv_next(fm_ctx *ctx, const uint8_t *p, size_t n, size_t *pos, fmc_tlv *out)
{
    if (*pos > n)
        return fm_fail(ctx, FM_ERR_INTERNAL, "card data: TLV position past the end");
    const uint8_t *q = p + *pos;
    size_t avail = n - *pos, hl, l;
    uint32_t tag;
    fm_status st = fmc_tlv_header(ctx, q, avail, &tag, &hl, &l);
    if (st)
        return st;
    if (l > avail - hl)
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: tag %X declares %zu bytes but only %zu remain", (unsigned)tag,
                       l, avail - hl);
    uint32_t first = tag;
    while (first > 0xFF)
        first >>= 8;
    out->tag = tag;
    out->constructed = (first & 0x20) != 0;
    out->raw = q;
    out->raw_len = hl + l;
    out->value = q + hl;
    out->len = l;
    *pos += hl + l;
    return FM_OK;
}

fm_status fmc_tlv_single(fm_ctx *ctx, const uint8_t *p, size_t n, fmc_tlv *out)
{
    size_t pos = 0;
    fm_status st = fmc_tlv_next(ctx, p, n, &pos, out);
    if (st)
        return st;
    if (pos != n)
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: %zu unexpected bytes after tag %X", n - pos,
                       (unsigned)out->tag);
    return FM_OK;
}

fm_status fmc_tlv_validate(fm_ctx *ctx, const uint8_t *p, size_t n, int max_depth)
{
    if (max_depth <= 0)
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: TLV nesting deeper than %d", FMC_TLV_MAX_DEPTH);
    size_t pos = 0;
    while (pos < n) {
        fmc_tlv t = {0};
        fm_status st = fmc_tlv_next(ctx, p, n, &pos, &t);
        if (st)
            return st;
        if (t.constructed) {
            st = fmc_tlv_validate(ctx, t.value, t.len, max_depth - 1);
            if (st)
                return st;
        }
    }
    return FM_OK;
}

size_t fmc_tlv_put_header(uint8_t *out, uint32_t tag, size_t len)
{
    size_t i = 0;
    if (tag > 0xFFFF)
        out[i++] = (uint8_t)(tag >> 16);
    if (tag > 0xFF)
        out[i++] = (uint8_t)(tag >> 8);
    out[i++] = (uint8_t)tag;
    if (len < 0x80) {
        out[i++] = (uint8_t)len;
    } else if (len < 0x100) {
        out[i++] = 0x81;
        out[i++] = (uint8_t)len;
    } else if (len < 0x10000) {
        out[i++] = 0x82;
        out[i++] = (uint8_t)(len >> 8);
        out[i++] = (uint8_t)len;
    } else if (len < 0x1000000) {
        out[i++] = 0x83;
        out[i++] = (uint8_t)(len >> 16);
        out[i++] = (uint8_t)(len >> 8);
        out[i++] = (uint8_t)len;
    } else {
        return 0;
    }
    return i;
}

int fmc_date_valid(const char *s)
{
    for (int i = 0; i < 8; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[4] - '0') * 10 + (s[5] - '0');
    int d = (s[6] - '0') * 10 + (s[7] - '0');
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    int md = mdays[m - 1] + (m == 2 && leap);
    return d <= md;
}

fm_status fmc_parse_rsa_pub(fm_ctx *ctx, const uint8_t *p, size_t n, const uint8_t **nn, size_t *nlen,
                            const uint8_t **e, size_t *elen)
{
    size_t pos = 0;
    fmc_tlv te = {0}, tn = {0};
    fm_status st = fmc_tlv_next(ctx, p, n, &pos, &te);
    if (st)
        return st;
    st = fmc_tlv_next(ctx, p, n, &pos, &tn);
    if (st)
        return st;
    if (te.tag != FMC_TAG_RSA_E || tn.tag != FMC_TAG_RSA_N || pos != n)
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: RSA public key is not exactly 90 (exponent) then 91 (modulus)");
    if (tn.len != FMC_RSA_BYTES || tn.value[0] < 0x80)
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: RSA modulus is %zu bytes, expected a %d-bit key", tn.len,
                       FMC_RSA_BYTES * 8);
    if (te.len < 1 || te.len > 4 || te.value[0] == 0 || !(te.value[te.len - 1] & 1))
        return fm_fail(ctx, FM_ERR_CORRUPT, "card data: RSA exponent is malformed (%zu bytes)", te.len);
    *nn = tn.value;
    *nlen = tn.len;
    *e = te.value;
    *elen = te.len;
    return FM_OK;
}

static int all_digits(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* An EF's content: one outer TLV with the expected tag, then only FF filler up to the end of the file. */
static fm_status outer_tlv(fm_ctx *ctx, const uint8_t *data, size_t len, uint32_t tag, const char *ef, fmc_tlv *outer)
{
    size_t pos = 0;
    fm_status st = fmc_tlv_next(ctx, data, len, &pos, outer);
    if (st)
        return st;
    if (outer->tag != tag)
        return fm_fail(ctx, FM_ERR_CORRUPT, "%s: outer tag is %X, expected %X", ef, (unsigned)outer->tag,
                       (unsigned)tag);
    for (size_t i = pos; i < len; i++)
        if (data[i] != 0xFF)
            return fm_fail(ctx, FM_ERR_CORRUPT, "%s: byte %02X after the %X TLV (only FF filler allowed)", ef, data[i],
                           (unsigned)tag);
    return FM_OK;
}

fm_status fmc_parse_visual(fm_ctx *ctx, const uint8_t *data, size_t len, fmc_visual_parsed *out)
{
    memset(out, 0, sizeof *out);
    fmc_tlv outer = {0};
    fm_status st = outer_tlv(ctx, data, len, FMC_TAG_VISUAL, "EF 0002", &outer);
    if (st)
        return st;
    size_t ip = 0;
    while (ip < outer.len) {
        fmc_tlv t = {0};
        st = fmc_tlv_next(ctx, outer.value, outer.len, &ip, &t);
        if (st)
            return st;
        if (t.tag < 0xDF21 || t.tag > 0xDF2A)
            return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: unexpected tag %X inside FF20", (unsigned)t.tag);
        fmc_tlv *slot = &out->f[t.tag - 0xDF20];
        if (slot->raw)
            return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: tag %X appears twice", (unsigned)t.tag);
        *slot = t;
    }
    for (uint32_t tag = FMC_TAG_BIRTH; tag <= FMC_TAG_EXPIRY; tag++)
        if (!out->f[tag - 0xDF20].raw)
            return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: required tag %X is missing", (unsigned)tag);
    const fmc_tlv *b = &out->f[FMC_TAG_BIRTH - 0xDF20], *s = &out->f[FMC_TAG_SEX - 0xDF20],
                  *x = &out->f[FMC_TAG_EXPIRY - 0xDF20], *sig = &out->f[FMC_TAG_SIGNATURE - 0xDF20],
                  *pk = &out->f[FMC_TAG_PUBKEY - 0xDF20], *por = &out->f[FMC_TAG_PORTRAIT - 0xDF20];
    if (b->len != 8 || !all_digits(b->value, 8) || !fmc_date_valid((const char *)b->value))
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: DF22 birth date is not a valid YYYYMMDD");
    if (x->len != 8 || !all_digits(x->value, 8) || !fmc_date_valid((const char *)x->value))
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: DF29 expiry is not a valid YYYYMMDD");
    if (s->len != 1 || (s->value[0] != '1' && s->value[0] != '2' && s->value[0] != '9'))
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: DF23 sex is not '1', '2' or '9'");
    if (sig->len != FMC_RSA_BYTES)
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: DF28 signature is %zu bytes, expected %d", sig->len,
                       FMC_RSA_BYTES);
    if (por->len < 12)
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0002: DF27 portrait is only %zu bytes", por->len);
    st = fmc_parse_rsa_pub(ctx, pk->value, pk->len, &out->rsa_n, &out->rsa_n_len, &out->rsa_e, &out->rsa_e_len);
    if (st) {
        char why[FM_ERRMSG_CAP];
        snprintf(why, sizeof why, "%s", ctx ? ctx->errmsg : "malformed");
        return fm_fail(ctx, st, "EF 0002: DF24 public key: %s", why);
    }
    memcpy(out->birth, b->value, 8);
    out->birth[8] = '\0';
    memcpy(out->expiry, x->value, 8);
    out->expiry[8] = '\0';
    out->sex = (char)s->value[0];
    return FM_OK;
}

fm_status fmc_parse_cvc(fm_ctx *ctx, const uint8_t *data, size_t len, fmc_cvc_parsed *out)
{
    memset(out, 0, sizeof *out);
    fmc_tlv outer = {0};
    fm_status st = outer_tlv(ctx, data, len, FMC_TAG_CVC, "EF 0004", &outer);
    if (st)
        return st;
    size_t ip = 0;
    fmc_tlv body, sig;
    if ((st = fmc_tlv_next(ctx, outer.value, outer.len, &ip, &body)) != FM_OK)
        return st;
    if ((st = fmc_tlv_next(ctx, outer.value, outer.len, &ip, &sig)) != FM_OK)
        return st;
    if (body.tag != FMC_TAG_CVC_BODY || sig.tag != FMC_TAG_CVC_SIG || ip != outer.len)
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0004: 7F21 must hold exactly 5F4E then 5F37");
    if (body.len != FMC_CVC_BODY_LEN)
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0004: 5F4E is %zu bytes, expected %d", body.len, FMC_CVC_BODY_LEN);
    if (sig.len != FMC_RSA_BYTES)
        return fm_fail(ctx, FM_ERR_CORRUPT, "EF 0004: 5F37 signature is %zu bytes, expected %d", sig.len,
                       FMC_RSA_BYTES);
    st = fmc_parse_rsa_pub(ctx, body.value + FMC_CVC_KEY_OFF, body.len - FMC_CVC_KEY_OFF, &out->rsa_n,
                           &out->rsa_n_len, &out->rsa_e, &out->rsa_e_len);
    if (st)
        return st;
    out->body = body.value;
    out->body_len = body.len;
    out->issuer_id = body.value + FMC_CVC_ISSUER_ID_OFF;
    out->subject_id = body.value + FMC_CVC_SUBJECT_ID_OFF;
    out->sig = sig.value;
    out->sig_len = sig.len;
    return FM_OK;
}

void fmc_visual_digest(const fmc_visual_parsed *v, uint8_t out[96])
{
    static const uint32_t groups[FMC_SIG_GROUPS][3] = {
        {FMC_TAG_BIRTH, FMC_TAG_SEX, FMC_TAG_PUBKEY}, {FMC_TAG_NAME_IMG, FMC_TAG_ADDR_IMG, 0}, {FMC_TAG_PORTRAIT, 0, 0}};
    memset(out, 0, 96); /* on an OpenSSL failure the digest stays zero and cannot match a signature: fails closed */
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        return;
    for (int g = 0; g < FMC_SIG_GROUPS; g++) {
        unsigned dl = 0;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
            break;
        for (int k = 0; k < 3 && groups[g][k]; k++) {
            const fmc_tlv *t = &v->f[groups[g][k] - 0xDF20];
            if (t->raw_len && EVP_DigestUpdate(md, t->raw, t->raw_len) != 1)
                goto done;
        }
        if (EVP_DigestFinal_ex(md, out + 32 * g, &dl) != 1)
            break;
    }
done:
    EVP_MD_CTX_free(md);
}

const char *fmc_sw_text(unsigned sw)
{
    if ((sw & 0xFFF0) == 0x63C0)
        return "wrong PIN / tries left";
    if ((sw & 0xFF00) == 0x6100)
        return "more data available";
    if ((sw & 0xFF00) == 0x6C00)
        return "wrong Le";
    switch (sw) {
    case 0x9000: return "ok";
    case 0x6282: return "end of file reached before Le bytes";
    case 0x6700: return "wrong length";
    case 0x6981: return "command incompatible with file structure";
    case 0x6982: return "security status not satisfied";
    case 0x6983: return "authentication method blocked";
    case 0x6984: return "PIN locked (reference data invalidated)";
    case 0x6985: return "conditions of use not satisfied";
    case 0x6986: return "command not allowed (no current EF)";
    case 0x6A82: return "file or application not found";
    case 0x6A86: return "incorrect P1/P2";
    case 0x6B00: return "wrong parameters (offset past the end)";
    case 0x6D00: return "instruction not supported";
    case 0x6E00: return "class not supported";
    default: return "unexpected status";
    }
}
