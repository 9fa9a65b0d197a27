// Example ftp-host plugin in C: wit-bindgen C bindings (build/gen/plugin.h),
// wasi-libc, and the WASI preview 1 adapter to make a component.
//
// Usage (everything after `--` on the `ftp-host run` command line):
//
//   --host H [--port P] [--user U] [--password W] [--security none|explicit|implicit]
//   [--force-prot] [--timeout-ms N] COMMAND [ARGS...]
//
//   ls [DIR]          print the names in DIR
//   ls -l [DIR]       print DIR's entries, sorted by name: KIND SIZE MODIFIED NAME
//                     (naas:ftp 0.2.0; the format of guest-examples/README.md)
//   mkdir [-p] DIR    create DIR (with -p its parents too, and no error if it exists)
//   mv FROM TO        rename or move FROM to TO
//   rm PATH           delete the file PATH
//   rmdir DIR         remove the empty directory DIR
//   sha256 PATH...    download each file and print its SHA-256 and size
//   cat PATH          download a file and print it
//   put PATH TEXT     upload TEXT to PATH
//   download REMOTE LOCAL
//                     stream REMOTE into LOCAL (in a directory the operator
//                     granted with --dir), atomically
//   checksums [DIR]   print the SHA-256 and size of every file in DIR, sorted
//
// A failed call is reported as `KIND: message`, KIND being the WIT error case
// (`not-found`, `auth`, ...), so an operator or a test can tell them apart.
//
// Memory rules of the bindings: strings and lists are (pointer, length), not
// NUL-terminated. What an import returns is ours to free (`*_free`); `run`
// owns its `args`; the strings `run` returns must come from malloc (the
// bindings free them after the host has copied them). ftp_helpers.h wraps the
// common chores: C strings, `KIND: message` errors, streamed downloads.

#include "ftp_helpers.h"
#include "plugin.h"
#include "sha256.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef ftp_session_t session_t;

static const char USAGE[] = "usage: --host HOST [--port P] [--user U] [--password W] "
                            "[--security none|explicit|implicit] [--force-prot] [--timeout-ms N] "
                            "ls|sha256|cat|put|download|mkdir|mv|rm|rmdir|checksums ...";

// The session calls used below, taking C strings. Each returns true on
// success; on failure it fills *e, which the caller must free (describe).
static bool ftp_list(session_t ftp, const char *dir, plugin_list_string_t *names, ftp_error_t *e) {
    plugin_string_t path = ftp_str(dir ? dir : "");
    // option<string> is a pointer: NULL means none.
    return naas_ftp_client_method_session_list_directory(ftp, dir ? &path : NULL, names, e);
}

static bool ftp_get(session_t ftp, const char *path, plugin_list_u8_t *data, ftp_error_t *e) {
    plugin_string_t p = ftp_str(path);
    return naas_ftp_client_method_session_get(ftp, &p, data, e);
}

static bool ftp_send(session_t ftp, const char *path, const char *text, uint64_t *sent,
                     ftp_error_t *e) {
    plugin_string_t p = ftp_str(path);
    plugin_list_u8_t data = {(uint8_t *)text, strlen(text)};
    return naas_ftp_client_method_session_send(ftp, &p, &data, sent, e);
}

static bool ftp_cwd(session_t ftp, const char *path, ftp_error_t *e) {
    plugin_string_t p = ftp_str(path);
    return naas_ftp_client_method_session_cwd(ftp, &p, e);
}

static void print_sha256(const plugin_list_u8_t *data, const char *path) {
    uint8_t digest[32];
    sha256(data->ptr, data->len, digest);
    for (int i = 0; i < 32; i++) printf("%02x", digest[i]);
    printf("  %zu  %s\n", data->len, path);
}

static int compare_names(const void *a, const void *b) {
    const plugin_string_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->ptr, y->ptr, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

// What C is good at: a tight loop over bytes. Lists DIR (or the current
// directory), then downloads and hashes every file, in name order.
static bool checksums(session_t ftp, const char *dir, plugin_string_t *summary, ftp_error_t *e) {
    plugin_list_string_t names;
    if ((dir && !ftp_cwd(ftp, dir, e)) || !ftp_list(ftp, NULL, &names, e)) return false;
    qsort(names.ptr, names.len, sizeof *names.ptr, compare_names);

    bool ok = true;
    size_t files = 0;
    for (size_t i = 0; i < names.len && ok; i++) {
        char *name = strndup((char *)names.ptr[i].ptr, names.ptr[i].len);
        plugin_list_u8_t data;
        if (ftp_get(ftp, name, &data, e)) {
            print_sha256(&data, name);
            plugin_list_u8_free(&data);
            files++;
        } else if (ftp_error_is(e, NAAS_FTP_TYPES_ERROR_NOT_FOUND) ||
                   ftp_error_is(e, NAAS_FTP_TYPES_ERROR_PERMISSION)) {
            // A directory in the listing: not a file to download.
            printf("skipped %s (not a file)\n", name);
            naas_ftp_client_error_free(e);
        } else {
            ok = false;
        }
        free(name);
    }
    plugin_list_string_free(&names);
    if (ok) ftp_append(summary, "%zu files checksummed", files);
    return ok;
}

#ifdef NAAS_FTP_TYPES_ERROR_UNSUPPORTED // built against naas:ftp 0.2.0 or later
// The `ls -l` line every example prints (guest-examples/README.md):
// `KIND SIZE MODIFIED NAME`, single spaces, `-` for what the server did not
// say, and ` -> TARGET` when the entry has a target. Times in UTC to the second.
static void print_entry(const naas_ftp_types_entry_t *entry) {
    static const char *const kinds[] = {
        [NAAS_FTP_TYPES_ENTRY_KIND_FILE] = "file",
        [NAAS_FTP_TYPES_ENTRY_KIND_DIRECTORY] = "directory",
        [NAAS_FTP_TYPES_ENTRY_KIND_SYMLINK] = "symlink",
        [NAAS_FTP_TYPES_ENTRY_KIND_OTHER] = "other",
    };
    printf("%s ", entry->kind <= NAAS_FTP_TYPES_ENTRY_KIND_OTHER ? kinds[entry->kind] : "other");
    if (entry->size.is_some)
        printf("%llu ", (unsigned long long)entry->size.val);
    else
        printf("- ");
    if (entry->modified.is_some) {
        time_t seconds = (time_t)entry->modified.val.seconds;
        struct tm tm;
        char when[32];
        gmtime_r(&seconds, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%s ", when);
    } else {
        printf("- ");
    }
    printf("%.*s", (int)entry->name.len, (char *)entry->name.ptr);
    if (entry->target.is_some) printf(" -> %.*s", (int)entry->target.val.len, (char *)entry->target.val.ptr);
    printf("\n");
}

// By name, byte by byte (UTF-8: the code point order).
static int compare_entries(const void *a, const void *b) {
    const naas_ftp_types_entry_t *x = a, *y = b;
    return compare_names(&x->name, &y->name);
}

// The commands of naas:ftp 0.2.0 (structured listings, file management).
// Returns -1 if `cmd` is none of them, else 1 on success (with *summary) or
// 0 on failure (with *e).
static int run_v2_command(session_t ftp, int argc, char **argv, plugin_string_t *summary, ftp_error_t *e) {
    const char *cmd = argv[0], *arg = argc > 1 ? argv[1] : NULL, *arg2 = argc > 2 ? argv[2] : NULL;
    if (!strcmp(cmd, "ls") && arg && !strcmp(arg, "-l")) {
        plugin_string_t dir = ftp_str(arg2 ? arg2 : "");
        naas_ftp_client_list_entry_t entries;
        if (!naas_ftp_client_method_session_list(ftp, arg2 ? &dir : NULL, &entries, e)) return 0;
        qsort(entries.ptr, entries.len, sizeof *entries.ptr, compare_entries);
        for (size_t i = 0; i < entries.len; i++) print_entry(&entries.ptr[i]);
        ftp_append(summary, "%zu entries", entries.len);
        naas_ftp_client_list_entry_free(&entries);
        return 1;
    }
    if (!strcmp(cmd, "mkdir") && arg) {
        bool parents = !strcmp(arg, "-p");
        const char *dir = parents ? arg2 : arg;
        if (!dir) return -1;
        plugin_string_t path = ftp_str(dir);
        if (!naas_ftp_client_method_session_mkdir(ftp, &path, parents, e)) return 0;
        ftp_append(summary, "created directory %s", dir);
        return 1;
    }
    if (!strcmp(cmd, "mv") && arg && arg2) {
        plugin_string_t from = ftp_str(arg), to = ftp_str(arg2);
        if (!naas_ftp_client_method_session_rename(ftp, &from, &to, e)) return 0;
        ftp_append(summary, "renamed %s to %s", arg, arg2);
        return 1;
    }
    if (!strcmp(cmd, "rm") && arg) {
        plugin_string_t path = ftp_str(arg);
        if (!naas_ftp_client_method_session_delete(ftp, &path, e)) return 0;
        ftp_append(summary, "deleted %s", arg);
        return 1;
    }
    if (!strcmp(cmd, "rmdir") && arg) {
        plugin_string_t path = ftp_str(arg);
        if (!naas_ftp_client_method_session_rmdir(ftp, &path, e)) return 0;
        ftp_append(summary, "removed directory %s", arg);
        return 1;
    }
    return -1;
}
#else
static int run_v2_command(session_t ftp, int argc, char **argv, plugin_string_t *summary, ftp_error_t *e) {
    return -1; // these bindings are older than naas:ftp 0.2.0
}
#endif

// Runs one command. On success sets *summary; on a failure fills *e.
static bool run_command(session_t ftp, int argc, char **argv, plugin_string_t *summary,
                        ftp_error_t *e) {
    const char *cmd = argv[0], *arg = argc > 1 ? argv[1] : NULL;
    int v2 = run_v2_command(ftp, argc, argv, summary, e);
    if (v2 >= 0) return v2 == 1;
    if (!strcmp(cmd, "ls")) {
        plugin_list_string_t names;
        if (!ftp_list(ftp, arg, &names, e)) return false;
        for (size_t i = 0; i < names.len; i++)
            printf("%.*s\n", (int)names.ptr[i].len, (char *)names.ptr[i].ptr);
        ftp_append(summary, "%zu entries", names.len);
        plugin_list_string_free(&names);
        return true;
    }
    if (!strcmp(cmd, "sha256") && arg) {
        for (int i = 1; i < argc; i++) {
            plugin_list_u8_t data;
            if (!ftp_get(ftp, argv[i], &data, e)) return false;
            print_sha256(&data, argv[i]);
            plugin_list_u8_free(&data);
        }
        ftp_append(summary, "%d files checked", argc - 1);
        return true;
    }
    if (!strcmp(cmd, "cat") && arg) {
        plugin_list_u8_t data;
        if (!ftp_get(ftp, arg, &data, e)) return false;
        fwrite(data.ptr, 1, data.len, stdout); // the bytes as they are
        ftp_append(summary, "%zu bytes", data.len);
        plugin_list_u8_free(&data);
        return true;
    }
    if (!strcmp(cmd, "put") && arg) {
        uint64_t sent;
        if (!ftp_send(ftp, arg, argc > 2 ? argv[2] : "", &sent, e)) return false;
        ftp_append(summary, "uploaded %llu bytes to %s", (unsigned long long)sent, arg);
        return true;
    }
    if (!strcmp(cmd, "download") && arg && argc > 2) {
        uint64_t bytes;
        if (!ftp_download(ftp, arg, argv[2], &bytes, e)) return false;
        ftp_append(summary, "downloaded %s to %s (%llu bytes, %llu this time)", arg, argv[2], (unsigned long long)bytes,
               (unsigned long long)bytes);
        return true;
    }
    if (!strcmp(cmd, "checksums")) return checksums(ftp, arg, summary, e);

    // An error of our own, in the same shape as the host's.
    plugin_string_t message = {0};
    ftp_append(&message, "unknown command [");
    for (int i = 0; i < argc; i++) ftp_append(&message, "%s\"%s\"", i ? ", " : "", argv[i]);
    ftp_error_set(e, NAAS_FTP_TYPES_ERROR_INVALID_INPUT, "%.*s]: expected ls, sha256, cat, put, download, mkdir, mv, rm, rmdir or checksums",
                  (int)message.len, (char *)message.ptr);
    plugin_string_free(&message);
    return false;
}

// Parses a number up to max into *out; false if it is not one.
static bool parse_number(const char *text, unsigned long max, unsigned long *out) {
    char *end;
    errno = 0;
    *out = strtoul(text, &end, 10);
    return *text >= '0' && *text <= '9' && !*end && !errno && *out <= max;
}

// Fills *o from the options; returns the index of the command in argv, or
// -1 with a message in *err. The strings in *o point into argv.
static int parse_args(int argc, char **argv, naas_ftp_client_connect_options_t *o,
                      plugin_string_t *err) {
    *o = (naas_ftp_client_connect_options_t){
        .host = ftp_str(""),
        .user = ftp_str("anonymous"),
        .password = ftp_str(""),
        .security = NAAS_FTP_TYPES_SECURITY_NONE,
    };
    static const char *const with_value[] = {"--host",     "--port",     "--user",
                                             "--password", "--security", "--timeout-ms"};
    int i = 0;
    for (; i < argc; i++) {
        const char *flag = argv[i];
        if (!strcmp(flag, "--force-prot")) {
            o->force_prot = true;
            continue;
        }
        size_t k = 0, options = sizeof with_value / sizeof *with_value;
        while (k < options && strcmp(flag, with_value[k])) k++;
        if (k == options) break; // not an option: the command starts here
        if (++i == argc) {
            ftp_append(err, "%s needs a value", flag);
            return -1;
        }
        const char *value = argv[i];
        unsigned long n;
        bool ok = true;
        if (!strcmp(flag, "--host")) {
            o->host = ftp_str(value);
        } else if (!strcmp(flag, "--user")) {
            o->user = ftp_str(value);
        } else if (!strcmp(flag, "--password")) {
            o->password = ftp_str(value);
        } else if (!strcmp(flag, "--port")) {
            ok = parse_number(value, UINT16_MAX, &n);
            o->port = (plugin_option_u16_t){true, (uint16_t)n};
        } else if (!strcmp(flag, "--timeout-ms")) {
            ok = parse_number(value, UINT32_MAX, &n);
            o->timeout_ms = (plugin_option_u32_t){true, (uint32_t)n};
        } else if (!strcmp(value, "none")) { // --security
            o->security = NAAS_FTP_TYPES_SECURITY_NONE;
        } else if (!strcmp(value, "explicit")) {
            o->security = NAAS_FTP_TYPES_SECURITY_EXPLICIT;
        } else if (!strcmp(value, "implicit")) {
            o->security = NAAS_FTP_TYPES_SECURITY_IMPLICIT;
        } else {
            ftp_append(err, "bad --security \"%s\": none, explicit or implicit", value);
            return -1;
        }
        if (!ok) {
            ftp_append(err, "bad %s \"%s\"", flag, value);
            return -1;
        }
    }
    if (o->host.len == 0 || i == argc) {
        ftp_append(err, "%s", USAGE);
        return -1;
    }
    return i;
}

// The export: `run: func(args: list<string>) -> result<string, string>`.
// Return true with *ret for `ok`, false with *err for `err`.
bool exports_plugin_run(plugin_list_string_t *args, plugin_string_t *ret, plugin_string_t *err) {
    // NUL-terminated copies of the arguments, for plain C string handling.
    int argc = (int)args->len;
    char **argv = calloc(argc + 1, sizeof *argv);
    for (int i = 0; i < argc; i++) argv[i] = strndup((char *)args->ptr[i].ptr, args->ptr[i].len);
    plugin_list_string_free(args);

    *ret = *err = (plugin_string_t){0};
    naas_ftp_client_connect_options_t options;
    naas_ftp_client_own_session_t session;
    ftp_error_t e;
    int cmd = parse_args(argc, argv, &options, err);
    if (cmd >= 0) {
        if (!naas_ftp_client_connect(&options, &session, &e)) {
            *err = ftp_error_describe(&e);
        } else {
            // Methods take a borrow of the session we own.
            session_t ftp = naas_ftp_client_borrow_session(session);
            if (!run_command(ftp, argc - cmd, argv + cmd, ret, &e) ||
                !naas_ftp_client_method_session_quit(ftp, &e)) {
                plugin_string_free(ret);
                *err = ftp_error_describe(&e);
            }
            naas_ftp_client_session_drop_own(session); // closes the connection
        }
    }

    for (int i = 0; i < argc; i++) free(argv[i]);
    free(argv);
    fflush(stdout); // a component never exits: flush by hand
    return err->len == 0;
}
