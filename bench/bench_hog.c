/* bench_hog: our HOG frontal face detector (FM_DETECTOR_HOG) against dlib's own (bench/dlib_face_peer hog), same
 * run, same core, one thread.
 *
 * usage: bench_hog [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]
 *
 * Re-executes itself under `taskset -c 0` (unless FM_BENCH_PINNED is set) and runs the peer the same way.
 *   detect 250x250: centre crop of deepface img1 resized to 250x250 (PNG, decoded once): median thread-CPU ms
 *   detect 640x480: deepface img1 resized to 640x480: median thread-CPU ms
 *   compare 250x250 x2 (img1 and img2 crops), --detector hog: decode, HOG, largest face, 5 points, chip, ResNet,
 *   distance, both images; median wall ms; dlib's pipeline = dlib_face_peer compare (HOG + sp5 + ResNet).
 * Boxes of ours and dlib's are not compared here (tests/unit/test_face_hog does that). */
#include "bench_common.h"

#define PROG "bench_hog"

static fm_ctx *ctx;

static _Noreturn void die(const char *what) { bench_die(PROG, ctx, what); }

static double detect_cpu(fm_engine *e, const char *path, int iters, size_t *faces)
{
    fm_image *img;
    if (fm_image_load(ctx, path, FM_PIX_RGB24, &img, NULL) != FM_OK)
        die(path);
    fm_detect_options o;
    fm_detect_options_init(&o);
    o.detector = FM_DETECTOR_HOG;
    fm_face_box f[16];
    if (fm_detect(ctx, e, img, &o, f, 16, faces) != FM_OK) /* warm-up (scratch allocated once) */
        die("detect");
    double *t = (double *)calloc((size_t)iters, sizeof(double));
    for (int i = 0; i < iters; i++) {
        double t0 = bench_cpu_ms();
        if (fm_detect(ctx, e, img, &o, f, 16, faces) != FM_OK)
            die("detect");
        t[i] = bench_cpu_ms() - t0;
    }
    double m = bench_median(t, iters);
    free(t);
    fm_image_destroy(img);
    return m;
}

int main(int argc, char **argv)
{
    bench_pin_to_one_core(argc, argv);
    bench_face_args args;
    int rc = bench_face_args_parse(PROG, argc, argv, 20, &args);
    if (rc)
        return rc;
    const char *models = args.models, *peer = args.peer;
    const int iters = args.iters, json = args.json;
    char cmd[20000];
    ctx = fm_ctx_create();
    fm_ctx_set(ctx, FM_PARAM_THREADS, 1);
    bench_photos ph;
    bench_photos_make(PROG, ctx, args.data, &ph);
    const char *a = ph.a, *b = ph.b, *frame = ph.frame;
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_HOG) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) |
                 FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5);
    fm_engine *e;
    if (fm_engine_create(ctx, &cfg, &e) != FM_OK)
        die("engine (dlib_hog, dlib_resnet, dlib_sp5)");
    size_t f250 = 0, f640 = 0;
    double ours250 = detect_cpu(e, a, iters, &f250), ours640 = detect_cpu(e, frame, iters, &f640);
    double dist = bench_compare_photos(PROG, ctx, e, a, b, FM_DETECTOR_HOG); /* warm-up */
    double *t = (double *)calloc((size_t)iters, sizeof(double));
    for (int i = 0; i < iters; i++) {
        double t0 = bench_wall_ms();
        bench_compare_photos(PROG, ctx, e, a, b, FM_DETECTOR_HOG);
        t[i] = bench_wall_ms() - t0;
    }
    double ours_cmp = bench_median(t, iters);
    free(t);
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' hog '%s' %d", peer, models, a, iters);
    double dlib250 = bench_peer_value(cmd, "hog_median_ms"), dlibf250 = bench_peer_value(cmd, "hog_faces");
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' hog '%s' %d", peer, models, frame, iters);
    double dlib640 = bench_peer_value(cmd, "hog_median_ms"), dlibf640 = bench_peer_value(cmd, "hog_faces");
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' compare '%s' '%s' %d", peer, models, a, b, iters);
    double dlib_cmp = bench_peer_value(cmd, "compare_median_ms"), dlib_dist = bench_peer_value(cmd, "distance");
    if (json) {
        printf("{\"iterations\":%d,\"hog250_ms\":%.3f,\"dlib_hog250_ms\":%.3f,\"hog250_faces\":%zu,"
               "\"dlib_hog250_faces\":%.0f,\"hog640_ms\":%.3f,\"dlib_hog640_ms\":%.3f,\"hog640_faces\":%zu,"
               "\"dlib_hog640_faces\":%.0f,\"compare_hog_ms\":%.3f,\"dlib_compare_ms\":%.3f,\"distance\":%.4f,"
               "\"dlib_distance\":%.4f}\n",
               iters, ours250, dlib250, f250, dlibf250, ours640, dlib640, f640, dlibf640, ours_cmp, dlib_cmp, dist,
               dlib_dist);
    } else {
        printf("bench_hog (%d iterations, one core, thread CPU time for detection, wall time for compare)\n", iters);
        printf("  HOG detect 250x250:   ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx   faces %zu / %.0f\n", ours250,
               dlib250, dlib250 / ours250, f250, dlibf250);
        printf("  HOG detect 640x480:   ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx   faces %zu / %.0f\n", ours640,
               dlib640, dlib640 / ours640, f640, dlibf640);
        printf("  compare 2x 250x250:   ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx   (--detector hog; distance "
               "%.4f / dlib %.4f)\n",
               ours_cmp, dlib_cmp, dlib_cmp / ours_cmp, dist, dlib_dist);
    }
    bench_photos_remove(&ph);
    fm_engine_destroy(e);
    fm_ctx_destroy(ctx);
    return 0;
}
