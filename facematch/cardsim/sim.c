/* The virtual card's APDU engine (see fmcardsim.h for the behaviour). */
#include "sim_internal.h"

#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t ATR[] = {0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14};

const uint8_t *fm_cardsim_atr(size_t *len)
{
    if (len)
        *len = sizeof ATR;
    return ATR;
}

static void clear_security(fm_cardsim *s)
{
    for (int i = 0; i < FM_CARDSIM_PIN_COUNT; i++)
        s->pins[i].verified = 0;
}

void fm_cardsim_reset(fm_cardsim *s)
{
    if (!s)
        return;
    s->cur_ap = -1;
    s->cur_ef = -1;
    clear_security(s);
}

int fm_cardsim_tries(const fm_cardsim *s, int pin)
{
    return (s && pin >= 0 && pin < FM_CARDSIM_PIN_COUNT) ? s->pins[pin].left : -1;
}

void fm_cardsim_set_tries(fm_cardsim *s, int pin, int tries)
{
    if (s && pin >= 0 && pin < FM_CARDSIM_PIN_COUNT && tries >= 0 && tries <= s->pins[pin].max)
        s->pins[pin].left = tries;
}

uint8_t *fm_cardsim_file(fm_cardsim *s, int ap, unsigned fid, size_t *len)
{
    if (!s || ap < 1 || ap > 3)
        return NULL;
    sim_ap *a = &s->aps[ap - 1];
    for (int i = 0; i < a->nfiles; i++)
        if (a->files[i].fid == fid && a->files[i].kind == SIM_EF_DATA) {
            if (len)
                *len = a->files[i].len;
            return a->files[i].data;
        }
    return NULL;
}

const uint8_t *fm_cardsim_jlis_key_id(const fm_cardsim *s) { return s ? s->jlis_key_id : NULL; }
const uint8_t *fm_cardsim_admin_key(const fm_cardsim *s) { return s ? s->admin_key : NULL; }

void fm_cardsim_destroy(fm_cardsim *s)
{
    if (!s)
        return;
    for (int a = 0; a < 4; a++)
        for (int i = 0; i < s->aps[a].nfiles; i++) {
            sim_file *f = &s->aps[a].files[i];
            if (f->data) {
                OPENSSL_cleanse(f->data, f->len);
                free(f->data);
            }
        }
    EVP_PKEY_free(s->jlis_ca);
    EVP_PKEY_free(s->visual_signer);
    EVP_PKEY_free(s->card_key);
    EVP_PKEY_free(s->jpki_ca);
    EVP_PKEY_free(s->auth_key);
    EVP_PKEY_free(s->sign_key);
    free(s->jpki_ca_der);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

fm_status fm_cardsim_create(fm_ctx *ctx, const fm_cardsim_holder *h, fm_cardsim **out)
{
    if (!out || !h)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_cardsim_create: NULL argument");
    *out = NULL;
    fm_cardsim *s = calloc(1, sizeof *s);
    if (!s)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    s->cur_ap = -1;
    s->cur_ef = -1;
    fm_status st = sim_personalise(ctx, s, h);
    if (st) {
        fm_cardsim_destroy(s);
        return st;
    }
    *out = s;
    return FM_OK;
}

/* ---- APDU processing ---- */

typedef struct {
    uint8_t cla, ins, p1, p2;
    const uint8_t *data;
    size_t lc;
    int has_le;
    size_t le; /* 1..256 */
    int bad_len;
} apdu;

static void parse_apdu(const uint8_t *b, size_t n, apdu *a)
{
    memset(a, 0, sizeof *a);
    a->cla = b[0];
    a->ins = b[1];
    a->p1 = b[2];
    a->p2 = b[3];
    if (n == 4)
        return;
    if (n == 5) {
        a->has_le = 1;
        a->le = b[4] ? b[4] : 256;
        return;
    }
    size_t lc = b[4];
    if (lc == 0) { /* extended length: not supported by this card */
        a->bad_len = 1;
        return;
    }
    if (n == 5 + lc) {
        a->data = b + 5;
        a->lc = lc;
    } else if (n == 6 + lc) {
        a->data = b + 5;
        a->lc = lc;
        a->has_le = 1;
        a->le = b[n - 1] ? b[n - 1] : 256;
    } else {
        a->bad_len = 1;
    }
}

static size_t sw(uint8_t *r, unsigned w)
{
    r[0] = (uint8_t)(w >> 8);
    r[1] = (uint8_t)w;
    return 2;
}

static size_t with_sw(uint8_t *r, size_t n, unsigned w)
{
    r[n] = (uint8_t)(w >> 8);
    r[n + 1] = (uint8_t)w;
    return n + 2;
}

static size_t do_select(fm_cardsim *s, const apdu *a, uint8_t *r)
{
    if (a->p1 == 0x04) {
        if (a->p2 != 0x0C)
            return sw(r, 0x6A86);
        if (a->lc == 0 || a->has_le)
            return sw(r, 0x6700);
        for (int i = 0; i < 4; i++)
            if (s->aps[i].aid && a->lc == FMC_AID_LEN && memcmp(a->data, s->aps[i].aid, FMC_AID_LEN) == 0) {
                s->cur_ap = i;
                s->cur_ef = -1;
                clear_security(s);
                return sw(r, 0x9000);
            }
        return sw(r, 0x6A82);
    }
    if (a->p1 == 0x02) {
        if (a->p2 != 0x0C)
            return sw(r, 0x6A86);
        if (a->lc != 2 || a->has_le)
            return sw(r, 0x6700);
        if (s->cur_ap < 0)
            return sw(r, 0x6A82);
        unsigned fid = ((unsigned)a->data[0] << 8) | a->data[1];
        sim_ap *ap = &s->aps[s->cur_ap];
        for (int i = 0; i < ap->nfiles; i++)
            if (ap->files[i].fid == fid) {
                s->cur_ef = i;
                return sw(r, 0x9000);
            }
        return sw(r, 0x6A82);
    }
    return sw(r, 0x6A86);
}

static sim_file *cur_file(fm_cardsim *s)
{
    if (s->cur_ap < 0 || s->cur_ef < 0)
        return NULL;
    return &s->aps[s->cur_ap].files[s->cur_ef];
}

static size_t do_read(fm_cardsim *s, const apdu *a, uint8_t *r)
{
    if (a->p1 & 0x80)
        return sw(r, 0x6A86); /* short EF id addressing is not supported */
    if (a->lc || !a->has_le)
        return sw(r, 0x6700);
    sim_file *f = cur_file(s);
    if (!f || f->kind != SIM_EF_DATA)
        return sw(r, 0x6986);
    if (f->read_mask) {
        int ok = 0;
        for (int i = 0; i < FM_CARDSIM_PIN_COUNT; i++)
            if ((f->read_mask & (1u << i)) && s->pins[i].verified)
                ok = 1;
        if (!ok)
            return sw(r, 0x6982);
    }
    size_t off = ((size_t)a->p1 << 8) | a->p2;
    if (off >= f->len)
        return sw(r, 0x6B00);
    size_t n = f->len - off;
    if (n > a->le)
        n = a->le;
    memcpy(r, f->data + off, n);
    return with_sw(r, n, 0x9000);
}

static size_t do_verify(fm_cardsim *s, const apdu *a, uint8_t *r)
{
    if (a->p1 != 0x00 || a->p2 != 0x80)
        return sw(r, 0x6A86);
    if (a->has_le)
        return sw(r, 0x6700);
    sim_file *f = cur_file(s);
    if (!f || f->kind != SIM_EF_PIN)
        return sw(r, 0x6986);
    sim_pin *p = &s->pins[f->pin];
    if (a->lc == 0) /* query: no try is spent */
        return sw(r, 0x63C0 | (unsigned)p->left);
    if (p->left == 0)
        return sw(r, 0x6984);
    size_t pl = strlen(p->value);
    int match = pl > 0 && a->lc == pl && CRYPTO_memcmp(a->data, p->value, pl) == 0;
    if (match) {
        p->left = p->max;
        p->verified = 1;
        return sw(r, 0x9000);
    }
    p->verified = 0;
    p->left--;
    return sw(r, 0x63C0 | (unsigned)p->left);
}

static size_t rsa_sign_raw(EVP_PKEY *key, const uint8_t *in, size_t n, uint8_t *r)
{
    size_t sl = 256;
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(key, NULL);
    int ok = pc && EVP_PKEY_sign_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_sign(pc, r, &sl, in, n) == 1 && sl == 256;
    EVP_PKEY_CTX_free(pc);
    if (!ok)
        return sw(r, 0x6F00);
    return with_sw(r, sl, 0x9000);
}

static size_t do_sign(fm_cardsim *s, const apdu *a, uint8_t *r)
{
    if (a->p1 != 0x00)
        return sw(r, 0x6A86);
    if (a->lc == 0 || a->lc > 256 - 11)
        return sw(r, 0x6700);
    if (a->has_le && a->le != 256)
        return sw(r, 0x6C00); /* the answer is 256 bytes: Le must be 00 */
    if (a->p2 == FMC_P2_SIGN_PRESENCE) {
        if (s->cur_ap != FM_CARDSIM_AP_VISUAL - 1)
            return sw(r, 0x6985);
        return rsa_sign_raw(s->card_key, a->data, a->lc, r);
    }
    if (a->p2 != FMC_P2_SIGN_JPKI)
        return sw(r, 0x6A86);
    sim_file *f = cur_file(s);
    if (!f || f->kind != SIM_EF_KEY)
        return sw(r, 0x6986);
    if (!s->pins[f->pin].verified)
        return sw(r, 0x6982);
    return rsa_sign_raw(f->key, a->data, a->lc, r);
}

static size_t do_admin(fm_cardsim *s, const apdu *a, uint8_t *r)
{
    if (a->p1 || a->p2)
        return sw(r, 0x6A86);
    if (a->lc < 18 || a->lc > 18 + 16 || a->has_le)
        return sw(r, 0x6700);
    if (CRYPTO_memcmp(a->data, s->admin_key, 16) != 0)
        return sw(r, 0x6982);
    if (s->cur_ap < 0)
        return sw(r, 0x6A82);
    unsigned fid = ((unsigned)a->data[16] << 8) | a->data[17];
    sim_ap *ap = &s->aps[s->cur_ap];
    for (int i = 0; i < ap->nfiles; i++)
        if (ap->files[i].fid == fid && ap->files[i].kind == SIM_EF_PIN) {
            sim_pin *p = &s->pins[ap->files[i].pin];
            if (a->lc > 18) {
                OPENSSL_cleanse(p->value, sizeof p->value);
                memcpy(p->value, a->data + 18, a->lc - 18);
            }
            p->left = p->max;
            p->verified = 0;
            return sw(r, 0x9000);
        }
    return sw(r, 0x6A82);
}

int fm_cardsim_transmit(void *user, const uint8_t *b, size_t n, uint8_t *resp, size_t cap, size_t *resp_len)
{
    fm_cardsim *s = user;
    uint8_t r[258 + 2];
    size_t rl;
    if (!s || !b || !resp || !resp_len)
        return FM_CARD_TX_IO;
    if (n < 4 || n > 261) {
        rl = sw(r, 0x6700);
    } else {
        apdu a;
        parse_apdu(b, n, &a);
        if (a.cla != 0x00 && a.cla != 0x80) {
            rl = sw(r, 0x6E00);
        } else if (a.bad_len) {
            rl = sw(r, 0x6700);
        } else if (a.cla == 0x00) {
            switch (a.ins) {
            case FMC_INS_SELECT: rl = do_select(s, &a, r); break;
            case FMC_INS_READ_BINARY: rl = do_read(s, &a, r); break;
            case FMC_INS_VERIFY: rl = do_verify(s, &a, r); break;
            default: rl = sw(r, 0x6D00); break;
            }
        } else {
            switch (a.ins) {
            case FMC_INS_SIGN: rl = do_sign(s, &a, r); break;
            case 0x2C: rl = do_admin(s, &a, r); break;
            default: rl = sw(r, 0x6D00); break;
            }
        }
    }
    if (rl > cap) {
        OPENSSL_cleanse(r, sizeof r);
        return FM_CARD_TX_OVERFLOW;
    }
    memcpy(resp, r, rl);
    *resp_len = rl;
    OPENSSL_cleanse(r, sizeof r);
    return FM_CARD_TX_OK;
}
