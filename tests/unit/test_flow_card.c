/* The card calls added for the reset flow (issue 7), in-process against the virtual card: signing-PIN VERIFY with
 * the PIN-safety rules (format, tries read first, last try refused, lock), the signing certificate (EF 0001, only
 * after the PIN) and a signature with the signing key checked by OpenSSL with that certificate's key; the simulator's
 * administrative reset (80 2C) that the kiosk uses restores the counter and sets the new PIN. */
#include "test.h"

#include "fmcardsim.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <string.h>

static fm_ctx *g_ctx;
static fm_cardsim *g_sim;

/* Counts VERIFY APDUs that carry a PIN. */
typedef struct {
    fm_cardsim *sim;
    int verify_with_data;
} wrap;

static int wrap_tx(void *user, const uint8_t *apdu, size_t len, uint8_t *resp, size_t cap, size_t *rl)
{
    wrap *w = user;
    if (len > 5 && apdu[0] == 0x00 && apdu[1] == 0x20)
        w->verify_with_data++;
    return fm_cardsim_transmit(w->sim, apdu, len, resp, cap, rl);
}

static uint8_t *make_jp2(size_t *len)
{
    fm_image *im = NULL;
    if (fm_image_create(g_ctx, FM_PIX_RGB24, 300, 400, &im) != FM_OK)
        return NULL;
    int stride;
    uint8_t *p = (uint8_t *)fm_image_plane(im, 0, &stride);
    for (int y = 0; y < 400; y++)
        for (int x = 0; x < 300; x++) {
            p[y * stride + 3 * x + 0] = (uint8_t)(x ^ y);
            p[y * stride + 3 * x + 1] = (uint8_t)(y / 2);
            p[y * stride + 3 * x + 2] = (uint8_t)(x / 2);
        }
    size_t n = 0;
    uint8_t *out = NULL;
    fm_status st = fm_image_encode(g_ctx, im, FM_FORMAT_JP2, 40, NULL, 0, &n);
    if (st == FM_ERR_BUFFER_TOO_SMALL && (out = malloc(n)) != NULL)
        st = fm_image_encode(g_ctx, im, FM_FORMAT_JP2, 40, out, n, len);
    fm_image_destroy(im);
    if (st != FM_OK) {
        free(out);
        return NULL;
    }
    return out;
}

static void test_sign_pin_rules(void)
{
    wrap w = {g_sim, 0};
    fm_card *c = NULL;
    REQUIRE(fm_card_create(g_ctx, wrap_tx, &w, &c) == FM_OK);
    int t = -1;
    /* format errors: nothing sent */
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "abc123", 0, &t), FM_ERR_PIN_FORMAT);
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "ABCDEF", 0, &t), FM_ERR_PIN_FORMAT);
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "A1", 0, &t), FM_ERR_PIN_FORMAT);
    CHECK(w.verify_with_data == 0);
    /* certificate and signature need the PIN first */
    uint8_t cert[8192], sig[512], dg[32] = {1, 2, 3};
    size_t cl = 0, sl = 0;
    CHECK(fm_card_jpki_sign_cert(c, cert, sizeof cert, &cl) != FM_OK);
    CHECK(fm_card_jpki_sign_sign(c, dg, sig, sizeof sig, &sl) != FM_OK);
    /* wrong PIN: 4 left, then right PIN restores 5 */
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "WRONG1", 0, &t), FM_ERR_PIN_WRONG);
    CHECK(t == 4);
    CHECK(fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_SIGN) == 4);
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "ABC12345", 0, &t), FM_OK);
    CHECK(fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_SIGN) == 5);
    /* down to the last try: refused without sending */
    for (int i = 0; i < 4; i++)
        CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "WRONG1", 0, &t), FM_ERR_PIN_WRONG);
    CHECK(fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_SIGN) == 1);
    int sent = w.verify_with_data;
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "ABC12345", 0, &t), FM_ERR_PIN_LAST_TRY);
    CHECK(w.verify_with_data == sent && t == 1);
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "WRONG1", FM_CARD_ALLOW_LAST_TRY, &t), FM_ERR_PIN_LOCKED);
    CHECK(t == 0);
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "ABC12345", FM_CARD_ALLOW_LAST_TRY, &t), FM_ERR_PIN_LOCKED);
    fm_card_destroy(c);
}

/* The kiosk's reset: SELECT JPKI, 80 2C 00 00 Lc admin-key FID new-PIN. */
static unsigned admin_reset(const uint8_t *key, unsigned fid, const char *pin)
{
    static const uint8_t sel[] = {0x00, 0xA4, 0x04, 0x0C, 0x0A, 0xD3, 0x92, 0xF0, 0x00, 0x26,
                                  0x01, 0x00, 0x00, 0x00, 0x01};
    uint8_t r[300], a[64];
    size_t rl = 0;
    if (fm_cardsim_transmit(g_sim, sel, sizeof sel, r, sizeof r, &rl) || rl < 2)
        return 0;
    size_t n = strlen(pin);
    a[0] = 0x80, a[1] = 0x2C, a[2] = 0, a[3] = 0, a[4] = (uint8_t)(18 + n);
    memcpy(a + 5, key, 16);
    a[21] = (uint8_t)(fid >> 8), a[22] = (uint8_t)fid;
    memcpy(a + 23, pin, n);
    if (fm_cardsim_transmit(g_sim, a, 23 + n, r, sizeof r, &rl) || rl < 2)
        return 0;
    fm_wipe(a, sizeof a);
    return (unsigned)r[rl - 2] << 8 | r[rl - 1];
}

static void test_admin_reset_then_sign(void)
{
    uint8_t bad[16] = {0};
    CHECK(admin_reset(bad, 0x001B, "NEW2026X") == 0x6982);
    CHECK(fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_SIGN) == 0);
    CHECK(admin_reset(fm_cardsim_admin_key(g_sim), 0x001B, "NEW2026X") == 0x9000);
    CHECK(fm_cardsim_tries(g_sim, FM_CARDSIM_PIN_SIGN) == 5);
    fm_cardsim_reset(g_sim);

    wrap w = {g_sim, 0};
    fm_card *c = NULL;
    REQUIRE(fm_card_create(g_ctx, wrap_tx, &w, &c) == FM_OK);
    int t = -1;
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "ABC12345", 0, &t), FM_ERR_PIN_WRONG); /* the old PIN is gone */
    CHECK_STATUS(fm_card_jpki_verify_sign_pin(c, "NEW2026X", 0, &t), FM_OK);
    uint8_t cert[8192], sig[512], small[16];
    size_t cl = 0, sl = 0;
    CHECK_STATUS(fm_card_jpki_sign_cert(c, small, sizeof small, &cl), FM_ERR_BUFFER_TOO_SMALL);
    REQUIRE(fm_card_jpki_sign_cert(c, cert, sizeof cert, &cl) == FM_OK);
    const unsigned char *q = cert;
    X509 *x = d2i_X509(NULL, &q, (long)cl);
    REQUIRE(x != NULL);
    /* the signing certificate is not the authentication certificate */
    uint8_t auth[8192];
    size_t al = 0;
    uint8_t dg[32];
    SHA256((const unsigned char *)"facematch reset proof", 21, dg);
    CHECK_STATUS(fm_card_jpki_sign_sign(c, dg, sig, 100, &sl), FM_ERR_BUFFER_TOO_SMALL);
    CHECK_STATUS(fm_card_jpki_sign_sign(c, dg, sig, sizeof sig, &sl), FM_OK);
    CHECK(sl == 256);
    EVP_PKEY *pk = X509_get0_pubkey(x);
    EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(pk, NULL);
    int ok = pc && EVP_PKEY_verify_init(pc) == 1 && EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
             EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 && EVP_PKEY_verify(pc, sig, sl, dg, 32) == 1;
    CHECK_MSG(ok, "signing-key signature does not verify with EF 0001's key");
    dg[0] ^= 1;
    CHECK(EVP_PKEY_verify(pc, sig, sl, dg, 32) != 1);
    EVP_PKEY_CTX_free(pc);
    REQUIRE(fm_card_jpki_auth_cert(c, auth, sizeof auth, &al) == FM_OK);
    CHECK(al != cl || memcmp(auth, cert, al) != 0);
    X509_free(x);
    /* after selecting another application the security state is gone */
    int tries = -1;
    CHECK_STATUS(fm_card_pin_tries(c, FM_CARD_PIN_VISUAL_B, &tries), FM_OK);
    CHECK(fm_card_jpki_sign_sign(c, dg, sig, sizeof sig, &sl) != FM_OK);
    fm_card_destroy(c);
}

int main(void)
{
    g_ctx = fm_ctx_create();
    size_t jl = 0;
    uint8_t *jp2 = make_jp2(&jl);
    if (!jp2)
        SKIP_ALL("JPEG 2000 encoding (fm_image_encode FM_FORMAT_JP2) is not available");
    fm_cardsim_holder h;
    fm_cardsim_holder_init(&h);
    h.portrait_jp2 = jp2;
    h.portrait_jp2_len = jl;
    strcpy(h.birth_date, "19800217");
    strcpy(h.expiry, "20350217");
    h.sex = '1';
    strcpy(h.security_code, "2285");
    strcpy(h.auth_pin, "4721");
    strcpy(h.sign_pin, "ABC12345");
    strcpy(h.name, "TEST HOLDER");
    if (fm_cardsim_create(g_ctx, &h, &g_sim) != FM_OK) {
        fprintf(stderr, "cardsim: %s\n", fm_ctx_errmsg(g_ctx));
        return 1;
    }
    fm_cardsim_holder_wipe(&h);
    RUN(test_sign_pin_rules);
    RUN(test_admin_reset_then_sign);
    fm_cardsim_destroy(g_sim);
    free(jp2);
    fm_ctx_destroy(g_ctx);
    return test_finish();
}
