/* Visual AP (券面事項確認AP): portrait and card-face data, authenticity (DF28, EF 0004), card presence. */
#include "card_session.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

struct fm_card_visual {
    uint8_t *ef2; /* EF 0002 as read (the FF20 TLV) */
    size_t ef2_len;
    uint8_t *ef4; /* EF 0004 as read (the 7F21 TLV), NULL if it could not be read */
    size_t ef4_len;
    fmc_visual_parsed p; /* pointers into ef2 */
    fm_card_visual_info info;
};

/* ---- trusted CA keys ---- */

static int has_pem_marker(const uint8_t *d, size_t n)
{
    static const char m[] = "-----BEGIN";
    for (size_t i = 0; i + sizeof m - 1 <= n; i++)
        if (memcmp(d + i, m, sizeof m - 1) == 0)
            return 1;
    return 0;
}

static EVP_PKEY *load_rsa_key(const uint8_t *d, size_t n)
{
    EVP_PKEY *k = NULL;
    if (has_pem_marker(d, n)) {
        BIO *b = BIO_new_mem_buf(d, (int)n);
        if (!b)
            return NULL;
        k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
        if (!k) {
            (void)BIO_reset(b);
            X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
            if (x) {
                k = X509_get_pubkey(x);
                X509_free(x);
            }
        }
        if (!k) {
            (void)BIO_reset(b);
            k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL); /* tolerated: only its public half is kept */
            if (k) {
                unsigned char *der = NULL;
                int dl = i2d_PUBKEY(k, &der);
                EVP_PKEY_free(k);
                k = NULL;
                if (dl > 0) {
                    const unsigned char *q = der;
                    k = d2i_PUBKEY(NULL, &q, dl);
                }
                OPENSSL_free(der);
            }
        }
        BIO_free(b);
    } else {
        const unsigned char *q = d;
        k = d2i_PUBKEY(NULL, &q, (long)n);
        if (!k || q != d + n) {
            EVP_PKEY_free(k);
            k = NULL;
            q = d;
            k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &q, (long)n);
            if (k && q != d + n) {
                EVP_PKEY_free(k);
                k = NULL;
            }
        }
        if (!k) {
            q = d;
            X509 *x = d2i_X509(NULL, &q, (long)n);
            if (x && q == d + n)
                k = X509_get_pubkey(x);
            X509_free(x);
        }
    }
    if (k && EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
        EVP_PKEY_free(k);
        k = NULL;
    }
    return k;
}

fm_status fm_card_add_trusted_ca_key(fm_card *card, const void *data, size_t len, const uint8_t *key_id)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!data || !len || len > (1u << 20))
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "trusted CA key: empty or larger than 1 MiB");
    if (card->n_ca >= FMC_MAX_CA)
        return fm_fail(card->ctx, FM_ERR_LIMIT, "at most %d trusted CA keys", FMC_MAX_CA);
    EVP_PKEY *k = load_rsa_key(data, len);
    if (!k)
        return fm_fail(card->ctx, FM_ERR_KEY,
                       "trusted CA key: not an RSA public key, certificate or key in PEM or DER form");
    card->ca[card->n_ca].key = k;
    card->ca[card->n_ca].has_id = key_id != NULL;
    if (key_id)
        memcpy(card->ca[card->n_ca].id, key_id, FMC_CVC_KEY_ID_LEN);
    card->n_ca++;
    return FM_OK;
}

fm_status fm_card_add_trusted_ca_key_file(fm_card *card, const char *path, const uint8_t *key_id)
{
    if (!card || !path)
        return card ? fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "trusted CA key: path is NULL")
                    : FM_ERR_INVALID_ARGUMENT;
    uint8_t *d;
    size_t n;
    fm_status st = fm_read_file(card->ctx, path, 1 << 20, &d, &n);
    if (st)
        return st;
    st = fm_card_add_trusted_ca_key(card, d, n, key_id);
    free(d);
    if (st == FM_ERR_KEY)
        fm_fail(card->ctx, st, "trusted CA key %s: not an RSA public key or certificate (PEM or DER)", path);
    return st;
}

/* ---- signature checks ---- */

static int verify_sha256(EVP_PKEY *key, const uint8_t *msg, size_t n, const uint8_t *sig, size_t sl)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(md, sig, sl, msg, n) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* DF28: raw RSA verify of PKCS#1 v1.5 over DigestInfo{sha256, 96-byte digest}. */
static int verify_df28(EVP_PKEY *key, const uint8_t digest96[96], const uint8_t *sig, size_t sl)
{
    uint8_t expect[sizeof FMC_DI_SHA256x3_PREFIX + 96];
    memcpy(expect, FMC_DI_SHA256x3_PREFIX, sizeof FMC_DI_SHA256x3_PREFIX);
    memcpy(expect + sizeof FMC_DI_SHA256x3_PREFIX, digest96, 96);
    uint8_t rec[FMC_RSA_BYTES];
    size_t rl = sizeof rec;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);
    int ok = pc && EVP_PKEY_verify_recover_init(pc) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_verify_recover(pc, rec, &rl, sig, sl) == 1 && rl == sizeof expect &&
             CRYPTO_memcmp(rec, expect, sizeof expect) == 0;
    EVP_PKEY_CTX_free(pc);
    return ok;
}

static void set_auth(fm_card_visual *v, fm_card_authenticity a, const char *detail)
{
    v->info.authenticity = a;
    /* the detail is a short reason; cut it (explicitly) if it is longer than the public field */
    size_t n = strlen(detail), cap = sizeof v->info.authenticity_detail;
    if (n >= cap)
        n = cap - 1;
    memcpy(v->info.authenticity_detail, detail, n);
    v->info.authenticity_detail[n] = '\0';
}

/* Decides authenticity; *detail gets a short reason (for messages / CLI). */
static fm_card_authenticity check_authenticity(fm_card *card, fm_card_visual *v, char *detail, size_t dcap)
{
    fmc_cvc_parsed cvc;
    if (!v->ef4) {
        snprintf(detail, dcap, "EF 0004 could not be read");
        return FM_CARD_AUTH_INVALID;
    }
    fm_ctx scratch = *card->ctx;
    if (fmc_parse_cvc(&scratch, v->ef4, v->ef4_len, &cvc) != FM_OK) {
        snprintf(detail, dcap, "EF 0004 is malformed: %.120s", scratch.errmsg);
        return FM_CARD_AUTH_INVALID;
    }
    EVP_PKEY *signer = fmc_rsa_from_ne(cvc.rsa_n, cvc.rsa_n_len, cvc.rsa_e, cvc.rsa_e_len);
    if (!signer) {
        snprintf(detail, dcap, "EF 0004 public key unusable");
        return FM_CARD_AUTH_INVALID;
    }
    uint8_t d96[96];
    fmc_visual_digest(&v->p, d96);
    const fmc_tlv *sig = &v->p.f[FMC_TAG_SIGNATURE - 0xDF20];
    int df28_ok = verify_df28(signer, d96, sig->value, sig->len);
    EVP_PKEY_free(signer);
    if (!df28_ok) {
        snprintf(detail, dcap, "DF28 signature does not match the card-face data (altered or not genuine)");
        return FM_CARD_AUTH_INVALID;
    }
    int matched = 0, verified = 0;
    for (int i = 0; i < card->n_ca; i++) {
        if (card->ca[i].has_id && memcmp(card->ca[i].id, cvc.issuer_id, FMC_CVC_KEY_ID_LEN) != 0)
            continue;
        matched++;
        if (verify_sha256(card->ca[i].key, cvc.body, cvc.body_len, cvc.sig, cvc.sig_len)) {
            verified = 1;
            break;
        }
    }
    if (verified) {
        snprintf(detail, dcap, "EF 0004 signed by a trusted CA key; DF28 verifies");
        return FM_CARD_AUTH_VERIFIED;
    }
    if (!matched) {
        snprintf(detail, dcap, "%s; DF28 is consistent with EF 0004 but EF 0004 is not proven",
                 card->n_ca ? "no trusted CA key has EF 0004's issuer key id" : "no trusted CA key configured");
        return FM_CARD_AUTH_UNVERIFIABLE;
    }
    snprintf(detail, dcap, "EF 0004 signature does not verify with any trusted CA key");
    return FM_CARD_AUTH_INVALID;
}

/* ---- reading ---- */

static void visual_free(fm_card_visual *v)
{
    if (!v)
        return;
    if (v->ef2) {
        fm_wipe(v->ef2, v->ef2_len);
        free(v->ef2);
    }
    if (v->ef4) {
        fm_wipe(v->ef4, v->ef4_len);
        free(v->ef4);
    }
    fm_wipe(v, sizeof *v);
    free(v);
}

void fm_card_visual_destroy(fm_card_visual *v) { visual_free(v); }

fm_status fm_card_read_visual(fm_card *card, fm_card_pin pin, const char *digits, unsigned flags,
                              fm_card_visual **out, int *tries_left)
{
    if (tries_left)
        *tries_left = -1;
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!out)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_read_visual: out is NULL");
    *out = NULL;
    if (pin != FM_CARD_PIN_VISUAL_A && pin != FM_CARD_PIN_VISUAL_B)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "the visual AP opens with PIN A or PIN B only");
    fm_status st = fmc_verify_pin(card, pin, digits, flags, tries_left);
    if (st)
        return st;
    fm_card_visual *v = calloc(1, sizeof *v);
    if (!v)
        return fm_fail(card->ctx, FM_ERR_NO_MEMORY, "out of memory");
    st = fmc_select_ef(card, FMC_EF_VISUAL_DATA, "visual data");
    if (!st)
        st = fmc_read_tlv_file(card, "EF 0002 (visual data)", &v->ef2, &v->ef2_len);
    if (!st) {
        st = fmc_parse_visual(card->ctx, v->ef2, v->ef2_len, &v->p);
        if (st) {
            char why[FM_ERRMSG_CAP];
            snprintf(why, sizeof why, "%s", card->ctx->errmsg);
            st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s", why);
        }
    }
    if (st) {
        visual_free(v);
        return st;
    }
    /* EF 0004 is free to read; if it is missing or unreadable the data cannot be authenticated (INVALID). */
    fm_ctx saved = *card->ctx;
    if (fmc_select_ef(card, FMC_EF_VISUAL_CERT, "visual AP certificate") == FM_OK)
        (void)fmc_read_tlv_file(card, "EF 0004 (certificate)", &v->ef4, &v->ef4_len);
    /* transport loss while reading EF 0004 is an error, not "invalid" */
    if (!v->ef4 && card->ctx->last_status == FM_ERR_CARD_TRANSPORT) {
        visual_free(v);
        return FM_ERR_CARD_TRANSPORT;
    }
    *card->ctx = saved;
    const fmc_tlv *por = &v->p.f[FMC_TAG_PORTRAIT - 0xDF20];
    memcpy(v->info.birth_date, v->p.birth, 9);
    memcpy(v->info.expiry, v->p.expiry, 9);
    v->info.sex = v->p.sex;
    v->info.portrait_len = por->len;
    fm_sha256(por->value, por->len, v->info.portrait_sha256, v->info.portrait_sha256_hex);
    char detail[256];
    set_auth(v, check_authenticity(card, v, detail, sizeof detail), detail);
    *out = v;
    return FM_OK;
}

fm_status fm_card_read_visual_b(fm_card *card, const char *birth, const char *expiry_year, const char *code,
                                unsigned flags, fm_card_visual **out, int *tries_left)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (out)
        *out = NULL;
    if (tries_left)
        *tries_left = -1;
    char pin[15];
    fm_status st = fm_card_make_pin_b(card->ctx, birth, expiry_year, code, pin);
    if (st == FM_ERR_INVALID_ARGUMENT)
        st = fm_fail(card->ctx, FM_ERR_PIN_FORMAT, "PIN B: %s (nothing was sent)", "birth date is not a valid date");
    if (!st)
        st = fm_card_read_visual(card, FM_CARD_PIN_VISUAL_B, pin, flags, out, tries_left);
    fm_wipe(pin, sizeof pin);
    return st;
}

void fm_card_visual_get_info(const fm_card_visual *v, fm_card_visual_info *info)
{
    if (!info)
        return;
    if (!v) {
        memset(info, 0, sizeof *info);
        return;
    }
    *info = v->info;
}

fm_status fm_card_visual_portrait(fm_ctx *ctx, const fm_card_visual *v, uint8_t *buf, size_t cap, size_t *len)
{
    if (!v || !len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_visual_portrait: NULL argument");
    const fmc_tlv *por = &v->p.f[FMC_TAG_PORTRAIT - 0xDF20];
    *len = por->len;
    if (!buf || cap < por->len)
        return fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "portrait needs %zu bytes, buffer has %zu", por->len,
                       buf ? cap : 0);
    memcpy(buf, por->value, por->len);
    return FM_OK;
}

fm_status fm_card_visual_decode_portrait(fm_ctx *ctx, const fm_card_visual *v, fm_pixfmt want, fm_image **out,
                                         fm_image_info *info)
{
    if (out)
        *out = NULL;
    if (!v || !out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_visual_decode_portrait: NULL argument");
    const fmc_tlv *por = &v->p.f[FMC_TAG_PORTRAIT - 0xDF20];
    fm_format f = fm_image_detect_format(por->value, por->len);
    if (f != FM_FORMAT_JP2 && f != FM_FORMAT_J2K)
        return fm_fail(ctx, FM_ERR_FORMAT, "the card's portrait (DF27) is not JPEG 2000 (detected: %s)",
                       fm_format_name(f));
    return fm_image_decode(ctx, por->value, por->len, want, out, info);
}

const uint8_t *fm_card_visual_raw(const fm_card_visual *v, int ef, size_t *len)
{
    if (len)
        *len = 0;
    if (!v)
        return NULL;
    if (ef == 2) {
        if (len)
            *len = v->ef2_len;
        return v->ef2;
    }
    if (ef == 4) {
        if (len)
            *len = v->ef4_len;
        return v->ef4;
    }
    return NULL;
}

fm_status fm_card_check_presence(fm_card *card, const fm_card_visual *v)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!v)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "card presence needs the visual data (DF24 key)");
    EVP_PKEY *key = fmc_rsa_from_ne(v->p.rsa_n, v->p.rsa_n_len, v->p.rsa_e, v->p.rsa_e_len);
    if (!key)
        return fm_fail(card->ctx, FM_ERR_KEY, "card presence: DF24 key unusable");
    uint8_t challenge[32], di[sizeof FMC_DI_SHA256_PREFIX + 32], sig[FMC_RSA_BYTES + 16];
    fm_status st = FM_OK;
    if (RAND_bytes(challenge, sizeof challenge) != 1) {
        st = fm_fail(card->ctx, FM_ERR_CRYPTO, "card presence: no random challenge (RAND_bytes failed)");
        goto done;
    }
    memcpy(di, FMC_DI_SHA256_PREFIX, sizeof FMC_DI_SHA256_PREFIX);
    fm_sha256(challenge, sizeof challenge, di + sizeof FMC_DI_SHA256_PREFIX, NULL);
    if (card->ap != FMC_AP_VISUAL && (st = fmc_select_ap(card, FMC_AP_VISUAL)) != FM_OK)
        goto done;
    fmc_cmd c = {FMC_CLA_PROP, FMC_INS_SIGN, 0x00, FMC_P2_SIGN_PRESENCE, di, sizeof di, 256};
    size_t sl = 0;
    unsigned sw = 0;
    st = fmc_exchange(card, &c, sig, sizeof sig, &sl, &sw, "card presence (80 2A 00 00)");
    if (st)
        goto done;
    if (sw != 0x9000) {
        st = fmc_sw_fail(card, sw, "card presence (80 2A 00 00)");
        goto done;
    }
    if (sl != FMC_RSA_BYTES) {
        st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "card presence: answer is %zu bytes, expected %d", sl,
                     FMC_RSA_BYTES);
        goto done;
    }
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);
    int ok = pc && EVP_PKEY_verify_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
             EVP_PKEY_verify(pc, sig, sl, di + sizeof FMC_DI_SHA256_PREFIX, 32) == 1;
    EVP_PKEY_CTX_free(pc);
    if (!ok)
        st = fm_fail(card->ctx, FM_ERR_VERIFY,
                     "card presence: the answer does not verify with the DF24 key (card swapped or data not from "
                     "this card)");
done:
    EVP_PKEY_free(key);
    return st;
}
