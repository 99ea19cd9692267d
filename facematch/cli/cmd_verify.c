/* facematch verify: a live session over a camera, a video file or an image sequence; prints the challenge as it
 * goes and the result JSON; with a key, writes the signed verdict. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef FM_HAVE_CAPTURE
#include "capture.h"
#endif

static void usage(void)
{
    printf("usage: facematch verify --portrait FILE (--video FILE | --frames DIR|GLOB | --camera DEV) --nonce HEX\n"
           "                        [--key KEY.pem] [--aud ID] [--out VERDICT.jws] [--json] [--realtime]\n"
           "                        [--fps N] [--challenge ACTION,...] [--models DIR] [--no-verify] [--quiet]\n"
           "                        [--start S] [--duration D] [--observe] [--trace] [--turn-degrees D]\n"
           "                        [--max-pose-degrees D] [--pixfmt bgr|bgra|nv21|nv12|i420] [--rotation R]\n"
           "Runs a live session: the challenge derived from the service nonce (HMAC-SHA256, see README \"session\")\n"
           "is printed as it goes (stderr), then the result JSON (stdout):\n"
           "  {\"decision\":...,\"reasons\":[...],\"match\":{\"distance\":...,\"threshold\":...},\"liveness\":{...},\n"
           "   \"challenge\":[...],...}\n"
           "  --portrait FILE   the reference portrait (JPEG 2000 from the card, or any image)\n"
           "  --video FILE      a video file; --realtime plays it at its real frame timing, as a camera\n"
           "  --frames DIR|GLOB an image sequence (sorted by name), time-stamped at --fps (default 30)\n"
           "  --camera DEV      a V4L2 camera (/dev/video0 or an index)\n"
           "  --nonce HEX       the service's one-time nonce, 16..128 hex digits\n"
           "  --key KEY.pem     sign the verdict (ES256/EdDSA private key); --out FILE receives the token\n"
           "                    (without --out the token is put in the JSON as \"verdict\"); --aud ID the audience\n"
           "                    (default \"facematch-cli\"). The portrait comes from a file: portrait auth is\n"
           "                    \"unverifiable\" and there is no card binding.\n"
           "  --challenge LIST  TESTING ONLY: fix the challenge (blink,turn_left,turn_right,nod); recorded in the\n"
           "                    result and the verdict (reason challenge_fixed_for_testing)\n"
           "  --start S         video files: start S seconds into the file (timestamps count from there)\n"
           "  --duration D      video files: play at most D seconds\n"
           "  --observe         no challenge, no decision (never match): play the whole source/segment and list\n"
           "                    every detected blink/turn/nod in \"events\" (the JSON always has \"events\")\n"
           "  --turn-degrees D  policy: yaw change a turn must reach (default: the liveness module's, README)\n"
           "  --max-pose-degrees D  policy: |yaw| (and |pitch| / 1.5) allowed for settling and matching (default 15)\n"
           "  --pixfmt F, --rotation R  testing: hand each frame to the session as a camera buffer of format F that\n"
           "                    needs R degrees (0/90/180/270, clockwise) to be upright, through fm_image_wrap\n"
           "  --trace           one line per frame on stderr: t, faces, instruction, yaw, pitch, EAR, PAD, grey, sharpness\n"
           "  --json            compact JSON only on stdout (no summary line)\n"
           "Exit 0 match, 1 no_match/spoof_suspected/inconclusive, 2 usage, 3 input, 4 models.\n");
}

#ifdef FM_HAVE_CAPTURE
/* Camera-native input for tests and demos: each captured BGR frame is turned into the buffer a phone camera would
 * deliver (the upright frame rotated back by `rotation`, in fmt) and handed to the session through fm_image_wrap.
 * YUV uses BT.601 full range (what the image module decodes), chroma = mean of each 2x2 block. */
typedef struct cam_buf {
    uint8_t *mem;
    size_t cap;
    int w, h; /* sensor (buffer) size */
} cam_buf;

static int cam_frame(cam_buf *cb, fm_pixfmt fmt, int rotation, const uint8_t *bgr, int W, int H, int stride,
                     const uint8_t *planes[3], int strides[3], int *bw, int *bh)
{
    if (fmt != FM_PIX_BGRA) { /* 4:2:0: even upright size (the last row/column of an odd frame is dropped) */
        W &= ~1;
        H &= ~1;
    }
    int w = (rotation == 90 || rotation == 270) ? H : W, h = (rotation == 90 || rotation == 270) ? W : H;
    size_t need = fmt == FM_PIX_BGRA ? (size_t)w * h * 4 : (size_t)w * h * 3 / 2;
    if (need > cb->cap) {
        uint8_t *m = (uint8_t *)realloc(cb->mem, need);
        if (!m)
            return -1;
        cb->mem = m;
        cb->cap = need;
    }
    cb->w = w;
    cb->h = h;
    uint8_t *Y = cb->mem, *C = cb->mem + (size_t)w * h;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            /* buffer pixel (x, y) shows upright pixel (ux, uy) once rotated clockwise by `rotation` */
            int ux, uy;
            switch (rotation) {
            case 90: ux = h - 1 - y, uy = x; break;
            case 180: ux = w - 1 - x, uy = h - 1 - y; break;
            case 270: ux = y, uy = w - 1 - x; break;
            default: ux = x, uy = y; break;
            }
            const uint8_t *q = bgr + (size_t)uy * stride + 3 * ux;
            if (fmt == FM_PIX_BGRA) {
                uint8_t *o = cb->mem + ((size_t)y * w + x) * 4;
                o[0] = q[0], o[1] = q[1], o[2] = q[2], o[3] = 255;
            } else {
                double v = 0.299 * q[2] + 0.587 * q[1] + 0.114 * q[0];
                Y[(size_t)y * w + x] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
            }
        }
    if (fmt == FM_PIX_BGRA) {
        planes[0] = cb->mem;
        strides[0] = 4 * w;
    } else {
        /* chroma from the RGB of the 2x2 block (through the same rotation) */
        int cw = w / 2, ch = h / 2;
        uint8_t *U = C, *V = C + (size_t)cw * ch;
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++) {
                double su = 0, sv = 0;
                for (int k = 0; k < 4; k++) {
                    int bx = 2 * x + (k & 1), by = 2 * y + (k >> 1), ux, uy;
                    switch (rotation) {
                    case 90: ux = h - 1 - by, uy = bx; break;
                    case 180: ux = w - 1 - bx, uy = h - 1 - by; break;
                    case 270: ux = by, uy = w - 1 - bx; break;
                    default: ux = bx, uy = by; break;
                    }
                    const uint8_t *q = bgr + (size_t)uy * stride + 3 * ux;
                    double r = q[2], g = q[1], b = q[0];
                    su += -0.168736 * r - 0.331264 * g + 0.5 * b + 128;
                    sv += 0.5 * r - 0.418688 * g - 0.081312 * b + 128;
                }
                su /= 4, sv /= 4;
                uint8_t u8 = (uint8_t)(su < 0 ? 0 : su > 255 ? 255 : su + 0.5);
                uint8_t v8 = (uint8_t)(sv < 0 ? 0 : sv > 255 ? 255 : sv + 0.5);
                if (fmt == FM_PIX_I420) {
                    U[(size_t)y * cw + x] = u8;
                    V[(size_t)y * cw + x] = v8;
                } else {
                    uint8_t *o = C + (size_t)y * w + 2 * x;
                    o[0] = fmt == FM_PIX_NV21 ? v8 : u8;
                    o[1] = fmt == FM_PIX_NV21 ? u8 : v8;
                }
            }
        planes[0] = Y;
        strides[0] = w;
        planes[1] = C;
        strides[1] = fmt == FM_PIX_I420 ? cw : w;
        planes[2] = fmt == FM_PIX_I420 ? C + (size_t)cw * ch : NULL;
        strides[2] = fmt == FM_PIX_I420 ? cw : 0;
    }
    *bw = w;
    *bh = h;
    return 0;
}
#endif

static int parse_hex(const char *h, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(h);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = h[2 * i + k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return 0;
}

static void print_result(const fm_session_result *r, const char *token, int pretty_summary)
{
    cli_json j;
    json_begin(&j, stdout);
    json_obj_open(&j, NULL);
    json_str(&j, "decision", fm_verdict_decision_name((fm_verdict_decision)r->decision));
    json_arr_open(&j, "reasons");
    for (int i = 0; i < r->n_reasons; i++)
        json_str(&j, NULL, r->reasons[i]);
    json_arr_close(&j);
    json_obj_open(&j, "match");
    json_num(&j, "distance", r->distance);
    json_num(&j, "threshold", r->threshold);
    json_num(&j, "similarity", r->similarity);
    json_num(&j, "fmr", r->fmr);
    json_str(&j, "metric", "l2");
    json_str(&j, "combine", "median_of_best_quality_frames");
    json_int(&j, "frames", r->match_frames);
    json_obj_close(&j);
    json_obj_open(&j, "liveness");
    json_num(&j, "pad_score", r->pad_score);
    json_arr_open(&j, "checks");
    for (int i = 0; i < r->n_checks; i++) {
        const fm_session_check *c = &r->checks[i];
        json_obj_open(&j, NULL);
        json_str(&j, "name", c->name);
        json_bool(&j, "evaluated", c->evaluated);
        json_bool(&j, "pass", c->pass);
        json_num(&j, "score", c->score);
        json_num(&j, "threshold", c->threshold);
        json_str(&j, "detail", c->detail);
        json_obj_close(&j);
    }
    json_arr_close(&j);
    json_obj_close(&j);
    json_arr_open(&j, "challenge");
    for (int i = 0; i < r->n_steps; i++) {
        const fm_session_step *s = &r->steps[i];
        json_obj_open(&j, NULL);
        json_str(&j, "action", fm_challenge_action_name((fm_challenge_action)s->action));
        json_num(&j, "asked_at", s->asked_at);
        json_num(&j, "deadline", s->deadline);
        json_bool(&j, "met", s->met);
        json_num(&j, "met_at", s->met_at);
        json_num(&j, "evidence", s->evidence);
        json_obj_close(&j);
    }
    json_arr_close(&j);
    json_bool(&j, "challenge_fixed", r->challenge_fixed);
    json_arr_open(&j, "quality");
    for (int i = 0; i < r->n_frames; i++) {
        const fm_session_frame *f = &r->frames[i];
        json_obj_open(&j, NULL);
        json_num(&j, "t", f->t);
        json_num(&j, "quality", f->quality);
        json_num(&j, "face_px", f->face_px);
        json_num(&j, "sharpness", f->sharpness);
        json_num(&j, "brightness", f->brightness);
        json_num(&j, "yaw", f->yaw);
        json_num(&j, "pitch", f->pitch);
        json_num(&j, "distance", f->distance);
        json_obj_close(&j);
    }
    json_arr_close(&j);
    json_obj_open(&j, "frames");
    json_int(&j, "total", r->frames_total);
    json_int(&j, "with_face", r->frames_with_face);
    json_int(&j, "multi_face", r->frames_multi_face);
    json_obj_close(&j);
    json_num(&j, "duration", r->duration);
    json_arr_open(&j, "events");
    for (int i = 0; i < r->n_events; i++) {
        const fm_session_event *e = &r->events[i];
        json_obj_open(&j, NULL);
        json_str(&j, "action", fm_challenge_action_name((fm_challenge_action)e->action));
        json_num(&j, "t_start", e->t_start);
        json_num(&j, "t_end", e->t_end);
        json_num(&j, "value", e->value);
        json_obj_close(&j);
    }
    json_arr_close(&j);
    json_int(&j, "events_total", r->n_events_total);
    if (token)
        json_str(&j, "verdict", token);
    json_obj_close(&j);
    json_end(&j);
    if (pretty_summary) {
        fprintf(stderr, "decision: %s (distance %.3f, threshold %.3f)", fm_verdict_decision_name(r->decision),
                r->distance, r->threshold);
        for (int i = 0; i < r->n_reasons; i++)
            fprintf(stderr, "%s%s", i ? ", " : "; reasons: ", r->reasons[i]);
        fputc('\n', stderr);
    }
}

int cmd_verify(int argc, char **argv)
{
    char dirbuf[4096];
    const char *models = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    const char *portrait = NULL, *video = NULL, *frames = NULL, *camera = NULL, *nonce_hex = NULL, *keyfile = NULL,
               *aud = "facematch-cli", *outfile = NULL, *challenge = NULL;
    int json = 0, realtime = 0, verify = 1, quiet = 0, observe = 0, trace = 0;
    double fps = 30, start = 0, duration = 0, turn_deg = NAN, max_pose = NAN;
    fm_pixfmt cam_fmt = FM_PIX_BGR24;
    int rotation = 0;
    cam_buf cb = {NULL, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            usage();
            return FM_EXIT_OK;
        }
#define ARG(name, var)                                                                                             \
    if (strcmp(a, name) == 0) {                                                                                    \
        if (i + 1 >= argc)                                                                                         \
            return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "%s needs a value", name);                         \
        var = argv[++i];                                                                                           \
        continue;                                                                                                  \
    }
        ARG("--portrait", portrait)
        ARG("--video", video)
        ARG("--frames", frames)
        ARG("--camera", camera)
        ARG("--nonce", nonce_hex)
        ARG("--key", keyfile)
        ARG("--aud", aud)
        ARG("--out", outfile)
        ARG("--challenge", challenge)
#undef ARG
        if (strcmp(a, "--fps") == 0 && i + 1 < argc) {
            char *end;
            fps = strtod(argv[++i], &end);
            if (*end || !(fps > 0 && fps <= 1000))
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--fps: expected a number in (0, 1000]");
        } else if ((strcmp(a, "--start") == 0 || strcmp(a, "--duration") == 0) && i + 1 < argc) {
            char *end;
            double v = strtod(argv[++i], &end);
            if (*end || !(v >= 0 && v < 1e7))
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "%s: expected seconds in [0, 1e7)", a);
            if (a[2] == 's')
                start = v;
            else
                duration = v;
        } else if (strcmp(a, "--turn-degrees") == 0 && i + 1 < argc) {
            char *end;
            turn_deg = strtod(argv[++i], &end);
            if (*end || !(turn_deg >= 5 && turn_deg <= 60))
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--turn-degrees: expected 5..60");
        } else if (strcmp(a, "--max-pose-degrees") == 0 && i + 1 < argc) {
            char *end;
            max_pose = strtod(argv[++i], &end);
            if (*end || !(max_pose > 0 && max_pose <= 90))
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--max-pose-degrees: expected (0, 90]");
        } else if (strcmp(a, "--pixfmt") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            cam_fmt = !strcmp(v, "bgr")    ? FM_PIX_BGR24
                      : !strcmp(v, "bgra") ? FM_PIX_BGRA
                      : !strcmp(v, "nv21") ? FM_PIX_NV21
                      : !strcmp(v, "nv12") ? FM_PIX_NV12
                      : !strcmp(v, "i420") ? FM_PIX_I420
                                           : FM_PIX_NONE;
            if (cam_fmt == FM_PIX_NONE)
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--pixfmt: bgr, bgra, nv21, nv12 or i420");
        } else if (strcmp(a, "--rotation") == 0 && i + 1 < argc) {
            char *end;
            long r = strtol(argv[++i], &end, 10);
            if (*end || (r != 0 && r != 90 && r != 180 && r != 270))
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--rotation: 0, 90, 180 or 270");
            rotation = (int)r;
        } else if (strcmp(a, "--observe") == 0)
            observe = 1;
        else if (strcmp(a, "--trace") == 0)
            trace = 1;
        else if (strcmp(a, "--json") == 0)
            json = 1;
        else if (strcmp(a, "--realtime") == 0)
            realtime = 1;
        else if (strcmp(a, "--no-verify") == 0)
            verify = 0;
        else if (strcmp(a, "--quiet") == 0)
            quiet = 1;
        else
            return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "unknown argument '%s' (see --help)", a);
    }
    if (!portrait || !nonce_hex || (!!video + !!frames + !!camera) != 1)
        return cli_error("verify", FM_ERR_INVALID_ARGUMENT,
                         "need --portrait, --nonce and exactly one of --video, --frames, --camera (see --help)");
    if (realtime && !video)
        return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--realtime applies to --video only");
    if ((start > 0 || duration > 0) && !video)
        return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--start/--duration apply to --video only");
    uint8_t nonce[64];
    size_t nonce_len = 0;
    if (parse_hex(nonce_hex, nonce, sizeof nonce, &nonce_len) || nonce_len < 8)
        return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--nonce: expected 16..128 hex digits");
    fm_session_policy pol;
    fm_session_policy_init(&pol);
    if (challenge) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", challenge);
        char *save = NULL;
        for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            fm_challenge_action act = fm_challenge_action_parse(tok);
            if (!act || pol.test_n_steps >= FM_CHALLENGE_MAX_STEPS)
                return cli_error("verify", FM_ERR_INVALID_ARGUMENT,
                                 "--challenge: 1..3 of blink, turn_left, turn_right, nod ('%s')", tok);
            pol.test_actions[pol.test_n_steps++] = act;
        }
        fprintf(stderr, "facematch verify: WARNING: challenge fixed for testing (recorded in the result)\n");
    }
    if (observe && challenge)
        return cli_error("verify", FM_ERR_INVALID_ARGUMENT, "--observe and --challenge exclude each other");
    pol.observe = observe;
    pol.turn_degrees = turn_deg;
    if (!isnan(max_pose))
        pol.max_pose_degrees = max_pose;
    pol.models_dir = models;
    pol.verify_models = verify;
#ifndef FM_HAVE_CAPTURE
    (void)realtime;
    (void)fps;
    (void)trace;
    (void)cam_fmt;
    (void)rotation;
    (void)cb;
    (void)models;
    (void)verify;
    (void)json;
    (void)quiet;
    (void)keyfile;
    (void)outfile;
    (void)aud;
    return cli_error("verify", FM_ERR_UNSUPPORTED, "this build has no frame capture (capture/ needs libopencv-dev)");
#else
    int rc = FM_EXIT_INTERNAL;
    fm_ctx *ctx = fm_ctx_create();
    fm_engine *eng = NULL;
    fm_image *ref = NULL;
    fm_session *sess = NULL;
    fmcap *cap = NULL;
    fm_verdict_key *key = NULL;
    char *token = NULL;
    if (!ctx)
        return cli_error("verify", FM_ERR_NO_MEMORY, "out of memory");
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    cfg.verify_sha256 = verify;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68) | FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
    fm_status st = fm_engine_create(ctx, &cfg, &eng);
    if (st != FM_OK) {
        rc = cli_error("verify", st, "models: %s", fm_ctx_errmsg(ctx));
        goto done;
    }
    if (keyfile) {
        unsigned flags = 0;
        st = fm_verdict_key_load_file(ctx, keyfile, &key, &flags);
        if (st != FM_OK) {
            rc = cli_error("verify", st, "%s: %s", keyfile, fm_ctx_errmsg(ctx));
            goto done;
        }
        if (!fm_verdict_key_is_private(key) || fm_verdict_key_alg(key) == FM_JWS_NONE) {
            rc = cli_error("verify", FM_ERR_KEY, "%s: not an ES256/EdDSA private key", keyfile);
            goto done;
        }
        if (flags & FM_KEYFILE_INSECURE_PERMS)
            fprintf(stderr, "facematch verify: warning: %s is readable by group/others\n", keyfile);
    }
    st = fm_image_load(ctx, portrait, FM_PIX_RGB24, &ref, NULL);
    if (st != FM_OK) {
        rc = cli_error("verify", st, "%s: %s", portrait, fm_ctx_errmsg(ctx));
        goto done;
    }
    st = fm_session_create(ctx, eng, ref, nonce, nonce_len, &pol, &sess);
    if (st != FM_OK) {
        rc = cli_error("verify", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    char err[512];
    int orc = video ? fmcap_open_video(video, realtime, &cap, err, sizeof err)
              : frames ? fmcap_open_frames(frames, fps, &cap, err, sizeof err)
                       : fmcap_open_camera(camera, 640, 480, 30, &cap, err, sizeof err);
    if (orc != 0) {
        rc = cli_error("verify", FM_ERR_IO, "%s", err);
        goto done;
    }
    if ((start > 0 || duration > 0) && fmcap_set_segment(cap, start, duration) != 0) {
        rc = cli_error("verify", FM_ERR_INVALID_ARGUMENT, "%s", fmcap_errmsg(cap));
        goto done;
    }
    fm_challenge ch;
    fm_session_challenge(sess, &ch);
    if (!quiet) {
        fprintf(stderr, "challenge%s:", pol.test_n_steps ? " (FIXED FOR TESTING)" : "");
        for (int i = 0; i < ch.n_steps; i++)
            fprintf(stderr, " %d. %s (%.2f s)", i + 1, fm_challenge_action_name((fm_challenge_action)ch.action[i]),
                    ch.window_ms[i] / 1000.0);
        fputc('\n', stderr);
    }
    fm_instruction last = (fm_instruction)-1;
    fm_session_state last_state = (fm_session_state)0;
    for (;;) {
        fmcap_frame f;
        int n = fmcap_next(cap, &f);
        if (n < 0) {
            rc = cli_error("verify", FM_ERR_IO, "frame source: %s", fmcap_errmsg(cap));
            goto done;
        }
        if (n == 0)
            break;
        fm_image *img = NULL;
        const uint8_t *planes[3] = {f.bgr, NULL, NULL};
        int strides[3] = {f.stride, 0, 0};
        int bw = f.width, bh = f.height;
        if ((cam_fmt != FM_PIX_BGR24 || rotation) &&
            cam_frame(&cb, cam_fmt == FM_PIX_BGR24 ? FM_PIX_BGRA : cam_fmt, rotation, f.bgr, f.width, f.height,
                      f.stride, planes, strides, &bw, &bh) != 0) {
            rc = cli_error("verify", FM_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        st = fm_image_wrap(ctx, cam_fmt == FM_PIX_BGR24 && rotation ? FM_PIX_BGRA : cam_fmt, bw, bh, planes, strides,
                           rotation, &img);
        if (st != FM_OK) {
            rc = cli_error("verify", st, "frame %ld: %s", f.index, fm_ctx_errmsg(ctx));
            goto done;
        }
        fm_session_feedback fb;
        st = fm_session_push_frame(sess, img, f.timestamp_us, &fb);
        fm_image_destroy(img);
        if (st != FM_OK && st != FM_ERR_INVALID_ARGUMENT) {
            rc = cli_error("verify", st, "frame %ld: %s", f.index, fm_ctx_errmsg(ctx));
            goto done;
        }
        if (trace)
            fprintf(stderr,
                    "T %7.3f frame %ld faces %d %-14s yaw %6.1f pitch %6.1f ear %.3f pad %.3f grey %5.1f sharp %6.1f "
                    "box %.0f\n",
                    fb.t, f.index, fb.faces, fb.code ? fb.code : "-", fb.yaw, fb.pitch, fb.ear, fb.pad,
                    fb.brightness, fb.sharpness, (double)fb.box.right - fb.box.left + 1);
        if (!quiet && (fb.instruction != last || fb.state != last_state)) {
            if (fb.step >= 0)
                fprintf(stderr, "[%6.2f s] step %d/%d: %s — %s (%.1f s left)\n", fb.t, fb.step + 1, fb.n_steps,
                        fb.code, fb.text_en, fb.step_time_left);
            else
                fprintf(stderr, "[%6.2f s] %s — %s\n", fb.t, fb.code, fb.text_en);
            last = fb.instruction;
            last_state = fb.state;
        }
        if (fb.state == FM_SESSION_DONE || fb.state == FM_SESSION_FAILED)
            break;
    }
    fm_session_result res;
    st = fm_session_finish(sess, &res);
    if (st != FM_OK) {
        rc = cli_error("verify", st, "%s", fm_ctx_errmsg(ctx));
        goto done;
    }
    if (key) {
        uint8_t digest[32];
        st = fm_sha256_file(ctx, portrait, digest, NULL);
        fm_verdict_input in;
        if (st == FM_OK)
            st = fm_session_verdict_input(ctx, &res, aud, nonce_hex, digest, FM_PORTRAIT_UNVERIFIABLE, NULL, 0, &in);
        token = (char *)malloc(FM_VERDICT_TOKEN_MAX);
        size_t tlen = 0;
        if (st == FM_OK && !token)
            st = FM_ERR_NO_MEMORY;
        if (st == FM_OK)
            st = fm_verdict_sign(ctx, key, &in, NULL, NULL, token, FM_VERDICT_TOKEN_MAX, &tlen);
        if (st != FM_OK) {
            rc = cli_error("verify", st, "signing the verdict: %s", fm_ctx_errmsg(ctx));
            goto done;
        }
        if (outfile) {
            FILE *o = fopen(outfile, "wb");
            if (!o || fwrite(token, 1, tlen, o) != tlen || fputc('\n', o) == EOF) {
                if (o)
                    fclose(o);
                rc = cli_error("verify", FM_ERR_IO, "%s: cannot write the verdict", outfile);
                goto done;
            }
            if (fclose(o) != 0) {
                rc = cli_error("verify", FM_ERR_IO, "%s: cannot write the verdict", outfile);
                goto done;
            }
        }
    }
    print_result(&res, token && !outfile ? token : NULL, !json && !quiet);
    rc = res.decision == FM_VERDICT_MATCH ? FM_EXIT_OK : FM_EXIT_FAIL;
done:
    free(cb.mem);
    free(token);
    fmcap_close(cap);
    fm_session_destroy(sess);
    fm_image_destroy(ref);
    fm_verdict_key_destroy(key);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return rc;
#endif
}
