/* PC/SC entry points for builds without pcsc-lite (-DFM_WITH_PCSC=OFF): they report FM_ERR_UNSUPPORTED. */
#include "card_internal.h"

#ifndef FM_WITH_PCSC
fm_status fm_pcsc_list_readers(fm_ctx *ctx, char *buf, size_t cap, size_t *count)
{
    FM_UNUSED(buf);
    FM_UNUSED(cap);
    if (count)
        *count = 0;
    return fm_fail(ctx, FM_ERR_UNSUPPORTED, "this build has no PC/SC support (FM_WITH_PCSC=OFF)");
}
fm_status fm_pcsc_open(fm_ctx *ctx, const char *reader, int timeout_ms, fm_pcsc **out)
{
    FM_UNUSED(reader);
    FM_UNUSED(timeout_ms);
    if (out)
        *out = NULL;
    return fm_fail(ctx, FM_ERR_UNSUPPORTED, "this build has no PC/SC support (FM_WITH_PCSC=OFF)");
}
void fm_pcsc_close(fm_pcsc *pcsc) { FM_UNUSED(pcsc); }
const char *fm_pcsc_reader_name(const fm_pcsc *pcsc)
{
    FM_UNUSED(pcsc);
    return "";
}
int fm_pcsc_transmit(void *pcsc, const uint8_t *apdu, size_t apdu_len, uint8_t *resp, size_t resp_cap,
                     size_t *resp_len)
{
    FM_UNUSED(pcsc);
    FM_UNUSED(apdu);
    FM_UNUSED(apdu_len);
    FM_UNUSED(resp);
    FM_UNUSED(resp_cap);
    FM_UNUSED(resp_len);
    return FM_CARD_TX_NO_CARD;
}
const char *fm_pcsc_errmsg(const fm_pcsc *pcsc)
{
    FM_UNUSED(pcsc);
    return "no PC/SC support in this build";
}
#else
typedef int fmc_transport_unit_not_empty;
#endif
