/* facematch eval: verification accuracy over a list of pairs (or every pair of an identities list). */
#include "face_cli.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct img_entry {
    char *path;      /* relative, as in the CSV */
    int ok;          /* descriptor computed */
    float d[FM_DESCRIPTOR_MAX];
} img_entry;

typedef struct pair {
    int a, b, same;
    double dist;     /* NAN when a face was missing */
} pair;

typedef struct eval_state {
    img_entry *imgs;
    int nimgs;
    const char *root;
    const fm_engine *eng;
    const face_cli_opts *o;
    fm_embedder emb;
    pthread_mutex_t mu;
    int next, done, failed_load;
} eval_state;

static int find_or_add(img_entry **imgs, int *n, int *cap, const char *p)
{
    for (int i = *n - 1; i >= 0; i--) /* lists are usually grouped: search backwards */
        if (strcmp((*imgs)[i].path, p) == 0)
            return i;
    if (*n == *cap) {
        int nc = *cap ? *cap * 2 : 256;
        img_entry *ni = (img_entry *)realloc(*imgs, (size_t)nc * sizeof(img_entry));
        if (!ni)
            return -1;
        *imgs = ni;
        *cap = nc;
    }
    img_entry *e = &(*imgs)[*n];
    memset(e, 0, sizeof *e);
    e->path = strdup(p);
    if (!e->path)
        return -1;
    return (*n)++;
}

static char *trim(char *s)
{
    size_t l = strlen(s);
    while (l && (s[l - 1] == '\n' || s[l - 1] == '\r' || s[l - 1] == ' '))
        s[--l] = 0;
    return s;
}

static void *worker(void *arg)
{
    eval_state *S = (eval_state *)arg;
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return NULL;
    for (;;) {
        pthread_mutex_lock(&S->mu);
        int i = S->next < S->nimgs ? S->next++ : -1;
        pthread_mutex_unlock(&S->mu);
        if (i < 0)
            break;
        img_entry *e = &S->imgs[i];
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", S->root, e->path);
        fm_image *img = NULL;
        fm_face_box *faces = NULL;
        size_t n = 0;
        int load_fail = 0;
        if (fm_image_load(ctx, full, FM_PIX_RGB24, &img, NULL) != FM_OK) {
            load_fail = 1;
        } else if (face_cli_detect(ctx, S->eng, S->o, img, &faces, &n) == FM_OK && n > 0) {
            int k = face_cli_largest(faces, n);
            e->ok = fm_embed_face(ctx, S->eng, S->emb, img, &faces[k], e->d, FM_DESCRIPTOR_MAX) == FM_OK;
        }
        free(faces);
        fm_image_destroy(img);
        pthread_mutex_lock(&S->mu);
        S->done++;
        S->failed_load += load_fail;
        fprintf(stderr, "\reval: %d/%d images", S->done, S->nimgs);
        fflush(stderr);
        pthread_mutex_unlock(&S->mu);
    }
    fm_ctx_destroy(ctx);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* FAR(t) = impostors with d < t; TAR(t) = genuines with d < t. Missing distances never match. */
typedef struct roc_pt {
    double t, far, tar;
} roc_pt;

static void draw_line(uint8_t *px, int stride, int W, int H, double x0, double y0, double x1, double y1, uint8_t r,
                      uint8_t g, uint8_t b, int thick)
{
    int steps = (int)(fabs(x1 - x0) + fabs(y1 - y0)) + 1;
    for (int s = 0; s <= steps; s++) {
        double x = x0 + (x1 - x0) * s / steps, y = y0 + (y1 - y0) * s / steps;
        for (int dy = -thick; dy <= thick; dy++)
            for (int dx = -thick; dx <= thick; dx++) {
                int xi = (int)lround(x) + dx, yi = (int)lround(y) + dy;
                if (xi < 0 || yi < 0 || xi >= W || yi >= H)
                    continue;
                uint8_t *p = px + (size_t)yi * (size_t)stride + (size_t)xi * 3;
                p[0] = r;
                p[1] = g;
                p[2] = b;
            }
    }
}

/* ROC plot: x = FAR on a log scale 1e-4..1, y = TAR 0..1; grid at decades and tenths; red curve; blue dashed
 * chance line. No text (the summary JSON carries the numbers). */
static fm_status plot_roc(fm_ctx *ctx, const char *path, const roc_pt *pts, int n)
{
    const int W = 640, H = 480, L = 50, R = 20, T = 20, B = 40;
    fm_image *img = NULL;
    fm_status st = fm_image_create(ctx, FM_PIX_RGB24, W, H, &img);
    if (st != FM_OK)
        return st;
    int stride;
    uint8_t *px = (uint8_t *)fm_image_plane(img, 0, &stride);
    for (int y = 0; y < H; y++)
        memset(px + (size_t)y * stride, 255, (size_t)W * 3);
    const double pw = W - L - R, ph = H - T - B;
#define PX(far) (L + (log10((far) < 1e-4 ? 1e-4 : (far)) + 4) / 4 * pw)
#define PY(tar) (T + (1 - (tar)) * ph)
    for (int d = -4; d <= 0; d++)
        draw_line(px, stride, W, H, PX(pow(10, d)), T, PX(pow(10, d)), T + ph, 200, 200, 200, 0);
    for (int k = 0; k <= 10; k++)
        draw_line(px, stride, W, H, L, PY(k / 10.0), L + pw, PY(k / 10.0), 220, 220, 220, 0);
    draw_line(px, stride, W, H, L, T, L, T + ph, 0, 0, 0, 0);
    draw_line(px, stride, W, H, L, T + ph, L + pw, T + ph, 0, 0, 0, 0);
    for (int k = 0; k < 200; k += 2) {
        double f0 = pow(10, -4 + 4.0 * k / 200), f1 = pow(10, -4 + 4.0 * (k + 1) / 200);
        draw_line(px, stride, W, H, PX(f0), PY(f0), PX(f1), PY(f1), 80, 80, 255, 0);
    }
    for (int i = 1; i < n; i++)
        draw_line(px, stride, W, H, PX(pts[i - 1].far), PY(pts[i - 1].tar), PX(pts[i].far), PY(pts[i].tar), 220, 0,
                  0, 1);
#undef PX
#undef PY
    size_t len = 0;
    st = fm_image_encode(ctx, img, FM_FORMAT_PNG, 0, NULL, 0, &len);
    uint8_t *buf = NULL;
    if (st == FM_ERR_BUFFER_TOO_SMALL || st == FM_OK) {
        buf = (uint8_t *)malloc(len ? len : 1);
        st = buf ? fm_image_encode(ctx, img, FM_FORMAT_PNG, 0, buf, len, &len) : FM_ERR_NO_MEMORY;
    }
    if (st == FM_OK) {
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(buf, 1, len, f) != len)
            st = FM_ERR_IO;
        if (f && fclose(f) != 0)
            st = FM_ERR_IO;
    }
    free(buf);
    fm_image_destroy(img);
    return st;
}

int cmd_eval(int argc, char **argv)
{
    char dirbuf[4096];
    face_cli_opts o = {0};
    o.verify = 1;
    o.models_dir = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    const char *pairs_csv = NULL, *ids_csv = NULL, *root = ".", *out = NULL, *plot = NULL;
    long threads = 1;
    fm_embedder emb = FM_EMBED_DLIB;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch eval (--pairs CSV | --identities CSV) --root DIR --out OUT.csv [--threads N]\n"
                   "                      [--plot FILE.png] [--threshold T] [--models DIR] [--detector photo|auto|fast|mmod|hog]\n"
                   "                      [--embedder dlib|fr512]\n"
                   "--embedder: dlib (default: 5 points, 150x150 chip, ResNet 128-d, Euclidean distance) or fr512\n"
                   "(dlib 68 points, 112x112 five-point alignment, fr_feature.onnx 512-d, distance 1 - cosine).\n"
                   "--pairs: CSV with header path_a,path_b,same (same = 1/0 or true/false), paths relative to DIR.\n"
                   "--identities: CSV with header path,identity[,...]: every pair of rows is evaluated (same identity\n"
                   "= genuine pair). Each image is processed once (largest face, dlib 128-d descriptor).\n"
                   "Writes OUT.csv (path_a,path_b,same,distance; distance empty when a face was not found) and prints\n"
                   "a JSON summary: pairs, genuine, impostor, images, failures_to_detect (images), pairs_without_face,\n"
                   "eer, eer_threshold, tar_at_far_1e-2 (+ threshold), tar_at_far_1e-3 (+ threshold),\n"
                   "best_accuracy (+ threshold), and at the given/default threshold: far, frr. Pairs without a face\n"
                   "count as non-matches. --plot writes a ROC curve (TAR vs FAR, log scale 1e-4..1) as PNG.\n");
            return FM_EXIT_OK;
        }
        int r = face_cli_common_opt("eval", argc, argv, &i, &o);
        if (r < 0)
            return FM_EXIT_USAGE;
        if (r)
            continue;
        if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc)
            pairs_csv = argv[++i];
        else if (strcmp(argv[i], "--identities") == 0 && i + 1 < argc)
            ids_csv = argv[++i];
        else if (strcmp(argv[i], "--root") == 0 && i + 1 < argc)
            root = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (strcmp(argv[i], "--plot") == 0 && i + 1 < argc)
            plot = argv[++i];
        else if (strcmp(argv[i], "--embedder") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "dlib") == 0)
                emb = FM_EMBED_DLIB;
            else if (strcmp(v, "fr512") == 0)
                emb = FM_EMBED_FR512;
            else
                return cli_error("eval", FM_ERR_INVALID_ARGUMENT, "--embedder must be dlib or fr512");
        }
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            threads = strtol(argv[++i], &end, 10);
            if (*end || threads < 1 || threads > 64)
                return cli_error("eval", FM_ERR_INVALID_ARGUMENT, "--threads must be 1..64");
        } else
            return cli_error("eval", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
    }
    if (!!pairs_csv == !!ids_csv)
        return cli_error("eval", FM_ERR_INVALID_ARGUMENT, "give exactly one of --pairs or --identities");
    if (!out)
        return cli_error("eval", FM_ERR_INVALID_ARGUMENT, "missing --out OUT.csv");
    FILE *f = fopen(pairs_csv ? pairs_csv : ids_csv, "r");
    if (!f)
        return cli_error("eval", FM_ERR_IO, "cannot open %s", pairs_csv ? pairs_csv : ids_csv);
    img_entry *imgs = NULL;
    int nimgs = 0, capimgs = 0;
    pair *pairs = NULL;
    size_t npairs = 0, cappairs = 0;
    int *ident = NULL; /* identities mode: identity index per image */
    char **idnames = NULL;
    int nid = 0, rc = FM_EXIT_OK;
    char line[8192];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        trim(line);
        if (!line[0])
            continue;
        char *c1 = strchr(line, ','), *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
        if (!c1 || (pairs_csv && !c2)) {
            rc = cli_error("eval", FM_ERR_FORMAT, "line %d: expected %s", lineno,
                           pairs_csv ? "path_a,path_b,same" : "path,identity");
            goto done;
        }
        *c1 = 0;
        if (c2)
            *c2 = 0;
        if (lineno == 1 && (strcmp(line, "path_a") == 0 || strcmp(line, "path") == 0))
            continue; /* header */
        if (pairs_csv) {
            char *sv = c2 + 1, *c3 = strchr(sv, ',');
            if (c3)
                *c3 = 0;
            int same;
            if (strcmp(sv, "1") == 0 || strcmp(sv, "true") == 0 || strcmp(sv, "True") == 0)
                same = 1;
            else if (strcmp(sv, "0") == 0 || strcmp(sv, "false") == 0 || strcmp(sv, "False") == 0)
                same = 0;
            else {
                rc = cli_error("eval", FM_ERR_FORMAT, "line %d: same must be 1/0 or true/false", lineno);
                goto done;
            }
            int a = find_or_add(&imgs, &nimgs, &capimgs, line), b = find_or_add(&imgs, &nimgs, &capimgs, c1 + 1);
            if (a < 0 || b < 0) {
                rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
                goto done;
            }
            if (npairs == cappairs) {
                cappairs = cappairs ? cappairs * 2 : 1024;
                pair *np = (pair *)realloc(pairs, cappairs * sizeof(pair));
                if (!np) {
                    rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
                    goto done;
                }
                pairs = np;
            }
            pairs[npairs].a = a;
            pairs[npairs].b = b;
            pairs[npairs].same = same;
            npairs++;
        } else {
            int a = find_or_add(&imgs, &nimgs, &capimgs, line);
            if (a < 0) {
                rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
                goto done;
            }
            int *ni = (int *)realloc(ident, (size_t)capimgs * sizeof(int));
            if (!ni) {
                rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
                goto done;
            }
            ident = ni;
            int id = -1;
            for (int k = 0; k < nid; k++)
                if (strcmp(idnames[k], c1 + 1) == 0)
                    id = k;
            if (id < 0) {
                char **nn = (char **)realloc(idnames, (size_t)(nid + 1) * sizeof(char *));
                if (!nn) {
                    rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
                    goto done;
                }
                idnames = nn;
                idnames[nid] = strdup(c1 + 1);
                id = nid++;
            }
            ident[a] = id;
        }
    }
    if (ids_csv) {
        cappairs = (size_t)nimgs * (size_t)(nimgs > 0 ? nimgs - 1 : 0) / 2;
        pairs = (pair *)malloc((cappairs ? cappairs : 1) * sizeof(pair));
        if (!pairs) {
            rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        for (int a = 0; a < nimgs; a++)
            for (int b = a + 1; b < nimgs; b++) {
                pairs[npairs].a = a;
                pairs[npairs].b = b;
                pairs[npairs].same = ident[a] == ident[b];
                npairs++;
            }
    }
    if (npairs == 0) {
        rc = cli_error("eval", FM_ERR_FORMAT, "no pairs");
        goto done;
    }
    {
        fm_ctx *ctx = fm_ctx_create();
        fm_engine *eng = NULL;
        fm_status st = ctx ? face_cli_engine_ex(ctx, &o, 1, emb, &eng) : FM_ERR_NO_MEMORY;
        if (st != FM_OK) {
            rc = cli_error("eval", st, "models: %s", ctx ? fm_ctx_errmsg(ctx) : "out of memory");
            fm_ctx_destroy(ctx);
            goto done;
        }
        eval_state S;
        memset(&S, 0, sizeof S);
        S.imgs = imgs;
        S.nimgs = nimgs;
        S.root = root;
        S.eng = eng;
        S.o = &o;
        S.emb = emb;
        pthread_mutex_init(&S.mu, NULL);
        pthread_t th[64];
        int started = 0;
        for (long t = 1; t < threads; t++)
            if (pthread_create(&th[started], NULL, worker, &S) == 0)
                started++;
        worker(&S);
        for (int t = 0; t < started; t++)
            pthread_join(th[t], NULL);
        pthread_mutex_destroy(&S.mu);
        fprintf(stderr, "\n");
        fm_engine_destroy(eng);
        /* distances */
        for (size_t k = 0; k < npairs; k++) {
            img_entry *a = &imgs[pairs[k].a], *b = &imgs[pairs[k].b];
            fm_compare_result res;
            if (a->ok && b->ok &&
                fm_compare(ctx, emb, a->d, b->d, (size_t)fm_embedder_dim(emb), 0, &res) == FM_OK)
                pairs[k].dist = res.distance;
            else
                pairs[k].dist = NAN;
        }
        fm_ctx_destroy(ctx);
        FILE *of = fopen(out, "w");
        if (!of) {
            rc = cli_error("eval", FM_ERR_IO, "cannot write %s", out);
            goto done;
        }
        fprintf(of, "path_a,path_b,same,distance\n");
        for (size_t k = 0; k < npairs; k++) {
            if (isnan(pairs[k].dist))
                fprintf(of, "%s,%s,%d,\n", imgs[pairs[k].a].path, imgs[pairs[k].b].path, pairs[k].same);
            else
                fprintf(of, "%s,%s,%d,%.6f\n", imgs[pairs[k].a].path, imgs[pairs[k].b].path, pairs[k].same,
                        pairs[k].dist);
        }
        if (fclose(of) != 0) {
            rc = cli_error("eval", FM_ERR_IO, "cannot write %s", out);
            goto done;
        }
        /* metrics: missing distances are +inf (never a match) */
        size_t ng = 0, ni = 0, nmiss = 0;
        for (size_t k = 0; k < npairs; k++) {
            if (pairs[k].same)
                ng++;
            else
                ni++;
            if (isnan(pairs[k].dist))
                nmiss++;
        }
        double *gd = (double *)malloc((ng ? ng : 1) * sizeof(double)), *id = (double *)malloc((ni ? ni : 1) * sizeof(double));
        if (!gd || !id) {
            free(gd);
            free(id);
            rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        size_t gi = 0, ii = 0;
        for (size_t k = 0; k < npairs; k++) {
            double d = isnan(pairs[k].dist) ? INFINITY : pairs[k].dist;
            if (pairs[k].same)
                gd[gi++] = d;
            else
                id[ii++] = d;
        }
        qsort(gd, ng, sizeof(double), cmp_double);
        qsort(id, ni, sizeof(double), cmp_double);
        /* candidate thresholds: midpoints between consecutive sorted distinct distances of both sets */
        size_t nall = ng + ni;
        double *all = (double *)malloc((nall + 1) * sizeof(double));
        roc_pt *roc = (roc_pt *)malloc((nall + 2) * sizeof(roc_pt));
        if (!all || !roc) {
            free(gd);
            free(id);
            free(all);
            free(roc);
            rc = cli_error("eval", FM_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        memcpy(all, gd, ng * sizeof(double));
        memcpy(all + ng, id, ni * sizeof(double));
        qsort(all, nall, sizeof(double), cmp_double);
        int nroc = 0;
        double eer = 1, eer_t = 0, eer_gap = 2, best_acc = 0, best_t = 0;
        double tar2 = 0, t2 = 0, tar3 = 0, t3 = 0;
        size_t cg = 0, ci = 0; /* counts with d < t */
        for (size_t k = 0; k <= nall; k++) {
            double t;
            if (k == 0)
                t = all[0] - 1e-9;
            else if (k == nall || !isfinite(all[k]))
                t = isfinite(all[k - 1]) ? all[k - 1] + 1e-9 : INFINITY;
            else
                t = (all[k - 1] + all[k]) / 2;
            if (k > 0 && k < nall && all[k] == all[k - 1])
                continue;
            while (cg < ng && gd[cg] < t)
                cg++;
            while (ci < ni && id[ci] < t)
                ci++;
            double tar = ng ? (double)cg / ng : 0, far = ni ? (double)ci / ni : 0;
            double frr = 1 - tar;
            if (fabs(far - frr) < eer_gap) {
                eer_gap = fabs(far - frr);
                eer = (far + frr) / 2;
                eer_t = t;
            }
            double acc = (double)(cg + (ni - ci)) / (double)nall;
            if (acc > best_acc) {
                best_acc = acc;
                best_t = t;
            }
            if (far <= 1e-2 && tar >= tar2 && isfinite(t)) {
                tar2 = tar;
                t2 = t;
            }
            if (far <= 1e-3 && tar >= tar3 && isfinite(t)) {
                tar3 = tar;
                t3 = t;
            }
            if (isfinite(t)) {
                roc[nroc].t = t;
                roc[nroc].far = far;
                roc[nroc].tar = tar;
                nroc++;
            }
            if (!isfinite(t))
                break;
        }
        double thr = o.threshold > 0 ? o.threshold : fm_default_threshold(emb);
        size_t fa = 0, fr = 0;
        for (size_t k = 0; k < ni; k++)
            fa += id[k] < thr;
        for (size_t k = 0; k < ng; k++)
            fr += !(gd[k] < thr);
        int nfail = 0;
        for (int k = 0; k < nimgs; k++)
            nfail += !imgs[k].ok;
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "embedder", emb == FM_EMBED_DLIB ? "dlib" : "fr512");
        json_int(&j, "pairs", (long long)npairs);
        json_int(&j, "genuine", (long long)ng);
        json_int(&j, "impostor", (long long)ni);
        json_int(&j, "images", nimgs);
        json_int(&j, "failures_to_detect", nfail);
        json_int(&j, "unreadable_images", S.failed_load);
        json_int(&j, "pairs_without_face", (long long)nmiss);
        json_num(&j, "eer", eer);
        json_num(&j, "eer_threshold", eer_t);
        json_num(&j, "tar_at_far_1e-2", tar2);
        json_num(&j, "threshold_at_far_1e-2", t2);
        json_num(&j, "tar_at_far_1e-3", tar3);
        json_num(&j, "threshold_at_far_1e-3", t3);
        json_num(&j, "best_accuracy", best_acc);
        json_num(&j, "best_accuracy_threshold", best_t);
        json_num(&j, "threshold", thr);
        json_num(&j, "far", ni ? (double)fa / ni : 0);
        json_num(&j, "frr", ng ? (double)fr / ng : 0);
        json_obj_close(&j);
        json_end(&j);
        if (plot) {
            fm_ctx *pc = fm_ctx_create();
            fm_status ps = pc ? plot_roc(pc, plot, roc, nroc) : FM_ERR_NO_MEMORY;
            if (ps != FM_OK)
                rc = cli_error("eval", ps, "plot %s: %s", plot, pc ? fm_ctx_errmsg(pc) : "out of memory");
            fm_ctx_destroy(pc);
        }
        free(gd);
        free(id);
        free(all);
        free(roc);
    }
done:
    fclose(f);
    for (int k = 0; k < nimgs; k++) {
        free(imgs[k].path);
        fm_wipe(imgs[k].d, sizeof imgs[k].d);
    }
    free(imgs);
    free(pairs);
    free(ident);
    for (int k = 0; k < nid; k++)
        free(idnames[k]);
    free(idnames);
    return rc;
}
