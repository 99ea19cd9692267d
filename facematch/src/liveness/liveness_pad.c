/*
 * Passive presentation-attack detection: faceplugin's fr_liveness.onnx (MiniFASNet-style, 3 classes; faceplugin
 * reports softmax[0] as "live") with faceplugin's crop (onnx_liveness_input: the detector box scaled 2.7x, clamped
 * into the image, resized to 128x128, raw 0..255) but in BGR channel order as the model's authors train it (see
 * lv_pad_score_raw), plus three cheap image cues computed on the face:
 *   moire    — periodic high-frequency energy: the 2D power spectrum of a native-resolution grey patch from the
 *              face centre (Hann-windowed, up to 64x64); the largest single peak in the outer frequency ring divided
 *              by the ring's median power (log10). Screens re-photographed by a camera show sharp spectral peaks.
 *   specular — fraction of face pixels that are nearly white and unsaturated (V > 245, S < 0.12): glossy prints
 *              and screens reflect light sources as flat white patches.
 *   colour   — standard deviation of chroma (Cb, Cr) over the inner face (the central 60 % of the box in each
 *              direction: skin, eyes, mouth; not the background at the box's corners, which made a coloured wall
 *              reject live people — franck.mp4, README "Liveness signals").
 * Fusion: logistic regression on (logit(model_live), moire, specular, colour) with the weights below, fitted on the
 * calibration split of liveness/pad.csv by bench/pad_calibrate.py (split and results in README "Liveness signals").
 * A cue that cannot be measured (face too small or at the border) enters as its calibration mean (neutral).
 */
#include "liveness/liveness_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Fusion weights and the operating threshold (bench/pad_calibrate.py output; see README). */
static const double k_w[5] = {7.411380, 0.891056, -0.966497, -18.711425, -0.782143}; /* bias, logit(model),
                                                                                       moire, specular, colour */
/* unmeasured cue = the calibration split's mean (index 0 unused: the model always gives a score) */
static const double k_fill[5] = {0, 0, 1.712936, 0.013511, 7.026310};
static const double k_threshold = 0.594209; /* per still image */

double lv_pad_default_threshold(void) { return k_threshold; }

/* video-level threshold on the median fused score (bench/pad_calibrate.py with the 12 clips of video/clips.csv,
 * every 3rd frame; README): min(still threshold, half the lowest live-clip median = anit-spoofing real.mov 0.408) */
static const double k_video_threshold = 0.204224;

double lv_pad_video_threshold(void) { return k_video_threshold; }

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void lv_pad_video(const double *scores, int n, lv_pad_video_result *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->median = NAN;
    out->threshold = k_video_threshold;
    if (!scores || n < 1)
        return;
    enum { CAP = 1024 }; /* 8 KiB of stack; a session scores <= 10 frames a second */
    double v[CAP];
    int step = n > CAP ? (n + CAP - 1) / CAP : 1;
    int m = 0;
    for (int i = 0; i < n && m < CAP; i += step)
        if (isfinite(scores[i]))
            v[m++] = scores[i];
    out->scored = m;
    if (m < 1)
        return;
    qsort(v, (size_t)m, sizeof v[0], cmp_double);
    out->median = m % 2 ? v[m / 2] : 0.5 * (v[m / 2 - 1] + v[m / 2]);
    out->evaluated = m >= LV_PAD_VIDEO_MIN_FRAMES;
    out->pass = out->evaluated && out->median >= k_video_threshold;
}

/* The detector convention (fm_detect FAST) maps an UltraFace box (x1,y1,x2,y2) to a square dlib-style box:
 * centre shifted by (DX w, DY h), side SCALE sqrt(w h) (face/engine.c). The inverse needs the UltraFace aspect
 * h / w, which is not kept: LV_FAST_ASPECT is its median on the shared faces (measured by bench/pad_calibrate.py). */
#define LV_FAST_DX (-0.0104)
#define LV_FAST_DY 0.0430
#define LV_FAST_SCALE 0.9409
#define LV_FAST_ASPECT 1.20

static void dlib_to_raw(const fm_face_box *b, float raw[4])
{
    double side = (double)b->right - b->left + 1;
    double cx = (b->left + (double)b->right + 1) / 2, cy = (b->top + (double)b->bottom + 1) / 2;
    double s = side / LV_FAST_SCALE; /* sqrt(w h) */
    double w = s / sqrt(LV_FAST_ASPECT), h = s * sqrt(LV_FAST_ASPECT);
    cx -= LV_FAST_DX * w;
    cy -= LV_FAST_DY * h;
    raw[0] = (float)(cx - w / 2);
    raw[1] = (float)(cy - h / 2);
    raw[2] = (float)(cx + w / 2);
    raw[3] = (float)(cy + h / 2);
}

static double grey_at(const onnx_rgb_view *v, int x, int y)
{
    const uint8_t *p = v->rgb + (size_t)y * v->stride + (size_t)x * 3;
    return 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
}

/* moire cue on the central patch of the face box (native resolution) */
static double moire_cue(const onnx_rgb_view *v, const float raw[4])
{
    enum { N = 64 };
    double bw = raw[2] - raw[0], bh = raw[3] - raw[1];
    int n = (int)fmin(N, fmin(bw, bh) * 0.6);
    if (n < 16)
        return NAN;
    int cx = (int)((raw[0] + raw[2]) / 2), cy = (int)((raw[1] + raw[3]) / 2);
    int x0 = cx - n / 2, y0 = cy - n / 2;
    if (x0 < 0 || y0 < 0 || x0 + n > v->width || y0 + n > v->height)
        return NAN;
    static const double two_pi = 6.283185307179586;
    double re[N][N], im[N][N], tr[N][N], ti[N][N];
    double mean = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
            mean += grey_at(v, x0 + x, y0 + y);
    mean /= (double)n * n;
    double cs[N], sn[N];
    for (int k = 0; k < n; k++) {
        cs[k] = cos(two_pi * k / n);
        sn[k] = sin(two_pi * k / n);
    }
    for (int y = 0; y < n; y++) {
        double wy = 0.5 - 0.5 * cos(two_pi * y / (n - 1));
        for (int x = 0; x < n; x++) {
            double wx = 0.5 - 0.5 * cos(two_pi * x / (n - 1));
            re[y][x] = (grey_at(v, x0 + x, y0 + y) - mean) * wx * wy;
        }
    }
    /* rows then columns (direct DFT, n <= 64) */
    for (int y = 0; y < n; y++)
        for (int k = 0; k < n; k++) {
            double sr = 0, si = 0;
            for (int x = 0; x < n; x++) {
                int idx = (k * x) % n;
                sr += re[y][x] * cs[idx];
                si -= re[y][x] * sn[idx];
            }
            tr[y][k] = sr;
            ti[y][k] = si;
        }
    for (int k = 0; k < n; k++)
        for (int l = 0; l < n; l++) {
            double sr = 0, si = 0;
            for (int y = 0; y < n; y++) {
                int idx = (l * y) % n;
                sr += tr[y][k] * cs[idx] + ti[y][k] * sn[idx];
                si += ti[y][k] * cs[idx] - tr[y][k] * sn[idx];
            }
            re[l][k] = sr;
            im[l][k] = si;
        }
    /* outer ring: radius in (n/4, n/2] cycles */
    static double ring[N * N];
    int m = 0;
    double peak = 0;
    for (int l = 0; l < n; l++)
        for (int k = 0; k < n; k++) {
            int fx = k <= n / 2 ? k : k - n, fy = l <= n / 2 ? l : l - n;
            double r = sqrt((double)fx * fx + (double)fy * fy);
            if (r > n / 4.0 && r <= n / 2.0) {
                double pw = re[l][k] * re[l][k] + im[l][k] * im[l][k];
                ring[m++] = pw;
                if (pw > peak)
                    peak = pw;
            }
        }
    (void)ring;
    if (m < 8)
        return NAN;
    /* median by partial selection */
    int half = m / 2;
    double *a = ring;
    int lo = 0, hi = m - 1;
    while (lo < hi) {
        double piv = a[(lo + hi) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (a[i] < piv)
                i++;
            while (a[j] > piv)
                j--;
            if (i <= j) {
                double tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i++;
                j--;
            }
        }
        if (half <= j)
            hi = j;
        else if (half >= i)
            lo = i;
        else
            break;
    }
    double med = a[half];
    return log10((peak + 1e-9) / (med + 1e-9));
}

#define LV_SKIN_LO 0.2
#define LV_SKIN_HI 0.8

static void colour_cues(const onnx_rgb_view *v, const float raw[4], double *specular, double *colour)
{
    int x0 = (int)fmax(0, raw[0]), y0 = (int)fmax(0, raw[1]);
    int x1 = (int)fmin(v->width, raw[2]), y1 = (int)fmin(v->height, raw[3]);
    *specular = *colour = NAN;
    if (x1 - x0 < 8 || y1 - y0 < 8)
        return;
    int step = (int)fmax(1, fmin(x1 - x0, y1 - y0) / 64);
    /* chroma spread over the inner face only (LV_SKIN_LO..LV_SKIN_HI of the box in each direction): the whole box
     * takes in background and hair at its corners, and a coloured wall then dominates the spread (franck.mp4's blue
     * studio wall: 25 over the box, 8 inside; README "Liveness signals") */
    double ix0 = raw[0] + LV_SKIN_LO * (raw[2] - raw[0]), ix1 = raw[0] + LV_SKIN_HI * (raw[2] - raw[0]);
    double iy0 = raw[1] + LV_SKIN_LO * (raw[3] - raw[1]), iy1 = raw[1] + LV_SKIN_HI * (raw[3] - raw[1]);
    double n = 0, nc = 0, spec = 0, scb = 0, scr = 0, scb2 = 0, scr2 = 0;
    for (int y = y0; y < y1; y += step)
        for (int x = x0; x < x1; x += step) {
            const uint8_t *p = v->rgb + (size_t)y * v->stride + (size_t)x * 3;
            double r = p[0], g = p[1], b = p[2];
            double mx = fmax(r, fmax(g, b)), mn = fmin(r, fmin(g, b));
            double s = mx > 0 ? (mx - mn) / mx : 0;
            if (mx > 245 && s < 0.12)
                spec++;
            n++;
            if (x < ix0 || x >= ix1 || y < iy0 || y >= iy1)
                continue;
            double cb = -0.168736 * r - 0.331264 * g + 0.5 * b, cr = 0.5 * r - 0.418688 * g - 0.081312 * b;
            scb += cb;
            scr += cr;
            scb2 += cb * cb;
            scr2 += cr * cr;
            nc++;
        }
    *specular = spec / n;
    if (nc < 16)
        return;
    double vcb = scb2 / nc - (scb / nc) * (scb / nc), vcr = scr2 / nc - (scr / nc) * (scr / nc);
    *colour = sqrt(fmax(0, vcb) + fmax(0, vcr));
}

fm_status lv_pad_score_raw(fm_ctx *ctx, const lv_models *m, nn_arena *arena, const fm_image *img,
                           const float raw_box[4], lv_pad_result *out)
{
    if (!out)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_pad_score: output is NULL");
    memset(out, 0, sizeof *out);
    out->model_live = out->moire = out->specular = out->colour = out->fused = NAN;
    if (!m || !m->live || !arena || !img || !raw_box)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_pad_score: NULL argument");
    for (int i = 0; i < 4; i++)
        if (!isfinite(raw_box[i]) || fabsf(raw_box[i]) > 1e6f)
            return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_pad_score: box is not finite");
    if (!(raw_box[2] - raw_box[0] >= 2 && raw_box[3] - raw_box[1] >= 2))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_pad_score: empty box");
    onnx_rgb_view v;
    fm_image *tmp = NULL;
    fm_status st = lv_rgb_view(ctx, img, &v, &tmp);
    if (st != FM_OK)
        return st;
    int64_t thr = ctx ? ctx->threads : 1;
    float probs[3];
    /* fr_liveness expects BGR: its authors (Silent-Face-Anti-Spoofing / MiniFASNet) train on cv2 images; faceplugin's
     * JS feeds canvas RGB, which measurably collapses the live scores (README "Liveness signals"). The model gets a
     * channel-swapped copy; the cues below keep reading the RGB view. */
    size_t row = (size_t)v.width * 3;
    if (v.width < 1 || v.height < 1 || row / 3 != (size_t)v.width || (size_t)v.height > SIZE_MAX / row) {
        fm_image_destroy(tmp);
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_pad_score: bad image size");
    }
    uint8_t *bgr = malloc(row * (size_t)v.height);
    if (!bgr) {
        fm_image_destroy(tmp);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "lv_pad_score: out of memory");
    }
    for (int y = 0; y < v.height; y++) {
        const uint8_t *src = v.rgb + (size_t)y * v.stride;
        uint8_t *dst = bgr + (size_t)y * row;
        for (int x = 0; x < v.width; x++) {
            dst[3 * x] = src[3 * x + 2];
            dst[3 * x + 1] = src[3 * x + 1];
            dst[3 * x + 2] = src[3 * x];
        }
    }
    onnx_rgb_view vb = {bgr, v.width, v.height, row};
    st = onnx_liveness(ctx, m->live, arena, &vb, raw_box, thr > 0 ? (int)thr : 1, probs);
    free(bgr);
    if (st == FM_OK) {
        for (int i = 0; i < 4; i++)
            out->box[i] = raw_box[i];
        if (onnx_face_crop_rect(&v, raw_box, 2.7f, out->crop))
            memset(out->crop, 0, sizeof out->crop);
        for (int i = 0; i < 3; i++)
            out->model_probs[i] = probs[i];
        out->model_live = probs[0];
        out->moire = moire_cue(&v, raw_box);
        colour_cues(&v, raw_box, &out->specular, &out->colour);
        double p = fmin(fmax(out->model_live, 1e-6), 1 - 1e-6);
        double x[5] = {1, log(p / (1 - p)), out->moire, out->specular, out->colour};
        double z = 0;
        for (int i = 0; i < 5; i++)
            z += k_w[i] * (isfinite(x[i]) ? x[i] : k_fill[i]);
        out->fused = 1 / (1 + exp(-z));
    }
    fm_image_destroy(tmp);
    return st;
}

fm_status lv_pad_score(fm_ctx *ctx, const lv_models *m, nn_arena *arena, const fm_image *img,
                       const fm_face_box *box, lv_pad_result *out)
{
    if (!box) {
        if (out)
            memset(out, 0, sizeof *out);
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "lv_pad_score: box is NULL");
    }
    float raw[4];
    dlib_to_raw(box, raw);
    return lv_pad_score_raw(ctx, m, arena, img, raw, out);
}
