/* facematch card: read the portrait from a My Number card, show PIN tries, sign with the JPKI auth key, and run
 * the virtual card as a vpcd client. PINs and the My Number are never printed. */
#include "cli.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef FM_HAVE_CARDSIM
#include "fmcardsim.h"
#endif

static void usage_card(FILE *f)
{
    fprintf(f,
            "usage: facematch card <read|tries|sign|sim> [options]   (facematch card <sub> --help)\n"
            "  read   read the portrait and card-face data through the visual AP (PIN B or PIN A)\n"
            "  tries  remaining tries of every PIN (spends nothing)\n"
            "  sign   sign a file's SHA-256 with the JPKI authentication key (auth PIN)\n"
            "  sim    run the virtual My Number card as a vsmartcard vpcd client\n");
}

static void usage_read(FILE *f)
{
    fprintf(f,
            "usage: facematch card read [--reader NAME] [--timeout MS]\n"
            "         (--pin-b DIGITS|- | --birth YYYYMMDD --expiry-year YYYY --code NNNN | --pin-a -)\n"
            "         [--ca CA.pem [--ca-keyid HEX32]]... [--out PORTRAIT.jp2] [--presence] [--allow-last-try] [--json]\n"
            "Reads EF 0002 of the visual AP through PC/SC, checks its authenticity and prints (or with --json emits)\n"
            "{\"portrait_sha256\",\"portrait_bytes\",\"width\",\"height\",\"birth_date\",\"sex\",\"expiry\",\n"
            " \"authenticity\":\"verified|unverifiable|invalid\",\"authenticity_detail\",\"presence\"?}.\n"
            "portrait_sha256 is the SHA-256 of the JP2 file bytes (DF27's value). PIN B is 14 digits (era birth date\n"
            "YYMMDD, expiry year, security code) or is built from --birth/--expiry-year/--code. '-' reads the PIN from\n"
            "the first line of stdin (keeps it out of the process list); PIN A (the My Number) is only read that way.\n"
            "--ca adds a trusted CA public key / certificate (PEM or DER); without one the result is never\n"
            "'verified'. When only one PIN try is left nothing is sent unless --allow-last-try is given.\n"
            "Exit: 0 read (verified or unverifiable), 1 authenticity invalid or presence failed, 5 card/PIN problem.\n");
}

static void usage_tries(FILE *f)
{
    fprintf(f, "usage: facematch card tries [--reader NAME] [--timeout MS] [--json]\n"
               "Remaining tries of the auth, sign, visual A/B, text and resident PINs (VERIFY without data: no try\n"
               "is spent). 0 means locked.\n");
}

static void usage_sign(FILE *f)
{
    fprintf(f, "usage: facematch card sign [--reader NAME] [--timeout MS] --auth-pin DIGITS|- --in FILE --out SIG\n"
               "         [--cert-out CERT.der] [--allow-last-try] [--json]\n"
               "Verifies the 4-digit user-authentication PIN ('-' reads it from stdin), signs SHA-256(FILE) with the JPKI\n"
               "authentication key (RSA PKCS#1 v1.5, 256 bytes) and writes the signature (and the certificate).\n");
}

static void usage_sim(FILE *f)
{
    fprintf(f, "usage: facematch card sim --holder HOLDER.json [--vpcd 127.0.0.1:35963] [--export-ca DIR] [--once]\n"
               "Personalises a virtual My Number card from HOLDER.json (see samples/holder-example.json: portrait,\n"
               "birth_date, sex, expiry, security_code, auth_pin, sign_pin, my_number...) with fresh keys and test CAs,\n"
               "then connects to vpcd (pcscd's virtual reader) and answers APDUs until SIGINT/SIGTERM (--once: until vpcd\n"
               "closes the link). --export-ca DIR writes jlis-ca.pem (trust it with card read --ca), jlis-ca.keyid,\n"
               "jpki-ca.pem, auth-cert.pem and admin-key.hex. TEST ONLY: not a real card.\n");
}

/* Reads one line from stdin into buf (no newline). */
static int read_secret_line(char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, stdin))
        return 0;
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 1;
}

typedef struct {
    const char *reader;
    int timeout_ms;
} conn_opts;

static int open_card(const char *cmd, fm_ctx *ctx, const conn_opts *o, fm_pcsc **pc, fm_card **card)
{
    fm_status st = fm_pcsc_open(ctx, o->reader, o->timeout_ms, pc);
    if (st)
        return cli_error(cmd, st, "%s", fm_ctx_errmsg(ctx));
    st = fm_card_create(ctx, fm_pcsc_transmit, *pc, card);
    if (st) {
        fm_pcsc_close(*pc);
        return cli_error(cmd, st, "%s", fm_ctx_errmsg(ctx));
    }
    return FM_EXIT_OK;
}

static int parse_conn(int *i, int argc, char **argv, conn_opts *o)
{
    if (strcmp(argv[*i], "--reader") == 0 && *i + 1 < argc) {
        o->reader = argv[++*i];
        return 1;
    }
    if (strcmp(argv[*i], "--timeout") == 0 && *i + 1 < argc) {
        o->timeout_ms = atoi(argv[++*i]);
        return 1;
    }
    return 0;
}

static int hexbytes(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1)
            return 0;
        out[i] = (uint8_t)v;
    }
    return 1;
}

static int card_read(int argc, char **argv)
{
    conn_opts co = {NULL, 3000};
    const char *pin_b = NULL, *birth = NULL, *year = NULL, *code = NULL, *out = NULL;
    const char *ca[8];
    const char *ca_id[8];
    int nca = 0, json = 0, presence = 0, pin_a = 0;
    unsigned flags = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage_read(stdout);
            return FM_EXIT_OK;
        } else if (parse_conn(&i, argc, argv, &co)) {
        } else if (!strcmp(argv[i], "--pin-b") && i + 1 < argc) {
            pin_b = argv[++i];
        } else if (!strcmp(argv[i], "--pin-a") && i + 1 < argc) {
            if (strcmp(argv[++i], "-") != 0)
                return cli_error("card read", FM_ERR_INVALID_ARGUMENT, "--pin-a only reads from stdin ('-')");
            pin_a = 1;
        } else if (!strcmp(argv[i], "--birth") && i + 1 < argc) {
            birth = argv[++i];
        } else if (!strcmp(argv[i], "--expiry-year") && i + 1 < argc) {
            year = argv[++i];
        } else if (!strcmp(argv[i], "--code") && i + 1 < argc) {
            code = argv[++i];
        } else if (!strcmp(argv[i], "--ca") && i + 1 < argc) {
            if (nca == 8)
                return cli_error("card read", FM_ERR_INVALID_ARGUMENT, "at most 8 --ca");
            ca_id[nca] = NULL;
            ca[nca++] = argv[++i];
        } else if (!strcmp(argv[i], "--ca-keyid") && i + 1 < argc && nca > 0) {
            ca_id[nca - 1] = argv[++i];
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else if (!strcmp(argv[i], "--presence")) {
            presence = 1;
        } else if (!strcmp(argv[i], "--allow-last-try")) {
            flags |= FM_CARD_ALLOW_LAST_TRY;
        } else {
            return cli_error("card read", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    int by_parts = birth || year || code;
    if ((pin_b != NULL) + by_parts + pin_a != 1 || (by_parts && !(birth && year && code)))
        return cli_error("card read", FM_ERR_INVALID_ARGUMENT,
                         "give exactly one of --pin-b, --birth/--expiry-year/--code (all three), --pin-a - ");
    char secret[64] = "";
    if (pin_a || (pin_b && !strcmp(pin_b, "-"))) {
        if (!read_secret_line(secret, sizeof secret))
            return cli_error("card read", FM_ERR_INVALID_ARGUMENT, "no PIN on stdin");
    } else if (pin_b) {
        if (strlen(pin_b) >= sizeof secret)
            return cli_error("card read", FM_ERR_PIN_FORMAT, "PIN B must be 14 digits");
        strcpy(secret, pin_b);
        fm_wipe((char *)pin_b, strlen(pin_b)); /* hide it from the process list from now on; prefer '-' */
    }
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("card read", FM_ERR_NO_MEMORY, "out of memory");
    fm_pcsc *pc = NULL;
    fm_card *card = NULL;
    fm_card_visual *v = NULL;
    fm_image *img = NULL;
    int rc = open_card("card read", ctx, &co, &pc, &card);
    if (rc) {
        fm_wipe(secret, sizeof secret);
        fm_ctx_destroy(ctx);
        return rc;
    }
    fm_status st = FM_OK;
    for (int k = 0; k < nca && !st; k++) {
        uint8_t id[16];
        if (ca_id[k] && !hexbytes(ca_id[k], id, 16)) {
            st = FM_ERR_INVALID_ARGUMENT;
            rc = cli_error("card read", st, "--ca-keyid must be 32 hex digits");
            goto done;
        }
        st = fm_card_add_trusted_ca_key_file(card, ca[k], ca_id[k] ? id : NULL);
    }
    if (st) {
        rc = cli_error("card read", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    int tries = -1;
    if (by_parts)
        st = fm_card_read_visual_b(card, birth, year, code, flags, &v, &tries);
    else
        st = fm_card_read_visual(card, pin_a ? FM_CARD_PIN_VISUAL_A : FM_CARD_PIN_VISUAL_B, secret, flags, &v,
                                 &tries);
    fm_wipe(secret, sizeof secret);
    if (st) {
        rc = cli_error("card read", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    fm_card_visual_info info;
    fm_card_visual_get_info(v, &info);
    int presence_ok = -1;
    if (presence) {
        st = fm_card_check_presence(card, v);
        if (st && st != FM_ERR_VERIFY) {
            rc = cli_error("card read", st, "%s", fm_ctx_errmsg(ctx));
            goto done;
        }
        presence_ok = st == FM_OK;
    }
    fm_image_info ii;
    int w = 0, h = 0;
    st = fm_card_visual_decode_portrait(ctx, v, FM_PIX_NONE, &img, &ii);
    if (st) {
        rc = cli_error("card read", st, "portrait: %s", fm_ctx_errmsg(ctx));
        goto done;
    }
    w = fm_image_width(img);
    h = fm_image_height(img);
    if (out) {
        uint8_t *buf = malloc(info.portrait_len ? info.portrait_len : 1);
        size_t n = 0;
        st = buf ? fm_card_visual_portrait(ctx, v, buf, info.portrait_len, &n) : FM_ERR_NO_MEMORY;
        FILE *f = st ? NULL : fopen(out, "wb");
        int ok = f && fwrite(buf, 1, n, f) == n;
        if (f && fclose(f) != 0)
            ok = 0;
        free(buf);
        if (!ok) {
            rc = cli_error("card read", FM_ERR_IO, "cannot write %s", out);
            goto done;
        }
    }
    char sex[2] = {info.sex, 0};
    if (json) {
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "reader", fm_pcsc_reader_name(pc));
        json_str(&j, "portrait_sha256", info.portrait_sha256_hex);
        json_int(&j, "portrait_bytes", (long long)info.portrait_len);
        json_int(&j, "width", w);
        json_int(&j, "height", h);
        json_int(&j, "channels", ii.channels);
        json_str(&j, "birth_date", info.birth_date);
        json_str(&j, "sex", sex);
        json_str(&j, "expiry", info.expiry);
        json_str(&j, "authenticity", fm_card_authenticity_name(info.authenticity));
        json_str(&j, "authenticity_detail", info.authenticity_detail);
        json_int(&j, "tries_left", tries);
        if (presence)
            json_bool(&j, "presence", presence_ok);
        json_obj_close(&j);
        json_end(&j);
    } else {
        printf("reader:        %s\nportrait:      %dx%d JP2, %zu bytes, sha256 %s\nbirth date:    %s\nsex:           "
               "%s\nexpiry:        %s\nauthenticity:  %s (%s)\n",
               fm_pcsc_reader_name(pc), w, h, info.portrait_len, info.portrait_sha256_hex, info.birth_date, sex,
               info.expiry, fm_card_authenticity_name(info.authenticity), info.authenticity_detail);
        if (presence)
            printf("presence:      %s\n", presence_ok ? "ok" : "FAILED");
    }
    rc = (info.authenticity == FM_CARD_AUTH_INVALID || presence_ok == 0) ? FM_EXIT_FAIL : FM_EXIT_OK;
done:
    fm_wipe(secret, sizeof secret);
    fm_image_destroy(img);
    fm_card_visual_destroy(v);
    fm_card_destroy(card);
    fm_pcsc_close(pc);
    fm_ctx_destroy(ctx);
    return rc;
}

static int card_tries(int argc, char **argv)
{
    conn_opts co = {NULL, 3000};
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage_tries(stdout);
            return FM_EXIT_OK;
        } else if (parse_conn(&i, argc, argv, &co)) {
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            return cli_error("card tries", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("card tries", FM_ERR_NO_MEMORY, "out of memory");
    fm_pcsc *pc = NULL;
    fm_card *card = NULL;
    int rc = open_card("card tries", ctx, &co, &pc, &card);
    if (rc) {
        fm_ctx_destroy(ctx);
        return rc;
    }
    static const fm_card_pin pins[] = {FM_CARD_PIN_AUTH, FM_CARD_PIN_SIGN, FM_CARD_PIN_VISUAL_A,
                                       FM_CARD_PIN_VISUAL_B, FM_CARD_PIN_TEXT, FM_CARD_PIN_RESIDENT};
    int t[6];
    for (int i = 0; i < 6; i++) {
        fm_status st = fm_card_pin_tries(card, pins[i], &t[i]);
        if (st) {
            rc = cli_error("card tries", st, "%s", fm_ctx_errmsg(ctx));
            goto done;
        }
    }
    if (json) {
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "reader", fm_pcsc_reader_name(pc));
        json_obj_open(&j, "tries");
        for (int i = 0; i < 6; i++)
            json_int(&j, fm_card_pin_name(pins[i]), t[i]);
        json_obj_close(&j);
        json_obj_close(&j);
        json_end(&j);
    } else {
        printf("reader: %s\n", fm_pcsc_reader_name(pc));
        for (int i = 0; i < 6; i++)
            printf("  %-9s %d%s\n", fm_card_pin_name(pins[i]), t[i], t[i] == 0 ? " (locked)" : t[i] == 1 ? " (LAST TRY)" : "");
    }
done:
    fm_card_destroy(card);
    fm_pcsc_close(pc);
    fm_ctx_destroy(ctx);
    return rc;
}

static int write_all(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return 0;
    int ok = fwrite(d, 1, n, f) == n;
    if (fclose(f) != 0)
        ok = 0;
    return ok;
}

static int card_sign(int argc, char **argv)
{
    conn_opts co = {NULL, 3000};
    const char *pin = NULL, *in = NULL, *out = NULL, *cert_out = NULL;
    unsigned flags = 0;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage_sign(stdout);
            return FM_EXIT_OK;
        } else if (parse_conn(&i, argc, argv, &co)) {
        } else if (!strcmp(argv[i], "--auth-pin") && i + 1 < argc) {
            pin = argv[++i];
        } else if (!strcmp(argv[i], "--in") && i + 1 < argc) {
            in = argv[++i];
        } else if (!strcmp(argv[i], "--out") && i + 1 < argc) {
            out = argv[++i];
        } else if (!strcmp(argv[i], "--cert-out") && i + 1 < argc) {
            cert_out = argv[++i];
        } else if (!strcmp(argv[i], "--allow-last-try")) {
            flags |= FM_CARD_ALLOW_LAST_TRY;
        } else if (!strcmp(argv[i], "--json")) {
            json = 1;
        } else {
            return cli_error("card sign", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    if (!pin || !in || !out)
        return cli_error("card sign", FM_ERR_INVALID_ARGUMENT, "--auth-pin, --in and --out are required");
    char secret[32] = "";
    if (!strcmp(pin, "-")) {
        if (!read_secret_line(secret, sizeof secret))
            return cli_error("card sign", FM_ERR_INVALID_ARGUMENT, "no PIN on stdin");
    } else if (strlen(pin) < sizeof secret) {
        strcpy(secret, pin);
        fm_wipe((char *)pin, strlen(pin));
    } else {
        return cli_error("card sign", FM_ERR_PIN_FORMAT, "the auth PIN is 4 digits");
    }
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("card sign", FM_ERR_NO_MEMORY, "out of memory");
    uint8_t digest[32];
    fm_status st = fm_sha256_file(ctx, in, digest, NULL);
    if (st) {
        fm_wipe(secret, sizeof secret);
        int r = cli_error("card sign", st, "%s", fm_ctx_errmsg(ctx));
        fm_ctx_destroy(ctx);
        return r;
    }
    fm_pcsc *pc = NULL;
    fm_card *card = NULL;
    int rc = open_card("card sign", ctx, &co, &pc, &card);
    if (rc) {
        fm_wipe(secret, sizeof secret);
        fm_ctx_destroy(ctx);
        return rc;
    }
    uint8_t cert[8192], sig[256];
    size_t cl = 0, sl = 0;
    int tries = -1;
    if (cert_out) {
        st = fm_card_jpki_auth_cert(card, cert, sizeof cert, &cl);
        if (st) {
            rc = cli_error("card sign", st, "%s", fm_ctx_errmsg(ctx));
            goto done;
        }
    }
    st = fm_card_jpki_verify_auth_pin(card, secret, flags, &tries);
    fm_wipe(secret, sizeof secret);
    if (!st)
        st = fm_card_jpki_sign_auth(card, digest, sig, sizeof sig, &sl);
    if (st) {
        rc = cli_error("card sign", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    if (!write_all(out, sig, sl) || (cert_out && !write_all(cert_out, cert, cl))) {
        rc = cli_error("card sign", FM_ERR_IO, "cannot write the output files");
        goto done;
    }
    if (json) {
        char hex[65];
        fm_sha256(sig, sl, NULL, hex);
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "reader", fm_pcsc_reader_name(pc));
        json_int(&j, "signature_bytes", (long long)sl);
        json_str(&j, "signature_sha256", hex);
        json_int(&j, "tries_left", tries);
        json_obj_close(&j);
        json_end(&j);
    } else {
        printf("signed %s: %zu-byte signature written to %s\n", in, sl, out);
    }
done:
    fm_wipe(secret, sizeof secret);
    fm_card_destroy(card);
    fm_pcsc_close(pc);
    fm_ctx_destroy(ctx);
    return rc;
}

#ifdef FM_HAVE_CARDSIM
static volatile sig_atomic_t g_stop = 0;
static void on_signal(int s)
{
    (void)s;
    g_stop = 1;
}
#endif

static int card_sim(int argc, char **argv)
{
    const char *holder = NULL, *vpcd = "127.0.0.1:35963", *export_dir = NULL;
    int once = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage_sim(stdout);
            return FM_EXIT_OK;
        } else if (!strcmp(argv[i], "--holder") && i + 1 < argc) {
            holder = argv[++i];
        } else if (!strcmp(argv[i], "--vpcd") && i + 1 < argc) {
            vpcd = argv[++i];
        } else if (!strcmp(argv[i], "--export-ca") && i + 1 < argc) {
            export_dir = argv[++i];
        } else if (!strcmp(argv[i], "--once")) {
            once = 1;
        } else {
            return cli_error("card sim", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
#ifndef FM_HAVE_CARDSIM
    (void)holder;
    (void)vpcd;
    (void)export_dir;
    (void)once;
    return cli_error("card sim", FM_ERR_UNSUPPORTED, "this build has no card simulator");
#else
    if (!holder)
        return cli_error("card sim", FM_ERR_INVALID_ARGUMENT, "--holder is required");
    char host[64];
    const char *colon = strrchr(vpcd, ':');
    int port = colon ? atoi(colon + 1) : 0;
    if (!colon || (size_t)(colon - vpcd) >= sizeof host || port <= 0 || port > 65535)
        return cli_error("card sim", FM_ERR_INVALID_ARGUMENT, "--vpcd must be HOST:PORT (e.g. 127.0.0.1:35963)");
    memcpy(host, vpcd, (size_t)(colon - vpcd));
    host[colon - vpcd] = '\0';
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("card sim", FM_ERR_NO_MEMORY, "out of memory");
    fm_cardsim_holder h;
    fm_cardsim *sim = NULL;
    fm_status st = fm_cardsim_holder_load(ctx, holder, &h);
    if (!st)
        st = fm_cardsim_create(ctx, &h, &sim);
    fm_cardsim_holder_wipe(&h);
    if (!st && export_dir)
        st = fm_cardsim_export(ctx, sim, export_dir);
    if (st) {
        int r = cli_error("card sim", st, "%s", fm_ctx_errmsg(ctx));
        fm_cardsim_destroy(sim);
        fm_ctx_destroy(ctx);
        return r;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "facematch card sim: virtual card ready, connecting to vpcd at %s:%d\n", host, port);
    fflush(stderr);
    st = fm_cardsim_vpcd_run(ctx, sim, host, port, 30000, once, &g_stop);
    int rc = st ? cli_error("card sim", st, "%s", fm_ctx_errmsg(ctx)) : FM_EXIT_OK;
    fm_cardsim_destroy(sim);
    fm_ctx_destroy(ctx);
    return rc;
#endif
}

int cmd_card(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage_card(argc < 2 ? stderr : stdout);
        return argc < 2 ? FM_EXIT_USAGE : FM_EXIT_OK;
    }
    if (!strcmp(argv[1], "read"))
        return card_read(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tries"))
        return card_tries(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sign"))
        return card_sign(argc - 1, argv + 1);
    if (!strcmp(argv[1], "sim"))
        return card_sim(argc - 1, argv + 1);
    usage_card(stderr);
    return cli_error("card", FM_ERR_INVALID_ARGUMENT, "unknown subcommand '%s'", argv[1]);
}
