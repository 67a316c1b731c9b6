/*
 * sandbox_probe.c - a small C program, linked against libc only, that the
 * spawn tests run inside the sandbox. It answers one-line commands on its
 * channel (fd 3, a socketpair the test holds), so that the test can ask
 * from inside what the sandbox allows: "id", "open /etc/passwd", "sys 101"
 * (ptrace), and so on. Each answer is one line. The program ends when the
 * channel closes or on "exit N".
 *
 * Built without sanitizers: it runs under the sandbox's address-space limit
 * and seccomp filter, which a sanitizer runtime does not expect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#define CHANNEL 3

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > sizeof line - 2) {
        n = (int)sizeof line - 2;
    }
    line[n++] = '\n';
    size_t done = 0;
    while (done < (size_t)n) {
        ssize_t w = write(CHANNEL, line + done, (size_t)n - done);
        if (w <= 0) {
            _exit(3);
        }
        done += (size_t)w;
    }
}

/* One line from the channel, without the newline; 0 at EOF. */
static int read_line(char *buf, size_t max)
{
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(CHANNEL, &c, 1);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return 0;
        }
        if (c == '\n') {
            buf[n] = '\0';
            return 1;
        }
        if (n + 1 < max) {
            buf[n++] = c;
        }
    }
}

static void result(int rc)
{
    if (rc < 0) {
        reply("err %d", errno);
    } else {
        reply("ok");
    }
}

static void open_with(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0644);
    if (fd < 0) {
        reply("err %d", errno);
        return;
    }
    close(fd);
    reply("ok");
}

static void receive_fd(void)
{
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    if (recvmsg(CHANNEL, &msg, 0) != 1) {
        reply("err %d", errno);
        return;
    }
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS) {
        reply("err none");
        return;
    }
    int fd;
    memcpy(&fd, CMSG_DATA(c), sizeof fd);
    static const char hello[] = "hello from the sandbox\n";
    if (write(fd, hello, sizeof hello - 1) != (ssize_t)(sizeof hello - 1)) {
        reply("err %d", errno);
        return;
    }
    close(fd);
    reply("ok %d", fd);
}

static void command(char *line)
{
    char *arg = strchr(line, ' ');
    if (arg != NULL) {
        *arg++ = '\0';
    } else {
        arg = line + strlen(line);
    }
    if (strcmp(line, "id") == 0) {
        reply("id %u %u %u %u %d", (unsigned)getuid(), (unsigned)geteuid(), (unsigned)getgid(),
              (unsigned)getegid(), (int)getpid());
    } else if (strcmp(line, "hostname") == 0) {
        struct utsname u;
        if (uname(&u) != 0) {
            reply("err %d", errno);
        } else {
            reply("hostname %s", u.nodename);
        }
    } else if (strcmp(line, "open") == 0) {
        open_with(arg, O_RDONLY);
    } else if (strcmp(line, "opendir") == 0) {
        open_with(arg, O_RDONLY | O_DIRECTORY);
    } else if (strcmp(line, "create") == 0) {
        open_with(arg, O_WRONLY | O_CREAT | O_TRUNC);
    } else if (strcmp(line, "writeopen") == 0) {
        open_with(arg, O_WRONLY);
    } else if (strcmp(line, "read") == 0) {
        int fd = open(arg, O_RDONLY | O_CLOEXEC);
        char buf[256];
        ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf);
        if (n < 0) {
            reply("err %d", errno);
        } else {
            reply("ok %zd", n);
        }
        if (fd >= 0) {
            close(fd);
        }
    } else if (strcmp(line, "exec") == 0) {
        char *argv[] = {arg, NULL};
        char *envp[] = {NULL};
        execve(arg, argv, envp);
        reply("err %d", errno);
    } else if (strcmp(line, "fork") == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            _exit(0);
        }
        result(pid);
    } else if (strcmp(line, "sys") == 0) {
        long a[7] = {0};
        char *end = arg;
        for (int i = 0; i < 7 && *end != '\0'; i++) {
            a[i] = strtol(end, &end, 0);
        }
        errno = 0;
        long r = syscall(a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
        reply("ret %ld %d", r, r < 0 ? errno : 0);
    } else if (strcmp(line, "alloc") == 0) {
        size_t mib = (size_t)strtoul(arg, NULL, 10);
        char *p = malloc(mib << 20);
        if (p == NULL) {
            reply("err %d", errno);
        } else {
            memset(p, 1, mib << 20);
            free(p);
            reply("ok");
        }
    } else if (strcmp(line, "fds") == 0) {
        char out[256] = "fds";
        for (int fd = 0; fd < 64; fd++) {
            if (fcntl(fd, F_GETFD) >= 0) {
                size_t used = strlen(out);
                snprintf(out + used, sizeof out - used, " %d", fd);
            }
        }
        reply("%s", out);
    } else if (strcmp(line, "rlimit") == 0) {
        static const struct {
            const char *name;
            int resource;
        } names[] = {{"AS", RLIMIT_AS}, {"NPROC", RLIMIT_NPROC}, {"NOFILE", RLIMIT_NOFILE},
                     {"CPU", RLIMIT_CPU}, {"CORE", RLIMIT_CORE}};
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strcmp(arg, names[i].name) == 0) {
                struct rlimit rl;
                if (getrlimit(names[i].resource, &rl) != 0) {
                    reply("err %d", errno);
                } else {
                    reply("rlimit %llu %llu", (unsigned long long)rl.rlim_cur,
                          (unsigned long long)rl.rlim_max);
                }
                return;
            }
        }
        reply("err unknown");
    } else if (strcmp(line, "stdout") == 0) {
        dprintf(1, "%s\n", arg);
        reply("ok");
    } else if (strcmp(line, "recvfd") == 0) {
        receive_fd();
    } else if (strcmp(line, "crash") == 0) {
        reply("ok");
        /* A real fault (raise() would be ignored: the app is pid 1). */
        volatile uintptr_t address = 16;
        *(volatile int *)address = 1;
    } else if (strcmp(line, "spin") == 0) {
        reply("ok");
        for (volatile unsigned long i = 0;; i++) {
        }
    } else if (strcmp(line, "exit") == 0) {
        _exit(atoi(arg));
    } else {
        reply("err unknown command");
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    const char *env = getenv("NACRE_SECMON_FD");
    reply("ready %s %s", argv[0] != NULL ? argv[0] : "-", env != NULL ? env : "-");
    char line[512];
    while (read_line(line, sizeof line)) {
        command(line);
    }
    return 0;
}
