/* Verdict stage with the real card module and the virtual card (in-process, no pcscd): the JPKI authentication key
 * signs the verdict through fm_card_jpki_sign_auth, the certificate read from EF 000A is embedded, and the verifier
 * checks it against the simulator's JPKI test CA. Also: no PIN / My Number in anything the verdict path produces. */
#include "test.h"
#include "fmcardsim.h"

static const char *NONCE = "5f1e2d3c4b5a69788796a5b4c3d2e1f0";
static const char *AUD = "pin-reset.example";
static const char *PIN = "4821";
static const char *MY_NUMBER = "123456789018";

/* The adapter the session uses: fm_card_sign_fn -> fm_card_jpki_sign_auth. */
static fm_status card_sign(void *user, const uint8_t digest[32], uint8_t *sig, size_t cap, size_t *sig_len)
{
    return fm_card_jpki_sign_auth((fm_card *)user, digest, sig, cap, sig_len);
}

typedef struct card_env {
    fm_cardsim *sim;
    fm_card *card;
    uint8_t cert[4096];
    size_t cert_len;
    char ca_pem[4096];
    size_t ca_len;
} card_env;

static int env_open(fm_ctx *ctx, card_env *e, const fm_image *portrait)
{
    memset(e, 0, sizeof *e);
    fm_cardsim_holder h;
    fm_cardsim_holder_init(&h);
    h.portrait = portrait;
    snprintf(h.birth_date, sizeof h.birth_date, "19800217");
    snprintf(h.expiry, sizeof h.expiry, "20350217");
    snprintf(h.security_code, sizeof h.security_code, "2285");
    snprintf(h.auth_pin, sizeof h.auth_pin, "%s", PIN);
    snprintf(h.sign_pin, sizeof h.sign_pin, "ABC12345");
    snprintf(h.my_number, sizeof h.my_number, "%s", MY_NUMBER);
    snprintf(h.name, sizeof h.name, "TEST HOLDER");
    fm_status s = fm_cardsim_create(ctx, &h, &e->sim);
    fm_cardsim_holder_wipe(&h);
    if (s != FM_OK)
        return -1;
    if (fm_card_create(ctx, fm_cardsim_transmit, e->sim, &e->card) != FM_OK ||
        fm_card_jpki_auth_cert(e->card, e->cert, sizeof e->cert, &e->cert_len) != FM_OK ||
        fm_cardsim_pem(ctx, e->sim, FM_CARDSIM_PEM_JPKI_CA, e->ca_pem, sizeof e->ca_pem, &e->ca_len) != FM_OK)
        return -1;
    return 0;
}

static void env_close(card_env *e)
{
    fm_card_destroy(e->card);
    fm_cardsim_destroy(e->sim);
}

static void fill(fm_verdict_input *in, const card_env *e)
{
    fm_verdict_input_init(in);
    in->aud = AUD;
    in->nonce_hex = NONCE;
    in->decision = FM_VERDICT_MATCH;
    in->reasons[in->n_reasons++] = "distance_below_threshold";
    in->distance = 0.38;
    in->threshold = 0.6;
    in->fmr = 1e-4;
    fm_sha256("portrait bytes", 14, in->portrait_sha256, NULL);
    in->portrait_auth = FM_PORTRAIT_VERIFIED;
    in->card_cert_der = e->cert;
    in->card_cert_len = e->cert_len;
}

static int contains(const char *hay, size_t n, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= n; i++)
        if (memcmp(hay + i, needle, nl) == 0)
            return 1;
    return 0;
}

static void test_with_virtual_card(void)
{
    fm_ctx *ctx = fm_ctx_create();
    fm_image *portrait = NULL;
    REQUIRE(fm_image_create(ctx, FM_PIX_RGB24, 300, 400, &portrait) == FM_OK);
    card_env a, b;
    REQUIRE(env_open(ctx, &a, portrait) == 0);
    REQUIRE(env_open(ctx, &b, portrait) == 0);
    fm_verdict_key *key = NULL;
    REQUIRE(fm_verdict_key_generate(ctx, FM_JWS_ES256, &key) == FM_OK);
    fm_verdict_verifier *v = NULL;
    REQUIRE(fm_verdict_verifier_create(ctx, key, &v) == FM_OK);
    REQUIRE(fm_verdict_verifier_add_ca(ctx, v, a.ca_pem, a.ca_len) == FM_OK);

    fm_verdict_input in;
    fill(&in, &a);
    char *tok = malloc(FM_VERDICT_TOKEN_MAX);
    size_t tl = 0;
    /* without the PIN the card refuses, and so does signing */
    fm_status s = fm_verdict_sign(ctx, key, &in, card_sign, a.card, tok, FM_VERDICT_TOKEN_MAX, &tl);
    CHECK_MSG(s != FM_OK, "signed without the PIN");
    int tries = -1;
    REQUIRE(fm_card_jpki_verify_auth_pin(a.card, PIN, 0, &tries) == FM_OK);
    CHECK_STATUS(fm_verdict_sign(ctx, key, &in, card_sign, a.card, tok, FM_VERDICT_TOKEN_MAX, &tl), FM_OK);
    fm_verdict_result res;
    char *payload = malloc(FM_VERDICT_TOKEN_MAX);
    size_t pl = 0;
    CHECK_STATUS(fm_verdict_verify(ctx, v, tok, tl, NONCE, AUD, 0, &res, payload, FM_VERDICT_TOKEN_MAX, &pl), FM_OK);
    CHECK(res.valid && res.chain_checked);
    char hex[65];
    fm_sha256(a.cert, a.cert_len, NULL, hex);
    CHECK(strcmp(res.card_cert_sha256, hex) == 0);
    /* no PIN, no My Number in the token, its payload or the messages */
    CHECK(!contains(tok, tl, PIN) && !contains(tok, tl, MY_NUMBER));
    CHECK(!contains(payload, pl, PIN) && !contains(payload, pl, MY_NUMBER));
    CHECK(!contains(fm_ctx_errmsg(ctx), strlen(fm_ctx_errmsg(ctx)), MY_NUMBER));

    /* card B (its own simulator and JPKI test CA): card B's key with card A's certificate is refused at signing */
    REQUIRE(fm_card_jpki_verify_auth_pin(b.card, PIN, 0, &tries) == FM_OK);
    CHECK_STATUS(fm_verdict_sign(ctx, key, &in, card_sign, b.card, tok, FM_VERDICT_TOKEN_MAX, &tl), FM_ERR_VERIFY);
    /* card B's own verdict: its certificate does not chain to card A's CA -> chain */
    fill(&in, &b);
    CHECK_STATUS(fm_verdict_sign(ctx, key, &in, card_sign, b.card, tok, FM_VERDICT_TOKEN_MAX, &tl), FM_OK);
    CHECK_STATUS(fm_verdict_verify(ctx, v, tok, tl, NONCE, AUD, 0, &res, NULL, 0, NULL), FM_ERR_VERIFY);
    CHECK(res.failed_check == FM_VCHECK_CHAIN);
    /* with card B's CA configured too it verifies */
    REQUIRE(fm_verdict_verifier_add_ca(ctx, v, b.ca_pem, b.ca_len) == FM_OK);
    CHECK_STATUS(fm_verdict_verify(ctx, v, tok, tl, NONCE, AUD, 0, &res, NULL, 0, NULL), FM_OK);

    free(tok);
    free(payload);
    fm_verdict_verifier_destroy(v);
    fm_verdict_key_destroy(key);
    env_close(&a);
    env_close(&b);
    fm_image_destroy(portrait);
    fm_ctx_destroy(ctx);
}

int main(void)
{
    RUN(test_with_virtual_card);
    return test_finish();
}
