/* gpbackup_s3_plugin: gps3async's native thin client (this file: the call; place.c: which agent).
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

#include "client.h"
#include "native_config.h"

static char **call_argv;
static int forced_native;
static volatile sig_atomic_t agent_socket = -1;

/* --- small helpers ------------------------------------------------------------------------- */

void put(buffer *b, const void *data, size_t length) {
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

void put_text(buffer *b, const char *text) { put(b, text, strlen(text)); }

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

void fall_back(const char *why, ...) {
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

/* --- the request: wire.encode_request of the Python client's dict, in marshal's format --------- */

/* A type code and its 32-bit little-endian number: an int's value, a string's or a list's length. */
static void marshal_code(buffer *b, char code, uint32_t number) {
    unsigned char bytes[5] = {(unsigned char)code, (unsigned char)number, (unsigned char)(number >> 8),
                              (unsigned char)(number >> 16), (unsigned char)(number >> 24)};
    put(b, bytes, sizeof bytes);
}

static void marshal_int(buffer *b, int32_t value) { marshal_code(b, 'i', (uint32_t)value); }

static void marshal_text(buffer *b, const char *text, size_t length) {
    marshal_code(b, 'u', (uint32_t)length);
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
    marshal_code(&body, '[', (uint32_t)(argc - 1));
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
