/* JPKI AP: authentication certificate, auth PIN, signing with the authentication key; and the certificate-read and
 * COMPUTE SIGNATURE sequences shared by both JPKI key pairs (the signing pair's calls are in jpki_sign_pin.c). */
#include "card_session.h"

#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const fmc_jpki_pair FMC_JPKI_AUTH = {FMC_EF_JPKI_AUTH_CERT, FMC_EF_JPKI_AUTH_KEY, "authentication certificate",
                                     "authentication key", "authentication PIN"};
const fmc_jpki_pair FMC_JPKI_SIGN = {FMC_EF_JPKI_SIGN_CERT, FMC_EF_JPKI_SIGN_KEY, "signing certificate", "signing key",
                                     "signing PIN"};

fm_status fmc_jpki_read_cert(fm_card *card, const fmc_jpki_pair *kp, uint8_t *buf, size_t cap, size_t *len)
{
    char what[64];
    snprintf(what, sizeof what, "EF %04X (%s)", kp->cert_ef, kp->cert_name);
    fm_status st = fmc_select_ef(card, kp->cert_ef, kp->cert_name);
    uint8_t *d = NULL;
    size_t n = 0;
    if (!st)
        st = fmc_read_tlv_file(card, what, &d, &n);
    if (st)
        return st;
    const unsigned char *q = d;
    X509 *x = (n >= 4 && d[0] == 0x30 && d[1] == 0x82) ? d2i_X509(NULL, &q, (long)n) : NULL;
    int ok = x && q == d + n;
    X509_free(x);
    if (!ok)
        st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE,
                     "EF %04X: not a DER X.509 certificate starting 30 82 (OpenSSL could not parse it)", kp->cert_ef);
    else {
        *len = n;
        if (!buf || cap < n)
            st = fm_fail(card->ctx, FM_ERR_BUFFER_TOO_SMALL, "certificate needs %zu bytes, buffer has %zu", n,
                         buf ? cap : 0);
        else
            memcpy(buf, d, n);
    }
    fm_wipe(d, n); /* the certificates name the holder */
    free(d);
    return st;
}

fm_status fmc_jpki_sign(fm_card *card, const fmc_jpki_pair *kp, const uint8_t digest[32], uint8_t *sig, size_t cap,
                        size_t *sig_len)
{
    if (!sig || cap < FMC_RSA_BYTES) {
        *sig_len = FMC_RSA_BYTES;
        return fm_fail(card->ctx, FM_ERR_BUFFER_TOO_SMALL, "signature needs %d bytes", FMC_RSA_BYTES);
    }
    if (card->ap != FMC_AP_JPKI)
        return fm_fail(card->ctx, FM_ERR_STATE, "sign: verify the %s first (the JPKI AP is not selected in this session)",
                       kp->pin_name);
    fm_status st = fmc_select_ef(card, kp->key_ef, kp->key_name);
    if (st)
        return st;
    char what[80];
    snprintf(what, sizeof what, "COMPUTE SIGNATURE (80 2A 00 80, %s %04X)", kp->key_name, kp->key_ef);
    uint8_t di[sizeof FMC_DI_SHA256_PREFIX + 32], out[FMC_RSA_BYTES + 16];
    memcpy(di, FMC_DI_SHA256_PREFIX, sizeof FMC_DI_SHA256_PREFIX);
    memcpy(di + sizeof FMC_DI_SHA256_PREFIX, digest, 32);
    fmc_cmd c = {FMC_CLA_PROP, FMC_INS_SIGN, 0x00, FMC_P2_SIGN_JPKI, di, sizeof di, 256};
    size_t n = 0;
    unsigned sw = 0;
    st = fmc_exchange(card, &c, out, sizeof out, &n, &sw, what);
    if (!st && sw == 0x6982)
        st = fm_fail(card->ctx, FM_ERR_CARD_STATUS,
                     "COMPUTE SIGNATURE: security status not satisfied (6982): verify the %s first", kp->pin_name);
    else if (!st && sw != 0x9000)
        st = fmc_sw_fail(card, sw, what);
    else if (!st && n != FMC_RSA_BYTES)
        st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "COMPUTE SIGNATURE: answer is %zu bytes, expected %d", n,
                     FMC_RSA_BYTES);
    else if (!st) {
        memcpy(sig, out, n);
        *sig_len = n;
    }
    fm_wipe(di, sizeof di); /* the digest of what the holder signs */
    fm_wipe(out, sizeof out);
    return st;
}

fm_status fm_card_jpki_auth_cert(fm_card *card, uint8_t *buf, size_t cap, size_t *len)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!len)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_jpki_auth_cert: len is NULL");
    /* the authentication certificate is public: no PIN, the AP is selected here */
    fm_status st = fmc_select_ap(card, FMC_AP_JPKI);
    return st ? st : fmc_jpki_read_cert(card, &FMC_JPKI_AUTH, buf, cap, len);
}

fm_status fm_card_jpki_verify_auth_pin(fm_card *card, const char *pin, unsigned flags, int *tries_left)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    return fmc_verify_pin(card, FM_CARD_PIN_AUTH, pin, flags, tries_left);
}

fm_status fm_card_jpki_sign_auth(fm_card *card, const uint8_t digest[32], uint8_t *sig, size_t cap, size_t *sig_len)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!digest || !sig_len)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_jpki_sign_auth: NULL argument");
    return fmc_jpki_sign(card, &FMC_JPKI_AUTH, digest, sig, cap, sig_len);
}
