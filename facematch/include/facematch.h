/*
 * facematch.h — the one public header of libfacematch.
 *
 * facematch compares the portrait stored on a My Number card's IC chip with live camera frames, checks liveness,
 * and issues a signed match verdict.
 *
 * ---------------------------------------------------------------------------------------------------------------
 * Conventions (they hold for every function below unless its comment says otherwise)
 * ---------------------------------------------------------------------------------------------------------------
 * Handles     Every object is an opaque handle made by a *_create (or a function documented as creating one) and
 *             released by the matching *_destroy. *_destroy(NULL) is a no-op.
 * Status      Functions that can fail return fm_status; FM_OK (0) is success. On failure the fm_ctx passed to the
 *             call (or the handle named in the function's comment) holds a one-line, human-readable message:
 *             fm_ctx_errmsg(). Output parameters are left untouched (pointers: set to NULL) on failure, never half
 *             filled and reported as success.
 * Ownership   Outputs are written into caller-owned memory (structs and buffers passed in with their capacity) or
 *             returned as new handles that the caller destroys. The library never returns pointers into its own
 *             mutable state; pointers documented as "borrowed" stay valid only until the named handle is destroyed
 *             or next modified. Input buffers are only read during the call unless a function says it keeps them
 *             (fm_image_wrap keeps the caller's pixel planes; see there).
 * Threads     There is no global mutable state. An fm_engine is immutable once created and may be used by many
 *             threads at once. An fm_ctx holds per-thread state (settings, last error, scratch memory): use one
 *             fm_ctx per thread (or serialise access). Anything created from an fm_ctx (images, sessions, card
 *             handles) follows the same rule as that ctx unless documented otherwise.
 * Untrusted   Image bytes, model files, card responses and verdict tokens are untrusted: every parser enforces the
 *   input     limits set on the fm_ctx (fm_ctx_set) and rejects malformed data with a specific status.
 * Secrets     PINs, keys and biometric templates held by the library are wiped before their memory is released.
 */
#ifndef FACEMATCH_H
#define FACEMATCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define FM_API __declspec(dllexport)
#elif defined(__GNUC__)
#define FM_API __attribute__((visibility("default")))
#else
#define FM_API
#endif

/* ============================================================================================================ */
/* Version                                                                                                       */
/* ============================================================================================================ */

#define FM_VERSION_MAJOR 0
#define FM_VERSION_MINOR 1
#define FM_VERSION_PATCH 0
#define FM_VERSION_STRING "0.1.0"

/** The library's version string ("MAJOR.MINOR.PATCH"); static storage. */
FM_API const char *fm_version(void);

/* ============================================================================================================ */
/* Status codes                                                                                                  */
/* ============================================================================================================ */

typedef enum fm_status {
    FM_OK = 0,
    /* generic */
    FM_ERR_INVALID_ARGUMENT = 1,   /* NULL where a value is needed, out-of-range setting, bad enum value */
    FM_ERR_NO_MEMORY = 2,          /* allocation failed */
    FM_ERR_IO = 3,                 /* a file could not be opened or read */
    FM_ERR_LIMIT = 4,              /* input larger than a limit set on the ctx (bytes, pixels, dimension, ...) */
    FM_ERR_BUFFER_TOO_SMALL = 5,   /* a caller-owned output buffer is too small; the needed size is reported */
    FM_ERR_UNSUPPORTED = 6,        /* valid input that this build does not handle (format, feature) */
    FM_ERR_INTERNAL = 7,           /* a bug: please report */
    FM_ERR_STATE = 8,              /* call not allowed in the handle's current state */
    /* data */
    FM_ERR_FORMAT = 20,            /* the bytes are not any known format */
    FM_ERR_CORRUPT = 21,           /* malformed data: bad header, bad length, inconsistent fields */
    FM_ERR_TRUNCATED = 22,         /* data ends before it should */
    /* models */
    FM_ERR_MODEL_MISSING = 40,     /* a model the call needs was not loaded into the engine */
    FM_ERR_MODEL_INVALID = 41,     /* a model file could not be parsed, or is not the expected network */
    FM_ERR_MODEL_HASH = 42,        /* a model file's SHA-256 is not the expected one */
    /* faces */
    FM_ERR_NO_FACE = 60,           /* no face found where one is required */
    FM_ERR_MULTIPLE_FACES = 61,    /* more than one face where exactly one is required */
    /* card (ISO 7816-4 / My Number card) */
    FM_ERR_CARD_TRANSPORT = 80,    /* the APDU transport failed (reader gone, card removed, I/O error) */
    FM_ERR_CARD_STATUS = 81,       /* the card answered an unexpected status word */
    FM_ERR_CARD_RESPONSE = 82,     /* the card's answer is malformed (bad TLV, wrong length, ...) */
    FM_ERR_PIN_FORMAT = 83,        /* PIN rejected before sending: wrong length or characters */
    FM_ERR_PIN_WRONG = 84,         /* the card refused the PIN (63Cx); tries left are reported */
    FM_ERR_PIN_LOCKED = 85,        /* the PIN is blocked (6984 or 63C0) */
    FM_ERR_PIN_LAST_TRY = 86,      /* refused without sending: only one try is left and the caller did not allow it */
    FM_ERR_NOT_FOUND = 87,         /* application, file or reader not found */
    /* crypto and verdicts */
    FM_ERR_CRYPTO = 100,           /* a cryptographic operation failed */
    FM_ERR_VERIFY = 101,           /* a signature, token or certificate did not verify */
    FM_ERR_KEY = 102               /* a key could not be loaded or has the wrong type */
} fm_status;

/** Stable identifier of a status ("FM_ERR_CORRUPT", ...); static storage; "FM_ERR_UNKNOWN" for unknown values. */
FM_API const char *fm_status_name(fm_status status);

/** Short English description of a status; static storage. */
FM_API const char *fm_status_str(fm_status status);

/* ============================================================================================================ */
/* Context: per-thread settings, limits, last error, scratch memory                                             */
/* ============================================================================================================ */

typedef struct fm_ctx fm_ctx;

/** Creates a context with default settings. Returns NULL only when out of memory. */
FM_API fm_ctx *fm_ctx_create(void);
FM_API void fm_ctx_destroy(fm_ctx *ctx);

/** The message of the last failing call made with this ctx ("" if none). Borrowed: valid until the next call. */
FM_API const char *fm_ctx_errmsg(const fm_ctx *ctx);
/** The status of the last failing call made with this ctx (FM_OK if none). */
FM_API fm_status fm_ctx_errcode(const fm_ctx *ctx);
/** Forgets the last error. */
FM_API void fm_ctx_clear_error(fm_ctx *ctx);

typedef enum fm_param {
    FM_PARAM_MAX_INPUT_BYTES = 1,  /* largest encoded input accepted (image, model file, token); default 64 MiB   */
    FM_PARAM_MAX_PIXELS = 2,       /* largest decoded image, width*height; default 40,000,000                      */
    FM_PARAM_MAX_DIMENSION = 3,    /* largest width or height; default 16384                                        */
    FM_PARAM_THREADS = 4,          /* threads a call may use for inference; default 1                              */
    FM_PARAM_MAX_MODEL_BYTES = 5   /* largest model file accepted; default 256 MiB                                  */
} fm_param;

/** Sets a setting; FM_ERR_INVALID_ARGUMENT for an unknown parameter or a value out of range (limits must be >= 1). */
FM_API fm_status fm_ctx_set(fm_ctx *ctx, fm_param param, int64_t value);
/** Reads a setting; -1 for an unknown parameter. */
FM_API int64_t fm_ctx_get(const fm_ctx *ctx, fm_param param);

/** Overwrites memory so the compiler cannot elide it (for PINs, keys, templates in caller memory). */
FM_API void fm_wipe(void *p, size_t n);

/** SHA-256 of a buffer, as 32 bytes and/or lowercase hex (either output may be NULL; hex needs 65 bytes). */
FM_API void fm_sha256(const void *data, size_t len, uint8_t digest[32], char hex[65]);
/** SHA-256 of a file, streamed. FM_ERR_IO when it cannot be read. */
FM_API fm_status fm_sha256_file(fm_ctx *ctx, const char *path, uint8_t digest[32], char hex[65]);

/* ============================================================================================================ */
/* Images                                                                                                        */
/* ============================================================================================================ */

/** Pixel layouts. Packed formats have one plane; NV12/NV21 two (Y, interleaved chroma); I420 three (Y, U, V). */
typedef enum fm_pixfmt {
    FM_PIX_NONE = 0,
    FM_PIX_GRAY8 = 1,
    FM_PIX_RGB24 = 2,
    FM_PIX_BGR24 = 3,
    FM_PIX_RGBA = 4,
    FM_PIX_BGRA = 5,
    FM_PIX_NV21 = 6,   /* Android camera default: Y plane, then V/U interleaved */
    FM_PIX_NV12 = 7,   /* Y plane, then U/V interleaved */
    FM_PIX_I420 = 8    /* Y, U, V planes (4:2:0) */
} fm_pixfmt;

/** Encoded formats recognised from their first bytes (never from a file name). */
typedef enum fm_format {
    FM_FORMAT_UNKNOWN = 0,
    FM_FORMAT_JPEG = 1,
    FM_FORMAT_JP2 = 2,     /* JPEG 2000 in its JP2 box container (what the card stores) */
    FM_FORMAT_J2K = 3,     /* raw JPEG 2000 codestream */
    FM_FORMAT_PNG = 4,
    FM_FORMAT_PNM = 5      /* PGM/PPM, binary (P5/P6) and ASCII (P2/P3) */
} fm_format;

typedef struct fm_image fm_image;

typedef struct fm_image_info {
    fm_format format;
    int width;
    int height;
    int channels;      /* 1 (grey), 3 (colour) or 4 (colour + alpha) as stored in the file */
    int bit_depth;     /* bits per sample as stored (decoding always yields 8 bits) */
} fm_image_info;

/** Recognises the format from the first bytes; FM_FORMAT_UNKNOWN when none matches. Never reads past len. */
FM_API fm_format fm_image_detect_format(const void *data, size_t len);
/** "jpeg", "jp2", "j2k", "png", "pnm" or "unknown"; static storage. */
FM_API const char *fm_format_name(fm_format format);
/** Bytes per pixel of a packed format, 0 for planar (NV12, NV21, I420) and FM_PIX_NONE. */
FM_API int fm_pixfmt_bpp(fm_pixfmt fmt);
/** "gray8", "rgb24", ... ; static storage. */
FM_API const char *fm_pixfmt_name(fm_pixfmt fmt);

/** Reads only the header: format, size, channels, bit depth. Applies the ctx's byte/pixel/dimension limits. */
FM_API fm_status fm_image_probe(fm_ctx *ctx, const void *data, size_t len, fm_image_info *info);

/**
 * Decodes an encoded image held in memory. want = FM_PIX_NONE keeps the file's colour model (GRAY8 for grey files,
 * RGB24 otherwise; alpha is dropped); any packed format converts. Samples of any bit depth are mapped to 8 bits.
 * Truncated or malformed files fail (FM_ERR_TRUNCATED / FM_ERR_CORRUPT / FM_ERR_FORMAT) — a partially decoded image
 * is never returned. info (may be NULL) receives what fm_image_probe reports.
 */
FM_API fm_status fm_image_decode(fm_ctx *ctx, const void *data, size_t len, fm_pixfmt want,
                                 fm_image **out, fm_image_info *info);
/** As fm_image_decode, reading the file at path (subject to FM_PARAM_MAX_INPUT_BYTES). */
FM_API fm_status fm_image_load(fm_ctx *ctx, const char *path, fm_pixfmt want, fm_image **out, fm_image_info *info);

/** A new owned image, pixels zeroed. */
FM_API fm_status fm_image_create(fm_ctx *ctx, fm_pixfmt fmt, int width, int height, fm_image **out);

/**
 * Wraps caller memory (a camera buffer) without copying. planes/strides: 1 entry for packed formats, 2 for NV12/NV21,
 * 3 for I420 (strides in bytes, >= the row's width in bytes). width/height are the buffer's (sensor) size; rotation
 * (0, 90, 180, 270, clockwise) is what turns the buffer upright, as reported by the phone's camera API. The caller
 * keeps the planes alive and unchanged until fm_image_destroy. Operations that read an image see it upright:
 * fm_image_width/height report the rotated size.
 */
FM_API fm_status fm_image_wrap(fm_ctx *ctx, fm_pixfmt fmt, int width, int height, const uint8_t *const planes[],
                               const int strides[], int rotation, fm_image **out);

FM_API void fm_image_destroy(fm_image *img);

/** Upright size (after rotation). 0 for NULL. */
FM_API int fm_image_width(const fm_image *img);
FM_API int fm_image_height(const fm_image *img);
FM_API fm_pixfmt fm_image_pixfmt(const fm_image *img);
/** Rotation still pending on a wrapped image (0 for owned images, which are always stored upright). */
FM_API int fm_image_rotation(const fm_image *img);
/** Borrowed pointer to plane i (stored, unrotated layout) and its stride; NULL if there is no such plane. */
FM_API const uint8_t *fm_image_plane(const fm_image *img, int plane, int *stride);

/** Converts (and applies any pending rotation) into a new owned upright image of packed format dst. */
FM_API fm_status fm_image_convert(fm_ctx *ctx, const fm_image *src, fm_pixfmt dst, fm_image **out);

/**
 * Copies the upright image, converted to packed format dst, into caller memory: rows of `stride` bytes
 * (stride 0 = width * bpp). FM_ERR_BUFFER_TOO_SMALL when buf_size < stride * (height-1) + width * bpp.
 */
FM_API fm_status fm_image_copy_to(fm_ctx *ctx, const fm_image *src, fm_pixfmt dst, uint8_t *buf, size_t buf_size,
                                  int stride);

typedef enum fm_resize_mode {
    FM_RESIZE_BILINEAR = 0,  /* pixel-centre aligned bilinear (OpenCV INTER_LINEAR convention) */
    FM_RESIZE_AREA = 1       /* box filter average: use for downscaling */
} fm_resize_mode;

/** Resizes into a new owned image of the same packed format (planar sources are converted to RGB24 first). */
FM_API fm_status fm_image_resize(fm_ctx *ctx, const fm_image *src, int width, int height, fm_resize_mode mode,
                                 fm_image **out);
/** Crops the rectangle (upright coordinates) into a new owned image; FM_ERR_INVALID_ARGUMENT if it is outside. */
FM_API fm_status fm_image_crop(fm_ctx *ctx, const fm_image *src, int x, int y, int width, int height, fm_image **out);
/**
 * Affine warp with bilinear sampling into a new owned width x height image of the source's packed format.
 * m maps destination pixel (x, y) to source coordinates: xs = m[0]*x + m[1]*y + m[2], ys = m[3]*x + m[4]*y + m[5]
 * (pixel centres at integer coordinates). Samples outside the source are 0.
 */
FM_API fm_status fm_image_warp_affine(fm_ctx *ctx, const fm_image *src, const double m[6], int width, int height,
                                      fm_image **out);

/**
 * Encodes an owned image. format: FM_FORMAT_PNG, FM_FORMAT_PNM, FM_FORMAT_JPEG (quality 1..100),
 * FM_FORMAT_JP2 / FM_FORMAT_J2K (quality = target compression ratio, e.g. 20 means 20:1; 0 = lossless).
 * Writes into buf (capacity cap); *len receives the size. FM_ERR_BUFFER_TOO_SMALL with *len = needed size
 * when cap is too small (call with buf NULL, cap 0 to ask).
 */
FM_API fm_status fm_image_encode(fm_ctx *ctx, const fm_image *img, fm_format format, int quality, uint8_t *buf,
                                 size_t cap, size_t *len);

/* ============================================================================================================ */
/* Models                                                                                                        */
/* ============================================================================================================ */

/** The pretrained models facematch knows (pinned in models/manifest). */
typedef enum fm_model_id {
    FM_MODEL_DLIB_RESNET = 0,      /* dlib_face_recognition_resnet_model_v1.dat: 150x150 chip -> 128-d */
    FM_MODEL_DLIB_SP5 = 1,         /* shape_predictor_5_face_landmarks.dat */
    FM_MODEL_DLIB_SP68 = 2,        /* shape_predictor_68_face_landmarks.dat (300-W: no commercial use) */
    FM_MODEL_DLIB_MMOD = 3,        /* mmod_human_face_detector.dat */
    FM_MODEL_FP_DETECT = 4,        /* faceplugin fr_detect.onnx (UltraFace RFB-320) */
    FM_MODEL_FP_LANDMARK = 5,      /* faceplugin fr_landmark.onnx (68 points) */
    FM_MODEL_FP_FEATURE = 6,       /* faceplugin fr_feature.onnx (112x112 -> 512-d) */
    FM_MODEL_FP_LIVENESS = 7,      /* faceplugin fr_liveness.onnx (anti-spoof) */
    FM_MODEL_FP_EYE = 8,           /* faceplugin fr_eye.onnx (eye open/closed) */
    FM_MODEL_FP_POSE = 9,          /* faceplugin fr_pose.onnx */
    FM_MODEL_BLAZEFACE_FRONT = 10, /* BlazeFace front 128x128 (ONNX) */
    FM_MODEL_COUNT = 11
} fm_model_id;

typedef struct fm_model_desc {
    const char *name;       /* short name, e.g. "dlib_resnet" */
    const char *file;       /* file name inside the models directory */
    const char *sha256;     /* expected SHA-256 of the file, lowercase hex (from models/manifest) */
    const char *package;    /* npm package@version it comes from */
    const char *licence;
} fm_model_desc;

/** Static description of a model (strings are static storage). FM_ERR_INVALID_ARGUMENT for an unknown id. */
FM_API fm_status fm_model_describe(fm_model_id id, fm_model_desc *desc);

/**
 * Where models are looked for when no path is given: $FACEMATCH_MODELS if set and non-empty, else
 * $XDG_CACHE_HOME/facematch/models, else $HOME/.cache/facematch/models. Written into buf (NUL-terminated);
 * FM_ERR_BUFFER_TOO_SMALL if it does not fit.
 */
FM_API fm_status fm_models_default_dir(char *buf, size_t cap);

/**
 * Checks that a model file at path exists and has the manifest's SHA-256. FM_ERR_IO if unreadable,
 * FM_ERR_MODEL_HASH (message names the file and both hashes) if it differs.
 */
FM_API fm_status fm_model_verify_file(fm_ctx *ctx, fm_model_id id, const char *path);
/** The same check for a model held in memory. */
FM_API fm_status fm_model_verify_memory(fm_ctx *ctx, fm_model_id id, const void *data, size_t len);

/* Engine (models loaded once, immutable, shared by threads) and the face pipeline: see issue 3 section below. */

/* ============================================================================================================ */
/* [issue 3] Face pipeline: engine, detection, landmarks, alignment, embedding, comparison                      */
/* ============================================================================================================ */

/* ============================================================================================================ */
/* [issue 4] Card: APDU transport, My Number card visual AP and JPKI AP                                         */
/* ============================================================================================================ */

/* ============================================================================================================ */
/* [issue 5] Live session: frames in, liveness and a decision out                                               */
/* ============================================================================================================ */

/* ============================================================================================================ */
/* [issue 6] Signed verdicts                                                                                     */
/* ============================================================================================================ */

#ifdef __cplusplus
}
#endif

#endif /* FACEMATCH_H */
