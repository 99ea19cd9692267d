/* facematch info: version and models (present, verified). */
#include "cli.h"

#include <string.h>

int cmd_info(int argc, char **argv)
{
    char dirbuf[4096];
    const char *dir = cli_models_dir(&argc, argv, dirbuf, sizeof dirbuf);
    int json = 0, verify = 1;
    for (int i = 1; i < argc; i++) {
        if (cli_is_help(argv[i])) {
            printf("usage: facematch info [--json] [--models DIR] [--no-verify]\n"
                   "Prints the library version and, for every model in the manifest, its file in the models\n"
                   "directory, its SHA-256 and whether the file is present with the pinned hash (\"ok\").\n"
                   "--no-verify skips hashing (ok then only means present). Exit 0 if every model is ok, 4 if not.\n");
            return FM_EXIT_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--no-verify") == 0) {
            verify = 0;
        } else {
            return cli_error("info", FM_ERR_INVALID_ARGUMENT, "unknown option '%s' (see --help)", argv[i]);
        }
    }
    fm_ctx *ctx = fm_ctx_create();
    if (!ctx)
        return cli_error("info", FM_ERR_NO_MEMORY, "out of memory");
    cli_json j;
    if (json) {
        json_begin(&j, stdout);
        json_obj_open(&j, NULL);
        json_str(&j, "version", fm_version());
        json_str(&j, "models_dir", dir);
        json_arr_open(&j, "models");
    } else {
        printf("facematch %s\nmodels directory: %s\n", fm_version(), dir);
    }
    int all_ok = 1;
    for (int id = 0; id < FM_MODEL_COUNT; id++) {
        fm_model_desc d;
        if (fm_model_describe((fm_model_id)id, &d) != FM_OK)
            continue;
        char path[4352];
        snprintf(path, sizeof path, "%s/%s", dir, d.file);
        int ok;
        const char *problem = NULL;
        if (verify) {
            fm_status st = fm_model_verify_file(ctx, (fm_model_id)id, path);
            ok = st == FM_OK;
            if (!ok)
                problem = fm_ctx_errmsg(ctx);
        } else {
            FILE *f = fopen(path, "rb");
            ok = f != NULL;
            if (f)
                fclose(f);
            else
                problem = "missing";
        }
        all_ok &= ok;
        if (json) {
            json_obj_open(&j, NULL);
            json_str(&j, "name", d.name);
            json_str(&j, "path", path);
            json_str(&j, "sha256", d.sha256);
            json_str(&j, "package", d.package);
            json_str(&j, "licence", d.licence);
            json_bool(&j, "ok", ok);
            if (!ok)
                json_str(&j, "error", problem);
            json_obj_close(&j);
        } else {
            printf("  %-16s %-4s %s%s%s\n", d.name, ok ? "ok" : "BAD", path, ok ? "" : "  -- ", ok ? "" : problem);
        }
    }
    if (json) {
        json_arr_close(&j);
        json_obj_close(&j);
        json_end(&j);
    }
    fm_ctx_destroy(ctx);
    return all_ok ? FM_EXIT_OK : FM_EXIT_MODEL;
}
