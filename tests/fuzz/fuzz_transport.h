/* Shared by the card fuzz targets (fuzz_card.c, fuzz_flow_card.c): a hostile card transport. Every APDU is answered
 * with the next input slice, framed as a 2-byte big-endian length followed by that many bytes (cut at the end of the
 * input), so the response handling (61xx/6Cxx, chunked READ BINARY, status words, lengths) sees arbitrary answers.
 * The card "leaves" (FM_CARD_TX_REMOVED) when the input is used up or after 400 exchanges; a slice larger than the
 * caller's buffer is reported as FM_CARD_TX_OVERFLOW, as a real transport would. */
#ifndef FUZZ_TRANSPORT_H
#define FUZZ_TRANSPORT_H

#include "facematch.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t n, pos;
    int calls;
} fuzz_feed;

static int fuzz_feed_tx(void *user, const uint8_t *apdu, size_t len, uint8_t *resp, size_t cap, size_t *rl)
{
    fuzz_feed *f = user;
    (void)apdu;
    (void)len;
    if (++f->calls > 400 || f->n - f->pos < 2)
        return FM_CARD_TX_REMOVED;
    size_t k = ((size_t)f->p[f->pos] << 8) | f->p[f->pos + 1];
    f->pos += 2;
    if (k > f->n - f->pos)
        k = f->n - f->pos;
    if (k > cap)
        return FM_CARD_TX_OVERFLOW;
    memcpy(resp, f->p + f->pos, k);
    f->pos += k;
    *rl = k;
    return 0;
}

#endif
