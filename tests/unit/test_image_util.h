/* Shared by the image tests (test_image.c, test_image_ops.c, test_image_exif.c): a deterministic "photo-like" RGB test
 * image (smooth gradients, sharp edges, noise) that the tests compare against references. */
#ifndef TEST_IMAGE_UTIL_H
#define TEST_IMAGE_UTIL_H

#include <stdint.h>
#include <stdlib.h>

/* w x h RGB24, rows packed (stride w * 3); malloc'd, caller frees. The same seed gives the same image. */
static uint8_t *make_rgb(int w, int h, unsigned seed)
{
    uint8_t *p = malloc((size_t)w * h * 3);
    if (!p)
        return NULL;
    unsigned s = seed * 2654435761u + 1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            s = s * 1103515245u + 12345u;
            int n = (int)((s >> 16) & 15) - 8;
            int r = (x * 255) / (w > 1 ? w - 1 : 1) + n, g = (y * 255) / (h > 1 ? h - 1 : 1) - n;
            uint8_t *q = p + ((size_t)y * w + x) * 3;
            q[0] = (uint8_t)(r < 0 ? 0 : r > 255 ? 255 : r);
            q[1] = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g);
            q[2] = (uint8_t)((((x / 5 + y / 3) & 1) ? 200 : 40) + n);
        }
    return p;
}

#endif
