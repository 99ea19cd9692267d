/* bench_session: per-frame cost of the live session at 640x480 on one thread.
 *
 * usage: bench_session [--image FILE] [--models DIR] [--iterations N]
 *   The frame is FILE resized to 640x480 (default: the first live NUAA frame of ../shared/data, 640x480).
 *   Reports medians over N runs (default 30), thread CPU time and wall time, in ms:
 *     detect      fm_detect (fast detector, UltraFace RFB-320)
 *     landmarks   fm_landmarks 68 points (dlib shape predictor)
 *     signals     EAR + fr_eye + head pose (liveness module), without the passive model
 *     pad         the passive model (fr_liveness + cues) alone (signals with PAD minus signals without)
 *     embed       fm_embed_face (dlib 5 points + chip + ResNet): run on selected frames only
 *     per_frame   detect + landmarks + signals + pad: the per-frame budget (target <= 15 ms)
 *     push_frame  fm_session_push_frame end to end on a stream of this frame (includes the RGB conversion, quality
 *                 measures, the embeddings the session decides to run, amortised over the frames)
 */
#include "bench_common.h"
#include "session/session_signals.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_ms(void) { return bench_cpu_ms(); }
static double wall_ms(void) { return bench_wall_ms(); }
static double med(double *v, int n) { return bench_median(v, n); }

#define MAXIT 1000

int main(int argc, char **argv)
{
    const char *image = NULL, *models = NULL;
    int iters = 30;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--image") && i + 1 < argc)
            image = argv[++i];
        else if (!strcmp(argv[i], "--models") && i + 1 < argc)
            models = argv[++i];
        else if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_session [--image FILE] [--models DIR] [--iterations N]\n");
            return 2;
        }
    }
    if (iters < 1 || iters > MAXIT)
        iters = 30;
    char defimg[4096];
    if (!image) {
        /* $FM_DATA_DIR, else ../shared/data beside the source tree (found from this file's path) */
        const char *d = getenv("FM_DATA_DIR");
        char base[4096];
        if (d && *d)
            snprintf(base, sizeof base, "%s", d);
        else {
            snprintf(base, sizeof base, "%s", __FILE__);
            char *slash = strrchr(base, '/');
            if (slash)
                *slash = 0;
            strncat(base, "/../../shared/data", sizeof base - strlen(base) - 1);
        }
        snprintf(defimg, sizeof defimg, "%s/liveness/nuaa-train/db/ClientRaw/0001/0001_00_00_01_0.jpg", base);
        image = defimg;
    }
    fm_ctx *ctx = fm_ctx_create();
    fm_image *src = NULL, *img = NULL;
    if (fm_image_load(ctx, image, FM_PIX_RGB24, &src, NULL) != FM_OK ||
        fm_image_resize(ctx, src, 640, 480, FM_RESIZE_AREA, &img) != FM_OK) {
        fprintf(stderr, "bench_session: %s: %s\n", image, fm_ctx_errmsg(ctx));
        return 1;
    }
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68) | FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT);
    fm_engine *eng = NULL;
    sess_liveness *live = NULL;
    if (fm_engine_create(ctx, &cfg, &eng) != FM_OK || sess_liveness_create(ctx, eng, NULL, &live) != FM_OK) {
        fprintf(stderr, "bench_session: models: %s\n", fm_ctx_errmsg(ctx));
        return 1;
    }
    static double c[7][MAXIT], w[7][MAXIT];
    fm_face_box box;
    size_t n = 0;
    fm_point pts[68];
    sess_signals g;
    float desc[128];
    for (int it = 0; it < iters + 2; it++) { /* two warm-up runs */
        int k = it - 2 < 0 ? 0 : it - 2;
        double c0 = cpu_ms(), w0 = wall_ms();
        if (fm_detect(ctx, eng, img, NULL, &box, 1, &n) != FM_OK || n < 1) {
            fprintf(stderr, "bench_session: no face in the frame\n");
            return 1;
        }
        double c1 = cpu_ms(), w1 = wall_ms();
        fm_landmarks(ctx, eng, img, &box, 68, pts);
        double c2 = cpu_ms(), w2 = wall_ms();
        sess_liveness_measure(ctx, live, img, &box, pts, 0, &g);
        double c3 = cpu_ms(), w3 = wall_ms();
        sess_liveness_measure(ctx, live, img, &box, pts, 1, &g);
        double c4 = cpu_ms(), w4 = wall_ms();
        fm_embed_face(ctx, eng, FM_EMBED_DLIB, img, &box, desc, 128);
        double c5 = cpu_ms(), w5 = wall_ms();
        c[0][k] = c1 - c0, w[0][k] = w1 - w0;
        c[1][k] = c2 - c1, w[1][k] = w2 - w1;
        c[2][k] = c3 - c2, w[2][k] = w3 - w2;
        c[3][k] = (c4 - c3) - (c3 - c2), w[3][k] = (w4 - w3) - (w3 - w2);
        c[4][k] = c5 - c4, w[4][k] = w5 - w4;
        c[5][k] = (c2 - c0) + (c4 - c3), w[5][k] = (w2 - w0) + (w4 - w3);
    }
    /* the session end to end: a stream of this frame at 30 fps */
    static const uint8_t nonce[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    fm_session *s = NULL;
    if (fm_session_create_with_reference(ctx, eng, desc, 128, nonce, sizeof nonce, NULL, &s) != FM_OK) {
        fprintf(stderr, "bench_session: %s\n", fm_ctx_errmsg(ctx));
        return 1;
    }
    int np = 0;
    for (int it = 0; it < iters; it++) {
        double c0 = cpu_ms(), w0 = wall_ms();
        fm_session_feedback fb;
        if (fm_session_push_frame(s, img, (int64_t)it * 33333 + 1, &fb) != FM_OK)
            break;
        c[6][np] = cpu_ms() - c0, w[6][np] = wall_ms() - w0;
        np++;
    }
    fm_session_destroy(s);
    static const char *names[7] = {"detect", "landmarks", "signals", "pad", "embed", "per_frame", "push_frame"};
    printf("bench_session: 640x480, one thread, medians of %d runs (ms): thread CPU / wall\n", iters);
    for (int i = 0; i < 7; i++) {
        int m = i == 6 ? np : iters;
        if (m < 1)
            continue;
        double mc = med(c[i], m), mw = med(w[i], m);
        printf("  %-11s %7.2f / %7.2f%s\n", names[i], mc, mw,
               i == 5 ? "   (detect + landmarks + signals + pad; target <= 15 ms)" : "");
    }
    fm_wipe(desc, sizeof desc);
    sess_liveness_destroy(live);
    fm_engine_destroy(eng);
    fm_image_destroy(img);
    fm_image_destroy(src);
    fm_ctx_destroy(ctx);
    return 0;
}
