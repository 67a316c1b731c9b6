/*
 * test_spawn.c - nacre_sandbox_spawn and nacre_sandbox_probe on this kernel.
 *
 * Runs tests/sandbox/sandbox_probe (path in argv[1]) in the sandbox and asks
 * it, over its channel, what it can do from inside: its ids, hostname, which
 * files open, which system calls pass, its fds and limits. The same app is
 * also inspected from outside, through /proc/<pid> (namespaces, status
 * fields, the exe link, network interfaces, mounts). Every isolation
 * property of docs/sandbox.md is asserted. Kernel refusals are simulated by
 * a seccomp filter installed in a forked test process (so that "landlock is
 * missing" can be tested on a kernel that has landlock).
 *
 * Needs root (the app's root maps to another host uid) and a kernel with
 * every mechanism; otherwise the first test says which is missing and fails.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#include <cmocka.h>

#include <nacre/sandbox.h>

#include "test_support.h"

#define ALL_MECHANISMS 0xfffu
#define REPLY_TIMEOUT_MS 10000

static const char *probe_path;
static uint8_t *probe_exe;
static size_t probe_len;

/* ---- helpers --------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    uint8_t *b = malloc((size_t)n);
    if (b != NULL && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

struct app {
    pid_t pid;
    int chan;  /* the test's end of the channel */
    int out;   /* read end of the app's stdout/stderr pipe */
    struct nacre_sandbox_report report;
    char error[256];
    char line[512];
};

static nacre_sandbox_status app_start(struct app *a, const uint8_t *exe, size_t len,
                                      const struct nacre_sandbox_options *opts_in)
{
    memset(a, 0, sizeof *a);
    a->pid = -1;
    a->chan = a->out = -1;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int pipefd[2];
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    struct nacre_sandbox_options opts;
    memset(&opts, 0, sizeof opts);
    if (opts_in != NULL) {
        opts = *opts_in;
    } else {
        opts.stdio_fd = pipefd[1];
    }
    struct nacre_app_manifest m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "probe");
    nacre_sandbox_status st = nacre_sandbox_spawn(&m, exe, len, sv[1], &opts, &a->pid, &a->report, a->error,
                                                  sizeof a->error);
    close(sv[1]);
    close(pipefd[1]);
    a->chan = sv[0];
    a->out = pipefd[0];
    if (st != NACRE_SANDBOX_OK) {
        assert_int_equal(a->pid, -1);
    }
    return st;
}

/* One line from fd within the timeout ("" at EOF). */
static const char *read_line_from(int fd, char *buf, size_t max)
{
    size_t n = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, REPLY_TIMEOUT_MS);
        if (r <= 0) {
            print_error("no answer from the sandboxed probe within %d ms\n", REPLY_TIMEOUT_MS);
            fail();
        }
        char c;
        ssize_t got = read(fd, &c, 1);
        if (got <= 0 || c == '\n') {
            buf[n] = '\0';
            return buf;
        }
        if (n + 1 < max) {
            buf[n++] = c;
        }
    }
}

static const char *ask(struct app *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *ask(struct app *a, const char *fmt, ...)
{
    char cmd[400];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd - 1, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd - 1);
    cmd[n++] = '\n';
    assert_int_equal(write(a->chan, cmd, (size_t)n), n);
    return read_line_from(a->chan, a->line, sizeof a->line);
}

/* Expect "err <errno>" for a command, with errno one of the accepted ones. */
static void expect_err(struct app *a, const char *cmd, int e1, int e2)
{
    const char *r = ask(a, "%s", cmd);
    int e = -1;
    if (sscanf(r, "err %d", &e) != 1 || (e != e1 && e != e2)) {
        print_error("inside the sandbox, \"%s\" answered \"%s\"; expected err %d%s%s\n", cmd, r, e1,
                    e2 ? " or " : "", e2 ? strerror(e2) : "");
        fail();
    }
}

/* Expect a raw system call to fail with EPERM (the seccomp filter). */
static void expect_syscall_eperm(struct app *a, const char *name, long nr, const char *args)
{
    const char *r = ask(a, "sys %ld %s", nr, args);
    if (strcmp(r, "ret -1 1") != 0) {
        print_error("inside the sandbox, %s (%ld %s) answered \"%s\", expected EPERM\n", name, nr, args, r);
        fail();
    }
}

static int app_finish(struct app *a)
{
    if (a->chan >= 0) {
        close(a->chan);
        a->chan = -1;
    }
    if (a->out >= 0) {
        close(a->out);
        a->out = -1;
    }
    if (a->pid <= 0) {
        return -1;
    }
    int status = -1;
    for (int i = 0; i < 1000; i++) {
        pid_t r = waitpid(a->pid, &status, WNOHANG);
        if (r == a->pid) {
            a->pid = -1;
            return status;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(a->pid, SIGKILL);
    waitpid(a->pid, &status, 0);
    a->pid = -1;
    print_error("the probe did not exit within 10 s\n");
    fail();
    return status;
}

/* "Name:\tvalue" from /proc/<pid>/status, into out. */
static void proc_status(pid_t pid, const char *field, char *out, size_t max)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    size_t flen = strlen(field);
    out[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            char *v = line + flen + 1;
            while (*v == '\t' || *v == ' ') {
                v++;
            }
            v[strcspn(v, "\n")] = '\0';
            snprintf(out, max, "%s", v);
            break;
        }
    }
    fclose(f);
}

static void link_of(const char *path, char *out, size_t max)
{
    ssize_t n = readlink(path, out, max - 1);
    assert_true(n > 0);
    out[n] = '\0';
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1; /* the DIR's own fd */
}

/* ---- the probe ------------------------------------------------------------------ */

static void test_probe(void **state)
{
    (void)state;
    struct nacre_sandbox_report r;
    memset(&r, 0xa5, sizeof r);
    assert_int_equal(nacre_sandbox_probe(&r), NACRE_SANDBOX_OK);
    print_message("probe: applied 0x%03x missing 0x%03x%s%s\n", r.applied, r.missing,
                  r.detail[0] ? ": " : "", r.detail);
    if (r.applied != ALL_MECHANISMS || r.missing != 0) {
        print_error("this kernel (or this test's privileges) lacks sandbox mechanisms: %s\n"
                    "the spawn tests need root and every mechanism\n", r.detail);
        fail();
    }
    assert_string_equal(r.detail, "");
    assert_int_equal(nacre_sandbox_probe(NULL), NACRE_SANDBOX_ERR_ARGUMENT);
    /* The probe leaves no child behind. */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* ---- isolation, asked from inside and checked from outside ---------------------------------- */

static void test_isolation(void **state)
{
    (void)state;
    char *tmp = nacre_test_tmpdir("sandbox-spawn");
    char secret[512];
    snprintf(secret, sizeof secret, "%s/secret", tmp);
    FILE *f = fopen(secret, "w");
    assert_non_null(f);
    fputs("another app's storage\n", f);
    fclose(f);
    chmod(secret, 0644);
    chmod(tmp, 0755);
    /* A descriptor the caller forgot to mark close-on-exec must not leak. */
    int leaked = open("/dev/null", O_RDONLY);
    assert_true(leaked >= 0);
    int fds_before = count_open_fds();

    struct app a;
    nacre_sandbox_status st = app_start(&a, probe_exe, probe_len, NULL);
    if (st != NACRE_SANDBOX_OK) {
        print_error("spawn: %s\n", a.error);
    }
    assert_int_equal(st, NACRE_SANDBOX_OK);
    assert_int_equal(a.report.applied, ALL_MECHANISMS);
    assert_int_equal(a.report.missing, 0);
    assert_string_equal(a.error, "");
    /* The caller's descriptors are as they were, plus the two the test keeps. */
    assert_int_equal(count_open_fds(), fds_before + 2);

    /* Started, as argv[0] = the manifest name, with NACRE_SECMON_FD=3. */
    assert_string_equal(read_line_from(a.chan, a.line, sizeof a.line), "ready probe 3");

    /* Identity: root of its own user namespace, pid 1 of its own pid namespace. */
    assert_string_equal(ask(&a, "id"), "id 0 0 0 0 1");
    assert_string_equal(ask(&a, "hostname"), "hostname nacre-app");

    /* Files: only the system libraries, read-only. */
    assert_string_equal(ask(&a, "read /etc/ld.so.cache"), "ok 256");
    expect_err(&a, "open /etc/passwd", ENOENT, EACCES);
    expect_err(&a, "open /etc/shadow", ENOENT, EACCES);
    expect_err(&a, "open /proc/1/status", ENOENT, EACCES);
    expect_err(&a, "open /proc/self/status", ENOENT, EACCES);
    expect_err(&a, "opendir /proc", ENOENT, EACCES);
    expect_err(&a, "open /dev/null", ENOENT, EACCES);
    expect_err(&a, "open /dev/mem", ENOENT, EACCES);
    expect_err(&a, "opendir /sys", ENOENT, EACCES);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "opendir %s", tmp);
    expect_err(&a, cmd, ENOENT, EACCES);
    snprintf(cmd, sizeof cmd, "open %s", secret);
    expect_err(&a, cmd, ENOENT, EACCES);
    expect_err(&a, "opendir /", EACCES, 0);            /* landlock: no READ_DIR on the root */
    expect_err(&a, "create /tmp/x", ENOENT, EACCES);
    expect_err(&a, "create /x", EACCES, EROFS);
    expect_err(&a, "create /usr/nacre-escape", EACCES, EROFS);
    expect_err(&a, "writeopen /etc/ld.so.cache", EACCES, EROFS);

    /* Descriptors: stdio and the channel, nothing else. */
    assert_string_equal(ask(&a, "fds"), "fds 0 1 2 3");
    assert_string_equal(ask(&a, "stdout hello from stdout"), "ok");
    assert_string_equal(read_line_from(a.out, a.line, sizeof a.line), "hello from stdout");

    /* A brokered connection arrives as an fd over the channel and works. */
    int conn[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, conn), 0);
    assert_int_equal(write(a.chan, "recvfd\n", 7), 7);
    char byte = 'x';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &conn[1], sizeof(int));
    assert_int_equal(sendmsg(a.chan, &msg, 0), 1);
    close(conn[1]);
    assert_string_equal(read_line_from(a.chan, a.line, sizeof a.line), "ok 4");
    assert_string_equal(read_line_from(conn[0], a.line, sizeof a.line), "hello from the sandbox");
    close(conn[0]);

    /* System calls: sockets, processes, privileges, namespaces, kernel interfaces. */
    expect_syscall_eperm(&a, "socket(AF_INET, SOCK_STREAM)", SYS_socket, "2 1 0");
    expect_syscall_eperm(&a, "socket(AF_INET6, SOCK_DGRAM)", SYS_socket, "10 2 0");
    expect_syscall_eperm(&a, "socket(AF_PACKET, SOCK_RAW)", SYS_socket, "17 3 0");
    expect_syscall_eperm(&a, "socket(AF_NETLINK)", SYS_socket, "16 3 0");
    expect_syscall_eperm(&a, "socket(AF_UNIX)", SYS_socket, "1 1 0");
    expect_syscall_eperm(&a, "socketpair", SYS_socketpair, "1 1 0 0");
    expect_syscall_eperm(&a, "connect", SYS_connect, "3 0 0");
    expect_syscall_eperm(&a, "bind", SYS_bind, "3 0 0");
    expect_err(&a, "fork", EPERM, 0);
    expect_syscall_eperm(&a, "clone", SYS_clone, "17 0 0 0 0");
    expect_syscall_eperm(&a, "clone3", SYS_clone3, "0 0");
#ifdef SYS_vfork
    expect_syscall_eperm(&a, "vfork", SYS_vfork, "");
#endif
    expect_err(&a, "exec /usr/bin/true", EPERM, 0);
    expect_syscall_eperm(&a, "execveat on the channel", SYS_execveat, "3 0 0 0 0x1000");
    char ptrace_attach[64];
    snprintf(ptrace_attach, sizeof ptrace_attach, "16 %ld 0 0", (long)getpid());
    expect_syscall_eperm(&a, "ptrace(PTRACE_TRACEME)", SYS_ptrace, "0 0 0 0");
    expect_syscall_eperm(&a, "ptrace(PTRACE_ATTACH, the test)", SYS_ptrace, ptrace_attach);
    expect_syscall_eperm(&a, "process_vm_readv", SYS_process_vm_readv, "1 0 0 0 0 0");
    expect_syscall_eperm(&a, "mount", SYS_mount, "0 0 0 0 0");
    expect_syscall_eperm(&a, "umount2", SYS_umount2, "0 0");
    expect_syscall_eperm(&a, "pivot_root", SYS_pivot_root, "0 0");
    expect_syscall_eperm(&a, "chroot", SYS_chroot, "0");
    expect_syscall_eperm(&a, "setuid(0)", SYS_setuid, "0");
    expect_syscall_eperm(&a, "setuid(1000)", SYS_setuid, "1000");
    expect_syscall_eperm(&a, "setresuid", SYS_setresuid, "0 0 0");
    expect_syscall_eperm(&a, "setgid", SYS_setgid, "0");
    expect_syscall_eperm(&a, "setgroups", SYS_setgroups, "0 0");
    expect_syscall_eperm(&a, "capset", SYS_capset, "0 0");
    expect_syscall_eperm(&a, "prctl", SYS_prctl, "38 0 0 0 0"); /* PR_GET_NO_NEW_PRIVS */
    expect_syscall_eperm(&a, "seccomp", SYS_seccomp, "0 0 0");
    expect_syscall_eperm(&a, "unshare(CLONE_NEWUSER)", SYS_unshare, "0x10000000");
    expect_syscall_eperm(&a, "unshare(0)", SYS_unshare, "0");
    expect_syscall_eperm(&a, "setns", SYS_setns, "3 0");
    expect_syscall_eperm(&a, "bpf", SYS_bpf, "0 0 0");
    expect_syscall_eperm(&a, "perf_event_open", SYS_perf_event_open, "0 0 0 0 0");
    expect_syscall_eperm(&a, "keyctl", SYS_keyctl, "0 0 0 0 0");
    expect_syscall_eperm(&a, "add_key", SYS_add_key, "0 0 0 0 0");
    expect_syscall_eperm(&a, "personality", SYS_personality, "0xffffffff");
    expect_syscall_eperm(&a, "io_uring_setup", SYS_io_uring_setup, "1 0");
    expect_syscall_eperm(&a, "userfaultfd", SYS_userfaultfd, "0");
    expect_syscall_eperm(&a, "memfd_create", SYS_memfd_create, "0 0");
    expect_syscall_eperm(&a, "ioctl", SYS_ioctl, "0 0x5401 0"); /* TCGETS */
    expect_syscall_eperm(&a, "mknodat", SYS_mknodat, "-100 0 0 0");
    expect_syscall_eperm(&a, "init_module", SYS_init_module, "0 0 0");
    expect_syscall_eperm(&a, "kexec_load", SYS_kexec_load, "0 0 0 0");
    expect_syscall_eperm(&a, "reboot", SYS_reboot, "0 0 0 0");
    expect_syscall_eperm(&a, "landlock_create_ruleset", 444, "0 0 1");
    expect_syscall_eperm(&a, "fcntl(F_SETOWN)", SYS_fcntl, "3 8 1");
    /* Signals: nobody but itself (pid 1 here). */
    char kill_test[64];
    snprintf(kill_test, sizeof kill_test, "%ld 0", (long)getpid());
    expect_syscall_eperm(&a, "kill(the test, 0)", SYS_kill, kill_test);
    expect_syscall_eperm(&a, "kill(-1, SIGKILL)", SYS_kill, "-1 9");
    expect_syscall_eperm(&a, "kill(0, SIGKILL)", SYS_kill, "0 9");
    expect_syscall_eperm(&a, "tgkill(other)", SYS_tgkill, "2 2 0");
    assert_string_equal(ask(&a, "sys %d 1 0", SYS_kill), "ret 0 0");
    assert_string_equal(ask(&a, "sys %d 1 1 0", SYS_tgkill), "ret 0 0");
    /* Allowed calls still work. */
    assert_string_equal(ask(&a, "sys %d", SYS_getpid), "ret 1 0");

    /* Limits: memory, processes, files, CPU, no core dumps. */
    assert_string_equal(ask(&a, "rlimit AS"), "rlimit 268435456 268435456");
    assert_string_equal(ask(&a, "rlimit NPROC"), "rlimit 1 1");
    assert_string_equal(ask(&a, "rlimit NOFILE"), "rlimit 16 16");
    assert_string_equal(ask(&a, "rlimit CPU"), "rlimit 60 61");
    assert_string_equal(ask(&a, "rlimit CORE"), "rlimit 0 0");
    assert_string_equal(ask(&a, "alloc 32"), "ok");
    expect_err(&a, "alloc 512", ENOMEM, 0);
    expect_syscall_eperm(&a, "prlimit64(raise NOFILE of pid 1)", SYS_prlimit64, "1 7 0 0");

    /* From outside: the app is our child, in its own namespaces, with no privileges. */
    char v[256], path[128], mine[128], theirs[128];
    proc_status(a.pid, "PPid", v, sizeof v);
    assert_int_equal(atol(v), (long)getpid());
    proc_status(a.pid, "NSpid", v, sizeof v);
    char expect[64];
    snprintf(expect, sizeof expect, "%ld\t1", (long)a.pid);
    assert_string_equal(v, expect);
    proc_status(a.pid, "Uid", v, sizeof v);
    long host_uid = atol(v);
    assert_true(host_uid >= 200000 && host_uid < 200000 + 65536);
    proc_status(a.pid, "Gid", v, sizeof v);
    assert_int_equal(atol(v), host_uid);
    proc_status(a.pid, "Groups", v, sizeof v);
    assert_string_equal(v, "");
    proc_status(a.pid, "NoNewPrivs", v, sizeof v);
    assert_string_equal(v, "1");
    proc_status(a.pid, "Seccomp", v, sizeof v);
    assert_string_equal(v, "2");
    static const char *const capsets[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (size_t i = 0; i < 5; i++) {
        proc_status(a.pid, capsets[i], v, sizeof v);
        assert_string_equal(v, "0000000000000000");
    }
    static const char *const namespaces[] = {"user", "mnt", "pid", "net", "ipc", "uts"};
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "/proc/self/ns/%s", namespaces[i]);
        link_of(path, mine, sizeof mine);
        snprintf(path, sizeof path, "/proc/%ld/ns/%s", (long)a.pid, namespaces[i]);
        link_of(path, theirs, sizeof theirs);
        if (strcmp(mine, theirs) == 0) {
            print_error("the app shares the %s namespace with the test\n", namespaces[i]);
            fail();
        }
    }
    /* The executable is the sealed memfd. */
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)a.pid);
    link_of(path, v, sizeof v);
    assert_true(strncmp(v, "/memfd:nacre-app:probe", 22) == 0);
    int exe_fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(exe_fd >= 0);
    int seals = fcntl(exe_fd, F_GET_SEALS);
    assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
                     F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
    close(exe_fd);
    exe_fd = open(path, O_RDWR | O_CLOEXEC);
    if (exe_fd >= 0) {
        assert_int_equal(write(exe_fd, "x", 1), -1);
        assert_int_equal(errno, EPERM);
        close(exe_fd);
    }
    /* Its fds, seen from outside: /dev/null, the pipe twice, the channel. */
    snprintf(path, sizeof path, "/proc/%ld/fd/0", (long)a.pid);
    link_of(path, v, sizeof v);
    assert_string_equal(v, "/dev/null");
    snprintf(path, sizeof path, "/proc/%ld/fd/4", (long)a.pid);
    assert_int_equal(access(path, F_OK), -1);
    /* Its network: only lo. */
    snprintf(path, sizeof path, "/proc/%ld/net/dev", (long)a.pid);
    f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int interfaces = 0;
    int lo = 0;
    for (int n = 0; fgets(line, sizeof line, f) != NULL; n++) {
        if (n >= 2) {
            interfaces++;
            lo += strstr(line, "lo:") != NULL;
        }
    }
    fclose(f);
    assert_int_equal(interfaces, 1);
    assert_int_equal(lo, 1);
    /* Its mounts: a read-only root, no proc. */
    snprintf(path, sizeof path, "/proc/%ld/mountinfo", (long)a.pid);
    f = fopen(path, "r");
    assert_non_null(f);
    int mounts = 0;
    int root_ro = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        mounts++;
        assert_null(strstr(line, " - proc "));
        assert_null(strstr(line, " - sysfs "));
        assert_null(strstr(line, " - devtmpfs "));
        if (strstr(line, " / / ro,") != NULL) {
            root_ro = 1;
        }
    }
    fclose(f);
    assert_true(root_ro);
    assert_true(mounts <= 8);

    /* Closing the channel ends it normally. */
    int status = app_finish(&a);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(leaked);
    nacre_test_rmtree(tmp);
    free(tmp);
}

/* ---- options ----------------------------------------------------------------------------------- */

static void test_options(void **state)
{
    (void)state;
    struct nacre_sandbox_options opts;
    memset(&opts, 0, sizeof opts);
    opts.stdio_fd = -1;
    opts.uid_base = 312345;
    opts.memory_bytes = 64u << 20;
    opts.max_files = 8;
    opts.cpu_seconds = 5;
    opts.max_processes = 2;
    struct app a;
    assert_int_equal(app_start(&a, probe_exe, probe_len, &opts), NACRE_SANDBOX_OK);
    assert_string_equal(read_line_from(a.chan, a.line, sizeof a.line), "ready probe 3");
    char v[64];
    proc_status(a.pid, "Uid", v, sizeof v);
    assert_int_equal(atol(v), 312345);
    assert_string_equal(ask(&a, "rlimit AS"), "rlimit 67108864 67108864");
    assert_string_equal(ask(&a, "rlimit NOFILE"), "rlimit 8 8");
    assert_string_equal(ask(&a, "rlimit CPU"), "rlimit 5 6");
    assert_string_equal(ask(&a, "rlimit NPROC"), "rlimit 2 2");
    expect_err(&a, "alloc 80", ENOMEM, 0);
    /* stdio_fd -1: stdout and stderr are /dev/null. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/fd/1", (long)a.pid);
    link_of(path, v, sizeof v);
    assert_string_equal(v, "/dev/null");
    assert_string_equal(ask(&a, "stdout into the void"), "ok");
    int status = app_finish(&a);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Two apps at once: different host uids, and neither sees the other. */
static void test_two_apps(void **state)
{
    (void)state;
    struct app a, b;
    assert_int_equal(app_start(&a, probe_exe, probe_len, NULL), NACRE_SANDBOX_OK);
    assert_int_equal(app_start(&b, probe_exe, probe_len, NULL), NACRE_SANDBOX_OK);
    read_line_from(a.chan, a.line, sizeof a.line);
    read_line_from(b.chan, b.line, sizeof b.line);
    char ua[64], ub[64];
    proc_status(a.pid, "Uid", ua, sizeof ua);
    proc_status(b.pid, "Uid", ub, sizeof ub);
    assert_int_not_equal(atol(ua), atol(ub));
    char cmd[64];
    snprintf(cmd, sizeof cmd, "%ld 0", (long)b.pid);
    expect_syscall_eperm(&a, "kill(the other app)", SYS_kill, cmd);
    assert_string_equal(ask(&a, "id"), "id 0 0 0 0 1");
    assert_string_equal(ask(&b, "id"), "id 0 0 0 0 1");
    assert_true(WIFEXITED(app_finish(&a)));
    assert_true(WIFEXITED(app_finish(&b)));
}

/* ---- crashes and limits ---------------------------------------------------------------------------- */

static void test_crash_is_reported(void **state)
{
    (void)state;
    struct app a;
    assert_int_equal(app_start(&a, probe_exe, probe_len, NULL), NACRE_SANDBOX_OK);
    read_line_from(a.chan, a.line, sizeof a.line);
    assert_string_equal(ask(&a, "crash"), "ok");
    int status;
    assert_int_equal(waitpid(a.pid, &status, 0), a.pid);
    a.pid = -1;
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSEGV);
    app_finish(&a);
}

/* As pid 1 of its namespace the app ignores SIGXCPU (init protection), so
 * the hard limit's SIGKILL ends it one second later. */
static void test_cpu_limit(void **state)
{
    (void)state;
    struct nacre_sandbox_options opts;
    memset(&opts, 0, sizeof opts);
    opts.stdio_fd = -1;
    opts.cpu_seconds = 1;
    struct app a;
    assert_int_equal(app_start(&a, probe_exe, probe_len, &opts), NACRE_SANDBOX_OK);
    read_line_from(a.chan, a.line, sizeof a.line);
    assert_string_equal(ask(&a, "spin"), "ok");
    int status = -1;
    pid_t r = 0;
    /* 2 s of CPU time; on a loaded machine that takes longer in wall time. */
    for (int i = 0; i < 600 && r == 0; i++) {
        r = waitpid(a.pid, &status, WNOHANG);
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (r != a.pid) {
        kill(a.pid, SIGKILL);
        waitpid(a.pid, &status, 0);
        a.pid = -1;
        print_error("the CPU limit did not stop the app within 60 s\n");
        fail();
    }
    a.pid = -1;
    assert_true(WIFSIGNALED(status));
    assert_true(WTERMSIG(status) == SIGKILL || WTERMSIG(status) == SIGXCPU);
    app_finish(&a);
}

/* ---- precise errors ----------------------------------------------------------------------------------- */

/* ELF little-endian: the offset of the PT_INTERP string, or 0. */
static size_t interp_offset(const uint8_t *e, size_t len)
{
    if (len >= 52 && e[4] == 1 && e[5] == 1) { /* ELF32 (armhf: the qemu-virt-a7 board) */
        uint32_t phoff32;
        memcpy(&phoff32, e + 28, 4);
        uint16_t entsize, num;
        memcpy(&entsize, e + 42, 2);
        memcpy(&num, e + 44, 2);
        for (unsigned i = 0; i < num; i++) {
            const uint8_t *ph = e + phoff32 + (size_t)i * entsize;
            uint32_t type, off;
            memcpy(&type, ph, 4);
            memcpy(&off, ph + 4, 4);
            if (type == 3) {
                return off;
            }
        }
        return 0;
    }
    if (len < 64 || e[4] != 2 || e[5] != 1) {
        return 0;
    }
    uint64_t phoff;
    memcpy(&phoff, e + 32, 8);
    uint16_t phentsize, phnum;
    memcpy(&phentsize, e + 54, 2);
    memcpy(&phnum, e + 56, 2);
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = e + phoff + (size_t)i * phentsize;
        uint32_t type;
        memcpy(&type, ph, 4);
        if (type == 3) {
            uint64_t off;
            memcpy(&off, ph + 8, 8);
            return (size_t)off;
        }
    }
    return 0;
}

static void expect_no_children(void)
{
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static void test_exec_failure(void **state)
{
    (void)state;
    uint8_t *bad = malloc(probe_len);
    assert_non_null(bad);
    int fds_before = count_open_fds();

    /* Not this machine's architecture: the kernel refuses before the point
     * of no return, and the app says so. */
    memcpy(bad, probe_exe, probe_len);
    bad[18] = 0xff;
    bad[19] = 0xff;
    struct app a;
    assert_int_equal(app_start(&a, bad, probe_len, NULL), NACRE_SANDBOX_ERR_SYSTEM);
    assert_string_equal(a.error, "exec: Exec format error");
    assert_int_equal(a.report.applied, ALL_MECHANISMS); /* everything was in place */
    app_finish(&a);
    expect_no_children();

    /* An interpreter that is not in the sandbox. */
    size_t at = interp_offset(probe_exe, probe_len);
    if (at != 0) {
        memcpy(bad, probe_exe, probe_len);
        size_t n = strlen((const char *)bad + at);
        bad[at + n - 1] = 'X';
        assert_int_equal(app_start(&a, bad, probe_len, NULL), NACRE_SANDBOX_ERR_SYSTEM);
        char expect[300];
        snprintf(expect, sizeof expect, "exec: No such file or directory (ELF interpreter %s not in the sandbox)",
                 (const char *)bad + at);
        assert_string_equal(a.error, expect);
        app_finish(&a);
        expect_no_children();
    }
    free(bad);
    assert_int_equal(count_open_fds(), fds_before);
}

static void test_arguments(void **state)
{
    (void)state;
    struct nacre_app_manifest m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "probe");
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = 123;
    char error[256];
    struct nacre_sandbox_report r;
    assert_int_equal(nacre_sandbox_spawn(NULL, probe_exe, probe_len, sv[1], NULL, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    assert_string_equal(error, "sandbox: manifest and pid are required");
    assert_int_equal(pid, -1);
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], NULL, NULL, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    static const uint8_t script[] = "#!/bin/sh\necho hi\n";
    assert_int_equal(nacre_sandbox_spawn(&m, script, sizeof script, sv[1], NULL, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    assert_string_equal(error, "sandbox: exe is not an ELF file");
    assert_int_equal(nacre_sandbox_spawn(&m, NULL, 10, sv[1], NULL, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, -1, NULL, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    assert_string_equal(error, "sandbox: channel_fd is not an open descriptor");
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, 1000000, NULL, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    struct nacre_sandbox_options opts;
    memset(&opts, 0, sizeof opts);
    opts.stdio_fd = 999999;
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], &opts, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    assert_string_equal(error, "sandbox: stdio_fd is neither -1 nor an open descriptor");
    opts.stdio_fd = -1;
    opts.max_files = 3;
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], &opts, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    assert_string_equal(error, "sandbox: max_files must be 0 or at least 4 (stdio and the channel)");
    opts.max_files = 0;
    opts.uid_base = UINT_MAX;
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], &opts, &pid, &r, error, sizeof error),
                     NACRE_SANDBOX_ERR_ARGUMENT);
    /* report and error may be NULL. */
    opts.uid_base = 0;
    assert_int_equal(nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], &opts, &pid, NULL, NULL, 0),
                     NACRE_SANDBOX_OK);
    close(sv[1]);
    char line[128];
    assert_string_equal(read_line_from(sv[0], line, sizeof line), "ready probe 3");
    close(sv[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    expect_no_children();
}

/* ---- degradation: a kernel that refuses a mechanism ------------------------------------------------------ */

#define CHILD_CHECK(cond)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed in the test child: %s\n", __FILE__, __LINE__, \
                    #cond);                                                                \
            _exit(1);                                                                      \
        }                                                                                  \
    } while (0)

/*
 * Make system call nr fail with err in this process and its descendants:
 * always if arg0_bits is 0, else when (arg0 & arg0_bits) != 0 (the low 32
 * bits of the first argument; little-endian hosts). That is what a kernel
 * without the feature, or with it switched off, looks like to the sandbox.
 */
static void refuse_syscall(long nr, uint32_t arg0_bits, int err)
{
    struct sock_filter always[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_filter masked[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 2),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, arg0_bits, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((uint32_t)err & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog;
    if (arg0_bits == 0) {
        prog.len = sizeof always / sizeof always[0];
        prog.filter = always;
    } else {
        prog.len = sizeof masked / sizeof masked[0];
        prog.filter = masked;
    }
    CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHILD_CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0);
}

/* Run body in a forked child that refuses one system call; assert it passed. */
static void in_refusing_child(long nr, uint32_t arg0_bits, int err, void (*body)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        refuse_syscall(nr, arg0_bits, err);
        body();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_error("the test child failed (status 0x%x)\n", (unsigned)status);
        fail();
    }
}

/* The test child's line reader: no cmocka (a failure must not unwind into
 * the test runner's copy in the child). 0 on timeout or EOF. */
static int child_read_line(int chan, char *line, size_t max)
{
    size_t got = 0;
    for (;;) {
        struct pollfd p = {.fd = chan, .events = POLLIN};
        if (poll(&p, 1, REPLY_TIMEOUT_MS) <= 0) {
            return 0;
        }
        char c;
        if (read(chan, &c, 1) != 1) {
            return 0;
        }
        if (c == '\n') {
            line[got] = '\0';
            return 1;
        }
        if (got + 1 < max) {
            line[got++] = c;
        }
    }
}

static int child_ask(int chan, const char *cmd, char *line, size_t max)
{
    size_t n = strlen(cmd);
    if (write(chan, cmd, n) != (ssize_t)n || write(chan, "\n", 1) != 1) {
        return 0;
    }
    return child_read_line(chan, line, max);
}

/* Spawn the probe twice: refused without allow_degraded, run with it. */
static void degraded_launch(uint32_t mechanism, const char *error_prefix, const char *id_line)
{
    struct nacre_app_manifest m;
    memset(&m, 0, sizeof m);
    strcpy(m.name, "probe");
    struct nacre_sandbox_options opts;
    memset(&opts, 0, sizeof opts);
    opts.stdio_fd = -1;
    opts.uid_base = 300777;
    int sv[2];
    CHILD_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid_t pid = 0;
    char error[256];
    struct nacre_sandbox_report r;

    nacre_sandbox_status st = nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], &opts, &pid, &r, error,
                                                  sizeof error);
    fprintf(stderr, "  strict: status %d, \"%s\"\n", st, error);
    CHILD_CHECK(st == NACRE_SANDBOX_ERR_UNSUPPORTED);
    CHILD_CHECK(strncmp(error, error_prefix, strlen(error_prefix)) == 0);
    CHILD_CHECK(pid == -1);
    CHILD_CHECK(r.missing == mechanism);
    CHILD_CHECK(strstr(r.detail, error_prefix) != NULL);
    CHILD_CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);

    opts.allow_degraded = 1;
    st = nacre_sandbox_spawn(&m, probe_exe, probe_len, sv[1], &opts, &pid, &r, error, sizeof error);
    fprintf(stderr, "  degraded: status %d, applied 0x%03x, missing 0x%03x: %s\n", st, r.applied, r.missing,
            r.detail);
    CHILD_CHECK(st == NACRE_SANDBOX_OK);
    CHILD_CHECK(r.missing == mechanism);
    CHILD_CHECK(r.applied == (ALL_MECHANISMS & ~mechanism));
    CHILD_CHECK(strncmp(r.detail, error_prefix, strlen(error_prefix)) == 0);
    close(sv[1]);
    char line[256];
    CHILD_CHECK(child_read_line(sv[0], line, sizeof line) && strcmp(line, "ready probe 3") == 0);
    CHILD_CHECK(child_ask(sv[0], "id", line, sizeof line));
    fprintf(stderr, "  degraded app: %s\n", line);
    CHILD_CHECK(strcmp(line, id_line) == 0);
    /* What is left still holds: no host files, no sockets, no privileges. */
    CHILD_CHECK(child_ask(sv[0], "open /etc/passwd", line, sizeof line) && strncmp(line, "err ", 4) == 0);
    /* fork: EPERM from seccomp, or EAGAIN from RLIMIT_NPROC without it. */
    CHILD_CHECK(child_ask(sv[0], "fork", line, sizeof line));
    fprintf(stderr, "  degraded app, fork: %s\n", line);
    CHILD_CHECK(strcmp(line, "err 1") == 0 || strcmp(line, "err 11") == 0);
    char status_path[64], buf[4096];
    snprintf(status_path, sizeof status_path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(status_path, "r");
    CHILD_CHECK(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    CHILD_CHECK(strstr(buf, "CapEff:\t0000000000000000") != NULL);
    CHILD_CHECK(strstr(buf, "CapBnd:\t0000000000000000") != NULL);
    CHILD_CHECK(strstr(buf, "NoNewPrivs:\t1") != NULL);
    CHILD_CHECK(strstr(buf, "Uid:\t300777\t300777\t300777\t300777") != NULL);
    close(sv[0]);
    int status;
    CHILD_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));

    /* The probe names the same mechanism. */
    CHILD_CHECK(nacre_sandbox_probe(&r) == NACRE_SANDBOX_OK);
    fprintf(stderr, "  probe: applied 0x%03x, missing 0x%03x: %s\n", r.applied, r.missing, r.detail);
    CHILD_CHECK(r.missing == mechanism);
    CHILD_CHECK(r.applied == (ALL_MECHANISMS & ~mechanism));
}

static void landlock_refused(void)
{
    degraded_launch(NACRE_SANDBOX_LANDLOCK,
                    "landlock: landlock_create_ruleset(VERSION): Function not implemented", "id 0 0 0 0 1");
}

static void test_degraded_landlock(void **state)
{
    (void)state;
    in_refusing_child(444 /* landlock_create_ruleset */, 0, ENOSYS, landlock_refused);
}

/* No user namespace: the app runs as the host uid it would have been mapped
 * to, with every other namespace (made by root) still in place. */
static void userns_refused(void)
{
    degraded_launch(NACRE_SANDBOX_USERNS, "user namespace: unshare(CLONE_NEWUSER): Operation not permitted",
                    "id 300777 300777 300777 300777 1");
}

static void test_degraded_userns(void **state)
{
    (void)state;
    in_refusing_child(SYS_unshare, 0x10000000 /* CLONE_NEWUSER */, EPERM, userns_refused);
}

static void seccomp_refused(void)
{
    degraded_launch(NACRE_SANDBOX_SECCOMP, "seccomp: seccomp(SECCOMP_SET_MODE_FILTER): Invalid argument",
                    "id 0 0 0 0 1");
}

static void test_degraded_seccomp(void **state)
{
    (void)state;
    in_refusing_child(SYS_seccomp, 0, EINVAL, seccomp_refused);
}

/* Not a refusal but a system error: never degraded around. */
static void test_system_error_not_degraded(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* memfd_create failing with ENOMEM: a system error. */
        refuse_syscall(SYS_memfd_create, 0, ENOMEM);
        struct nacre_app_manifest m;
        memset(&m, 0, sizeof m);
        strcpy(m.name, "probe");
        struct nacre_sandbox_options opts;
        memset(&opts, 0, sizeof opts);
        opts.stdio_fd = -1;
        opts.allow_degraded = 1;
        pid_t app;
        char error[256];
        nacre_sandbox_status st = nacre_sandbox_spawn(&m, probe_exe, probe_len, 2, &opts, &app, NULL, error,
                                                      sizeof error);
        fprintf(stderr, "  memfd refused: status %d, \"%s\"\n", st, error);
        CHILD_CHECK(st == NACRE_SANDBOX_ERR_SYSTEM);
        CHILD_CHECK(strcmp(error, "memfd exec: memfd_create: Cannot allocate memory") == 0);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH/TO/sandbox_probe\n", argv[0]);
        return 2;
    }
    probe_path = argv[1];
    probe_exe = read_file(probe_path, &probe_len);
    if (probe_exe == NULL) {
        fprintf(stderr, "cannot read %s\n", probe_path);
        return 2;
    }
    /* The children inherit these; a test that hangs must not hold the pipes. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_isolation),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_two_apps),
        cmocka_unit_test(test_crash_is_reported),
        cmocka_unit_test(test_cpu_limit),
        cmocka_unit_test(test_exec_failure),
        cmocka_unit_test(test_arguments),
        cmocka_unit_test(test_degraded_landlock),
        cmocka_unit_test(test_degraded_userns),
        cmocka_unit_test(test_degraded_seccomp),
        cmocka_unit_test(test_system_error_not_degraded),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    free(probe_exe);
    return failed;
}
