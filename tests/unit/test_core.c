/* Core: context settings and errors, status names, SHA-256, model table, file reading limits. */
#include "test.h"

#include "internal.h"

#include <unistd.h>

static void test_ctx_settings(void)
{
    fm_ctx *ctx = fm_ctx_create();
    REQUIRE(ctx);
    CHECK(fm_ctx_get(ctx, FM_PARAM_THREADS) == 1);
    CHECK(fm_ctx_get(ctx, FM_PARAM_MAX_PIXELS) > 0);
    CHECK_STATUS(fm_ctx_set(ctx, FM_PARAM_MAX_PIXELS, 1000), FM_OK);
    CHECK(fm_ctx_get(ctx, FM_PARAM_MAX_PIXELS) == 1000);
    CHECK_STATUS(fm_ctx_set(ctx, FM_PARAM_MAX_PIXELS, 0), FM_ERR_INVALID_ARGUMENT);
    CHECK(fm_ctx_get(ctx, FM_PARAM_MAX_PIXELS) == 1000); /* unchanged by a refused setting */
    CHECK(strstr(fm_ctx_errmsg(ctx), ">= 1") != NULL);
    CHECK(fm_ctx_errcode(ctx) == FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_ctx_set(ctx, FM_PARAM_THREADS, 100000), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_ctx_set(ctx, (fm_param)999, 5), FM_ERR_INVALID_ARGUMENT);
    CHECK(fm_ctx_get(ctx, (fm_param)999) == -1);
    fm_ctx_clear_error(ctx);
    CHECK(fm_ctx_errcode(ctx) == FM_OK && fm_ctx_errmsg(ctx)[0] == '\0');
    fm_ctx_destroy(ctx);
    fm_ctx_destroy(NULL);
}

static void test_status_names(void)
{
    CHECK(strcmp(fm_status_name(FM_OK), "FM_OK") == 0);
    CHECK(strcmp(fm_status_name(FM_ERR_PIN_LAST_TRY), "FM_ERR_PIN_LAST_TRY") == 0);
    CHECK(strcmp(fm_status_name((fm_status)12345), "FM_ERR_UNKNOWN") == 0);
    CHECK(strcmp(fm_version(), FM_VERSION_STRING) == 0);
}

static void test_sha256(void)
{
    char hex[65];
    uint8_t d[32];
    fm_sha256("abc", 3, d, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK(d[0] == 0xba && d[31] == 0xad);
    fm_sha256("", 0, NULL, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
}

static void test_model_table(void)
{
    for (int id = 0; id < FM_MODEL_COUNT; id++) {
        fm_model_desc d;
        CHECK_STATUS(fm_model_describe((fm_model_id)id, &d), FM_OK);
        CHECK(d.name && d.file && d.sha256 && strlen(d.sha256) == 64);
        CHECK(d.package && strchr(d.package, '@'));
    }
    fm_model_desc d;
    CHECK_STATUS(fm_model_describe(FM_MODEL_COUNT, &d), FM_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(fm_model_describe((fm_model_id)-1, &d), FM_ERR_INVALID_ARGUMENT);
    fm_ctx *ctx = fm_ctx_create();
    /* a buffer that is not the model must fail with a message naming the model and both hashes */
    CHECK_STATUS(fm_model_verify_memory(ctx, FM_MODEL_DLIB_SP5, "not a model", 11), FM_ERR_MODEL_HASH);
    CHECK(strstr(fm_ctx_errmsg(ctx), "dlib_sp5") != NULL);
    fm_model_describe(FM_MODEL_DLIB_SP5, &d);
    CHECK(strstr(fm_ctx_errmsg(ctx), d.sha256) != NULL);
    CHECK_STATUS(fm_model_verify_file(ctx, FM_MODEL_DLIB_SP5, "/nonexistent/model.dat"), FM_ERR_IO);
    fm_ctx_destroy(ctx);
}

static void test_models_dir_env(void)
{
    char buf[256];
    setenv("FACEMATCH_MODELS", "/opt/fm-models", 1);
    CHECK_STATUS(fm_models_default_dir(buf, sizeof buf), FM_OK);
    CHECK(strcmp(buf, "/opt/fm-models") == 0);
    CHECK_STATUS(fm_models_default_dir(buf, 4), FM_ERR_BUFFER_TOO_SMALL);
    unsetenv("FACEMATCH_MODELS");
    setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
    CHECK_STATUS(fm_models_default_dir(buf, sizeof buf), FM_OK);
    CHECK(strcmp(buf, "/tmp/xdg/facematch/models") == 0);
}

static void test_read_file_limit(void)
{
    char path[] = "/tmp/fm_test_readXXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    char block[1000];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 100; i++)
        CHECK(write(fd, block, sizeof block) == (ssize_t)sizeof block);
    close(fd);
    fm_ctx *ctx = fm_ctx_create();
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_STATUS(fm_read_file(ctx, path, 100000, &data, &len), FM_OK);
    CHECK(len == 100000 && data && data[99999] == 'x');
    free(data);
    CHECK_STATUS(fm_read_file(ctx, path, 99999, &data, &len), FM_ERR_LIMIT);
    CHECK(data == NULL && len == 0);
    CHECK_STATUS(fm_read_file(ctx, "/nonexistent/file", 10, &data, &len), FM_ERR_IO);
    unlink(path);
    fm_ctx_destroy(ctx);
}

static void test_wipe(void)
{
    char pin[8] = "1234";
    fm_wipe(pin, sizeof pin);
    for (size_t i = 0; i < sizeof pin; i++)
        CHECK(pin[i] == 0);
}

int main(void)
{
    RUN(test_ctx_settings);
    RUN(test_status_names);
    RUN(test_sha256);
    RUN(test_model_table);
    RUN(test_models_dir_env);
    RUN(test_read_file_limit);
    RUN(test_wipe);
    return test_finish();
}
