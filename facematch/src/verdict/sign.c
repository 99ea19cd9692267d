/* Verdict stage: building the payload (deterministic JSON) and signing it (JWS compact + card binding). */
#include "verdict_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#define MAX_LIFETIME 3600
#define CARD_SIG_CAP 512

const char *fm_verdict_decision_name(fm_verdict_decision d)
{
    switch (d) {
    case FM_VERDICT_MATCH: return "match";
    case FM_VERDICT_NO_MATCH: return "no_match";
    case FM_VERDICT_SPOOF_SUSPECTED: return "spoof_suspected";
    case FM_VERDICT_INCONCLUSIVE: return "inconclusive";
    }
    return NULL;
}

const char *fm_portrait_auth_name(fm_portrait_auth a)
{
    switch (a) {
    case FM_PORTRAIT_VERIFIED: return "verified";
    case FM_PORTRAIT_UNVERIFIABLE: return "unverifiable";
    case FM_PORTRAIT_INVALID: return "invalid";
    }
    return NULL;
}

void fm_verdict_input_init(fm_verdict_input *in)
{
    if (!in)
        return;
    memset(in, 0, sizeof *in);
    in->distance = in->similarity = in->threshold = in->fmr = NAN;
    for (int i = 0; i < FM_VERDICT_MAX_CHECKS; i++)
        in->checks[i].score = in->checks[i].threshold = NAN;
    for (int i = 0; i < FM_VERDICT_MAX_STEPS; i++)
        in->steps[i].asked_at = in->steps[i].deadline = in->steps[i].met_at = NAN;
    for (int i = 0; i < FM_VERDICT_MAX_FRAMES; i++) {
        fm_verdict_frame *f = &in->frames[i];
        f->t = f->quality = f->face_px = f->sharpness = f->brightness = f->yaw = f->pitch = NAN;
    }
}

int fmv_valid_name(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
        if (n >= FM_VERDICT_MAX_NAME)
            return 0;
    }
    return n > 0;
}

int fmv_valid_aud(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || n >= 256)
            return 0;
    return n > 0;
}

int fmv_valid_nonce(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) || n >= 128)
            return 0;
    }
    return n >= 16;
}

static int valid_hex64(const char *s)
{
    if (!s || strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* finite, or NaN meaning "not reported"; infinities are refused */
static int opt_num(double v) { return isfinite(v) || isnan(v); }

static fm_status validate(fm_ctx *ctx, const fm_verdict_input *in, int with_card)
{
#define BAD(...) return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, __VA_ARGS__)
    if (!fmv_valid_aud(in->aud))
        BAD("verdict input: aud must be 1..256 printable ASCII characters");
    if (!fmv_valid_nonce(in->nonce_hex))
        BAD("verdict input: nonce must be 16..128 hex digits");
    if (in->lifetime < 0 || in->lifetime > MAX_LIFETIME)
        BAD("verdict input: lifetime %lld s outside 0..%d", (long long)in->lifetime, MAX_LIFETIME);
    if (in->iat < 0 || in->iat > ((int64_t)1 << 40))
        BAD("verdict input: iat %lld out of range", (long long)in->iat);
    if (!fm_verdict_decision_name(in->decision))
        BAD("verdict input: unknown decision %d", (int)in->decision);
    if (in->n_reasons < 0 || in->n_reasons > FM_VERDICT_MAX_REASONS)
        BAD("verdict input: n_reasons %d outside 0..%d", in->n_reasons, FM_VERDICT_MAX_REASONS);
    for (int i = 0; i < in->n_reasons; i++)
        if (!fmv_valid_name(in->reasons[i]))
            BAD("verdict input: reasons[%d] must match [a-z0-9_.-]{1,64}", i);
    if (!isfinite(in->distance) || !isfinite(in->threshold))
        BAD("verdict input: distance and threshold must be finite numbers");
    if (!isfinite(in->fmr) || in->fmr < 0 || in->fmr > 1)
        BAD("verdict input: fmr (false-match rate of the operating point) must be in [0, 1]");
    if (!opt_num(in->similarity))
        BAD("verdict input: similarity is infinite");
    if (in->metric && !fmv_valid_name(in->metric))
        BAD("verdict input: metric must match [a-z0-9_.-]{1,64}");
    if (in->n_checks < 0 || in->n_checks > FM_VERDICT_MAX_CHECKS)
        BAD("verdict input: n_checks %d outside 0..%d", in->n_checks, FM_VERDICT_MAX_CHECKS);
    for (int i = 0; i < in->n_checks; i++) {
        const fm_verdict_check *c = &in->checks[i];
        if (!fmv_valid_name(c->name) || !opt_num(c->score) || !opt_num(c->threshold))
            BAD("verdict input: checks[%d]: bad name or infinite number", i);
    }
    if (in->n_steps < 0 || in->n_steps > FM_VERDICT_MAX_STEPS)
        BAD("verdict input: n_steps %d outside 0..%d", in->n_steps, FM_VERDICT_MAX_STEPS);
    for (int i = 0; i < in->n_steps; i++) {
        const fm_verdict_step *s = &in->steps[i];
        if (!fmv_valid_name(s->action) || !opt_num(s->asked_at) || !opt_num(s->deadline) || !opt_num(s->met_at))
            BAD("verdict input: steps[%d]: bad action or infinite time", i);
    }
    if (in->n_frames < 0 || in->n_frames > FM_VERDICT_MAX_FRAMES)
        BAD("verdict input: n_frames %d outside 0..%d", in->n_frames, FM_VERDICT_MAX_FRAMES);
    for (int i = 0; i < in->n_frames; i++) {
        const fm_verdict_frame *f = &in->frames[i];
        if (!opt_num(f->t) || !opt_num(f->quality) || !opt_num(f->face_px) || !opt_num(f->sharpness) ||
            !opt_num(f->brightness) || !opt_num(f->yaw) || !opt_num(f->pitch))
            BAD("verdict input: frames[%d]: infinite number", i);
    }
    if (!fm_portrait_auth_name(in->portrait_auth))
        BAD("verdict input: unknown portrait_auth %d", (int)in->portrait_auth);
    if (in->n_models < 0 || in->n_models > FM_VERDICT_MAX_MODELS)
        BAD("verdict input: n_models %d outside 0..%d", in->n_models, FM_VERDICT_MAX_MODELS);
    for (int i = 0; i < in->n_models; i++)
        if (!fmv_valid_name(in->models[i].name) || !valid_hex64(in->models[i].sha256_hex))
            BAD("verdict input: models[%d]: name [a-z0-9_.-]{1,64} and sha256 (64 lowercase hex) needed", i);
    if (with_card) {
        if (!in->card_cert_der || in->card_cert_len == 0 || in->card_cert_len > 16384)
            BAD("verdict input: a card signer needs the card's certificate (DER, 1..16384 bytes)");
        const unsigned char *p = in->card_cert_der;
        X509 *x = d2i_X509(NULL, &p, (long)in->card_cert_len);
        int whole = x && p == in->card_cert_der + in->card_cert_len;
        X509_free(x);
        if (!whole)
            BAD("verdict input: card_cert_der is not one DER X.509 certificate");
    } else if (in->card_cert_der) {
        BAD("verdict input: a card certificate without a card signer would be unbound; pass the signer");
    }
#undef BAD
    return FM_OK;
}

static void hex_of(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The core payload: every field except the card member. */
static void write_core(fmv_buf *b, const fm_verdict_input *in, const char *jti, const char *nonce, int64_t iat,
                       int64_t exp, const char *kid, const char *cert_hex)
{
    fmv_json j;
    fmv_json_init(&j, b);
    char hex[65];
    fmv_json_obj(&j, NULL);
    fmv_json_int(&j, "v", 1);
    fmv_json_str(&j, "jti", jti);
    fmv_json_str(&j, "aud", in->aud);
    fmv_json_str(&j, "nonce", nonce);
    fmv_json_int(&j, "iat", iat);
    fmv_json_int(&j, "exp", exp);
    fmv_json_str(&j, "decision", fm_verdict_decision_name(in->decision));
    fmv_json_arr(&j, "reasons");
    for (int i = 0; i < in->n_reasons; i++)
        fmv_json_str(&j, NULL, in->reasons[i]);
    fmv_json_arr_end(&j);
    fmv_json_obj(&j, "match");
    fmv_json_num(&j, "distance", in->distance);
    fmv_json_num(&j, "similarity", in->similarity);
    fmv_json_num(&j, "threshold", in->threshold);
    fmv_json_num(&j, "fmr", in->fmr);
    fmv_json_str(&j, "metric", in->metric);
    fmv_json_obj_end(&j);
    fmv_json_obj(&j, "liveness");
    fmv_json_arr(&j, "checks");
    for (int i = 0; i < in->n_checks; i++) {
        const fm_verdict_check *c = &in->checks[i];
        fmv_json_obj(&j, NULL);
        fmv_json_str(&j, "name", c->name);
        fmv_json_num(&j, "score", c->score);
        fmv_json_num(&j, "threshold", c->threshold);
        fmv_json_bool(&j, "pass", c->pass != 0);
        fmv_json_obj_end(&j);
    }
    fmv_json_arr_end(&j);
    fmv_json_arr(&j, "challenge");
    for (int i = 0; i < in->n_steps; i++) {
        const fm_verdict_step *s = &in->steps[i];
        fmv_json_obj(&j, NULL);
        fmv_json_str(&j, "action", s->action);
        fmv_json_num(&j, "asked_at", s->asked_at);
        fmv_json_num(&j, "deadline", s->deadline);
        fmv_json_bool(&j, "met", s->met != 0);
        fmv_json_num(&j, "met_at", s->met ? s->met_at : NAN);
        fmv_json_obj_end(&j);
    }
    fmv_json_arr_end(&j);
    fmv_json_obj_end(&j);
    fmv_json_arr(&j, "quality");
    for (int i = 0; i < in->n_frames; i++) {
        const fm_verdict_frame *f = &in->frames[i];
        fmv_json_obj(&j, NULL);
        fmv_json_num(&j, "t", f->t);
        fmv_json_num(&j, "quality", f->quality);
        fmv_json_num(&j, "face_px", f->face_px);
        fmv_json_num(&j, "sharpness", f->sharpness);
        fmv_json_num(&j, "brightness", f->brightness);
        fmv_json_num(&j, "yaw", f->yaw);
        fmv_json_num(&j, "pitch", f->pitch);
        fmv_json_obj_end(&j);
    }
    fmv_json_arr_end(&j);
    fmv_json_obj(&j, "portrait");
    hex_of(in->portrait_sha256, 32, hex);
    fmv_json_str(&j, "sha256", hex);
    fmv_json_str(&j, "auth", fm_portrait_auth_name(in->portrait_auth));
    fmv_json_obj_end(&j);
    fmv_json_str(&j, "card_cert_sha256", cert_hex);
    fmv_json_obj(&j, "engine");
    fmv_json_str(&j, "name", "facematch");
    fmv_json_str(&j, "version", fm_version());
    fmv_json_arr(&j, "models");
    for (int i = 0; i < in->n_models; i++) {
        fmv_json_obj(&j, NULL);
        fmv_json_str(&j, "name", in->models[i].name);
        fmv_json_str(&j, "sha256", in->models[i].sha256_hex);
        fmv_json_obj_end(&j);
    }
    fmv_json_arr_end(&j);
    fmv_json_obj_end(&j);
    fmv_json_str(&j, "kid", kid);
    fmv_json_obj_end(&j);
}

/* Appends BASE64URL(bytes) to b. */
static void put_b64(fmv_buf *b, const uint8_t *d, size_t n)
{
    size_t el = fmv_b64url_len(n);
    char *tmp = malloc(el + 1);
    if (!tmp) {
        b->failed = 1;
        return;
    }
    fmv_b64url_encode(d, n, tmp);
    fmv_put(b, tmp, el);
    free(tmp);
}

fm_status fmv_sign(fm_ctx *ctx, const fm_verdict_key *key, const fm_verdict_input *in, fm_card_sign_fn card_sign,
                   void *card_user, int check_card_sig, char *token, size_t cap, size_t *token_len)
{
    if (!key || !in || !token_len)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "key/input/token_len is NULL");
    if (!key->is_private || (key->alg != FM_JWS_ES256 && key->alg != FM_JWS_EDDSA))
        return fm_fail(ctx, FM_ERR_KEY, "signing needs an ES256 (P-256) or EdDSA (Ed25519) private key");
    fm_status s = validate(ctx, in, card_sign != NULL);
    if (s != FM_OK)
        return s;

    char kid[44];
    if ((s = fmv_thumbprint(ctx, key, kid)) != FM_OK)
        return s;
    uint8_t rnd[16];
    if (RAND_bytes(rnd, sizeof rnd) != 1)
        return fm_fail(ctx, FM_ERR_CRYPTO, "no randomness for the verdict id");
    char jti[33];
    hex_of(rnd, 16, jti);
    char nonce[129];
    size_t nl = strlen(in->nonce_hex);
    for (size_t i = 0; i <= nl; i++)
        nonce[i] = (in->nonce_hex[i] >= 'A' && in->nonce_hex[i] <= 'F') ? (char)(in->nonce_hex[i] + 32)
                                                                         : in->nonce_hex[i];
    int64_t iat = in->iat ? in->iat : (int64_t)time(NULL);
    int64_t exp = iat + (in->lifetime ? in->lifetime : FM_VERDICT_DEFAULT_LIFETIME);
    char cert_hex[65];
    if (card_sign)
        fm_sha256(in->card_cert_der, in->card_cert_len, NULL, cert_hex);

    /* protected header: fixed member order */
    fmv_buf hdr, core, payload, si, out;
    fmv_buf_init(&hdr, 0);
    fmv_buf_init(&core, 0);
    fmv_buf_init(&payload, 0);
    fmv_buf_init(&si, 0);
    fmv_buf_init(&out, 0);
    fmv_json hj;
    fmv_json_init(&hj, &hdr);
    fmv_json_obj(&hj, NULL);
    fmv_json_str(&hj, "alg", fm_jws_alg_name(key->alg));
    fmv_json_str(&hj, "typ", "fm-verdict+jwt");
    fmv_json_str(&hj, "kid", kid);
    fmv_json_obj_end(&hj);

    write_core(&core, in, jti, nonce, iat, exp, kid, card_sign ? cert_hex : NULL);
    if (hdr.failed || core.failed) {
        s = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory building the verdict");
        goto done;
    }
    uint8_t sig[64];
    if (card_sign) {
        /* card binding: the card signs SHA-256(BASE64URL(header) '.' BASE64URL(core payload)) */
        fmv_buf csi;
        fmv_buf_init(&csi, 0);
        put_b64(&csi, (const uint8_t *)hdr.p, hdr.len);
        fmv_put(&csi, ".", 1);
        put_b64(&csi, (const uint8_t *)core.p, core.len);
        if (csi.failed) {
            fmv_buf_free(&csi);
            s = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory building the verdict");
            goto done;
        }
        uint8_t digest[32];
        fm_sha256(csi.p, csi.len, digest, NULL);
        fmv_buf_free(&csi);
        uint8_t csig[CARD_SIG_CAP];
        size_t csl = 0;
        fm_status cs = card_sign(card_user, digest, csig, sizeof csig, &csl);
        if (cs != FM_OK) {
            s = fm_fail(ctx, cs, "the card did not sign the verdict (%s)", fm_status_name(cs));
            goto done;
        }
        if (csl == 0 || csl > sizeof csig) {
            s = fm_fail(ctx, FM_ERR_CARD_RESPONSE, "the card signer returned %zu bytes", csl);
            goto done;
        }
        if (check_card_sig) {
            const unsigned char *p = in->card_cert_der;
            X509 *x = d2i_X509(NULL, &p, (long)in->card_cert_len);
            EVP_PKEY *pub = x ? X509_get0_pubkey(x) : NULL;
            int ok = pub && fmv_card_verify(pub, digest, csig, csl);
            X509_free(x);
            if (!ok) {
                s = fm_fail(ctx, FM_ERR_VERIFY,
                            "the card's signature does not verify with the card certificate given (wrong card?)");
                goto done;
            }
        }
        /* final payload = core without its closing '}' + ,"card":{...}} */
        fmv_put(&payload, core.p, core.len - 1);
        fmv_puts(&payload, ",\"card\":{\"alg\":\"RS256\",\"cert\":\"");
        put_b64(&payload, in->card_cert_der, in->card_cert_len);
        fmv_puts(&payload, "\",\"sig\":\"");
        put_b64(&payload, csig, csl);
        fmv_puts(&payload, "\"}}");
    } else {
        fmv_put(&payload, core.p, core.len);
    }
    put_b64(&si, (const uint8_t *)hdr.p, hdr.len);
    fmv_put(&si, ".", 1);
    put_b64(&si, (const uint8_t *)payload.p, payload.len);
    if (payload.failed || si.failed) {
        s = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory building the verdict");
        goto done;
    }
    if ((s = fmv_jws_sign(ctx, key, (const uint8_t *)si.p, si.len, sig)) != FM_OK)
        goto done;
    fmv_put(&out, si.p, si.len);
    fmv_put(&out, ".", 1);
    put_b64(&out, sig, 64);
    if (out.failed) {
        s = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory building the verdict");
        goto done;
    }
    *token_len = out.len;
    if (!token || cap < out.len + 1) {
        s = fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "the verdict needs %zu bytes", out.len + 1);
        goto done;
    }
    memcpy(token, out.p, out.len + 1);
    s = FM_OK;
done:
    fmv_buf_free(&hdr);
    fmv_buf_free(&core);
    fmv_buf_free(&payload);
    fmv_buf_free(&si);
    fmv_buf_free(&out);
    return s;
}

fm_status fm_verdict_sign(fm_ctx *ctx, const fm_verdict_key *key, const fm_verdict_input *in,
                          fm_card_sign_fn card_sign, void *card_user, char *token, size_t cap, size_t *token_len)
{
    return fmv_sign(ctx, key, in, card_sign, card_user, 1, token, cap, token_len);
}

/* ---- developer input: JSON description -> fm_verdict_input ----------------------------------------------------- */

static int only_keys(const fmj_doc *d, const fmj_node *obj, const char *const *allowed, char *bad, size_t badcap)
{
    for (int c = obj->first_child; c >= 0; c = d->nodes[c].next) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(d->nodes[c].key, *a) == 0)
                ok = 1;
        if (!ok) {
            snprintf(bad, badcap, "%s", d->nodes[c].key);
            return 0;
        }
    }
    return 1;
}

static int get_num(const fmj_doc *d, const fmj_node *obj, const char *k, double *out)
{
    const fmj_node *n = fmj_get(d, obj, k);
    if (!n)
        return 1; /* absent: keep the "not reported" default */
    if (n->type == FMJ_NULL) {
        *out = NAN;
        return 1;
    }
    if (n->type != FMJ_NUM)
        return 0;
    *out = n->num;
    return 1;
}

static int get_bool(const fmj_doc *d, const fmj_node *obj, const char *k, int *out)
{
    const fmj_node *n = fmj_get(d, obj, k);
    if (!n)
        return 1;
    if (n->type != FMJ_TRUE && n->type != FMJ_FALSE)
        return 0;
    *out = n->type == FMJ_TRUE;
    return 1;
}

static const char *get_str(const fmj_doc *d, const fmj_node *obj, const char *k)
{
    const fmj_node *n = fmj_get(d, obj, k);
    return n && n->type == FMJ_STR ? n->str : NULL;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

fm_status fm_verdict_sign_json(fm_ctx *ctx, const fm_verdict_key *key, const char *json, size_t json_len,
                               const uint8_t *card_cert_der, size_t card_cert_len, fm_card_sign_fn card_sign,
                               void *card_user, char *token, size_t cap, size_t *token_len)
{
    if (!json)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "json is NULL");
    fmj_doc d;
    char err[160];
    if (fmj_parse(json, json_len, FMJ_MAX_DEPTH, FMJ_MAX_NODES, &d, err, sizeof err))
        return fm_fail(ctx, FM_ERR_CORRUPT, "verdict input: %s", err);
    fm_verdict_input in;
    fm_verdict_input_init(&in);
    fm_status s = FM_OK;
    uint8_t *der = NULL; /* PEM card certificate converted to DER */
    char bad[80] = "";
    const fmj_node *root = fmj_root(&d);
#define FAIL(...)                                                                                                    \
    do {                                                                                                             \
        s = fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, __VA_ARGS__);                                                      \
        goto out;                                                                                                    \
    } while (0)
    static const char *const top[] = {"aud",      "nonce",    "iat",     "lifetime", "decision", "reasons",
                                      "match",    "liveness", "quality", "portrait", "models",   NULL};
    if (root->type != FMJ_OBJ)
        FAIL("verdict input: a JSON object is expected");
    if (!only_keys(&d, root, top, bad, sizeof bad))
        FAIL("verdict input: unknown key \"%s\"", bad);
    in.aud = get_str(&d, root, "aud");
    in.nonce_hex = get_str(&d, root, "nonce");
    const fmj_node *n;
    if ((n = fmj_get(&d, root, "iat")) && (n->type != FMJ_NUM || !n->is_int))
        FAIL("verdict input: iat must be an integer");
    in.iat = n ? n->ival : 0;
    if ((n = fmj_get(&d, root, "lifetime")) && (n->type != FMJ_NUM || !n->is_int))
        FAIL("verdict input: lifetime must be an integer");
    in.lifetime = n ? n->ival : 0;
    const char *dec = get_str(&d, root, "decision");
    in.decision = 0;
    for (int k = 1; k <= 4 && dec; k++)
        if (strcmp(dec, fm_verdict_decision_name((fm_verdict_decision)k)) == 0)
            in.decision = (fm_verdict_decision)k;
    if ((n = fmj_get(&d, root, "reasons"))) {
        if (n->type != FMJ_ARR || n->n_children > FM_VERDICT_MAX_REASONS)
            FAIL("verdict input: reasons must be an array of at most %d strings", FM_VERDICT_MAX_REASONS);
        for (int i = 0; i < n->n_children; i++) {
            const fmj_node *r = fmj_child(&d, n, i);
            if (r->type != FMJ_STR)
                FAIL("verdict input: reasons[%d] is not a string", i);
            in.reasons[in.n_reasons++] = r->str;
        }
    }
    const fmj_node *m = fmj_get(&d, root, "match");
    static const char *const mk[] = {"distance", "similarity", "threshold", "fmr", "metric", NULL};
    if (!m || m->type != FMJ_OBJ || !only_keys(&d, m, mk, bad, sizeof bad))
        FAIL("verdict input: match must be an object with %s", "distance, similarity, threshold, fmr, metric");
    if (!get_num(&d, m, "distance", &in.distance) || !get_num(&d, m, "similarity", &in.similarity) ||
        !get_num(&d, m, "threshold", &in.threshold) || !get_num(&d, m, "fmr", &in.fmr))
        FAIL("verdict input: match values must be numbers");
    in.metric = get_str(&d, m, "metric");
    const fmj_node *lv = fmj_get(&d, root, "liveness");
    if (lv) {
        static const char *const lk[] = {"checks", "challenge", NULL};
        if (lv->type != FMJ_OBJ || !only_keys(&d, lv, lk, bad, sizeof bad))
            FAIL("verdict input: liveness must be an object with checks and challenge");
        const fmj_node *ch = fmj_get(&d, lv, "checks");
        if (ch) {
            if (ch->type != FMJ_ARR || ch->n_children > FM_VERDICT_MAX_CHECKS)
                FAIL("verdict input: liveness.checks must be an array of at most %d", FM_VERDICT_MAX_CHECKS);
            static const char *const ck[] = {"name", "score", "threshold", "pass", NULL};
            for (int i = 0; i < ch->n_children; i++) {
                const fmj_node *c = fmj_child(&d, ch, i);
                fm_verdict_check *o = &in.checks[in.n_checks++];
                if (c->type != FMJ_OBJ || !only_keys(&d, c, ck, bad, sizeof bad) || !get_num(&d, c, "score", &o->score) ||
                    !get_num(&d, c, "threshold", &o->threshold) || !get_bool(&d, c, "pass", &o->pass))
                    FAIL("verdict input: liveness.checks[%d] malformed", i);
                o->name = get_str(&d, c, "name");
            }
        }
        const fmj_node *st = fmj_get(&d, lv, "challenge");
        if (st) {
            if (st->type != FMJ_ARR || st->n_children > FM_VERDICT_MAX_STEPS)
                FAIL("verdict input: liveness.challenge must be an array of at most %d", FM_VERDICT_MAX_STEPS);
            static const char *const sk[] = {"action", "asked_at", "deadline", "met", "met_at", NULL};
            for (int i = 0; i < st->n_children; i++) {
                const fmj_node *c = fmj_child(&d, st, i);
                fm_verdict_step *o = &in.steps[in.n_steps++];
                if (c->type != FMJ_OBJ || !only_keys(&d, c, sk, bad, sizeof bad) ||
                    !get_num(&d, c, "asked_at", &o->asked_at) || !get_num(&d, c, "deadline", &o->deadline) ||
                    !get_num(&d, c, "met_at", &o->met_at) || !get_bool(&d, c, "met", &o->met))
                    FAIL("verdict input: liveness.challenge[%d] malformed", i);
                o->action = get_str(&d, c, "action");
            }
        }
    }
    const fmj_node *q = fmj_get(&d, root, "quality");
    if (q) {
        if (q->type != FMJ_ARR || q->n_children > FM_VERDICT_MAX_FRAMES)
            FAIL("verdict input: quality must be an array of at most %d", FM_VERDICT_MAX_FRAMES);
        static const char *const fk[] = {"t", "quality", "face_px", "sharpness", "brightness", "yaw", "pitch", NULL};
        for (int i = 0; i < q->n_children; i++) {
            const fmj_node *c = fmj_child(&d, q, i);
            fm_verdict_frame *o = &in.frames[in.n_frames++];
            if (c->type != FMJ_OBJ || !only_keys(&d, c, fk, bad, sizeof bad) || !get_num(&d, c, "t", &o->t) ||
                !get_num(&d, c, "quality", &o->quality) || !get_num(&d, c, "face_px", &o->face_px) ||
                !get_num(&d, c, "sharpness", &o->sharpness) || !get_num(&d, c, "brightness", &o->brightness) ||
                !get_num(&d, c, "yaw", &o->yaw) || !get_num(&d, c, "pitch", &o->pitch))
                FAIL("verdict input: quality[%d] malformed", i);
        }
    }
    const fmj_node *pt = fmj_get(&d, root, "portrait");
    static const char *const pk[] = {"sha256", "auth", NULL};
    if (!pt || pt->type != FMJ_OBJ || !only_keys(&d, pt, pk, bad, sizeof bad))
        FAIL("verdict input: portrait must be an object with sha256 and auth");
    const char *ph = get_str(&d, pt, "sha256");
    if (!ph || strlen(ph) != 64)
        FAIL("verdict input: portrait.sha256 must be 64 hex digits");
    for (int i = 0; i < 32; i++) {
        int hi = hexval(ph[2 * i]), lo = hexval(ph[2 * i + 1]);
        if (hi < 0 || lo < 0)
            FAIL("verdict input: portrait.sha256 must be 64 hex digits");
        in.portrait_sha256[i] = (uint8_t)(hi << 4 | lo);
    }
    const char *pa = get_str(&d, pt, "auth");
    in.portrait_auth = 0;
    for (int k = 1; k <= 3 && pa; k++)
        if (strcmp(pa, fm_portrait_auth_name((fm_portrait_auth)k)) == 0)
            in.portrait_auth = (fm_portrait_auth)k;
    const fmj_node *md = fmj_get(&d, root, "models");
    if (md) {
        if (md->type != FMJ_ARR || md->n_children > FM_VERDICT_MAX_MODELS)
            FAIL("verdict input: models must be an array of at most %d", FM_VERDICT_MAX_MODELS);
        static const char *const mdk[] = {"name", "sha256", NULL};
        for (int i = 0; i < md->n_children; i++) {
            const fmj_node *c = fmj_child(&d, md, i);
            if (c->type != FMJ_OBJ || !only_keys(&d, c, mdk, bad, sizeof bad))
                FAIL("verdict input: models[%d] malformed", i);
            in.models[in.n_models].name = get_str(&d, c, "name");
            in.models[in.n_models].sha256_hex = get_str(&d, c, "sha256");
            in.n_models++;
        }
    }
#undef FAIL
    if (card_cert_der && card_cert_len > 10 && memcmp(card_cert_der, "-----BEGIN", 10) == 0 &&
        card_cert_len < 65536) {
        /* PEM certificate: convert to DER */
        BIO *bio = BIO_new_mem_buf(card_cert_der, (int)card_cert_len);
        X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        int dl = x ? i2d_X509(x, &der) : -1;
        X509_free(x);
        ERR_clear_error();
        if (dl <= 0) {
            s = fm_fail(ctx, FM_ERR_FORMAT, "card certificate: PEM without a readable certificate");
            goto out;
        }
        card_cert_der = der;
        card_cert_len = (size_t)dl;
    }
    in.card_cert_der = card_cert_der;
    in.card_cert_len = card_cert_len;
    s = fm_verdict_sign(ctx, key, &in, card_sign, card_user, token, cap, token_len);
out:
    OPENSSL_free(der);
    fmj_free(&d);
    return s;
}
