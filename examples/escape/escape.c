/*
 * escape - a hostile Nacre app: it tries to break out of its sandbox and to
 * trick secmon, and reports every attempt on one line:
 *
 *   ESCAPE <name>: denied (<errno text or secmon status>)
 *   ESCAPE <name>: ESCAPED <evidence>
 *
 * then "ESCAPES <tried> <escaped>", a final PING (secmon must still serve
 * it) and exit 0. Its manifest grants NOTHING, so every secmon call beyond
 * PING / IDENTITY / SIGN / SEAL / COUNTER_READ / LOG_EVENT must be refused.
 *
 * The attempts are real but bounded, and the ones that could hurt a host
 * if they succeeded are probes: signals are sent with signal 0 (the kernel
 * checks exactly the same permission) unless the probe showed that nothing
 * can be reached; the fork and memory bombs stop at 64 processes and 1 GiB;
 * a successful ptrace attach is detached at once; the file-system search is
 * limited in depth and size. Outside a seccomp sandbox the app refuses to
 * run at all (see main): it is meant to be launched by secmon only.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <sodium.h>

#include "app.h"

#define NAME_MAX_CHARS 48

static unsigned tried;
static unsigned escaped;

/* ---- reporting --------------------------------------------------------------- */

static void denied(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void escaped_with(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void denied(const char *name, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    tried++;
    printf("ESCAPE %s: denied (%s)\n", name, why);
}

static void escaped_with(const char *name, const char *fmt, ...)
{
    char evidence[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(evidence, sizeof evidence, fmt, ap);
    va_end(ap);
    tried++;
    escaped++;
    printf("ESCAPE %s: ESCAPED %s\n", name, evidence);
}

/* "EPERM (Operation not permitted)" */
static const char *errtext(int err)
{
    static char buf[96];
    const char *abbrev = strerrorname_np(err);
    snprintf(buf, sizeof buf, "%s: %s", abbrev != NULL ? abbrev : "errno", strerror(err));
    return buf;
}

/* A secmon refusal: any status but OK is "denied". */
static void secmon_result(const char *name, nacre_secmon_status st, const char *what)
{
    if (st == NACRE_SECMON_OK) {
        escaped_with(name, "secmon answered OK to %s", what);
    } else {
        denied(name, "%s", app_status_name(st));
    }
}

/* ---- raw messages on the channel ------------------------------------------------- */

static uint32_t raw_id = 0x45000000u;

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* A well-formed request built by hand (the codec refuses unknown calls). */
static void raw_request(uint8_t msg[NACRE_SECMON_MSG_BYTES], unsigned call, const void *payload,
                        size_t len)
{
    memset(msg, 0, NACRE_SECMON_MSG_BYTES);
    msg[0] = 'N';
    msg[1] = 'Q';
    msg[2] = NACRE_SECMON_ABI_VERSION;
    msg[3] = (uint8_t)call;
    put_u32(msg + 4, ++raw_id);
    put_u16(msg + 8, (uint16_t)len);
    if (len > 0) {
        memcpy(msg + NACRE_SECMON_HEADER_BYTES, payload, len);
    }
}

/*
 * Send len bytes as one message and wait (2 s at most) for the answer.
 * Returns 1 and *st if a well-formed response came, 0 if none came (or the
 * channel dropped the message), -1 with errno if sending failed.
 */
static int raw_receive(nacre_secmon_status *st);

static int raw_exchange(const void *msg, size_t len, nacre_secmon_status *st)
{
    if (send(app_channel(), msg, len, MSG_NOSIGNAL) < 0) {
        return -1;
    }
    return raw_receive(st);
}

/* Wait (2 s at most) for one answer: 1 and *st if a well-formed response came. */
static int raw_receive(nacre_secmon_status *st)
{
    struct pollfd pfd = {.fd = app_channel(), .events = POLLIN};
    int r = poll(&pfd, 1, 2000);
    if (r <= 0) {
        return 0;
    }
    uint8_t resp[NACRE_SECMON_MSG_BYTES];
    ssize_t n = recv(app_channel(), resp, sizeof resp, MSG_DONTWAIT);
    if (n != (ssize_t)sizeof resp) {
        return 0;
    }
    unsigned call = 0;
    uint32_t id = 0;
    const uint8_t *payload = NULL;
    size_t plen = 0;
    nacre_secmon_status status = NACRE_SECMON_ERR_IO;
    if (nacre_secmon_decode_response(resp, &call, &id, &status, &payload, &plen) !=
        NACRE_SECMON_OK) {
        return 0;
    }
    *st = status;
    return 1;
}

static void raw_attempt(const char *name, const void *msg, size_t len, const char *what)
{
    nacre_secmon_status st = NACRE_SECMON_ERR_IO;
    int r = raw_exchange(msg, len, &st);
    if (r < 0) {
        denied(name, "the channel refused the message: %s", errtext(errno));
    } else if (r == 0) {
        denied(name, "no answer: secmon dropped the message");
    } else {
        secmon_result(name, st, what);
    }
}

/* ---- files ------------------------------------------------------------------------- */

/* Open and read path; escaped if any byte comes back. */
static void try_read_file(const char *name, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        denied(name, "open %s: %s", path, errtext(errno));
        return;
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    int err = errno;
    close(fd);
    if (n > 0) {
        escaped_with(name, "read %zd bytes of %s", n, path);
    } else {
        denied(name, "%s opened but read %s", path, n == 0 ? "nothing" : errtext(err));
    }
}

/* List dir; escaped if it has entries. */
static void try_list_dir(const char *name, const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) {
        denied(name, "opendir %s: %s", path, errtext(errno));
        return;
    }
    unsigned count = 0;
    char first[256] = "";
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        if (count == 0) {
            snprintf(first, sizeof first, "%s", e->d_name);
        }
        count++;
    }
    int err = errno;
    closedir(d);
    if (count > 0) {
        escaped_with(name, "listed %u entries of %s (first: %s)", count, path, first);
    } else {
        denied(name, "%s: %s", path, err != 0 ? errtext(err) : "empty");
    }
}

/* Searches for the device's files (otp.bin / flash.bin) under a directory. */
struct search {
    unsigned visited;
    char found[1024];
};

static void search_dir(struct search *s, const char *dir, int depth)
{
    if (depth > 4 || s->visited > 20000 || s->found[0] != '\0') {
        return;
    }
    DIR *d = opendir(dir);
    if (d == NULL) {
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL && s->found[0] == '\0' && s->visited <= 20000) {
        s->visited++;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        char path[1024];
        int n = snprintf(path, sizeof path, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/",
                         e->d_name);
        if (n < 0 || (size_t)n >= sizeof path) {
            continue;
        }
        if (strcmp(e->d_name, "otp.bin") == 0 || strcmp(e->d_name, "flash.bin") == 0) {
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd >= 0) {
                char b;
                if (read(fd, &b, 1) == 1) {
                    snprintf(s->found, sizeof s->found, "%s", path);
                }
                close(fd);
            }
            continue;
        }
        if (e->d_type == DT_DIR && strcmp(path, "/proc") != 0 && strcmp(path, "/sys") != 0 &&
            strcmp(path, "/dev") != 0) {
            search_dir(s, path, depth + 1);
        }
    }
    closedir(d);
}

static void attempt_device_files(void)
{
    static const char *const guesses[] = {
        "otp.bin", "flash.bin", "/otp.bin", "/flash.bin", "dev/otp.bin", "../otp.bin",
        "/tmp/otp.bin", "/work/main/build/otp.bin",
    };
    for (size_t i = 0; i < sizeof guesses / sizeof guesses[0]; i++) {
        int fd = open(guesses[i], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            escaped_with("device_files_by_path", "opened %s", guesses[i]);
            return;
        }
    }
    struct search s = {0, ""};
    static const char *const roots[] = {"/tmp", "/var/tmp", "/root", "/home", "/work", "/"};
    for (size_t i = 0; i < sizeof roots / sizeof roots[0] && s.found[0] == '\0'; i++) {
        search_dir(&s, roots[i], 0);
    }
    if (s.found[0] != '\0') {
        escaped_with("device_files_by_path", "read %s", s.found);
    } else {
        denied("device_files_by_path", "no otp.bin / flash.bin reachable (%u entries visible)",
               s.visited);
    }
}

/*
 * The status of pid 1 as seen through dir (e.g. /proc/1): fine only if that
 * process is this app (the init of its own pid namespace). Compared by the
 * /proc directory's identity, which does not depend on which pid namespace
 * the numbers are in.
 */
static void try_proc_status(const char *name, const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/status", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        denied(name, "open %s: %s", path, errtext(errno));
        return;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = errno;
    close(fd);
    if (n <= 0) {
        denied(name, "%s opened but read %s", path, n == 0 ? "nothing" : errtext(err));
        return;
    }
    buf[n] = '\0';
    struct stat them, me;
    if (stat(dir, &them) == 0 && stat("/proc/self", &me) == 0 && them.st_dev == me.st_dev &&
        them.st_ino == me.st_ino) {
        denied(name, "%s is this app (the init of its own pid namespace)", dir);
        return;
    }
    const char *nl = strchr(buf, '\n');
    int len = nl != NULL ? (int)(nl - buf) : 32;
    escaped_with(name, "read another process's status: %.*s", len, buf);
}

/* Processes visible in /proc other than ourselves. */
static void attempt_proc_scan(void)
{
    DIR *d = opendir("/proc");
    if (d == NULL) {
        denied("proc_other_processes", "opendir /proc: %s", errtext(errno));
        return;
    }
    struct dirent *e;
    long other = -1;
    unsigned pids = 0;
    while ((e = readdir(d)) != NULL) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0') {
            continue;
        }
        pids++;
        if (pid != (long)getpid() && other < 0) {
            other = pid;
        }
    }
    closedir(d);
    if (other >= 0) {
        escaped_with("proc_other_processes", "/proc shows pid %ld (%u processes)", other, pids);
    } else {
        denied("proc_other_processes", "/proc shows only this app (%u process)", pids);
    }
}

static void try_write(const char *name, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        denied(name, "create %s: %s", path, errtext(errno));
        return;
    }
    ssize_t n = write(fd, "escaped\n", 8);
    close(fd);
    unlink(path);
    escaped_with(name, "created %s (wrote %zd bytes; removed it)", path, n);
}

/* ---- processes and privileges --------------------------------------------------------- */

/*
 * Last of the kernel attempts: once it succeeds, this app is its parent's
 * tracee and every signal it gets would stop it until the parent reacts.
 */
static void attempt_traceme(void)
{
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0) {
        escaped_with("ptrace_traceme", "PTRACE_TRACEME succeeded");
    } else {
        denied("ptrace_traceme", "%s", errtext(errno));
    }
}

static void attempt_ptrace(void)
{
    errno = 0;
    pid_t ppid = getppid();
    /* getppid() has no error return: a refusal shows as -1 (errno may stay 0). */
    int ppid_err = ppid < 0 ? (errno != 0 ? errno : EPERM) : 0;
    pid_t targets[2] = {ppid, 1};
    for (int i = 0; i < 2; i++) {
        const char *name = i == 0 ? "ptrace_attach_parent" : "ptrace_attach_init";
        pid_t t = targets[i];
        if (t < 0) {
            denied(name, "getppid() refused: %s", errtext(ppid_err));
            continue;
        }
        if (t == 0) {
            denied(name, "no parent visible (getppid() = 0: own pid namespace)");
            continue;
        }
        if (t == getpid()) {
            errno = 0;
            long r = ptrace(PTRACE_ATTACH, t, NULL, NULL);
            denied(name, "pid %ld is this app; attach to self: %s", (long)t,
                   r == 0 ? "accepted?!" : errtext(errno));
            continue;
        }
        if (ptrace(PTRACE_ATTACH, t, NULL, NULL) == 0) {
            /* Let it go again: wait for the attach stop, detach without a signal. */
            int st = 0;
            (void)waitpid(t, &st, __WALL);
            (void)ptrace(PTRACE_DETACH, t, NULL, NULL);
            escaped_with(name, "attached to pid %ld (detached at once)", (long)t);
        } else {
            denied(name, "pid %ld: %s", (long)t, errtext(errno));
        }
    }
}

static void try_socket(const char *name, int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    if (fd < 0) {
        denied(name, "socket: %s", errtext(errno));
        return;
    }
    close(fd);
    escaped_with(name, "socket(%d, %d, %d) created", domain, type, protocol);
}

static void attempt_tcp_direct(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        denied("tcp_connect_direct", "socket: %s", errtext(errno));
        return;
    }
    static const uint16_t ports[] = {22, 80, 443, 631, 5432, 8080, 8443};
    int last_err = 0;
    for (size_t i = 0; i < sizeof ports / sizeof ports[0]; i++) {
        if (i > 0) {
            close(fd);
            fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                break;
            }
        }
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons(ports[i]);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
            close(fd);
            escaped_with("tcp_connect_direct", "connected to 127.0.0.1:%u without secmon",
                         ports[i]);
            return;
        }
        last_err = errno;
    }
    if (fd >= 0) {
        close(fd);
    }
    denied("tcp_connect_direct", "socket created in an empty network namespace; connect: %s",
           errtext(last_err));
}

static void attempt_mount(void)
{
    if (mount("nacre-escape", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64k") == 0) {
        umount2("/tmp", MNT_DETACH);
        escaped_with("mount_tmpfs", "mounted a tmpfs on /tmp (unmounted it)");
    } else {
        denied("mount_tmpfs", "%s", errtext(errno));
    }
}

/* The effective capabilities, or -1 if they cannot be read. */
static long long effective_caps(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capget, &hdr, data) != 0) {
        return -1;
    }
    return (long long)data[0].effective | ((long long)data[1].effective << 32);
}

static void attempt_ids(void)
{
    uid_t uid = getuid();
    if (setuid(0) == 0) {
        long long caps = effective_caps();
        if (uid != 0) {
            escaped_with("setuid_root", "setuid(0) from uid %ld succeeded", (long)uid);
        } else if (caps > 0) {
            escaped_with("setuid_root", "uid 0 with capabilities %llx", caps);
        } else {
            denied("setuid_root", "already uid 0 of its own user namespace, no capabilities");
        }
    } else {
        denied("setuid_root", "uid %ld: %s", (long)uid, errtext(errno));
    }
    gid_t gid = getgid();
    int r = setgid(0);
    int gid_err = errno;
    if (r == 0 && gid != 0) {
        escaped_with("setgid_root", "setgid(0) from gid %ld succeeded", (long)gid);
    } else if (r == 0 && effective_caps() > 0) {
        escaped_with("setgid_root", "gid 0 with capabilities %llx", effective_caps());
    } else if (r == 0) {
        denied("setgid_root", "already gid 0 of its own user namespace, no capabilities");
    } else {
        denied("setgid_root", "gid %ld: %s", (long)gid, errtext(gid_err));
    }
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0xff, sizeof data);
    if (syscall(SYS_capset, &hdr, data) == 0) {
        escaped_with("capset_all", "capset raised every capability (now %llx)", effective_caps());
    } else {
        denied("capset_all", "%s", errtext(errno));
    }
}

static void attempt_fork_bomb(void)
{
    unsigned forked = 0;
    int err = 0;
    for (int i = 0; i < 64; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            _exit(0);
        }
        if (pid < 0) {
            err = errno;
            break;
        }
        forked++;
    }
    while (waitpid(-1, NULL, WNOHANG) > 0 || (forked > 0 && waitpid(-1, NULL, 0) > 0)) {
    }
    if (forked > 0) {
        escaped_with("fork_bomb", "forked %u processes", forked);
    } else {
        denied("fork_bomb", "first fork: %s", errtext(err));
    }
}

static void attempt_memory_bomb(void)
{
    enum { CHUNK = 16 << 20, CHUNKS = 64 }; /* 64 x 16 MiB = 1 GiB */
    static void *chunks[CHUNKS];
    unsigned got = 0;
    int err = 0;
    for (unsigned i = 0; i < CHUNKS; i++) {
        errno = 0;
        void *p = malloc(CHUNK);
        if (p == NULL) {
            err = errno != 0 ? errno : ENOMEM;
            break;
        }
        memset(p, 0xA5, CHUNK); /* touch every page: really use the memory */
        chunks[got++] = p;
    }
    for (unsigned i = 0; i < got; i++) {
        free(chunks[i]);
    }
    if (got == CHUNKS) {
        escaped_with("memory_bomb", "allocated and touched 1 GiB");
    } else {
        denied("memory_bomb", "stopped at %u MiB: %s", got * 16u, errtext(err));
    }
}

static void attempt_namespaces(void)
{
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) {
        escaped_with("unshare_user_mount", "unshare(CLONE_NEWUSER | CLONE_NEWNS) succeeded");
    } else {
        denied("unshare_user_mount", "%s", errtext(errno));
    }
    if (unshare(CLONE_NEWNET) == 0) {
        escaped_with("unshare_net", "unshare(CLONE_NEWNET) succeeded");
    } else {
        denied("unshare_net", "%s", errtext(errno));
    }
    int fd = open("/proc/1/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        /* No handle on another namespace: try setns on the channel (not a ns fd). */
        int open_err = errno;
        if (setns(app_channel(), 0) == 0) {
            escaped_with("setns", "setns accepted a socket");
        } else {
            denied("setns", "open /proc/1/ns/net: %s; setns: %s", strerror(open_err),
                   errtext(errno));
        }
        return;
    }
    if (setns(fd, CLONE_NEWNET) == 0) {
        close(fd);
        if (getpid() == 1) {
            denied("setns", "re-entered its own network namespace only (pid 1 is this app)");
        } else {
            escaped_with("setns", "joined the network namespace of pid 1");
        }
    } else {
        denied("setns", "%s", errtext(errno));
        close(fd);
    }
}

/*
 * Signal target with signal 0 first: the kernel checks the same permission
 * as for SIGKILL, and nothing dies. Only if nothing can be reached is the
 * real SIGKILL sent (and then it cannot hurt anyone either).
 */
static void try_kill(const char *name, pid_t target, int target_err)
{
    if (target_err != 0) {
        denied(name, "no pid to aim at: getppid() refused: %s", errtext(target_err));
        return;
    }
    if (target == 0) {
        denied(name, "no parent visible (getppid() = 0: own pid namespace)");
        return;
    }
    if (target == getpid()) {
        /* The init of a pid namespace ignores SIGKILL sent from inside it. */
        int r = kill(target, SIGKILL);
        denied(name, "pid %ld is this app (init of its own pid namespace; SIGKILL %s)",
               (long)target, r == 0 ? "ignored" : errtext(errno));
        return;
    }
    if (kill(target, 0) == 0) {
        escaped_with(name, "could signal pid %ld (probed with signal 0; SIGKILL not sent)",
                     (long)target);
        return;
    }
    int err = errno;
    if (kill(target, SIGKILL) == 0) {
        escaped_with(name, "SIGKILL to pid %ld accepted", (long)target);
    } else {
        denied(name, "pid %ld: %s", (long)target, errtext(err));
    }
}

static void attempt_kills(void)
{
    try_kill("kill_init", 1, 0);
    errno = 0;
    pid_t ppid = getppid();
    /* getppid() has no error return; a refusal shows as -1 with errno set. */
    int ppid_err = ppid < 0 ? (errno != 0 ? errno : EPERM) : 0;
    try_kill("kill_parent", ppid, ppid_err);
    try_kill("kill_everyone", -1, 0);
    /* Any process at all that this app could signal? */
    long reachable = -1;
    int last = 0;
    for (pid_t pid = 2; pid < 65536 && reachable < 0; pid++) {
        if (pid == getpid()) {
            continue;
        }
        if (kill(pid, 0) == 0) {
            reachable = pid;
        } else {
            last = errno;
        }
    }
    if (reachable > 0) {
        escaped_with("signal_any_process", "pid %ld can be signalled", reachable);
    } else {
        denied("signal_any_process", "pids 2..65535: %s", errtext(last));
    }
}

/* ---- exec and kernel interfaces ---------------------------------------------------------- */

static void attempt_exec(void)
{
    /* If this exec works, the shell says so (and this app is gone: no summary). */
    char *const argv[] = {(char *)"sh", (char *)"-c",
                          (char *)"echo 'ESCAPE execve_sh: ESCAPED /bin/sh ran'", NULL};
    char *const envp[] = {NULL};
    execve("/bin/sh", argv, envp);
    denied("execve_sh", "/bin/sh: %s", errtext(errno));

    int fd = (int)syscall(SYS_memfd_create, "escape", 1u /* MFD_CLOEXEC */);
    if (fd < 0) {
        denied("memfd_exec", "memfd_create: %s", errtext(errno));
        return;
    }
    /* Not a valid program: if exec reached the ELF loader, it says ENOEXEC. */
    static const char junk[] = "\x7f" "ELF not really a program\n";
    ssize_t w = write(fd, junk, sizeof junk - 1);
    (void)w;
    syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
    int err = errno;
    close(fd);
    if (err == ENOEXEC) {
        escaped_with("memfd_exec", "memfd created and execveat reached the program loader");
    } else {
        denied("memfd_exec", "memfd created; execveat: %s", errtext(err));
    }
}

static void attempt_kernel_interfaces(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long r = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
    if (r >= 0) {
        close((int)r);
        escaped_with("bpf", "created a BPF map");
    } else {
        denied("bpf", "%s", errtext(errno));
    }

    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    r = syscall(SYS_io_uring_setup, 4, &params);
    if (r >= 0) {
        close((int)r);
        escaped_with("io_uring_setup", "created an io_uring");
    } else {
        denied("io_uring_setup", "%s", errtext(errno));
    }

    r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0);
    if (r >= 0) {
        escaped_with("keyctl", "reached the user keyring (id %ld)", r);
    } else {
        denied("keyctl", "%s", errtext(errno));
    }

    int old = personality(0xffffffff);
    if (personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC) != -1 &&
        (personality(0xffffffff) & READ_IMPLIES_EXEC) != 0) {
        personality((unsigned long)(old < 0 ? 0 : old));
        escaped_with("personality", "set READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE");
    } else {
        denied("personality", "%s", errno != 0 ? errtext(errno) : "unchanged");
    }

    if (chroot("/") == 0) {
        escaped_with("chroot", "chroot(\"/\") succeeded");
    } else {
        denied("chroot", "%s", errtext(errno));
    }
}

/* Descriptors other than 0, 1, 2 and the channel. */
static void attempt_leaked_fds(void)
{
    for (int fd = 4; fd < 1024; fd++) {
        if (fcntl(fd, F_GETFD) >= 0) {
            char link[64];
            char target[256];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(link, target, sizeof target - 1);
            target[n > 0 ? n : 0] = '\0';
            escaped_with("inherited_fds", "fd %d is open (%s)", fd, n > 0 ? target : "?");
            return;
        }
    }
    denied("inherited_fds", "only fds 0-3 are open");
}

/* ---- secmon -------------------------------------------------------------------------------- */

static void attempt_storage(void)
{
    uint8_t buf[512];
    secmon_result("storage_read_own", app_storage_read(0, buf, 16), "STORAGE_READ offset 0");
    /* Another app's storage would have to be addressed past this one's quota. */
    secmon_result("storage_read_past_quota", app_storage_read(64u * 1024u, buf, 512),
                  "STORAGE_READ at 64 KiB");
    secmon_result("storage_read_wrap", app_storage_read(0xFFFFFF00u, buf, 512),
                  "STORAGE_READ at 0xFFFFFF00 (offset + length wraps)");
    secmon_result("storage_write", app_storage_write(0, "escape", 6), "STORAGE_WRITE");
}

static void attempt_connects(void)
{
    int fd = -1;
    nacre_secmon_status st = app_connect("127.0.0.1", 22, &fd);
    if (fd >= 0) {
        close(fd);
    }
    secmon_result("secmon_connect_undeclared", st, "CONNECT 127.0.0.1:22");
    static const char *const lookalikes[] = {"localhost", "127.1", "0x7f000001", "[::1]",
                                             "127.0.0.1.", "127.0.0.1:22"};
    for (size_t i = 0; i < sizeof lookalikes / sizeof lookalikes[0]; i++) {
        st = app_connect(lookalikes[i], 80, &fd);
        if (fd >= 0) {
            close(fd);
        }
        if (st == NACRE_SECMON_OK) {
            escaped_with("secmon_connect_lookalikes", "CONNECT %s:80 was brokered", lookalikes[i]);
            return;
        }
    }
    denied("secmon_connect_lookalikes", "localhost, 127.1, 0x7f000001, [::1], ...: all refused");
}

static void attempt_messages(void)
{
    uint8_t msg[NACRE_SECMON_MSG_BYTES];

    /* There is no caller field: claiming to be another app needs one of the zero fields. */
    raw_request(msg, NACRE_SECMON_CALL_IDENTITY, NULL, 0);
    put_u32(msg + 12, 1); /* "app index 1" in the reserved word */
    raw_attempt("forge_identity_reserved", msg, sizeof msg, "a request with reserved word 1");
    raw_request(msg, NACRE_SECMON_CALL_IDENTITY, NULL, 0);
    put_u16(msg + 10, 0x0100); /* a "flags: as app 1" */
    raw_attempt("forge_identity_flags", msg, sizeof msg, "a request with flags set");

    raw_request(msg, NACRE_SECMON_CALL_PING, "x", 1);
    msg[0] = 'X';
    raw_attempt("malformed_magic", msg, sizeof msg, "a bad magic");
    raw_request(msg, NACRE_SECMON_CALL_PING, "x", 1);
    msg[2] = 2;
    raw_attempt("malformed_version", msg, sizeof msg, "version 2");
    raw_request(msg, NACRE_SECMON_CALL_PING, "x", 1);
    msg[NACRE_SECMON_HEADER_BYTES + 40] = 0x5A;
    raw_attempt("malformed_padding", msg, sizeof msg, "bytes past the payload length");
    raw_request(msg, NACRE_SECMON_CALL_PING, "x", 1);
    put_u16(msg + 8, 0xFFFF);
    raw_attempt("malformed_length", msg, sizeof msg, "payload length 65535");

    raw_request(msg, NACRE_SECMON_CALL_PING, "x", 1);
    raw_attempt("truncated_message", msg, 100, "a 100-byte message");
    static uint8_t big[2048];
    raw_request(big, NACRE_SECMON_CALL_PING, "x", 1);
    raw_attempt("oversized_message", big, sizeof big, "a 2048-byte message");

    static const unsigned unknown[] = {0x00, 0x7F, 0xFF};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        char name[NAME_MAX_CHARS];
        char what[32];
        snprintf(name, sizeof name, "unknown_call_0x%02X", unknown[i]);
        snprintf(what, sizeof what, "call 0x%02X", unknown[i]);
        raw_request(msg, unknown[i], NULL, 0);
        raw_attempt(name, msg, sizeof msg, what);
    }

    /* IDENTITY takes no payload: a "which app" argument is malformed. */
    raw_request(msg, NACRE_SECMON_CALL_IDENTITY, "app=1", 5);
    raw_attempt("identity_of_another_app", msg, sizeof msg, "IDENTITY with an app argument");
}

/* SIGN takes data only: bytes meant to pick a key are just signed, by this app's key. */
static void attempt_other_key(const struct app_identity *id)
{
    static const char pick[] = "key=hello;key_handle=1;app=0";
    uint8_t sig[APP_SIGNATURE_BYTES];
    nacre_secmon_status st = app_sign(pick, sizeof pick - 1, sig);
    if (st != NACRE_SECMON_OK) {
        denied("sign_with_another_key", "%s", app_status_name(st));
        return;
    }
    int own = crypto_sign_verify_detached(sig, (const unsigned char *)pick, sizeof pick - 1,
                                          id->app_pk) == 0;
    int device = crypto_sign_verify_detached(sig, (const unsigned char *)pick, sizeof pick - 1,
                                             id->device_pk) == 0;
    if (own && !device) {
        denied("sign_with_another_key",
               "no call takes a key: the key-picking bytes were signed by this app's own key");
    } else {
        escaped_with("sign_with_another_key", "signature by %s", device ? "the DeviceID key"
                                                                        : "an unknown key");
    }
}

static void attempt_capabilities(void)
{
    uint8_t buf[1024];
    size_t got = 0;
    secmon_result("certificate_without_capability",
                  app_call(NACRE_SECMON_CALL_CERTIFICATE, NULL, 0, buf, sizeof buf, &got),
                  "CERTIFICATE without DeviceAuthentication");
    secmon_result("gpio_not_granted",
                  app_peripheral(APP_PERIPHERAL_GPIO, 0, APP_OP_READ, 0, NULL, 0, buf, 64, &got),
                  "GPIO 0 read");
    /* A GPIO write: arg = the level, no data. */
    secmon_result("gpio_write_not_granted",
                  app_peripheral(APP_PERIPHERAL_GPIO, 2, APP_OP_WRITE, 1, NULL, 0, buf, 64, &got),
                  "GPIO 2 write");
    int16_t centi = 0;
    secmon_result("i2c_sensor_not_granted", app_temperature(&centi), "the I2C sensor");
    secmon_result("update_without_capability",
                  app_call(NACRE_SECMON_CALL_UPDATE_BEGIN, NULL, 0, buf, sizeof buf, &got),
                  "UPDATE_BEGIN without SoftwareUpdate");
    secmon_result("update_write_without_begin",
                  app_call(NACRE_SECMON_CALL_UPDATE_WRITE, "NIMG", 4, buf, sizeof buf, &got),
                  "UPDATE_WRITE");
}

/* Every call shape that might leak the UDS, OTP or another app's data. */
static void attempt_secrets(void)
{
    uint8_t buf[1024];
    size_t got = 0;
    uint8_t req[16];
    unsigned refused = 0;
    unsigned total = 0;
    char accepted[128] = "";

    struct probe {
        unsigned call;
        uint8_t payload[12];
        size_t len;
        const char *what;
    };
    static const struct probe probes[] = {
        {NACRE_SECMON_CALL_COUNTER_READ, {8, 0, 0, 0}, 4, "counter 8"},
        {NACRE_SECMON_CALL_COUNTER_READ, {0xff, 0xff, 0xff, 0xff}, 4, "counter 0xffffffff"},
        {NACRE_SECMON_CALL_UNSEAL, {'N', 'S', 'E', 'A', 'L', 0, 0, 0, 0, 0, 0, 0}, 12,
         "unseal of a forged blob"},
        {NACRE_SECMON_CALL_STORAGE_READ, {0, 0, 0, 0, 0, 0, 1, 0}, 8, "storage 64 KiB read"},
        {NACRE_SECMON_CALL_PERIPHERAL, {9, 0, 1, 0, 0}, 5, "peripheral kind 9"},
        {NACRE_SECMON_CALL_PERIPHERAL, {3, 0, 1, 0x50, 0}, 5, "I2C bus 0 (an EEPROM?)"},
        {NACRE_SECMON_CALL_UPDATE_FINISH, {0}, 0, "update_finish"},
        {NACRE_SECMON_CALL_CERTIFICATE, {'u', 'd', 's'}, 3, "certificate with an argument"},
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        memcpy(req, probes[i].payload, probes[i].len);
        nacre_secmon_status st =
            app_call(probes[i].call, req, probes[i].len, buf, sizeof buf, &got);
        total++;
        if (st != NACRE_SECMON_OK) {
            refused++;
        } else if (accepted[0] == '\0') {
            snprintf(accepted, sizeof accepted, "%s answered %zu bytes", probes[i].what, got);
        }
    }
    if (refused == total) {
        denied("uds_otp_through_calls", "all %u probes refused (counter 8, forged blob, ...)", total);
    } else {
        escaped_with("uds_otp_through_calls", "%s", accepted);
    }
}

/*
 * The flood is pipelined, FLOOD_BATCH requests before reading their answers,
 * so that it outruns the bucket (200 requests a second on the host server)
 * even on a slow machine: an emulated board may not manage 200 round trips
 * a second, and a flood that never exceeds the rate proves nothing. secmon
 * answers with MSG_DONTWAIT, so a batch must fit the channel's receive
 * queue; 32 messages of 1 KiB do.
 */
#define FLOOD_BATCH 32u

static void attempt_rate_limit(void)
{
    unsigned served = 0;
    while (served < 2000) {
        uint8_t msg[NACRE_SECMON_MSG_BYTES];
        unsigned sent = 0;
        for (; sent < FLOOD_BATCH; sent++) {
            raw_request(msg, NACRE_SECMON_CALL_PING, "flood", 5);
            if (send(app_channel(), msg, sizeof msg, MSG_NOSIGNAL) < 0) {
                break;
            }
        }
        unsigned limited = 0;
        nacre_secmon_status other = NACRE_SECMON_OK;
        for (unsigned i = 0; i < sent; i++) {
            nacre_secmon_status st = NACRE_SECMON_ERR_IO;
            if (raw_receive(&st) != 1) {
                other = NACRE_SECMON_ERR_IO;
                break;
            }
            if (st == NACRE_SECMON_OK) {
                served++;
            } else if (st == NACRE_SECMON_ERR_RATE_LIMITED) {
                limited++;
            } else {
                other = st;
            }
        }
        if (limited > 0) {
            denied("ping_flood", "RATE_LIMITED after %u pings", served);
            return;
        }
        if (sent == 0 || other != NACRE_SECMON_OK) {
            denied("ping_flood", "%s after %u pings", app_status_name(other), served);
            return;
        }
    }
    escaped_with("ping_flood", "%u pings served without a limit", served);
}

/* Wait (up to 10 s) until secmon serves this app again after the flood. */
static nacre_secmon_status final_ping(void)
{
    nacre_secmon_status st = NACRE_SECMON_ERR_IO;
    for (int i = 0; i < 100; i++) {
        st = app_ping("still here", 10);
        if (st != NACRE_SECMON_ERR_RATE_LIMITED) {
            break;
        }
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return st;
}

/* 1 if a seccomp filter and no_new_privs are in force (prctl refused counts too). */
static int sandboxed(void)
{
    int mode = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    if (mode < 0) {
        /* A filter that refuses prctl is a filter. */
        return 1;
    }
    return mode == 2 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!sandboxed()) {
        printf("escape: no seccomp filter / no_new_privs: not in a Nacre sandbox; refusing to "
               "run hostile attempts here\n");
        printf("ESCAPE sandbox_present: ESCAPED running without seccomp\n");
        printf("ESCAPES 1 1\n");
        return 0;
    }
    if (sodium_init() < 0) {
        printf("escape: libsodium failed to initialise\n");
        return 1;
    }
    struct app_identity id;
    nacre_secmon_status st = app_identity(&id);
    if (st != NACRE_SECMON_OK) {
        printf("escape: identity failed: %s\n", app_status_text(st));
        return 1;
    }
    printf("escape: running as component %s, pid %ld, uid %ld\n", id.component_id,
           (long)getpid(), (long)getuid());

    /* secmon first: its refusals must not depend on the kernel's. */
    attempt_storage();
    attempt_connects();
    attempt_capabilities();
    attempt_other_key(&id);
    attempt_secrets();
    attempt_messages();

    /* Files. */
    attempt_device_files();
    try_read_file("read_etc_passwd", "/etc/passwd");
    try_list_dir("list_root_home", "/root");
    try_list_dir("list_home", "/home");
    try_proc_status("proc_1_status", "/proc/1");
    try_proc_status("proc_self_dotdot_1", "/proc/self/../1");
    attempt_proc_scan();
    try_list_dir("list_filesystem_root", "/");
    try_write("write_tmp", "/tmp/nacre-escape");
    try_write("write_usr", "/usr/nacre-escape");
    try_write("write_cwd", "nacre-escape");
    attempt_leaked_fds();

    /* Processes, privileges, network. */
    attempt_ptrace();
    try_socket("socket_raw", AF_INET, SOCK_RAW, IPPROTO_RAW);
    try_socket("socket_packet", AF_PACKET, SOCK_RAW, 0);
    try_socket("socket_unix", AF_UNIX, SOCK_STREAM, 0); /* host daemons, abstract sockets */
    attempt_tcp_direct();
    attempt_mount();
    attempt_ids();
    attempt_namespaces();
    attempt_kills();
    attempt_fork_bomb();
    attempt_memory_bomb();
    attempt_exec();
    attempt_kernel_interfaces();
    attempt_traceme();

    /* Last: the flood (its refusals are rate-limited, then it waits to be served). */
    attempt_rate_limit();

    printf("ESCAPES %u %u\n", tried, escaped);
    st = final_ping();
    printf("escape: final ping after %u attempts: %s\n", tried,
           st == NACRE_SECMON_OK ? "served" : app_status_text(st));
    return st == NACRE_SECMON_OK ? 0 : 1;
}
