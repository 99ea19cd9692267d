/* dlib's MMOD CNN face detector (mmod_human_face_detector.dat), following dlib 19.24:
 *   net_type = loss_mmod<con<1,9,9,1,1, rcon5<rcon5<rcon5<downsampler<input_rgb_image_pyramid<pyramid_down<6>>>>>>>>
 *   downsampler = relu<affine<con5d<32, relu<affine<con5d<32, relu<affine<con5d<16,SUBNET>>>>>>>>>
 *   rcon5 = relu<affine<con5<45,SUBNET>>>;  con5d = con<N,5,5,2,2>, con5 = con<N,5,5,1,1>
 * Input: the image and its pyramid_down<6> levels tiled into one plane (compute_tiled_image_pyramid_details), each
 * level made from the previous one by bilinear resizing of the mean-subtracted planes (tt::resize_bilinear).
 * Output: one score map; every location scoring above the threshold maps back to a detector window in the tiled
 * input (output p -> input 8p + 14 through the three stride-2 5x5 convolutions), then to image coordinates
 * (tiled_pyramid_to_image), sorted by score and greedily suppressed with dlib's test_box_overlap rule. */
#include "mmod.h"

#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MMOD_SPEC_CAP 32
#define MMOD_MAX_LEVELS 100

void fm_mmod_free(fm_mmod *m)
{
    if (!m)
        return;
    dnet_free(&m->net);
    free(m);
}

static void mm_push(dnet_spec *s, int *n, dnet_kind k, int a, int kh, int kw, int sy, int sx)
{
    if (*n < MMOD_SPEC_CAP) {
        dnet_spec e = {k, a, kh, kw, sy, sx};
        s[(*n)++] = e;
    }
}

static int mmod_spec(dnet_spec *s)
{
    int n = 0;
    mm_push(s, &n, DN_CON, 1, 9, 9, 1, 1);
    for (int i = 0; i < 3; i++) {
        mm_push(s, &n, DN_RELU, 0, 0, 0, 0, 0);
        mm_push(s, &n, DN_AFFINE, 0, 0, 0, 0, 0);
        mm_push(s, &n, DN_CON, 45, 5, 5, 1, 1);
    }
    const int f[3] = {32, 32, 16};
    for (int i = 0; i < 3; i++) {
        mm_push(s, &n, DN_RELU, 0, 0, 0, 0, 0);
        mm_push(s, &n, DN_AFFINE, 0, 0, 0, 0, 0);
        mm_push(s, &n, DN_CON, f[i], 5, 5, 2, 2);
    }
    mm_push(s, &n, DN_INPUT_PYRAMID, 6, 0, 0, 0, 0);
    return n;
}

static int read_options(dser *r, fm_mmod *m)
{
    int64_t v;
    if (dser_int_range(r, &v, 1, 4, "mmod_options version"))
        return -1;
    if (v == 1) {
        uint64_t w, h;
        if (dser_u64(r, &w, 8) || dser_u64(r, &h, 8))
            return -1;
        if (w == 0 || h == 0 || w > 10000 || h > 10000)
            return dser_fail(r, "detector window %llux%llu out of range", (unsigned long long)w, (unsigned long long)h);
        m->nwindows = 1;
        m->windows[0].width = (int)w;
        m->windows[0].height = (int)h;
    } else {
        uint64_t n;
        if (dser_u64(r, &n, 8))
            return -1;
        if (n == 0 || n > 8)
            return dser_fail(r, "%llu detector windows (1..8 supported)", (unsigned long long)n);
        m->nwindows = (int)n;
        for (int i = 0; i < m->nwindows; i++) {
            int64_t dv;
            uint64_t w, h;
            if (dser_int_range(r, &dv, 1, 2, "detector window version") || dser_u64(r, &w, 8) || dser_u64(r, &h, 8))
                return -1;
            if (w == 0 || h == 0 || w > 10000 || h > 10000)
                return dser_fail(r, "detector window %llux%llu out of range", (unsigned long long)w,
                                 (unsigned long long)h);
            m->windows[i].width = (int)w;
            m->windows[i].height = (int)h;
            if (dv == 2 && dser_string(r, m->windows[i].label, sizeof m->windows[i].label))
                return -1;
        }
    }
    double ign1, ign2;
    if (dser_double(r, &m->loss_per_false_alarm) || dser_double(r, &m->loss_per_missed_target) ||
        dser_double(r, &m->truth_match_iou_threshold) || dser_double(r, &m->overlap_iou) ||
        dser_double(r, &m->overlap_percent) || dser_double(r, &ign1) || dser_double(r, &ign2))
        return -1;
    if (!(m->overlap_iou >= 0 && m->overlap_iou <= 1 && m->overlap_percent >= 0 && m->overlap_percent <= 1))
        return dser_fail(r, "NMS thresholds out of range");
    m->assume_image_pyramid = 1;
    if (v >= 3) {
        if (dser_skip(r, 1))
            return -1;
        m->assume_image_pyramid = r->p[r->pos - 1] != 0;
    }
    if (v >= 4) {
        int bbr;
        double lambda;
        if (dser_bool(r, &bbr) || dser_double(r, &lambda))
            return -1;
        if (bbr)
            return dser_fail(r, "bounding box regression is not supported");
    }
    return 0;
}

fm_status fm_mmod_load(fm_ctx *ctx, const void *data, size_t len, fm_mmod **out)
{
    *out = NULL;
    fm_mmod *m = (fm_mmod *)calloc(1, sizeof *m);
    if (!m)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    dser r;
    dser_init(&r, data, len, "mmod_human_face_detector");
    static const char *const loss_names[] = {"loss_mmod_", NULL};
    dnet_spec spec[MMOD_SPEC_CAP];
    int n = mmod_spec(spec);
    if (dser_expect_int(&r, 1, "add_loss_layer version") == 0 && dser_expect_name(&r, "loss layer", loss_names) >= 0 &&
        read_options(&r, m) == 0 && dnet_load(&r, spec, n, &m->net, ctx) == 0 && r.pos != r.len)
        dser_fail(&r, "%zu unexpected bytes after the network", r.len - r.pos);
    if (r.failed) {
        fm_mmod_free(m);
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "%s", r.err);
    }
    if (m->net.pyramid_down != 6) {
        fm_mmod_free(m);
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "mmod: unexpected pyramid");
    }
    *out = m;
    return FM_OK;
}

/* ---- tiled pyramid (dlib compute_tiled_image_pyramid_details with pyramid_down<6>) ---------------------------- */

typedef struct irect {
    long l, t, r, b;
} irect;

static long rw(irect a) { return a.r - a.l + 1; }
static long rh(irect a) { return a.b - a.t + 1; }

static int tiled_layout(long nr, long nc, long padding, long outer, irect *rects, int *nrects, long *out_nr,
                        long *out_nc)
{
    int n = 0;
    *nrects = 0;
    *out_nr = *out_nc = 0;
    if (nr * nc == 0)
        return 0;
    irect r0 = {0, 0, nc - 1, nr - 1};
    rects[n++] = r0;
    const double rate = 5.0 / 6.0;
    for (;;) {
        nr = (long)floor(rate * nr);
        nc = (long)floor(rate * nc);
        if (nr * nc == 0 || nr < 5)
            break;
        if (n >= MMOD_MAX_LEVELS)
            return -1;
        irect q = {0, 0, nc - 1, nr - 1};
        rects[n++] = q;
    }
    long total_height = 0;
    for (int i = 0; i < n; i++)
        total_height += rh(rects[i]) + padding;
    total_height -= padding * 2;
    long height = 0, prev_width = 0;
    for (int i = 0; i < n; i++) {
        if (rw(rects[i]) <= rw(rects[0]) - prev_width - padding &&
            (height - rh(rects[0])) * 2 >= (total_height - rh(rects[0])))
            break;
        height += rh(rects[i]) + padding;
        prev_width = rw(rects[i]);
    }
    height -= padding;
    const long width = rw(rects[0]);
    *out_nr = height + outer * 2;
    *out_nc = width + outer * 2;
    long y = outer;
    int i = 0;
    while (y < height + outer && i < n) {
        rects[i].l += outer;
        rects[i].r += outer;
        rects[i].t += y;
        rects[i].b += y;
        y += rh(rects[i]) + padding;
        i++;
    }
    y -= padding;
    while (i < n) {
        long p1x = outer + width - 1, p1y = y - 1;
        long p2x = p1x - rects[i].r, p2y = p1y - rects[i].b;
        irect q = {p2x < p1x ? p2x : p1x, p2y < p1y ? p2y : p1y, p2x < p1x ? p1x : p2x, p2y < p1y ? p1y : p2y};
        /* stop if it would overlap the original image */
        long il = q.l > rects[0].l ? q.l : rects[0].l, ir = q.r < rects[0].r ? q.r : rects[0].r;
        long it = q.t > rects[0].t ? q.t : rects[0].t, ib = q.b < rects[0].b ? q.b : rects[0].b;
        if (il <= ir && it <= ib)
            break;
        rects[i] = q;
        y -= rh(rects[i]) + padding;
        i++;
    }
    *nrects = i;
    return 0;
}

/* dlib resize_image (bilinear, float planes): corner-aligned scale. */
static void resize_plane(const float *src, long sw, long sh, long sstride, float *dst, long dw, long dh,
                         long dstride)
{
    const double xs = (sw - 1) / (double)(dw - 1 > 1 ? dw - 1 : 1);
    const double ys = (sh - 1) / (double)(dh - 1 > 1 ? dh - 1 : 1);
    for (long r = 0; r < dh; r++) {
        const double y = r * ys;
        const long top = (long)floor(y);
        const long bottom = top + 1 < sh - 1 ? top + 1 : sh - 1;
        const double tb = y - top;
        const float *s0 = src + top * sstride, *s1 = src + bottom * sstride;
        float *o = dst + r * dstride;
        for (long c = 0; c < dw; c++) {
            const double x = c * xs;
            const long left = (long)floor(x);
            const long right = left + 1 < sw - 1 ? left + 1 : sw - 1;
            const double lr = x - left;
            o[c] = (float)((1 - tb) * ((1 - lr) * s0[left] + lr * s0[right]) + tb * ((1 - lr) * s1[left] + lr * s1[right]));
        }
    }
}

typedef struct det {
    long l, t, r, b;
    double score;
} det;

static int cmp_det(const void *a, const void *b)
{
    const det *x = (const det *)a, *y = (const det *)b;
    return (x->score < y->score) - (x->score > y->score);
}

static int overlaps(const fm_mmod *m, const det *a, const det *b)
{
    long il = a->l > b->l ? a->l : b->l, ir = a->r < b->r ? a->r : b->r;
    long it = a->t > b->t ? a->t : b->t, ib = a->b < b->b ? a->b : b->b;
    if (il > ir || it > ib)
        return 0;
    double inner = (double)(ir - il + 1) * (double)(ib - it + 1);
    long ul = a->l < b->l ? a->l : b->l, ur = a->r > b->r ? a->r : b->r;
    long ut = a->t < b->t ? a->t : b->t, ub = a->b > b->b ? a->b : b->b;
    double outer = (double)(ur - ul + 1) * (double)(ub - ut + 1);
    double aa = (double)(a->r - a->l + 1) * (double)(a->b - a->t + 1);
    double ba = (double)(b->r - b->l + 1) * (double)(b->b - b->t + 1);
    return inner / outer > m->overlap_iou || inner / aa > m->overlap_percent || inner / ba > m->overlap_percent;
}

static long round_half(double v) { return (long)floor(v + 0.5); }

/* dlib's pyramid_up(img, pyramid_down<2>) for an RGB image: the output is the size of rect_up(get_rect(img)),
 * (2w + 2) x (2h + 1), filled by dlib's RGB resize_image(..., interpolate_bilinear) (interpolation.h), reproduced
 * operation by operation: source positions accumulate in double per row; along a row, blocks of 4 output pixels
 * use float positions that accumulate 4 * x_scale (dlib's simd4f path: float weights, float sums, truncation to
 * int) while the 4th pixel's right neighbour lies inside the image; the remaining pixels use double weights and
 * truncate. */
static void pyramid_up_rgb(const uint8_t *in, int w, int h, int stride, uint8_t *out, int ow, int oh)
{
    const double xs = (double)(w - 1) / (double)(ow - 1 > 1 ? ow - 1 : 1);
    const double ys = (double)(h - 1) / (double)(oh - 1 > 1 ? oh - 1 : 1);
    double y = -ys;
    for (int r = 0; r < oh; r++) {
        y += ys;
        const long top = (long)floor(y), bot = top + 1 < h - 1 ? top + 1 : h - 1;
        const double tb = y - (double)top;
        const uint8_t *rt = in + (size_t)top * (size_t)stride, *rb = in + (size_t)bot * (size_t)stride;
        uint8_t *o = out + (size_t)r * (size_t)ow * 3;
        const float ftb = (float)tb, finv_tb = (float)(1 - tb), fstep = (float)(4 * xs);
        const double x0 = -4 * xs;
        float fx[4] = {(float)x0, (float)(x0 + xs), (float)(x0 + 2 * xs), (float)(x0 + 3 * xs)};
        long c = 0;
        for (;; c += 4) {
            int li[4], ri[4];
            float wtl[4], wtr[4], wbl[4], wbr[4];
            for (int k = 0; k < 4; k++) {
                fx[k] += fstep;
                li[k] = (int)fx[k]; /* truncation, as _mm_cvttps_epi32 */
                float lr = fx[k] - (float)li[k], inv_lr = 1 - lr;
                ri[k] = li[k] + 1;
                wtl[k] = finv_tb * inv_lr;
                wtr[k] = finv_tb * lr;
                wbl[k] = ftb * inv_lr;
                wbr[k] = ftb * lr;
            }
            if (ri[3] >= w)
                break;
            for (int k = 0; k < 4; k++)
                for (int ch = 0; ch < 3; ch++) {
                    float v = wtl[k] * (float)rt[3 * li[k] + ch] + wtr[k] * (float)rt[3 * ri[k] + ch] +
                              wbl[k] * (float)rb[3 * li[k] + ch] + wbr[k] * (float)rb[3 * ri[k] + ch];
                    o[3 * (c + k) + ch] = (uint8_t)(int)v;
                }
        }
        double x = -xs + (double)c * xs;
        for (; c < ow; c++) {
            x += xs;
            const long l = (long)floor(x), rr = l + 1 < w - 1 ? l + 1 : w - 1;
            const double lr = x - (double)l;
            for (int ch = 0; ch < 3; ch++) {
                double v = (1 - tb) * ((1 - lr) * rt[3 * l + ch] + lr * rt[3 * rr + ch]) +
                           tb * ((1 - lr) * rb[3 * l + ch] + lr * rb[3 * rr + ch]);
                o[3 * c + ch] = (uint8_t)v;
            }
        }
    }
}

/* Upsample once (pyramid_up), detect, and map the boxes back with pyramid_down<2>::rect_down (rounded to integers
 * as dlib's rectangle conversion does), as dlib's cnn_face_detection_model_v1 does for upsample_num_times = 1. */
static fm_status detect_upsampled(const fm_mmod *m, fm_ctx *ctx, const uint8_t *rgb, int w, int h, int stride,
                                  double adjust_threshold, fm_mmod_det **dets_out, size_t *nout, int threads)
{
    if (w < 1 || h < 1)
        return FM_OK;
    if (w > (INT_MAX - 2) / 2 || h > (INT_MAX - 1) / 2)
        return fm_fail(ctx, FM_ERR_LIMIT, "image too large to upsample");
    const int ow = 2 * w + 2, oh = 2 * h + 1;
    size_t bytes;
    if (fm_mul_size((size_t)ow * 3, (size_t)oh, &bytes) || bytes > ((size_t)1 << 31))
        return fm_fail(ctx, FM_ERR_LIMIT, "image too large to upsample");
    uint8_t *up = (uint8_t *)malloc(bytes);
    if (!up)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory for the upsampled image");
    pyramid_up_rgb(rgb, w, h, stride, up, ow, oh);
    fm_status st = fm_mmod_detect(m, ctx, up, ow, oh, ow * 3, adjust_threshold, 0, dets_out, nout, threads);
    fm_wipe(up, bytes); /* a face image */
    free(up);
    for (size_t i = 0; st == FM_OK && i < *nout; i++) {
        fm_mmod_det *d = &(*dets_out)[i];
        d->l = (double)round_half(d->l / 2.0 - 1.25);
        d->t = (double)round_half(d->t / 2.0 - 0.75);
        d->r = (double)round_half(d->r / 2.0 - 1.25);
        d->b = (double)round_half(d->b / 2.0 - 0.75);
    }
    return st;
}

fm_status fm_mmod_detect(const fm_mmod *m, fm_ctx *ctx, const uint8_t *rgb, int w, int h, int stride,
                         double adjust_threshold, int upsample, fm_mmod_det **dets_out, size_t *nout, int threads)
{
    *dets_out = NULL;
    *nout = 0;
    if (upsample < 0 || upsample > 1)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "MMOD upsample must be 0 or 1");
    if (upsample)
        return detect_upsampled(m, ctx, rgb, w, h, stride, adjust_threshold, dets_out, nout, threads);
    irect rects[MMOD_MAX_LEVELS];
    int nrects;
    long NR, NC;
    if (tiled_layout(h, w, (long)m->net.pyr_padding, (long)m->net.pyr_outer_padding, rects, &nrects, &NR, &NC))
        return fm_fail(ctx, FM_ERR_LIMIT, "image too large for the MMOD pyramid");
    if (nrects == 0)
        return FM_OK;
    size_t plane;
    if (fm_mul_size((size_t)NR, (size_t)NC, &plane) || plane > ((size_t)1 << 28))
        return fm_fail(ctx, FM_ERR_LIMIT, "image too large for the MMOD detector");
    float *in = (float *)calloc(3 * plane, sizeof(float));
    if (!in)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory for the MMOD input (%zu floats)", 3 * plane);
    for (int c = 0; c < 3; c++) {
        float *p = in + (size_t)c * plane;
        for (long y = 0; y < h; y++) {
            const uint8_t *s = rgb + (size_t)y * (size_t)stride;
            float *o = p + (size_t)(rects[0].t + y) * (size_t)NC + (size_t)rects[0].l;
            for (long x = 0; x < w; x++)
                o[x] = (float)((s[3 * x + c] - m->net.avg[c]) / 256.0);
        }
        for (int i = 1; i < nrects; i++)
            resize_plane(p + rects[i - 1].t * NC + rects[i - 1].l, rw(rects[i - 1]), rh(rects[i - 1]), NC,
                         p + rects[i].t * NC + rects[i].l, rw(rects[i]), rh(rects[i]), NC);
    }
    nn_tensor t = nn_tensor_make(in, 3, (int)NR, (int)NC), o;
    float *arena = NULL;
    fm_status st = dnet_forward(&m->net, ctx, &t, &o, &arena, threads < 1 ? 1 : threads);
    free(in);
    if (st != FM_OK) {
        free(arena);
        return st;
    }
    if (o.c != m->nwindows) {
        free(arena);
        return fm_fail(ctx, FM_ERR_MODEL_INVALID, "mmod: %d output channels for %d detector windows", o.c, m->nwindows);
    }
    size_t cap = 64, n = 0;
    det *d = (det *)malloc(cap * sizeof(det));
    if (!d) {
        free(arena);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    for (int k = 0; k < o.c; k++) {
        for (int r = 0; r < o.h; r++) {
            for (int c = 0; c < o.w; c++) {
                double score = o.data[((size_t)k * o.h + r) * o.w + c];
                if (!(score > adjust_threshold))
                    continue;
                /* output -> input tensor: three 5x5 stride-2 unpadded convolutions: p -> 2p + 2 each */
                double px = 8.0 * c + 14, py = 8.0 * r + 14;
                double ww = m->windows[k].width - 1.0, hh = m->windows[k].height - 1.0;
                double l = px - ww / 2, tp = py - hh / 2, rr = px + ww / 2, bb = py + hh / 2;
                /* tiled_pyramid_to_image: nearest level to the (rounded) centre */
                long cx = round_half((l + rr) / 2), cy = round_half((tp + bb) / 2);
                int best = 0;
                double bestd = INFINITY;
                for (int i = 0; i < nrects; i++) {
                    if (cx >= rects[i].l && cx <= rects[i].r && cy >= rects[i].t && cy <= rects[i].b) {
                        best = i;
                        break;
                    }
                    double nx = cx < rects[i].l ? rects[i].l : cx > rects[i].r ? rects[i].r : cx;
                    double ny = cy < rects[i].t ? rects[i].t : cy > rects[i].b ? rects[i].b : cy;
                    double dd = sqrt((nx - cx) * (nx - cx) + (ny - cy) * (ny - cy));
                    if (dd < bestd) {
                        bestd = dd;
                        best = i;
                    }
                }
                double x0 = l - rects[best].l, y0 = tp - rects[best].t, x1 = rr - rects[best].l,
                       y1 = bb - rects[best].t;
                for (int lv = 0; lv < best; lv++) {
                    x0 = x0 * (6.0 / 5.0) + 0.3;
                    y0 = y0 * (6.0 / 5.0) + 0.3;
                    x1 = x1 * (6.0 / 5.0) + 0.3;
                    y1 = y1 * (6.0 / 5.0) + 0.3;
                }
                if (n == cap) {
                    det *nd = (det *)realloc(d, 2 * cap * sizeof(det));
                    if (!nd) {
                        free(d);
                        free(arena);
                        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
                    }
                    d = nd;
                    cap *= 2;
                }
                det e = {round_half(x0), round_half(y0), round_half(x1), round_half(y1), score};
                d[n++] = e;
            }
        }
    }
    free(arena);
    qsort(d, n, sizeof(det), cmp_det);
    fm_mmod_det *res = (fm_mmod_det *)malloc((n ? n : 1) * sizeof(fm_mmod_det));
    det *kept = (det *)malloc((n ? n : 1) * sizeof(det));
    if (!res || !kept) {
        free(res);
        free(kept);
        free(d);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        int sup = 0;
        for (size_t j = 0; j < nk && !sup; j++)
            sup = overlaps(m, &kept[j], &d[i]);
        if (sup)
            continue;
        kept[nk] = d[i];
        res[nk].l = (double)d[i].l;
        res[nk].t = (double)d[i].t;
        res[nk].r = (double)d[i].r;
        res[nk].b = (double)d[i].b;
        res[nk].score = d[i].score;
        nk++;
    }
    free(kept);
    free(d);
    *dets_out = res;
    *nout = nk;
    return FM_OK;
}
