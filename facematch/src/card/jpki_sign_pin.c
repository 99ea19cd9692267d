/* JPKI AP: the signing PIN (EF 001B), the signing certificate (EF 0001) and the signing key (001A) — for the
 * user-authentication-PIN reset of issue 7, whose phone step proves the holder knows the signing PIN (no face step)
 * and whose kiosk step has the card verify the signing PIN. Same PIN-safety path as the authentication PIN: format
 * check (6-16 of A-Z 0-9, at least one letter and one digit), tries read first without spending one, last-try refusal
 * unless FM_CARD_ALLOW_LAST_TRY, APDU buffers wiped. */
#include "card_session.h"

#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

fm_status fm_card_jpki_verify_sign_pin(fm_card *card, const char *pin, unsigned flags, int *tries_left)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    return fmc_verify_pin(card, FM_CARD_PIN_SIGN, pin, flags, tries_left);
}

fm_status fm_card_jpki_sign_cert(fm_card *card, uint8_t *buf, size_t cap, size_t *len)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!len)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_jpki_sign_cert: len is NULL");
    if (card->ap != FMC_AP_JPKI)
        return fm_fail(card->ctx, FM_ERR_STATE,
                       "signing certificate: verify the signing PIN first (the JPKI AP is not selected in this session)");
    fm_status st = fmc_select_ef(card, FMC_EF_JPKI_SIGN_CERT, "signing certificate");
    uint8_t *d = NULL;
    size_t n = 0;
    if (!st)
        st = fmc_read_tlv_file(card, "EF 0001 (signing certificate)", &d, &n);
    if (st)
        return st;
    const unsigned char *q = d;
    X509 *x = (n >= 4 && d[0] == 0x30 && d[1] == 0x82) ? d2i_X509(NULL, &q, (long)n) : NULL;
    int ok = x && q == d + n;
    X509_free(x);
    if (!ok) {
        fm_wipe(d, n);
        free(d);
        return fm_fail(card->ctx, FM_ERR_CARD_RESPONSE,
                       "EF 0001: not a DER X.509 certificate starting 30 82 (OpenSSL could not parse it)");
    }
    *len = n;
    if (!buf || cap < n) {
        fm_wipe(d, n);
        free(d);
        return fm_fail(card->ctx, FM_ERR_BUFFER_TOO_SMALL, "certificate needs %zu bytes, buffer has %zu", n,
                       buf ? cap : 0);
    }
    memcpy(buf, d, n);
    fm_wipe(d, n); /* the signing certificate names the holder */
    free(d);
    return FM_OK;
}

fm_status fm_card_jpki_sign_sign(fm_card *card, const uint8_t digest[32], uint8_t *sig, size_t cap, size_t *sig_len)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!digest || !sig_len)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_jpki_sign_sign: NULL argument");
    if (!sig || cap < FMC_RSA_BYTES) {
        *sig_len = FMC_RSA_BYTES;
        return fm_fail(card->ctx, FM_ERR_BUFFER_TOO_SMALL, "signature needs %d bytes", FMC_RSA_BYTES);
    }
    if (card->ap != FMC_AP_JPKI)
        return fm_fail(card->ctx, FM_ERR_STATE,
                       "sign: verify the signing PIN first (the JPKI AP is not selected in this session)");
    fm_status st = fmc_select_ef(card, FMC_EF_JPKI_SIGN_KEY, "signing key");
    if (st)
        return st;
    uint8_t di[sizeof FMC_DI_SHA256_PREFIX + 32], out[FMC_RSA_BYTES + 16];
    memcpy(di, FMC_DI_SHA256_PREFIX, sizeof FMC_DI_SHA256_PREFIX);
    memcpy(di + sizeof FMC_DI_SHA256_PREFIX, digest, 32);
    fmc_cmd c = {FMC_CLA_PROP, FMC_INS_SIGN, 0x00, FMC_P2_SIGN_JPKI, di, sizeof di, 256};
    size_t n = 0;
    unsigned sw = 0;
    st = fmc_exchange(card, &c, out, sizeof out, &n, &sw, "COMPUTE SIGNATURE (80 2A 00 80, signing key)");
    if (st)
        return st;
    if (sw == 0x6982)
        return fm_fail(card->ctx, FM_ERR_CARD_STATUS,
                       "COMPUTE SIGNATURE: security status not satisfied (6982): verify the signing PIN first");
    if (sw != 0x9000)
        return fmc_sw_fail(card, sw, "COMPUTE SIGNATURE (80 2A 00 80, signing key)");
    if (n != FMC_RSA_BYTES)
        return fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "COMPUTE SIGNATURE: answer is %zu bytes, expected %d", n,
                       FMC_RSA_BYTES);
    memcpy(sig, out, n);
    *sig_len = n;
    return FM_OK;
}
