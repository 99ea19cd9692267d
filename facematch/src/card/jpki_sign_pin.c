/* JPKI AP: the signing PIN (EF 001B), the signing certificate (EF 0001) and the signing key (001A) — for the
 * user-authentication-PIN reset of issue 7, whose phone step proves the holder knows the signing PIN (no face step)
 * and whose kiosk step has the card verify the signing PIN. Same PIN-safety path as the authentication PIN: format
 * check (6-16 of A-Z 0-9, at least one letter and one digit), tries read first without spending one, last-try refusal
 * unless FM_CARD_ALLOW_LAST_TRY, APDU buffers wiped. The certificate read and the signature are jpki.c's sequences
 * (fmc_jpki_read_cert, fmc_jpki_sign) on the signing pair. */
#include "card_session.h"

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
    /* unlike the authentication certificate, the signing certificate is readable only after the signing PIN */
    if (card->ap != FMC_AP_JPKI)
        return fm_fail(card->ctx, FM_ERR_STATE,
                       "signing certificate: verify the signing PIN first (the JPKI AP is not selected in this session)");
    return fmc_jpki_read_cert(card, &FMC_JPKI_SIGN, buf, cap, len);
}

fm_status fm_card_jpki_sign_sign(fm_card *card, const uint8_t digest[32], uint8_t *sig, size_t cap, size_t *sig_len)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (!digest || !sig_len)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_jpki_sign_sign: NULL argument");
    return fmc_jpki_sign(card, &FMC_JPKI_SIGN, digest, sig, cap, sig_len);
}
