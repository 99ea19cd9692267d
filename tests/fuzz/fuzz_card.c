/* Fuzz target: a hostile card. The input drives (1) the strict BER-TLV validator and the EF 0002 / EF 0004 parsers
 * directly, and (2) a whole visual-AP read and JPKI certificate read through a transport that answers every APDU
 * with the next input slice (2-byte big-endian length + bytes), so the response handling (61xx/6Cxx, chunked
 * READ BINARY, status words, lengths) sees arbitrary answers. */
#include "card/card_internal.h"
#include "fuzz_transport.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return 0;
    (void)fmc_tlv_validate(ctx, data, size, FMC_TLV_MAX_DEPTH);
    fmc_visual_parsed vp;
    if (fmc_parse_visual(ctx, data, size, &vp) == FM_OK) {
        uint8_t d[96];
        fmc_visual_digest(&vp, d);
    }
    fmc_cvc_parsed cvc;
    (void)fmc_parse_cvc(ctx, data, size, &cvc);

    fuzz_feed f = {data, size, 0, 0};
    fm_card *card = NULL;
    if (fm_card_create(ctx, fuzz_feed_tx, &f, &card) == FM_OK) {
        fm_card_set_max_file_bytes(card, 4096);
        fm_card_visual *v = NULL;
        if (fm_card_read_visual(card, FM_CARD_PIN_VISUAL_B, "55021720352285", FM_CARD_ALLOW_LAST_TRY, &v, NULL) ==
            FM_OK) {
            fm_card_visual_info info;
            fm_card_visual_get_info(v, &info);
            (void)fm_card_check_presence(card, v);
            fm_card_visual_destroy(v);
        }
        uint8_t cert[4096];
        size_t cl;
        (void)fm_card_jpki_auth_cert(card, cert, sizeof cert, &cl);
        int t;
        (void)fm_card_pin_tries(card, FM_CARD_PIN_AUTH, &t);
        fm_card_destroy(card);
    }
    fm_ctx_destroy(ctx);
    return 0;
}
