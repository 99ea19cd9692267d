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
    FM_PARAM_MAX_MODEL_BYTES = 5,  /* largest model file accepted; default 256 MiB                                  */
    FM_PARAM_EXIF_ORIENTATION = 6  /* 1 (default): image decoding turns JPEGs upright by their EXIF Orientation tag  */
                                   /* (as phones and browsers show them); 0: pixels as stored, the tag ignored      */
} fm_param;

/** Sets a setting; FM_ERR_INVALID_ARGUMENT for an unknown parameter or a value out of range (limits must be >= 1;
 *  FM_PARAM_EXIF_ORIENTATION is 0 or 1). */
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
    int channels;      /* 1 (grey), 2 (grey + alpha), 3 (colour) or 4 (colour + alpha) as stored */
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
 * EXIF orientation: unless the ctx's FM_PARAM_EXIF_ORIENTATION is 0, a JPEG whose first APP1 Exif segment has an
 * Orientation tag (IFD0, 0x0112) of 2..8 is rotated/mirrored upright, and width/height (here and in fm_image_probe)
 * are the upright ones. An Exif segment that is present but malformed (TIFF header, IFD0 outside the segment, an
 * Orientation that is not one SHORT of 1..8) fails with FM_ERR_CORRUPT rather than show the image a wrong way up.
 */
FM_API fm_status fm_image_decode(fm_ctx *ctx, const void *data, size_t len, fm_pixfmt want,
                                 fm_image **out, fm_image_info *info);
/** The EXIF Orientation of a JPEG (1..8, the TIFF/EXIF meaning: 1 upright, 3 rotated 180, 6 needs 90 degrees
 *  clockwise, 8 needs 90 counter-clockwise, 2/4/5/7 mirrored), 1 when it has no Exif segment or no Orientation tag,
 *  0 when the data is not a JPEG or its Exif segment is malformed. Ignores FM_PARAM_EXIF_ORIENTATION. */
FM_API int fm_image_exif_orientation(const void *data, size_t len);
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
/** Writable pointer to plane i of an owned image (fm_image_create, decode, convert, ...); NULL for wrapped images. */
FM_API uint8_t *fm_image_pixels(fm_image *img, int plane, int *stride);

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
    FM_MODEL_DLIB_HOG = 11,        /* dlib_frontal_face_detector.dat: dlib's built-in HOG frontal face detector,
                                      serialized from libdlib-dev by models/tools/extract_dlib_hog.cpp */
    FM_MODEL_COUNT = 12
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

/*
 * The face pipeline runs pretrained models with facematch's own C inference code:
 *   detect (fm_detect) -> landmarks (fm_landmarks) -> aligned chip (fm_face_chip / fm_face_align112)
 *   -> descriptor (fm_embed_chip, or fm_embed_face for all three steps) -> comparison (fm_compare).
 * Every model is checked against its reference implementation (dlib 19.24) in tests/oracle.
 *
 * Coordinates are upright image pixels, pixel centres at integer coordinates. Boxes use dlib's rectangle
 * convention: left/top/right/bottom are the first and LAST pixel inside the box (inclusive), so a box's width is
 * right - left + 1. This is the convention the dlib shape predictors were trained with.
 *
 * Descriptors are biometric templates: the library wipes its own copies before freeing them; callers should
 * fm_wipe() theirs.
 */

typedef struct fm_engine fm_engine;

/** Which models to load: OR of (1u << fm_model_id). */
#define FM_ENGINE_MODEL_BIT(id) (1u << (unsigned)(id))
/** The default set: dlib ResNet + 5-point predictor + MMOD detector + UltraFace fast detector. */
#define FM_ENGINE_DEFAULT_MODELS                                                                               \
    (FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_RESNET) | FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_SP5) |                        \
     FM_ENGINE_MODEL_BIT(FM_MODEL_DLIB_MMOD) | FM_ENGINE_MODEL_BIT(FM_MODEL_FP_DETECT))

typedef struct fm_engine_config {
    const char *models_dir;                  /* directory holding the model files; NULL = fm_models_default_dir() */
    uint32_t models;                         /* FM_ENGINE_MODEL_BIT set to load; 0 = FM_ENGINE_DEFAULT_MODELS */
    const char *paths[FM_MODEL_COUNT];       /* optional per-model file path (overrides models_dir/<file>) */
    const void *buffers[FM_MODEL_COUNT];     /* optional per-model bytes in memory (override paths); only read
                                                during fm_engine_create */
    size_t sizes[FM_MODEL_COUNT];            /* byte counts of buffers[] */
    int verify_sha256;                       /* 1 (default): reject a model whose SHA-256 is not the manifest's
                                                (FM_ERR_MODEL_HASH); 0 skips the check (tests, custom models) */
    int optional_missing;                    /* 1: a model in `models` whose file is absent is skipped instead of
                                                failing (calls that need it then fail with FM_ERR_MODEL_MISSING);
                                                default 0 */
} fm_engine_config;

/** Fills cfg with the defaults (models_dir NULL, default model set, verify_sha256 = 1). */
FM_API void fm_engine_config_init(fm_engine_config *cfg);

/**
 * Loads and checks the requested models. Model files are untrusted input: malformed files fail with
 * FM_ERR_MODEL_INVALID (the message names the model, the layer and what was found vs expected); files larger than
 * the ctx's FM_PARAM_MAX_MODEL_BYTES fail with FM_ERR_LIMIT. The engine is immutable and may be shared by threads;
 * destroy it after every thread has stopped using it.
 */
FM_API fm_status fm_engine_create(fm_ctx *ctx, const fm_engine_config *cfg, fm_engine **out);
FM_API void fm_engine_destroy(fm_engine *engine);
/** 1 if the engine holds the model, else 0. */
FM_API int fm_engine_has_model(const fm_engine *engine, fm_model_id id);

/* ---- detection ------------------------------------------------------------------------------------------- */

typedef enum fm_detector {
    FM_DETECTOR_FAST = 0,   /* UltraFace RFB-320 (fr_detect.onnx): camera frames and portraits; boxes mapped to
                               the dlib convention (see README "face": calibration against dlib's detector) */
    FM_DETECTOR_MMOD = 1,   /* dlib's MMOD CNN detector: slower, for hard cases (small, rotated, poor light) */
    FM_DETECTOR_AUTO = 2,   /* the fast detector; when it finds no face, MMOD (on a copy scaled down to at most
                               1024 px on a side; boxes mapped back). Needs both models */
    FM_DETECTOR_HOG = 3,    /* dlib's HOG frontal face detector (FM_MODEL_DLIB_HOG), reimplemented to give dlib's
                               boxes and scores: frontal faces of about 80 px and larger (no upsampling), boxes in
                               exactly the convention the 5-point predictor was trained on (no mapping); score =
                               dlib's detection_confidence; min_score default 0.0 (dlib's adjust_threshold) */
    FM_DETECTOR_PHOTO = 4   /* still photos: HOG; when it finds no face, MMOD (as AUTO). Needs both models. The
                               CLI default for embed/compare/eval: on faces/identities.csv it equals dlib's reference
                               pipeline where HOG finds a face (README "face"); camera frames keep FAST */
} fm_detector;

typedef struct fm_face_box {
    float left, top, right, bottom;   /* inclusive dlib-style box, upright image pixels (may extend past edges) */
    float score;                      /* detector confidence (UltraFace: probability 0..1; MMOD: its raw score) */
} fm_face_box;

typedef struct fm_detect_options {
    fm_detector detector;   /* default FM_DETECTOR_FAST */
    float min_score;        /* drop faces scoring at or below; NAN (the default) = the detector's own default:
                               0.7 (fast), 0.0 (MMOD: dlib's adjust_threshold, may be negative) */
    float nms_iou;          /* non-maximum suppression overlap; default 0.3 (fast); MMOD uses its trained rules */
    int min_size;           /* ignore faces whose width is smaller, pixels; default 0 */
    int upsample;           /* MMOD (and the MMOD stage of AUTO/PHOTO) only: 1 = dlib's pyramid_up first (image
                               about doubled, finds ~40 px faces; boxes mapped back as dlib's
                               cnn_face_detection_model_v1 does; the CNN sees ~4x the pixels); default 0 */
    int refine;             /* rounds of box refinement, 0..FM_DETECT_MAX_REFINE (needs the 5-point predictor):
                               fit dlib's 5 points in the box, replace the box by dlib's HOG-detector box estimated
                               from them, repeat. Brings fast-detector boxes closer to dlib's (mean IoU 0.78 ->
                               0.87) but did not improve accuracy on faces/identities.csv (README "face"), so the
                               default is 0 (boxes as detected) */
} fm_detect_options;

#define FM_DETECT_MAX_REFINE 3

FM_API void fm_detect_options_init(fm_detect_options *opt);

/**
 * Finds every face. Faces are sorted by score, best first; up to `cap` are written to faces (may be NULL when
 * cap is 0) and *count receives the number FOUND (which may exceed cap: callers decide what more than one face
 * means). opt NULL = defaults. FM_ERR_MODEL_MISSING if the detector's model is not loaded.
 */
FM_API fm_status fm_detect(fm_ctx *ctx, const fm_engine *engine, const fm_image *img, const fm_detect_options *opt,
                           fm_face_box *faces, size_t cap, size_t *count);

/* ---- landmarks ---------------------------------------------------------------------------------------------- */

typedef struct fm_point {
    float x, y;
} fm_point;

/**
 * Runs a dlib shape predictor inside box: npoints 5 (FM_MODEL_DLIB_SP5: outer and inner corner of each eye, then
 * the base of the nose, in dlib's order) or 68 (FM_MODEL_DLIB_SP68, iBUG 300-W order). pts receives npoints points.
 */
FM_API fm_status fm_landmarks(fm_ctx *ctx, const fm_engine *engine, const fm_image *img, const fm_face_box *box,
                              int npoints, fm_point *pts);

/* ---- alignment ------------------------------------------------------------------------------------------------- */

/**
 * The face chip dlib's face recogniser expects: dlib's get_face_chip_details(shape, size, padding) followed by
 * extract_image_chip (bilinear). pts are 5 points (from fm_landmarks 5) or 68 points. The recogniser uses size 150,
 * padding 0.25. *out is a new RGB24 image of size x size.
 */
FM_API fm_status fm_face_chip(fm_ctx *ctx, const fm_image *img, const fm_point *pts, int npoints, int size,
                              double padding, fm_image **out);

/**
 * The standard 112x112 five-point alignment (ArcFace template) for 112-pixel models: least-squares similarity
 * transform of five points (left eye centre, right eye centre, nose tip, left mouth corner, right mouth corner, as
 * seen in the image) onto the template. *out is a new RGB24 112x112 image.
 */
FM_API fm_status fm_face_align112(fm_ctx *ctx, const fm_image *img, const fm_point five[5], fm_image **out);
/** The five template points from 68 iBUG landmarks (eye centres = mean of 36-41 / 42-47, nose 30, mouth 48, 54). */
FM_API void fm_landmarks68_to_five(const fm_point pts68[68], fm_point five[5]);

/* ---- embedding ------------------------------------------------------------------------------------------------- */

typedef enum fm_embedder {
    FM_EMBED_DLIB = 0,     /* dlib ResNet (FM_MODEL_DLIB_RESNET): 150x150 chip -> 128 floats, Euclidean distance */
    FM_EMBED_FR512 = 1     /* faceplugin fr_feature.onnx: 112x112 aligned -> 512 floats, L2-normalised */
} fm_embedder;

#define FM_DESCRIPTOR_MAX 512

/** Descriptor length of an embedder (128 or 512), 0 for an unknown value. */
FM_API int fm_embedder_dim(fm_embedder embedder);

/**
 * Descriptor of an aligned chip (150x150 for FM_EMBED_DLIB, 112x112 for FM_EMBED_FR512; any packed pixel format).
 * desc must hold fm_embedder_dim(embedder) floats (FM_ERR_BUFFER_TOO_SMALL otherwise). Uses the ctx's
 * FM_PARAM_THREADS; results do not depend on it beyond float rounding.
 */
FM_API fm_status fm_embed_chip(fm_ctx *ctx, const fm_engine *engine, fm_embedder embedder, const fm_image *chip,
                               float *desc, size_t cap);

/** Landmarks (5-point for DLIB, 68-point derived five for FR512), alignment and descriptor of one detected face. */
FM_API fm_status fm_embed_face(fm_ctx *ctx, const fm_engine *engine, fm_embedder embedder, const fm_image *img,
                               const fm_face_box *box, float *desc, size_t cap);

/* ---- comparison ------------------------------------------------------------------------------------------------ */

typedef struct fm_compare_result {
    double distance;     /* DLIB: Euclidean distance; FR512: 1 - cosine similarity */
    double similarity;   /* monotone in distance, 0..1, exactly 0.5 at the threshold */
    double threshold;    /* the threshold used */
    int match;           /* 1 if distance < threshold */
} fm_compare_result;

/**
 * The default decision threshold of an embedder (DLIB: 0.6, dlib's published operating point; see README "face"
 * for thresholds at measured false match rates). Negative for an unknown embedder.
 */
FM_API double fm_default_threshold(fm_embedder embedder);

/**
 * Compares two descriptors of the same embedder. threshold <= 0 means fm_default_threshold(embedder).
 * FM_ERR_INVALID_ARGUMENT for NULL pointers, a wrong dim or non-finite values.
 */
FM_API fm_status fm_compare(fm_ctx *ctx, fm_embedder embedder, const float *a, const float *b, size_t dim,
                            double threshold, fm_compare_result *result);


/* ============================================================================================================ */
/* [issue 4] Card: APDU transport, My Number card visual AP and JPKI AP                                         */
/* ============================================================================================================ */

/*
 * The My Number card (domain.md §2) over any ISO 7816-4 transport. The library talks to the card through a
 * caller-supplied transmit callback (a phone app passes its NFC IsoDep here), or through the PC/SC transport below.
 *
 * Safety rules the card layer enforces:
 *  - Before every VERIFY the remaining tries are read (VERIFY without data, which spends nothing). When only one
 *    try is left the PIN is NOT sent and FM_ERR_PIN_LAST_TRY is returned, unless the call has FM_CARD_ALLOW_LAST_TRY.
 *    A locked PIN gives FM_ERR_PIN_LOCKED; a refused PIN FM_ERR_PIN_WRONG with the tries left reported.
 *  - PIN formats are checked before anything is sent (FM_ERR_PIN_FORMAT): auth PIN 4 digits, PIN B 14 digits,
 *    PIN A 12 digits with a valid My Number check digit.
 *  - Every buffer that held a PIN (including the command APDU buffer) is wiped after use.
 *  - Card answers are untrusted: strict BER-TLV, files never read beyond fm_card_set_max_file_bytes().
 * Errors of an fm_card call are recorded on the fm_ctx given to fm_card_create (fm_ctx_errmsg). An fm_card follows
 * its ctx's thread rule. Messages never contain a PIN or the My Number.
 */

/**
 * APDU transport. Sends apdu[0..apdu_len) (a short command APDU) and writes the complete response (data ‖ SW1 SW2)
 * into resp (capacity resp_cap, at least 258 bytes are always offered), setting *resp_len. Returns 0 on success;
 * non-zero is a transport failure: FM_CARD_TX_REMOVED (card removed / tag lost), FM_CARD_TX_NO_CARD, FM_CARD_TX_OVERFLOW
 * (answer longer than resp_cap) or any other value (I/O error). The callback must not keep the apdu pointer.
 */
typedef int (*fm_card_transmit_fn)(void *user, const uint8_t *apdu, size_t apdu_len, uint8_t *resp, size_t resp_cap,
                                   size_t *resp_len);
#define FM_CARD_TX_OK 0
#define FM_CARD_TX_REMOVED 1
#define FM_CARD_TX_NO_CARD 2
#define FM_CARD_TX_OVERFLOW 3
#define FM_CARD_TX_IO 4

typedef struct fm_card fm_card;

/** A card session over a transport. ctx receives the errors of every call on the card and must outlive it. */
FM_API fm_status fm_card_create(fm_ctx *ctx, fm_card_transmit_fn transmit, void *user, fm_card **out);
/** Wipes the session's buffers (PIN and response bytes) and frees it. Does not close the transport. */
FM_API void fm_card_destroy(fm_card *card);

/** Largest file the library reads from the card (default 32768 bytes; short READ BINARY can address at most
 *  32767 + 256 bytes). Larger declared files fail with FM_ERR_LIMIT before they are read. */
FM_API fm_status fm_card_set_max_file_bytes(fm_card *card, size_t max_bytes);
/** Bytes asked per READ BINARY (1..256, default 256 sent as Le 00). Lower it for readers with small buffers. */
FM_API fm_status fm_card_set_read_chunk(fm_card *card, size_t chunk);

/** Flags of PIN-using calls. */
#define FM_CARD_ALLOW_LAST_TRY 1u  /* send the PIN even when only one try is left (a wrong PIN then locks the card) */

/** The card's PINs. */
typedef enum fm_card_pin {
    FM_CARD_PIN_AUTH = 1,     /* JPKI user-authentication PIN (EF 0018, 4 digits, 3 tries) */
    FM_CARD_PIN_SIGN = 2,     /* JPKI signing PIN (EF 001B, 6-16 of A-Z 0-9, 5 tries) */
    FM_CARD_PIN_VISUAL_A = 3, /* visual AP PIN A = the 12-digit My Number (EF 0013) */
    FM_CARD_PIN_VISUAL_B = 4, /* visual AP PIN B = era birth date + expiry year + security code (EF 0012) */
    FM_CARD_PIN_TEXT = 5,     /* card-info input support AP PIN (EF 0011, 4 digits) */
    FM_CARD_PIN_RESIDENT = 6  /* resident-register AP PIN (EF 001C, 4 digits) */
} fm_card_pin;
/** "auth", "sign", "visual_a", "visual_b", "text", "resident"; static storage; "unknown" otherwise. */
FM_API const char *fm_card_pin_name(fm_card_pin pin);

/**
 * Remaining tries of a PIN, read with VERIFY without data (no try is spent). *tries = 0 means locked.
 * Selects the PIN's application (the security state of the previously selected application is lost).
 */
FM_API fm_status fm_card_pin_tries(fm_card *card, fm_card_pin pin, int *tries);

/* ---- PIN helpers (pure functions, no card) ---- */

/**
 * Gregorian "YYYYMMDD" → Japanese-era "YYMMDD" (era year, two digits) and the era (1 Meiji, 2 Taisho, 3 Showa,
 * 4 Heisei, 5 Reiwa; NULL allowed). Boundaries: Taisho from 1912-07-30, Showa from 1926-12-25, Heisei from
 * 1989-01-08, Reiwa from 2019-05-01; Meiji from 1868-01-25 (earlier dates are rejected). FM_ERR_INVALID_ARGUMENT for
 * a malformed or impossible date. ctx may be NULL.
 */
FM_API fm_status fm_card_era_date(fm_ctx *ctx, const char *birth_yyyymmdd, char out[7], int *era);
/**
 * Builds PIN B: era birth date YYMMDD ‖ expiry year YYYY ‖ 4-digit security code (domain.md §2) into out (14 digits
 * + NUL). birth may be "YYYYMMDD" or "YYYY-MM-DD". The caller wipes out (fm_wipe) after use.
 */
FM_API fm_status fm_card_make_pin_b(fm_ctx *ctx, const char *birth, const char *expiry_year, const char *code,
                                    char out[15]);
/** 1 if s is 12 digits with a valid My Number check digit, else 0. */
FM_API int fm_card_my_number_valid(const char *s);

/* ---- visual AP (券面事項確認AP): portrait, birth date, sex, expiry, authenticity ---- */

typedef enum fm_card_authenticity {
    FM_CARD_AUTH_UNVERIFIABLE = 0, /* no trusted CA key for EF 0004's issuer: nothing proven (never "verified") */
    FM_CARD_AUTH_VERIFIED = 1,     /* EF 0004 signed by a trusted CA key AND DF28 verifies with EF 0004's key */
    FM_CARD_AUTH_INVALID = 2       /* a signature does not verify: data altered or not from a genuine card */
} fm_card_authenticity;
/** "unverifiable", "verified", "invalid"; static storage. */
FM_API const char *fm_card_authenticity_name(fm_card_authenticity a);

/**
 * Adds a trusted CA public key (the J-LIS key that signs EF 0004; or the virtual card's test CA). data is a PEM or
 * DER RSA public key (SubjectPublicKeyInfo or PKCS#1) or an X.509 certificate (its key is used). key_id: the
 * 16-byte issuer key id EF 0004 names for this key, or NULL to trust it for any issuer id. Up to 16 keys.
 */
FM_API fm_status fm_card_add_trusted_ca_key(fm_card *card, const void *data, size_t len, const uint8_t *key_id);
FM_API fm_status fm_card_add_trusted_ca_key_file(fm_card *card, const char *path, const uint8_t *key_id);

typedef struct fm_card_visual fm_card_visual; /* owned result of a visual AP read */

typedef struct fm_card_visual_info {
    char birth_date[9];           /* DF22 "YYYYMMDD" */
    char sex;                     /* DF23: '1' male, '2' female, '9' not applicable */
    char expiry[9];               /* DF29 "YYYYMMDD" */
    size_t portrait_len;          /* bytes of the JP2 portrait (DF27's value) */
    uint8_t portrait_sha256[32];  /* SHA-256 of DF27's VALUE (the JP2 file bytes, without tag and length) */
    char portrait_sha256_hex[65];
    fm_card_authenticity authenticity;
    char authenticity_detail[160]; /* why (e.g. "no trusted CA key configured; ..."); never contains personal data */
} fm_card_visual_info;

/**
 * Reads the visual AP: SELECT the AP, read the PIN's tries, VERIFY (PIN A = 12-digit My Number, or PIN B = 14
 * digits; pin selects which: FM_CARD_PIN_VISUAL_A / _B), read EF 0002 and EF 0004, parse them strictly and check
 * authenticity against the trusted CA keys. tries_left (may be NULL) receives the tries after the call (-1 unknown).
 */
FM_API fm_status fm_card_read_visual(fm_card *card, fm_card_pin pin, const char *digits, unsigned flags,
                                     fm_card_visual **out, int *tries_left);
/** As fm_card_read_visual with PIN B built by the library from birth date, expiry year and security code. */
FM_API fm_status fm_card_read_visual_b(fm_card *card, const char *birth, const char *expiry_year, const char *code,
                                       unsigned flags, fm_card_visual **out, int *tries_left);
/** Wipes (portrait and personal data are biometric / personal) and frees. */
FM_API void fm_card_visual_destroy(fm_card_visual *v);
FM_API void fm_card_visual_get_info(const fm_card_visual *v, fm_card_visual_info *info);
/** Copies the portrait JP2 bytes into buf. FM_ERR_BUFFER_TOO_SMALL (with *len = needed) when cap is too small. */
FM_API fm_status fm_card_visual_portrait(fm_ctx *ctx, const fm_card_visual *v, uint8_t *buf, size_t cap, size_t *len);
/** Decodes the portrait with fm_image_decode (want, info as there). */
FM_API fm_status fm_card_visual_decode_portrait(fm_ctx *ctx, const fm_card_visual *v, fm_pixfmt want,
                                                fm_image **out, fm_image_info *info);
/** Borrowed view of the raw EF 0002 / EF 0004 bytes as read (TLV, no filler); valid until fm_card_visual_destroy. */
FM_API const uint8_t *fm_card_visual_raw(const fm_card_visual *v, int ef, size_t *len);

/**
 * Card presence: sends a fresh random challenge (80 2A 00 00 Lc DigestInfo(SHA-256(challenge))) to the visual AP
 * and verifies the answer with the card's DF24 public key from v. FM_OK when it verifies, FM_ERR_VERIFY when not.
 */
FM_API fm_status fm_card_check_presence(fm_card *card, const fm_card_visual *v);

/* ---- JPKI AP: authentication certificate and key ---- */

/** Reads the authentication certificate (EF 000A, DER X.509, checked with OpenSSL) into buf. Buffer rule as above. */
FM_API fm_status fm_card_jpki_auth_cert(fm_card *card, uint8_t *buf, size_t cap, size_t *len);
/** VERIFY the 4-digit authentication PIN (PIN safety rules above). tries_left (may be NULL): after the call. */
FM_API fm_status fm_card_jpki_verify_auth_pin(fm_card *card, const char *pin, unsigned flags, int *tries_left);
/** VERIFY the signing PIN (EF 001B: 6-16 of A-Z 0-9, at least one letter and one digit; 5 tries) with the same
 *  safety rules (the kiosk step of a user-authentication-PIN reset). tries_left as above. */
FM_API fm_status fm_card_jpki_verify_sign_pin(fm_card *card, const char *pin, unsigned flags, int *tries_left);
/** Reads the signing certificate (EF 0001, DER X.509; readable only after fm_card_jpki_verify_sign_pin in this
 *  session). It names the holder: wipe it after use. Buffer rule as fm_card_jpki_auth_cert. */
FM_API fm_status fm_card_jpki_sign_cert(fm_card *card, uint8_t *buf, size_t cap, size_t *len);
/** Signs a SHA-256 digest with the signing key (key 001A, after fm_card_jpki_verify_sign_pin), like
 *  fm_card_jpki_sign_auth: DigestInfo(SHA-256, digest), PKCS#1 v1.5, 256 bytes. */
FM_API fm_status fm_card_jpki_sign_sign(fm_card *card, const uint8_t digest[32], uint8_t *sig, size_t cap,
                                        size_t *sig_len);
/**
 * Signs a SHA-256 digest with the authentication key (key 0017): the card gets DigestInfo(SHA-256, digest) and
 * PKCS#1 v1.5-pads it. The auth PIN must have been verified in this session (else FM_ERR_CARD_STATUS, 6982).
 * sig receives 256 bytes (cap >= 256).
 */
FM_API fm_status fm_card_jpki_sign_auth(fm_card *card, const uint8_t digest[32], uint8_t *sig, size_t cap,
                                        size_t *sig_len);

/* ---- PC/SC transport (pcsc-lite). In builds with -DFM_WITH_PCSC=OFF these return FM_ERR_UNSUPPORTED. ---- */

typedef struct fm_pcsc fm_pcsc;
/** Reader names, each NUL-terminated, the list ending with an empty name (PC/SC multi-string); *count readers. */
FM_API fm_status fm_pcsc_list_readers(fm_ctx *ctx, char *buf, size_t cap, size_t *count);
/**
 * Connects to a card: reader = exact reader name, or NULL for the first reader holding a card. Waits up to
 * timeout_ms for a card (0 = do not wait). Protocol T=1 or T=0 (T=0's 61xx/6Cxx are handled by fm_card).
 */
FM_API fm_status fm_pcsc_open(fm_ctx *ctx, const char *reader, int timeout_ms, fm_pcsc **out);
FM_API void fm_pcsc_close(fm_pcsc *pcsc);
/** The name of the connected reader (borrowed). */
FM_API const char *fm_pcsc_reader_name(const fm_pcsc *pcsc);
/** fm_card_transmit_fn for an fm_pcsc (pass the fm_pcsc as user). */
FM_API int fm_pcsc_transmit(void *pcsc, const uint8_t *apdu, size_t apdu_len, uint8_t *resp, size_t resp_cap,
                            size_t *resp_len);
/** Message of the last failing transmit on this handle ("" if none). Borrowed. */
FM_API const char *fm_pcsc_errmsg(const fm_pcsc *pcsc);

/* ============================================================================================================ */
/* [issue 6] Signed verdicts                                                                                     */
/* ============================================================================================================ */

/*
 * A verdict is a JWS compact token (RFC 7515) whose payload is the versioned JSON document specified in
 * docs/verdict-format.md ("v":1, header typ "fm-verdict+jwt"). It is signed with the engine's key (ES256 by
 * default, EdDSA/Ed25519 as an option) and, when a card was read, also carries a signature made by the card's JPKI
 * authentication key over the SHA-256 of the token's "core" signing input (header.payload-without-the-card-member)
 * plus that card's certificate, all inside the payload, so standard JWS verifiers (PyJWT, openssl) accept the token.
 * No images, embeddings, PINs or My Numbers are ever put in a verdict.
 *
 * Threads: an fm_verdict_key and a configured fm_verdict_verifier are immutable once set up and may be shared by
 * threads (verification is const); the fm_ctx passed to each call follows the usual one-thread rule.
 */

/** JWS algorithms the engine signs with. RS256/HS256/none are never produced nor accepted for the outer signature. */
typedef enum fm_jws_alg {
    FM_JWS_NONE = 0,    /* not a signing algorithm (e.g. an RSA card key held by fm_verdict_key) */
    FM_JWS_ES256 = 1,   /* ECDSA P-256 + SHA-256, signature = R || S (64 bytes, RFC 7518 3.4) -- the default */
    FM_JWS_EDDSA = 2    /* Ed25519 (RFC 8037) */
} fm_jws_alg;

/** "ES256", "EdDSA" or "none"; static storage. */
FM_API const char *fm_jws_alg_name(fm_jws_alg alg);

/** A signing key (private) or verification key (public), held as an OpenSSL EVP_PKEY. Key material is wiped on
 *  destroy by OpenSSL; every temporary buffer the library uses for PEM text is cleansed (OPENSSL_cleanse). */
typedef struct fm_verdict_key fm_verdict_key;

/** Flags reported by fm_verdict_key_load_file. */
#define FM_KEYFILE_INSECURE_PERMS 1u  /* the private key file is readable or writable by group/others */

/** Creates a new random key (FM_JWS_ES256 or FM_JWS_EDDSA). */
FM_API fm_status fm_verdict_key_generate(fm_ctx *ctx, fm_jws_alg alg, fm_verdict_key **out);
/**
 * Loads a key from PEM (private: PKCS#8 / traditional EC; public: SubjectPublicKeyInfo) or DER held in memory. A
 * private key gives a key that can sign and verify; a public key verifies only. EC keys must be P-256. RSA keys
 * (>= 2048 bits) load too but are only usable with fm_verdict_key_card_sign (a software stand-in for the card).
 * FM_ERR_KEY when the bytes are not a usable key (encrypted PEM is refused). P-256 and Ed25519 PKCS#8 keys are
 * decoded by the library itself so that no unwiped copy of the private key is left in freed memory; other layouts
 * go through OpenSSL's decoders, which (3.0) do leave such copies.
 */
FM_API fm_status fm_verdict_key_load(fm_ctx *ctx, const void *data, size_t len, fm_verdict_key **out);
/** As fm_verdict_key_load from a file (at most 64 KiB). *flags (may be NULL) receives FM_KEYFILE_* bits: for a file
 *  holding a private key, FM_KEYFILE_INSECURE_PERMS when its mode grants group/other any access (callers warn). */
FM_API fm_status fm_verdict_key_load_file(fm_ctx *ctx, const char *path, fm_verdict_key **out, unsigned *flags);
FM_API void fm_verdict_key_destroy(fm_verdict_key *key);

/** FM_JWS_ES256, FM_JWS_EDDSA, or FM_JWS_NONE for an RSA key. */
FM_API fm_jws_alg fm_verdict_key_alg(const fm_verdict_key *key);
/** 1 if the key holds private material (can sign). */
FM_API int fm_verdict_key_is_private(const fm_verdict_key *key);
/** Key id: RFC 7638 JWK thumbprint (SHA-256, base64url without padding, 43 characters + NUL) of the public key.
 *  Only for ES256/EdDSA keys (FM_ERR_KEY otherwise). */
FM_API fm_status fm_verdict_key_id(fm_ctx *ctx, const fm_verdict_key *key, char kid[44]);
/** Public key as PEM (SubjectPublicKeyInfo) into buf (NUL-terminated; *len excludes the NUL). FM_ERR_BUFFER_TOO_SMALL
 *  with *len = needed size (without NUL) when cap is too small. */
FM_API fm_status fm_verdict_key_public_pem(fm_ctx *ctx, const fm_verdict_key *key, char *buf, size_t cap,
                                           size_t *len);
/**
 * Writes the private key as unencrypted PKCS#8 PEM to path with mode 0600. The file is created with
 * open(O_CREAT | O_EXCL | O_NOFOLLOW, 0600): an existing path fails with FM_ERR_IO unless overwrite is non-zero, in
 * which case a fresh 0600 file is written beside it and renamed over it (the old file's mode is not inherited).
 */
FM_API fm_status fm_verdict_key_write_private(fm_ctx *ctx, const fm_verdict_key *key, const char *path,
                                              int overwrite);
/** Writes the public key PEM to path (mode 0644, O_EXCL unless overwrite). */
FM_API fm_status fm_verdict_key_write_public(fm_ctx *ctx, const fm_verdict_key *key, const char *path,
                                             int overwrite);

/**
 * The card binding callback. The library calls it once per signed verdict with digest = SHA-256 of the core JWS
 * signing input (see docs/verdict-format.md). It must have the card's JPKI authentication key sign that digest the way
 * the card does (DigestInfo(SHA-256, digest), RSASSA-PKCS1-v1_5; 256 bytes for RSA-2048), write the signature into
 * sig (capacity cap, 512 bytes offered) and set *sig_len. Return FM_OK or an error status (the signing then fails
 * with that status). `user` is the caller's pointer. The PIN handling stays inside the caller/card module: the verdict
 * module never sees the PIN.
 */
typedef fm_status (*fm_card_sign_fn)(void *user, const uint8_t digest[32], uint8_t *sig, size_t cap,
                                     size_t *sig_len);

/** Software stand-in for the card, for tests and the developer `verdict sign` command only: an fm_card_sign_fn whose
 *  user pointer is an fm_verdict_key holding an RSA private key (signs DigestInfo(SHA-256) with PKCS#1 v1.5). */
FM_API fm_status fm_verdict_key_card_sign(void *rsa_key, const uint8_t digest[32], uint8_t *sig, size_t cap,
                                          size_t *sig_len);

typedef enum fm_verdict_decision {
    FM_VERDICT_MATCH = 1,
    FM_VERDICT_NO_MATCH = 2,
    FM_VERDICT_SPOOF_SUSPECTED = 3,
    FM_VERDICT_INCONCLUSIVE = 4
} fm_verdict_decision;

/** Authenticity of the portrait read from the chip (from the card module's check of the visual AP signature). */
typedef enum fm_portrait_auth {
    FM_PORTRAIT_VERIFIED = 1,      /* the card's DF28 signature over the portrait checked out */
    FM_PORTRAIT_UNVERIFIABLE = 2,  /* no signature/key to check it with (e.g. a portrait from a file) */
    FM_PORTRAIT_INVALID = 3        /* the signature did not verify */
} fm_portrait_auth;

/** "match", "no_match", "spoof_suspected", "inconclusive" / "verified", "unverifiable", "invalid"; NULL if unknown. */
FM_API const char *fm_verdict_decision_name(fm_verdict_decision d);
FM_API const char *fm_portrait_auth_name(fm_portrait_auth a);

#define FM_VERDICT_MAX_REASONS 16
#define FM_VERDICT_MAX_CHECKS 16
#define FM_VERDICT_MAX_STEPS 8
#define FM_VERDICT_MAX_FRAMES 16
#define FM_VERDICT_MAX_MODELS 16
#define FM_VERDICT_MAX_NAME 64         /* longest name / reason code (bytes), characters [a-z0-9_.-] */
#define FM_VERDICT_DEFAULT_LIFETIME 120 /* seconds between iat and exp when the input says 0 */

/** One liveness check (blink, turn, passive anti-spoof model, continuity, ...). score/threshold: NaN = not reported. */
typedef struct fm_verdict_check {
    const char *name;   /* [a-z0-9_.-]{1,64} */
    double score;
    double threshold;
    int pass;
} fm_verdict_check;

/** One challenge step: what was asked and when (seconds since the session started), and whether/when it was met. */
typedef struct fm_verdict_step {
    const char *action;  /* e.g. "blink", "turn_left", "turn_right", "nod"; [a-z0-9_.-]{1,64} */
    double asked_at;     /* when the instruction was shown */
    double deadline;     /* end of its time window */
    int met;
    double met_at;       /* when it was met; ignored (written as null) when met == 0 */
} fm_verdict_step;

/** Quality of one frame used for the match. NaN in any measure = not measured (written as null). */
typedef struct fm_verdict_frame {
    double t;            /* seconds since the session started */
    double quality;      /* overall quality score, 0..1 */
    double face_px;      /* face size (inter-ocular or box width, see docs), pixels */
    double sharpness;
    double brightness;
    double yaw, pitch;   /* degrees */
} fm_verdict_frame;

/** A model used for the decision: its manifest name and the SHA-256 (64 lowercase hex) of the file that ran. */
typedef struct fm_verdict_model {
    const char *name;
    const char *sha256_hex;
} fm_verdict_model;

/**
 * Everything a verdict states, filled by the session (issue 5) or by fm_verdict_sign_json. All pointers are the
 * caller's and are only read during fm_verdict_sign. Arrays hold n_* used entries (at most the capacity). Names and
 * reason codes are restricted to [a-z0-9_.-]{1,64}; audience to printable ASCII (1..256 bytes); the nonce to 16..128
 * hex digits (the service's, lowercased in the verdict).
 */
typedef struct fm_verdict_input {
    const char *aud;                 /* the reset service's audience id */
    const char *nonce_hex;           /* the service's one-time nonce, hex */
    int64_t iat;                     /* issued-at (Unix seconds); 0 = now */
    int64_t lifetime;                /* exp - iat in seconds; 0 = FM_VERDICT_DEFAULT_LIFETIME; max 3600 */

    fm_verdict_decision decision;
    const char *reasons[FM_VERDICT_MAX_REASONS];
    int n_reasons;

    double distance;                 /* face-embedding distance of the final match */
    double similarity;               /* the same as a similarity score (NaN = not reported) */
    double threshold;                /* decision threshold on distance */
    double fmr;                      /* false-match rate of the operating point the threshold stands for (e.g. 1e-4) */
    const char *metric;              /* e.g. "l2" or "cosine" (NULL = not reported) */

    fm_verdict_check checks[FM_VERDICT_MAX_CHECKS];
    int n_checks;
    fm_verdict_step steps[FM_VERDICT_MAX_STEPS];
    int n_steps;
    fm_verdict_frame frames[FM_VERDICT_MAX_FRAMES];
    int n_frames;

    uint8_t portrait_sha256[32];     /* SHA-256 of the portrait bytes as read from the chip (DF27 value) */
    fm_portrait_auth portrait_auth;

    /* The card's JPKI authentication certificate (DER, EF 000A). Required when a card signer is given; NULL/0 for
     * a verdict without card binding (e.g. a portrait from a file) — verifiers reject those by default. */
    const uint8_t *card_cert_der;
    size_t card_cert_len;

    fm_verdict_model models[FM_VERDICT_MAX_MODELS];
    int n_models;
} fm_verdict_input;

/** Sets every field to "not reported" (NaN numbers, zero counts, NULL pointers). Call before filling. */
FM_API void fm_verdict_input_init(fm_verdict_input *in);

/**
 * Builds and signs a verdict with key (ES256 or EdDSA private key). When card_sign is non-NULL, the card binding is
 * added (in->card_cert_der required). The token (ASCII, NUL-terminated) goes to token (capacity cap); *token_len
 * gets its length without the NUL. FM_ERR_BUFFER_TOO_SMALL with *token_len = needed length when cap is too small
 * (the card is then still asked to sign: size with a generous buffer, FM_VERDICT_TOKEN_MAX is always enough).
 * FM_ERR_INVALID_ARGUMENT names the offending field.
 */
#define FM_VERDICT_TOKEN_MAX 65536
FM_API fm_status fm_verdict_sign(fm_ctx *ctx, const fm_verdict_key *key, const fm_verdict_input *in,
                                 fm_card_sign_fn card_sign, void *card_user, char *token, size_t cap,
                                 size_t *token_len);

/**
 * Developer helper (used by `facematch verdict sign` and tests; a real verdict comes from a session): builds the
 * input from a JSON description (the payload fields of docs/verdict-format.md: aud, nonce, iat, lifetime, decision,
 * reasons, match{distance,similarity,threshold,fmr,metric}, liveness{checks,challenge}, quality, portrait{sha256,auth},
 * models; unknown keys rejected) and signs it as fm_verdict_sign does. card_cert_der may be NULL; it may also be a
 * PEM certificate (converted to DER).
 */
FM_API fm_status fm_verdict_sign_json(fm_ctx *ctx, const fm_verdict_key *key, const char *json, size_t json_len,
                                      const uint8_t *card_cert_der, size_t card_cert_len, fm_card_sign_fn card_sign,
                                      void *card_user, char *token, size_t cap, size_t *token_len);

/** Which verification check failed (FM_VCHECK_NONE: the verdict is valid). Names: fm_verdict_check_name. */
typedef enum fm_vcheck {
    FM_VCHECK_NONE = 0,
    FM_VCHECK_MALFORMED = 1,       /* "malformed": not a well-formed token / header / payload of this format */
    FM_VCHECK_ALG = 2,             /* "alg": alg not allowed (none, HS*, RS*, ...) or not matching the key type */
    FM_VCHECK_SIGNATURE = 3,       /* "signature": the engine signature (or kid) does not match the key */
    FM_VCHECK_NONCE = 4,           /* "nonce": not the service's nonce */
    FM_VCHECK_AUD = 5,             /* "aud": not this service's audience */
    FM_VCHECK_EXPIRED = 6,         /* "expired": exp passed, iat in the future, or lifetime above the maximum */
    FM_VCHECK_CARD_SIGNATURE = 7,  /* "card_signature": card binding missing, or not made by the embedded certificate */
    FM_VCHECK_CHAIN = 8            /* "chain": the card certificate does not chain to a configured CA */
} fm_vcheck;

/** "valid" for FM_VCHECK_NONE, else the names above; NULL for unknown values. */
FM_API const char *fm_vcheck_name(fm_vcheck c);

/** A verifier: the engine's public key, allowed algorithms, CA certificates and settings. */
typedef struct fm_verdict_verifier fm_verdict_verifier;

typedef enum fm_verdict_setting {
    FM_VSET_CLOCK_SKEW = 1,     /* seconds of tolerance on exp and iat; default 30, 0..600 */
    FM_VSET_MAX_LIFETIME = 2,   /* largest exp - iat accepted; default 600, 1..86400 */
    FM_VSET_REQUIRE_CARD = 3,   /* 1 (default): a verdict without card binding fails "card_signature" */
    FM_VSET_CHECK_CHAIN = 4,    /* 1 (default): the card certificate must chain to a CA added with *_add_ca;
                                   0 skips only the chain check (development; reported in the result) */
    FM_VSET_MAX_TOKEN = 5       /* largest token in bytes; default 32768, 256..FM_VERDICT_TOKEN_MAX */
} fm_verdict_setting;

/** Creates a verifier for tokens signed by pub (public or private key; a reference is kept). The allow-list is the
 *  key's one algorithm: ES256 for a P-256 key, EdDSA for an Ed25519 key; everything else fails "alg". */
FM_API fm_status fm_verdict_verifier_create(fm_ctx *ctx, const fm_verdict_key *pub, fm_verdict_verifier **out);
FM_API void fm_verdict_verifier_destroy(fm_verdict_verifier *v);
FM_API fm_status fm_verdict_verifier_set(fm_ctx *ctx, fm_verdict_verifier *v, fm_verdict_setting s, int64_t value);
/** Adds trusted CA certificates: PEM (one or more) or one DER certificate, from memory or a file. */
FM_API fm_status fm_verdict_verifier_add_ca(fm_ctx *ctx, fm_verdict_verifier *v, const void *data, size_t len);
FM_API fm_status fm_verdict_verifier_add_ca_file(fm_ctx *ctx, fm_verdict_verifier *v, const char *path);

/** What fm_verdict_verify found. Strings are NUL-terminated copies ("" when absent). */
typedef struct fm_verdict_result {
    int valid;                        /* 1 only when every check passed */
    fm_vcheck failed_check;           /* the first check that failed; order: structure and header (malformed),
                                         alg, signature, payload format (malformed), nonce, aud, expired,
                                         card_signature, chain (docs/verdict-format.md section 4) */
    char detail[192];                 /* one line saying why */
    int chain_checked;                /* 0 when FM_VSET_CHECK_CHAIN was off or the verdict has no card binding */
    fm_jws_alg alg;
    fm_verdict_decision decision;     /* 0 when the payload could not be read */
    char jti[33];                     /* verdict id, 32 lowercase hex */
    char kid[44];
    char aud[257];
    char nonce[129];
    int64_t iat, exp;
    char portrait_sha256[65];
    fm_portrait_auth portrait_auth;
    char card_cert_sha256[65];        /* SHA-256 of the card's JPKI auth certificate (DER), hex; "" without card */
    double distance, similarity, threshold, fmr;
} fm_verdict_result;

/**
 * Verifies a token: structure, alg (allow-list + key type), engine signature and kid, nonce (hex, compared
 * case-insensitively in constant time), aud (exact), expiry (exp > now - skew, iat <= now + skew,
 * exp - iat <= max lifetime), card signature against the embedded certificate (whose SHA-256 must equal the payload's
 * card_cert_sha256), and the certificate chain against the configured CAs at time now. now = 0 uses the clock.
 * Returns FM_OK when valid, FM_ERR_VERIFY when any check fails; in both cases *res is filled (failed_check, detail,
 * and every field that could be read). Other statuses (bad arguments, out of memory) leave *res zeroed.
 * payload (may be NULL): receives the payload JSON (decoded from base64url, NUL-terminated) whenever the token's
 * structure could be decoded, even if a later check failed — do not act on it unless the result is valid.
 */
FM_API fm_status fm_verdict_verify(fm_ctx *ctx, const fm_verdict_verifier *v, const char *token, size_t token_len,
                                   const char *nonce_hex, const char *aud, int64_t now, fm_verdict_result *res,
                                   char *payload, size_t payload_cap, size_t *payload_len);

/* ============================================================================================================ */
/* [issue 5] Live session: frames in, liveness and a decision out                                               */
/* ============================================================================================================ */

/*
 * A session watches camera frames while the holder performs a short challenge derived from the reset service's
 * nonce, and ends with a decision (match / no_match / spoof_suspected / inconclusive), reason codes, the match
 * score, per-check liveness evidence and frame quality: everything fm_verdict_input needs (fm_session_verdict_input).
 *
 * Challenge derivation (fixed, versioned; the service recomputes it, e.g. with Python's hmac module):
 *   D = HMAC-SHA256(key = ASCII "facematch-challenge-v1" (22 bytes), message = the nonce bytes)
 *   n_steps = 2 + (D[0] & 1)                                   (2 or 3 steps)
 *   actions: a Fisher-Yates shuffle of [blink, turn_left, turn_right, nod] driven by D[1], D[2], ...: for
 *            i = 3, 2, 1 take the next byte b, skipping bytes >= 256 - 256 % (i + 1) (no modulo bias), j = b % (i + 1),
 *            swap(a[i], a[j]); the first n_steps entries are the challenge (distinct actions).
 *   window of step k (ms) = 3000 + 250 * (D[24 + k] % 9)       (3.0 .. 5.0 s)
 *   (the shuffle needs at most 3 accepted bytes from D[1..23]; if they ran out — probability < 1e-30 — the
 *   remaining swaps use j = 0.)
 * A step's window opens when it is asked (the previous step met, or the face first settled for step 0) and the step
 * must be met before it closes. Directions are the holder's own: turn_left = the holder turns to their left, i.e.
 * the nose moves to IMAGE-RIGHT in an unmirrored camera frame (set policy.mirrored for mirrored frames).
 *
 * Threads: a session belongs to the thread of its fm_ctx; the engine may be shared by many sessions.
 */

typedef enum fm_challenge_action {
    FM_ACTION_BLINK = 1,
    FM_ACTION_TURN_LEFT = 2,   /* the holder's own left */
    FM_ACTION_TURN_RIGHT = 3,
    FM_ACTION_NOD = 4          /* head down and back up */
} fm_challenge_action;

/** "blink", "turn_left", "turn_right", "nod"; NULL for unknown values. */
FM_API const char *fm_challenge_action_name(fm_challenge_action a);
/** Parses one of the names above (exact, lowercase); 0 if unknown. */
FM_API fm_challenge_action fm_challenge_action_parse(const char *name);

#define FM_CHALLENGE_MAX_STEPS 3
#define FM_CHALLENGE_KEY "facematch-challenge-v1"

/** A derived challenge: plain ints, so ctypes/other languages can read it directly. */
typedef struct fm_challenge {
    int n_steps;                             /* 2 or 3 */
    int action[FM_CHALLENGE_MAX_STEPS];      /* fm_challenge_action */
    int window_ms[FM_CHALLENGE_MAX_STEPS];   /* time allowed for the step once asked */
} fm_challenge;

/**
 * Derives the challenge from the service's nonce as specified above. The nonce must be 8..64 bytes
 * (FM_ERR_INVALID_ARGUMENT otherwise). Pure function; ctx may be NULL.
 */
FM_API fm_status fm_challenge_derive(fm_ctx *ctx, const uint8_t *nonce, size_t nonce_len, fm_challenge *out);

/** Session policy. Start from fm_session_policy_init (safe defaults) and change only what you need. */
typedef struct fm_session_policy {
    /* match */
    double match_threshold;       /* dlib 128-d L2 distance; match when the combined distance is below. Default 0.52:
                                     false-match rate 1e-3 measured on ../shared/data/faces (README "session") */
    double match_fmr;             /* the false-match rate the threshold stands for, reported in the verdict; default
                                     1e-3 (set it when you change the threshold) */
    int match_frames;             /* k: the match distance is the MEDIAN of the distances of the k best-quality
                                     frames to the reference; default 5 */
    int min_match_frames;         /* fewer usable frames than this: inconclusive; default 3 */
    /* time limits (seconds) */
    double max_duration;          /* whole session; default 40 */
    double settle_time;           /* one steady, good face needed this long before the challenge starts; 0.5 */
    /* which checks are required for a match (1 = required; a required check that cannot be evaluated makes the
       session inconclusive) */
    int require_challenge;        /* default 1 */
    int require_passive;          /* passive anti-spoof score; default 1 */
    int require_continuity;       /* one face, same identity, no jumps, timestamps; default 1 */
    /* liveness */
    double pad_threshold;         /* NaN (default): the passive check is the liveness module's video-level rule over
                                     the session's per-frame scores (README "session"). Set (0..1, probability
                                     live): a frame below it counts as a spoof, and the next field decides */
    double pad_max_spoof_fraction;/* with pad_threshold set: passive fails when more than this fraction of scored
                                     frames are below it; default 0.5 */
    double turn_degrees;          /* yaw change from the neutral pose a turn must reach; default NaN = the liveness
                                     module's detector default (15, README "session": measured on clips.csv) */
    double nod_degrees;           /* pitch change a nod must reach; default NaN = the liveness module's (12) */
    /* continuity */
    double identity_threshold;    /* sampled frames farther than this (L2) from the session's first face: a
                                     different person; default 0.6 */
    double max_jump;              /* face-centre move between consecutive frames, in face widths per 1/30 s;
                                     default 0.5 */
    double min_fps, max_fps;      /* plausible median frame rate; defaults 5 and 120 */
    double max_gap;               /* longest gap between frames (s) tolerated; default 1.0 */
    /* quality gates for frames used for matching */
    double min_face_px;           /* face box width; default 80 */
    double min_sharpness;         /* variance of the Laplacian of the 112-px grey face crop; default 20 */
    double min_brightness, max_brightness; /* mean grey of the face crop; defaults 30 and 215 (README "session") */
    double max_pose_degrees;      /* |yaw| below this for settling and matching frames; default 15 */
    double max_pitch_degrees;     /* |pitch| below this; default 35 (the fitted pitch carries the camera's elevation
                                     and the generic 3D model's bias: frontal faces read -9..-28 on the clips) */
    int mirrored;                 /* 1: frames are mirrored (selfie preview), swaps left and right; default 0 */
    /* liveness models (fr_liveness.onnx, fr_eye.onnx): the engine does not load them, the session does, by default
       from the engine's models directory. Only read during fm_session_create. */
    const char *models_dir;       /* NULL (default) = the engine's (its config's directory, else the default) */
    const void *liveness_model;   /* optional fr_liveness.onnx bytes (override models_dir) */
    size_t liveness_model_len;
    const void *eye_model;        /* optional fr_eye.onnx bytes */
    size_t eye_model_len;
    int verify_models;            /* 1 (default): manifest SHA-256 check of the liveness models (FM_ERR_MODEL_HASH) */
    /* TESTING ONLY: a fixed challenge instead of the nonce-derived one. Recorded in the result (challenge_fixed
       = 1 and the reason "challenge_fixed_for_testing"); a verifier must reject such verdicts in production. */
    int test_n_steps;             /* 0 (default) = derive from the nonce */
    int test_actions[FM_CHALLENGE_MAX_STEPS];
    int observe;                  /* 1: OBSERVE ONLY (demos, audits, tuning): no challenge is asked, the session never
                                     ends by itself (no DONE, no timeout) and every frame feeds the event detectors
                                     (result.events); the decision is never match (reason "observe_only") */
} fm_session_policy;

/** Fills the safe defaults listed above. */
FM_API void fm_session_policy_init(fm_session_policy *p);

typedef struct fm_session fm_session;

/**
 * Starts a session. The reference is the portrait image (from fm_card_visual_decode_portrait or a file): exactly
 * one face is detected in it (FM_ERR_NO_FACE / FM_ERR_MULTIPLE_FACES otherwise) and its 128-d descriptor kept.
 * The engine must hold FM_MODEL_DLIB_RESNET, FM_MODEL_DLIB_SP5, FM_MODEL_DLIB_SP68, FM_MODEL_FP_DETECT and the
 * liveness models (see README "session"; FM_ERR_MODEL_MISSING names the missing one). nonce: 8..64 bytes.
 * policy NULL = defaults. The engine must outlive the session; ctx receives the errors of every session call.
 */
FM_API fm_status fm_session_create(fm_ctx *ctx, const fm_engine *engine, const fm_image *portrait,
                                   const uint8_t *nonce, size_t nonce_len, const fm_session_policy *policy,
                                   fm_session **out);
/** As fm_session_create with a precomputed reference descriptor (128 floats from fm_embed_face, FM_EMBED_DLIB). */
FM_API fm_status fm_session_create_with_reference(fm_ctx *ctx, const fm_engine *engine, const float *reference,
                                                  size_t dim, const uint8_t *nonce, size_t nonce_len,
                                                  const fm_session_policy *policy, fm_session **out);
/** Wipes the descriptors the session holds and frees it. */
FM_API void fm_session_destroy(fm_session *s);

typedef enum fm_session_state {
    FM_SESSION_SEARCHING = 1,   /* waiting for one steady, good face */
    FM_SESSION_CHALLENGE = 2,   /* a challenge step is being asked */
    FM_SESSION_COLLECTING = 3,  /* challenge done; collecting frames for the match ("hold still") */
    FM_SESSION_DONE = 4,        /* enough evidence: call fm_session_finish */
    FM_SESSION_FAILED = 5       /* stopped early (timeout, step missed, bad timestamps): fm_session_finish says why */
} fm_session_state;

typedef enum fm_instruction {
    FM_INSTR_NONE = 0,
    FM_INSTR_LOOK_AT_CAMERA = 1,   /* no face */
    FM_INSTR_ONE_FACE_ONLY = 2,
    FM_INSTR_MOVE_CLOSER = 3,
    FM_INSTR_MOVE_BACK = 4,
    FM_INSTR_CENTER_FACE = 5,
    FM_INSTR_TOO_DARK = 6,
    FM_INSTR_TOO_BRIGHT = 7,
    FM_INSTR_HOLD_STILL = 8,       /* blurred or moving */
    FM_INSTR_LOOK_STRAIGHT = 9,
    FM_INSTR_BLINK = 10,
    FM_INSTR_TURN_LEFT = 11,
    FM_INSTR_TURN_RIGHT = 12,
    FM_INSTR_NOD = 13,
    FM_INSTR_DONE = 14,
    FM_INSTR_FAILED = 15
} fm_instruction;

/** Stable code ("blink_now", ...), English and Japanese (UTF-8) texts of an instruction; static storage. */
FM_API const char *fm_instruction_code(fm_instruction i);
FM_API const char *fm_instruction_text(fm_instruction i, const char *lang /* "en" or "ja" */);

typedef struct fm_session_feedback {
    fm_session_state state;
    fm_instruction instruction;
    const char *code;              /* fm_instruction_code(instruction) */
    const char *text_en;           /* static storage */
    const char *text_ja;
    int step;                      /* index of the step being asked (-1 when none) */
    int n_steps;
    double t;                      /* seconds since the first frame */
    double step_time_left;         /* seconds left for the current step (NaN when none) */
    int faces;                     /* faces detected in this frame */
    double quality;                /* this frame's quality 0..1 (0 without a usable face) */
    fm_face_box box;               /* the tracked face (all 0 when none) */
    /* this frame's signals (NaN when not measured): for UIs and traces, not needed to drive the session */
    double yaw, pitch;             /* degrees, conventions of README "Liveness signals" */
    double ear;                    /* mean eye aspect ratio */
    double pad;                    /* passive score (probability live), on the frames it was computed */
    double brightness, sharpness;  /* face-crop mean grey and variance of the Laplacian (the quality gates) */
} fm_session_feedback;

/**
 * Processes one frame (any fm_image: wrapped NV21/NV12/I420/BGRA camera buffers with rotation work directly).
 * timestamp_us: monotonic capture time in microseconds; it must strictly increase — otherwise FM_ERR_INVALID_ARGUMENT
 * and the session is FAILED for good (reason "timestamps_not_monotonic"). Frames after DONE/FAILED are refused with
 * FM_ERR_STATE. out (may be NULL) receives the state and the next instruction.
 */
FM_API fm_status fm_session_push_frame(fm_session *s, const fm_image *frame, int64_t timestamp_us,
                                       fm_session_feedback *out);

/** The challenge the session asks (derived or, for tests, fixed). */
FM_API void fm_session_challenge(const fm_session *s, fm_challenge *out);

#define FM_SESSION_MAX_REASONS 16
#define FM_SESSION_MAX_CHECKS 12
#define FM_SESSION_MAX_FRAMES 8

typedef struct fm_session_check {
    char name[32];       /* "challenge", "passive", "one_face", "identity", "motion", "timestamps", "frame_rate",
                            "quality", "blink", "turn_left", ... */
    double score;        /* the measured value (NaN = not measured); meaning per check in README "session" */
    double threshold;
    int evaluated;       /* 0: could not be measured */
    int pass;
    char detail[96];
} fm_session_check;

typedef struct fm_session_step {
    int action;          /* fm_challenge_action */
    double asked_at;     /* seconds since the first frame; NaN if never asked */
    double deadline;
    int met;
    double met_at;       /* NaN unless met */
    double evidence;     /* blink: closure duration (s); turns: peak yaw (deg); nod: pitch excursion (deg) */
} fm_session_step;

/** An action the event detectors saw, whether or not the challenge asked for it (demos, audits). */
typedef struct fm_session_event {
    int action;          /* fm_challenge_action: blink, turn_left, turn_right (the holder's own) or nod */
    double t_start;      /* seconds since the first frame: eyes closing / head leaving the neutral pose */
    double t_end;        /* eyes reopened / target angle reached (nod: back near neutral) */
    double value;        /* blink: closure duration (s); turns, nod: peak angle from neutral (deg) */
} fm_session_event;

#define FM_SESSION_MAX_EVENTS 32

typedef struct fm_session_frame {
    double t, quality, face_px, sharpness, brightness, yaw, pitch;
    double distance;     /* to the reference */
} fm_session_frame;

typedef struct fm_session_result {
    int decision;                            /* fm_verdict_decision (section [issue 6]) */
    char reasons[FM_SESSION_MAX_REASONS][65];    /* [a-z0-9_.-]{1,64} */
    int n_reasons;
    double distance, similarity, threshold, fmr;  /* combined match; with no quality frame, the distance of the
                                                     session's first face (match_frames 0); NaN if no face seen */
    int match_frames;                        /* frames combined into distance */
    fm_session_check checks[FM_SESSION_MAX_CHECKS];
    int n_checks;
    fm_session_step steps[FM_CHALLENGE_MAX_STEPS];
    int n_steps;
    int challenge_fixed;                     /* 1: policy test_actions were used (testing only) */
    fm_session_frame frames[FM_SESSION_MAX_FRAMES]; /* the frames used for the match, best first */
    int n_frames;
    int frames_total, frames_with_face, frames_multi_face;
    double duration;                         /* seconds between first and last frame */
    double pad_score;                        /* median passive score over scored frames (NaN if none) */
    fm_session_event events[FM_SESSION_MAX_EVENTS]; /* every detected blink/turn/nod in time order (the first
                                                       FM_SESSION_MAX_EVENTS; n_events_total counts all) */
    int n_events, n_events_total;
} fm_session_result;

/** Ends the session (any state) and fills *out. May be called once; later calls give FM_ERR_STATE. */
FM_API fm_status fm_session_finish(fm_session *s, fm_session_result *out);

/**
 * Fills a verdict input from a finished session's result plus what only the caller knows (audience, nonce hex,
 * portrait hash and authenticity, card certificate). Calls fm_verdict_input_init first. The input's strings point
 * into r (and the arguments): keep them alive until fm_verdict_sign returns. FM_ERR_STATE when the session saw no
 * face (no distance to state). Models: the manifest SHA-256 of each
 * model the session used (the engine checks files against it when created with verify_sha256).
 */
struct fm_verdict_input; /* [issue 6] below */
FM_API fm_status fm_session_verdict_input(fm_ctx *ctx, const fm_session_result *r, const char *aud,
                                          const char *nonce_hex, const uint8_t portrait_sha256[32],
                                          int portrait_auth /* fm_portrait_auth */, const uint8_t *card_cert_der,
                                          size_t card_cert_len, struct fm_verdict_input *in);

/* ---- liveness signals: passive anti-spoof on one image (what `facematch pad-eval` measures) ---------------- */

/** Passive presentation-attack scorer: faceplugin fr_liveness.onnx (its authors' crop: the detector box scaled
 *  2.7x, 128x128) plus image cues, fused (README "Liveness signals"). Belongs to one thread (holds scratch). */
typedef struct fm_pad fm_pad;

typedef struct fm_pad_result {
    double live;        /* fused probability live, 0..1: live if live >= the threshold */
    double model_live;  /* fr_liveness softmax[0] alone */
    double moire;       /* screen cue: log10 of the strongest outer-ring spectral peak over the ring's median */
    double specular;    /* fraction of near-white unsaturated face pixels */
    double colour;      /* chroma standard deviation over the inner face (central 60 % of the box each way) */
} fm_pad_result;

/** Loads fr_liveness.onnx and fr_eye.onnx from models_dir (NULL = fm_models_default_dir()), SHA-256 checked. */
FM_API fm_status fm_pad_create(fm_ctx *ctx, const char *models_dir, fm_pad **out);
FM_API void fm_pad_destroy(fm_pad *pad);
/** The operating threshold on fm_pad_result.live calibrated on liveness/pad.csv (README "Liveness signals"). */
FM_API double fm_pad_default_threshold(void);
/** Scores the face in box (as returned by fm_detect with the fast detector) of img (any fm_image). */
FM_API fm_status fm_pad_score(fm_ctx *ctx, fm_pad *pad, const fm_image *img, const fm_face_box *box,
                              fm_pad_result *out);

/* ---- liveness signals: video-level passive decision (the rule a session applies to its frames) ------------- */

/** Accumulates the per-frame passive scores (fm_pad_result.live) of ONE presentation (a clip, a camera session) and
 *  applies the same video-level rule as fm_session: live iff at least FM_PAD_VIDEO_MIN_FRAMES finite scores were
 *  pushed and their median >= fm_pad_video_threshold() (README "Liveness signals": calibrated on clips, a median
 *  ignores a minority of frames with a bad crop or a second face). Push a NaN for a frame without a score (no face):
 *  it is counted, not used. Score every frame or a regular subset (the session scores at most 10 frames a second).
 *  Holds at most FM_PAD_VIDEO_MAX_FRAMES scores (then FM_ERR_LIMIT); above 1024 scores the median is taken over
 *  every k-th one, as in the session. Belongs to one thread; no models needed. */
#define FM_PAD_VIDEO_MIN_FRAMES 3
#define FM_PAD_VIDEO_MAX_FRAMES 65536
typedef struct fm_pad_video fm_pad_video;

typedef struct fm_pad_video_result {
    int evaluated;    /* 1 when at least FM_PAD_VIDEO_MIN_FRAMES finite scores were pushed */
    int pass;         /* evaluated and median >= threshold */
    int scored;       /* finite scores the median was taken over */
    int pushed;       /* all scores pushed, NaN included */
    double median;    /* NaN when no finite score */
    double threshold; /* fm_pad_video_threshold() */
} fm_pad_video_result;

/** The video-level threshold on the median of fm_pad_result.live. */
FM_API double fm_pad_video_threshold(void);
FM_API fm_status fm_pad_video_create(fm_ctx *ctx, fm_pad_video **out);
FM_API void fm_pad_video_destroy(fm_pad_video *v);
/** Adds one frame's score: a value in [0, 1], or NaN for a frame without one; anything else is
 *  FM_ERR_INVALID_ARGUMENT (nothing added). */
FM_API fm_status fm_pad_video_push(fm_ctx *ctx, fm_pad_video *v, double score);
/** The decision over the scores pushed so far (can be called any time; pushing may go on afterwards). */
FM_API fm_status fm_pad_video_result_get(fm_ctx *ctx, const fm_pad_video *v, fm_pad_video_result *out);
/** Forgets every score (a new presentation). */
FM_API void fm_pad_video_reset(fm_pad_video *v);

#ifdef __cplusplus
}
#endif

#endif /* FACEMATCH_H */
