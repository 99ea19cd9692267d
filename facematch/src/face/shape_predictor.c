/* dlib shape predictor: loading (dlib serialization, strict) and prediction, following the algorithm of
 * dlib/image_processing/shape_predictor.h (dlib 19.24) so that results are identical to dlib's. */
#include "shape_predictor.h"

#include "chip.h"

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SP_MAX_PARTS 1000
#define SP_MAX_CASCADES 100
#define SP_MAX_TREES 10000
#define SP_MAX_DEPTH 12
#define SP_MAX_FEAT 100000

void fm_sp_free(fm_shape_predictor *sp)
{
    if (!sp)
        return;
    if (sp->cascades) {
        for (int i = 0; i < sp->ncascades; i++) {
            fm_sp_cascade *c = &sp->cascades[i];
            free(c->split_idx);
            free(c->split_thresh);
            free(c->leaves);
            free(c->anchor);
            free(c->deltas);
        }
    }
    free(sp->cascades);
    free(sp->initial);
    free(sp);
}

/* matrix<float,0,1>: -nr, -nc (long), then values. */
static int read_colvec(dser *r, float *dst, int64_t want_len, int64_t *got_len)
{
    int64_t nr, nc;
    if (dser_i64(r, &nr, 8) || dser_i64(r, &nc, 8))
        return -1;
    if (nr < 0 || nc < 0) {
        nr = -nr;
        nc = -nc;
    } else {
        return dser_fail(r, "old matrix serialization format is not supported");
    }
    if (nc != 1 && !(nr == 0 && nc == 0))
        return dser_fail(r, "column vector expected, found %lldx%lld matrix", (long long)nr, (long long)nc);
    if (got_len)
        *got_len = nr;
    if (want_len >= 0 && nr != want_len)
        return dser_fail(r, "vector of %lld values, expected %lld", (long long)nr, (long long)want_len);
    if (!dst)
        return 0;
    for (int64_t i = 0; i < nr; i++)
        if (dser_float(r, &dst[i], 0))
            return -1;
    return 0;
}

static int read_count(dser *r, uint64_t *n, uint64_t max, const char *what)
{
    if (dser_u64(r, n, 8))
        return -1;
    if (*n > max)
        return dser_fail(r, "%s: %llu entries, at most %llu allowed", what, (unsigned long long)*n,
                         (unsigned long long)max);
    return 0;
}

int fm_sp_load(dser *r, fm_shape_predictor **out)
{
    *out = NULL;
    fm_shape_predictor *sp = (fm_shape_predictor *)calloc(1, sizeof *sp);
    if (!sp)
        return dser_fail(r, "out of memory");
    if (dser_expect_int(r, 1, "shape_predictor version"))
        goto fail;
    /* initial shape: read header first to size the buffer */
    {
        size_t save = r->pos;
        int64_t n;
        if (read_colvec(r, NULL, -1, &n))
            goto fail;
        if (n <= 0 || n % 2 || n / 2 > SP_MAX_PARTS) {
            dser_fail(r, "initial shape has %lld values (must be 2 x parts, 1..%d parts)", (long long)n,
                      SP_MAX_PARTS);
            goto fail;
        }
        r->pos = save;
        sp->nparts = (int)(n / 2);
        sp->initial = (float *)malloc((size_t)n * sizeof(float));
        if (!sp->initial) {
            dser_fail(r, "out of memory");
            goto fail;
        }
        if (read_colvec(r, sp->initial, n, NULL))
            goto fail;
    }
    const int dim = 2 * sp->nparts;
    uint64_t nc;
    if (read_count(r, &nc, SP_MAX_CASCADES, "cascades"))
        goto fail;
    if (nc == 0) {
        dser_fail(r, "no cascades");
        goto fail;
    }
    sp->cascades = (fm_sp_cascade *)calloc((size_t)nc, sizeof(fm_sp_cascade));
    if (!sp->cascades) {
        dser_fail(r, "out of memory");
        goto fail;
    }
    sp->ncascades = (int)nc;
    for (int ci = 0; ci < sp->ncascades; ci++) {
        fm_sp_cascade *c = &sp->cascades[ci];
        uint64_t nt;
        if (read_count(r, &nt, SP_MAX_TREES, "trees in a cascade"))
            goto fail;
        if (nt == 0) {
            dser_fail(r, "empty cascade");
            goto fail;
        }
        c->ntrees = (int)nt;
        for (int ti = 0; ti < c->ntrees; ti++) {
            uint64_t ns;
            if (read_count(r, &ns, ((uint64_t)1 << SP_MAX_DEPTH) - 1, "splits in a tree"))
                goto fail;
            int depth = 0;
            while ((((uint64_t)1 << depth) - 1) < ns)
                depth++;
            if ((((uint64_t)1 << depth) - 1) != ns) {
                dser_fail(r, "tree with %llu splits is not complete", (unsigned long long)ns);
                goto fail;
            }
            if (ti == 0) {
                c->depth = depth;
                size_t nsplit = (size_t)c->ntrees * ns;
                size_t nleaf = (size_t)c->ntrees * ((size_t)1 << depth);
                size_t nleafv;
                if (fm_mul_size(nleaf, (size_t)dim, &nleafv)) {
                    dser_fail(r, "tree sizes overflow");
                    goto fail;
                }
                if (nleafv > (r->len - r->pos)) { /* every value needs at least 2 bytes */
                    dser_fail(r, "trees larger than the file");
                    goto fail;
                }
                c->split_idx = (uint32_t *)malloc((nsplit ? nsplit : 1) * 2 * sizeof(uint32_t));
                c->split_thresh = (float *)malloc((nsplit ? nsplit : 1) * sizeof(float));
                c->leaves = (float *)malloc(nleafv * sizeof(float));
                if (!c->split_idx || !c->split_thresh || !c->leaves) {
                    dser_fail(r, "out of memory");
                    goto fail;
                }
            } else if (depth != c->depth) {
                dser_fail(r, "trees of one cascade differ in depth (%d vs %d)", depth, c->depth);
                goto fail;
            }
            size_t base = (size_t)ti * ns;
            for (uint64_t s = 0; s < ns; s++) {
                uint64_t i1, i2;
                if (dser_u64(r, &i1, 8) || dser_u64(r, &i2, 8) ||
                    dser_float(r, &c->split_thresh[base + s], 0))
                    goto fail;
                if (i1 > SP_MAX_FEAT || i2 > SP_MAX_FEAT) {
                    dser_fail(r, "split feature index out of range");
                    goto fail;
                }
                c->split_idx[2 * (base + s)] = (uint32_t)i1;
                c->split_idx[2 * (base + s) + 1] = (uint32_t)i2;
            }
            uint64_t nl;
            if (read_count(r, &nl, (uint64_t)1 << SP_MAX_DEPTH, "leaves"))
                goto fail;
            if (nl != ns + 1) {
                dser_fail(r, "tree has %llu leaves for %llu splits", (unsigned long long)nl, (unsigned long long)ns);
                goto fail;
            }
            float *lv = c->leaves + (size_t)ti * nl * (size_t)dim;
            for (uint64_t l = 0; l < nl; l++)
                if (read_colvec(r, lv + l * (size_t)dim, dim, NULL))
                    goto fail;
        }
    }
    /* anchor_idx: vector<vector<unsigned long>> */
    uint64_t na;
    if (read_count(r, &na, SP_MAX_CASCADES, "anchor lists"))
        goto fail;
    if ((int)na != sp->ncascades) {
        dser_fail(r, "%llu anchor lists for %d cascades", (unsigned long long)na, sp->ncascades);
        goto fail;
    }
    for (int ci = 0; ci < sp->ncascades; ci++) {
        fm_sp_cascade *c = &sp->cascades[ci];
        uint64_t nf;
        if (read_count(r, &nf, SP_MAX_FEAT, "feature pixels"))
            goto fail;
        c->nfeat = (int)nf;
        c->anchor = (uint32_t *)malloc((nf ? nf : 1) * sizeof(uint32_t));
        if (!c->anchor) {
            dser_fail(r, "out of memory");
            goto fail;
        }
        for (uint64_t i = 0; i < nf; i++) {
            uint64_t a;
            if (dser_u64(r, &a, 8))
                goto fail;
            if (a >= (uint64_t)sp->nparts) {
                dser_fail(r, "anchor index %llu >= %d parts", (unsigned long long)a, sp->nparts);
                goto fail;
            }
            c->anchor[i] = (uint32_t)a;
        }
        size_t nsplit = (size_t)c->ntrees * (((size_t)1 << c->depth) - 1);
        for (size_t s = 0; s < 2 * nsplit; s++)
            if (c->split_idx[s] >= nf) {
                dser_fail(r, "split feature index %u >= %llu feature pixels", c->split_idx[s],
                          (unsigned long long)nf);
                goto fail;
            }
    }
    uint64_t nd;
    if (read_count(r, &nd, SP_MAX_CASCADES, "delta lists"))
        goto fail;
    if ((int)nd != sp->ncascades) {
        dser_fail(r, "%llu delta lists for %d cascades", (unsigned long long)nd, sp->ncascades);
        goto fail;
    }
    for (int ci = 0; ci < sp->ncascades; ci++) {
        fm_sp_cascade *c = &sp->cascades[ci];
        uint64_t nf;
        if (read_count(r, &nf, SP_MAX_FEAT, "deltas"))
            goto fail;
        if ((int)nf != c->nfeat) {
            dser_fail(r, "%llu deltas for %d anchors", (unsigned long long)nf, c->nfeat);
            goto fail;
        }
        c->deltas = (float *)malloc((nf ? nf : 1) * 2 * sizeof(float));
        if (!c->deltas) {
            dser_fail(r, "out of memory");
            goto fail;
        }
        for (uint64_t i = 0; i < 2 * nf; i++)
            if (dser_float(r, &c->deltas[i], 0))
                goto fail;
    }
    if (r->pos != r->len) {
        dser_fail(r, "%zu unexpected bytes after the shape predictor", r->len - r->pos);
        goto fail;
    }
    *out = sp;
    return 0;
fail:
    fm_sp_free(sp);
    return -1;
}

/* dlib's find_similarity_transform from `from` (float) to `to` (float), n points, as the 2x2 rotation+scale part
 * m = [a -b; b a] (row-major): chip.c's fm_similarity_transform on the points widened to double (exactly the same
 * arithmetic as before, the floats being promoted anyway). tmp holds 4 n doubles. */
static void similarity_2x2(const float *from, const float *to, int n, double *tmp, double m[4])
{
    double *f = tmp, *t = tmp + 2 * n, m6[6];
    for (int i = 0; i < 2 * n; i++) {
        f[i] = from[i];
        t[i] = to[i];
    }
    fm_similarity_transform(f, t, n, m6);
    m[0] = m6[0];
    m[1] = m6[1];
    m[2] = m6[3];
    m[3] = m6[4];
}

/* dlib's rounding of a point to a pixel, clamped to +-1e9 so that a hostile (finite but absurd) model whose shape
 * drifts out of range, or to NaN, gives far-away points instead of an undefined float-to-integer conversion. */
static inline long round_half_up(double v)
{
    v = floor(v + 0.5);
    if (!(v > -1e9)) /* also NaN */
        return -1000000000L;
    if (v > 1e9)
        return 1000000000L;
    return (long)v;
}

int fm_sp_predict(const fm_shape_predictor *sp, const fm_sp_image *img, long l, long t, long r, long b,
                  float *pts_xy)
{
    const int dim = 2 * sp->nparts;
    int maxfeat = 0;
    for (int ci = 0; ci < sp->ncascades; ci++)
        if (sp->cascades[ci].nfeat > maxfeat)
            maxfeat = sp->cascades[ci].nfeat;
    float *shape = (float *)malloc(((size_t)dim + (size_t)maxfeat + 1) * sizeof(float));
    if (!shape)
        return -1;
    double *simtmp = (double *)malloc(2 * (size_t)dim * sizeof(double));
    if (!simtmp) {
        free(shape);
        return -1;
    }
    float *feat = shape + dim;
    memcpy(shape, sp->initial, (size_t)dim * sizeof(float));
    /* unnormalizing transform: (0,0) -> tl, (1,1) -> br */
    const double sx = (double)(r - l), sy = (double)(b - t);
    for (int ci = 0; ci < sp->ncascades; ci++) {
        const fm_sp_cascade *c = &sp->cascades[ci];
        double md[4];
        if (sp->nparts == 1) {
            md[0] = 1;
            md[1] = 0;
            md[2] = 0;
            md[3] = 1;
        } else {
            similarity_2x2(sp->initial, shape, sp->nparts, simtmp, md);
        }
        const float m00 = (float)md[0], m01 = (float)md[1], m10 = (float)md[2], m11 = (float)md[3];
        for (int i = 0; i < c->nfeat; i++) {
            const float dx = c->deltas[2 * i], dy = c->deltas[2 * i + 1];
            const uint32_t a = c->anchor[i];
            float px = m00 * dx + m01 * dy;
            float py = m10 * dx + m11 * dy;
            px += shape[2 * a];
            py += shape[2 * a + 1];
            long x = round_half_up(sx * (double)px + (double)l);
            long y = round_half_up(sy * (double)py + (double)t);
            if (x >= 0 && y >= 0 && x < img->width && y < img->height) {
                const uint8_t *p = img->data + (size_t)y * (size_t)img->stride + (size_t)x * (size_t)img->bpp;
                feat[i] = img->bpp == 1 ? (float)p[0] : (float)(((unsigned)p[0] + p[1] + p[2]) / 3);
            } else {
                feat[i] = 0;
            }
        }
        const size_t nsplit = ((size_t)1 << c->depth) - 1;
        const size_t nleaf = nsplit + 1;
        for (int ti = 0; ti < c->ntrees; ti++) {
            const uint32_t *si = c->split_idx + 2 * (size_t)ti * nsplit;
            const float *th = c->split_thresh + (size_t)ti * nsplit;
            size_t i = 0;
            while (i < nsplit)
                i = (feat[si[2 * i]] - feat[si[2 * i + 1]] > th[i]) ? 2 * i + 1 : 2 * i + 2;
            const float *leaf = c->leaves + ((size_t)ti * nleaf + (i - nsplit)) * (size_t)dim;
            for (int k = 0; k < dim; k++)
                shape[k] += leaf[k];
        }
    }
    for (int i = 0; i < sp->nparts; i++) {
        pts_xy[2 * i] = (float)round_half_up(sx * (double)shape[2 * i] + (double)l);
        pts_xy[2 * i + 1] = (float)round_half_up(sy * (double)shape[2 * i + 1] + (double)t);
    }
    free(simtmp);
    free(shape);
    return 0;
}
