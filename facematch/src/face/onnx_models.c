/* onnx_models.c — preprocessing, inference and decoding for the ONNX face models (see onnx_models.h). */
#include "face/onnx_models.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- model shape checks ------------------------------------------------------------------------------------------ */

static int dims_are(const int64_t *d, int rank, int want_rank, const int64_t *want)
{
    if (rank != want_rank)
        return 0;
    for (int i = 0; i < rank; i++)
        if (d[i] != want[i])
            return 0;
    return 1;
}

fm_status onnx_model_check(fm_ctx *ctx, const onnx_model *m, onnx_model_kind kind)
{
    static const int64_t in_shapes[6][4] = {{1, 3, 240, 320}, {1, 1, 64, 64}, {1, 3, 112, 112},
                                            {1, 3, 128, 128}, {1, 1, 24, 24}, {1, 128, 128, 3}};
    static const size_t out_sizes[6][4] = {{8840, 17680}, {136}, {512}, {3}, {2}, {512, 384, 8192, 6144}};
    static const int n_out[6] = {2, 1, 1, 1, 1, 4};
    static const char *names[6] = {"fr_detect (UltraFace)", "fr_landmark", "fr_feature", "fr_liveness", "fr_eye",
                                   "BlazeFace front"};
    if (!m || (int)kind < 0 || (int)kind > 5)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx model check: bad arguments");
    if (!dims_are(onnx_model_input_dims(m), onnx_model_input_rank(m), 4, in_shapes[kind]) ||
        onnx_model_num_outputs(m) != n_out[kind])
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "model is not %s (input or output count differs)", names[kind]);
    for (int i = 0; i < n_out[kind]; i++)
        if (onnx_model_output_size(m, i) != out_sizes[kind][i])
            return fm_fail(ctx, FM_ERR_MODEL_INVALID, "model is not %s (output %d has %zu values)", names[kind], i,
                           onnx_model_output_size(m, i));
    if (kind == ONNX_ULTRAFACE && strcmp(onnx_model_output_name(m, 0), "scores") != 0)
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "model is not %s (first output is not 'scores')", names[kind]);
    return FM_OK;
}

/* ---- resizing --------------------------------------------------------------------------------------------------- */

/* OpenCV INTER_LINEAR source coordinate for destination index d: (d + 0.5) * scale - 0.5, clamped. */
static void lin_coord(int d, double scale, int size, int *i0, int *i1, float *a)
{
    double f = (d + 0.5) * scale - 0.5;
    int s = (int)floor(f);
    double fr = f - s;
    if (s < 0) {
        s = 0;
        fr = 0;
    }
    if (s >= size - 1) {
        s = size - 1;
        fr = 0;
    }
    *i0 = s;
    *i1 = s + 1 < size ? s + 1 : size - 1;
    *a = (float)fr;
}

void onnx_resize_rgb(const onnx_rgb_view *img, int x0, int y0, int w, int h, int ow, int oh, float *out)
{
    const double sx = (double)w / ow, sy = (double)h / oh;
    for (int y = 0; y < oh; y++) {
        int ya, yb;
        float ay;
        lin_coord(y, sy, h, &ya, &yb, &ay);
        const uint8_t *ra = img->rgb + (size_t)(y0 + ya) * img->stride, *rb = img->rgb + (size_t)(y0 + yb) * img->stride;
        for (int x = 0; x < ow; x++) {
            int xa, xb;
            float ax;
            lin_coord(x, sx, w, &xa, &xb, &ax);
            const uint8_t *p00 = ra + (size_t)(x0 + xa) * 3, *p01 = ra + (size_t)(x0 + xb) * 3;
            const uint8_t *p10 = rb + (size_t)(x0 + xa) * 3, *p11 = rb + (size_t)(x0 + xb) * 3;
            float *o = out + ((size_t)y * ow + x) * 3;
            for (int c = 0; c < 3; c++) {
                float top = p00[c] + ax * (float)(p01[c] - p00[c]);
                float bot = p10[c] + ax * (float)(p11[c] - p10[c]);
                o[c] = top + ay * (bot - top);
            }
        }
    }
}

/* ---- input tensors ---------------------------------------------------------------------------------------------- */

void onnx_ultraface_input(const onnx_rgb_view *img, float *tensor)
{
    enum { W = 320, H = 240 };
    float row[W * 3]; /* one resized HWC row, then written out as CHW */
    int xa[W], xb[W];
    float ax[W];
    const double sx = (double)img->width / W, sy = (double)img->height / H;
    for (int x = 0; x < W; x++) /* the column mapping is the same for every row */
        lin_coord(x, sx, img->width, &xa[x], &xb[x], &ax[x]);
    for (int y = 0; y < H; y++) {
        int ya, yb;
        float ay;
        lin_coord(y, sy, img->height, &ya, &yb, &ay);
        const uint8_t *ra = img->rgb + (size_t)ya * img->stride, *rb = img->rgb + (size_t)yb * img->stride;
        for (int x = 0; x < W; x++) {
            const uint8_t *p00 = ra + xa[x] * 3, *p01 = ra + xb[x] * 3, *p10 = rb + xa[x] * 3, *p11 = rb + xb[x] * 3;
            for (int c = 0; c < 3; c++) {
                float top = p00[c] + ax[x] * (float)(p01[c] - p00[c]);
                float bot = p10[c] + ax[x] * (float)(p11[c] - p10[c]);
                row[x * 3 + c] = top + ay * (bot - top);
            }
        }
        /* faceplugin's effective channel order is (B, G, R) */
        for (int c = 0; c < 3; c++) {
            float *dst = tensor + ((size_t)c * H + y) * W;
            const float *srow = row + (2 - c);
            for (int x = 0; x < W; x++)
                dst[x] = (srow[x * 3] - 127.0f) / 128.0f;
        }
    }
}

int onnx_face_crop_rect(const onnx_rgb_view *img, const float box[4], float scale_value, int rect[4])
{
    const double W = img->width, H = img->height;
    for (int i = 0; i < 4; i++)
        if (!(fabsf(box[i]) < 1e7f))
            return -1;
    /* faceplugin: parseInt() of the box corners, width/height as absolute differences */
    double x = (double)(long)box[0], y = (double)(long)box[1];
    double bw = fabs((double)(long)box[2] - x), bh = fabs((double)(long)box[3] - y);
    if (!(bw >= 1 && bh >= 1) || !isfinite(x) || !isfinite(y))
        return -1;
    double scale = fmin((H - 1) / bh, fmin((W - 1) / bw, scale_value));
    double nw = bw * scale, nh = bh * scale;
    double cx = bw / 2 + x, cy = bh / 2 + y;
    double ltx = cx - nw / 2, lty = cy - nh / 2, rbx = cx + nw / 2, rby = cy + nh / 2;
    if (ltx < 0) {
        rbx -= ltx;
        ltx = 0;
    }
    if (lty < 0) {
        rby -= lty;
        lty = 0;
    }
    if (rbx > W - 1) {
        ltx -= rbx - W + 1;
        rbx = W - 1;
    }
    if (rby > H - 1) {
        lty -= rby - H + 1;
        rby = H - 1;
    }
    long rx = (long)ltx, ry = (long)lty, rw = (long)(rbx - ltx), rh = (long)(rby - lty);
    if (rx < 0)
        rx = 0;
    if (ry < 0)
        ry = 0;
    if (rw > (long)W - 1)
        rw = (long)W - 1;
    if (rh > (long)H - 1)
        rh = (long)H - 1;
    if (rw < 1 || rh < 1 || rx + rw > (long)W || ry + rh > (long)H)
        return -1;
    rect[0] = (int)rx;
    rect[1] = (int)ry;
    rect[2] = (int)rw;
    rect[3] = (int)rh;
    return 0;
}

/* grey with faceplugin's effective weights (BGR2GRAY applied to RGB data) */
static float quirk_grey(const float *p) { return 0.299f * p[2] + 0.587f * p[1] + 0.114f * p[0]; }

int onnx_landmark_input(const onnx_rgb_view *img, const float box[4], float *tensor)
{
    int r[4];
    if (onnx_face_crop_rect(img, box, 1.0f, r))
        return -1;
    float buf[64 * 64 * 3];
    onnx_resize_rgb(img, r[0], r[1], r[2], r[3], 64, 64, buf);
    for (int i = 0; i < 64 * 64; i++)
        tensor[i] = quirk_grey(buf + i * 3) / 256.0f;
    return 0;
}

int onnx_liveness_input(const onnx_rgb_view *img, const float box[4], float *tensor)
{
    int r[4];
    if (onnx_face_crop_rect(img, box, 2.7f, r))
        return -1;
    float *buf = malloc(128 * 128 * 3 * sizeof(float));
    if (!buf)
        return -2;
    onnx_resize_rgb(img, r[0], r[1], r[2], r[3], 128, 128, buf);
    for (int i = 0; i < 128 * 128; i++)
        for (int c = 0; c < 3; c++)
            tensor[(size_t)c * 128 * 128 + (size_t)i] = buf[i * 3 + c];
    free(buf);
    return 0;
}

int onnx_eye_input(const onnx_rgb_view *img, const float pts[136], int which, float *tensor)
{
    /* faceplugin getEyeBBox: centre = mean of the upper/lower lid points, size = 1.6 x corner distance */
    const int a = which ? 42 : 36; /* first point of the eye (0-based 68-point indexing) */
    const int W = img->width, H = img->height;
    for (int i = 0; i < 12; i++)
        if (!(fabsf(pts[a * 2 + i]) < 1e7f))
            return -1;
    long cx = (long)((pts[(a + 1) * 2] + pts[(a + 2) * 2] + pts[(a + 4) * 2] + pts[(a + 5) * 2]) / 4);
    long cy = (long)((pts[(a + 1) * 2 + 1] + pts[(a + 2) * 2 + 1] + pts[(a + 4) * 2 + 1] + pts[(a + 5) * 2 + 1]) / 4);
    double szd = (pts[(a + 3) * 2] - pts[a * 2]) * 1.6;
    if (!(szd > -1e7 && szd < 1e7))
        return -1;
    long size = (long)szd;
    long x = (long)(cx - size / 2.0), y = (long)(cy - size / 2.0);
    if (x < 0)
        x = 0;
    if (y < 0)
        y = 0;
    if (x + size >= W)
        size = W - x - 1;
    if (y + size >= H)
        size = H - y - 1;
    if (size < 1 || x >= W || y >= H)
        return -1;
    float buf[24 * 24 * 3];
    onnx_resize_rgb(img, (int)x, (int)y, (int)size, (int)size, 24, 24, buf);
    for (int i = 0; i < 24 * 24; i++)
        tensor[i] = quirk_grey(buf + i * 3) / 255.0f;
    return 0;
}

void onnx_feature_input(const uint8_t *chip112, size_t stride, float *tensor)
{
    for (int y = 0; y < 112; y++)
        for (int x = 0; x < 112; x++)
            for (int c = 0; c < 3; c++)
                tensor[((size_t)c * 112 + y) * 112 + x] = ((float)chip112[(size_t)y * stride + x * 3 + c] - 127.0f) / 128.0f;
}

void onnx_blazeface_input(const onnx_rgb_view *img, float *tensor, float *scale, float *pad_x, float *pad_y)
{
    const int S = 128;
    double sc = fmin((double)S / img->width, (double)S / img->height);
    int nw = (int)lround(img->width * sc), nh = (int)lround(img->height * sc);
    nw = nw < 1 ? 1 : (nw > S ? S : nw);
    nh = nh < 1 ? 1 : (nh > S ? S : nh);
    int px = (S - nw) / 2, py = (S - nh) / 2;
    for (int i = 0; i < S * S * 3; i++)
        tensor[i] = -1.0f;
    float row[128 * 3];
    const double sx = (double)img->width / nw, sy = (double)img->height / nh;
    for (int y = 0; y < nh; y++) {
        int ya, yb;
        float ay;
        lin_coord(y, sy, img->height, &ya, &yb, &ay);
        const uint8_t *ra = img->rgb + (size_t)ya * img->stride, *rb = img->rgb + (size_t)yb * img->stride;
        for (int x = 0; x < nw; x++) {
            int xa, xb;
            float ax;
            lin_coord(x, sx, img->width, &xa, &xb, &ax);
            for (int c = 0; c < 3; c++) {
                float top = ra[xa * 3 + c] + ax * (float)(ra[xb * 3 + c] - ra[xa * 3 + c]);
                float bot = rb[xa * 3 + c] + ax * (float)(rb[xb * 3 + c] - rb[xa * 3 + c]);
                row[x * 3 + c] = top + ay * (bot - top);
            }
        }
        float *dst = tensor + ((size_t)(y + py) * S + px) * 3;
        for (int i = 0; i < nw * 3; i++)
            dst[i] = row[i] / 127.5f - 1.0f;
    }
    /* tensor pixel t corresponds to image pixel (t - pad) / scale (scale per axis is nw / width etc.) */
    *scale = (float)sc;
    *pad_x = (float)px;
    *pad_y = (float)py;
}

int onnx_blazeface_anchors(float *anchors, int cap)
{
    /* MediaPipe SsdAnchorsCalculator, face_detection_front: 4 layers, strides 8, 16, 16, 16, one aspect ratio plus
     * the interpolated scale -> 2 anchors per cell per layer; fixed anchor size (w = h = 1); offset 0.5. */
    static const int strides[4] = {8, 16, 16, 16};
    int n = 0, layer = 0;
    while (layer < 4) {
        int last = layer, per_cell = 0;
        while (last < 4 && strides[last] == strides[layer]) {
            per_cell += 2;
            last++;
        }
        int fm = (128 + strides[layer] - 1) / strides[layer];
        for (int y = 0; y < fm; y++)
            for (int x = 0; x < fm; x++)
                for (int a = 0; a < per_cell; a++) {
                    if (n >= cap)
                        return -1;
                    anchors[n * 2] = (x + 0.5f) / fm;
                    anchors[n * 2 + 1] = (y + 0.5f) / fm;
                    n++;
                }
        layer = last;
    }
    return n;
}

/* ---- NMS ---------------------------------------------------------------------------------------------------------- */

static float iou(const onnx_face *a, const onnx_face *b)
{
    float ix = fminf(a->x2, b->x2) - fmaxf(a->x1, b->x1), iy = fminf(a->y2, b->y2) - fmaxf(a->y1, b->y1);
    if (ix <= 0 || iy <= 0)
        return 0;
    float inter = ix * iy;
    float ua = (a->x2 - a->x1) * (a->y2 - a->y1) + (b->x2 - b->x1) * (b->y2 - b->y1) - inter;
    return ua > 0 ? inter / ua : 0;
}

static int cmp_score(const void *a, const void *b)
{
    float sa = ((const onnx_face *)a)->score, sb = ((const onnx_face *)b)->score;
    return sa < sb ? 1 : (sa > sb ? -1 : 0);
}

/* Greedy (hard) or weighted NMS over cand[0..n) sorted by score; returns the number kept (written to out). */
static int nms(onnx_face *cand, int n, float thr, int weighted, onnx_face *out, int cap, char *removed)
{
    qsort(cand, (size_t)n, sizeof *cand, cmp_score);
    memset(removed, 0, (size_t)n);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (removed[i])
            continue;
        onnx_face best = cand[i];
        if (weighted) {
            double wsum = 0, acc[4 + 12] = {0};
            for (int j = i; j < n; j++) {
                if (removed[j] || (j != i && iou(&cand[i], &cand[j]) <= thr))
                    continue;
                double w = cand[j].score;
                wsum += w;
                acc[0] += w * cand[j].x1;
                acc[1] += w * cand[j].y1;
                acc[2] += w * cand[j].x2;
                acc[3] += w * cand[j].y2;
                for (int k = 0; k < 6; k++) {
                    acc[4 + 2 * k] += w * cand[j].kp[k][0];
                    acc[5 + 2 * k] += w * cand[j].kp[k][1];
                }
                if (j != i)
                    removed[j] = 1;
            }
            best.x1 = (float)(acc[0] / wsum);
            best.y1 = (float)(acc[1] / wsum);
            best.x2 = (float)(acc[2] / wsum);
            best.y2 = (float)(acc[3] / wsum);
            for (int k = 0; k < 6; k++) {
                best.kp[k][0] = (float)(acc[4 + 2 * k] / wsum);
                best.kp[k][1] = (float)(acc[5 + 2 * k] / wsum);
            }
        } else {
            for (int j = i + 1; j < n; j++)
                if (!removed[j] && iou(&cand[i], &cand[j]) > thr)
                    removed[j] = 1;
        }
        if (kept < cap)
            out[kept] = best;
        kept++;
    }
    return kept;
}

/* ---- models ----------------------------------------------------------------------------------------------------- */

static fm_status check_img(fm_ctx *ctx, const onnx_rgb_view *img)
{
    if (!img || !img->rgb || img->width < 1 || img->height < 1 || img->width > 65536 || img->height > 65536 ||
        img->stride < (size_t)img->width * 3)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: invalid image view");
    return FM_OK;
}

/* The common start of a detector call: output checks, image view and model kind, the options with the model's
 * defaults, and the input tensor in the arena (built in place by the caller). */
typedef struct {
    float thr, nms_thr;
    int threads;
    float *in;
} detect_setup;

static fm_status detect_begin(fm_ctx *ctx, const onnx_model *m, onnx_model_kind kind, nn_arena *arena, const onnx_rgb_view *img,
                              const onnx_detect_opts *opts, float def_thr, float def_nms, const onnx_face *faces,
                              int cap, int *count, detect_setup *ds)
{
    fm_status st;
    if (!count || (cap > 0 && !faces))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: NULL output");
    *count = 0;
    if ((st = check_img(ctx, img)) != FM_OK || (st = onnx_model_check(ctx, m, kind)) != FM_OK)
        return st;
    ds->thr = opts && opts->score_threshold > 0 ? opts->score_threshold : def_thr;
    ds->nms_thr = opts && opts->nms_threshold > 0 ? opts->nms_threshold : def_nms;
    ds->threads = opts && opts->threads > 1 ? opts->threads : 1;
    ds->in = onnx_input_ptr(ctx, m, arena);
    if (!ds->in)
        return fm_ctx_errcode(ctx) != FM_OK ? fm_ctx_errcode(ctx) : FM_ERR_INTERNAL;
    return FM_OK;
}

fm_status onnx_ultraface_detect(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                                const onnx_detect_opts *opts, onnx_face *faces, int cap, int *count)
{
    detect_setup ds;
    fm_status st = detect_begin(ctx, m, ONNX_ULTRAFACE, arena, img, opts, 0.65f, 0.4f, faces, cap, count, &ds);
    if (st != FM_OK)
        return st;
    const float thr = ds.thr, nthr = ds.nms_thr;
    const int threads = ds.threads;
    float *in = ds.in; /* build the input in place: no copy */
    float *buf = malloc((8840 + 17680) * sizeof(float));
    if (!buf)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
    float *scores = buf, *boxes = scores + 8840;
    onnx_ultraface_input(img, in);
    float *outs[2] = {scores, boxes};
    st = onnx_run(ctx, m, arena, in, outs, threads);
    int n = 0, ncand = 0;
    onnx_face *cand = NULL;
    char *removed = NULL;
    if (st == FM_OK) { /* candidates are few: size the NMS buffers by the count above the threshold */
        for (int i = 0; i < 4420; i++)
            ncand += scores[i * 2 + 1] >= thr;
        cand = malloc((size_t)(ncand ? ncand : 1) * sizeof *cand);
        removed = malloc((size_t)(ncand ? ncand : 1));
        if (!cand || !removed)
            st = fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
    }
    if (st == FM_OK) {
        for (int i = 0; i < 4420 && n < ncand; i++) {
            float s = scores[i * 2 + 1];
            if (!(s >= thr))
                continue;
            onnx_face f;
            memset(&f, 0, sizeof f);
            f.x1 = boxes[i * 4] * (float)img->width;
            f.y1 = boxes[i * 4 + 1] * (float)img->height;
            f.x2 = boxes[i * 4 + 2] * (float)img->width;
            f.y2 = boxes[i * 4 + 3] * (float)img->height;
            f.score = s;
            if (f.x2 > f.x1 && f.y2 > f.y1)
                cand[n++] = f;
        }
        *count = nms(cand, n, nthr, 0, faces, cap, removed);
    }
    free(buf);
    free(cand);
    free(removed);
    return st;
}

fm_status onnx_blazeface_detect(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                                const onnx_detect_opts *opts, onnx_face *faces, int cap, int *count)
{
    detect_setup ds;
    fm_status st = detect_begin(ctx, m, ONNX_BLAZEFACE, arena, img, opts, 0.75f, 0.3f, faces, cap, count, &ds);
    if (st != FM_OK)
        return st;
    const float thr = ds.thr, nthr = ds.nms_thr;
    const int threads = ds.threads;
    float *in = ds.in;
    float *buf = malloc((896 + 896 * 16 + 896 * 2) * sizeof(float));
    onnx_face *cand = malloc(896 * sizeof *cand);
    char *removed = malloc(896);
    if (!buf || !cand || !removed) {
        free(buf);
        free(cand);
        free(removed);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
    }
    float *sc = buf, *reg = sc + 896, *anchors = reg + 896 * 16;
    float scale, px, py;
    onnx_blazeface_input(img, in, &scale, &px, &py);
    float *outs[4] = {sc, sc + 512, reg, reg + 512 * 16};
    st = onnx_run(ctx, m, arena, in, outs, threads);
    if (st == FM_OK && onnx_blazeface_anchors(anchors, 896) != 896)
        st = fm_fail(ctx, FM_ERR_INTERNAL, "onnx: BlazeFace anchor count");
    if (st == FM_OK) {
        int n = 0;
        for (int i = 0; i < 896; i++) {
            float raw = sc[i] < -100.0f ? -100.0f : (sc[i] > 100.0f ? 100.0f : sc[i]);
            float s = 1.0f / (1.0f + expf(-raw));
            if (!(s >= thr))
                continue;
            const float *r = reg + (size_t)i * 16;
            float ax = anchors[i * 2] * 128.0f, ay = anchors[i * 2 + 1] * 128.0f;
            float cx = r[0] + ax, cy = r[1] + ay, w = r[2], h = r[3]; /* tensor pixels */
            onnx_face f;
            memset(&f, 0, sizeof f);
            f.x1 = (cx - w / 2 - px) / scale;
            f.y1 = (cy - h / 2 - py) / scale;
            f.x2 = (cx + w / 2 - px) / scale;
            f.y2 = (cy + h / 2 - py) / scale;
            for (int k = 0; k < 6; k++) {
                f.kp[k][0] = (r[4 + 2 * k] + ax - px) / scale;
                f.kp[k][1] = (r[5 + 2 * k] + ay - py) / scale;
            }
            f.score = s;
            if (f.x2 > f.x1 && f.y2 > f.y1)
                cand[n++] = f;
        }
        *count = nms(cand, n, nthr, 1, faces, cap, removed);
    }
    free(buf);
    free(cand);
    free(removed);
    return st;
}

static void softmax_n(const float *x, int n, float *p)
{
    float mx = x[0];
    for (int i = 1; i < n; i++)
        mx = x[i] > mx ? x[i] : mx;
    float s = 0;
    for (int i = 0; i < n; i++) {
        p[i] = expf(x[i] - mx);
        s += p[i];
    }
    for (int i = 0; i < n; i++)
        p[i] /= s;
}

fm_status onnx_landmark68(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                          const float box[4], int threads, float pts[136])
{
    fm_status st;
    if (!box || !pts)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: NULL argument");
    if ((st = check_img(ctx, img)) != FM_OK || (st = onnx_model_check(ctx, m, ONNX_LANDMARK68)) != FM_OK)
        return st;
    float in[64 * 64], out[136];
    if (onnx_landmark_input(img, box, in))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: landmark box is empty or outside the image");
    float *outs[1] = {out};
    if ((st = onnx_run(ctx, m, arena, in, outs, threads)) != FM_OK)
        return st;
    /* faceplugin maps the outputs through the (integer) box, not the shifted crop */
    float x1 = (float)(long)box[0], y1 = (float)(long)box[1];
    float w = fabsf((float)(long)box[2] - x1), h = fabsf((float)(long)box[3] - y1);
    for (int i = 0; i < 68; i++) {
        pts[i * 2] = out[i * 2] * w + x1;
        pts[i * 2 + 1] = out[i * 2 + 1] * h + y1;
    }
    return FM_OK;
}

fm_status onnx_feature512(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const uint8_t *chip112, size_t stride,
                          int threads, float feat[512], float *norm)
{
    fm_status st;
    if (!chip112 || !feat || stride < 336)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: bad feature arguments");
    if ((st = onnx_model_check(ctx, m, ONNX_FEATURE512)) != FM_OK)
        return st;
    float *in = malloc(3 * 112 * 112 * sizeof(float));
    if (!in)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
    onnx_feature_input(chip112, stride, in);
    float *outs[1] = {feat};
    st = onnx_run(ctx, m, arena, in, outs, threads);
    fm_wipe(in, 3 * 112 * 112 * sizeof(float)); /* derived from a face image */
    free(in);
    if (st == FM_OK && norm) {
        double s = 0;
        for (int i = 0; i < 512; i++)
            s += (double)feat[i] * feat[i];
        *norm = (float)sqrt(s);
    }
    return st;
}

fm_status onnx_liveness(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img,
                        const float box[4], int threads, float probs[3])
{
    fm_status st;
    if (!box || !probs)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: NULL argument");
    if ((st = check_img(ctx, img)) != FM_OK || (st = onnx_model_check(ctx, m, ONNX_LIVENESS)) != FM_OK)
        return st;
    float *in = malloc(3 * 128 * 128 * sizeof(float));
    if (!in)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory");
    int rc = onnx_liveness_input(img, box, in);
    float out[3];
    float *outs[1] = {out};
    if (rc)
        st = rc == -2 ? fm_fail(ctx, FM_ERR_NO_MEMORY, "onnx: out of memory")
                      : fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: liveness box is empty or outside the image");
    else
        st = onnx_run(ctx, m, arena, in, outs, threads);
    free(in);
    if (st == FM_OK)
        softmax_n(out, 3, probs);
    return st;
}

fm_status onnx_eye(fm_ctx *ctx, const onnx_model *m, nn_arena *arena, const onnx_rgb_view *img, const float pts[136],
                   int which, int threads, float probs[2])
{
    fm_status st;
    if (!pts || !probs || (which != 0 && which != 1))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: bad eye arguments");
    if ((st = check_img(ctx, img)) != FM_OK || (st = onnx_model_check(ctx, m, ONNX_EYE)) != FM_OK)
        return st;
    float in[24 * 24], out[2];
    if (onnx_eye_input(img, pts, which, in))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "onnx: eye region is empty or outside the image");
    float *outs[1] = {out};
    if ((st = onnx_run(ctx, m, arena, in, outs, threads)) != FM_OK)
        return st;
    softmax_n(out, 2, probs);
    return FM_OK;
}
