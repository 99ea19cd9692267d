/* Per-frame liveness signals the session consumes (internal). The extractors live in the liveness module
 * (facematch/src/liveness/); this header is the session's one seam to them. */
#ifndef FM_SESSION_SIGNALS_H
#define FM_SESSION_SIGNALS_H

#include "internal.h"

typedef struct sess_signals {
    int ok;           /* landmarks found and signals computed */
    double ear;       /* mean eye aspect ratio of both eyes (NaN if not measured) */
    double closed;    /* eye-closed probability 0..1 from the eye-state model (NaN if not measured) */
    double yaw;       /* degrees; > 0 = nose towards IMAGE-RIGHT (holder's own left in an unmirrored frame) */
    double pitch;     /* degrees; > 0 = head down (nose towards the chin side) */
    double pad;       /* passive score, probability live 0..1 (NaN if not scored on this frame) */
} sess_signals;

typedef struct sess_liveness sess_liveness;

/* Where the liveness models come from (the session policy's models fields; the engine does not hold them). */
typedef struct sess_liveness_config {
    const char *models_dir;        /* NULL = the engine's models directory (fm_engine_models_dir) */
    const void *liveness_buf;      /* optional fr_liveness.onnx bytes (override models_dir), read during create */
    size_t liveness_len;
    const void *eye_buf;           /* optional fr_eye.onnx bytes */
    size_t eye_len;
    int verify_sha256;             /* manifest SHA-256 check */
} sess_liveness_config;

/* Creates the liveness part a session needs (models loaded by the liveness module). cfg NULL = defaults. */
fm_status sess_liveness_create(fm_ctx *ctx, const fm_engine *engine, const sess_liveness_config *cfg,
                               sess_liveness **out);
void sess_liveness_destroy(sess_liveness *l);
/* The passive threshold calibrated by the liveness module (probability live). */
double sess_liveness_default_pad_threshold(const sess_liveness *l);
/* Signals of one face: rgb is the upright RGB24 frame, pts its 68 iBUG landmarks. want_pad: run the passive model. */
fm_status sess_liveness_measure(fm_ctx *ctx, sess_liveness *l, const fm_image *rgb, const fm_face_box *box,
                                const fm_point pts[68], int want_pad, sess_signals *out);
/* The passive decision over a whole session (video-level rule of the liveness module). */
typedef struct sess_pad_video {
    int evaluated;      /* 0: too few scored frames to decide */
    int pass;           /* 1: looks live */
    double statistic;   /* the rule's statistic (meaning in rule) */
    double threshold;   /* pass when the statistic is on the live side of this */
    char rule[48];      /* short description, e.g. "frac_live>=0.5" */
} sess_pad_video;

/* Decides the passive check from the session's per-frame PAD scores (fused, probability live; scored at most 10
 * times a second, in time order). */
void sess_liveness_pad_video(const sess_liveness *l, const double *scores, int n, sess_pad_video *out);

/* Model names and manifest SHA-256 (hex) of the liveness models in use; returns how many were written (<= cap). */
int sess_liveness_models(const sess_liveness *l, const char **names, const char **sha_hex, int cap);

#endif
