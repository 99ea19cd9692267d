/* Face chips: dlib's get_face_chip_details + extract_image_chip (bilinear, with its pyramid_down<2> for large
 * faces), and the 112x112 five-point template alignment. Not installed. */
#ifndef FM_FACE_CHIP_H
#define FM_FACE_CHIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct fm_chip_details {
    double l, t, r, b;  /* dlib drectangle (inclusive corners) */
    double angle;       /* radians */
    int rows, cols;
} fm_chip_details;

/* dlib get_face_chip_details for 5 or 68 points (x,y pairs). Returns 0, -1 for a bad point count. */
int fm_chip_details_from_points(const float *pts_xy, int npoints, int size, double padding, fm_chip_details *d);

/* dlib extract_image_chip with bilinear interpolation from an upright packed RGB24 image into out
 * (rows*cols*3 bytes, packed). Returns 0, -1 on allocation failure. */
int fm_chip_extract_rgb(const uint8_t *rgb, int width, int height, int stride, const fm_chip_details *d,
                        uint8_t *out);

/* dlib pyramid_down<2> for RGB: out is ((h-3)/2) x ((w-3)/2) (0x0 if w or h <= 8). *out malloc'd (NULL if 0). */
int fm_pyramid_down2_rgb(const uint8_t *src, int w, int h, int stride, uint8_t **out, int *ow, int *oh);

/* Least-squares similarity transform (no reflection) mapping n points `from` onto `to`: m = 2x3 row-major. */
void fm_similarity_transform(const double *from_xy, const double *to_xy, int n, double m[6]);

/* Bilinear warp of packed 8-bit pixels: destination (x,y) samples source at m applied to (x,y); pixel centres at
 * integers; samples needing pixels outside the source are 0; values rounded to nearest. */
void fm_warp_bilinear(const uint8_t *src, int w, int h, int stride, int bpp, const double m[6], uint8_t *dst,
                      int dw, int dh);

#endif
