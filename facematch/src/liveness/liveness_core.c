/* Liveness models (fr_liveness, fr_eye), eye aspect ratio and the eye-state probability. See liveness.h. */
#include "liveness/liveness.h"
#include "liveness/liveness_internal.h"

#include "face/face_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lv_models_config_init(lv_models_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->verify_sha256 = 1;
    cfg->need_eye = 1;
}

static fm_status load_one(fm_ctx *ctx, const lv_models_config *cfg, fm_model_id id, const char *path_override,
                          const void *buf, size_t len, int required, onnx_model_kind kind, onnx_model **out)
{
    *out = NULL;
    fm_model_desc d;
    fm_status st = fm_model_describe(id, &d);
    if (st != FM_OK)
        return fm_fail(ctx, st, "unknown model id %d", (int)id);
    uint8_t *owned = NULL;
    const uint8_t *data = (const uint8_t *)buf;
    if (!data) {
        char dir[4096], path[4400];
        if (path_override) {
            snprintf(path, sizeof path, "%s", path_override);
        } else {
            if (cfg->models_dir)
                snprintf(dir, sizeof dir, "%s", cfg->models_dir);
            else if ((st = fm_models_default_dir(dir, sizeof dir)) != FM_OK)
                return fm_fail(ctx, st, "models directory path too long");
            snprintf(path, sizeof path, "%s/%s", dir, d.file);
        }
        if (!required) {
            FILE *f = fopen(path, "rb");
            if (!f)
                return FM_OK;
            fclose(f);
        }
        int64_t maxb = ctx ? ctx->max_model_bytes : 0;
        if (maxb <= 0)
            maxb = (int64_t)1 << 30;
        st = fm_read_file(ctx, path, maxb, &owned, &len);
        if (st != FM_OK) {
            if (st == FM_ERR_IO)
                return fm_fail(ctx, FM_ERR_MODEL_MISSING, "liveness: model %s not found at %s", d.name, path);
            return st;
        }
        data = owned;
    }
    if (cfg->verify_sha256 && (st = fm_model_verify_memory(ctx, id, data, len)) != FM_OK) {
        free(owned);
        return st;
    }
    st = onnx_model_load(ctx, data, len, out);
    free(owned);
    if (st == FM_OK && (st = onnx_model_check(ctx, *out, kind)) != FM_OK) {
        onnx_model_free(*out);
        *out = NULL;
    }
    return st;
}

fm_status lv_models_create(fm_ctx *ctx, const lv_models_config *cfg_in, lv_models **out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_models_create: out is NULL");
    *out = NULL;
    lv_models_config cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        lv_models_config_init(&cfg);
    lv_models *m = (lv_models *)calloc(1, sizeof *m);
    if (!m)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    fm_status st = load_one(ctx, &cfg, FM_MODEL_FP_LIVENESS, cfg.liveness_path, cfg.liveness_buf, cfg.liveness_len,
                            1, ONNX_LIVENESS, &m->live);
    if (st == FM_OK)
        st = load_one(ctx, &cfg, FM_MODEL_FP_EYE, cfg.eye_path, cfg.eye_buf, cfg.eye_len, cfg.need_eye, ONNX_EYE,
                      &m->eye);
    if (st != FM_OK) {
        lv_models_destroy(m);
        return st;
    }
    *out = m;
    return FM_OK;
}

void lv_models_destroy(lv_models *m)
{
    if (!m)
        return;
    onnx_model_free(m->live);
    onnx_model_free(m->eye);
    free(m);
}

int lv_models_has_eye(const lv_models *m) { return m && m->eye ? 1 : 0; }

/* ---- eyes ---------------------------------------------------------------------------------------------------- */

static double dist(fm_point a, fm_point b) { return hypot((double)a.x - b.x, (double)a.y - b.y); }

double lv_ear(const fm_point pts[68], int which)
{
    if (!pts || (which != 0 && which != 1))
        return NAN;
    const fm_point *p = pts + (which ? 42 : 36);
    double w = dist(p[0], p[3]);
    double v = dist(p[1], p[5]) + dist(p[2], p[4]);
    if (!(w > 1e-6) || !isfinite(v))
        return NAN;
    return v / (2.0 * w);
}

double lv_ear_mean(const fm_point pts[68])
{
    double a = lv_ear(pts, 0), b = lv_ear(pts, 1);
    return (isfinite(a) && isfinite(b)) ? 0.5 * (a + b) : NAN;
}

fm_status lv_rgb_view(fm_ctx *ctx, const fm_image *img, onnx_rgb_view *v, fm_image **tmp)
{
    const uint8_t *rgb;
    int w, h, stride;
    fm_status st = fm_face_rgb_view(ctx, img, &rgb, &w, &h, &stride, tmp);
    if (st != FM_OK)
        return st;
    v->rgb = rgb;
    v->width = w;
    v->height = h;
    v->stride = (size_t)stride;
    return FM_OK;
}

fm_status lv_eye_closed(fm_ctx *ctx, const lv_models *m, nn_arena *arena, const fm_image *img,
                        const fm_point pts[68], double *p_closed)
{
    if (!p_closed)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_eye_closed: output is NULL");
    *p_closed = NAN;
    if (!m || !arena || !img || !pts)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_eye_closed: NULL argument");
    if (!m->eye)
        return FM_OK;
    float p136[136];
    for (int i = 0; i < 68; i++) {
        if (!isfinite(pts[i].x) || !isfinite(pts[i].y) || fabsf(pts[i].x) > 1e6f || fabsf(pts[i].y) > 1e6f)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_eye_closed: landmark %d is not finite", i);
        p136[2 * i] = pts[i].x;
        p136[2 * i + 1] = pts[i].y;
    }
    onnx_rgb_view v;
    fm_image *tmp = NULL;
    fm_status st = lv_rgb_view(ctx, img, &v, &tmp);
    if (st != FM_OK)
        return st;
    int64_t thr = ctx ? ctx->threads : 1;
    double sum = 0;
    for (int e = 0; e < 2 && st == FM_OK; e++) {
        float probs[2];
        st = onnx_eye(ctx, m->eye, arena, &v, p136, e, thr > 0 ? (int)thr : 1, probs);
        if (st == FM_OK)
            sum += probs[LV_EYE_CLOSED_INDEX];
    }
    fm_image_destroy(tmp);
    if (st == FM_OK)
        *p_closed = sum / 2;
    return st;
}
