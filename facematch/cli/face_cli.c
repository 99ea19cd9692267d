/* Shared helpers of the face commands. */
#include "face_cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int face_cli_common_opt(const char *cmd, int argc, char **argv, int *i, face_cli_opts *o)
{
    const char *a = argv[*i];
    if (strcmp(a, "--detector") == 0 && *i + 1 < argc) {
        const char *v = argv[++*i];
        if (strcmp(v, "fast") == 0)
            o->detector = FM_DETECTOR_FAST;
        else if (strcmp(v, "mmod") == 0)
            o->detector = FM_DETECTOR_MMOD;
        else if (strcmp(v, "auto") == 0)
            o->detector = FM_DETECTOR_AUTO;
        else if (strcmp(v, "hog") == 0)
            o->detector = FM_DETECTOR_HOG;
        else if (strcmp(v, "photo") == 0)
            o->detector = FM_DETECTOR_PHOTO;
        else {
            cli_error(cmd, FM_ERR_INVALID_ARGUMENT, "--detector must be photo, auto, fast, mmod or hog");
            return -1;
        }
        o->detector_set = 1;
        return 1;
    }
    if (strcmp(a, "--threshold") == 0 && *i + 1 < argc) {
        char *end;
        o->threshold = strtod(argv[++*i], &end);
        if (*end || !(o->threshold > 0) || !isfinite(o->threshold)) {
            cli_error(cmd, FM_ERR_INVALID_ARGUMENT, "--threshold must be a positive number");
            return -1;
        }
        return 1;
    }
    if (strcmp(a, "--refine") == 0 && *i + 1 < argc) {
        char *end;
        long v = strtol(argv[++*i], &end, 10);
        if (*end || v < 0 || v > FM_DETECT_MAX_REFINE) {
            cli_error(cmd, FM_ERR_INVALID_ARGUMENT, "--refine must be 0..%d", FM_DETECT_MAX_REFINE);
            return -1;
        }
        o->refine = (int)v;
        o->refine_set = 1;
        return 1;
    }
    if (strcmp(a, "--no-verify") == 0) {
        o->verify = 0;
        return 1;
    }
    return 0;
}

fm_status face_cli_engine(fm_ctx *ctx, const face_cli_opts *o, int need_detector, fm_engine **out)
{
    return face_cli_engine_ex(ctx, o, need_detector, FM_EMBED_DLIB, out);
}

fm_status face_cli_engine_ex(fm_ctx *ctx, const face_cli_opts *o, int need_detector, fm_embedder emb,
                             fm_engine **out)
{
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = o->models_dir;
    cfg.verify_sha256 = o->verify;
    if (emb == FM_EMBED_FR512)
        cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_FP_FEATURE) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP68);
    else
        cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5);
    if (need_detector) {
        if (face_cli_refine(o))
            cfg.models |= FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5);
        const fm_detector d = o->detector;
        const int any = !o->detector_set;
        if (any || d == FM_DETECTOR_MMOD || d == FM_DETECTOR_AUTO || d == FM_DETECTOR_PHOTO)
            cfg.models |= FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD);
        if (any || d == FM_DETECTOR_FAST || d == FM_DETECTOR_AUTO)
            cfg.models |= FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT);
        if (any || d == FM_DETECTOR_HOG || d == FM_DETECTOR_PHOTO)
            cfg.models |= FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_HOG);
        /* the detector not asked for by name may be absent */
        cfg.optional_missing = !o->detector_set;
    }
    fm_status st = fm_engine_create(ctx, &cfg, out);
    if (st == FM_OK && need_detector && !fm_engine_has_model(*out, FM_MODEL_DLIB_MMOD) &&
        !fm_engine_has_model(*out, FM_MODEL_FP_DETECT) && !fm_engine_has_model(*out, FM_MODEL_DLIB_HOG)) {
        fm_engine_destroy(*out);
        *out = NULL;
        return FM_ERR_MODEL_MISSING;
    }
    return st;
}

int face_cli_refine(const face_cli_opts *o)
{
    return o->refine_set ? o->refine : FACE_CLI_DEFAULT_REFINE;
}

fm_detector face_cli_detector(const fm_engine *e, const face_cli_opts *o)
{
    if (o->detector_set)
        return o->detector;
    /* the best available for still photos (README "face"): HOG with MMOD fallback, else fast with MMOD fallback */
    const int hog = fm_engine_has_model(e, FM_MODEL_DLIB_HOG), mmod = fm_engine_has_model(e, FM_MODEL_DLIB_MMOD),
              fast = fm_engine_has_model(e, FM_MODEL_FP_DETECT);
    if (hog)
        return mmod ? FM_DETECTOR_PHOTO : FM_DETECTOR_HOG;
    if (fast)
        return mmod ? FM_DETECTOR_AUTO : FM_DETECTOR_FAST;
    return FM_DETECTOR_MMOD;
}

fm_status face_cli_detect(fm_ctx *ctx, const fm_engine *e, const face_cli_opts *o, const fm_image *img,
                          fm_face_box **faces, size_t *n)
{
    *faces = NULL;
    *n = 0;
    fm_detect_options opt;
    fm_detect_options_init(&opt);
    opt.detector = face_cli_detector(e, o);
    opt.refine = face_cli_refine(o);
    size_t cap = 16;
    for (;;) {
        fm_face_box *f = (fm_face_box *)malloc(cap * sizeof *f);
        if (!f)
            return FM_ERR_NO_MEMORY;
        size_t got;
        fm_status st = fm_detect(ctx, e, img, &opt, f, cap, &got);
        if (st != FM_OK) {
            free(f);
            return st;
        }
        if (got <= cap) {
            *faces = f;
            *n = got;
            return FM_OK;
        }
        free(f);
        cap = got;
    }
}

int face_cli_args(const char *cmd, int argc, char **argv, const char *usage, face_cli_opts *o, int *json,
                  const char **pos, int npos)
{
    int k = 0;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            fputs(usage, stdout);
            return FM_EXIT_OK;
        }
        int r = face_cli_common_opt(cmd, argc, argv, &i, o);
        if (r < 0)
            return FM_EXIT_USAGE;
        if (r)
            continue;
        if (strcmp(argv[i], "--json") == 0)
            *json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_error(cmd, FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        else if (k < npos)
            pos[k++] = argv[i];
        else
            return cli_error(cmd, FM_ERR_INVALID_ARGUMENT, "%s image%s only", npos == 1 ? "one" : "two",
                             npos == 1 ? "" : "s");
    }
    if (k < npos)
        return cli_error(cmd, FM_ERR_INVALID_ARGUMENT, "need %s (see --help)", npos == 1 ? "an image" : "two images");
    return -1;
}

int face_cli_largest(const fm_face_box *f, size_t n)
{
    int best = -1;
    double ba = -1;
    for (size_t i = 0; i < n; i++) {
        double a = (double)(f[i].right - f[i].left + 1) * (double)(f[i].bottom - f[i].top + 1);
        if (a > ba) {
            ba = a;
            best = (int)i;
        }
    }
    return best;
}
