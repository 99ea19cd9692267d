/* facematch verdict check | sign: verify a signed verdict; sign one from a JSON description (developer tool). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_FILE_MAX (FM_VERDICT_TOKEN_MAX + 2)

/* Reads a whole (small) file or stdin ("-"); NUL-terminated; NULL on error (message printed). */
static char *slurp(const char *cmd, const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_error(cmd, FM_ERR_IO, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(max + 1);
    size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
    int err = ferror(f);
    if (f != stdin)
        fclose(f);
    if (!buf || err || n > max) {
        cli_error(cmd, buf && !err ? FM_ERR_LIMIT : FM_ERR_IO, "%s: %s", path,
                  !buf ? "out of memory" : err ? "read error" : "file too large");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static fm_verdict_key *load_key(const char *cmd, fm_ctx *ctx, const char *path)
{
    fm_verdict_key *k = NULL;
    unsigned flags = 0;
    if (fm_verdict_key_load_file(ctx, path, &k, &flags) != FM_OK) {
        fprintf(stderr, "facematch %s: %s\n", cmd, fm_ctx_errmsg(ctx));
        return NULL;
    }
    if (flags & FM_KEYFILE_INSECURE_PERMS)
        fprintf(stderr, "facematch %s: warning: private key %s is accessible by group/others; chmod 600 it\n", cmd,
                path);
    return k;
}

static int verdict_check(int argc, char **argv)
{
    const char *pub = NULL, *nonce = NULL, *aud = NULL, *file = NULL;
    const char *cas[16];
    int n_ca = 0, json = 0, allow_no_card = 0;
    long long now = 0, skew = -1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch verdict check --pub PUB.pem --nonce HEX --aud ID [--ca CA.pem]... VERDICT.jws\n"
                   "                              [--json] [--now UNIX] [--skew SECONDS] [--allow-no-card]\n"
                   "Verifies a signed verdict (docs/verdict-format.md): algorithm allow-list (the key's ES256 or\n"
                   "EdDSA only), signature and kid, nonce, audience, expiry (clock skew default 30 s), the card's\n"
                   "signature with its embedded certificate and, with --ca, that certificate's chain. Without --ca the\n"
                   "chain is NOT checked (a warning says so; JSON \"chain_checked\":false). VERDICT.jws may be '-'.\n"
                   "--json prints {\"valid\":bool,\"failed_check\":null|\"malformed|alg|signature|nonce|aud|expired|\n"
                   "card_signature|chain\",\"detail\":...,\"chain_checked\":bool,\"payload\":{...}|null}; the payload of\n"
                   "a rejected token is shown for diagnosis only. Exit 0 only when valid, 1 when invalid.\n");
            return FM_EXIT_OK;
        } else if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc) {
            pub = argv[++i];
        } else if (strcmp(argv[i], "--nonce") == 0 && i + 1 < argc) {
            nonce = argv[++i];
        } else if (strcmp(argv[i], "--aud") == 0 && i + 1 < argc) {
            aud = argv[++i];
        } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            if (n_ca == 16)
                return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "at most 16 --ca files");
            cas[n_ca++] = argv[++i];
        } else if (strcmp(argv[i], "--now") == 0 && i + 1 < argc) {
            now = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--skew") == 0 && i + 1 < argc) {
            skew = strtoll(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--allow-no-card") == 0) {
            allow_no_card = 1;
        } else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !file) {
            file = argv[i];
        } else {
            return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    if (!pub || !nonce || !aud || !file)
        return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "--pub, --nonce, --aud and VERDICT.jws are required");
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("verdict", FM_ERR_NO_MEMORY, "out of memory");
    int rc = FM_EXIT_INTERNAL;
    fm_verdict_key *key = NULL;
    fm_verdict_verifier *v = NULL;
    char *tok = NULL, *payload = NULL;
    fm_status st = fm_verdict_key_load_file(ctx, pub, &key, NULL);
    if (st == FM_OK)
        st = fm_verdict_verifier_create(ctx, key, &v);
    for (int i = 0; st == FM_OK && i < n_ca; i++)
        st = fm_verdict_verifier_add_ca_file(ctx, v, cas[i]);
    if (st == FM_OK && skew >= 0)
        st = fm_verdict_verifier_set(ctx, v, FM_VSET_CLOCK_SKEW, skew);
    if (st == FM_OK && allow_no_card)
        st = fm_verdict_verifier_set(ctx, v, FM_VSET_REQUIRE_CARD, 0);
    if (st == FM_OK && n_ca == 0) {
        st = fm_verdict_verifier_set(ctx, v, FM_VSET_CHECK_CHAIN, 0);
        fprintf(stderr, "facematch verdict: warning: no --ca given: the card certificate's chain is NOT checked\n");
    }
    if (st != FM_OK) {
        rc = cli_error("verdict", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    size_t len = 0;
    tok = slurp("verdict", file, TOKEN_FILE_MAX, &len);
    if (!tok) {
        rc = FM_EXIT_INPUT;
        goto done;
    }
    while (len > 0 && (tok[len - 1] == '\n' || tok[len - 1] == '\r')) /* one trailing newline from files */
        tok[--len] = '\0';
    payload = malloc(FM_VERDICT_TOKEN_MAX);
    if (!payload) {
        rc = cli_error("verdict", FM_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    fm_verdict_result res;
    size_t pl = 0;
    st = fm_verdict_verify(ctx, v, tok, len, nonce, aud, (int64_t)now, &res, payload, FM_VERDICT_TOKEN_MAX, &pl);
    if (st != FM_OK && st != FM_ERR_VERIFY) {
        rc = cli_error("verdict", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    if (json) {
        /* the payload is inserted verbatim: the library returns it only when it parsed as a JSON object */
        printf("{\"valid\":%s,\"failed_check\":", res.valid ? "true" : "false");
        if (res.valid)
            printf("null");
        else
            printf("\"%s\"", fm_vcheck_name(res.failed_check));
        cli_json j;
        json_begin(&j, stdout);
        j.need_comma[0] = 1;
        json_str(&j, "detail", res.detail);
        json_bool(&j, "chain_checked", res.chain_checked);
        printf(",\"payload\":%s}\n", pl ? payload : "null");
    } else if (res.valid) {
        printf("valid: %s verdict %s, decision %s, card %s\n", fm_jws_alg_name(res.alg), res.jti,
               fm_verdict_decision_name(res.decision), res.card_cert_sha256[0] ? res.card_cert_sha256 : "(none)");
    } else {
        printf("INVALID (%s): %s\n", fm_vcheck_name(res.failed_check), res.detail);
    }
    rc = res.valid ? FM_EXIT_OK : FM_EXIT_FAIL;
done:
    free(tok);
    free(payload);
    fm_verdict_verifier_destroy(v);
    fm_verdict_key_destroy(key);
    fm_ctx_destroy(ctx);
    return rc;
}

static int verdict_sign(int argc, char **argv)
{
    const char *keyp = NULL, *in = NULL, *out = NULL, *card_key = NULL, *card_cert = NULL;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch verdict sign --key KEY.pem --in INPUT.json [--card-key CARD_KEY.pem\n"
                   "                             --card-cert CARD_CERT.pem|.der] [--out VERDICT.jws]\n"
                   "DEVELOPER TOOL: signs a verdict from a JSON description of its fields (aud, nonce, iat, lifetime,\n"
                   "decision, reasons, match, liveness, quality, portrait, models; see docs/verdict-format.md) instead\n"
                   "of from a live session, with --card-key standing in for the card's JPKI authentication key (an RSA\n"
                   "key in a file). It is for tests and for exercising a verdict consumer; a real verdict comes from a\n"
                   "session on a real card, where the key never leaves the chip.\n");
            return FM_EXIT_OK;
        } else if (strcmp(argv[i], "--key") == 0 && i + 1 < argc) {
            keyp = argv[++i];
        } else if (strcmp(argv[i], "--in") == 0 && i + 1 < argc) {
            in = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--card-key") == 0 && i + 1 < argc) {
            card_key = argv[++i];
        } else if (strcmp(argv[i], "--card-cert") == 0 && i + 1 < argc) {
            card_cert = argv[++i];
        } else {
            return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    if (!keyp || !in)
        return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "--key and --in are required");
    if (!card_key != !card_cert)
        return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "--card-key and --card-cert go together");
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("verdict", FM_ERR_NO_MEMORY, "out of memory");
    int rc = FM_EXIT_INPUT;
    fm_verdict_key *key = NULL, *ck = NULL;
    char *json = NULL, *cert = NULL, *tok = NULL;
    size_t jl = 0, cl = 0, tl = 0;
    key = load_key("verdict", ctx, keyp);
    if (!key)
        goto done;
    if (card_key && !(ck = load_key("verdict", ctx, card_key)))
        goto done;
    if (!(json = slurp("verdict", in, 65536, &jl)))
        goto done;
    if (card_cert && !(cert = slurp("verdict", card_cert, 65536, &cl)))
        goto done;
    tok = malloc(FM_VERDICT_TOKEN_MAX);
    if (!tok) {
        rc = cli_error("verdict", FM_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    fm_status st = fm_verdict_sign_json(ctx, key, json, jl, (const uint8_t *)cert, cl,
                                        ck ? fm_verdict_key_card_sign : NULL, ck, tok, FM_VERDICT_TOKEN_MAX, &tl);
    if (st != FM_OK) {
        rc = cli_error("verdict", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fprintf(f, "%s\n", tok) < 0 || fclose(f) != 0) {
            rc = cli_error("verdict", FM_ERR_IO, "cannot write %s: %s", out, strerror(errno));
            goto done;
        }
    } else {
        printf("%s\n", tok);
    }
    rc = FM_EXIT_OK;
done:
    free(json);
    free(cert);
    free(tok);
    fm_verdict_key_destroy(ck);
    fm_verdict_key_destroy(key);
    fm_ctx_destroy(ctx);
    return rc;
}

int cmd_verdict(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        printf("usage: facematch verdict check ...   verify a signed verdict (see: facematch verdict check --help)\n"
               "       facematch verdict sign ...    DEVELOPER TOOL: sign a verdict from a JSON file (--help)\n");
        return argc < 2 ? FM_EXIT_USAGE : FM_EXIT_OK;
    }
    if (strcmp(argv[1], "check") == 0)
        return verdict_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "sign") == 0)
        return verdict_sign(argc - 1, argv + 1);
    return cli_error("verdict", FM_ERR_INVALID_ARGUMENT, "unknown subcommand '%s' (check or sign)", argv[1]);
}
