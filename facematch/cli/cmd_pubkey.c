/* facematch pubkey: export the public key (and key id) of a verdict signing key. */
#include "cli.h"

#include <string.h>

int cmd_pubkey(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int force = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch pubkey KEY.pem [--out PUB.pem] [--force]\n"
                   "Writes the public key of KEY.pem (PEM SubjectPublicKeyInfo) to PUB.pem, or to stdout without --out,\n"
                   "and prints the key id (RFC 7638 thumbprint) on stderr. Warns when KEY.pem is readable by others.\n");
            return FM_EXIT_OK;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (argv[i][0] != '-' && !in) {
            in = argv[i];
        } else {
            return cli_error("pubkey", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    if (!in)
        return cli_error("pubkey", FM_ERR_INVALID_ARGUMENT, "KEY.pem is required");
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("pubkey", FM_ERR_NO_MEMORY, "out of memory");
    fm_verdict_key *key = NULL;
    unsigned flags = 0;
    char kid[44];
    fm_status st = fm_verdict_key_load_file(ctx, in, &key, &flags);
    if (st == FM_OK && (flags & FM_KEYFILE_INSECURE_PERMS))
        fprintf(stderr, "facematch pubkey: warning: %s is accessible by group/others; chmod 600 it\n", in);
    if (st == FM_OK)
        st = fm_verdict_key_id(ctx, key, kid);
    if (st == FM_OK) {
        if (out) {
            st = fm_verdict_key_write_public(ctx, key, out, force);
        } else {
            char pem[1024];
            size_t len;
            st = fm_verdict_key_public_pem(ctx, key, pem, sizeof pem, &len);
            if (st == FM_OK)
                fputs(pem, stdout);
        }
    }
    int rc = FM_EXIT_OK;
    if (st != FM_OK)
        rc = cli_error("pubkey", st, "%s", fm_ctx_errmsg(ctx));
    else
        fprintf(out ? stdout : stderr, "kid: %s\n", kid);
    fm_verdict_key_destroy(key);
    fm_ctx_destroy(ctx);
    return rc;
}
