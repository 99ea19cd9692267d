/* Internal view of fm_image and the codecs. Not installed. */
#ifndef FM_IMAGE_INTERNAL_H
#define FM_IMAGE_INTERNAL_H

#include "internal.h"

#include <stdint.h>

struct fm_image {
    fm_pixfmt fmt;
    int width, height;        /* stored (sensor) size */
    int rotation;             /* 0/90/180/270 clockwise still to apply (wrapped images only) */
    const uint8_t *planes[3]; /* planes in stored layout */
    int strides[3];
    uint8_t *owned;           /* non-NULL for owned images: one block holding every plane */
    size_t owned_size;
};

/* Upright size of an image. */
static inline int fmi_up_w(const fm_image *im) { return (im->rotation == 90 || im->rotation == 270) ? im->height : im->width; }
static inline int fmi_up_h(const fm_image *im) { return (im->rotation == 90 || im->rotation == 270) ? im->width : im->height; }

static inline int fmi_is_packed(fm_pixfmt f) { return f >= FM_PIX_GRAY8 && f <= FM_PIX_BGRA; }
static inline int fmi_is_planar(fm_pixfmt f) { return f >= FM_PIX_NV21 && f <= FM_PIX_I420; }

/* Checks width/height (>= 1) against the ctx's dimension and pixel limits, before any pixel buffer is allocated.
 * what names the thing in the message ("JPEG image", "resize target"). */
fm_status fmi_check_size(fm_ctx *ctx, const char *what, int64_t w, int64_t h);

/* Allocates an owned upright image without initialising it (fm_image_create zeroes). Checks limits. */
fm_status fmi_alloc(fm_ctx *ctx, fm_pixfmt fmt, int w, int h, int zero, fm_image **out);

/* Converts src (any format, any pending rotation) to packed dst, writing upright rows into buf/stride.
 * buf must hold stride*(H-1) + W*bpp bytes. Allocates a scratch buffer only for rotated sources. */
fm_status fmi_convert_into(fm_ctx *ctx, const fm_image *src, fm_pixfmt dst, uint8_t *buf, size_t stride);

/* Returns src itself when it is packed and upright, else a new upright packed image (format `pref` for planar
 * sources, src's own format for rotated packed ones) in *tmp which the caller destroys. */
fm_status fmi_upright_packed(fm_ctx *ctx, const fm_image *src, fm_pixfmt pref, const fm_image **view, fm_image **tmp);

/* Maps a sample of maxval-range to 8 bits: round(v * 255 / maxval). Builds a table of maxval+1 entries. */
uint8_t *fmi_scale_table(unsigned maxval);

/* ---- codecs: decode into a new owned image with the file's own colour model (GRAY8, RGB24, or RGBA when the
 * file has alpha; grey+alpha files give RGBA). want is a hint codecs may honour directly (JPEG does); the caller
 * converts whatever comes back. header_only: fill info and check limits, no pixels (*out untouched). ---- */
typedef fm_status (*fmi_decode_fn)(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                                   fm_image_info *info, fm_image **out);
fm_status fmi_jpeg_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                          fm_image_info *info, fm_image **out);
fm_status fmi_jp2_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                         fm_image_info *info, fm_image **out);
fm_status fmi_png_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                         fm_image_info *info, fm_image **out);
fm_status fmi_pnm_decode(fm_ctx *ctx, const uint8_t *data, size_t len, fm_pixfmt want, int header_only,
                         fm_image_info *info, fm_image **out);

/* EXIF orientation: reads the Orientation tag (IFD0, 0x0112) from the TIFF data of a JPEG's APP1 Exif segment
 * (tiff = the bytes after "Exif\0\0"). *orientation = 1..8, 1 when the tag is absent. Malformed structure or value
 * -> FM_ERR_CORRUPT with a message (ctx may be NULL). Every read is bounded by n. */
fm_status fmi_exif_orientation(fm_ctx *ctx, const uint8_t *tiff, size_t n, int *orientation);
/* A new owned image: packed owned src turned upright for EXIF orientation 1..8 (2 mirror left-right, 3 rotate 180,
 * 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise). */
fm_status fmi_orient(fm_ctx *ctx, const fm_image *src, int orientation, fm_image **out);

/* ---- encoders: img is upright, packed, GRAY8/RGB24/RGBA (the dispatcher converts). Output goes to a growable
 * buffer owned by the caller of the encoder (free() it). ---- */
typedef struct fmi_buf {
    uint8_t *data;
    size_t len, cap;
    int failed; /* an allocation failed */
} fmi_buf;
int fmi_buf_append(fmi_buf *b, const void *p, size_t n);

fm_status fmi_jpeg_encode(fm_ctx *ctx, const fm_image *img, int quality, fmi_buf *out);
fm_status fmi_jp2_encode(fm_ctx *ctx, const fm_image *img, fm_format fmt, int ratio, fmi_buf *out);
fm_status fmi_png_encode(fm_ctx *ctx, const fm_image *img, fmi_buf *out);
fm_status fmi_pnm_encode(fm_ctx *ctx, const fm_image *img, fmi_buf *out);

#endif
