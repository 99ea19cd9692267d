/* Shared helpers of the face commands (embed, compare, eval, embed-bench). */
#ifndef FM_FACE_CLI_H
#define FM_FACE_CLI_H

#include "cli.h"

typedef struct face_cli_opts {
    const char *models_dir;
    fm_detector detector;   /* -1 = fast if loaded, else MMOD */
    int detector_set;
    double threshold;       /* <= 0: default */
    int verify;             /* SHA-256 check of model files */
    int refine, refine_set; /* fm_detect_options.refine (--refine); not set: FACE_CLI_DEFAULT_REFINE */
} face_cli_opts;

/* Box refinement rounds the photo commands use by default (README "face": measured on faces/identities.csv). */
#define FACE_CLI_DEFAULT_REFINE 0

/* Parses --detector fast|mmod|auto, --threshold T, --refine N, --no-verify at argv[*i]; returns 1 if consumed, 0 if not, -1 on a
 * bad value (message printed). */
int face_cli_common_opt(const char *cmd, int argc, char **argv, int *i, face_cli_opts *o);
/* Engine with the dlib ResNet, 5-point predictor, MMOD and (when loadable) the fast detector. */
fm_status face_cli_engine(fm_ctx *ctx, const face_cli_opts *o, int need_detector, fm_engine **out);
/* As face_cli_engine, with the models an embedder needs (FR512: 68-point predictor and fr_feature.onnx). */
fm_status face_cli_engine_ex(fm_ctx *ctx, const face_cli_opts *o, int need_detector, fm_embedder emb,
                             fm_engine **out);
fm_detector face_cli_detector(const fm_engine *e, const face_cli_opts *o);
/* Refinement rounds for fm_detect_options.refine (FACE_CLI_DEFAULT_REFINE unless --refine was given). */
int face_cli_refine(const face_cli_opts *o);
/* Detects every face; *faces malloc'd (free()), *n = count (sorted by score). */
fm_status face_cli_detect(fm_ctx *ctx, const fm_engine *e, const face_cli_opts *o, const fm_image *img,
                          fm_face_box **faces, size_t *n);
/* The argument loop of embed and compare: --help prints `usage`, the common options (face_cli_common_opt),
 * --json, and exactly npos image paths into pos[]. Returns -1 when the command should go on, else the exit code
 * to return (FM_EXIT_OK after --help; an error message is printed for the others). */
int face_cli_args(const char *cmd, int argc, char **argv, const char *usage, face_cli_opts *o, int *json,
                  const char **pos, int npos);
/* Index of the largest box, -1 if n == 0. */
int face_cli_largest(const fm_face_box *f, size_t n);

#endif
