/* facematch pad-eval: passive anti-spoof scores over a labelled image list and APCER per attack type / BPCER.
 *
 *   facematch pad-eval --list CSV --root DIR [--json] [--threshold T] [--out per-image.csv] [--models DIR]
 *
 * CSV: header `path,label,attack,...` (liveness/pad.csv): label live|spoof, attack names the attack type. Each image:
 * fast detector, largest face, fm_pad_score. Images without a face are counted separately (not scored; a spoof
 * without a detected face cannot pass a session either, a live image without one is a usability failure) and listed
 * in the output. Metrics (ISO/IEC 30107-3): APCER(type) = spoofs of that type scored live / spoofs of that type
 * scored; BPCER = live images scored spoof / live images scored. Progress goes to stderr. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TYPES 32

typedef struct {
    char name[64];
    long n, pass, noface;
} attack_type;

static int split_csv(char *line, char **f, int cap)
{
    int n = 0;
    char *p = line;
    while (n < cap) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    char *e = f[n - 1] + strlen(f[n - 1]);
    while (e > f[n - 1] && (e[-1] == '\n' || e[-1] == '\r'))
        *--e = 0;
    return n;
}

int cmd_pad_eval(int argc, char **argv)
{
    char mbuf[4096];
    const char *models = cli_models_dir(&argc, argv, mbuf, sizeof mbuf);
    const char *list = NULL, *root = ".", *outp = NULL;
    int json = 0;
    double thr = NAN;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch pad-eval --list CSV --root DIR [--json] [--threshold T] [--out FILE.csv] "
                   "[--models DIR]\n");
            return FM_EXIT_OK;
        } else if (!strcmp(argv[i], "--list") && i + 1 < argc)
            list = argv[++i];
        else if (!strcmp(argv[i], "--root") && i + 1 < argc)
            root = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            outp = argv[++i];
        else if (!strcmp(argv[i], "--threshold") && i + 1 < argc) {
            char *end;
            thr = strtod(argv[++i], &end);
            if (*end || !isfinite(thr) || thr < 0 || thr > 1)
                return cli_error("pad-eval", FM_ERR_INVALID_ARGUMENT, "--threshold must be a number in [0, 1]");
        } else if (!strcmp(argv[i], "--json"))
            json = 1;
        else
            return cli_error("pad-eval", FM_ERR_INVALID_ARGUMENT, "unknown argument %s (see --help)", argv[i]);
    }
    if (!list)
        return cli_error("pad-eval", FM_ERR_INVALID_ARGUMENT, "--list CSV is required");
    if (isnan(thr))
        thr = fm_pad_default_threshold();
    FILE *f = fopen(list, "r");
    if (!f)
        return cli_error("pad-eval", FM_ERR_IO, "cannot open %s", list);
    FILE *out = NULL;
    if (outp && !(out = fopen(outp, "w"))) {
        fclose(f);
        return cli_error("pad-eval", FM_ERR_IO, "cannot write %s", outp);
    }
    fm_ctx *ctx = fm_ctx_create();
    fm_engine_config cfg;
    fm_engine_config_init(&cfg);
    cfg.models_dir = models;
    cfg.models = FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT);
    fm_engine *e = NULL;
    fm_pad *pad = NULL;
    fm_status st = fm_engine_create(ctx, &cfg, &e);
    if (st == FM_OK)
        st = fm_pad_create(ctx, models, &pad);
    if (st != FM_OK) {
        int rc = cli_error("pad-eval", st, "%s", fm_ctx_errmsg(ctx));
        fm_engine_destroy(e);
        fm_ctx_destroy(ctx);
        fclose(f);
        if (out)
            fclose(out);
        return rc;
    }
    if (out)
        fprintf(out, "path,label,attack,faces,live,model_live,moire,specular,colour,decision\n");
    attack_type types[MAX_TYPES];
    int ntypes = 0;
    long live_n = 0, live_rej = 0, live_noface = 0, bad = 0, total = 0;
    char line[8192];
    int header = 1;
    while (fgets(line, sizeof line, f)) {
        if (header) {
            header = 0;
            if (!strncmp(line, "path,", 5))
                continue;
        }
        char *fl[8];
        int nf = split_csv(line, fl, 8);
        if (nf < 3 || !*fl[0])
            continue;
        const char *path = fl[0], *label = fl[1], *attack = fl[2];
        int is_live = !strcmp(label, "live");
        if (!is_live && strcmp(label, "spoof")) {
            fprintf(stderr, "pad-eval: %s: unknown label '%s', skipped\n", path, label);
            bad++;
            continue;
        }
        char full[8400];
        snprintf(full, sizeof full, "%s/%s", root, path);
        total++;
        if (total % 100 == 0)
            fprintf(stderr, "pad-eval: %ld images\n", total);
        fm_image *img = NULL;
        if (fm_image_load(ctx, full, FM_PIX_RGB24, &img, NULL) != FM_OK) {
            fprintf(stderr, "pad-eval: %s: %s (skipped)\n", path, fm_ctx_errmsg(ctx));
            bad++;
            continue;
        }
        fm_face_box faces[8];
        size_t n = 0;
        fm_pad_result r = {NAN, NAN, NAN, NAN, NAN};
        int scored = 0;
        if (fm_detect(ctx, e, img, NULL, faces, 8, &n) == FM_OK && n > 0) {
            int bi = 0;
            for (size_t i = 1; i < n && i < 8; i++)
                if ((faces[i].right - faces[i].left) * (faces[i].bottom - faces[i].top) >
                    (faces[bi].right - faces[bi].left) * (faces[bi].bottom - faces[bi].top))
                    bi = (int)i;
            if (fm_pad_score(ctx, pad, img, &faces[bi], &r) == FM_OK)
                scored = 1;
            else
                fprintf(stderr, "pad-eval: %s: %s\n", path, fm_ctx_errmsg(ctx));
        }
        fm_image_destroy(img);
        int pass = scored && r.live >= thr;
        if (is_live) {
            if (!scored)
                live_noface++;
            else {
                live_n++;
                live_rej += !pass;
            }
        } else {
            int k;
            for (k = 0; k < ntypes; k++)
                if (!strcmp(types[k].name, attack))
                    break;
            if (k == ntypes && ntypes < MAX_TYPES) {
                memset(&types[k], 0, sizeof types[k]);
                snprintf(types[k].name, sizeof types[k].name, "%s", attack);
                ntypes++;
            }
            if (k < ntypes) {
                if (!scored)
                    types[k].noface++;
                else {
                    types[k].n++;
                    types[k].pass += pass;
                }
            }
        }
        if (out)
            fprintf(out, "%s,%s,%s,%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%s\n", path, label, attack, n, r.live, r.model_live,
                    r.moire, r.specular, r.colour, !scored ? "no_face" : pass ? "live" : "spoof");
    }
    fclose(f);
    if (out)
        fclose(out);
    double bpcer = live_n ? (double)live_rej / live_n : NAN;
    long sp_n = 0, sp_pass = 0;
    for (int k = 0; k < ntypes; k++) {
        sp_n += types[k].n;
        sp_pass += types[k].pass;
    }
    double worst = NAN;
    for (int k = 0; k < ntypes; k++)
        if (types[k].n) {
            double a = (double)types[k].pass / types[k].n;
            if (isnan(worst) || a > worst)
                worst = a;
        }
    if (json) {
        cli_json j;
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "list", list);
        json_num(&j, "threshold", thr);
        json_int(&j, "images", total);
        json_int(&j, "unreadable_or_skipped", bad);
        json_obj_open(&j, "bpcer");
        json_num(&j, "value", bpcer);
        json_int(&j, "live_scored", live_n);
        json_int(&j, "live_rejected", live_rej);
        json_int(&j, "live_no_face", live_noface);
        json_obj_close(&j);
        json_arr_open(&j, "apcer");
        for (int k = 0; k < ntypes; k++) {
            json_obj_open(&j, NULL);
            json_str(&j, "attack", types[k].name);
            json_num(&j, "value", types[k].n ? (double)types[k].pass / types[k].n : NAN);
            json_int(&j, "scored", types[k].n);
            json_int(&j, "accepted", types[k].pass);
            json_int(&j, "no_face", types[k].noface);
            json_obj_close(&j);
        }
        json_arr_close(&j);
        json_num(&j, "apcer_max", worst);
        json_num(&j, "apcer_pooled", sp_n ? (double)sp_pass / sp_n : NAN);
        json_obj_close(&j);
        json_end(&j);
    } else {
        printf("threshold %.4f: BPCER %.4f (%ld/%ld live rejected; %ld live without a face)\n", thr, bpcer, live_rej,
               live_n, live_noface);
        for (int k = 0; k < ntypes; k++)
            printf("  APCER %-24s %.4f (%ld/%ld accepted; %ld without a face)\n", types[k].name,
                   types[k].n ? (double)types[k].pass / types[k].n : NAN, types[k].pass, types[k].n, types[k].noface);
    }
    fm_pad_destroy(pad);
    fm_engine_destroy(e);
    fm_ctx_destroy(ctx);
    return FM_EXIT_OK;
}
