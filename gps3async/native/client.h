/* What the native client's two files share: client.c (the call: the request, the hand-over,
 * signals, the fallback to the Python client) and place.c (which agent: the config, the identity,
 * the socket directory).
 */
#ifndef GPS3_CLIENT_H
#define GPS3_CLIENT_H

#include <limits.h>
#include <stddef.h>

#define PROGRAM "gpbackup_s3_plugin"
/* wire.MAX_REQUEST: the agent refuses a bigger request. */
#define MAX_REQUEST (1 << 20)
/* place._MAX_SOCKET_PATH: sun_path's 108 bytes, the NUL included. */
#define MAX_SOCKET_PATH 107
#define IDENTITY_BYTES 20

typedef struct {
    char *data;
    size_t length, capacity;
} buffer;

typedef struct {
    char path[PATH_MAX];
    const char *flags; /* what the Python launcher would start it with */
} interpreter;

/* The directory of this program, symlinks resolved (/proc/self/exe). */
extern char own_directory[PATH_MAX];

void put(buffer *b, const void *data, size_t length);
void put_text(buffer *b, const char *text);
/* Exec the Python client with this call's argv (or, under GPS3ASYNC_CLIENT=native, fail with the reason). */
void fall_back(const char *why, ...) __attribute__((noreturn, format(printf, 1, 2)));

void find_own_directory(void);
int find_interpreter(interpreter *found);
buffer read_config(const char *path);
void agent_setting(const buffer *config, char *value, size_t size);
void identity(const buffer *config, char *hex);
void socket_directory(char *directory, size_t size);

#endif
