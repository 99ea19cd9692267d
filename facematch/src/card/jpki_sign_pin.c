/* JPKI AP: VERIFY of the signing PIN (EF 001B), for the kiosk step of a user-authentication-PIN reset (issue 7).
 * Same PIN-safety path as the authentication PIN: format check (6-16 of A-Z 0-9, at least one letter and one digit),
 * tries read first without spending one, last-try refusal unless FM_CARD_ALLOW_LAST_TRY, APDU buffer wiped. */
#include "card_session.h"

fm_status fm_card_jpki_verify_sign_pin(fm_card *card, const char *pin, unsigned flags, int *tries_left)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    return fmc_verify_pin(card, FM_CARD_PIN_SIGN, pin, flags, tries_left);
}
