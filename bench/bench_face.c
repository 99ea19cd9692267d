/* bench_face: face pipeline speed against dlib 19.24 in the same run.
 *
 * usage: bench_face [--data DIR] [--models DIR] [--iterations N] [--peer PATH] [--json]
 * Measures, pinned to one core (the program re-executes itself under `taskset -c 0` with OPENBLAS_NUM_THREADS=1
 * unless FM_BENCH_PINNED is set), and runs bench/dlib_face_peer the same way:
 *   desc:    ResNet descriptor of a 150x150 chip (dlib-johns image), median of N   (ours vs dlib)
 *   compare: two 250x250 photos (centre crops of deepface img1/img2, written as PNG once): decode, detect
 *            (ours: fast detector; dlib: HOG), largest face, 5 points, chip, descriptor, distance  (ours vs dlib)
 *   detect:  fast detector and MMOD on a 640x480 frame (ours only; dlib's MMOD timing is not run: minutes)
 *   peak RSS after loading the default models and running the above.
 * Ratios are dlib time / our time (> 1 means we are faster). */
#include "bench_common.h"

#include <sys/resource.h>

#define PROG "bench_face"

static fm_ctx *ctx;

static _Noreturn void die(const char *what) { bench_die(PROG, ctx, what); }

static double now_ms(void) { return bench_wall_ms(); }

int main(int argc, char **argv)
{
    bench_pin_to_one_core(argc, argv);
    bench_face_args args;
    int rc = bench_face_args_parse(PROG, argc, argv, 10, &args);
    if (rc)
        return rc;
    const char *models = args.models, *peer = args.peer;
    const int iters = args.iters, json = args.json;
    char chip[4200];
    snprintf(chip, sizeof chip, "%s/faces/dlib-johns/examples/johns/John_Salley/000197_02159322.jpg", args.data);
    ctx = fm_ctx_create();
    fm_ctx_set(ctx, FM_PARAM_THREADS, 1);
    bench_photos ph;
    bench_photos_make(PROG, ctx, args.data, &ph);
    const char *a = ph.a, *b = ph.b, *frame = ph.frame;
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    fm_engine *e;
    double t0 = now_ms();
    if (fm_engine_create(ctx, &cfg, &e) != FM_OK)
        die("engine (default models)");
    double load_ms = now_ms() - t0;
    double *t = (double *)calloc((size_t)iters, sizeof(double)), *tc = (double *)calloc((size_t)iters, sizeof(double));
    if (!t || !tc)
        die("out of memory");
    /* descriptor: wall and thread CPU time */
    fm_image *cimg;
    float d[128];
    if (fm_image_load(ctx, chip, FM_PIX_RGB24, &cimg, NULL) != FM_OK)
        die(chip);
    fm_embed_chip(ctx, e, FM_EMBED_DLIB, cimg, d, 128);
    for (int i = 0; i < iters; i++) {
        t0 = now_ms();
        double c0 = bench_cpu_ms();
        if (fm_embed_chip(ctx, e, FM_EMBED_DLIB, cimg, d, 128) != FM_OK)
            die("embed_chip");
        tc[i] = bench_cpu_ms() - c0;
        t[i] = now_ms() - t0;
    }
    double our_desc = bench_median(t, iters), our_desc_cpu = bench_median(tc, iters);
    free(tc);
    /* compare with the fast detector */
    double dist = bench_compare_photos(PROG, ctx, e, a, b, FM_DETECTOR_FAST);
    for (int i = 0; i < iters; i++) {
        t0 = now_ms();
        bench_compare_photos(PROG, ctx, e, a, b, FM_DETECTOR_FAST);
        t[i] = now_ms() - t0;
    }
    double our_cmp = bench_median(t, iters);
    /* detection on 640x480 */
    fm_image *fimg;
    if (fm_image_load(ctx, frame, FM_PIX_RGB24, &fimg, NULL) != FM_OK)
        die(frame);
    fm_detect_options o;
    fm_detect_options_init(&o);
    fm_face_box fb[16];
    size_t nf;
    fm_detect(ctx, e, fimg, &o, fb, 16, &nf);
    for (int i = 0; i < iters; i++) {
        t0 = now_ms();
        fm_detect(ctx, e, fimg, &o, fb, 16, &nf);
        t[i] = now_ms() - t0;
    }
    double our_fast = bench_median(t, iters);
    o.detector = FM_DETECTOR_MMOD;
    int mi = iters < 3 ? iters : 3;
    for (int i = 0; i < mi; i++) {
        t0 = now_ms();
        fm_detect(ctx, e, fimg, &o, fb, 16, &nf);
        t[i] = now_ms() - t0;
    }
    double our_mmod = bench_median(t, mi);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double rss_mb = ru.ru_maxrss / 1024.0;
    /* dlib peer, same pinning and environment */
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' desc '%s' %d", peer, models, chip, iters);
    double dlib_desc = bench_peer_value(cmd, "desc_median_ms"), dlib_desc_cpu = bench_peer_value(cmd, "desc_cpu_median_ms");
    snprintf(cmd, sizeof cmd, "taskset -c 0 '%s' --models '%s' compare '%s' '%s' %d", peer, models, a, b, iters);
    double dlib_cmp = bench_peer_value(cmd, "compare_median_ms");
    double dlib_dist = bench_peer_value(cmd, "distance");
    if (json) {
        printf("{\"iterations\":%d,\"model_load_ms\":%.1f,\"desc_ms\":%.3f,\"dlib_desc_ms\":%.3f,\"desc_ratio\":%.3f,"
               "\"desc_cpu_ms\":%.3f,\"dlib_desc_cpu_ms\":%.3f,\"desc_cpu_ratio\":%.3f,"
               "\"compare_ms\":%.3f,\"dlib_compare_ms\":%.3f,\"compare_ratio\":%.3f,\"distance\":%.4f,"
               "\"dlib_distance\":%.4f,\"fast_detect_640x480_ms\":%.3f,\"mmod_detect_640x480_ms\":%.1f,"
               "\"peak_rss_mb\":%.1f}\n",
               iters, load_ms, our_desc, dlib_desc, dlib_desc / our_desc, our_desc_cpu, dlib_desc_cpu,
               dlib_desc_cpu / our_desc_cpu, our_cmp, dlib_cmp, dlib_cmp / our_cmp, dist,
               dlib_dist, our_fast, our_mmod, rss_mb);
    } else {
        printf("face bench (1 core pinned, OPENBLAS_NUM_THREADS=1, %d iterations, medians)\n", iters);
        printf("  descriptor 150x150:       ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx (wall)\n", our_desc,
               dlib_desc, dlib_desc / our_desc);
        printf("  descriptor 150x150:       ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx (thread CPU)\n",
               our_desc_cpu, dlib_desc_cpu, dlib_desc_cpu / our_desc_cpu);
        printf("  compare two 250x250:      ours %8.2f ms   dlib %8.2f ms   dlib/ours %.2fx (ours: fast detector;"
               " dlib: HOG)\n", our_cmp, dlib_cmp, dlib_cmp / our_cmp);
        printf("  distance of that pair:    ours %.4f   dlib %.4f\n", dist, dlib_dist);
        printf("  detect 640x480:           fast %8.2f ms   MMOD %8.1f ms\n", our_fast, our_mmod);
        printf("  model load %.0f ms, peak RSS %.1f MB (default models)\n", load_ms, rss_mb);
    }
    bench_photos_remove(&ph);
    free(t);
    fm_image_destroy(cimg);
    fm_image_destroy(fimg);
    fm_engine_destroy(e);
    fm_ctx_destroy(ctx);
    return 0;
}
