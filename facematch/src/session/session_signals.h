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

/* Creates the liveness part a session needs (models loaded by the liveness module). */
fm_status sess_liveness_create(fm_ctx *ctx, const fm_engine *engine, sess_liveness **out);
void sess_liveness_destroy(sess_liveness *l);
/* The passive threshold calibrated by the liveness module (probability live). */
double sess_liveness_default_pad_threshold(const sess_liveness *l);
/* Signals of one face: rgb is the upright RGB24 frame, pts its 68 iBUG landmarks. want_pad: run the passive model. */
fm_status sess_liveness_measure(fm_ctx *ctx, sess_liveness *l, const fm_image *rgb, const fm_face_box *box,
                                const fm_point pts[68], int want_pad, sess_signals *out);
/* Model names and manifest SHA-256 (hex) of the liveness models in use; returns how many were written (<= cap). */
int sess_liveness_models(const sess_liveness *l, const char **names, const char **sha_hex, int cap);

#endif
