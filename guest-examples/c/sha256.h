// SHA-256 (FIPS 180-4) in a few lines: libc has none. Public domain.
#ifndef SHA256_H
#define SHA256_H

#include <stddef.h>
#include <stdint.h>

// Writes the 32-byte digest of data[0..len) to out.
void sha256(const uint8_t *data, size_t len, uint8_t out[32]);

#endif
