/* fm_card: session, ISO 7816-4 command/response handling, file reads, PIN safety. */
#include "card_session.h"

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

fm_status fm_card_create(fm_ctx *ctx, fm_card_transmit_fn transmit, void *user, fm_card **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_create: out is NULL");
    *out = NULL;
    if (!ctx || !transmit)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_create: ctx and transmit are required");
    fm_card *c = calloc(1, sizeof *c);
    if (!c)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    c->ctx = ctx;
    c->tx = transmit;
    c->user = user;
    c->max_file = FMC_DEFAULT_MAX_FILE;
    c->chunk = 256;
    *out = c;
    return FM_OK;
}

void fm_card_destroy(fm_card *card)
{
    if (!card)
        return;
    for (int i = 0; i < card->n_ca; i++)
        EVP_PKEY_free(card->ca[i].key);
    fm_wipe(card, sizeof *card);
    free(card);
}

fm_status fm_card_set_max_file_bytes(fm_card *card, size_t max_bytes)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (max_bytes < 16 || max_bytes > FMC_ABS_MAX_FILE)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "max file bytes must be 16..%d", FMC_ABS_MAX_FILE);
    card->max_file = max_bytes;
    return FM_OK;
}

fm_status fm_card_set_read_chunk(fm_card *card, size_t chunk)
{
    if (!card)
        return FM_ERR_INVALID_ARGUMENT;
    if (chunk < 1 || chunk > 256)
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "read chunk must be 1..256");
    card->chunk = chunk;
    return FM_OK;
}

static const char *tx_text(int rc)
{
    switch (rc) {
    case FM_CARD_TX_REMOVED: return "the card was removed (or the contactless link was lost)";
    case FM_CARD_TX_NO_CARD: return "no card in the reader";
    case FM_CARD_TX_OVERFLOW: return "the card's answer did not fit the response buffer";
    default: return "reader I/O error";
    }
}

static size_t build_apdu(uint8_t *b, const fmc_cmd *c)
{
    size_t n = 0;
    b[n++] = c->cla;
    b[n++] = c->ins;
    b[n++] = c->p1;
    b[n++] = c->p2;
    if (c->lc) {
        b[n++] = (uint8_t)c->lc;
        memcpy(b + n, c->data, c->lc);
        n += c->lc;
    }
    if (c->le >= 0)
        b[n++] = (uint8_t)(c->le & 0xFF); /* 256 -> 00 */
    return n;
}

/* One transmit; the answer stays in card->resp. */
static fm_status tx_once(fm_card *card, size_t cmd_len, size_t *resp_len, const char *what)
{
    size_t rl = 0;
    int rc = card->tx(card->user, card->cmd, cmd_len, card->resp, sizeof card->resp, &rl);
    if (rc != 0)
        return fm_fail(card->ctx, FM_ERR_CARD_TRANSPORT, "%s: %s (transport code %d)", what, tx_text(rc), rc);
    if (rl > sizeof card->resp)
        return fm_fail(card->ctx, FM_ERR_CARD_TRANSPORT, "%s: transport reported %zu bytes for a %zu-byte buffer",
                       what, rl, sizeof card->resp);
    if (rl < 2)
        return fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: answer of %zu bytes has no status word", what, rl);
    *resp_len = rl;
    return FM_OK;
}

fm_status fmc_exchange(fm_card *card, const fmc_cmd *cmd, uint8_t *out, size_t cap, size_t *out_len, unsigned *sw,
                       const char *what)
{
    fm_status st = FM_OK;
    size_t got = 0, rl = 0;
    fmc_cmd c = *cmd;
    if (c.lc > 255 || c.le > 256)
        return fm_fail(card->ctx, FM_ERR_INTERNAL, "%s: APDU too long for a short APDU", what);
    int resent = 0;
    for (;;) {
        size_t n = build_apdu(card->cmd, &c);
        st = tx_once(card, n, &rl, what);
        if (st)
            goto out;
        unsigned s = FMC_SW(card->resp, rl);
        if ((s & 0xFF00) == 0x6C00 && rl == 2) {
            if (resent || c.le < 0) {
                st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: card asked for Le %u again (6C%02X)", what,
                             s & 0xFF, s & 0xFF);
                goto out;
            }
            c.le = (s & 0xFF) ? (int)(s & 0xFF) : 256;
            resent = 1;
            continue;
        }
        break;
    }
    for (int round = 0;; round++) {
        size_t dl = rl - 2;
        unsigned s = FMC_SW(card->resp, rl);
        if (dl > cap - got) {
            st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: card sent %zu bytes, more than the %zu expected", what,
                         got + dl, cap);
            goto out;
        }
        memcpy(out + got, card->resp, dl);
        got += dl;
        if ((s & 0xFF00) != 0x6100) {
            *sw = s;
            break;
        }
        if (round >= FMC_MAX_GET_RESPONSE) {
            st = fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: more than %d GET RESPONSE rounds (61xx loop)", what,
                         FMC_MAX_GET_RESPONSE);
            goto out;
        }
        fmc_cmd gr = {FMC_CLA_ISO, FMC_INS_GET_RESPONSE, 0, 0, NULL, 0, (s & 0xFF) ? (int)(s & 0xFF) : 256};
        size_t n = build_apdu(card->cmd, &gr);
        st = tx_once(card, n, &rl, what);
        if (st)
            goto out;
    }
    *out_len = got;
out:
    fm_wipe(card->cmd, sizeof card->cmd);
    fm_wipe(card->resp, sizeof card->resp);
    return st;
}

fm_status fmc_sw_fail(fm_card *card, unsigned sw, const char *what)
{
    return fm_fail(card->ctx, FM_ERR_CARD_STATUS, "%s: card answered %04X (%s)", what, sw, fmc_sw_text(sw));
}

static const uint8_t *ap_aid(int ap, const char **name)
{
    switch (ap) {
    case FMC_AP_JPKI: *name = "JPKI AP"; return FMC_AID_JPKI;
    case FMC_AP_VISUAL: *name = "visual AP"; return FMC_AID_VISUAL;
    case FMC_AP_TEXT: *name = "text AP"; return FMC_AID_TEXT;
    case FMC_AP_RESIDENT: *name = "resident-register AP"; return FMC_AID_RESIDENT;
    }
    *name = "?";
    return NULL;
}

fm_status fmc_select_ap(fm_card *card, int ap)
{
    const char *name;
    const uint8_t *aid = ap_aid(ap, &name);
    if (!aid)
        return fm_fail(card->ctx, FM_ERR_INTERNAL, "unknown application %d", ap);
    card->ap = FMC_AP_NONE;
    fmc_cmd c = {FMC_CLA_ISO, FMC_INS_SELECT, 0x04, 0x0C, aid, FMC_AID_LEN, -1};
    uint8_t buf[256];
    size_t n;
    unsigned sw;
    char what[64];
    snprintf(what, sizeof what, "SELECT %s", name);
    fm_status st = fmc_exchange(card, &c, buf, sizeof buf, &n, &sw, what);
    if (st)
        return st;
    if (sw == 0x6A82)
        return fm_fail(card->ctx, FM_ERR_NOT_FOUND, "%s: the card has no such application (6A82): not a My Number card?",
                       what);
    if (sw != 0x9000)
        return fmc_sw_fail(card, sw, what);
    card->ap = ap;
    return FM_OK;
}

fm_status fmc_select_ef(fm_card *card, unsigned fid, const char *what)
{
    uint8_t f[2] = {(uint8_t)(fid >> 8), (uint8_t)fid};
    fmc_cmd c = {FMC_CLA_ISO, FMC_INS_SELECT, 0x02, 0x0C, f, 2, -1};
    uint8_t buf[256];
    size_t n;
    unsigned sw;
    char w[96];
    snprintf(w, sizeof w, "SELECT EF %04X (%s)", fid, what);
    fm_status st = fmc_exchange(card, &c, buf, sizeof buf, &n, &sw, w);
    if (st)
        return st;
    if (sw == 0x6A82)
        return fm_fail(card->ctx, FM_ERR_NOT_FOUND, "%s: file not found (6A82)", w);
    if (sw != 0x9000)
        return fmc_sw_fail(card, sw, w);
    return FM_OK;
}

/* One READ BINARY at off for up to want bytes into dst; *got bytes; *eof set on 6B00. */
static fm_status read_chunk(fm_card *card, size_t off, size_t want, uint8_t *dst, size_t *got, int *eof,
                            const char *what)
{
    if (off > 0x7FFF)
        return fm_fail(card->ctx, FM_ERR_LIMIT, "%s: offset %zu is beyond what READ BINARY can address", what, off);
    fmc_cmd c = {FMC_CLA_ISO, FMC_INS_READ_BINARY, (uint8_t)(off >> 8), (uint8_t)off, NULL, 0, (int)want};
    unsigned sw;
    char w[128];
    snprintf(w, sizeof w, "READ BINARY %s at offset %zu", what, off);
    fm_status st = fmc_exchange(card, &c, dst, want, got, &sw, w);
    if (st)
        return st;
    *eof = 0;
    if (sw == 0x6B00) {
        if (*got)
            return fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: data together with 6B00", w);
        *eof = 1;
        return FM_OK;
    }
    if (sw == 0x6982)
        return fm_fail(card->ctx, FM_ERR_CARD_STATUS, "%s: security status not satisfied (6982): PIN not verified",
                       w);
    if (sw != 0x9000 && sw != 0x6282)
        return fmc_sw_fail(card, sw, w);
    if (*got == 0)
        return fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: card returned no data with %04X", w, sw);
    return FM_OK;
}

fm_status fmc_read_tlv_file(fm_card *card, const char *what, uint8_t **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    uint8_t first[256];
    size_t got = 0;
    int eof = 0;
    size_t want = card->chunk < card->max_file ? card->chunk : card->max_file;
    fm_status st = read_chunk(card, 0, want, first, &got, &eof, what);
    if (st)
        return st;
    if (eof)
        return fm_fail(card->ctx, FM_ERR_CARD_RESPONSE, "%s: file is empty (6B00 at offset 0)", what);
    uint32_t tag;
    size_t hl, vl;
    st = fmc_tlv_header(card->ctx, first, got, &tag, &hl, &vl);
    if (st) {
        char why[FM_ERRMSG_CAP];
        snprintf(why, sizeof why, "%s", card->ctx->errmsg);
        fm_wipe(first, sizeof first);
        return fm_fail(card->ctx, st == FM_ERR_TRUNCATED ? FM_ERR_CARD_RESPONSE : st, "%s: %s", what, why);
    }
    if (vl > card->max_file || hl + vl > card->max_file) {
        fm_wipe(first, sizeof first);
        return fm_fail(card->ctx, FM_ERR_LIMIT, "%s: file declares %zu bytes, above the limit of %zu", what, hl + vl,
                       card->max_file);
    }
    size_t total = hl + vl;
    uint8_t *buf = malloc(total);
    if (!buf) {
        fm_wipe(first, sizeof first);
        return fm_fail(card->ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    size_t have = got < total ? got : total;
    memcpy(buf, first, have);
    fm_wipe(first, sizeof first);
    while (have < total) {
        size_t w = total - have;
        if (w > card->chunk)
            w = card->chunk;
        st = read_chunk(card, have, w, buf + have, &got, &eof, what);
        if (st)
            break;
        if (eof) {
            st = fm_fail(card->ctx, FM_ERR_TRUNCATED, "%s: file ends at offset %zu (6B00) before its TLV end at %zu",
                         what, have, total);
            break;
        }
        have += got;
    }
    if (st) {
        fm_wipe(buf, total);
        free(buf);
        return st;
    }
    *data = buf;
    *len = total;
    return FM_OK;
}

static int pin_location(fm_card_pin pin, int *ap, unsigned *fid)
{
    switch (pin) {
    case FM_CARD_PIN_AUTH: *ap = FMC_AP_JPKI; *fid = FMC_EF_JPKI_AUTH_PIN; return 1;
    case FM_CARD_PIN_SIGN: *ap = FMC_AP_JPKI; *fid = FMC_EF_JPKI_SIGN_PIN; return 1;
    case FM_CARD_PIN_VISUAL_A: *ap = FMC_AP_VISUAL; *fid = FMC_EF_VISUAL_PIN_A; return 1;
    case FM_CARD_PIN_VISUAL_B: *ap = FMC_AP_VISUAL; *fid = FMC_EF_VISUAL_PIN_B; return 1;
    case FM_CARD_PIN_TEXT: *ap = FMC_AP_TEXT; *fid = FMC_EF_TEXT_PIN; return 1;
    case FM_CARD_PIN_RESIDENT: *ap = FMC_AP_RESIDENT; *fid = FMC_EF_RESIDENT_PIN; return 1;
    }
    return 0;
}

/* VERIFY without data on the selected PIN EF. */
static fm_status query_tries(fm_card *card, fm_card_pin pin, int *tries)
{
    fmc_cmd c = {FMC_CLA_ISO, FMC_INS_VERIFY, 0x00, 0x80, NULL, 0, -1};
    uint8_t buf[256];
    size_t n;
    unsigned sw;
    char w[64];
    snprintf(w, sizeof w, "VERIFY (tries of the %s PIN)", fm_card_pin_name(pin));
    fm_status st = fmc_exchange(card, &c, buf, sizeof buf, &n, &sw, w);
    if (st)
        return st;
    if ((sw & 0xFFF0) == 0x63C0) {
        *tries = (int)(sw & 0x0F);
        return FM_OK;
    }
    if (sw == 0x6984 || sw == 0x6983) {
        *tries = 0;
        return FM_OK;
    }
    return fm_fail(card->ctx, FM_ERR_CARD_STATUS,
                   "%s: card answered %04X (%s) instead of 63Cx; the tries left are unknown, so no PIN is sent", w,
                   sw, fmc_sw_text(sw));
}

fm_status fmc_pin_tries(fm_card *card, fm_card_pin pin, int *tries)
{
    int ap;
    unsigned fid;
    if (!pin_location(pin, &ap, &fid))
        return fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "unknown PIN %d", (int)pin);
    fm_status st = fmc_select_ap(card, ap);
    if (!st)
        st = fmc_select_ef(card, fid, fm_card_pin_name(pin));
    if (!st)
        st = query_tries(card, pin, tries);
    return st;
}

fm_status fm_card_pin_tries(fm_card *card, fm_card_pin pin, int *tries)
{
    if (!card || !tries)
        return card ? fm_fail(card->ctx, FM_ERR_INVALID_ARGUMENT, "fm_card_pin_tries: NULL argument")
                    : FM_ERR_INVALID_ARGUMENT;
    int t = -1;
    fm_status st = fmc_pin_tries(card, pin, &t);
    if (st)
        return st;
    *tries = t;
    return FM_OK;
}

fm_status fmc_verify_pin(fm_card *card, fm_card_pin pin, const char *digits, unsigned flags, int *tries_left)
{
    if (tries_left)
        *tries_left = -1;
    fm_status st = fmc_check_pin_format(card->ctx, pin, digits);
    if (st)
        return st;
    int tries = -1;
    st = fmc_pin_tries(card, pin, &tries);
    if (st)
        return st;
    if (tries_left)
        *tries_left = tries;
    if (tries == 0)
        return fm_fail(card->ctx, FM_ERR_PIN_LOCKED, "the %s PIN is locked (no tries left); nothing was sent",
                       fm_card_pin_name(pin));
    if (tries == 1 && !(flags & FM_CARD_ALLOW_LAST_TRY))
        return fm_fail(card->ctx, FM_ERR_PIN_LAST_TRY,
                       "only one try of the %s PIN is left: the PIN was not sent (a wrong PIN would lock the card); "
                       "allow the last try explicitly to use it",
                       fm_card_pin_name(pin));
    size_t n = strlen(digits);
    fmc_cmd c = {FMC_CLA_ISO, FMC_INS_VERIFY, 0x00, 0x80, (const uint8_t *)digits, n, -1};
    uint8_t buf[256];
    size_t rn;
    unsigned sw;
    char w[64];
    snprintf(w, sizeof w, "VERIFY %s PIN", fm_card_pin_name(pin));
    st = fmc_exchange(card, &c, buf, sizeof buf, &rn, &sw, w); /* wipes card->cmd (the PIN) */
    fm_wipe(buf, sizeof buf);
    if (st)
        return st;
    if (sw == 0x9000) {
        if (tries_left)
            *tries_left = tries; /* a correct PIN restores the counter; the maximum is not reported by the card */
        return FM_OK;
    }
    if (sw == 0x63C0 || sw == 0x6984 || sw == 0x6983) {
        if (tries_left)
            *tries_left = 0;
        return fm_fail(card->ctx, FM_ERR_PIN_LOCKED, "%s: wrong PIN; the PIN is now locked (%04X)", w, sw);
    }
    if ((sw & 0xFFF0) == 0x63C0) {
        if (tries_left)
            *tries_left = (int)(sw & 0xF);
        return fm_fail(card->ctx, FM_ERR_PIN_WRONG, "%s: wrong PIN, %u tries left", w, sw & 0xF);
    }
    return fmc_sw_fail(card, sw, w);
}

EVP_PKEY *fmc_rsa_from_ne(const uint8_t *n, size_t nlen, const uint8_t *e, size_t elen)
{
    EVP_PKEY *pkey = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_bin2bn(e, (int)elen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pc = NULL;
    if (!bn || !be || !bld)
        goto done;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        goto done;
    params = OSSL_PARAM_BLD_to_param(bld);
    pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (!params || !pc || EVP_PKEY_fromdata_init(pc) <= 0 ||
        EVP_PKEY_fromdata(pc, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
done:
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}
