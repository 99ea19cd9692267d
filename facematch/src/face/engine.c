/* The face engine and the public face pipeline API (facematch.h, [issue 3] section). */
#include "face_internal.h"

#include "image/image_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void fm_engine_config_init(fm_engine_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->models = FM_ENGINE_DEFAULT_MODELS;
    cfg->verify_sha256 = 1;
}

void fm_engine_destroy(fm_engine *e)
{
    if (!e)
        return;
    fm_resnet_free(e->resnet);
    fm_sp_free(e->sp5);
    fm_sp_free(e->sp68);
    fm_mmod_free(e->mmod);
    fm_hog_free(e->hog);
    onnx_model_free(e->fast);
    onnx_model_free(e->fr512);
    onnx_model_free(e->lm68);
    free(e->models_dir);
    free(e);
}

const char *fm_engine_models_dir(const fm_engine *e) { return e ? e->models_dir : NULL; }

int fm_engine_has_model(const fm_engine *e, fm_model_id id)
{
    if (!e || (int)id < 0 || id >= FM_MODEL_COUNT)
        return 0;
    return (e->loaded & FM_ENGINE_MODEL_BIT(id)) != 0;
}

static fm_status load_sp(fm_ctx *ctx, const char *what, const uint8_t *data, size_t len, int want_parts,
                         fm_shape_predictor **out)
{
    dser r;
    dser_init(&r, data, len, what);
    if (fm_sp_load(&r, out))
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "%s", r.err);
    if ((*out)->nparts != want_parts) {
        int n = (*out)->nparts;
        fm_sp_free(*out);
        *out = NULL;
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "%s: predicts %d points, expected %d", what, n, want_parts);
    }
    return FM_OK;
}

static fm_status load_onnx(fm_ctx *ctx, const uint8_t *data, size_t len, onnx_model_kind kind, onnx_model **out)
{
    fm_status st = onnx_model_load(ctx, data, len, out);
    if (st == FM_OK && (st = onnx_model_check(ctx, *out, kind)) != FM_OK) {
        onnx_model_free(*out);
        *out = NULL;
    }
    return st;
}

fm_status fm_engine_create(fm_ctx *ctx, const fm_engine_config *cfg_in, fm_engine **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_engine_create: out is NULL");
    *out = NULL;
    fm_engine_config cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        fm_engine_config_init(&cfg);
    uint32_t want = cfg.models ? cfg.models : FM_ENGINE_DEFAULT_MODELS;
    if (want & ~((1u << FM_MODEL_COUNT) - 1))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_engine_create: unknown model bits 0x%x", want);
    char dirbuf[4096];
    const char *dir = cfg.models_dir;
    if (!dir) {
        if (fm_models_default_dir(dirbuf, sizeof dirbuf) != FM_OK)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "models directory path too long");
        dir = dirbuf;
    }
    fm_engine *e = (fm_engine *)calloc(1, sizeof *e);
    if (!e)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    size_t dlen = strlen(dir);
    if (!(e->models_dir = (char *)malloc(dlen + 1))) {
        free(e);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(e->models_dir, dir, dlen + 1);
    int64_t maxb = ctx ? fm_ctx_get(ctx, FM_PARAM_MAX_MODEL_BYTES) : (int64_t)256 << 20;
    fm_status st = FM_OK;
    for (int id = 0; id < FM_MODEL_COUNT && st == FM_OK; id++) {
        if (!(want & FM_ENGINE_MODEL_BIT(id)))
            continue;
        fm_model_desc d;
        if (fm_model_describe((fm_model_id)id, &d) != FM_OK)
            continue;
        const uint8_t *data;
        size_t len;
        uint8_t *owned = NULL;
        if (cfg.buffers[id]) {
            data = (const uint8_t *)cfg.buffers[id];
            len = cfg.sizes[id];
            if ((int64_t)len > maxb) {
                st = fm_fail(ctx, FM_ERR_LIMIT, "model %s: %zu bytes exceeds the limit of %lld", d.name, len,
                             (long long)maxb);
                break;
            }
        } else {
            char path[4400];
            if (cfg.paths[id])
                snprintf(path, sizeof path, "%s", cfg.paths[id]);
            else
                snprintf(path, sizeof path, "%s/%s", dir, d.file);
            if (cfg.optional_missing) {
                FILE *f = fopen(path, "rb");
                if (!f)
                    continue;
                fclose(f);
            }
            st = fm_read_file(ctx, path, maxb, &owned, &len);
            if (st != FM_OK)
                break;
            data = owned;
        }
        if (cfg.verify_sha256)
            st = fm_model_verify_memory(ctx, (fm_model_id)id, data, len);
        if (st == FM_OK) {
            switch (id) {
            case FM_MODEL_DLIB_RESNET:
                st = fm_resnet_load(ctx, data, len, &e->resnet);
                break;
            case FM_MODEL_DLIB_SP5:
                st = load_sp(ctx, d.name, data, len, 5, &e->sp5);
                break;
            case FM_MODEL_DLIB_SP68:
                st = load_sp(ctx, d.name, data, len, 68, &e->sp68);
                break;
            case FM_MODEL_DLIB_MMOD:
                st = fm_mmod_load(ctx, data, len, &e->mmod);
                break;
            case FM_MODEL_DLIB_HOG:
                st = fm_hog_load(ctx, data, len, &e->hog);
                break;
            case FM_MODEL_FP_DETECT:
                st = load_onnx(ctx, data, len, ONNX_ULTRAFACE, &e->fast);
                break;
            case FM_MODEL_FP_FEATURE:
                st = load_onnx(ctx, data, len, ONNX_FEATURE512, &e->fr512);
                break;
            case FM_MODEL_FP_LANDMARK:
                st = load_onnx(ctx, data, len, ONNX_LANDMARK68, &e->lm68);
                break;
            default:
                /* liveness / eye / pose / BlazeFace models belong to the live session's engine part */
                st = fm_fail(ctx, FM_ERR_UNSUPPORTED, "model %s is not used by the face engine", d.name);
                break;
            }
        }
        free(owned);
        if (st == FM_OK)
            e->loaded |= FM_ENGINE_MODEL_BIT(id);
    }
    if (st != FM_OK) {
        fm_engine_destroy(e);
        return st;
    }
    *out = e;
    return FM_OK;
}

fm_status fm_face_rgb_view(fm_ctx *ctx, const fm_image *img, const uint8_t **rgb, int *w, int *h, int *stride,
                           fm_image **tmp)
{
    *tmp = NULL;
    if (!img)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "image is NULL");
    if (img->fmt != FM_PIX_RGB24 || img->rotation != 0) {
        fm_status st = fm_image_convert(ctx, img, FM_PIX_RGB24, tmp);
        if (st != FM_OK)
            return st;
        img = *tmp;
    }
    *rgb = img->planes[0];
    *stride = img->strides[0];
    *w = img->width;
    *h = img->height;
    return FM_OK;
}

/* ---- per-ctx network scratch -------------------------------------------------------------------------------- */

/* The network arena for one call: the ctx's, kept between calls (a ctx belongs to one thread at a time, the engine
 * stays immutable), or without a ctx a fresh one that scratch_give wipes and frees. Never nested. */
static void scratch_take(fm_ctx *ctx, nn_arena *a)
{
    a->base = ctx ? ctx->nn_scratch : NULL;
    a->cap = ctx ? ctx->nn_scratch_cap : 0;
}

static void scratch_give(fm_ctx *ctx, nn_arena *a)
{
    if (ctx) {
        ctx->nn_scratch = a->base;
        ctx->nn_scratch_cap = a->cap;
    } else if (a->base) {
        fm_wipe(a->base, a->cap * sizeof(float));
        nn_arena_free(a);
    }
}

/* ---- detection ---------------------------------------------------------------------------------------------- */

void fm_detect_options_init(fm_detect_options *opt)
{
    if (!opt)
        return;
    memset(opt, 0, sizeof *opt);
    opt->detector = FM_DETECTOR_FAST;
    opt->min_score = NAN; /* detector default */
    opt->nms_iou = 0.3f;
}

/* UltraFace boxes (continuous, exclusive far edge) -> the dlib detector's box convention, so that they feed the
 * 5-point shape predictor as it was trained. The mapping was fitted on ../shared/data/faces (images where dlib's
 * HOG detector finds one face and UltraFace overlaps it, 191 images; bench/face_calibrate_fast.py): medians of
 * the centre shift and size scale relative to the
 * UltraFace box, dlib boxes being square. Mean IoU with the dlib box: 0.72 before, 0.78 after. */
#define FAST_DX (-0.0104)
#define FAST_DY 0.0430
#define FAST_SCALE 0.9409

void fm_fast_box_to_dlib(float x1, float y1, float x2, float y2, fm_face_box *b)
{
    double w = (double)x2 - x1, h = (double)y2 - y1;
    double cx = (x1 + (double)x2) / 2 + FAST_DX * w, cy = (y1 + (double)y2) / 2 + FAST_DY * h;
    double side = FAST_SCALE * sqrt(w > 0 && h > 0 ? w * h : 0);
    b->left = (float)(cx - side / 2);
    b->top = (float)(cy - side / 2);
    b->right = (float)(cx + side / 2 - 1);
    b->bottom = (float)(cy + side / 2 - 1);
    b->score = 0;
}

/* dlib's HOG detector box estimated from 5 dlib landmarks: with m the points' centroid and s their RMS distance
 * from it, the box is the square of side REFINE_SIDE * s centred at m + s * (REFINE_DX, REFINE_DY). Medians over
 * the 194 images of ../shared/data/faces where dlib's HOG detector finds exactly one face, with dlib's 5 points on
 * that box (tests/oracle/face_oracle; bench/face_calibrate_fast.py --refine). Tuning data = the evaluation images:
 * not a held-out fit (leave-one-out changes the one-step mean IoU by < 0.001). */
#define REFINE_DX (-0.0226)
#define REFINE_DY 0.5830
#define REFINE_SIDE 4.1170

int fm_box_from_five(const fm_point p[5], fm_face_box *b)
{
    double mx = 0, my = 0, ss = 0;
    for (int i = 0; i < 5; i++) {
        mx += p[i].x / 5.0;
        my += p[i].y / 5.0;
    }
    for (int i = 0; i < 5; i++)
        ss += ((p[i].x - mx) * (p[i].x - mx) + (p[i].y - my) * (p[i].y - my)) / 5.0;
    double s = sqrt(ss);
    if (!(s > 0.5) || !isfinite(s) || !isfinite(mx) || !isfinite(my))
        return -1;
    double cx = mx + REFINE_DX * s, cy = my + REFINE_DY * s, side = REFINE_SIDE * s;
    b->left = (float)(cx - side / 2);
    b->top = (float)(cy - side / 2);
    b->right = (float)(cx + side / 2 - 1);
    b->bottom = (float)(cy + side / 2 - 1);
    return 0;
}

static int cmp_box(const void *a, const void *b)
{
    const fm_face_box *x = (const fm_face_box *)a, *y = (const fm_face_box *)b;
    return (x->score < y->score) - (x->score > y->score);
}

/* The detectors: each runs on an upright RGB view and returns every box it finds (dlib convention, with score) in
 * *out (malloc'd, may be NULL when *n == 0). */
typedef fm_status (*detect_fn)(fm_ctx *ctx, const fm_engine *e, const uint8_t *rgb, int w, int h, int stride,
                               const fm_detect_options *opt, int threads, fm_face_box **out, size_t *n);

static fm_status detect_mmod(fm_ctx *ctx, const fm_engine *e, const uint8_t *rgb, int w, int h, int stride,
                             const fm_detect_options *opt, int threads, fm_face_box **out, size_t *n)
{
    fm_mmod_det *d = NULL;
    size_t nd = 0;
    fm_status st = fm_mmod_detect(e->mmod, ctx, rgb, w, h, stride, opt->min_score, opt->upsample, &d, &nd, threads);
    if (st != FM_OK)
        return st;
    if (nd && !(*out = (fm_face_box *)calloc(nd, sizeof **out))) {
        free(d);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < nd; i++) {
        fm_face_box *b = &(*out)[i];
        b->left = (float)d[i].l;
        b->top = (float)d[i].t;
        b->right = (float)d[i].r;
        b->bottom = (float)d[i].b;
        b->score = (float)d[i].score;
    }
    *n = nd;
    free(d);
    return FM_OK;
}

static fm_status detect_fast(fm_ctx *ctx, const fm_engine *e, const uint8_t *rgb, int w, int h, int stride,
                             const fm_detect_options *opt, int threads, fm_face_box **out, size_t *n)
{
    onnx_rgb_view v = {rgb, w, h, (size_t)stride};
    onnx_detect_opts o = {opt->min_score, opt->nms_iou, threads < 1 ? 1 : threads};
    if (!(o.score_threshold > 0))
        o.score_threshold = 1e-6f;
    if (!(o.nms_threshold > 0))
        o.nms_threshold = 1e-6f;
    nn_arena arena;
    scratch_take(ctx, &arena);
    int capf = 64, got = 0;
    onnx_face *of = NULL;
    fm_status st;
    for (;;) {
        of = (onnx_face *)malloc((size_t)capf * sizeof *of);
        if (!of) {
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
            break;
        }
        st = onnx_ultraface_detect(ctx, e->fast, &arena, &v, &o, of, capf, &got);
        if (st != FM_OK || got <= capf)
            break;
        free(of);
        of = NULL;
        capf = got;
    }
    scratch_give(ctx, &arena);
    if (st == FM_OK && got > 0 && !(*out = (fm_face_box *)calloc((size_t)got, sizeof **out)))
        st = fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; st == FM_OK && i < got; i++) {
        fm_fast_box_to_dlib(of[i].x1, of[i].y1, of[i].x2, of[i].y2, &(*out)[i]);
        (*out)[i].score = of[i].score;
    }
    if (st == FM_OK)
        *n = (size_t)got;
    free(of);
    return st;
}

/* Box refinement: fit the 5 points in the box, replace the box by the dlib box estimated from them, `rounds`
 * times. A box whose points are degenerate is left as it is. */
static fm_status refine_boxes(fm_ctx *ctx, const fm_engine *e, const uint8_t *rgb, int w, int h, int stride,
                              fm_face_box *f, size_t n, int rounds)
{
    fm_sp_image si = {rgb, w, h, stride, 3};
    for (size_t i = 0; i < n; i++) {
        for (int r = 0; r < rounds; r++) {
            if (!(fabsf(f[i].left) < 1e7f && fabsf(f[i].top) < 1e7f && fabsf(f[i].right) < 1e7f &&
                  fabsf(f[i].bottom) < 1e7f))
                break;
            float xy[10];
            fm_point p[5];
            if (fm_sp_predict(e->sp5, &si, (long)floor(f[i].left + 0.5), (long)floor(f[i].top + 0.5),
                              (long)floor(f[i].right + 0.5), (long)floor(f[i].bottom + 0.5), xy))
                return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
            for (int k = 0; k < 5; k++) {
                p[k].x = xy[2 * k];
                p[k].y = xy[2 * k + 1];
            }
            fm_face_box b = f[i];
            if (fm_box_from_five(p, &b))
                break;
            f[i] = b;
        }
    }
    return FM_OK;
}

/* fm_detect for one detector (not AUTO): view, detection, min_size, refinement, best score first. */
static fm_status detect_one(fm_ctx *ctx, const fm_engine *e, const fm_image *img, const fm_detect_options *opt,
                            fm_face_box *faces, size_t cap, size_t *count)
{
    int threads = ctx ? (int)fm_ctx_get(ctx, FM_PARAM_THREADS) : 1;
    detect_fn fn;
    if (opt->detector == FM_DETECTOR_MMOD) {
        if (!e->mmod)
            return fm_fail(ctx, FM_ERR_MODEL_MISSING, "the MMOD detector (mmod_human_face_detector.dat) is not loaded");
        if (opt->upsample < 0 || opt->upsample > 1)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "upsample must be 0 or 1");
        fn = detect_mmod;
    } else if (opt->detector == FM_DETECTOR_FAST) {
        if (!e->fast)
            return fm_fail(ctx, FM_ERR_MODEL_MISSING, "the fast detector (fr_detect.onnx) is not loaded");
        fn = detect_fast;
    } else if (opt->detector == FM_DETECTOR_HOG) { /* hog.c */
        if (!e->hog)
            return fm_fail(ctx, FM_ERR_MODEL_MISSING,
                           "the HOG detector (dlib_frontal_face_detector.dat, made by models/fetch) is not loaded");
        fn = fm_hog_detect_boxes;
    } else {
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown detector %d", (int)opt->detector);
    }
    if (opt->refine && !e->sp5)
        return fm_fail(ctx, FM_ERR_MODEL_MISSING, "box refinement needs the 5-point shape predictor");
    const uint8_t *rgb = NULL;
    int w = 0, h = 0, stride = 0;
    fm_image *tmp = NULL;
    fm_status st = fm_face_rgb_view(ctx, img, &rgb, &w, &h, &stride, &tmp);
    if (st != FM_OK)
        return st;
    fm_face_box *f = NULL;
    size_t n = 0, k = 0;
    st = fn(ctx, e, rgb, w, h, stride, opt, threads, &f, &n);
    for (size_t i = 0; st == FM_OK && i < n; i++)
        if (f[i].right - f[i].left + 1 >= opt->min_size)
            f[k++] = f[i];
    if (st == FM_OK && opt->refine)
        st = refine_boxes(ctx, e, rgb, w, h, stride, f, k, opt->refine);
    fm_image_destroy(tmp);
    if (st == FM_OK) {
        if (k)
            qsort(f, k, sizeof *f, cmp_box);
        if (faces && k)
            memcpy(faces, f, (k < cap ? k : cap) * sizeof *f);
        *count = k;
    }
    free(f);
    return st;
}

fm_status fm_detect(fm_ctx *ctx, const fm_engine *engine, const fm_image *img, const fm_detect_options *opt_in,
                    fm_face_box *faces, size_t cap, size_t *count)
{
    if (!engine || !img || !count || (cap && !faces))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_detect: NULL argument");
    *count = 0;
    fm_detect_options opt;
    if (opt_in)
        opt = *opt_in;
    else
        fm_detect_options_init(&opt);
    const int fallback = opt.detector == FM_DETECTOR_AUTO || opt.detector == FM_DETECTOR_PHOTO;
    if (isnan(opt.min_score))
        opt.min_score = (opt.detector == FM_DETECTOR_MMOD || opt.detector == FM_DETECTOR_HOG) ? 0.0f : 0.7f;
    if (!isfinite(opt.min_score) || !(opt.nms_iou >= 0 && opt.nms_iou <= 1) || opt.min_size < 0 || opt.refine < 0 ||
        opt.refine > FM_DETECT_MAX_REFINE)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_detect: invalid options");
    if (!fallback)
        return detect_one(ctx, engine, img, &opt, faces, cap, count);
    if (opt.detector == FM_DETECTOR_AUTO && (!engine->fast || !engine->mmod))
        return fm_fail(ctx, FM_ERR_MODEL_MISSING, "FM_DETECTOR_AUTO needs fr_detect.onnx and the MMOD model");
    if (opt.detector == FM_DETECTOR_PHOTO && (!engine->hog || !engine->mmod))
        return fm_fail(ctx, FM_ERR_MODEL_MISSING, "FM_DETECTOR_PHOTO needs the HOG and the MMOD models");
    /* first stage: its own default min_score unless one was given */
    opt.detector = opt.detector == FM_DETECTOR_AUTO ? FM_DETECTOR_FAST : FM_DETECTOR_HOG;
    if (!opt_in || isnan(opt_in->min_score))
        opt.min_score = opt.detector == FM_DETECTOR_HOG ? 0.0f : 0.7f;
    fm_status st = detect_one(ctx, engine, img, &opt, faces, cap, count);
    if (st != FM_OK || *count > 0)
        return st;
    /* MMOD on a copy of at most `limit` px on a side, boxes mapped back */
    opt.detector = FM_DETECTOR_MMOD;
    opt.min_score = 0.0f; /* MMOD's own default; a fast-detector min_score means nothing to it */
    const int limit = 1024;
    int w = fm_image_width(img), h = fm_image_height(img);
    if (w <= limit && h <= limit)
        return detect_one(ctx, engine, img, &opt, faces, cap, count);
    double sc = (double)limit / (w > h ? w : h);
    int sw = (int)(w * sc + 0.5), sh = (int)(h * sc + 0.5);
    sw = sw < 1 ? 1 : sw;
    sh = sh < 1 ? 1 : sh;
    fm_image *small = NULL;
    st = fm_image_resize(ctx, img, sw, sh, FM_RESIZE_AREA, &small);
    if (st != FM_OK)
        return st;
    st = detect_one(ctx, engine, small, &opt, faces, cap, count);
    fm_image_destroy(small);
    if (st != FM_OK)
        return st;
    const double fx = (double)w / sw, fy = (double)h / sh;
    for (size_t i = 0; i < *count && i < cap; i++) {
        /* inclusive pixel boxes: scale the continuous extent [l, r+1) */
        faces[i].left = (float)(faces[i].left * fx);
        faces[i].top = (float)(faces[i].top * fy);
        faces[i].right = (float)((faces[i].right + 1) * fx - 1);
        faces[i].bottom = (float)((faces[i].bottom + 1) * fy - 1);
    }
    return FM_OK;
}

/* ---- landmarks ---------------------------------------------------------------------------------------------- */

static int box_ok(const fm_face_box *b)
{
    return b && isfinite(b->left) && isfinite(b->top) && isfinite(b->right) && isfinite(b->bottom) &&
           b->right >= b->left && b->bottom >= b->top && fabsf(b->left) < 1e7f && fabsf(b->top) < 1e7f &&
           fabsf(b->right) < 1e7f && fabsf(b->bottom) < 1e7f;
}

fm_status fm_landmarks(fm_ctx *ctx, const fm_engine *engine, const fm_image *img, const fm_face_box *box,
                       int npoints, fm_point *pts)
{
    if (!engine || !img || !pts)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_landmarks: NULL argument");
    if (!box_ok(box))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_landmarks: invalid box");
    const fm_shape_predictor *sp;
    if (npoints == 5)
        sp = engine->sp5;
    else if (npoints == 68)
        sp = engine->sp68;
    else
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_landmarks: npoints must be 5 or 68, not %d", npoints);
    if (!sp)
        return fm_fail(ctx, FM_ERR_MODEL_MISSING, "the %d-point shape predictor is not loaded", npoints);
    fm_image *tmp = NULL;
    const fm_image *v = img;
    if (img->rotation != 0 || !fmi_is_packed(img->fmt)) {
        fm_status st = fm_image_convert(ctx, img, FM_PIX_RGB24, &tmp);
        if (st != FM_OK)
            return st;
        v = tmp;
    }
    fm_sp_image si = {v->planes[0], v->width, v->height, v->strides[0], fm_pixfmt_bpp(v->fmt)};
    float xy[2 * 68];
    long l = (long)floor(box->left + 0.5), t = (long)floor(box->top + 0.5), r = (long)floor(box->right + 0.5),
         b = (long)floor(box->bottom + 0.5);
    int rc = fm_sp_predict(sp, &si, l, t, r, b, xy);
    fm_image_destroy(tmp);
    if (rc)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    for (int i = 0; i < npoints; i++) {
        pts[i].x = xy[2 * i];
        pts[i].y = xy[2 * i + 1];
    }
    return FM_OK;
}

/* ---- alignment ---------------------------------------------------------------------------------------------- */

fm_status fm_face_chip(fm_ctx *ctx, const fm_image *img, const fm_point *pts, int npoints, int size, double padding,
                       fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_chip: out is NULL");
    *out = NULL;
    if (!img || !pts)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_chip: NULL argument");
    if (npoints != 5 && npoints != 68)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_chip: npoints must be 5 or 68");
    if (size < 2 || size > 4096 || !(padding >= 0 && padding <= 10))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_chip: size must be 2..4096 and padding 0..10");
    float xy[2 * 68];
    for (int i = 0; i < npoints; i++) {
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y) || fabsf(pts[i].x) > 1e7f || fabsf(pts[i].y) > 1e7f)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_chip: point %d is not a finite coordinate", i);
        xy[2 * i] = pts[i].x;
        xy[2 * i + 1] = pts[i].y;
    }
    fm_chip_details d;
    if (fm_chip_details_from_points(xy, npoints, size, padding, &d))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_chip: bad landmarks");
    const uint8_t *rgb = NULL;
    int w = 0, h = 0, stride = 0;
    fm_image *tmp = NULL;
    fm_status st = fm_face_rgb_view(ctx, img, &rgb, &w, &h, &stride, &tmp);
    if (st != FM_OK)
        return st;
    fm_image *chip;
    st = fmi_alloc(ctx, FM_PIX_RGB24, size, size, 0, &chip);
    if (st == FM_OK) {
        /* fmi_alloc gives packed rows of width*3 bytes */
        if (chip->strides[0] != size * 3 || fm_chip_extract_rgb(rgb, w, h, stride, &d, chip->owned)) {
            fm_image_destroy(chip);
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "fm_face_chip: out of memory");
        } else {
            *out = chip;
        }
    }
    fm_image_destroy(tmp);
    return st;
}

static const double arcface112[5][2] = {{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366},
                                        {41.5493, 92.3655}, {70.7299, 92.2041}};

fm_status fm_face_align112(fm_ctx *ctx, const fm_image *img, const fm_point five[5], fm_image **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_align112: out is NULL");
    *out = NULL;
    if (!img || !five)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_align112: NULL argument");
    double from[10], to[10];
    for (int i = 0; i < 5; i++) {
        if (!isfinite(five[i].x) || !isfinite(five[i].y))
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_face_align112: point %d is not finite", i);
        /* map template (destination) -> image (source) */
        from[2 * i] = arcface112[i][0];
        from[2 * i + 1] = arcface112[i][1];
        to[2 * i] = five[i].x;
        to[2 * i + 1] = five[i].y;
    }
    double m[6];
    fm_similarity_transform(from, to, 5, m);
    const uint8_t *rgb = NULL;
    int w = 0, h = 0, stride = 0;
    fm_image *tmp = NULL;
    fm_status st = fm_face_rgb_view(ctx, img, &rgb, &w, &h, &stride, &tmp);
    if (st != FM_OK)
        return st;
    fm_image *chip;
    st = fmi_alloc(ctx, FM_PIX_RGB24, 112, 112, 0, &chip);
    if (st == FM_OK) {
        fm_warp_bilinear(rgb, w, h, stride, 3, m, chip->owned, 112, 112);
        *out = chip;
    }
    fm_image_destroy(tmp);
    return st;
}

void fm_landmarks68_to_five(const fm_point p[68], fm_point five[5])
{
    if (!p || !five)
        return;
    for (int e = 0; e < 2; e++) {
        float sx = 0, sy = 0;
        for (int i = 36 + 6 * e; i < 42 + 6 * e; i++) {
            sx += p[i].x;
            sy += p[i].y;
        }
        five[e].x = sx / 6;
        five[e].y = sy / 6;
    }
    five[2] = p[30];
    five[3] = p[48];
    five[4] = p[54];
}

/* ---- embedding ---------------------------------------------------------------------------------------------- */

int fm_embedder_dim(fm_embedder e)
{
    return e == FM_EMBED_DLIB ? 128 : e == FM_EMBED_FR512 ? 512 : 0;
}

/* What every embedder checks before running: its model is loaded and the chip has its input size; then the
 * chip's upright RGB view (*tmp: a converted copy to destroy, or NULL). */
static fm_status embed_input(fm_ctx *ctx, const void *model, const char *model_name, const fm_image *chip, int size,
                             const uint8_t **rgb, int *stride, fm_image **tmp)
{
    *tmp = NULL;
    if (!model)
        return fm_fail(ctx, FM_ERR_MODEL_MISSING, "the %s model is not loaded", model_name);
    int w = fm_image_width(chip), h = fm_image_height(chip);
    if (w != size || h != size)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "the %s embedder needs a %dx%d aligned face chip, got %dx%d",
                       model_name, size, size, w, h);
    return fm_face_rgb_view(ctx, chip, rgb, &w, &h, stride, tmp);
}

fm_status fm_embed_chip(fm_ctx *ctx, const fm_engine *engine, fm_embedder embedder, const fm_image *chip,
                        float *desc, size_t cap)
{
    if (!engine || !chip || !desc)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_embed_chip: NULL argument");
    int dim = fm_embedder_dim(embedder);
    if (!dim)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown embedder %d", (int)embedder);
    if (cap < (size_t)dim)
        return fm_fail(ctx, FM_ERR_BUFFER_TOO_SMALL, "descriptor buffer holds %zu floats, %d needed", cap, dim);
    int threads = ctx ? (int)fm_ctx_get(ctx, FM_PARAM_THREADS) : 1;
    threads = threads < 1 ? 1 : threads;
    const uint8_t *rgb;
    int stride;
    fm_image *tmp;
    fm_status st;
    if (embedder == FM_EMBED_DLIB) {
        st = embed_input(ctx, engine->resnet, "dlib ResNet", chip, 150, &rgb, &stride, &tmp);
        if (st == FM_OK)
            st = fm_resnet_embed(engine->resnet, ctx, rgb, stride, desc, threads);
        fm_image_destroy(tmp);
        return st;
    }
    st = embed_input(ctx, engine->fr512, "fr_feature", chip, 112, &rgb, &stride, &tmp);
    if (st != FM_OK)
        return st;
    nn_arena arena;
    scratch_take(ctx, &arena);
    float norm = 0;
    st = onnx_feature512(ctx, engine->fr512, &arena, rgb, (size_t)stride, threads, desc, &norm);
    scratch_give(ctx, &arena);
    fm_image_destroy(tmp);
    if (st != FM_OK)
        return st;
    if (!(norm > 0) || !isfinite(norm))
        return fm_fail(ctx, FM_ERR_INTERNAL, "512-d feature has norm %g", (double)norm);
    for (int i = 0; i < 512; i++)
        desc[i] /= norm;
    return FM_OK;
}

fm_status fm_embed_face(fm_ctx *ctx, const fm_engine *engine, fm_embedder embedder, const fm_image *img,
                        const fm_face_box *box, float *desc, size_t cap)
{
    fm_status st;
    fm_image *chip = NULL;
    if (embedder == FM_EMBED_DLIB) {
        fm_point p[5];
        st = fm_landmarks(ctx, engine, img, box, 5, p);
        if (st != FM_OK)
            return st;
        st = fm_face_chip(ctx, img, p, 5, 150, 0.25, &chip);
    } else if (embedder == FM_EMBED_FR512) {
        fm_point p[68], five[5];
        st = fm_landmarks(ctx, engine, img, box, 68, p);
        if (st != FM_OK)
            return st;
        fm_landmarks68_to_five(p, five);
        st = fm_face_align112(ctx, img, five, &chip);
    } else {
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown embedder %d", (int)embedder);
    }
    if (st != FM_OK)
        return st;
    st = fm_embed_chip(ctx, engine, embedder, chip, desc, cap);
    /* the chip is a face image: wipe it */
    fm_wipe(chip->owned, chip->owned_size);
    fm_image_destroy(chip);
    return st;
}

/* ---- comparison --------------------------------------------------------------------------------------------- */

double fm_default_threshold(fm_embedder e)
{
    if (e == FM_EMBED_DLIB)
        return 0.6;
    if (e == FM_EMBED_FR512)
        return 0.6; /* 1 - cosine; see README "face" for measured operating points */
    return -1;
}

fm_status fm_compare(fm_ctx *ctx, fm_embedder embedder, const float *a, const float *b, size_t dim, double threshold,
                     fm_compare_result *res)
{
    if (!a || !b || !res)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_compare: NULL argument");
    int want = fm_embedder_dim(embedder);
    if (!want)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "unknown embedder %d", (int)embedder);
    if (dim != (size_t)want)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "descriptor length %zu, expected %d", dim, want);
    if (threshold <= 0 || !isfinite(threshold))
        threshold = fm_default_threshold(embedder);
    double d = 0;
    if (embedder == FM_EMBED_DLIB) {
        for (size_t i = 0; i < dim; i++) {
            if (!isfinite(a[i]) || !isfinite(b[i]))
                return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "descriptor value %zu is not finite", i);
            double t = (double)a[i] - (double)b[i];
            d += t * t;
        }
        d = sqrt(d);
    } else {
        double ab = 0, aa = 0, bb = 0;
        for (size_t i = 0; i < dim; i++) {
            if (!isfinite(a[i]) || !isfinite(b[i]))
                return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "descriptor value %zu is not finite", i);
            ab += (double)a[i] * b[i];
            aa += (double)a[i] * a[i];
            bb += (double)b[i] * b[i];
        }
        if (aa == 0 || bb == 0)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "zero descriptor");
        d = 1 - ab / sqrt(aa * bb);
    }
    res->distance = d;
    res->threshold = threshold;
    res->match = d < threshold;
    /* logistic in distance, 0.5 at the threshold; slope chosen so that +-0.1 around the threshold spans ~0.1..0.9 */
    res->similarity = 1.0 / (1.0 + exp((d - threshold) * 22.0));
    return FM_OK;
}
