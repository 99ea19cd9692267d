/* facematch keygen: a new verdict signing key (ES256 default, or EdDSA), written 0600. */
#include "cli.h"

#include <string.h>

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL, *pub = NULL, *alg_s = "ES256";
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch keygen --out KEY.pem [--alg ES256|EdDSA] [--pub PUB.pem] [--force]\n"
                   "Creates a verdict signing key: ECDSA P-256 (ES256, default) or Ed25519 (EdDSA), written as an\n"
                   "unencrypted PKCS#8 PEM file with mode 0600. An existing file is never overwritten unless --force\n"
                   "(then a fresh 0600 file replaces it). --pub also writes the public key. Prints the key id (RFC 7638\n"
                   "JWK thumbprint, SHA-256, base64url).\n");
            return FM_EXIT_OK;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--pub") == 0 && i + 1 < argc) {
            pub = argv[++i];
        } else if (strcmp(argv[i], "--alg") == 0 && i + 1 < argc) {
            alg_s = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else {
            return cli_error("keygen", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    if (!out)
        return cli_error("keygen", FM_ERR_INVALID_ARGUMENT, "--out KEY.pem is required");
    fm_jws_alg alg;
    if (strcmp(alg_s, "ES256") == 0)
        alg = FM_JWS_ES256;
    else if (strcmp(alg_s, "EdDSA") == 0)
        alg = FM_JWS_EDDSA;
    else
        return cli_error("keygen", FM_ERR_INVALID_ARGUMENT, "--alg must be ES256 or EdDSA");
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("keygen", FM_ERR_NO_MEMORY, "out of memory");
    fm_verdict_key *key = NULL;
    char kid[44];
    fm_status st = fm_verdict_key_generate(ctx, alg, &key);
    if (st == FM_OK)
        st = fm_verdict_key_write_private(ctx, key, out, force);
    if (st == FM_OK && pub)
        st = fm_verdict_key_write_public(ctx, key, pub, force);
    if (st == FM_OK)
        st = fm_verdict_key_id(ctx, key, kid);
    int rc = FM_EXIT_OK;
    if (st != FM_OK)
        rc = cli_error("keygen", st, "%s", fm_ctx_errmsg(ctx));
    else
        printf("%s key written to %s (mode 0600)\nkid: %s\n", fm_jws_alg_name(alg), out, kid);
    fm_verdict_key_destroy(key);
    fm_ctx_destroy(ctx);
    return rc;
}
