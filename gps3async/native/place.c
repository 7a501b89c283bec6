/* Which agent a call belongs to, computed as gps3async/agent/place.py computes it, byte for byte:
 * the config read as place.agent_setting and place.identity read it, the identity's BLAKE2b over
 * the same material (the interpreter's path is part of it: the one the Python launcher would run),
 * and the socket directory checked the same way.  Whatever this file cannot read exactly as
 * Python would, it hands to the Python client (fall_back, client.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "blake2b.h"
#include "client.h"
#include "native_config.h"

/* --- the Python client's interpreter: its path is sys.executable, part of the identity ---------- */

char own_directory[PATH_MAX];

void find_own_directory(void) {
    ssize_t n = readlink("/proc/self/exe", own_directory, sizeof own_directory - 1);
    if (n <= 0) {
        own_directory[0] = '\0';
        return;
    }
    own_directory[n] = '\0';
    char *slash = strrchr(own_directory, '/');
    if (slash != NULL) *slash = '\0';
}

static int executable_file(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISREG(info.st_mode) && access(path, X_OK) == 0;
}

/* The interpreter the Python launcher (scripts/gpbackup_s3_plugin_python) would run: its path is sys.executable,
 * part of the agent's identity, so this client names the same agent and starts exactly this one. */
int find_interpreter(interpreter *found) {
    if (GPS3_INTERPRETER[0] != '\0') { /* a bundle: its own interpreter at a fixed prefix */
        snprintf(found->path, sizeof found->path, "%s", GPS3_INTERPRETER);
        found->flags = "-IS";
        return 1;
    }
    if (own_directory[0] != '\0') { /* a virtual environment: the interpreter beside this file */
        int n = snprintf(found->path, sizeof found->path, "%s/python3", own_directory);
        if (n > 0 && (size_t)n < sizeof found->path && executable_file(found->path)) {
            found->flags = "-IS";
            return 1;
        }
    }
    const char *path = getenv("PATH"); /* else python3 from PATH, as the launcher's exec finds it */
    if (path == NULL) path = "/bin:/usr/bin";
    while (*path) {
        const char *end = strchr(path, ':');
        size_t length = end ? (size_t)(end - path) : strlen(path);
        int n = snprintf(found->path, sizeof found->path, "%.*s/python3", (int)length, path);
        if (length > 0 && n > 0 && (size_t)n < sizeof found->path && executable_file(found->path)) {
            found->flags = "-I";
            return 1;
        }
        path += length + (end ? 1 : 0);
    }
    return 0;
}

/* --- the call's config, read as place.agent_setting and place.identity read it --------------- */

buffer read_config(const char *path) {
    buffer text = {0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fall_back("cannot read %s", path); /* the Python client reports it properly */
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fall_back("cannot read %s", path);
        if (n == 0) break;
        put(&text, chunk, (size_t)n);
        if (text.length > MAX_REQUEST) fall_back("%s is too large", path);
    }
    close(fd);
    put(&text, "", 0);
    /* ASCII text only (tabs and line ends aside): then Python's splitlines() and strip() split and trim
     * exactly where this does.  Anything else goes to the Python client. */
    for (size_t i = 0; i < text.length; i++) {
        unsigned char c = (unsigned char)text.data[i];
        if (c >= 0x7F || (c < 0x20 && c != '\t' && c != '\n' && c != '\r')) fall_back("the config is not plain ASCII");
    }
    return text;
}

typedef struct {
    const char *start;
    size_t length;
} span;

/* The next line as str.splitlines() gives it (\n, \r\n or \r end a line); returns 0 at the end. */
static int next_line(const char **cursor, const char *end, span *line) {
    const char *p = *cursor;
    if (p >= end) return 0;
    const char *q = p;
    while (q < end && *q != '\n' && *q != '\r') q++;
    line->start = p;
    line->length = (size_t)(q - p);
    if (q < end && *q == '\r' && q + 1 < end && q[1] == '\n') q++;
    *cursor = q < end ? q + 1 : q;
    return 1;
}

static span strip(span s) {
    while (s.length && strchr(" \t\r\n", s.start[0]) != NULL) s.start++, s.length--;
    while (s.length && strchr(" \t\r\n", s.start[s.length - 1]) != NULL) s.length--;
    return s;
}

static int starts_with(span s, const char *prefix) {
    size_t n = strlen(prefix);
    return s.length >= n && memcmp(s.start, prefix, n) == 0;
}

/* place.agent_setting: the first "agent:" line's value, comment and quotes removed, lower case. */
void agent_setting(const buffer *config, char *value, size_t size) {
    const char *cursor = config->data, *end = config->data + config->length;
    span line;
    value[0] = '\0';
    while (next_line(&cursor, end, &line)) {
        span s = strip(line);
        if (!starts_with(s, "agent:")) continue;
        s.start += 6, s.length -= 6;
        for (size_t i = 0; i + 1 < s.length; i++) {
            if (s.start[i] == ' ' && s.start[i + 1] == '#') {
                s.length = i;
                break;
            }
        }
        s = strip(s);
        while (s.length && (s.start[0] == '"' || s.start[0] == '\'')) s.start++, s.length--;
        while (s.length && (s.start[s.length - 1] == '"' || s.start[s.length - 1] == '\'')) s.length--;
        if (s.length >= size) s.length = size - 1;
        for (size_t i = 0; i < s.length; i++) {
            char c = s.start[i];
            value[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        value[s.length] = '\0';
        return;
    }
}

/* The config without the per-segment keys gpbackup writes (place._PER_SEGMENT_KEYS), lines joined by \n. */
static buffer shared_config(const buffer *config) {
    buffer shared = {0};
    const char *cursor = config->data, *end = config->data + config->length;
    span line;
    int first = 1;
    put(&shared, "", 0);
    while (next_line(&cursor, end, &line)) {
        span s = strip(line);
        if (starts_with(s, "pgport:") || starts_with(s, "backup_plugin_version:")) continue;
        if (!first) put(&shared, "\n", 1);
        put(&shared, line.start, line.length);
        first = 0;
    }
    return shared;
}

/* --- the agent's identity: place.identity, byte for byte --------------------------------- */

static const char *const IDENTITY_PREFIXES[] = {
    "AWS_", "HOME", "TZ", "PYTHON",
    "http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
};

static int relevant_variable(const char *entry) {
    for (size_t i = 0; i < sizeof IDENTITY_PREFIXES / sizeof *IDENTITY_PREFIXES; i++) {
        if (strncmp(entry, IDENTITY_PREFIXES[i], strlen(IDENTITY_PREFIXES[i])) == 0) return 1;
    }
    return 0;
}

static int name_length(const char *entry) {
    const char *equals = strchr(entry, '=');
    return equals ? (int)(equals - entry) : -1;
}

static int by_name(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    size_t nx = (size_t)name_length(x), ny = (size_t)name_length(y);
    int order = memcmp(x, y, nx < ny ? nx : ny);
    return order ? order : (nx > ny) - (nx < ny);
}

/* The value of environment variable NAME (LENGTH bytes), "" when unset; the first of duplicates, as Python's. */
static const char *variable(const char *name, size_t length) {
    extern char **environ;
    for (char **entry = environ; *entry != NULL; entry++) {
        if (strncmp(*entry, name, length) == 0 && (*entry)[length] == '=') return *entry + length + 1;
    }
    return "";
}

static int by_text(const void *a, const void *b) {
    const span *x = a, *y = b;
    int order = memcmp(x->start, y->start, x->length < y->length ? x->length : y->length);
    return order ? order : (x->length > y->length) - (x->length < y->length);
}

/* The material's environment part: relevant variables by name, then the config's ${NAME} references. */
static void environment_material(buffer *material, const buffer *shared) {
    extern char **environ;
    size_t count = 0;
    for (char **entry = environ; *entry != NULL; entry++) count++;
    const char **chosen = calloc(count + 1, sizeof *chosen);
    if (chosen == NULL) fall_back("out of memory");
    size_t taken = 0;
    for (char **entry = environ; *entry != NULL; entry++) {
        int n = name_length(*entry);
        if (n <= 0 || !relevant_variable(*entry)) continue;
        for (int i = 0; i < n; i++) {
            if ((unsigned char)(*entry)[i] >= 0x80) fall_back("a non-ASCII environment variable name");
        }
        int duplicate = 0;
        for (size_t i = 0; i < taken; i++) duplicate |= by_name(&chosen[i], entry) == 0;
        if (!duplicate) chosen[taken++] = *entry;
    }
    qsort(chosen, taken, sizeof *chosen, by_name);
    for (size_t i = 0; i < taken; i++) {
        put(material, "\0", 1);
        put_text(material, chosen[i]);
    }
    free(chosen);

    /* place.referenced_variables: every ${NAME}, sorted, each once. */
    size_t found = 0, room = 16;
    span *names = malloc(room * sizeof *names);
    if (names == NULL) fall_back("out of memory");
    const char *text = shared->data, *end = shared->data + shared->length;
    const char *start = strstr(text, "${");
    while (start != NULL) {
        const char *close = memchr(start + 2, '}', (size_t)(end - (start + 2)));
        if (close == NULL) break;
        if (found == room) {
            span *grown = realloc(names, (room *= 2) * sizeof *names);
            if (grown == NULL) fall_back("out of memory");
            names = grown;
        }
        names[found++] = (span){start + 2, (size_t)(close - start - 2)};
        start = strstr(close + 1, "${");
    }
    qsort(names, found, sizeof *names, by_text);
    for (size_t i = 0; i < found; i++) {
        if (i > 0 && by_text(&names[i - 1], &names[i]) == 0) continue;
        put(material, "\0${", 3);
        put(material, names[i].start, names[i].length);
        put(material, "}=", 2);
        put_text(material, variable(names[i].start, names[i].length));
    }
    free(names);
}

void identity(const buffer *config, char *hex) {
    interpreter python;
    if (!find_interpreter(&python)) fall_back("no interpreter");
    buffer shared = shared_config(config);
    buffer material = {0};
    char number[32];
    snprintf(number, sizeof number, "%d", GPS3_PROTOCOL);
    put_text(&material, number);
    put(&material, "\0", 1);
    put_text(&material, GPS3_PLUGIN_VERSION);
    put(&material, "\0", 1);
    put_text(&material, python.path);
    put(&material, "\0", 1);
    put_text(&material, GPS3_PYTHON_VERSION);
    put(&material, "\0", 1);
    snprintf(number, sizeof number, "%u", (unsigned)getuid());
    put_text(&material, number);
    put(&material, "\0", 1);
    put(&material, shared.data, shared.length);
    environment_material(&material, &shared);
    uint8_t digest[IDENTITY_BYTES];
    blake2b_state state;
    blake2b_init(&state, sizeof digest);
    blake2b_update(&state, material.data, material.length);
    blake2b_final(&state, digest);
    for (size_t i = 0; i < sizeof digest; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    free(shared.data);
    free(material.data);
}

/* --- the socket directory: place.socket_directory, checked the same way ------------------- */

/* Whether environment variable NAME names an absolute directory; if so, BASE gets it without trailing slashes. */
static int directory_from(const char *name, char *base, size_t size) {
    const char *value = getenv(name);
    struct stat info;
    if (value == NULL || value[0] != '/' || stat(value, &info) != 0 || !S_ISDIR(info.st_mode)) return 0;
    snprintf(base, size, "%s", value);
    for (size_t end = strlen(base); end > 0 && base[end - 1] == '/'; end--) base[end - 1] = '\0';
    return 1;
}

void socket_directory(char *directory, size_t size) {
    char base[PATH_MAX];
    int n;
    if (directory_from("XDG_RUNTIME_DIR", base, sizeof base)) {
        n = snprintf(directory, size, "%s/gps3async", base);
    } else {
        if (!directory_from("TMPDIR", base, sizeof base)) snprintf(base, sizeof base, "/tmp");
        n = snprintf(directory, size, "%s/gps3async-%u", base, (unsigned)getuid());
    }
    if (n < 0 || (size_t)n >= size) fall_back("the socket directory's path is too long");
    if (mkdir(directory, 0700) != 0 && errno != EEXIST) fall_back("cannot create %s", directory);
    struct stat info;
    if (lstat(directory, &info) != 0) fall_back("cannot inspect %s", directory);
    /* Each refusal is the Python client's to log; it then runs the call in-process. */
    if (!S_ISDIR(info.st_mode)) fall_back("%s is not a directory", directory);
    if (info.st_uid != getuid()) fall_back("%s belongs to uid %u", directory, (unsigned)info.st_uid);
    if (info.st_mode & 077) fall_back("%s has mode %o", directory, (unsigned)(info.st_mode & 07777));
}
