/* dlib's HOG frontal face detector, reimplemented to give dlib 19.24's boxes and scores. See hog.h.
 *
 * Exactness notes (the reason for the odd-looking arithmetic below): dlib compiles its fHOG and filtering code with
 * SSE2 simd8f/simd4f types on x86-64, so pixels handled by its 8-wide loops and those handled by its scalar tail
 * loops round differently (product order, partial sums, which colour channel wins a tie of gradient magnitudes).
 * Each routine here follows the same split and the same float operation order, using GCC vector extensions for the
 * 8-wide parts (no -march needed: they compile to SSE2 like dlib's). */
#include "hog.h"

#include "dlib_ser.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef float v4f __attribute__((vector_size(16)));
typedef int v4i __attribute__((vector_size(16)));
/* dlib's 8-wide simd8f loops are done as two 4-wide halves: lane-wise the same arithmetic, and 16-byte vectors
 * map straight onto SSE2 (GCC lowers 32-byte generic vectors poorly without AVX). */

/* _mm_min_ps(a, b): a < b ? a : b per lane */
static inline v4f vmin4(v4f a, v4f b)
{
    v4i m = a < b;
    return (v4f)((m & (v4i)a) | (~m & (v4i)b));
}

/* ---- model ---------------------------------------------------------------------------------------------------- */

void fm_hog_free(fm_hog *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->ndet; i++) {
        free(h->det[i].row);
        free(h->det[i].col);
    }
    free(h);
}

/* dlib image_to_fhog(point) with filter padding 1: (p - 1) / cell - 1, C++ integer division (truncation). */
static long to_fhog(long p, long cell) { return (p - 1) / cell - 1; }

/* One-sided Jacobi SVD of the n x m (n rows, m cols) matrix a (row-major, destroyed): a = U diag(s) V^T.
 * On return a holds U*diag(s) column-wise (unnormalised), v the m x m V (row-major), s the column norms. */
static void jacobi_svd(double *a, int n, int m, double *v, double *s)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < m; j++)
            v[i * m + j] = i == j;
    for (int sweep = 0; sweep < 80; sweep++) {
        double off = 0;
        for (int p = 0; p < m - 1; p++) {
            for (int q = p + 1; q < m; q++) {
                double alpha = 0, beta = 0, gamma = 0;
                for (int i = 0; i < n; i++) {
                    alpha += a[i * m + p] * a[i * m + p];
                    beta += a[i * m + q] * a[i * m + q];
                    gamma += a[i * m + p] * a[i * m + q];
                }
                if (gamma == 0 || fabs(gamma) <= 1e-300)
                    continue;
                double rel = fabs(gamma) / sqrt(alpha * beta);
                if (rel > off)
                    off = rel;
                if (rel < 1e-17)
                    continue;
                double zeta = (beta - alpha) / (2 * gamma);
                double t = (zeta >= 0 ? 1.0 : -1.0) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), sn = c * t;
                for (int i = 0; i < n; i++) {
                    double x = a[i * m + p], y = a[i * m + q];
                    a[i * m + p] = c * x - sn * y;
                    a[i * m + q] = sn * x + c * y;
                }
                for (int i = 0; i < m; i++) {
                    double x = v[i * m + p], y = v[i * m + q];
                    v[i * m + p] = c * x - sn * y;
                    v[i * m + q] = sn * x + c * y;
                }
            }
        }
        if (off < 1e-16)
            break;
    }
    for (int j = 0; j < m; j++) {
        double ss = 0;
        for (int i = 0; i < n; i++)
            ss += a[i * m + j] * a[i * m + j];
        s[j] = sqrt(ss);
    }
}

/* build_fhog_filterbank for one detector: each plane's fh x fw filter -> its rank-1 terms, strongest first,
 * singular values below max(1e-4, 0.001 * largest) dropped; terms are colm(u,j)*sqrt(s_j), colm(v,j)*sqrt(s_j)
 * computed in double and rounded to float, as dlib does. */
static int build_filterbank(fm_hog *h, fm_hog_filter *f, const double *w)
{
    const int fw = h->fw, fh = h->fh, size = fw * fh;
    int cap = FM_HOG_PLANES * (fw < fh ? fw : fh);
    f->row = (float *)malloc((size_t)cap * (size_t)fw * sizeof(float));
    f->col = (float *)malloc((size_t)cap * (size_t)fh * sizeof(float));
    double *a = (double *)malloc((size_t)size * sizeof(double) * 2 + (size_t)fw * fw * sizeof(double) +
                                 (size_t)fw * sizeof(double) * 2);
    if (!f->row || !f->col || !a) {
        free(a);
        return -1;
    }
    double *at = a + size, *v = at + size, *s = v + (size_t)fw * fw, *tmp = s + fw;
    (void)at;
    f->total_terms = 0;
    for (int p = 0; p < FM_HOG_PLANES; p++) {
        /* f = reshape(w[p*size ...], fh, fw), row-major */
        memcpy(a, w + (size_t)p * size, (size_t)size * sizeof(double));
        /* decompose the fh x fw matrix: columns of a are the fw columns */
        jacobi_svd(a, fh, fw, v, s);
        /* order by decreasing singular value (stable, as rsort_columns is a sort on w) */
        int order[FM_HOG_MAX_FILTER];
        for (int j = 0; j < fw; j++)
            order[j] = j;
        for (int i = 1; i < fw; i++) {
            int k = order[i], j = i - 1;
            while (j >= 0 && s[order[j]] < s[k]) {
                order[j + 1] = order[j];
                j--;
            }
            order[j + 1] = k;
        }
        double smax = s[order[0]];
        double thresh = smax * 0.001 > 1e-4 ? smax * 0.001 : 1e-4;
        int nt = 0;
        for (int jj = 0; jj < fw && jj < fh; jj++) {
            int j = order[jj];
            if (!(s[j] >= thresh))
                continue;
            double r = sqrt(s[j]);
            float *col = f->col + (size_t)f->total_terms * fh, *row = f->row + (size_t)f->total_terms * fw;
            for (int i = 0; i < fh; i++)
                col[i] = (float)(a[i * fw + j] / s[j] * r);
            for (int i = 0; i < fw; i++)
                row[i] = (float)(v[i * fw + j] * r);
            f->total_terms++;
            nt++;
        }
        (void)tmp;
        f->nterms[p] = nt;
    }
    free(a);
    return 0;
}

fm_status fm_hog_load(fm_ctx *ctx, const void *data, size_t len, fm_hog **out)
{
    *out = NULL;
    dser r;
    dser_init(&r, data, len, "dlib_hog");
    fm_hog *h = (fm_hog *)calloc(1, sizeof *h);
    if (!h)
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    int64_t v, ms, sz, cell, pad, ww, wh, maxl, minw, minh, dims, ndet;
    double nuc, iou, pc;
    double *w = NULL;
    if (dser_varint(&r, &v, 4, 1))
        goto bad;
    if (v != 2) {
        dser_fail(&r, "object_detector version %lld, expected 2", (long long)v);
        goto bad;
    }
    if (dser_varint(&r, &v, 4, 1))
        goto bad;
    if (v != 1) {
        dser_fail(&r, "scan_fhog_pyramid version %lld, expected 1", (long long)v);
        goto bad;
    }
    /* default_fhog_feature_extractor: nothing; then the (empty) feature cache: array max_size, size */
    if (dser_varint(&r, &ms, 8, 0) || dser_varint(&r, &sz, 8, 0))
        goto bad;
    if (sz != 0) {
        dser_fail(&r, "scanner holds %lld cached feature images, expected none", (long long)sz);
        goto bad;
    }
    if (dser_varint(&r, &cell, 4, 1) || dser_varint(&r, &pad, 8, 0) || dser_varint(&r, &ww, 8, 0) ||
        dser_varint(&r, &wh, 8, 0) || dser_varint(&r, &maxl, 8, 0) || dser_varint(&r, &minw, 8, 0) ||
        dser_varint(&r, &minh, 8, 0) || dser_double0(&r, &nuc) || dser_varint(&r, &dims, 8, 1))
        goto bad;
    if (cell < 2 || cell > 64) {
        dser_fail(&r, "cell size %lld (supported: 2..64)", (long long)cell);
        goto bad;
    }
    if (ww < 1 || wh < 1 || ww > 4096 || wh > 4096 || pad > 16 || maxl < 1 || maxl > 100000 || minw < 1 ||
        minh < 1 || minw > 1000000 || minh > 1000000 || !(nuc >= 0)) {
        dser_fail(&r, "scanner settings out of range (window %lldx%lld, padding %lld, levels %lld, min level %lldx%lld)",
                  (long long)ww, (long long)wh, (long long)pad, (long long)maxl, (long long)minw, (long long)minh);
        goto bad;
    }
    {
        /* compute_fhog_window_size: centered_rect(point(0,0), ww, wh) -> image_to_fhog -> grow by padding */
        long l = -(long)ww / 2, t = -(long)wh / 2, rr = l + (long)ww - 1, b = t + (long)wh - 1;
        long fw = to_fhog(rr, cell) - to_fhog(l, cell) + 1 + 2 * pad;
        long fh = to_fhog(b, cell) - to_fhog(t, cell) + 1 + 2 * pad;
        if (fw < 1 || fh < 1 || fw > FM_HOG_MAX_FILTER || fh > FM_HOG_MAX_FILTER || fw - 2 * pad < 1 ||
            fh - 2 * pad < 1) {
            dser_fail(&r, "filter of %ldx%ld cells (supported: 1..%d)", fw, fh, FM_HOG_MAX_FILTER);
            goto bad;
        }
        h->fw = (int)fw;
        h->fh = (int)fh;
    }
    if (dims != (int64_t)h->fw * h->fh * FM_HOG_PLANES) {
        dser_fail(&r, "scanner has %lld dimensions, expected %d", (long long)dims, h->fw * h->fh * FM_HOG_PLANES);
        goto bad;
    }
    if (dser_double0(&r, &iou) || dser_double0(&r, &pc))
        goto bad;
    if (!(iou >= 0 && iou <= 1) || !(pc >= 0 && pc <= 1)) {
        dser_fail(&r, "overlap thresholds %g, %g outside 0..1", iou, pc);
        goto bad;
    }
    if (dser_varint(&r, &ndet, 8, 0))
        goto bad;
    if (ndet < 1 || ndet > FM_HOG_MAX_DETECTORS) {
        dser_fail(&r, "%lld filters (supported: 1..%d)", (long long)ndet, FM_HOG_MAX_DETECTORS);
        goto bad;
    }
    h->cell_size = (int)cell;
    h->padding = (int)pad;
    h->window_w = (int)ww;
    h->window_h = (int)wh;
    h->max_levels = (long)maxl;
    h->min_level_w = (long)minw;
    h->min_level_h = (long)minh;
    h->nuclear_norm = nuc;
    h->iou_thresh = iou;
    h->covered_thresh = pc;
    for (int i = 0; i < ndet; i++) {
        int64_t nr, nc;
        if (dser_matrix_double(&r, &nr, &nc, &w, (size_t)dims + 1))
            goto bad;
        if (nr != dims + 1 || nc != 1) {
            dser_fail(&r, "filter %d has %lldx%lld weights, expected %lldx1", i, (long long)nr, (long long)nc,
                      (long long)dims + 1);
            goto bad;
        }
        h->ndet = i + 1;
        h->det[i].thresh = w[dims];
        if (build_filterbank(h, &h->det[i], w)) {
            free(w);
            fm_hog_free(h);
            return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
        }
        free(w);
        w = NULL;
    }
    if (r.pos != r.len) {
        dser_fail(&r, "%zu trailing bytes after the detector", r.len - r.pos);
        goto bad;
    }
    *out = h;
    return FM_OK;
bad:
    free(w);
    fm_hog_free(h);
    return fm_fail(ctx, FM_ERR_MODEL_INVALID, "%s", r.err[0] ? r.err : "dlib_hog: malformed model");
}

/* ---- fHOG features (dlib impl_extract_fhog_features, RGB input, cell_size > 1) ------------------------------ */

static const float DIRX[9] = {1.0000f, 0.9397f, 0.7660f, 0.500f, 0.1736f, -0.1736f, -0.5000f, -0.7660f, -0.9397f};
static const float DIRY[9] = {0.0000f, 0.3420f, 0.6428f, 0.8660f, 0.9848f, 0.9848f, 0.8660f, 0.6428f, 0.3420f};

static int cells_of(int n, int cell) { return (int)((double)((float)n / (float)cell) + 0.5); }

size_t fm_fhog_work_size(int w, int h, int cell)
{
    size_t cr = (size_t)cells_of(h, cell), cc = (size_t)cells_of(w, cell);
    /* histograms, block norms, 3 planar float rows x 3 channels (+8 slack each) */
    return (cr + 2) * (cc + 2) * 18 + cr * cc + 9 * ((size_t)w + 8);
}

/* Gradient with the largest magnitude over the three channels. later_wins: dlib's simd path (a tie goes to the
 * later channel); else its scalar path (a tie keeps the earlier channel). */
static inline void rgb_gradient(const uint8_t *p, size_t stride, int later_wins, int *gx, int *gy, int *len)
{
    int bx = 0, by = 0, bl = -1;
    for (int ch = 0; ch < 3; ch++) {
        int x = (int)p[3 + ch] - (int)p[ch - 3];
        int y = (int)p[stride + (size_t)ch] - (int)p[(ptrdiff_t)ch - (ptrdiff_t)stride];
        int l = x * x + y * y;
        if (ch == 0 || (later_wins ? l >= bl : l > bl)) {
            bx = x;
            by = y;
            bl = l;
        }
    }
    *gx = bx;
    *gy = by;
    *len = bl;
}

static inline int orientation(float gx, float gy)
{
    float best = 0;
    int bo = 0;
    for (int o = 0; o < 9; o++) {
        const float dot = DIRX[o] * gx + DIRY[o] * gy;
        if (dot > best) {
            best = dot;
            bo = o;
        } else if (-dot > best) {
            best = -dot;
            bo = o + 9;
        }
    }
    return bo;
}

/* correctly rounded square root per lane (the same values as sqrtf) */
static inline v4f vsqrt4(v4f a)
{
#if defined(__SSE2__)
    return (v4f)_mm_sqrt_ps((__m128)a);
#else
    v4f r;
    for (int k = 0; k < 4; k++)
        r[k] = sqrtf(a[k]);
    return r;
#endif
}

static inline v4f sel4(v4i m, v4f a, v4f b) { return (v4f)((m & (v4i)a) | (~m & (v4i)b)); }

static inline v4f load4(const float *p)
{
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* planar float copy of one RGB row into r, g, b (each w floats) */
static void planar_row(const uint8_t *s, int w, float *r, float *g, float *b)
{
    for (int x = 0; x < w; x++) {
        r[x] = s[3 * x];
        g[x] = s[3 * x + 1];
        b[x] = s[3 * x + 2];
    }
}

static inline float hsum4(v4f a) { return (a[0] + a[2]) + (a[1] + a[3]); }

size_t fm_fhog_extract(const uint8_t *rgb, int w, int h, int stride, int cell, int pad_rows, int pad_cols,
                       float *out, size_t cap, float *work, size_t work_cap, int *rows_out, int *cols_out)
{
    *rows_out = *cols_out = 0;
    const int cells_nr = cells_of(h, cell), cells_nc = cells_of(w, cell);
    if (cells_nr <= 2 || cells_nc <= 2 || cell < 2 || pad_rows < 1 || pad_cols < 1)
        return 0;
    const int hog_nr = cells_nr - 2, hog_nc = cells_nc - 2;
    const int prow = hog_nr + pad_rows - 1, pcol = hog_nc + pad_cols - 1;
    const size_t plane = (size_t)prow * (size_t)pcol, need = plane * FM_HOG_PLANES;
    *rows_out = prow;
    *cols_out = pcol;
    if (need > cap || fm_fhog_work_size(w, h, cell) > work_cap || !out || !work)
        return need;
    const int hnc = cells_nc + 2;
    float *hist = work;                                       /* (cells_nr+2) x (cells_nc+2) x 18 */
    float *norm = work + (size_t)(cells_nr + 2) * hnc * 18;   /* cells_nr x cells_nc */
    float *rows3 = norm + (size_t)cells_nr * cells_nc;        /* 3 rows x 3 channels, planar, w + 8 each */
    const size_t rs = (size_t)w + 8;
    memset(hist, 0, (size_t)(cells_nr + 2) * hnc * 18 * sizeof(float));
    memset(norm, 0, (size_t)cells_nr * cells_nc * sizeof(float));
    memset(out, 0, need * sizeof(float));

    const int visible_nr = (cells_nr * cell < h ? cells_nr * cell : h) - 1;
    const int visible_nc = (cells_nc * cell < w ? cells_nc * cell : w) - 1;
    const size_t st = (size_t)stride;
    /* rolling planar rows: slot (y % 3) holds image row y as R, G, B float rows */
    if (visible_nr > 1) {
        planar_row(rgb, w, rows3, rows3 + rs, rows3 + 2 * rs);
        planar_row(rgb + st, w, rows3 + 3 * rs, rows3 + 4 * rs, rows3 + 5 * rs);
    }
    for (int y = 1; y < visible_nr; y++) {
        {
            float *nx = rows3 + (size_t)((y + 1) % 3) * 3 * rs;
            planar_row(rgb + (size_t)(y + 1) * st, w, nx, nx + rs, nx + 2 * rs);
        }
        const float *up = rows3 + (size_t)((y + 2) % 3) * 3 * rs, *mid = rows3 + (size_t)(y % 3) * 3 * rs,
                    *dn = rows3 + (size_t)((y + 1) % 3) * 3 * rs;
        const float yp = (float)(((double)(float)y + 0.5) / (double)(float)cell - 0.5);
        const int iyp = (int)floorf(yp);
        const float vy0 = yp - (float)iyp;
        const float vy1 = (float)(1.0 - vy0);
        float *h0 = hist + (size_t)(iyp + 1) * hnc * 18, *h1 = h0 + (size_t)hnc * 18;
        const uint8_t *rowp = rgb + (size_t)y * st;
        int x;
        for (x = 1; x < visible_nc - 7; x += 8) {
            /* dlib's simd8f block: the gradient with the largest magnitude (a tie goes to the later channel) and
             * its orientation bin, 8 pixels at a time; the histogram votes stay in pixel order */
            /* (two 4-wide halves: 16-byte vectors map straight onto SSE2) */
            for (int hf = 0; hf < 8; hf += 4) {
                v4f gx = {0}, gy = {0}, l0 = {0};
                for (int c = 0; c < 3; c++) {
                    v4f ax = load4(mid + (size_t)c * rs + x + hf + 1) - load4(mid + (size_t)c * rs + x + hf - 1);
                    v4f ay = load4(dn + (size_t)c * rs + x + hf) - load4(up + (size_t)c * rs + x + hf);
                    v4f l = ax * ax + ay * ay;
                    if (c == 0) {
                        gx = ax;
                        gy = ay;
                        l0 = l;
                    } else {
                        v4i keep = l0 > l; /* earlier channel only when strictly larger */
                        gx = sel4(keep, gx, ax);
                        gy = sel4(keep, gy, ay);
                        l0 = sel4(keep, l0, l);
                    }
                }
                v4f best = {0};
                v4i b = {0};
                for (int o = 0; o < 9; o++) {
                    v4f dot = gx * DIRX[o] + gy * DIRY[o];
                    v4i m = dot > best;
                    best = sel4(m, dot, best);
                    b = (m & o) | (~m & b);
                    dot = -dot;
                    m = dot > best;
                    best = sel4(m, dot, best);
                    b = (m & (o + 9)) | (~m & b);
                }
                /* bilinear weights, lane-wise as dlib: xp = (x + 0.5) / cell + 0.5, truncated; v = sqrt(len) */
                const v4f xx = {(float)(x + hf), (float)(x + hf + 1), (float)(x + hf + 2), (float)(x + hf + 3)};
                const v4f xp = (xx + 0.5f) / (float)cell + 0.5f;
                const v4i ixp = __builtin_convertvector(xp, v4i);
                v4f vx0 = xp - __builtin_convertvector(ixp, v4f);
                v4f vx1 = 1.0f - vx0;
                const v4f v = vsqrt4(l0);
                vx1 *= v;
                vx0 *= v;
                const v4f v11 = vy1 * vx1, v01 = vy0 * vx1, v10 = vy1 * vx0, v00 = vy0 * vx0;
                for (int k = 0; k < 4; k++) {
                    const int o = b[k];
                    const size_t i0 = (size_t)ixp[k] * 18 + (size_t)o;
                    h0[i0] += v11[k];
                    h1[i0] += v01[k];
                    h0[i0 + 18] += v10[k];
                    h1[i0 + 18] += v00[k];
                }
            }
        }
        for (; x < visible_nc; x++) {
            int gx, gy, len;
            rgb_gradient(rowp + 3 * (size_t)x, st, 0, &gx, &gy, &len);
            const int o = orientation((float)gx, (float)gy);
            const float v = sqrtf((float)len);
            const float xp = (float)(((double)x + 0.5) / (double)cell - 0.5);
            const int ixp = (int)floorf(xp);
            const float vx0 = xp - (float)ixp;
            const float vx1 = (float)(1.0 - vx0);
            h0[(size_t)(ixp + 1) * 18 + o] += vy1 * vx1 * v;
            h1[(size_t)(ixp + 1) * 18 + o] += vy0 * vx1 * v;
            h0[(size_t)(ixp + 2) * 18 + o] += vy1 * vx0 * v;
            h1[(size_t)(ixp + 2) * 18 + o] += vy0 * vx0 * v;
        }
    }
    for (int r = 0; r < cells_nr; r++)
        for (int c = 0; c < cells_nc; c++) {
            const float *hh = hist + ((size_t)(r + 1) * hnc + (size_t)(c + 1)) * 18;
            float acc = 0;
            for (int o = 0; o < 9; o++)
                acc += (hh[o] + hh[o + 9]) * (hh[o] + hh[o + 9]);
            norm[(size_t)r * cells_nc + c] = acc;
        }
    const float eps = 0.0001f;
    const int oy = (pad_rows - 1) / 2, ox = (pad_cols - 1) / 2;
    for (int y = 0; y < hog_nr; y++) {
        const float *n0 = norm + (size_t)y * cells_nc, *n1 = n0 + cells_nc, *n2 = n1 + cells_nc;
        for (int x = 0; x < hog_nc; x++) {
            const v4f z1 = {n1[x + 1], n0[x + 1], n1[x], n0[x]};
            const v4f z2 = {n1[x + 2], n0[x + 2], n1[x + 1], n0[x + 1]};
            const v4f z3 = {n2[x + 1], n1[x + 1], n2[x], n1[x]};
            const v4f z4 = {n2[x + 2], n1[x + 2], n2[x + 1], n1[x + 1]};
            v4f s = z1 + z2 + z3 + z4 + eps;
            v4f nn;
            for (int k = 0; k < 4; k++)
                nn[k] = 0.2f * sqrtf(s[k]);
            const v4f n = 0.1f / nn;
            v4f t = {0, 0, 0, 0};
            const float *H = hist + ((size_t)(y + 2) * hnc + (size_t)(x + 2)) * 18;
            float *o0 = out + (size_t)(y + oy) * pcol + (size_t)(x + ox);
            for (int o = 0; o < 18; o += 3) {
                v4f a0 = {H[o], H[o], H[o], H[o]}, a1 = {H[o + 1], H[o + 1], H[o + 1], H[o + 1]},
                    a2 = {H[o + 2], H[o + 2], H[o + 2], H[o + 2]};
                v4f q0 = vmin4(a0, nn) * n, q1 = vmin4(a1, nn) * n, q2 = vmin4(a2, nn) * n;
                o0[(size_t)o * plane] = hsum4(q0);
                o0[(size_t)(o + 1) * plane] = hsum4(q1);
                o0[(size_t)(o + 2) * plane] = hsum4(q2);
                t += q0 + q1 + q2;
            }
            t *= 0.4714f;
            for (int o = 0; o < 9; o += 3) {
                float b0 = H[o] + H[o + 9], b1 = H[o + 1] + H[o + 10], b2 = H[o + 2] + H[o + 11];
                v4f a0 = {b0, b0, b0, b0}, a1 = {b1, b1, b1, b1}, a2 = {b2, b2, b2, b2};
                v4f q0 = vmin4(a0, nn) * n, q1 = vmin4(a1, nn) * n, q2 = vmin4(a2, nn) * n;
                o0[(size_t)(o + 18) * plane] = hsum4(q0);
                o0[(size_t)(o + 19) * plane] = hsum4(q1);
                o0[(size_t)(o + 20) * plane] = hsum4(q2);
            }
            o0[(size_t)27 * plane] = t[0];
            o0[(size_t)28 * plane] = t[1];
            o0[(size_t)29 * plane] = t[2];
            o0[(size_t)30 * plane] = t[3];
        }
    }
    return need;
}

/* ---- pyramid_down<6> on RGB (dlib resize_image, bilinear, rgb specialisation) ---------------------------------- */

static void pyr_down6_rgb(const uint8_t *in, int iw, int ih, size_t istride, uint8_t *out, int ow, int oh)
{
    const double x_scale = (iw - 1) / (double)(ow - 1 > 1 ? ow - 1 : 1);
    const double y_scale = (ih - 1) / (double)(oh - 1 > 1 ? oh - 1 : 1);
    double y = -y_scale;
    const size_t ostride = (size_t)ow * 3;
    for (int r = 0; r < oh; r++) {
        y += y_scale;
        const long top = (long)floor(y);
        const long bottom = top + 1 < ih - 1 ? top + 1 : ih - 1;
        const double tb = y - (double)top;
        const uint8_t *T = in + (size_t)top * istride, *B = in + (size_t)bottom * istride;
        uint8_t *o = out + (size_t)r * ostride;
        const double x0 = -4 * x_scale;
        const float tbf = (float)tb, itbf = (float)(1 - tb), xs4 = (float)(4 * x_scale);
        v4f X = {(float)x0, (float)(x0 + x_scale), (float)(x0 + 2 * x_scale), (float)(x0 + 3 * x_scale)};
        long c = 0;
        for (;; c += 4) {
            X += xs4;
            v4i left = __builtin_convertvector(X, v4i);
            v4f lr = X - __builtin_convertvector(left, v4f);
            v4f ilr = 1.0f - lr;
            v4f tlf = itbf * ilr, trf = itbf * lr, blf = tbf * ilr, brf = tbf * lr;
            if (left[3] + 1 >= iw)
                break;
            for (int ch = 0; ch < 3; ch++) {
                v4f tl, tr, bl, br;
                for (int k = 0; k < 4; k++) {
                    tl[k] = T[3 * (size_t)left[k] + ch];
                    tr[k] = T[3 * (size_t)(left[k] + 1) + ch];
                    bl[k] = B[3 * (size_t)left[k] + ch];
                    br[k] = B[3 * (size_t)(left[k] + 1) + ch];
                }
                v4i res = __builtin_convertvector(tlf * tl + trf * tr + blf * bl + brf * br, v4i);
                for (int k = 0; k < 4; k++)
                    o[3 * (size_t)(c + k) + ch] = (uint8_t)res[k];
            }
        }
        double x = -x_scale + (double)c * x_scale;
        for (; c < ow; c++) {
            x += x_scale;
            const long left = (long)floor(x);
            const long right = left + 1 < iw - 1 ? left + 1 : iw - 1;
            const double lr = x - (double)left;
            for (int ch = 0; ch < 3; ch++) {
                double v = (1 - tb) * ((1 - lr) * T[3 * left + ch] + lr * T[3 * right + ch]) +
                           tb * ((1 - lr) * B[3 * left + ch] + lr * B[3 * right + ch]);
                o[3 * c + ch] = (uint8_t)v;
            }
        }
    }
}

/* ---- separable filtering (dlib float_spatially_filter_image_separable) -------------------------------------- */


static void filter_separable(const float *in, int R, int C, const float *rowf, int fw, const float *colf, int fh,
                             float *out, float *scratch, int add_to)
{
    const int first_row = fh / 2, first_col = fw / 2;
    const int last_row = R - (fh - 1) / 2, last_col = C - (fw - 1) / 2;
    for (int r = 0; r < R; r++) {
        const float *ip = in + (size_t)r * C;
        float *sp = scratch + (size_t)r * C;
        int c = first_col;
        for (; c < last_col - 7; c += 8) {
            /* dlib's simd8f loop, as two 4-wide halves (lane-wise identical arithmetic) */
            for (int hf = 0; hf < 8; hf += 4) {
                const float *q = ip + c + hf - first_col;
                v4f t = {0}, t2 = {0}, t3 = {0};
                int n = 0;
                for (; n < fw - 2; n += 3) {
                    t += load4(q + n) * rowf[n];
                    t2 += load4(q + n + 1) * rowf[n + 1];
                    t3 += load4(q + n + 2) * rowf[n + 2];
                }
                for (; n < fw; n++)
                    t += load4(q + n) * rowf[n];
                t += t2 + t3;
                memcpy(sp + c + hf, &t, sizeof t);
            }
        }
        for (; c < last_col; c++) {
            float t = 0;
            for (int n = 0; n < fw; n++)
                t += ip[c - first_col + n] * rowf[n];
            sp[c] = t;
        }
    }
    for (int r = first_row; r < last_row; r++) {
        float *op = out + (size_t)r * C;
        const float *sp = scratch + (size_t)(r - first_row) * C;
        int c = first_col;
        for (; c < last_col - 7; c += 8) {
            for (int hf = 0; hf < 8; hf += 4) {
                const float *q = sp + c + hf;
                v4f t = {0}, t2 = {0}, t3 = {0};
                int m = 0;
                for (; m < fh - 2; m += 3) {
                    t += load4(q + (size_t)m * C) * colf[m];
                    t2 += load4(q + (size_t)(m + 1) * C) * colf[m + 1];
                    t3 += load4(q + (size_t)(m + 2) * C) * colf[m + 2];
                }
                for (; m < fh; m++)
                    t += load4(q + (size_t)m * C) * colf[m];
                t += t2 + t3;
                if (add_to)
                    t += load4(op + c + hf);
                memcpy(op + c + hf, &t, sizeof t);
            }
        }
        for (; c < last_col; c++) {
            float t = 0;
            for (int m = 0; m < fh; m++)
                t += sp[(size_t)m * C + c] * colf[m];
            if (add_to)
                op[c] += t;
            else
                op[c] = t;
        }
    }
}

/* ---- detection ------------------------------------------------------------------------------------------------ */

static long round_half(double v) { return (long)floor(v + 0.5); }

/* dlib fhog_to_image(point) */
static long fhog_to_image1(long p, int cell, int pad)
{
    p = (p + 1 - (pad - 1) / 2) * cell + 1;
    return p + (p >= 0 ? cell / 2 : -(cell / 2));
}

static int det_cmp(const void *a, const void *b)
{
    const fm_hog_det *x = (const fm_hog_det *)a, *y = (const fm_hog_det *)b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return x->weight_index - y->weight_index;
}

static int boxes_overlap(const fm_hog *h, const fm_hog_det *a, const fm_hog_det *b)
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
    return inner / outer > h->iou_thresh || inner / aa > h->covered_thresh || inner / ba > h->covered_thresh;
}

typedef struct detvec {
    fm_hog_det *d;
    size_t n, cap;
} detvec;

static int push_det(detvec *v, fm_hog_det d)
{
    if (v->n == v->cap) {
        size_t nc = v->cap ? v->cap * 2 : 64;
        fm_hog_det *nd = (fm_hog_det *)realloc(v->d, nc * sizeof *nd);
        if (!nd)
            return -1;
        v->d = nd;
        v->cap = nc;
    }
    v->d[v->n++] = d;
    return 0;
}

fm_status fm_hog_detect(const fm_hog *h, fm_ctx *ctx, nn_arena *arena, const uint8_t *rgb, int w, int hh, int stride,
                        double adjust_threshold, fm_hog_det **dets_out, size_t *nout)
{
    *dets_out = NULL;
    *nout = 0;
    if (!h || !rgb || w < 1 || hh < 1 || stride < 3 * w || !isfinite(adjust_threshold))
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "fm_hog_detect: invalid arguments");
    if ((size_t)w * (size_t)hh > ((size_t)1 << 28))
        return fm_fail(ctx, FM_ERR_LIMIT, "image too large for the HOG detector");
    /* number of pyramid levels: dlib create_fhog_pyramid's rect_down loop */
    long levels = 0;
    {
        double l = 0, t = 0, r = w - 1, b = hh - 1;
        long li, ti, ri, bi;
        do {
            l = (double)round_half((l - 0.3) * (5 / 6.0));
            t = (double)round_half((t - 0.3) * (5 / 6.0));
            r = (double)round_half((r - 0.3) * (5 / 6.0));
            b = (double)round_half((b - 0.3) * (5 / 6.0));
            li = (long)l, ti = (long)t, ri = (long)r, bi = (long)b;
            levels++;
        } while (ri - li + 1 >= h->min_level_w && bi - ti + 1 >= h->min_level_h && levels < h->max_levels);
    }
    /* scratch layout (floats): two pyramid images (bytes, rounded up), features, saliency, filter scratch, work */
    const int cell = h->cell_size, fw = h->fw, fh = h->fh;
    size_t img_f = ((size_t)w * (size_t)hh * 3 + 3) / 4 + 16;
    int prow0 = 0, pcol0 = 0;
    size_t feat_f = fm_fhog_extract(rgb, w, hh, stride, cell, fh, fw, NULL, 0, NULL, 0, &prow0, &pcol0);
    size_t plane_f = (size_t)prow0 * (size_t)pcol0 + 16;
    size_t work_f = fm_fhog_work_size(w, hh, cell);
    size_t total = 2 * img_f + feat_f + 2 * plane_f + work_f + 64;
    if (feat_f == 0) /* too small to hold one block */
        return FM_OK;
    fm_status st = nn_arena_reserve(arena, total, ctx);
    if (st != FM_OK)
        return st;
    uint8_t *imgA = (uint8_t *)arena->base, *imgB = (uint8_t *)(arena->base + img_f);
    float *feats = arena->base + 2 * img_f;
    float *sal = feats + feat_f, *scr = sal + plane_f, *work = scr + plane_f;
    detvec all = {0};
    const uint8_t *cur = rgb;
    size_t cur_stride = (size_t)stride;
    int cw = w, ch = hh;
    const int det_w = fw - 2 * h->padding, det_h = fh - 2 * h->padding;
    for (long lv = 0; lv < levels; lv++) {
        if (lv > 0) {
            int nw = (int)((5L * cw) / 6), nh = (int)((5L * ch) / 6);
            uint8_t *dst = cur == imgA ? imgB : imgA;
            if (nw < 1 || nh < 1)
                break;
            pyr_down6_rgb(cur, cw, ch, cur_stride, dst, nw, nh);
            cur = dst;
            cur_stride = (size_t)nw * 3;
            cw = nw;
            ch = nh;
        }
        int R, C;
        size_t need = fm_fhog_extract(cur, cw, ch, (int)cur_stride, cell, fh, fw, feats, feat_f, work, work_f, &R, &C);
        if (need == 0)
            continue; /* no cells at this size (dlib would read an empty feature image) */
        const size_t plane = (size_t)R * C;
        const int first_row = fh / 2, first_col = fw / 2;
        const int last_row = R - (fh - 1) / 2, last_col = C - (fw - 1) / 2;
        for (int d = 0; d < h->ndet; d++) {
            const fm_hog_filter *f = &h->det[d];
            if (f->total_terms == 0)
                continue;
            int term = 0, first = 1;
            for (int p = 0; p < FM_HOG_PLANES; p++)
                for (int j = 0; j < f->nterms[p]; j++, term++) {
                    filter_separable(feats + (size_t)p * plane, R, C, f->row + (size_t)term * fw, fw,
                                     f->col + (size_t)term * fh, fh, sal, scr, !first);
                    first = 0;
                }
            const double thr = f->thresh + adjust_threshold;
            for (int r = first_row; r < last_row; r++)
                for (int c = first_col; c < last_col; c++) {
                    const float s = sal[(size_t)r * C + c];
                    if (!((double)s >= thr))
                        continue;
                    /* centered_rect(point(c, r), det_w, det_h) -> fhog_to_image -> rect_up(lv) */
                    long l = c - det_w / 2, t = r - det_h / 2, rr = l + det_w - 1, bb = t + det_h - 1;
                    double x0 = (double)fhog_to_image1(l, cell, fw), y0 = (double)fhog_to_image1(t, cell, fh);
                    double x1 = (double)fhog_to_image1(rr, cell, fw), y1 = (double)fhog_to_image1(bb, cell, fh);
                    for (long k = 0; k < lv; k++) {
                        x0 = x0 * (6 / 5.0) + 0.3;
                        y0 = y0 * (6 / 5.0) + 0.3;
                        x1 = x1 * (6 / 5.0) + 0.3;
                        y1 = y1 * (6 / 5.0) + 0.3;
                    }
                    fm_hog_det e = {round_half(x0), round_half(y0), round_half(x1), round_half(y1),
                                    (double)s - f->thresh, d};
                    if (push_det(&all, e)) {
                        free(all.d);
                        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
                    }
                }
        }
    }
    if (all.n == 0) {
        free(all.d);
        return FM_OK;
    }
    qsort(all.d, all.n, sizeof *all.d, det_cmp);
    size_t nk = 0;
    for (size_t i = 0; i < all.n; i++) {
        int sup = 0;
        for (size_t j = 0; j < nk && !sup; j++)
            sup = boxes_overlap(h, &all.d[j], &all.d[i]);
        if (!sup)
            all.d[nk++] = all.d[i];
    }
    *dets_out = all.d;
    *nout = nk;
    return FM_OK;
}

/* ---- fm_detect(FM_DETECTOR_HOG) ------------------------------------------------------------------------------ */

#include "face_internal.h"

fm_status fm_hog_detect_boxes(fm_ctx *ctx, const fm_engine *e, const uint8_t *rgb, int w, int h, int stride,
                              const fm_detect_options *opt, int threads, fm_face_box **out, size_t *n)
{
    (void)threads; /* single-threaded, like dlib's object_detector */
    *out = NULL;
    *n = 0;
    if (opt->upsample != 0)
        return fm_fail(ctx, FM_ERR_UNSUPPORTED, "HOG upsampling is not implemented");
    /* the ctx's scratch arena, kept between calls (a ctx belongs to one thread at a time) */
    nn_arena arena = {ctx ? ctx->nn_scratch : NULL, ctx ? ctx->nn_scratch_cap : 0};
    fm_hog_det *d = NULL;
    size_t nd = 0;
    fm_status st = fm_hog_detect(e->hog, ctx, &arena, rgb, w, h, stride, (double)opt->min_score, &d, &nd);
    if (ctx) {
        ctx->nn_scratch = arena.base;
        ctx->nn_scratch_cap = arena.cap;
    } else {
        nn_arena_free(&arena);
    }
    if (st != FM_OK)
        return st;
    if (nd && !(*out = (fm_face_box *)calloc(nd, sizeof **out))) {
        free(d);
        return fm_fail(ctx, FM_ERR_NO_MEMORY, "out of memory");
    }
    for (size_t i = 0; i < nd; i++) {
        (*out)[i].left = (float)d[i].l;
        (*out)[i].top = (float)d[i].t;
        (*out)[i].right = (float)d[i].r;
        (*out)[i].bottom = (float)d[i].b;
        (*out)[i].score = (float)d[i].score;
    }
    *n = nd;
    free(d);
    return FM_OK;
}
