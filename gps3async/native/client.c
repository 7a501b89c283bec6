/* gpbackup_s3_plugin: gps3async's native thin client.
 *
 * Greenplum starts one plugin process per table per segment, and a Python
 * interpreter's start alone costs more than the Go plugin's whole call.  This
 * client does what gps3async/agent/client.py does on its fast path, in C with
 * libc alone: it finds the call's agent (the same identity and socket
 * directory as gps3async/agent/place.py), checks the directory's owner and
 * mode, hands the agent argv, the working directory, the umask, the config and
 * the call's stdin, stdout and stderr (SCM_RIGHTS; gps3async/agent/wire.py),
 * forwards SIGINT and SIGTERM, and exits with the agent's exit code.  The data
 * never passes through this process.
 *
 * Whenever it cannot hand the call over before anything was touched (no agent
 * yet, agent: "off", a refusal, a usage error, input it does not read exactly
 * as Python would), it execs the Python client, which starts the agent or runs
 * the call in-process as it always has: which door a call came through never
 * changes what it does.  The two constant verbs it answers itself.
 *
 * GPS3ASYNC_CLIENT=python sends every call to the Python client at once;
 * GPS3ASYNC_CLIENT=native never does, and fails with the reason instead (to
 * tell which client answers; the tests use it).
 *
 * native_config.h is written by gps3async/native/build.py: the plugin and
 * interpreter versions that enter the identity, where the Python client is,
 * and the verb table of gps3async/verbs.py.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "blake2b.h"
#include "native_config.h"

#define PROGRAM "gpbackup_s3_plugin"
/* wire.MAX_REQUEST: the agent refuses a bigger request. */
#define MAX_REQUEST (1 << 20)
/* place._MAX_SOCKET_PATH: sun_path's 108 bytes, the NUL included. */
#define MAX_SOCKET_PATH 107
#define IDENTITY_BYTES 20

static char **call_argv;
static int forced_native;
static volatile sig_atomic_t agent_socket = -1;

/* --- small helpers ------------------------------------------------------------------------- */

typedef struct {
    char *data;
    size_t length, capacity;
} buffer;

static void fall_back(const char *why, ...) __attribute__((noreturn, format(printf, 1, 2)));

static void put(buffer *b, const void *data, size_t length) {
    if (b->length + length + 1 > b->capacity) {
        size_t capacity = (b->capacity ? b->capacity * 2 : 4096) + length;
        char *grown = realloc(b->data, capacity);
        if (grown == NULL) fall_back("out of memory");
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, data, length);
    b->length += length;
    b->data[b->length] = '\0';
}

static void put_text(buffer *b, const char *text) { put(b, text, strlen(text)); }

static void write_all(int fd, const char *data, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0) {
            if (errno == EINTR) continue;
            return;
        }
        data += written;
        length -= (size_t)written;
    }
}

static void say(int fd, const char *text) { write_all(fd, text, strlen(text)); }

/* Strictly valid UTF-8 as Python's decoder takes it: no overlong forms, no surrogates, nothing past U+10FFFF. */
static int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t more;
        uint32_t point;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            more = 1, point = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2, point = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3, point = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= more) return 0;
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            point = (point << 6) | (s[i + k] & 0x3F);
        }
        if ((more == 2 && point < 0x800) || (more == 3 && point < 0x10000) || point > 0x10FFFF ||
            (point >= 0xD800 && point <= 0xDFFF))
            return 0;
        i += more + 1;
    }
    return 1;
}

static int valid_utf8_text(const char *s) { return valid_utf8((const unsigned char *)s, strlen(s)); }

/* --- the Python client: every call this client cannot hand over goes there ------------------ */

typedef struct {
    char path[PATH_MAX];
    const char *flags; /* what the Python launcher would start it with */
} interpreter;

static char own_directory[PATH_MAX];

static void find_own_directory(void) {
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

/* The interpreter the Python launcher (scripts/gpbackup_s3_plugin) would run: its path is sys.executable,
 * part of the agent's identity, so this client names the same agent and starts exactly this one. */
static int find_interpreter(interpreter *found) {
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

static void fall_back(const char *why, ...) {
    char reason[512];
    va_list args;
    va_start(args, why);
    vsnprintf(reason, sizeof reason, why, args);
    va_end(args);
    if (forced_native) {
        dprintf(2, "%s: the native client did not hand the call over (GPS3ASYNC_CLIENT=native): %s\n", PROGRAM,
                reason);
        exit(3);
    }
    interpreter python;
    char client[PATH_MAX + sizeof GPS3_PYTHON_CLIENT + 1];
    if (GPS3_PYTHON_CLIENT[0] == '/') {
        snprintf(client, sizeof client, "%s", GPS3_PYTHON_CLIENT);
    } else {
        snprintf(client, sizeof client, "%s/%s", own_directory, GPS3_PYTHON_CLIENT);
    }
    if (!find_interpreter(&python)) {
        dprintf(2, "%s: no python3 beside %s or on PATH for the Python client\n", PROGRAM, own_directory);
        exit(127);
    }
    int count = 0;
    while (call_argv[count] != NULL) count++;
    char **argv = calloc((size_t)count + 3, sizeof *argv);
    if (argv == NULL) exit(127);
    argv[0] = python.path;
    argv[1] = (char *)python.flags;
    argv[2] = client;
    for (int i = 1; i < count; i++) argv[i + 2] = call_argv[i];
    execv(python.path, argv);
    dprintf(2, "%s: cannot start the Python client %s: %s\n", PROGRAM, python.path, strerror(errno));
    exit(127);
}

/* --- the call's config, read as place.agent_setting and place.identity read it --------------- */

static buffer read_config(const char *path) {
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
static void agent_setting(const buffer *config, char *value, size_t size) {
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

static void identity(const buffer *config, char *hex) {
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

static int is_directory(const char *path) {
    struct stat info;
    return stat(path, &info) == 0 && S_ISDIR(info.st_mode);
}

static void socket_directory(char *directory, size_t size) {
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    const char *temp = getenv("TMPDIR");
    char base[PATH_MAX];
    int n;
    if (runtime != NULL && runtime[0] == '/' && is_directory(runtime)) {
        snprintf(base, sizeof base, "%s", runtime);
        for (size_t end = strlen(base); end > 0 && base[end - 1] == '/'; end--) base[end - 1] = '\0';
        n = snprintf(directory, size, "%s/gps3async", base);
    } else {
        if (temp != NULL && temp[0] == '/' && is_directory(temp)) {
            snprintf(base, sizeof base, "%s", temp);
            for (size_t end = strlen(base); end > 0 && base[end - 1] == '/'; end--) base[end - 1] = '\0';
        } else {
            snprintf(base, sizeof base, "/tmp");
        }
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

/* --- the request: wire.encode_request of the Python client's dict, in marshal's format --------- */

static void marshal_int(buffer *b, int32_t value) {
    uint32_t bits = (uint32_t)value;
    unsigned char bytes[5] = {'i', (unsigned char)bits, (unsigned char)(bits >> 8), (unsigned char)(bits >> 16),
                              (unsigned char)(bits >> 24)};
    put(b, bytes, sizeof bytes);
}

static void marshal_text(buffer *b, const char *text, size_t length) {
    unsigned char header[5] = {'u', (unsigned char)length, (unsigned char)(length >> 8),
                               (unsigned char)(length >> 16), (unsigned char)(length >> 24)};
    put(b, header, sizeof header);
    put(b, text, length);
}

static void marshal_key(buffer *b, const char *key) { marshal_text(b, key, strlen(key)); }

static buffer request(const char *hex, int argc, char **argv, const buffer *config) {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) == NULL) fall_back("cannot read the working directory");
    if (!valid_utf8_text(cwd)) fall_back("the working directory is not UTF-8");
    mode_t mask = umask(022); /* reading the umask means setting it */
    umask(mask);
    buffer body = {0};
    put(&body, "{", 1);
    marshal_key(&body, "protocol");
    marshal_int(&body, GPS3_PROTOCOL);
    marshal_key(&body, "identity");
    marshal_key(&body, hex);
    marshal_key(&body, "argv");
    uint32_t count = (uint32_t)(argc - 1);
    unsigned char list[5] = {'[', (unsigned char)count, (unsigned char)(count >> 8), (unsigned char)(count >> 16),
                             (unsigned char)(count >> 24)};
    put(&body, list, sizeof list);
    for (int i = 1; i < argc; i++) {
        if (!valid_utf8_text(argv[i])) fall_back("an argument is not UTF-8");
        marshal_key(&body, argv[i]);
    }
    marshal_key(&body, "cwd");
    marshal_key(&body, cwd);
    marshal_key(&body, "pid");
    marshal_int(&body, (int32_t)getpid());
    marshal_key(&body, "umask");
    marshal_int(&body, (int32_t)mask);
    marshal_key(&body, "config");
    marshal_text(&body, config->data, config->length);
    marshal_key(&body, "client");
    marshal_key(&body, "native");
    put(&body, "0", 1); /* the dict's end */
    buffer message = {0};
    uint32_t n = (uint32_t)body.length;
    unsigned char header[5] = {'Q', (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8),
                               (unsigned char)n};
    put(&message, header, sizeof header);
    put(&message, body.data, body.length);
    free(body.data);
    if (message.length > MAX_REQUEST) fall_back("the request is too large");
    return message;
}

/* --- the hand-over ---------------------------------------------------------------------- */

static int connect_to(const char *path) {
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    int n = snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    if (n < 0 || (size_t)n >= sizeof address.sun_path) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) { /* no agent, or a stale socket */
        close(fd);
        return -1;
    }
    return fd;
}

/* Read exactly LENGTH bytes; 0 on EOF or error.  Signals interrupt the wait, not the call. */
static int receive_exactly(int fd, void *data, size_t length) {
    char *p = data;
    while (length > 0) {
        ssize_t n = recv(fd, p, length, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return 0;
        p += n;
        length -= (size_t)n;
    }
    return 1;
}

/* stdin, stdout and stderr as the agent should see them; a closed one becomes /dev/null. */
static void standard_descriptors(int *fds) {
    static const int modes[3] = {O_RDONLY, O_WRONLY, O_WRONLY};
    for (int fd = 0; fd < 3; fd++) {
        struct stat info;
        fds[fd] = fd;
        if (fstat(fd, &info) != 0) fds[fd] = open("/dev/null", modes[fd] | O_CLOEXEC);
        if (fds[fd] < 0) fall_back("cannot open /dev/null");
    }
}

enum answer { CLOSED, ACCEPTED };

static enum answer hand_over(int sock, const buffer *message) {
    int fds[3];
    standard_descriptors(fds);
    struct iovec data = {.iov_base = message->data, .iov_len = message->length};
    union {
        char space[CMSG_SPACE(sizeof fds)];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr header = {.msg_iov = &data, .msg_iovlen = 1, .msg_control = control.space,
                            .msg_controllen = sizeof control.space};
    struct cmsghdr *rights = CMSG_FIRSTHDR(&header);
    rights->cmsg_level = SOL_SOCKET;
    rights->cmsg_type = SCM_RIGHTS;
    rights->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(rights), fds, sizeof fds);
    ssize_t sent = sendmsg(sock, &header, MSG_NOSIGNAL);
    if (sent < 0) return CLOSED;
    for (size_t done = (size_t)sent; done < message->length; done += (size_t)sent) { /* the rest, without rights */
        sent = send(sock, message->data + done, message->length - done, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) sent = 0;
        else if (sent <= 0) return CLOSED;
    }
    char answer;
    if (!receive_exactly(sock, &answer, 1)) return CLOSED;
    if (answer == 'A') return ACCEPTED;
    if (answer == 'R') {
        unsigned char length[2];
        char reason[65536];
        size_t n = 0;
        if (receive_exactly(sock, length, 2)) {
            n = (size_t)length[0] << 8 | length[1];
            if (!receive_exactly(sock, reason, n)) n = 0;
        }
        fall_back("the agent refused the call: %.*s", (int)n, reason);
    }
    return CLOSED;
}

static void forward(int signum) {
    int saved = errno;
    unsigned char message[2] = {'S', (unsigned char)signum};
    if (agent_socket >= 0) (void)!send(agent_socket, message, sizeof message, MSG_NOSIGNAL);
    errno = saved;
}

/* Forward SIGINT and SIGTERM while the agent works; its exit code, or 1 if it died mid-call. */
static int await_exit(int sock, const char *verb) {
    struct sigaction action = {.sa_handler = forward};
    sigemptyset(&action.sa_mask);
    agent_socket = sock;
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    unsigned char tag, code[4];
    if (receive_exactly(sock, &tag, 1) && tag == 'X' && receive_exactly(sock, code, 4)) {
        uint32_t bits = (uint32_t)code[0] << 24 | (uint32_t)code[1] << 16 | (uint32_t)code[2] << 8 | code[3];
        return (int)(int32_t)bits;
    }
    dprintf(2, "%s: the gps3async agent stopped before %s finished; the call failed and was not retried\n",
            PROGRAM, verb);
    return 1;
}

/* --- the constant verbs -------------------------------------------------------------------- */

/* One line in the plugin's log (runtime/logs.py's format), so an operator can tell this client answered. */
static void log_line(const char *message) {
    const char *home = getenv("HOME");
    if (home == NULL || home[0] == '\0') return;
    time_t now = time(NULL);
    struct tm local;
    if (localtime_r(&now, &local) == NULL) return;
    char day[16], stamp[32], path[PATH_MAX], host[256] = "";
    strftime(day, sizeof day, "%Y%m%d", &local);
    strftime(stamp, sizeof stamp, "%Y%m%d:%H:%M:%S", &local);
    snprintf(path, sizeof path, "%s/gpAdminLogs", home);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "%s/gpAdminLogs/%s_%s.log", home, PROGRAM, day);
    /* getpass.getuser()'s variables; no passwd lookup, which would keep the client from linking statically. */
    static const char *const user_variables[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
    const char *user = NULL;
    for (size_t i = 0; i < sizeof user_variables / sizeof *user_variables && (user == NULL || !*user); i++)
        user = getenv(user_variables[i]);
    char uid[16];
    if (user == NULL || !*user) {
        snprintf(uid, sizeof uid, "%u", (unsigned)getuid()); /* what runtime/logs.py falls back to as well */
        user = uid;
    }
    gethostname(host, sizeof host - 1);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return;
    dprintf(fd, "%s %s:%s:%s:%06d-[INFO]:-%s\n", stamp, PROGRAM, user, host, (int)getpid(), message);
    close(fd);
}

static const verb_spec *find_verb(const char *name) {
    for (size_t i = 0; i < sizeof VERBS / sizeof *VERBS; i++) {
        if (strcmp(VERBS[i].name, name) == 0) return &VERBS[i];
    }
    return NULL;
}

int main(int argc, char **argv) {
    call_argv = argv;
    find_own_directory();
    const char *door = getenv("GPS3ASYNC_CLIENT");
    forced_native = door != NULL && strcmp(door, "native") == 0;
    if (argc == 2 && strcmp(argv[1], "plugin_api_version") == 0) {
        say(1, GPS3_API_VERSION "\n");
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        say(1, PROGRAM " version " GPS3_PLUGIN_VERSION "\n");
        log_line(PROGRAM " version " GPS3_PLUGIN_VERSION " (native client)");
        return 0;
    }
    if (door != NULL && strcmp(door, "python") == 0) fall_back("GPS3ASYNC_CLIENT=python");
    const verb_spec *verb = argc >= 2 ? find_verb(argv[1]) : NULL;
    if (verb == NULL || argc - 2 < verb->min_args || argc - 2 > verb->max_args)
        fall_back("not a call for the agent"); /* usage and help pages, from the Python client */

    buffer config = read_config(argv[2]);
    char setting[16];
    agent_setting(&config, setting, sizeof setting);
    if (setting[0] != '\0' && strcmp(setting, "on") != 0) fall_back("agent: %s", setting);
    char hex[2 * IDENTITY_BYTES + 1];
    identity(&config, hex);
    char directory[PATH_MAX], path[PATH_MAX + 64];
    socket_directory(directory, sizeof directory);
    int n = snprintf(path, sizeof path, "%s/%.32s.sock", directory, hex);
    if (n < 0 || n > MAX_SOCKET_PATH) fall_back("the socket path is too long");
    buffer message = request(hex, argc, argv, &config);

    for (int attempt = 0; attempt < 2; attempt++) { /* an agent may close a connection while it shuts down */
        int sock = connect_to(path);
        if (sock < 0) fall_back("no agent answers at %s", path); /* the Python client starts one */
        if (hand_over(sock, &message) == ACCEPTED) return await_exit(sock, argv[1]);
        close(sock);
    }
    fall_back("the agent closed the connection twice before accepting the call");
}
