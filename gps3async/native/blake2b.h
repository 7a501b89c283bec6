/* BLAKE2b (RFC 7693), unkeyed, for the native client's agent identity.
 *
 * The Python side names an agent by hashlib's blake2b(digest_size=20) of the
 * call's identity material (gps3async/agent/place.py); the native client must
 * find the same socket, so it computes the same digest.  libc has no BLAKE2,
 * and the client links nothing but libc.
 */
#ifndef GPS3_BLAKE2B_H
#define GPS3_BLAKE2B_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t h[8];
    uint64_t t[2];     /* bytes hashed so far, 128-bit little-endian */
    uint8_t block[128];
    size_t filled;     /* bytes waiting in block */
    size_t digest_length;
} blake2b_state;

void blake2b_init(blake2b_state *state, size_t digest_length);
void blake2b_update(blake2b_state *state, const void *data, size_t length);
void blake2b_final(blake2b_state *state, uint8_t *digest);

#endif
