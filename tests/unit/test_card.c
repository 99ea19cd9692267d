/* Card layer against the virtual card, in-process: every AP path, PIN safety down to lock, authenticity, hostile
 * transports (truncation, odd status words, hostile TLV lengths, 61xx/6Cxx, removal), era dates, PIN wiping. */
#include "test.h"

#include "card/card_internal.h"
#include "fmcardsim.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---------------------------------------------------------------------------------------------------------- */
/* A transport wrapper around the simulator that can misbehave.                                               */
/* ---------------------------------------------------------------------------------------------------------- */
enum {
    MODE_PASS = 0,
    MODE_REMOVE_AFTER,       /* transport failure (card removed) from APDU number `arg` on */
    MODE_SHORT_ANSWER,       /* answers of 1 byte to READ BINARY */
    MODE_LONG_READ,          /* READ BINARY returns one byte more than Le */
    MODE_61XX,               /* READ BINARY / SIGN answers split: first part + 61xx, rest via GET RESPONSE */
    MODE_6CXX,               /* READ BINARY with Le 00 answered 6C F0 */
    MODE_HOSTILE_LEN,        /* first READ BINARY of a file: outer length replaced by `bytes` */
    MODE_TRIES_9000,         /* VERIFY without data answered 9000 */
    MODE_6B00_AT,            /* READ BINARY at offset >= arg answered 6B00 */
    MODE_61_LOOP,            /* every answer 61 10 forever */
    MODE_LEN_LIE             /* claims resp_len > cap */
};

typedef struct {
    fm_cardsim *sim;
    int mode;
    int arg;
    int n;                   /* APDUs seen */
    int verify_with_data;    /* VERIFY commands carrying a PIN */
    const uint8_t *last_verify_apdu; /* pointer the library passed for the last VERIFY with data */
    size_t last_verify_len;
    uint8_t pending[300];    /* GET RESPONSE data */
    size_t pending_len;
    uint8_t hostile[8];
    size_t hostile_len;
} wrap;

static int wrap_tx(void *user, const uint8_t *apdu, size_t len, uint8_t *resp, size_t cap, size_t *rl)
{
    wrap *w = user;
    w->n++;
    if (len > 5 && apdu[1] == 0x20) {
        w->verify_with_data++;
        w->last_verify_apdu = apdu;
        w->last_verify_len = len;
    }
    int is_read = len >= 5 && apdu[0] == 0x00 && apdu[1] == 0xB0;
    switch (w->mode) {
    case MODE_REMOVE_AFTER:
        if (w->n >= w->arg)
            return FM_CARD_TX_REMOVED;
        break;
    case MODE_SHORT_ANSWER:
        if (is_read) {
            resp[0] = 0x90;
            *rl = 1;
            return 0;
        }
        break;
    case MODE_LONG_READ:
        if (is_read) {
            int rc = fm_cardsim_transmit(w->sim, apdu, len, resp, cap, rl);
            if (rc == 0 && *rl >= 2 && resp[*rl - 2] == 0x90) {
                memmove(resp + 1, resp, *rl);
                resp[0] = 0xAA;
                (*rl)++;
            }
            return rc;
        }
        break;
    case MODE_61XX:
        if (apdu[1] == 0xC0) {
            size_t le = apdu[4] ? apdu[4] : 256;
            size_t n = w->pending_len < le ? w->pending_len : le;
            memcpy(resp, w->pending, n);
            memmove(w->pending, w->pending + n, w->pending_len - n);
            w->pending_len -= n;
            if (w->pending_len) {
                resp[n] = 0x61;
                resp[n + 1] = (uint8_t)(w->pending_len > 255 ? 0 : w->pending_len);
            } else {
                resp[n] = 0x90;
                resp[n + 1] = 0x00;
            }
            *rl = n + 2;
            return 0;
        }
        if (is_read || apdu[1] == 0x2A) {
            uint8_t r[300];
            size_t n;
            int rc = fm_cardsim_transmit(w->sim, apdu, len, r, sizeof r, &n);
            if (rc || n < 2 || r[n - 2] != 0x90 || n - 2 <= 40) {
                memcpy(resp, r, n);
                *rl = n;
                return rc;
            }
            memcpy(resp, r, 40);
            w->pending_len = n - 2 - 40;
            memcpy(w->pending, r + 40, w->pending_len);
            resp[40] = 0x61;
            resp[41] = (uint8_t)(w->pending_len > 255 ? 0 : w->pending_len);
            *rl = 42;
            return 0;
        }
        break;
    case MODE_6CXX:
        if (is_read && len == 5 && apdu[4] == 0x00) {
            resp[0] = 0x6C;
            resp[1] = 0xF0;
            *rl = 2;
            return 0;
        }
        break;
    case MODE_HOSTILE_LEN:
        if (is_read && apdu[2] == 0 && apdu[3] == 0) {
            int rc = fm_cardsim_transmit(w->sim, apdu, len, resp, cap, rl);
            if (rc == 0 && *rl > 20 && resp[*rl - 2] == 0x90) {
                /* keep the tag (FF20 = 2 bytes), replace the length bytes, shift the rest */
                size_t tl = 2, old_ll = (resp[2] & 0x80) ? 1 + (resp[2] & 0x7F) : 1;
                uint8_t tmp[300];
                size_t rest = *rl - 2 - tl - old_ll;
                memcpy(tmp, resp + tl + old_ll, rest);
                memcpy(resp + tl, w->hostile, w->hostile_len);
                memcpy(resp + tl + w->hostile_len, tmp, rest);
                size_t dl = tl + w->hostile_len + rest;
                if (dl > *rl - 2)
                    dl = *rl - 2; /* keep the answer's size (= Le) */
                resp[dl] = 0x90;
                resp[dl + 1] = 0x00;
                *rl = dl + 2;
            }
            return rc;
        }
        break;
    case MODE_TRIES_9000:
        if (len == 4 && apdu[1] == 0x20) {
            resp[0] = 0x90;
            resp[1] = 0x00;
            *rl = 2;
            return 0;
        }
        break;
    case MODE_6B00_AT:
        if (is_read && (((size_t)apdu[2] << 8) | apdu[3]) >= (size_t)w->arg) {
            resp[0] = 0x6B;
            resp[1] = 0x00;
            *rl = 2;
            return 0;
        }
        break;
    case MODE_61_LOOP:
        if (is_read) {
            resp[0] = 0x61;
            resp[1] = 0x10;
            *rl = 2;
            return 0;
        }
        if (apdu[1] == 0xC0) {
            memset(resp, 0, 16);
            resp[16] = 0x61;
            resp[17] = 0x10;
            *rl = 18;
            return 0;
        }
        break;
    case MODE_LEN_LIE:
        if (is_read) {
            *rl = cap + 10;
            return 0;
        }
        break;
    }
    return fm_cardsim_transmit(w->sim, apdu, len, resp, cap, rl);
}

/* ---------------------------------------------------------------------------------------------------------- */
/* Fixture: one simulated card (key generation takes a moment), reset between tests.                          */
/* ---------------------------------------------------------------------------------------------------------- */
static fm_ctx *g_ctx;
static fm_cardsim *g_sim, *g_other;
static uint8_t *g_jp2;
static size_t g_jp2_len;
static char g_jlis_pem[4096], g_other_pem[4096];
static size_t g_jlis_pem_len, g_other_pem_len;

#define BIRTH "19800217"
#define EXPIRY "20350217"
#define CODE "2285"
#define PIN_B "55021720352285" /* domain.md's worked example */
#define AUTH_PIN "4721"
#define SIGN_PIN "ABC12345"
#define MYNUM "123456789018"

static int make_portrait(void)
{
    fm_image *im = NULL;
    if (fm_image_create(g_ctx, FM_PIX_RGB24, 300, 400, &im) != FM_OK)
        return 0;
    int stride;
    uint8_t *p = (uint8_t *)fm_image_plane(im, 0, &stride);
    for (int y = 0; y < 400; y++)
        for (int x = 0; x < 300; x++) {
            double dx = (x - 150) / 90.0, dy = (y - 190) / 120.0;
            int in = dx * dx + dy * dy < 1.0;
            p[y * stride + 3 * x + 0] = (uint8_t)(in ? 200 : 60 + y / 4);
            p[y * stride + 3 * x + 1] = (uint8_t)(in ? 160 : 80);
            p[y * stride + 3 * x + 2] = (uint8_t)(in ? 130 : 120 + x / 4);
        }
    size_t n = 0;
    fm_status st = fm_image_encode(g_ctx, im, FM_FORMAT_JP2, 40, NULL, 0, &n);
    if (st == FM_ERR_BUFFER_TOO_SMALL) {
        g_jp2 = malloc(n);
        st = fm_image_encode(g_ctx, im, FM_FORMAT_JP2, 40, g_jp2, n, &g_jp2_len);
    }
    fm_image_destroy(im);
    if (st)
        fprintf(stderr, "JP2 encode: %s\n", fm_ctx_errmsg(g_ctx));
    return st == FM_OK;
}

static void holder(fm_cardsim_holder *h)
{
    fm_cardsim_holder_init(h);
    h->portrait_jp2 = g_jp2;
    h->portrait_jp2_len = g_jp2_len;
    strcpy(h->birth_date, BIRTH);
    strcpy(h->expiry, EXPIRY);
    h->sex = '2';
    strcpy(h->security_code, CODE);
    strcpy(h->auth_pin, AUTH_PIN);
    strcpy(h->sign_pin, SIGN_PIN);
    strcpy(h->my_number, MYNUM);
    strcpy(h->name, "TEST HOLDER");
}

static void restore(void)
{
    static const int max[FM_CARDSIM_PIN_COUNT] = {3, 5, 10, 10, 3, 3};
    for (int i = 0; i < FM_CARDSIM_PIN_COUNT; i++)
        fm_cardsim_set_tries(g_sim, i, max[i]);
    fm_cardsim_reset(g_sim);
}

static fm_card *open_card(wrap *w, int mode)
{
    memset(w, 0, sizeof *w);
    w->sim = g_sim;
    w->mode = mode;
    fm_card *c = NULL;
    if (fm_card_create(g_ctx, wrap_tx, w, &c) != FM_OK)
        return NULL;
    return c;
}

/* Finds DF27's value inside the sim's EF 0002 by scanning for the portrait bytes we stored. */
static uint8_t *sim_portrait_byte(size_t index)
{
    size_t len;
    uint8_t *f = fm_cardsim_file(g_sim, FM_CARDSIM_AP_VISUAL, 0x0002, &len);
    for (size_t i = 0; f && i + g_jp2_len <= len; i++)
        if (memcmp(f + i, g_jp2, g_jp2_len) == 0)
            return f + i + index;
    return NULL;
}

/* ---------------------------------------------------------------------------------------------------------- */
static void test_era_boundaries(void)
{
    static const struct {
        const char *in, *out;
        int era;
    } v[] = {
        {"18680125", "010125", 1}, {"19120729", "450729", 1}, {"19120730", "010730", 2},
        {"19261224", "151224", 2}, {"19261225", "011225", 3}, {"19890107", "640107", 3},
        {"19890108", "010108", 4}, {"20190430", "310430", 4}, {"20190501", "010501", 5},
        {"1980-02-17", "550217", 3}, {"20200229", "020229", 5}, {"20000229", "120229", 4},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char out[7] = "";
        int era = 0;
        CHECK_STATUS(fm_card_era_date(g_ctx, v[i].in, out, &era), FM_OK);
        CHECK_MSG(strcmp(out, v[i].out) == 0 && era == v[i].era, "%s -> %s era %d, expected %s era %d", v[i].in, out,
                  era, v[i].out, v[i].era);
    }
    static const char *bad[] = {"18680124", "19890230", "20190229", "19001329", "1980217", "abcdefgh", "19800017",
                                "2019-5-01", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[7];
        CHECK_STATUS(fm_card_era_date(g_ctx, bad[i], out, NULL), FM_ERR_INVALID_ARGUMENT);
    }
    char pin[15];
    CHECK_STATUS(fm_card_make_pin_b(g_ctx, "1980-02-17", "2035", "2285", pin), FM_OK);
    CHECK(strcmp(pin, "55021720352285") == 0); /* domain.md §2 example */
    CHECK_STATUS(fm_card_make_pin_b(g_ctx, "19800217", "235", "2285", pin), FM_ERR_PIN_FORMAT);
    CHECK_STATUS(fm_card_make_pin_b(g_ctx, "19800217", "2035", "22a5", pin), FM_ERR_PIN_FORMAT);
}

static void test_my_number_check_digit(void)
{
    CHECK(fm_card_my_number_valid("123456789018")); /* the commonly cited valid sample number */
    for (char d = '0'; d <= '9'; d++) {
        char s[13] = "12345678901";
        s[11] = d;
        s[12] = '\0';
        CHECK(fm_card_my_number_valid(s) == (d == '8'));
    }
    CHECK(!fm_card_my_number_valid("12345678901"));
    CHECK(!fm_card_my_number_valid("1234567890188"));
    CHECK(!fm_card_my_number_valid("12345678901a"));
    CHECK(!fm_card_my_number_valid(NULL));
}

static void test_tlv_strict(void)
{
    uint32_t tag;
    size_t hl, len;
    const uint8_t ok1[] = {0xDF, 0x27, 0x82, 0x01, 0x00};
    CHECK_STATUS(fmc_tlv_header(g_ctx, ok1, sizeof ok1, &tag, &hl, &len), FM_OK);
    CHECK(tag == 0xDF27 && hl == 5 && len == 256);
    const uint8_t ok2[] = {0x7F, 0x21, 0x81, 0x80};
    CHECK_STATUS(fmc_tlv_header(g_ctx, ok2, sizeof ok2, &tag, &hl, &len), FM_OK);
    CHECK(tag == 0x7F21 && len == 128);
    const uint8_t ok3[] = {0xFF, 0x20, 0x83, 0x01, 0x00, 0x00};
    CHECK_STATUS(fmc_tlv_header(g_ctx, ok3, sizeof ok3, &tag, &hl, &len), FM_OK);
    CHECK(len == 65536 && hl == 6);
    const uint8_t indefinite[] = {0xFF, 0x20, 0x80, 0x00};
    CHECK_STATUS(fmc_tlv_header(g_ctx, indefinite, sizeof indefinite, &tag, &hl, &len), FM_ERR_CORRUPT);
    const uint8_t overlong1[] = {0xDF, 0x22, 0x81, 0x05};
    CHECK_STATUS(fmc_tlv_header(g_ctx, overlong1, sizeof overlong1, &tag, &hl, &len), FM_ERR_CORRUPT);
    const uint8_t overlong2[] = {0xDF, 0x22, 0x82, 0x00, 0xFF};
    CHECK_STATUS(fmc_tlv_header(g_ctx, overlong2, sizeof overlong2, &tag, &hl, &len), FM_ERR_CORRUPT);
    const uint8_t form84[] = {0xDF, 0x22, 0x84, 0x01, 0x00, 0x00, 0x00};
    CHECK_STATUS(fmc_tlv_header(g_ctx, form84, sizeof form84, &tag, &hl, &len), FM_ERR_CORRUPT);
    const uint8_t longtag[] = {0x1F, 0x81, 0x82, 0x03, 0x01, 0x00};
    CHECK_STATUS(fmc_tlv_header(g_ctx, longtag, sizeof longtag, &tag, &hl, &len), FM_ERR_CORRUPT);
    const uint8_t nonmin_tag[] = {0x1F, 0x80, 0x01, 0x00};
    CHECK_STATUS(fmc_tlv_header(g_ctx, nonmin_tag, sizeof nonmin_tag, &tag, &hl, &len), FM_ERR_CORRUPT);
    const uint8_t cut[] = {0xDF};
    CHECK_STATUS(fmc_tlv_header(g_ctx, cut, sizeof cut, &tag, &hl, &len), FM_ERR_TRUNCATED);
    /* value past the buffer */
    const uint8_t past[] = {0xDF, 0x22, 0x08, '1', '9'};
    fmc_tlv t;
    size_t pos = 0;
    CHECK_STATUS(fmc_tlv_next(g_ctx, past, sizeof past, &pos, &t), FM_ERR_CORRUPT);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "declares 8 bytes") != NULL);
    /* nesting bomb: 30 nested constructed tags */
    uint8_t bomb[64];
    for (int i = 0; i < 30; i++) {
        bomb[2 * i] = 0x30;
        bomb[2 * i + 1] = (uint8_t)(2 * (29 - i));
    }
    CHECK_STATUS(fmc_tlv_validate(g_ctx, bomb, 60, FMC_TLV_MAX_DEPTH), FM_ERR_CORRUPT);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "nesting") != NULL);
    CHECK_STATUS(fmc_tlv_validate(g_ctx, bomb + 50, 10, FMC_TLV_MAX_DEPTH), FM_OK);
    /* single: trailing bytes */
    const uint8_t trail[] = {0x90, 0x01, 0x03, 0x00};
    CHECK_STATUS(fmc_tlv_single(g_ctx, trail, sizeof trail, &t), FM_ERR_CORRUPT);
}

static void test_sim_status_words(void)
{
    restore();
    struct {
        const char *hex;
        unsigned sw;
    } v[] = {
        {"10A4040C0AD392F000260100000001", 0x6E00},   /* bad CLA */
        {"00CA000000", 0x6D00},                       /* unknown INS */
        {"00B0000000", 0x6986},                       /* READ BINARY, no current EF */
        {"00A4010C020002", 0x6A86},                   /* bad P1 */
        {"00A4040C0AD392F000260100000099", 0x6A82},   /* unknown AID */
        {"00A4040C0AD3921000310001010402", 0x9000},   /* visual AP */
        {"00A4020C03000200", 0x6700},                 /* FID with 3 bytes */
        {"00A4020C021234", 0x6A82},                   /* no such EF */
        {"00A4020C020002", 0x9000},                   /* EF 0002 */
        {"00B0000000", 0x6982},                       /* PIN not verified */
        {"00A4020C020004", 0x9000},                   /* EF 0004 (free) */
        {"00B07F0000", 0x6B00},                       /* offset past the end */
        {"00A4020C020012", 0x9000},                   /* PIN B EF */
        {"0020008000", 0x6700},                       /* VERIFY with Le */
        {"0020008100", 0x6A86},                       /* VERIFY bad P2 (as case 2) */
        {"00200080", 0x63CA},                         /* tries, 10 */
        {"802A01800130", 0x6A86},                     /* sign bad P1 */
        {"00B0000001", 0x6986},                       /* READ BINARY on a PIN EF */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        uint8_t apdu[64], r[300];
        size_t n = strlen(v[i].hex) / 2, rl = 0;
        for (size_t k = 0; k < n; k++)
            sscanf(v[i].hex + 2 * k, "%2hhx", &apdu[k]);
        REQUIRE(fm_cardsim_transmit(g_sim, apdu, n, r, sizeof r, &rl) == 0);
        unsigned sw = FMC_SW(r, rl);
        CHECK_MSG(sw == v[i].sw, "%s -> %04X, expected %04X", v[i].hex, sw, v[i].sw);
    }
    /* chunked read of EF 0004 ends in FF filler */
    size_t flen;
    uint8_t *f = fm_cardsim_file(g_sim, FM_CARDSIM_AP_VISUAL, 0x0004, &flen);
    REQUIRE(f && flen % 256 == 0);
    CHECK(f[0] == 0x7F && f[1] == 0x21 && f[flen - 1] == 0xFF);
}

static void test_tries_all_pins(void)
{
    restore();
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    REQUIRE(c);
    static const struct {
        fm_card_pin pin;
        int tries;
    } v[] = {{FM_CARD_PIN_AUTH, 3}, {FM_CARD_PIN_SIGN, 5}, {FM_CARD_PIN_VISUAL_A, 10}, {FM_CARD_PIN_VISUAL_B, 10},
             {FM_CARD_PIN_TEXT, 3}, {FM_CARD_PIN_RESIDENT, 3}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        int t = -1;
        CHECK_STATUS(fm_card_pin_tries(c, v[i].pin, &t), FM_OK);
        CHECK_MSG(t == v[i].tries, "%s: %d tries, expected %d", fm_card_pin_name(v[i].pin), t, v[i].tries);
    }
    CHECK(w.verify_with_data == 0);
    for (int i = 0; i < FM_CARDSIM_PIN_COUNT; i++)
        CHECK(fm_cardsim_tries(g_sim, i) == (i == 1 ? 5 : (i == 2 || i == 3) ? 10 : 3));
    fm_card_destroy(c);
}

static void check_visual(fm_card_visual *v, fm_card_authenticity want)
{
    fm_card_visual_info info;
    fm_card_visual_get_info(v, &info);
    CHECK(strcmp(info.birth_date, BIRTH) == 0);
    CHECK(strcmp(info.expiry, EXPIRY) == 0);
    CHECK(info.sex == '2');
    CHECK(info.portrait_len == g_jp2_len);
    uint8_t h[32];
    fm_sha256(g_jp2, g_jp2_len, h, NULL);
    CHECK(memcmp(h, info.portrait_sha256, 32) == 0);
    CHECK_MSG(info.authenticity == want, "authenticity %s (%s), expected %s",
              fm_card_authenticity_name(info.authenticity), info.authenticity_detail, fm_card_authenticity_name(want));
}

/* Reads the visual AP with (pin, digits) on a fresh session that trusts ca (for issuer keyid, or any issuer when NULL)
 * and checks the authenticity reported; keep (when not NULL) gets the visual data, else it is destroyed. */
static void read_trusting(const char *ca, size_t ca_len, const uint8_t *keyid, fm_card_pin pin, const char *digits,
                          fm_card_authenticity want, fm_card_visual **keep)
{
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    REQUIRE(c);
    fm_card_visual *v = NULL;
    CHECK_STATUS(fm_card_add_trusted_ca_key(c, ca, ca_len, keyid), FM_OK);
    CHECK_STATUS(fm_card_read_visual(c, pin, digits, 0, &v, NULL), FM_OK);
    if (v)
        check_visual(v, want);
    if (keep)
        *keep = v;
    else
        fm_card_visual_destroy(v);
    fm_card_destroy(c);
}

static void test_visual_pin_b_unverifiable_then_verified(void)
{
    restore();
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    REQUIRE(c);
    fm_card_visual *v = NULL;
    int tries = -1;
    CHECK_STATUS(fm_card_read_visual_b(c, BIRTH, "2035", CODE, 0, &v, &tries), FM_OK);
    REQUIRE(v);
    check_visual(v, FM_CARD_AUTH_UNVERIFIABLE); /* never verified without a trusted CA */
    CHECK(tries == 10);
    /* portrait copy-out and decode */
    size_t n = 0;
    CHECK_STATUS(fm_card_visual_portrait(g_ctx, v, NULL, 0, &n), FM_ERR_BUFFER_TOO_SMALL);
    CHECK(n == g_jp2_len);
    uint8_t *buf = malloc(n);
    CHECK_STATUS(fm_card_visual_portrait(g_ctx, v, buf, n, &n), FM_OK);
    CHECK(memcmp(buf, g_jp2, n) == 0);
    free(buf);
    fm_image *img = NULL;
    fm_image_info ii;
    CHECK_STATUS(fm_card_visual_decode_portrait(g_ctx, v, FM_PIX_NONE, &img, &ii), FM_OK);
    CHECK(fm_image_width(img) == 300 && fm_image_height(img) == 400);
    fm_image_destroy(img);
    /* card presence with the DF24 key */
    CHECK_STATUS(fm_card_check_presence(c, v), FM_OK);
    fm_card_visual_destroy(v);
    fm_card_destroy(c);

    /* trusted J-LIS test CA (PEM, with and without key id) -> verified */
    read_trusting(g_jlis_pem, g_jlis_pem_len, fm_cardsim_jlis_key_id(g_sim), FM_CARD_PIN_VISUAL_B, PIN_B,
                  FM_CARD_AUTH_VERIFIED, NULL);
    /* PIN A (My Number) also opens it */
    read_trusting(g_jlis_pem, g_jlis_pem_len, NULL, FM_CARD_PIN_VISUAL_A, MYNUM, FM_CARD_AUTH_VERIFIED, NULL);
    /* another card's CA, trusted for any issuer -> invalid; with a non-matching key id -> unverifiable */
    read_trusting(g_other_pem, g_other_pem_len, NULL, FM_CARD_PIN_VISUAL_B, PIN_B, FM_CARD_AUTH_INVALID, NULL);
    v = NULL;
    read_trusting(g_other_pem, g_other_pem_len, fm_cardsim_jlis_key_id(g_other), FM_CARD_PIN_VISUAL_B, PIN_B,
                  FM_CARD_AUTH_UNVERIFIABLE, &v);
    /* presence against the wrong card fails */
    wrap wo;
    fm_card *co = open_card(&wo, MODE_PASS);
    wo.sim = g_other;
    fm_cardsim_reset(g_other);
    CHECK_STATUS(fm_card_check_presence(co, v), FM_ERR_VERIFY);
    fm_card_destroy(co);
    fm_card_visual_destroy(v);
    CHECK_STATUS(fm_card_add_trusted_ca_key(NULL, "x", 1, NULL), FM_ERR_INVALID_ARGUMENT);
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_add_trusted_ca_key(c, "not a key", 9, NULL), FM_ERR_KEY);
    fm_card_destroy(c);
}

static void test_tamper(void)
{
    restore();
    uint8_t *b = sim_portrait_byte(g_jp2_len / 2);
    REQUIRE(b);
    *b ^= 0x01;
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_add_trusted_ca_key(c, g_jlis_pem, g_jlis_pem_len, NULL), FM_OK);
    fm_card_visual *v = NULL;
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_OK);
    fm_card_visual_info info;
    fm_card_visual_get_info(v, &info);
    CHECK(info.authenticity == FM_CARD_AUTH_INVALID);
    CHECK(strstr(info.authenticity_detail, "DF28") != NULL);
    fm_card_visual_destroy(v);
    fm_card_destroy(c);
    /* without any CA the altered data is still invalid (DF28 does not match EF 0004's key) */
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_OK);
    fm_card_visual_get_info(v, &info);
    CHECK(info.authenticity == FM_CARD_AUTH_INVALID);
    fm_card_visual_destroy(v);
    fm_card_destroy(c);
    *b ^= 0x01;

    /* EF 0004's signature altered -> invalid with the CA, unverifiable without */
    size_t len;
    uint8_t *ef4 = fm_cardsim_file(g_sim, FM_CARDSIM_AP_VISUAL, 0x0004, &len);
    REQUIRE(ef4);
    ef4[4 + 4 + 297 + 4 + 10] ^= 0x80; /* inside 5F37 */
    restore();
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_add_trusted_ca_key(c, g_jlis_pem, g_jlis_pem_len, NULL), FM_OK);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_OK);
    fm_card_visual_get_info(v, &info);
    CHECK_MSG(info.authenticity == FM_CARD_AUTH_INVALID, "%s", info.authenticity_detail);
    fm_card_visual_destroy(v);
    fm_card_destroy(c);
    ef4[4 + 4 + 297 + 4 + 10] ^= 0x80;

    /* birth date altered (DF22 is covered by the first hash) */
    size_t l2;
    uint8_t *ef2 = fm_cardsim_file(g_sim, FM_CARDSIM_AP_VISUAL, 0x0002, &l2);
    uint8_t *bd = NULL;
    for (size_t i = 0; i + 11 < l2; i++)
        if (ef2[i] == 0xDF && ef2[i + 1] == 0x22 && ef2[i + 2] == 8) {
            bd = ef2 + i + 3 + 7;
            break;
        }
    REQUIRE(bd);
    *bd = '8'; /* 19800218 */
    restore();
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_add_trusted_ca_key(c, g_jlis_pem, g_jlis_pem_len, NULL), FM_OK);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_OK);
    fm_card_visual_get_info(v, &info);
    CHECK(info.authenticity == FM_CARD_AUTH_INVALID);
    fm_card_visual_destroy(v);
    fm_card_destroy(c);
    *bd = '7';
}

static void test_pin_b_to_lock(void)
{
    restore();
    fm_cardsim_set_tries(g_sim, FM_CARDSIM_PIN_B, 3);
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    fm_card_visual *v = NULL;
    int tries = -1;
    const char *wrong = "55021720359999";
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, wrong, 0, &v, &tries), FM_ERR_PIN_WRONG);
    CHECK(tries == 2 && v == NULL);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "2 tries left") != NULL);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), wrong) == NULL);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, wrong, 0, &v, &tries), FM_ERR_PIN_WRONG);
    CHECK(tries == 1 && fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_B) == 1);
    int sent = w.verify_with_data;
    /* last try: refused, nothing sent, even with the right PIN */
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, &tries), FM_ERR_PIN_LAST_TRY);
    CHECK(w.verify_with_data == sent && tries == 1 && fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_B) == 1);
    /* allowed explicitly: the wrong PIN locks it (63C0) */
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, wrong, FM_CARD_ALLOW_LAST_TRY, &v, &tries),
                 FM_ERR_PIN_LOCKED);
    CHECK(tries == 0 && fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_B) == 0);
    /* locked: refused before sending */
    sent = w.verify_with_data;
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, FM_CARD_ALLOW_LAST_TRY, &v, &tries),
                 FM_ERR_PIN_LOCKED);
    CHECK(w.verify_with_data == sent);
    int t = -1;
    CHECK_STATUS(fm_card_pin_tries(c, FM_CARD_PIN_VISUAL_B, &t), FM_OK);
    CHECK(t == 0);
    /* the card itself answers 6984 to any VERIFY with data now */
    uint8_t r[8];
    size_t rl;
    const uint8_t verify[] = {0x00, 0x20, 0x00, 0x80, 0x0E, '5', '5', '0', '2', '1', '7', '2', '0', '3', '5', '2', '2',
                              '8', '5'};
    fm_cardsim_transmit(g_sim, verify, sizeof verify, r, sizeof r, &rl);
    CHECK(rl == 2 && FMC_SW(r, rl) == 0x6984);
    /* the other visual PIN still works */
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_A, MYNUM, 0, &v, &tries), FM_OK);
    fm_card_visual_destroy(v);
    /* format errors: nothing sent */
    sent = w.verify_with_data;
    int n0 = w.n;
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_A, "123456789012", 0, &v, NULL), FM_ERR_PIN_FORMAT);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, "5502172035228", 0, &v, NULL), FM_ERR_PIN_FORMAT);
    CHECK_STATUS(fm_card_read_visual_b(c, "19800230", "2035", CODE, 0, &v, NULL), FM_ERR_PIN_FORMAT);
    CHECK(w.n == n0 && w.verify_with_data == sent);
    fm_card_destroy(c);
    restore();
}

static void test_jpki_auth(void)
{
    restore();
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    uint8_t cert[4096];
    size_t cl = 0;
    CHECK_STATUS(fm_card_jpki_auth_cert(c, cert, sizeof cert, &cl), FM_OK);
    REQUIRE(cl > 4 && cert[0] == 0x30 && cert[1] == 0x82);
    CHECK(cl == (size_t)((cert[2] << 8 | cert[3]) + 4));
    const unsigned char *q = cert;
    X509 *x = d2i_X509(NULL, &q, (long)cl);
    REQUIRE(x);
    /* signing before VERIFY: the card refuses (6982) */
    uint8_t digest[32], sig[256];
    size_t sl = 0;
    const char msg[] = "facematch test message";
    fm_sha256(msg, sizeof msg - 1, digest, NULL);
    CHECK_STATUS(fm_card_jpki_sign_auth(c, digest, sig, sizeof sig, &sl), FM_ERR_CARD_STATUS);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "6982") != NULL);
    int tries = -1;
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "12345", 0, &tries), FM_ERR_PIN_FORMAT);
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, AUTH_PIN, 0, &tries), FM_OK);
    CHECK_STATUS(fm_card_jpki_sign_auth(c, digest, sig, sizeof sig, &sl), FM_OK);
    CHECK(sl == 256);
    /* verify with the certificate's key (OpenSSL, independent of the card code) */
    EVP_PKEY *pub = X509_get_pubkey(x);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, sl, (const unsigned char *)msg, sizeof msg - 1) == 1;
    CHECK(ok);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    X509_free(x);
    CHECK_STATUS(fm_card_jpki_sign_auth(c, digest, sig, 100, &sl), FM_ERR_BUFFER_TOO_SMALL);
    fm_card_destroy(c);
    /* no JPKI session: refused by the library */
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_jpki_sign_auth(c, digest, sig, sizeof sig, &sl), FM_ERR_STATE);
    fm_card_destroy(c);
}

static void test_auth_pin_to_lock_and_wipe(void)
{
    restore();
    wrap w;
    fm_card *c = open_card(&w, MODE_PASS);
    int tries = -1;
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "0000", 0, &tries), FM_ERR_PIN_WRONG); /* 63C2 */
    CHECK(tries == 2);
    /* the APDU buffer that carried the PIN was wiped (it belongs to the card handle, still alive) */
    REQUIRE(w.last_verify_apdu);
    int zero = 1;
    for (size_t i = 0; i < w.last_verify_len; i++)
        zero &= w.last_verify_apdu[i] == 0;
    CHECK(zero);
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "0001", 0, &tries), FM_ERR_PIN_WRONG); /* 63C1 */
    CHECK(tries == 1);
    int sent = w.verify_with_data;
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, AUTH_PIN, 0, &tries), FM_ERR_PIN_LAST_TRY);
    CHECK(w.verify_with_data == sent);
    /* the right PIN on the last try with permission restores the counter */
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, AUTH_PIN, FM_CARD_ALLOW_LAST_TRY, &tries), FM_OK);
    CHECK(fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_AUTH) == 3);
    /* down to lock: 63C2, 63C1, refusal, 63C0 with permission, then 6984 / locked */
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "1111", 0, &tries), FM_ERR_PIN_WRONG);
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "1111", 0, &tries), FM_ERR_PIN_WRONG);
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "1111", 0, &tries), FM_ERR_PIN_LAST_TRY);
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, "1111", FM_CARD_ALLOW_LAST_TRY, &tries), FM_ERR_PIN_LOCKED);
    CHECK(tries == 0 && fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_AUTH) == 0);
    CHECK_STATUS(fm_card_jpki_verify_auth_pin(c, AUTH_PIN, FM_CARD_ALLOW_LAST_TRY, &tries), FM_ERR_PIN_LOCKED);
    /* admin reset (sim-only command) restores it */
    uint8_t apdu[64], r[8];
    size_t rl;
    const uint8_t sel[] = {0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01};
    fm_cardsim_transmit(g_sim, sel, sizeof sel, r, sizeof r, &rl);
    memcpy(apdu, "\x80\x2C\x00\x00\x16", 5);
    memcpy(apdu + 5, fm_cardsim_admin_key(g_sim), 16);
    memcpy(apdu + 21, "\x00\x18" "4721", 6);
    fm_cardsim_transmit(g_sim, apdu, 27, r, sizeof r, &rl);
    CHECK(FMC_SW(r, rl) == 0x9000 && fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_AUTH) == 3);
    apdu[5] ^= 1; /* wrong admin key */
    fm_cardsim_transmit(g_sim, apdu, 27, r, sizeof r, &rl);
    CHECK(FMC_SW(r, rl) == 0x6982);
    fm_card_destroy(c);
    restore();
}

static fm_status read_with(int mode, int arg, fm_card_visual **v, fm_card **cp, wrap *w)
{
    restore();
    fm_card *c = open_card(w, mode);
    w->arg = arg;
    *cp = c;
    return fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, v, NULL);
}

static void test_hostile_transports(void)
{
    wrap w;
    fm_card *c;
    fm_card_visual *v = NULL;
    /* removal in the middle of EF 0002 (APDU 8 = the 3rd READ BINARY) */
    CHECK_STATUS(read_with(MODE_REMOVE_AFTER, 8, &v, &c, &w), FM_ERR_CARD_TRANSPORT);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "removed") != NULL && strstr(fm_ctx_errmsg(g_ctx), "READ BINARY") != NULL);
    CHECK(v == NULL);
    fm_card_destroy(c);
    CHECK_STATUS(read_with(MODE_SHORT_ANSWER, 0, &v, &c, &w), FM_ERR_CARD_RESPONSE);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "no status word") != NULL);
    fm_card_destroy(c);
    CHECK_STATUS(read_with(MODE_LONG_READ, 0, &v, &c, &w), FM_ERR_CARD_RESPONSE);
    fm_card_destroy(c);
    /* 61xx and 6Cxx are followed transparently */
    CHECK_STATUS(read_with(MODE_61XX, 0, &v, &c, &w), FM_OK);
    if (v)
        check_visual(v, FM_CARD_AUTH_UNVERIFIABLE);
    CHECK_STATUS(fm_card_check_presence(c, v), FM_OK); /* 256-byte answer through GET RESPONSE */
    fm_card_visual_destroy(v);
    v = NULL;
    fm_card_destroy(c);
    CHECK_STATUS(read_with(MODE_6CXX, 0, &v, &c, &w), FM_OK);
    if (v)
        check_visual(v, FM_CARD_AUTH_UNVERIFIABLE);
    fm_card_visual_destroy(v);
    v = NULL;
    fm_card_destroy(c);
    /* hostile outer lengths */
    static const struct {
        uint8_t len[4];
        size_t n;
        fm_status st;
    } hl[] = {{{0x83, 0xFF, 0xFF, 0xFF}, 4, FM_ERR_LIMIT}, {{0x80}, 1, FM_ERR_CORRUPT},
              {{0x81, 0x05}, 2, FM_ERR_CORRUPT}, {{0x84, 1, 2, 3}, 4, FM_ERR_CORRUPT}};
    for (size_t i = 0; i < sizeof hl / sizeof hl[0]; i++) {
        restore();
        c = open_card(&w, MODE_HOSTILE_LEN);
        memcpy(w.hostile, hl[i].len, hl[i].n);
        w.hostile_len = hl[i].n;
        CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), hl[i].st);
        CHECK(v == NULL);
        fm_card_destroy(c);
    }
    /* a length that is plausible but wrong: the strict parse of FF20 fails */
    restore();
    c = open_card(&w, MODE_HOSTILE_LEN);
    memcpy(w.hostile, "\x82\x01\x00", 3);
    w.hostile_len = 3;
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_ERR_CARD_RESPONSE);
    fm_card_destroy(c);
    /* VERIFY-without-data answered 9000: tries unknown, no PIN sent */
    CHECK_STATUS(read_with(MODE_TRIES_9000, 0, &v, &c, &w), FM_ERR_CARD_STATUS);
    CHECK(w.verify_with_data == 0);
    fm_card_destroy(c);
    /* 6B00 before the TLV's end */
    CHECK_STATUS(read_with(MODE_6B00_AT, 1024, &v, &c, &w), FM_ERR_TRUNCATED);
    CHECK(strstr(fm_ctx_errmsg(g_ctx), "6B00") != NULL);
    fm_card_destroy(c);
    CHECK_STATUS(read_with(MODE_61_LOOP, 0, &v, &c, &w), FM_ERR_CARD_RESPONSE);
    fm_card_destroy(c);
    CHECK_STATUS(read_with(MODE_LEN_LIE, 0, &v, &c, &w), FM_ERR_CARD_TRANSPORT);
    fm_card_destroy(c);
    /* limits and chunk size */
    restore();
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_set_max_file_bytes(c, 1024), FM_OK);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_ERR_LIMIT);
    CHECK_STATUS(fm_card_set_max_file_bytes(c, 1 << 20), FM_ERR_INVALID_ARGUMENT);
    fm_card_destroy(c);
    restore();
    c = open_card(&w, MODE_PASS);
    CHECK_STATUS(fm_card_set_read_chunk(c, 100), FM_OK);
    CHECK_STATUS(fm_card_set_read_chunk(c, 0), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_card_read_visual(c, FM_CARD_PIN_VISUAL_B, PIN_B, 0, &v, NULL), FM_OK);
    if (v)
        check_visual(v, FM_CARD_AUTH_UNVERIFIABLE);
    fm_card_visual_destroy(v);
    fm_card_destroy(c);
}

int main(void)
{
    g_ctx = fm_ctx_create();
    if (!make_portrait()) {
        fprintf(stderr, "SKIP: JPEG 2000 encoding (fm_image_encode FM_FORMAT_JP2) is not available\n");
        return TEST_SKIP_CODE;
    }
    fm_cardsim_holder h;
    holder(&h);
    if (fm_cardsim_create(g_ctx, &h, &g_sim) != FM_OK || fm_cardsim_create(g_ctx, &h, &g_other) != FM_OK) {
        fprintf(stderr, "cardsim: %s\n", fm_ctx_errmsg(g_ctx));
        return 1;
    }
    if (fm_cardsim_pem(g_ctx, g_sim, FM_CARDSIM_PEM_JLIS_CA, g_jlis_pem, sizeof g_jlis_pem, &g_jlis_pem_len) ||
        fm_cardsim_pem(g_ctx, g_other, FM_CARDSIM_PEM_JLIS_CA, g_other_pem, sizeof g_other_pem, &g_other_pem_len))
        return 1;
    RUN(test_era_boundaries);
    RUN(test_my_number_check_digit);
    RUN(test_tlv_strict);
    RUN(test_sim_status_words);
    RUN(test_tries_all_pins);
    RUN(test_visual_pin_b_unverifiable_then_verified);
    RUN(test_tamper);
    RUN(test_pin_b_to_lock);
    RUN(test_jpki_auth);
    RUN(test_auth_pin_to_lock_and_wipe);
    RUN(test_hostile_transports);
    fm_cardsim_destroy(g_sim);
    fm_cardsim_destroy(g_other);
    free(g_jp2);
    fm_ctx_destroy(g_ctx);
    return test_finish();
}
