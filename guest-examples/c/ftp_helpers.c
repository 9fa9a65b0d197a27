// See ftp_helpers.h.
#include "ftp_helpers.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

plugin_string_t ftp_str(const char *s) {
    plugin_string_t out;
    plugin_string_set(&out, s);
    return out;
}

char *ftp_cstr(const plugin_string_t *s) {
    char *out = strndup((const char *)s->ptr, s->len);
    if (!out) abort();
    return out;
}

static void vappend(plugin_string_t *s, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    s->ptr = realloc(s->ptr, s->len + n + 1);
    if (!s->ptr) abort();
    vsnprintf((char *)s->ptr + s->len, n + 1, fmt, again);
    va_end(again);
    s->len += n;
}

void ftp_append(plugin_string_t *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vappend(s, fmt, ap);
    va_end(ap);
}

const char *ftp_error_kind(const ftp_error_t *e) {
    static const char *const kinds[] = {
        [NAAS_FTP_TYPES_ERROR_DENIED] = "denied",
        [NAAS_FTP_TYPES_ERROR_CONNECT] = "connect",
        [NAAS_FTP_TYPES_ERROR_TLS] = "tls",
        [NAAS_FTP_TYPES_ERROR_AUTH] = "auth",
        [NAAS_FTP_TYPES_ERROR_NOT_FOUND] = "not-found",
        [NAAS_FTP_TYPES_ERROR_PERMISSION] = "permission",
        [NAAS_FTP_TYPES_ERROR_TIMEOUT] = "timeout",
        [NAAS_FTP_TYPES_ERROR_PROTOCOL] = "protocol",
        [NAAS_FTP_TYPES_ERROR_INVALID_INPUT] = "invalid-input",
        [NAAS_FTP_TYPES_ERROR_TOO_LARGE] = "too-large",
        [NAAS_FTP_TYPES_ERROR_IO] = "io",
#ifdef NAAS_FTP_TYPES_ERROR_UNSUPPORTED // naas:ftp 0.2.0
        [NAAS_FTP_TYPES_ERROR_UNSUPPORTED] = "unsupported",
#endif
    };
    size_t n = sizeof kinds / sizeof *kinds;
    return e->tag < n && kinds[e->tag] ? kinds[e->tag] : "error";
}

plugin_string_t ftp_error_describe(ftp_error_t *e) {
    plugin_string_t out = {0};
    if (e->tag == NAAS_FTP_TYPES_ERROR_PROTOCOL) {
        naas_ftp_types_protocol_error_t *p = &e->val.protocol;
        ftp_append(&out, "protocol: %u %.*s", p->code, (int)p->message.len, (char *)p->message.ptr);
    } else {
        // Every other case carries a string, at the same place in the union.
        plugin_string_t *m = &e->val.denied;
        ftp_append(&out, "%s: %.*s", ftp_error_kind(e), (int)m->len, (char *)m->ptr);
    }
    naas_ftp_client_error_free(e);
    return out;
}

void ftp_error_set(ftp_error_t *e, uint8_t tag, const char *fmt, ...) {
    plugin_string_t message = {0};
    va_list ap;
    va_start(ap, fmt);
    vappend(&message, fmt, ap);
    va_end(ap);
    e->tag = tag;
    e->val.denied = message; // every string case shares this place
}

// The index of the granted directory holding `path`, and the path inside it
// (malloc'd); -1 if none does.
static int locate(const wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t *dirs, const char *path,
                  char **inside) {
    if (dirs->len == 0) return -1;
    if (path[0] != '/') { // relative: in the first granted directory
        *inside = strdup(path);
        return 0;
    }
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < dirs->len; i++) {
        const plugin_string_t *name = &dirs->ptr[i].f1;
        size_t len = name->len;
        while (len > 1 && name->ptr[len - 1] == '/') len--;
        if (strncmp(path, (const char *)name->ptr, len) == 0 && path[len] == '/' && (best < 0 || len > best_len)) {
            best = (int)i;
            best_len = len;
        }
    }
    if (best >= 0) *inside = strdup(path + best_len + 1);
    return best;
}

bool ftp_download(ftp_session_t ftp, const char *remote, const char *local, uint64_t *bytes, ftp_error_t *e) {
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_t dirs;
    wasi_filesystem_preopens_get_directories(&dirs);
    char *inside = NULL, *part = NULL;
    bool ok = false;
    int index = locate(&dirs, local, &inside);
    if (index < 0 || !*inside || strstr(inside, "..")) {
        ftp_error_set(e, NAAS_FTP_TYPES_ERROR_IO, "%s is not a file in a directory the operator granted", local);
        goto out;
    }
    wasi_filesystem_types_borrow_descriptor_t dir = wasi_filesystem_types_borrow_descriptor(dirs.ptr[index].f0);
    const char *slash = strrchr(inside, '/');
    size_t dir_len = slash ? (size_t)(slash - inside + 1) : 0;
    plugin_string_t part_name = {0};
    ftp_append(&part_name, "%.*s.%s.naas-ftp-part", (int)dir_len, inside, inside + dir_len);
    part = (char *)part_name.ptr;

    // Ask the server first: a missing file leaves nothing behind.
    plugin_string_t path = ftp_str(remote);
    naas_ftp_client_own_download_t download;
    if (!naas_ftp_client_method_session_open_get(ftp, &path, 0, &download, e)) goto out;
    plugin_string_t part_path = ftp_str(part);
    wasi_filesystem_types_own_descriptor_t file;
    wasi_filesystem_types_error_code_t code;
    if (!wasi_filesystem_types_method_descriptor_open_at(
            dir, 0, &part_path, WASI_FILESYSTEM_TYPES_OPEN_FLAGS_CREATE | WASI_FILESYSTEM_TYPES_OPEN_FLAGS_TRUNCATE,
            WASI_FILESYSTEM_TYPES_DESCRIPTOR_FLAGS_WRITE, &file, &code)) {
        naas_ftp_client_download_drop_own(download); // aborts the transfer
        ftp_error_set(e, NAAS_FTP_TYPES_ERROR_IO, "cannot write %s: wasi:filesystem error-code %u", local, code);
        goto out;
    }
    // The host moves the whole file into the part file (over plain FTP the
    // kernel does); its typed error, if any, is the one reported.
    uint64_t saved;
    bool moved = naas_ftp_client_method_download_save_to(naas_ftp_client_borrow_download(download),
                                                         wasi_filesystem_types_borrow_descriptor(file), 0, &saved, e);
    wasi_filesystem_types_descriptor_drop_own(file);
    if (!moved) {
        naas_ftp_client_download_drop_own(download); // aborts the transfer
    } else if (naas_ftp_client_static_download_finish(download, bytes, e)) {
        // Only the server's final reply says the whole file arrived.
        plugin_string_t final_path = ftp_str(inside);
        ok = wasi_filesystem_types_method_descriptor_rename_at(dir, &part_path, dir, &final_path, &code);
        if (!ok)
            ftp_error_set(e, NAAS_FTP_TYPES_ERROR_IO, "cannot rename into %s: wasi:filesystem error-code %u", local,
                          code);
    }
    if (!ok) wasi_filesystem_types_method_descriptor_unlink_file_at(dir, &part_path, &code);

out:
    free(inside);
    free(part);
    wasi_filesystem_preopens_list_tuple2_own_descriptor_string_free(&dirs);
    return ok;
}
