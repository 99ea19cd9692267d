/* facematch embed-bench --chip IMG --iterations N: median time of one 150x150 dlib descriptor, one thread. */
#include "face_cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int cmd_embed_bench(int argc, char **argv)
{
    char dirbuf[4096];
    face_cli_opts o = {0};
    o.verify = 1;
    o.models_dir = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    const char *chip = NULL;
    long iters = 20;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch embed-bench --chip IMG [--iterations N] [--json] [--models DIR] [--no-verify]\n"
                   "Times the dlib ResNet descriptor of a 150x150 chip on one thread (after one warm-up run) and\n"
                   "prints the median, min and max milliseconds. JSON: {\"iterations\":N,\"median_ms\":m,...}\n");
            return FM_EXIT_OK;
        }
        int r = face_cli_common_opt("embed-bench", argc, argv, &i, &o);
        if (r < 0)
            return FM_EXIT_USAGE;
        if (r)
            continue;
        if (strcmp(argv[i], "--chip") == 0 && i + 1 < argc)
            chip = argv[++i];
        else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
            char *end;
            iters = strtol(argv[++i], &end, 10);
            if (*end || iters < 1 || iters > 100000)
                return cli_error("embed-bench", FM_ERR_INVALID_ARGUMENT, "--iterations must be 1..100000");
        } else if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            return cli_error("embed-bench", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
    }
    if (!chip)
        return cli_error("embed-bench", FM_ERR_INVALID_ARGUMENT, "missing --chip IMG");
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("embed-bench", FM_ERR_NO_MEMORY, "out of memory");
    fm_ctx_set(ctx, FM_PARAM_THREADS, 1);
    fm_engine *eng = NULL;
    fm_image *img = NULL;
    double *t = (double *)calloc((size_t)iters, sizeof(double));
    int rc = FM_EXIT_OK;
    float d[128];
    fm_status st = face_cli_engine(ctx, &o, 0, &eng);
    if (st != FM_OK) {
        rc = cli_error("embed-bench", st, "models: %s", fm_ctx_errmsg(ctx));
        goto out;
    }
    st = fm_image_load(ctx, chip, FM_PIX_RGB24, &img, NULL);
    if (st != FM_OK) {
        rc = cli_error("embed-bench", st, "%s: %s", chip, fm_ctx_errmsg(ctx));
        goto out;
    }
    if (!t) {
        rc = cli_error("embed-bench", FM_ERR_NO_MEMORY, "out of memory");
        goto out;
    }
    st = fm_embed_chip(ctx, eng, FM_EMBED_DLIB, img, d, 128); /* warm-up */
    for (long k = 0; k < iters && st == FM_OK; k++) {
        double t0 = now_ms();
        st = fm_embed_chip(ctx, eng, FM_EMBED_DLIB, img, d, 128);
        t[k] = now_ms() - t0;
    }
    if (st != FM_OK) {
        rc = cli_error("embed-bench", st, "%s: %s", chip, fm_ctx_errmsg(ctx));
        goto out;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp_d);
    double med = iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
    if (json) {
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_int(&j, "iterations", iters);
        json_int(&j, "threads", 1);
        json_num(&j, "median_ms", med);
        json_num(&j, "min_ms", t[0]);
        json_num(&j, "max_ms", t[iters - 1]);
        json_obj_close(&j);
        json_end(&j);
    } else {
        printf("dlib ResNet descriptor, 150x150 chip, 1 thread, %ld runs: median %.2f ms (min %.2f, max %.2f)\n",
               iters, med, t[0], t[iters - 1]);
    }
out:
    fm_wipe(d, sizeof d);
    free(t);
    fm_image_destroy(img);
    fm_engine_destroy(eng);
    fm_ctx_destroy(ctx);
    return rc;
}
