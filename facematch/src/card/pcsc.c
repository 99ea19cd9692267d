/* PC/SC transport on pcsc-lite: list readers, wait for a card, connect (T=1 or T=0), transmit. Dropped from the
 * build with -DFM_WITH_PCSC=OFF (transport.c then provides stubs). */
#include "card_internal.h"

#include <PCSC/winscard.h>
#include <PCSC/wintypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct fm_pcsc {
    SCARDCONTEXT sc;
    SCARDHANDLE card;
    DWORD proto;
    char reader[256];
    char err[256];
};

static fm_status pcsc_fail(fm_ctx *ctx, LONG rv, const char *what)
{
    fm_status st = FM_ERR_CARD_TRANSPORT;
    if (rv == (LONG)SCARD_E_NO_SERVICE || rv == (LONG)SCARD_E_SERVICE_STOPPED)
        return fm_fail(ctx, st, "%s: the PC/SC service (pcscd) is not running: %s", what, pcsc_stringify_error(rv));
    if (rv == (LONG)SCARD_E_NO_READERS_AVAILABLE || rv == (LONG)SCARD_E_UNKNOWN_READER)
        return fm_fail(ctx, FM_ERR_NOT_FOUND, "%s: %s", what, pcsc_stringify_error(rv));
    return fm_fail(ctx, st, "%s: %s (0x%08lX)", what, pcsc_stringify_error(rv), (unsigned long)rv);
}

/* Reader multi-string into a malloc'd buffer. */
static LONG list_readers(SCARDCONTEXT sc, char **out, DWORD *len)
{
    DWORD n = 0;
    *out = NULL;
    LONG rv = SCardListReaders(sc, NULL, NULL, &n);
    if (rv != SCARD_S_SUCCESS)
        return rv;
    if (n == 0 || n > 65536)
        return (LONG)SCARD_E_NO_READERS_AVAILABLE;
    char *b = calloc(1, n + 1);
    if (!b)
        return (LONG)SCARD_E_NO_MEMORY;
    rv = SCardListReaders(sc, NULL, b, &n);
    if (rv != SCARD_S_SUCCESS) {
        free(b);
        return rv;
    }
    *out = b;
    *len = n;
    return SCARD_S_SUCCESS;
}

fm_status fm_pcsc_list_readers(fm_ctx *ctx, char *buf, size_t cap, size_t *count)
{
    if (count)
        *count = 0;
    SCARDCONTEXT sc;
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &sc);
    if (rv != SCARD_S_SUCCESS)
        return pcsc_fail(ctx, rv, "PC/SC");
    char *list = NULL;
    DWORD len = 0;
    rv = list_readers(sc, &list, &len);
    SCardReleaseContext(sc);
    if (rv == (LONG)SCARD_E_NO_READERS_AVAILABLE) {
        if (buf && cap >= 2)
            buf[0] = buf[1] = '\0';
        return FM_OK;
    }
    if (rv != SCARD_S_SUCCESS)
        return pcsc_fail(ctx, rv, "listing readers");
    size_t n = 0;
    for (const char *p = list; *p; p += strlen(p) + 1)
        n++;
    fm_status st = FM_OK;
    if (!buf || cap < len)
        st = fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "reader list needs %lu bytes", (unsigned long)len);
    else
        memcpy(buf, list, len);
    free(list);
    if (count)
        *count = n;
    return st;
}

/* Waits for a card in reader (or in any reader when reader is NULL); writes the reader's name. */
static fm_status wait_card(fm_ctx *ctx, SCARDCONTEXT sc, const char *reader, int timeout_ms, char *name, size_t cap)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        char *list = NULL;
        DWORD len = 0;
        LONG rv = list_readers(sc, &list, &len);
        if (rv != SCARD_S_SUCCESS && rv != (LONG)SCARD_E_NO_READERS_AVAILABLE)
            return pcsc_fail(ctx, rv, "listing readers");
        SCARD_READERSTATE st[16];
        int n = 0, reader_seen = 0;
        for (const char *p = list; list && *p && n < 16; p += strlen(p) + 1) {
            if (reader && strcmp(reader, p) != 0)
                continue;
            reader_seen = 1;
            memset(&st[n], 0, sizeof st[n]);
            st[n].szReader = p;
            st[n].dwCurrentState = SCARD_STATE_UNAWARE;
            n++;
        }
        if (n > 0) {
            rv = SCardGetStatusChange(sc, 0, st, (DWORD)n);
            if (rv == SCARD_S_SUCCESS || rv == (LONG)SCARD_E_TIMEOUT) {
                for (int i = 0; i < n; i++) {
                    if ((st[i].dwEventState & SCARD_STATE_PRESENT) && !(st[i].dwEventState & SCARD_STATE_MUTE)) {
                        snprintf(name, cap, "%s", st[i].szReader);
                        free(list);
                        return FM_OK;
                    }
                }
            }
        }
        free(list);
        struct timespec t1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long el = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        if (el >= timeout_ms) {
            if (reader && !reader_seen)
                return fm_fail(ctx, FM_ERR_NOT_FOUND, "no reader named '%s'", reader);
            if (!reader && n == 0)
                return fm_fail(ctx, FM_ERR_NOT_FOUND, "no card reader found");
            return fm_fail(ctx, FM_ERR_NOT_FOUND, "no card in %s%s%s after %d ms", reader ? "reader '" : "any reader",
                           reader ? reader : "", reader ? "'" : "", timeout_ms);
        }
        struct timespec nap = {0, 100 * 1000000L};
        nanosleep(&nap, NULL);
    }
}

fm_status fm_pcsc_open(fm_ctx *ctx, const char *reader, int timeout_ms, fm_pcsc **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_pcsc_open: out is NULL");
    *out = NULL;
    if (timeout_ms < 0)
        timeout_ms = 0;
    fm_pcsc *p = calloc(1, sizeof *p);
    if (!p)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    LONG rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &p->sc);
    if (rv != SCARD_S_SUCCESS) {
        free(p);
        return pcsc_fail(ctx, rv, "PC/SC");
    }
    fm_status st = wait_card(ctx, p->sc, reader, timeout_ms, p->reader, sizeof p->reader);
    if (st) {
        SCardReleaseContext(p->sc);
        free(p);
        return st;
    }
    rv = SCardConnect(p->sc, p->reader, SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &p->card,
                      &p->proto);
    if (rv == (LONG)SCARD_E_SHARING_VIOLATION)
        rv = SCardConnect(p->sc, p->reader, SCARD_SHARE_SHARED, SCARD_PROTOCOL_T1 | SCARD_PROTOCOL_T0, &p->card,
                          &p->proto);
    if (rv != SCARD_S_SUCCESS) {
        char what[300];
        snprintf(what, sizeof what, "connecting to the card in '%s'", p->reader);
        st = pcsc_fail(ctx, rv, what);
        SCardReleaseContext(p->sc);
        free(p);
        return st;
    }
    *out = p;
    return FM_OK;
}

void fm_pcsc_close(fm_pcsc *p)
{
    if (!p)
        return;
    /* reset: drops every verified PIN state the session left on the card */
    SCardDisconnect(p->card, SCARD_RESET_CARD);
    SCardReleaseContext(p->sc);
    fm_wipe(p, sizeof *p);
    free(p);
}

const char *fm_pcsc_reader_name(const fm_pcsc *p) { return p ? p->reader : ""; }
const char *fm_pcsc_errmsg(const fm_pcsc *p) { return p ? p->err : ""; }

int fm_pcsc_transmit(void *user, const uint8_t *apdu, size_t apdu_len, uint8_t *resp, size_t resp_cap,
                     size_t *resp_len)
{
    fm_pcsc *p = user;
    if (!p || !apdu || !resp || !resp_len)
        return FM_CARD_TX_IO;
    const SCARD_IO_REQUEST *pci = p->proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;
    DWORD rl = (DWORD)(resp_cap > 65538 ? 65538 : resp_cap);
    LONG rv = SCardTransmit(p->card, pci, apdu, (DWORD)apdu_len, NULL, resp, &rl);
    if (rv != SCARD_S_SUCCESS) {
        snprintf(p->err, sizeof p->err, "SCardTransmit: %s (0x%08lX)", pcsc_stringify_error(rv), (unsigned long)rv);
        if (rv == (LONG)SCARD_W_REMOVED_CARD || rv == (LONG)SCARD_E_NO_SMARTCARD || rv == (LONG)SCARD_W_RESET_CARD ||
            rv == (LONG)SCARD_W_UNPOWERED_CARD)
            return FM_CARD_TX_REMOVED;
        if (rv == (LONG)SCARD_E_INSUFFICIENT_BUFFER)
            return FM_CARD_TX_OVERFLOW;
        if (rv == (LONG)SCARD_E_READER_UNAVAILABLE || rv == (LONG)SCARD_E_NO_SERVICE)
            return FM_CARD_TX_NO_CARD;
        return FM_CARD_TX_IO;
    }
    *resp_len = rl;
    return FM_CARD_TX_OK;
}
