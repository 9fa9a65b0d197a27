// Small helpers over the wit-bindgen C bindings (build/gen/plugin.h) for
// plugin authors: strings, errors, and streaming a download into a granted
// directory. The generated bindings stay as they are; these only wrap them.
//
// Strings in the bindings are (ptr, len), not NUL-terminated; what an import
// returns is the caller's to free. Every function here says who frees what.
#ifndef FTP_HELPERS_H
#define FTP_HELPERS_H

#include "plugin.h"

#include <stdbool.h>
#include <stdint.h>

typedef naas_ftp_client_borrow_session_t ftp_session_t;
typedef naas_ftp_client_error_t ftp_error_t;

// --- strings -----------------------------------------------------------------

// A borrowed view of a C string, to pass to the bindings (no copy, no free).
plugin_string_t ftp_str(const char *s);
// A NUL-terminated malloc'd copy of a bindings string (free it).
char *ftp_cstr(const plugin_string_t *s);
// Appends printf-formatted text to a malloc'd string (start from {0}).
void ftp_append(plugin_string_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// --- errors ------------------------------------------------------------------

// The WIT error case of e, kebab-case (`not-found`, `auth`, ...).
const char *ftp_error_kind(const ftp_error_t *e);
// Whether e is the case `tag` (NAAS_FTP_TYPES_ERROR_NOT_FOUND, ...).
static inline bool ftp_error_is(const ftp_error_t *e, uint8_t tag) { return e->tag == tag; }
// `KIND: message` (for a protocol error `protocol: CODE MESSAGE`), malloc'd.
// Frees e.
plugin_string_t ftp_error_describe(ftp_error_t *e);
// Fills e with an error of our own (a malloc'd message), in the host's shape.
void ftp_error_set(ftp_error_t *e, uint8_t tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

// --- streaming ---------------------------------------------------------------

// Streams the remote file into `local`, a path in a directory the operator
// granted (absolute, or relative to the first one). The host moves the whole
// file from the network into it (`download.save-to`), never through this
// plugin's memory, so any size fits. Written to `.NAME.naas-ftp-part` next to
// it and renamed into place once the server confirmed the transfer: a failure
// leaves no partial file. On success sets *bytes; on failure fills *e (free it,
// e.g. with ftp_error_describe); a local problem is an `io` error.
bool ftp_download(ftp_session_t ftp, const char *remote, const char *local, uint64_t *bytes, ftp_error_t *e);

#endif
