/* libFuzzer target: the JPEG decoder through fm_image_decode (see fuzz_image_common.h). Seeds: FM_FUZZ_SEEDS_OUT=DIR
 * ./fuzz_image_jpeg writes them (tests/fuzz/make_seeds_image.sh). */
#include "fuzz_image_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    seeds_maybe(argc, argv, FM_FORMAT_JPEG);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_image_input(data, size);
    return 0;
}
