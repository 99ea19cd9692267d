/* Fuzz target: a hostile card on the reset-flow calls (issue 7): signing-PIN VERIFY, the signing certificate read
 * (EF 0001, chunked READ BINARY + strict TLV + X.509 parse) and the signing-key signature, through a transport that
 * answers every APDU with the next input slice (2-byte big-endian length + bytes). */
#include "facematch.h"
#include "fuzz_transport.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 0;
    fuzz_feed f = {data, size, 0, 0};
    fm_card *card = NULL;
    if (fm_card_create(ctx, fuzz_feed_tx, &f, &card) == FM_OK) {
        fm_card_set_max_file_bytes(card, 4096);
        int t = -1;
        (void)fm_card_jpki_verify_sign_pin(card, "ABC12345", FM_CARD_ALLOW_LAST_TRY, &t);
        uint8_t cert[4096], sig[512], dg[32] = {0};
        size_t cl = 0, sl = 0;
        (void)fm_card_jpki_sign_cert(card, cert, sizeof cert, &cl);
        (void)fm_card_jpki_sign_sign(card, dg, sig, sizeof sig, &sl);
        (void)fm_card_jpki_verify_auth_pin(card, "4721", 0, &t);
        fm_card_destroy(card);
    }
    fm_ctx_destroy(ctx);
    return 0;
}
