/* bench_nn — speed of our ONNX runtime per model on one thread, next to OpenCV 4.6 DNN measured in the same run
 * (tests/oracle_cv/oracle_cv bench, a separate process), plus the whole UltraFace / BlazeFace detection on a 640x480
 * frame (resize + network + decoding + NMS) and the peak RSS with all six models loaded; and the dlib ResNet
 * descriptor of a 150x150 chip (fm_resnet_embed, one thread) next to dlib 19.24 itself (bench/dlib_face_peer, a
 * separate process), alternating ours / dlib for --rounds rounds so that both see the same machine load.
 *
 *   bench_nn [--iterations N] [--threads N] [--oracle PATH] [--peer PATH] [--chip IMG] [--rounds R]
 *            [--isa base|avx2|avx512] [--json]
 *   (--threads: ours only; default 1. --isa: force our kernels' instruction set, default: the best this CPU runs)
 *
 * One core: the process re-executes itself with OPENBLAS_NUM_THREADS=1 unless that is already set, so a threaded
 * OpenBLAS does not add threads; our own FM_PARAM_THREADS-style splitting is set to 1; OpenCV runs with
 * cv::setNumThreads(1). Median (and minimum) of N runs after 3 warm-up runs; the OpenCV column is its median. */
#include "face/onnx_models.h"
#include "face/resnet.h"
#include "internal.h"
#include "nn/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* CPU time of this thread: on a shared, loaded machine wall time mostly measures the neighbours */
static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static const char *isa_name(int isa)
{
    return isa == NN_ISA_AVX512 ? "avx512" : isa == NN_ISA_AVX2 ? "avx2" : "base";
}

static const char *files[6] = {"fr_detect.onnx", "fr_landmark.onnx", "fr_feature.onnx",
                               "fr_liveness.onnx", "fr_eye.onnx", "face_detection_front_128x128_barracuda.onnx"};

/* OpenCV median ms (wall, or thread CPU when cpu) for a model from the oracle's JSON, or -1 */
static double cv_time(const char *json, const char *file, int cpu)
{
    char pat[256];
    snprintf(pat, sizeof pat, "\"model\":\"%s\",\"median_ms\":", file);
    const char *p = json ? strstr(json, pat) : NULL;
    if (!p)
        return -1.0;
    if (!cpu)
        return atof(p + strlen(pat));
    p = strstr(p, "\"cpu_median_ms\":");
    return p ? atof(p + strlen("\"cpu_median_ms\":")) : -1.0;
}

int main(int argc, char **argv)
{
    if (!getenv("OPENBLAS_NUM_THREADS")) {
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        execv("/proc/self/exe", argv);
        /* if re-exec fails, go on (numbers may then include OpenBLAS threads) */
    }
    int iters = 50, json = 0, threads = 1, rounds = 3, isa = nn_isa_best();
    char oracle[4096] = "", peer[4096] = "", chip[4096] = "";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--iterations") && i + 1 < argc)
            iters = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--oracle") && i + 1 < argc)
            snprintf(oracle, sizeof oracle, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--peer") && i + 1 < argc)
            snprintf(peer, sizeof peer, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--chip") && i + 1 < argc)
            snprintf(chip, sizeof chip, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) {
            i++;
            isa = !strcmp(argv[i], "avx512") ? NN_ISA_AVX512 : !strcmp(argv[i], "avx2") ? NN_ISA_AVX2 : NN_ISA_BASE;
            if (isa > nn_isa_best()) {
                fprintf(stderr, "bench_nn: this CPU does not run --isa %s\n", argv[i]);
                return 2;
            }
        }
        else {
            fprintf(stderr, "usage: bench_nn [--iterations N] [--threads N] [--oracle PATH] [--peer PATH] [--chip IMG] "
                            "[--rounds R] [--isa base|avx2|avx512] [--json]\n");
            return 2;
        }
    }
    if (iters < 1)
        iters = 1;
    if (threads < 1)
        threads = 1;
    if (rounds < 1)
        rounds = 1;
    if (!oracle[0] || !peer[0]) { /* <build>/bench/bench_nn -> <build>/tests/oracle_cv/oracle_cv, <build>/bench/... */
        char self[4000];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n > 0) {
            self[n] = 0;
            char *slash = strrchr(self, '/');
            if (slash)
                *slash = 0;
            if (!oracle[0])
                snprintf(oracle, sizeof oracle, "%s/../tests/oracle_cv/oracle_cv", self);
            if (!peer[0])
                snprintf(peer, sizeof peer, "%s/dlib_face_peer", self);
        }
    }
    if (!chip[0]) {
        const char *data = getenv("FM_DATA_DIR");
        snprintf(chip, sizeof chip, "%s/faces/dlib-johns/examples/johns/John_Salley/000197_02159322.jpg",
                 data ? data : "../shared/data");
    }
    char dir[4096];
    if (fm_models_default_dir(dir, sizeof dir) != FM_OK)
        return 1;
    fm_ctx *ctx = fm_ctx_create();
    onnx_model *m[6] = {0};
    for (int i = 0; i < 6; i++) {
        char path[8300];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (onnx_model_load_file(ctx, path, &m[i]) != FM_OK) {
            fprintf(stderr, "bench_nn: %s (run models/fetch)\n", fm_ctx_errmsg(ctx));
            return 1;
        }
        onnx_model_set_isa(m[i], isa);
    }
    /* OpenCV peer first (separate process, so its memory does not count in our RSS) */
    char *cvjson = NULL;
    if (access(oracle, X_OK) == 0) {
        char cmd[8400];
        snprintf(cmd, sizeof cmd, "'%s' bench %d", oracle, iters);
        FILE *p = popen(cmd, "r");
        if (p) {
            size_t cap = 1 << 16, len = 0;
            cvjson = calloc(cap, 1);
            size_t r;
            while (cvjson && (r = fread(cvjson + len, 1, cap - len - 1, p)) > 0)
                len += r;
            pclose(p);
        }
    } else {
        fprintf(stderr, "bench_nn: OpenCV peer %s not built; OpenCV columns empty\n", oracle);
    }
    double *t = malloc((size_t)(iters + 3) * sizeof(double)), *tc = malloc((size_t)(iters + 3) * sizeof(double));
    nn_arena arena = {0};
    double ours_ms[6], ours_min[6], ours_cpu[6];
    for (int i = 0; i < 6; i++) {
        size_t n = onnx_model_input_size(m[i]);
        float *x = malloc(n * sizeof(float));
        for (size_t k = 0; k < n; k++)
            x[k] = (float)((k * 2654435761u) % 1000) / 1000.0f - 0.5f;
        float *outs[4];
        for (int o = 0; o < onnx_model_num_outputs(m[i]); o++)
            outs[o] = malloc(onnx_model_output_size(m[i], o) * sizeof(float));
        for (int it = 0; it < iters + 3; it++) {
            double t0 = now_ms(), c0 = cpu_ms();
            onnx_run(ctx, m[i], &arena, x, outs, threads);
            tc[it] = cpu_ms() - c0;
            t[it] = now_ms() - t0;
        }
        ours_ms[i] = median(t + 3, iters);
        ours_min[i] = t[3]; /* sorted by median() */
        ours_cpu[i] = median(tc + 3, iters);
        for (int o = 0; o < onnx_model_num_outputs(m[i]); o++)
            free(outs[o]);
        free(x);
    }
    /* whole detection on a synthetic 640x480 frame (a smooth gradient; the cost does not depend on content) */
    const int W = 640, H = 480;
    uint8_t *frame = malloc((size_t)W * H * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                frame[((size_t)y * W + x) * 3 + c] = (uint8_t)((x * (c + 1) + y * 3) & 255);
    onnx_rgb_view v = {frame, W, H, (size_t)W * 3};
    onnx_face faces[64];
    int nf;
    onnx_detect_opts dopt = {0, 0, threads};
    double det_ms[2], det_min[2], det_cpu[2];
    for (int d = 0; d < 2; d++) {
        for (int it = 0; it < iters + 3; it++) {
            double t0 = now_ms(), c0 = cpu_ms();
            if (d == 0)
                onnx_ultraface_detect(ctx, m[0], &arena, &v, &dopt, faces, 64, &nf);
            else
                onnx_blazeface_detect(ctx, m[5], &arena, &v, &dopt, faces, 64, &nf);
            tc[it] = cpu_ms() - c0;
            t[it] = now_ms() - t0;
        }
        det_ms[d] = median(t + 3, iters);
        det_min[d] = t[3];
        det_cpu[d] = median(tc + 3, iters);
    }
    struct rusage ru; /* before the ResNet is loaded: the six ONNX models only */
    getrusage(RUSAGE_SELF, &ru);
    /* dlib ResNet descriptor: ours in this process, dlib in the peer, alternating */
    double rn_cpu[16], rn_wall[16], dl_cpu[16], dl_wall[16];
    int rn_ok = 0;
    if (rounds > 16)
        rounds = 16;
    {
        char path[8300];
        snprintf(path, sizeof path, "%s/dlib_face_recognition_resnet_model_v1.dat", dir);
        uint8_t *buf = NULL;
        size_t len = 0;
        fm_resnet *rn = NULL;
        fm_image *img = NULL;
        if (fm_read_file(ctx, path, (int64_t)1 << 30, &buf, &len) != FM_OK || fm_resnet_load(ctx, buf, len, &rn) != FM_OK)
            fprintf(stderr, "bench_nn: ResNet: %s (descriptor not measured)\n", fm_ctx_errmsg(ctx));
        else if (fm_image_load(ctx, chip, FM_PIX_RGB24, &img, NULL) != FM_OK || fm_image_width(img) != 150 ||
                 fm_image_height(img) != 150)
            fprintf(stderr, "bench_nn: chip %s: %s (needs a 150x150 image; descriptor not measured)\n", chip,
                    fm_ctx_errmsg(ctx));
        else {
            for (int i = 0; i < rn->net.nsteps; i++)
                if (rn->net.steps[i].kind == DN_CON)
                    nn_conv_set_isa(&rn->net.steps[i].conv, isa);
            int stride;
            const uint8_t *px = fm_image_plane(img, 0, &stride);
            float d[128];
            rn_ok = 1;
            for (int r = 0; r < rounds; r++) {
                for (int it = 0; it < iters + 3; it++) {
                    double t0 = now_ms(), c0 = cpu_ms();
                    if (fm_resnet_embed(rn, ctx, px, stride, d, threads) != FM_OK)
                        rn_ok = 0;
                    tc[it] = cpu_ms() - c0;
                    t[it] = now_ms() - t0;
                }
                rn_wall[r] = median(t + 3, iters);
                rn_cpu[r] = median(tc + 3, iters);
                dl_wall[r] = dl_cpu[r] = -1.0;
                if (access(peer, X_OK) == 0) {
                    char cmd[17000];
                    snprintf(cmd, sizeof cmd, "'%s' --models '%s' desc '%s' %d", peer, dir, chip, iters);
                    FILE *p = popen(cmd, "r");
                    char out[1024] = "";
                    if (p) {
                        size_t n = fread(out, 1, sizeof out - 1, p);
                        out[n] = 0;
                        pclose(p);
                    }
                    const char *q = strstr(out, "\"desc_median_ms\":"), *qc = strstr(out, "\"desc_cpu_median_ms\":");
                    if (q)
                        dl_wall[r] = atof(q + strlen("\"desc_median_ms\":"));
                    if (qc)
                        dl_cpu[r] = atof(qc + strlen("\"desc_cpu_median_ms\":"));
                } else if (r == 0) {
                    fprintf(stderr, "bench_nn: dlib peer %s not built; dlib column empty\n", peer);
                }
            }
            fm_wipe(d, sizeof d);
        }
        fm_image_destroy(img);
        fm_resnet_free(rn);
        free(buf);
    }
    double loadavg[3] = {-1, -1, -1};
    getloadavg(loadavg, 3);
    if (json) {
        printf("{\"threads\":%d,\"iterations\":%d,\"isa\":\"%s\",\"models\":[", threads, iters, isa_name(isa));
        for (int i = 0; i < 6; i++)
            printf("%s{\"model\":\"%s\",\"ours_ms\":%.3f,\"ours_min_ms\":%.3f,\"ours_cpu_ms\":%.3f,"
                   "\"opencv_ms\":%.3f,\"opencv_cpu_ms\":%.3f}",
                   i ? "," : "", files[i], ours_ms[i], ours_min[i], ours_cpu[i], cv_time(cvjson, files[i], 0),
                   cv_time(cvjson, files[i], 1));
        printf("],\"detect_640x480_ms\":{\"ultraface\":%.3f,\"ultraface_min\":%.3f,\"ultraface_cpu\":%.3f,"
               "\"blazeface\":%.3f,\"blazeface_min\":%.3f,\"blazeface_cpu\":%.3f},\"peak_rss_kb\":%ld,",
               det_ms[0], det_min[0], det_cpu[0], det_ms[1], det_min[1], det_cpu[1], ru.ru_maxrss);
        printf("\"loadavg\":[%.2f,%.2f,%.2f],\"resnet_descriptor\":[", loadavg[0], loadavg[1], loadavg[2]);
        for (int r = 0; rn_ok && r < rounds; r++)
            printf("%s{\"ours_cpu_ms\":%.3f,\"ours_ms\":%.3f,\"dlib_cpu_ms\":%.3f,\"dlib_ms\":%.3f,\"cpu_ratio\":%.3f}",
                   r ? "," : "", rn_cpu[r], rn_wall[r], dl_cpu[r], dl_wall[r], dl_cpu[r] > 0 ? dl_cpu[r] / rn_cpu[r] : 0.0);
        printf("]}\n");
    } else {
        printf("%d thread(s) (OpenCV: 1), medians of %d runs (OPENBLAS_NUM_THREADS=%s), our kernels: %s; wall = "
               "elapsed, cpu = this thread's CPU time\n", threads, iters, getenv("OPENBLAS_NUM_THREADS"), isa_name(isa));
        printf("%-44s %9s %9s %9s %11s %11s %9s\n", "model (forward pass only)", "ours wall", "(min)", "ours cpu",
               "OpenCV wall", "OpenCV cpu", "cpu ratio");
        for (int i = 0; i < 6; i++) {
            double cw = cv_time(cvjson, files[i], 0), cc = cv_time(cvjson, files[i], 1);
            printf("%-44s %9.3f %9.3f %9.3f %11.3f %11.3f %9.2f\n", files[i], ours_ms[i], ours_min[i], ours_cpu[i], cw,
                   cc, cc > 0 ? ours_cpu[i] / cc : 0.0);
        }
        printf("UltraFace detection, 640x480 frame (resize+net+NMS): wall median %.3f ms (min %.3f), cpu %.3f ms\n",
               det_ms[0], det_min[0], det_cpu[0]);
        printf("BlazeFace detection, 640x480 frame (letterbox+net+NMS): wall median %.3f ms (min %.3f), cpu %.3f ms\n",
               det_ms[1], det_min[1], det_cpu[1]);
        printf("peak RSS with the six ONNX models loaded: %ld kB\n", ru.ru_maxrss);
        printf("dlib ResNet descriptor, 150x150 chip, %d thread(s) (dlib: 1), medians of %d, load average %.2f %.2f "
               "%.2f:\n", threads, iters, loadavg[0], loadavg[1], loadavg[2]);
        for (int r = 0; rn_ok && r < rounds; r++)
            printf("  round %d: ours cpu %7.3f ms (wall %7.3f)   dlib cpu %7.3f ms (wall %7.3f)   dlib/ours cpu %.2fx\n",
                   r + 1, rn_cpu[r], rn_wall[r], dl_cpu[r], dl_wall[r], dl_cpu[r] > 0 ? dl_cpu[r] / rn_cpu[r] : 0.0);
    }
    free(cvjson);
    free(frame);
    free(t);
    free(tc);
    nn_arena_free(&arena);
    for (int i = 0; i < 6; i++)
        onnx_model_free(m[i]);
    fm_ctx_destroy(ctx);
    return 0;
}
