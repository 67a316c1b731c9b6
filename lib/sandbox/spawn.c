/*
 * spawn.c - the app sandbox on Linux (nacre/sandbox.h, docs/sandbox.md).
 *
 * Three processes take part in a launch:
 *
 *   caller (secmon)   writes the verified bytes into a sealed memfd, forks
 *        |            the intermediate, writes its uid/gid maps, and reads
 *        |            the launch's outcome from a close-on-exec status pipe
 *   intermediate      drops the caller's supplementary groups, creates the
 *        |            namespaces (user first, so that it owns the others),
 *        |            then clones the app with CLONE_PARENT, reports its pid
 *        |            and exits
 *   app               pid 1 of the new pid namespace and a child of the
 *                     caller (so the caller can waitpid it): builds a
 *                     read-only root, prepares the seccomp program and the
 *                     landlock ruleset, arranges its fds, sets rlimits,
 *                     drops capabilities, sets no_new_privs, restricts
 *                     itself with landlock, loads the seccomp filter, and
 *                     fexecve()s the memfd
 *
 * Why an intermediate: the app must be pid 1 of a new pid namespace
 * (unshare(CLONE_NEWPID) only affects children), its host uid must be
 * mapped by a process that is privileged in the parent user namespace (the
 * caller), and the caller's supplementary groups must be dropped while the
 * process is still privileged on the host (inside a user namespace whose
 * setgroups is "deny" they could never be dropped, and they would still
 * grant group access to host files). Each step's position is explained where
 * it happens.
 *
 * Every message the children send is one fixed-size record, written with a
 * single write() of less than PIPE_BUF bytes so that records from the two
 * children never interleave. The pipe is close-on-exec: the caller sees EOF
 * when the app has exec'd (or died), and READY followed by nothing else
 * means the exec happened.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>

#include <seccomp.h>

#include <nacre/sandbox.h>
#include "sandbox_priv.h"

/* ---- constants -------------------------------------------------------------- */

/* The fds of the app at exec. 3 is NACRE_SECMON_APP_FD (nacre/secmon.h; not
 * included: libsandbox does not depend on libsecmon). 4..6 are close-on-exec
 * and exist only until the exec. */
#define SLOT_CHANNEL 3
#define SLOT_STATUS 4
#define SLOT_EXE 5
#define SLOT_LANDLOCK 6
/* Where fds are parked while they are moved into their slots. */
#define SLOT_PARK 32

#define DEFAULT_MEMORY_BYTES (256ull * 1024u * 1024u)
#define DEFAULT_PROCESSES 1u
#define DEFAULT_FILES 16u
#define DEFAULT_CPU_SECONDS 60u
#define MIN_FILES 4u /* 0, 1, 2 and the channel */
#define DEFAULT_UID_FIRST 200000u
#define DEFAULT_UID_COUNT 65536u
#define HOSTNAME "nacre-app"
/* The new root is built on a tmpfs mounted here (inside the app's private
 * mount namespace only) and then pivoted into. */
#define NEW_ROOT "/tmp"
/* How long the caller waits for the children to report. Every step is a
 * handful of system calls; this only bounds a hung kernel or a stolen pipe. */
#define SETUP_TIMEOUT_MS 30000

/* Landlock uapi values newer than some installed headers. They are kernel
 * ABI and never change; the ABI version (syscall 444 with
 * LANDLOCK_CREATE_RULESET_VERSION) tells which ones this kernel knows. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)
#endif
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010u
#endif

/* struct landlock_ruleset_attr as of ABI 6 (the installed header may be
 * older). The kernel takes a size, so passing only the fields an older ABI
 * knows keeps this working on every landlock kernel. */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI >= 4 */
    uint64_t scoped;             /* ABI >= 6 */
};

/* clone3's struct clone_args, version 0 (64 bytes). */
struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

#define ALL_MECHANISMS 0xfffu

/* ---- messages from the children ------------------------------------------------ */

enum msg_kind {
    MSG_MAPS = 1, /* intermediate: in a new user namespace; write my maps */
    MSG_PID,      /* intermediate: value = the app's pid */
    MSG_MISSING,  /* bits = a mechanism, text = why (degraded) */
    MSG_ERROR,    /* status, text: the launch failed */
    MSG_READY,    /* app: bits = applied; exec follows */
};

struct msg {
    uint32_t kind;
    uint32_t status;
    uint32_t bits;
    int32_t value;
    char text[240];
};
_Static_assert(sizeof(struct msg) < PIPE_BUF, "one atomic write per message");

/* ---- the plan the children follow ------------------------------------------------ */

struct plan {
    int probe;            /* nacre_sandbox_probe: no exec, every failure is "missing" */
    int allow_degraded;
    uid_t uid;            /* host uid and gid of the app's root */
    gid_t gid;
    rlim_t memory_bytes, processes, files, cpu_seconds;
    int status_fd;        /* write end of the status pipe */
    int go_fd;            /* read end of the caller's answer to MSG_MAPS */
    int caller_fds[2];    /* the caller's pipe ends: closed at once in the children */
    int channel_fd, stdio_fd, null_fd, exe_fd;
    int exe_sealed;
    int landlock_fd;
    struct sock_filter *bpf;
    unsigned short bpf_len;
    uint32_t unshared;    /* namespaces the intermediate created */
    uint32_t failing;     /* the mechanism whose failure aborts the launch */
    uint32_t applied;
    int in_userns;
    char what[160];       /* the call that failed, for a message */
    char argv0[40];
    char interp[256];     /* the executable's PT_INTERP ("" = static) */
};

static const char *mechanism_name(uint32_t bit)
{
    switch (bit) {
    case NACRE_SANDBOX_USERNS:
        return "user namespace";
    case NACRE_SANDBOX_MOUNTNS:
        return "mount namespace";
    case NACRE_SANDBOX_PIDNS:
        return "pid namespace";
    case NACRE_SANDBOX_NETNS:
        return "net namespace";
    case NACRE_SANDBOX_IPCNS:
        return "ipc namespace";
    case NACRE_SANDBOX_UTSNS:
        return "uts namespace";
    case NACRE_SANDBOX_NO_NEW_PRIVS:
        return "no_new_privs";
    case NACRE_SANDBOX_SECCOMP:
        return "seccomp";
    case NACRE_SANDBOX_LANDLOCK:
        return "landlock";
    case NACRE_SANDBOX_RLIMITS:
        return "rlimits";
    case NACRE_SANDBOX_NO_CAPS:
        return "capabilities";
    case NACRE_SANDBOX_MEMFD_EXEC:
        return "memfd exec";
    default:
        return "sandbox";
    }
}

/*
 * "The kernel refused a mechanism" versus "a system call failed": a missing
 * feature shows as ENOSYS / EOPNOTSUPP / EINVAL (an unknown flag), and a
 * feature switched off by policy as EPERM / EACCES / ENOSPC (namespace
 * limits) / EUSERS. Resource exhaustion and bad descriptors are not
 * refusals and are never degraded around.
 */
static nacre_sandbox_status classify(int err)
{
    switch (err) {
    case ENOSYS:
    case EOPNOTSUPP:
    case EINVAL:
    case EPERM:
    case EACCES:
    case ENOSPC:
    case EUSERS:
    case ENOENT:
        return NACRE_SANDBOX_ERR_UNSUPPORTED;
    default:
        return NACRE_SANDBOX_ERR_SYSTEM;
    }
}

/*
 * errtext() without the locale: error texts are for logs and tests, and
 * in a child forked from a multi-threaded caller the translation machinery
 * (and its locks) must stay out of the way.
 */
static const char *errtext(int err)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
    const char *s = strerrordesc_np(err);
    return s != NULL ? s : "Unknown error";
#else
    return strerror(err);
#endif
}

/* ---- child side ------------------------------------------------------------------ */

static void send_msg(int fd, uint32_t kind, uint32_t status, uint32_t bits, int32_t value,
                     const char *text)
{
    struct msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    m.status = status;
    m.bits = bits;
    m.value = value;
    if (text != NULL) {
        snprintf(m.text, sizeof m.text, "%s", text);
    }
    ssize_t n;
    do {
        n = write(fd, &m, sizeof m);
    } while (n < 0 && errno == EINTR);
}

static void child_abort(const struct plan *p, nacre_sandbox_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Stop the launch: tell the caller why, exit without running any of the
 * caller's atexit handlers or flushing its stdio buffers (they are copies). */
static void child_abort(const struct plan *p, nacre_sandbox_status st, const char *fmt, ...)
{
    char text[sizeof((struct msg *)0)->text];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 0) {
        text[0] = '\0';
    }
    send_msg(p->status_fd, MSG_ERROR, (uint32_t)st, p->failing, 0, text);
    _exit(1);
}

/*
 * A mechanism could not be applied (err from p->what). In a probe, or for a
 * refusal when the caller allows degraded sandboxes, report it and go on
 * without it; otherwise the launch fails here.
 */
static void child_missing(struct plan *p, uint32_t mechanism, int err)
{
    nacre_sandbox_status st = classify(err);
    p->applied &= ~mechanism;
    if (p->probe || (p->allow_degraded && st == NACRE_SANDBOX_ERR_UNSUPPORTED)) {
        char text[sizeof((struct msg *)0)->text];
        snprintf(text, sizeof text, "%s: %s: %s", mechanism_name(mechanism), p->what, errtext(err));
        send_msg(p->status_fd, MSG_MISSING, 0, mechanism, 0, text);
        return;
    }
    p->failing = mechanism;
    child_abort(p, st, "%s: %s: %s", mechanism_name(mechanism), p->what, errtext(err));
}

static int set_what(struct plan *p, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Record which call failed; returns err so that "return set_what(...)"
 * reads as one step. */
static int set_what(struct plan *p, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(p->what, sizeof p->what, fmt, ap);
    va_end(ap);
    if (n < 0) {
        p->what[0] = '\0';
    }
    return err;
}

/* ---- the app: read-only root ------------------------------------------------------- */

/* Bind src read-only at dst, keeping the flags the kernel locks on a mount
 * inherited from a more privileged namespace (nosuid, nodev, noexec may be
 * kept or added, never cleared; the atime mode is kept by passing none). */
static int bind_readonly(struct plan *p, const char *src, const char *dst)
{
    if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) != 0) {
        return set_what(p, errno, "bind %s", src);
    }
    struct statvfs sv;
    if (statvfs(dst, &sv) != 0) {
        return set_what(p, errno, "statvfs %s", src);
    }
    unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) {
        flags |= MS_NOEXEC;
    }
    if (mount(NULL, dst, NULL, flags, NULL) != 0) {
        return set_what(p, errno, "remount %s read-only", src);
    }
    return 0;
}

/*
 * The app's whole file system: an empty read-only tmpfs holding read-only
 * binds of /usr, /lib and /lib64 (or the same symlinks as the host, on a
 * merged-/usr system) and /etc/ld.so.cache, which is what the dynamic loader
 * and libc need. No /proc (so no host processes and no /proc/self/fd tricks),
 * no /dev (stdio is open already), no /tmp, no /etc beyond the loader cache,
 * no storage (that goes through secmon). Landlock then narrows even this,
 * and keeps narrowing if this step is ever degraded.
 */
static int build_root(struct plan *p)
{
    /* Private first: nothing mounted below may propagate to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        return set_what(p, errno, "make / private");
    }
    if (mount("nacre-root", NEW_ROOT, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=64k") != 0) {
        return set_what(p, errno, "mount tmpfs on " NEW_ROOT);
    }
    static const char *const dirs[] = {"usr", "lib", "lib64"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        char src[32];
        char dst[64];
        snprintf(src, sizeof src, "/%s", dirs[i]);
        snprintf(dst, sizeof dst, NEW_ROOT "/%s", dirs[i]);
        struct stat st;
        if (lstat(src, &st) != 0) {
            if (errno == ENOENT) {
                continue;
            }
            return set_what(p, errno, "lstat %s", src);
        }
        if (S_ISLNK(st.st_mode)) {
            /* Merged /usr: /lib -> usr/lib. The same link inside the new root
             * resolves inside it. */
            char target[PATH_MAX];
            ssize_t n = readlink(src, target, sizeof target - 1);
            if (n < 0) {
                return set_what(p, errno, "readlink %s", src);
            }
            target[n] = '\0';
            if (symlink(target, dst) != 0) {
                return set_what(p, errno, "symlink %s", src);
            }
            continue;
        }
        if (!S_ISDIR(st.st_mode)) {
            continue;
        }
        if (mkdir(dst, 0755) != 0) {
            return set_what(p, errno, "mkdir %s", dst);
        }
        int err = bind_readonly(p, src, dst);
        if (err != 0) {
            return err;
        }
    }
    struct stat cache;
    if (stat("/etc/ld.so.cache", &cache) == 0 && S_ISREG(cache.st_mode)) {
        if (mkdir(NEW_ROOT "/etc", 0755) != 0) {
            return set_what(p, errno, "mkdir /etc");
        }
        int fd = open(NEW_ROOT "/etc/ld.so.cache", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
        if (fd < 0) {
            return set_what(p, errno, "create /etc/ld.so.cache mount point");
        }
        close(fd);
        int err = bind_readonly(p, "/etc/ld.so.cache", NEW_ROOT "/etc/ld.so.cache");
        if (err != 0) {
            return err;
        }
    }
    /* pivot_root(".", ".") stacks the old root on the new one; detaching it
     * then leaves no path back to the host's tree (chroot would leave one). */
    if (chdir(NEW_ROOT) != 0) {
        return set_what(p, errno, "chdir " NEW_ROOT);
    }
    if (syscall(SYS_pivot_root, ".", ".") != 0) {
        return set_what(p, errno, "pivot_root");
    }
    if (umount2(".", MNT_DETACH) != 0) {
        return set_what(p, errno, "detach the old root");
    }
    if (chdir("/") != 0) {
        return set_what(p, errno, "chdir /");
    }
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        return set_what(p, errno, "remount / read-only");
    }
    return 0;
}

/* ---- the app: seccomp ---------------------------------------------------------------- */

/*
 * What a small C program linked against glibc needs, and no more. Absent on
 * purpose: socket/socketpair/connect/bind/listen/accept (sockets come from
 * secmon's broker already connected), clone/clone3/fork/vfork (one process,
 * no threads), execve (see execveat below), ptrace, process_vm_*, mount,
 * umount2, pivot_root, chroot, unshare, setns, set*id and setgroups, capset,
 * prctl, seccomp, landlock_*, bpf, perf_event_open, keyctl/add_key/
 * request_key, personality, io_uring_*, userfaultfd, ioctl, kexec_*, init/
 * finit/delete_module, reboot, swapon, acct, quotactl, mknod, every write to
 * the file system (it is read-only anyway). A missing call fails with EPERM
 * rather than killing: a library probing for an optional call must survive.
 */
static const char *const allowed_syscalls[] = {
    "read", "write", "readv", "writev", "pread64", "lseek", "close",
    "fstat", "newfstatat", "statx",
    "mmap", "munmap", "mprotect", "mremap", "brk", "madvise",
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
    "exit", "exit_group", "restart_syscall",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
    "getrandom", "futex", "set_robust_list", "rseq", "set_tid_address", "arch_prctl",
    "getpid", "gettid", "getuid", "geteuid", "getgid", "getegid", "uname",
    "openat", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
    "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown",
    "poll", "ppoll", "sched_yield",
    /* The same calls under their 32-bit ABI names (armhf: the qemu-virt-a7
     * board); names that are not system calls here are skipped. */
    "mmap2", "fstat64", "fstatat64", "_llseek", "sigreturn", "set_tls",
    "clock_gettime64", "clock_getres_time64", "clock_nanosleep_time64", "futex_time64",
    "ppoll_time64", "getuid32", "geteuid32", "getgid32", "getegid32", "send", "recv",
};

static int add_rule(scmp_filter_ctx ctx, const char *name, unsigned count, const struct scmp_arg_cmp *cmp)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) {
        return 0; /* not a system call on this architecture */
    }
    return seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, count, cmp);
}

/* Compare the low 32 bits only: int arguments may arrive with junk above. */
#define ARG32(index, value) \
    ((struct scmp_arg_cmp){(index), SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)(uint32_t)(value)})

static int build_filter(struct plan *p, scmp_filter_ctx ctx)
{
    /* Another architecture's system call numbers (i386 through int 0x80 on
     * x86-64) would bypass every rule: kill. KILL_PROCESS needs Linux 4.14;
     * before that libseccomp refuses it and KILL (the thread) is the same
     * thing for a single-threaded app. */
    int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (rc < 0) {
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL);
    }
    if (rc < 0) {
        return set_what(p, -rc, "seccomp_attr_set");
    }
    for (size_t i = 0; i < sizeof allowed_syscalls / sizeof allowed_syscalls[0]; i++) {
        rc = add_rule(ctx, allowed_syscalls[i], 0, NULL);
        if (rc < 0) {
            return set_what(p, -rc, "seccomp rule %s", allowed_syscalls[i]);
        }
    }
    /* Signals only to itself (abort(), raise()): never to secmon or another
     * app, whatever the pid namespace shows. */
    pid_t self = getpid();
    struct scmp_arg_cmp to_self[1] = {ARG32(0, self)};
    static const char *const signal_calls[] = {"kill", "tkill", "tgkill"};
    for (size_t i = 0; i < sizeof signal_calls / sizeof signal_calls[0]; i++) {
        rc = add_rule(ctx, signal_calls[i], 1, to_self);
        if (rc < 0) {
            return set_what(p, -rc, "seccomp rule %s", signal_calls[i]);
        }
    }
    /* getrlimit/setrlimit of itself (pid 0) only; raising a hard limit
     * needs a capability it does not have. */
    struct scmp_arg_cmp self_pid0[1] = {ARG32(0, 0)};
    rc = add_rule(ctx, "prlimit64", 1, self_pid0);
    if (rc < 0) {
        return set_what(p, -rc, "seccomp rule prlimit64");
    }
    /* fcntl: descriptor and status flags; not F_SETOWN / F_SETSIG (signals
     * to other processes) nor leases and locks. */
    static const int fcntl_cmds[] = {F_GETFD, F_SETFD, F_GETFL, F_SETFL};
    for (size_t i = 0; i < sizeof fcntl_cmds / sizeof fcntl_cmds[0]; i++) {
        struct scmp_arg_cmp cmd[1] = {ARG32(1, fcntl_cmds[i])};
        rc = add_rule(ctx, "fcntl", 1, cmd);
        if (rc == 0) {
            rc = add_rule(ctx, "fcntl64", 1, cmd); /* 32-bit ABIs */
        }
        if (rc < 0) {
            return set_what(p, -rc, "seccomp rule fcntl");
        }
    }
    /*
     * The filter is loaded before the exec, so the exec itself must pass
     * it: only execveat(SLOT_EXE, "", ..., AT_EMPTY_PATH), which is what
     * fexecve() does. After the exec fd SLOT_EXE is closed; the residual
     * risk is an app that opens another file at that number and execs it.
     * Landlock allows EXECUTE on nothing but the ELF interpreter, and a new
     * program inherits every restriction here (namespaces, no privileges,
     * landlock, this filter, the rlimits), so the app gains other code, not
     * other authority.
     */
    struct scmp_arg_cmp exec_cmp[2] = {ARG32(0, SLOT_EXE), ARG32(4, AT_EMPTY_PATH)};
    rc = add_rule(ctx, "execveat", 2, exec_cmp);
    if (rc < 0) {
        return set_what(p, -rc, "seccomp rule execveat");
    }
    return 0;
}

/*
 * Compile the filter to BPF now, while the app may still allocate (the
 * address-space limit comes later), and keep the program: loading it at the
 * end is then a single system call with nothing left to allocate.
 */
static int prepare_seccomp(struct plan *p)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (ctx == NULL) {
        return set_what(p, ENOMEM, "seccomp_init");
    }
    int err = build_filter(p, ctx);
    int mfd = -1;
    if (err == 0) {
        mfd = memfd_create("nacre-seccomp", MFD_CLOEXEC);
        if (mfd < 0) {
            err = set_what(p, errno, "memfd for the filter");
        }
    }
    if (err == 0) {
        int rc = seccomp_export_bpf(ctx, mfd);
        if (rc < 0) {
            err = set_what(p, -rc, "seccomp_export_bpf");
        }
    }
    seccomp_release(ctx);
    if (err != 0) {
        if (mfd >= 0) {
            close(mfd);
        }
        return err;
    }
    off_t size = lseek(mfd, 0, SEEK_END);
    if (size <= 0 || size % (off_t)sizeof(struct sock_filter) != 0 ||
        size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
        close(mfd);
        return set_what(p, EINVAL, "exported filter size");
    }
    p->bpf = malloc((size_t)size);
    if (p->bpf == NULL || pread(mfd, p->bpf, (size_t)size, 0) != size) {
        close(mfd);
        return set_what(p, ENOMEM, "read the exported filter");
    }
    close(mfd);
    p->bpf_len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    return 0;
}

static int load_seccomp(struct plan *p)
{
    struct sock_fprog prog = {.len = p->bpf_len, .filter = p->bpf};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        return set_what(p, errno, "seccomp(SECCOMP_SET_MODE_FILTER)");
    }
    return 0;
}

/* ---- the app: landlock --------------------------------------------------------------- */

static uint64_t landlock_fs_rights(long abi)
{
    uint64_t rights = (LANDLOCK_ACCESS_FS_MAKE_SYM << 1) - 1; /* ABI 1: EXECUTE..MAKE_SYM */
    if (abi >= 2) {
        rights |= LANDLOCK_ACCESS_FS_REFER;
    }
    if (abi >= 3) {
        rights |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    if (abi >= 5) {
        rights |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    }
    return rights;
}

/* Allow `rights` beneath path (a directory, or just that file). A path that
 * does not exist needs no rule. */
static int landlock_allow(struct plan *p, int ruleset, const char *path, uint64_t rights)
{
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) {
        return errno == ENOENT ? 0 : set_what(p, errno, "open %s", path);
    }
    struct landlock_path_beneath_attr rule = {.allowed_access = rights, .parent_fd = fd};
    long rc = syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0);
    int err = errno;
    close(fd);
    return rc == 0 ? 0 : set_what(p, err, "landlock_add_rule %s", path);
}

/*
 * Every file-system right this kernel's landlock knows is handled (denied
 * unless a rule allows it); the rules allow reading the system libraries
 * and the loader cache, and executing the ELF interpreter (the kernel opens
 * it for exec during fexecve, under this domain). Nothing is writable,
 * nothing else readable. With ABI >= 4 TCP bind/connect are handled with no
 * rule (denied: sockets come connected from the broker); with ABI >= 6
 * signals and abstract unix sockets are scoped to the domain (no signal to
 * secmon even if some other layer failed). Built here, after the new root
 * exists (the rules name its paths), applied after no_new_privs.
 */
static int prepare_landlock(struct plan *p)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        return set_what(p, errno, "landlock_create_ruleset(VERSION)");
    }
    struct ruleset_attr attr = {.handled_access_fs = landlock_fs_rights(abi)};
    size_t size = sizeof attr.handled_access_fs;
    if (abi >= 4) {
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        size += sizeof attr.handled_access_net;
    }
    if (abi >= 6) {
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        size += sizeof attr.scoped;
    }
    int ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (ruleset < 0) {
        return set_what(p, errno, "landlock_create_ruleset (ABI %ld)", abi);
    }
    const uint64_t read_tree = LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
    static const char *const trees[] = {"/usr", "/lib", "/lib64"};
    int err = 0;
    for (size_t i = 0; i < sizeof trees / sizeof trees[0] && err == 0; i++) {
        err = landlock_allow(p, ruleset, trees[i], read_tree);
    }
    if (err == 0) {
        err = landlock_allow(p, ruleset, "/etc/ld.so.cache", LANDLOCK_ACCESS_FS_READ_FILE);
    }
    if (err == 0 && p->interp[0] != '\0') {
        err = landlock_allow(p, ruleset, p->interp,
                             LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_EXECUTE);
    }
    if (err != 0) {
        close(ruleset);
        return err;
    }
    p->landlock_fd = ruleset;
    return 0;
}

/* ---- the app: descriptors, limits, credentials ------------------------------------------- */

/*
 * 0 = /dev/null, 1 and 2 = the caller's stdio fd (or /dev/null), 3 = the
 * channel; 4 (status), 5 (executable), 6 (landlock ruleset) close on exec;
 * everything else the caller had open (other apps' channels, the device
 * files) is closed. Every source is first parked above SLOT_PARK so that no
 * dup2() can overwrite a source that is still to be moved.
 */
static void arrange_fds(struct plan *p)
{
    int out = p->stdio_fd >= 0 ? p->stdio_fd : p->null_fd;
    int src[6] = {p->null_fd, out, p->channel_fd, p->status_fd, p->exe_fd, p->landlock_fd};
    int park[6];
    for (size_t i = 0; i < 6; i++) {
        park[i] = -1;
        if (src[i] >= 0) {
            park[i] = fcntl(src[i], F_DUPFD_CLOEXEC, SLOT_PARK);
            if (park[i] < 0) {
                child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "descriptors: fcntl(F_DUPFD_CLOEXEC): %s",
                            errtext(errno));
            }
        }
        if (i == 3) {
            p->status_fd = park[3];
        }
    }
    if (dup2(park[0], 0) < 0 || dup2(park[1], 1) < 0 || dup2(park[1], 2) < 0 ||
        dup2(park[2], SLOT_CHANNEL) < 0 || dup3(park[3], SLOT_STATUS, O_CLOEXEC) < 0) {
        child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "descriptors: dup2: %s", errtext(errno));
    }
    p->status_fd = SLOT_STATUS;
    if (park[4] >= 0) { /* absent only in a probe whose memfd failed */
        if (dup3(park[4], SLOT_EXE, O_CLOEXEC) < 0) {
            child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "descriptors: dup3: %s", errtext(errno));
        }
        p->exe_fd = SLOT_EXE;
    }
    unsigned first_closed = SLOT_LANDLOCK;
    if (park[5] >= 0) {
        if (dup3(park[5], SLOT_LANDLOCK, O_CLOEXEC) < 0) {
            child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "descriptors: dup3: %s", errtext(errno));
        }
        p->landlock_fd = SLOT_LANDLOCK;
        first_closed = SLOT_LANDLOCK + 1;
    }
    if (close_range(first_closed, ~0u, 0) != 0) {
        /* Before Linux 5.9: close one by one up to the hard limit. */
        struct rlimit rl;
        rlim_t top = (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
                      rl.rlim_max < 1048576u) ? rl.rlim_max : 1048576u;
        for (rlim_t fd = first_closed; fd < top; fd++) {
            close((int)fd);
        }
    }
}

static int set_limit(struct plan *p, int resource, const char *name, rlim_t soft, rlim_t hard)
{
    struct rlimit cur;
    if (getrlimit(resource, &cur) != 0) {
        return set_what(p, errno, "getrlimit(%s)", name);
    }
    /* Raising a hard limit needs CAP_SYS_RESOURCE on the host; a request
     * above the caller's own hard limit is met by that (lower) limit. */
    if (cur.rlim_max != RLIM_INFINITY) {
        hard = hard > cur.rlim_max ? cur.rlim_max : hard;
        soft = soft > hard ? hard : soft;
    }
    struct rlimit rl = {.rlim_cur = soft, .rlim_max = hard};
    if (setrlimit(resource, &rl) != 0) {
        return set_what(p, errno, "setrlimit(%s)", name);
    }
    return 0;
}

/*
 * Hard limits equal to the soft ones, so that the app cannot raise them
 * back. CPU: SIGXCPU at the limit, SIGKILL one second later. Set after every
 * step that may allocate (an address-space limit below what the caller had
 * mapped would make any later mmap fail) and after the fds are arranged.
 */
static int set_rlimits(struct plan *p)
{
    int err = set_limit(p, RLIMIT_AS, "RLIMIT_AS", p->memory_bytes, p->memory_bytes);
    if (err == 0) {
        err = set_limit(p, RLIMIT_NPROC, "RLIMIT_NPROC", p->processes, p->processes);
    }
    if (err == 0) {
        err = set_limit(p, RLIMIT_NOFILE, "RLIMIT_NOFILE", p->files, p->files);
    }
    if (err == 0) {
        err = set_limit(p, RLIMIT_CPU, "RLIMIT_CPU", p->cpu_seconds, p->cpu_seconds + 1);
    }
    if (err == 0) {
        err = set_limit(p, RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
    }
    return err;
}

/*
 * Without a user namespace (degraded) the app would still be the caller's
 * uid: if that is root, become the app's host uid here, after everything
 * that needed root and before the exec. Running an app as host root is
 * never an acceptable degradation, so a failure here always aborts.
 */
static void become_host_user(struct plan *p)
{
    if (p->in_userns || geteuid() != 0) {
        return;
    }
    if (setgroups(0, NULL) != 0 || setresgid(p->gid, p->gid, p->gid) != 0 ||
        setresuid(p->uid, p->uid, p->uid) != 0) {
        child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "credentials: becoming uid %u: %s", (unsigned)p->uid,
                    errtext(errno));
    }
}

/*
 * All capabilities, in every set, in three steps: the bounding set first (it
 * needs CAP_SETPCAP, as do the securebits), then the securebits that keep
 * root (the app's uid inside its namespace) from regaining capabilities
 * through exec; then (run_app) the uid change of a launch without a user
 * namespace; then ambient and the effective / permitted / inheritable sets,
 * and a check that they are empty.
 */
static int drop_bounding(struct plan *p)
{
    for (unsigned long cap = 0; cap < 64; cap++) {
        int has = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (has < 0) {
            if (errno == EINVAL) {
                break; /* past the last capability this kernel knows */
            }
            return set_what(p, errno, "PR_CAPBSET_READ");
        }
        if (has && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
            return set_what(p, errno, "PR_CAPBSET_DROP(%lu)", cap);
        }
    }
    unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
                         SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                         SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) {
        return set_what(p, errno, "PR_SET_SECUREBITS");
    }
    return 0;
}

static int drop_effective(struct plan *p)
{
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
        return set_what(p, errno, "PR_CAP_AMBIENT_CLEAR_ALL");
    }
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0) {
        return set_what(p, errno, "capset");
    }
    if (syscall(SYS_capget, &hdr, data) != 0) {
        return set_what(p, errno, "capget");
    }
    for (size_t i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        if (data[i].effective != 0 || data[i].permitted != 0 || data[i].inheritable != 0) {
            return set_what(p, EPERM, "capabilities still present after capset");
        }
    }
    return 0;
}

/* ---- the app --------------------------------------------------------------------------- */

static void run_app(struct plan *p) __attribute__((noreturn));

static void run_app(struct plan *p)
{
    /* The caller's handlers are copies of code that assumes the caller's
     * state; every signal is blocked (since before the fork) and goes back
     * to its default here, so that neither they nor an ignored SIGPIPE or
     * SIGCHLD reach the app. */
    for (int sig = 1; sig < NSIG; sig++) {
        signal(sig, SIG_DFL);
    }

    /* 1. The file system, while the app is still privileged in its
     * namespaces (mount needs CAP_SYS_ADMIN there) and before landlock
     * (a landlocked process may not mount or pivot_root). */
    if (p->unshared & NACRE_SANDBOX_MOUNTNS) {
        int err = build_root(p);
        if (err != 0) {
            child_missing(p, NACRE_SANDBOX_MOUNTNS, err);
        } else {
            p->applied |= NACRE_SANDBOX_MOUNTNS;
        }
    }
    if (p->unshared & NACRE_SANDBOX_UTSNS) {
        if (sethostname(HOSTNAME, sizeof HOSTNAME - 1) != 0) {
            child_missing(p, NACRE_SANDBOX_UTSNS, set_what(p, errno, "sethostname"));
        } else {
            p->applied |= NACRE_SANDBOX_UTSNS;
        }
    }
    /* PID, NET (only lo, down) and IPC need nothing beyond the unshare. */

    /* 2. Prepare (allocate, open) what the last steps need, before the
     * limits and the fd clean-up. */
    int err = prepare_seccomp(p);
    if (err != 0) {
        child_missing(p, NACRE_SANDBOX_SECCOMP, err);
    }
    err = prepare_landlock(p);
    if (err != 0) {
        child_missing(p, NACRE_SANDBOX_LANDLOCK, err);
    }

    /* 3. Descriptors: nothing of the caller's survives but the channel. */
    arrange_fds(p);

    /* 4. Limits. */
    err = set_rlimits(p);
    if (err != 0) {
        child_missing(p, NACRE_SANDBOX_RLIMITS, err);
    } else {
        p->applied |= NACRE_SANDBOX_RLIMITS;
    }

    /* 5. Capabilities: after the last step that needed them. The uid
     * change of a launch without a user namespace happens in the middle,
     * whatever else failed (it needs CAP_SETUID, which capset removes). */
    int caps_err = drop_bounding(p);
    if (caps_err != 0) {
        child_missing(p, NACRE_SANDBOX_NO_CAPS, caps_err);
    }
    become_host_user(p);
    err = drop_effective(p);
    if (err != 0) {
        child_missing(p, NACRE_SANDBOX_NO_CAPS, err);
    } else if (caps_err == 0) {
        p->applied |= NACRE_SANDBOX_NO_CAPS;
    }

    /* 6. no_new_privs: exec can no longer grant anything (setuid bits, file
     * capabilities), and it is what lets an unprivileged process install
     * landlock and seccomp. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) {
        child_missing(p, NACRE_SANDBOX_NO_NEW_PRIVS, set_what(p, errno, "PR_SET_NO_NEW_PRIVS"));
    } else {
        p->applied |= NACRE_SANDBOX_NO_NEW_PRIVS;
    }

    /* 7. Landlock, then 8. seccomp last: the filter would refuse the set-up
     * calls above (landlock_restrict_self included). */
    if (p->landlock_fd >= 0) {
        if (syscall(__NR_landlock_restrict_self, p->landlock_fd, 0) != 0) {
            child_missing(p, NACRE_SANDBOX_LANDLOCK, set_what(p, errno, "landlock_restrict_self"));
        } else {
            p->applied |= NACRE_SANDBOX_LANDLOCK;
        }
        close(p->landlock_fd);
        p->landlock_fd = -1;
    }
    if (p->bpf != NULL) {
        err = load_seccomp(p);
        if (err != 0) {
            child_missing(p, NACRE_SANDBOX_SECCOMP, err);
        } else {
            p->applied |= NACRE_SANDBOX_SECCOMP;
        }
    }

    /* 9. The exec of the sealed memfd: the verified bytes and nothing else.
     * No path is involved, so nothing in any file system can be swapped in
     * between the verification and the exec. */
    char *argv[] = {p->argv0, NULL};
    char *envp[] = {"NACRE_SECMON_FD=3", NULL};
    if (p->probe) {
        /* The probe's memfd is not a program: reaching the binary-format
         * check (ENOEXEC) proves the exec path itself is open. */
        int exec_err = EBADF;
        if (p->exe_fd >= 0) {
            fexecve(p->exe_fd, argv, envp);
            exec_err = errno;
        }
        if (exec_err == ENOEXEC && p->exe_sealed) {
            p->applied |= NACRE_SANDBOX_MEMFD_EXEC;
        } else if (exec_err != ENOEXEC) {
            child_missing(p, NACRE_SANDBOX_MEMFD_EXEC, set_what(p, exec_err, "fexecve"));
        }
        send_msg(p->status_fd, MSG_READY, 0, p->applied, 0, NULL);
        _exit(0);
    }
    if (p->exe_sealed) {
        p->applied |= NACRE_SANDBOX_MEMFD_EXEC;
    }
    send_msg(p->status_fd, MSG_READY, 0, p->applied, 0, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    fexecve(p->exe_fd, argv, envp);
    int exec_err = errno;
    if (exec_err == ENOENT && p->interp[0] != '\0') {
        child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "exec: %s (ELF interpreter %s not in the sandbox)",
                    errtext(exec_err), p->interp);
    }
    child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "exec: %s", errtext(exec_err));
}

/* ---- the intermediate ------------------------------------------------------------------- */

/* A child of our caller, not of us: the caller can then waitpid() the app. */
static pid_t clone_sibling(void)
{
    struct clone_args_v0 args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PARENT; /* exit_signal must be 0: it is inherited */
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid < 0 && errno == ENOSYS) {
        /* Before Linux 5.3. flags comes first on every architecture but
         * s390, and all the other arguments are 0. */
        pid = syscall(SYS_clone, CLONE_PARENT, 0, 0, 0, 0);
    }
    return (pid_t)pid;
}

static void run_intermediate(struct plan *p) __attribute__((noreturn));

static void run_intermediate(struct plan *p)
{
    /* Without this, a caller that died mid-launch would leave us waiting
     * on a pipe whose write end we hold ourselves. */
    close(p->caller_fds[0]);
    close(p->caller_fds[1]);

    /* Still root on the host: the only moment the caller's supplementary
     * groups can be dropped (the user namespace will deny setgroups). */
    if (geteuid() == 0 && setgroups(0, NULL) != 0) {
        child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "user namespace: setgroups: %s", errtext(errno));
    }

    /* The user namespace first, alone: the namespaces created after it
     * belong to it, so the app's capabilities over them end with it. */
    if (unshare(CLONE_NEWUSER) == 0) {
        send_msg(p->status_fd, MSG_MAPS, 0, 0, 0, NULL);
        char answer = '0';
        ssize_t n;
        do {
            n = read(p->go_fd, &answer, 1);
        } while (n < 0 && errno == EINTR);
        if (n != 1 || answer == '0') {
            _exit(1); /* the caller has the reason */
        }
        /* Still host uid 0 (unmapped) in the kernel's eyes: become the
         * mapped root, i.e. the app's host uid, before touching anything. */
        if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) {
            child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "user namespace: setresuid(0) after mapping: %s",
                        errtext(errno));
        }
        p->in_userns = 1;
        if (answer == '1') {
            p->applied |= NACRE_SANDBOX_USERNS;
        }
    } else {
        child_missing(p, NACRE_SANDBOX_USERNS, set_what(p, errno, "unshare(CLONE_NEWUSER)"));
    }

    static const struct {
        int flag;
        uint32_t mechanism;
        const char *call;
    } namespaces[] = {
        {CLONE_NEWNS, NACRE_SANDBOX_MOUNTNS, "unshare(CLONE_NEWNS)"},
        {CLONE_NEWPID, NACRE_SANDBOX_PIDNS, "unshare(CLONE_NEWPID)"},
        {CLONE_NEWNET, NACRE_SANDBOX_NETNS, "unshare(CLONE_NEWNET)"},
        {CLONE_NEWIPC, NACRE_SANDBOX_IPCNS, "unshare(CLONE_NEWIPC)"},
        {CLONE_NEWUTS, NACRE_SANDBOX_UTSNS, "unshare(CLONE_NEWUTS)"},
    };
    for (size_t i = 0; i < sizeof namespaces / sizeof namespaces[0]; i++) {
        if (unshare(namespaces[i].flag) == 0) {
            p->unshared |= namespaces[i].mechanism;
        } else {
            child_missing(p, namespaces[i].mechanism, set_what(p, errno, "%s", namespaces[i].call));
        }
    }
    /* Mount and uts count once the app has used them. */
    p->applied |= p->unshared & (NACRE_SANDBOX_PIDNS | NACRE_SANDBOX_NETNS | NACRE_SANDBOX_IPCNS);

    pid_t app = clone_sibling();
    if (app < 0) {
        child_abort(p, NACRE_SANDBOX_ERR_SYSTEM, "clone: %s", errtext(errno));
    }
    if (app == 0) {
        run_app(p);
    }
    send_msg(p->status_fd, MSG_PID, 0, 0, (int32_t)app, NULL);
    _exit(0);
}

/* ---- caller side --------------------------------------------------------------------------- */

static int write_proc(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int err = (n == (ssize_t)len) ? 0 : (n < 0 ? errno : EIO);
    close(fd);
    return err;
}

/* setgroups "deny" (before gid_map, as the kernel requires), then one uid
 * and one gid: the app's root and nobody else. */
static int write_maps(pid_t pid, uid_t uid, gid_t gid, const char **file)
{
    char line[64];
    *file = "setgroups";
    int err = write_proc(pid, "setgroups", "deny");
    if (err != 0 && err != ENOENT) { /* ENOENT: before Linux 3.19 */
        return err;
    }
    *file = "uid_map";
    snprintf(line, sizeof line, "0 %u 1\n", (unsigned)uid);
    if ((err = write_proc(pid, "uid_map", line)) != 0) {
        return err;
    }
    *file = "gid_map";
    snprintf(line, sizeof line, "0 %u 1\n", (unsigned)gid);
    return write_proc(pid, "gid_map", line);
}

/* What the caller learnt from the children. */
struct outcome {
    uint32_t applied;
    uint32_t missing;
    char detail[sizeof((struct nacre_sandbox_report *)0)->detail];
    int failed;
    nacre_sandbox_status status;
    char error[sizeof((struct msg *)0)->text];
    int ready;
    pid_t app;
};

static void outcome_fail(struct outcome *o, nacre_sandbox_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first failure wins: later ones are consequences. */
static void outcome_fail(struct outcome *o, nacre_sandbox_status st, const char *fmt, ...)
{
    if (o->failed) {
        return;
    }
    o->failed = 1;
    o->status = st;
    va_list ap;
    va_start(ap, fmt);
    sandbox_verror(o->error, sizeof o->error, fmt, ap);
    va_end(ap);
}

static void outcome_missing(struct outcome *o, uint32_t mechanism, const char *text)
{
    o->missing |= mechanism;
    size_t used = strlen(o->detail);
    if (used + 1 < sizeof o->detail) {
        snprintf(o->detail + used, sizeof o->detail - used, "%s%s", used > 0 ? "; " : "", text);
    }
}

/* The intermediate is in its user namespace: map it, and tell it so. */
static void answer_maps(struct outcome *o, const struct plan *p, pid_t mid, int go_fd)
{
    const char *file;
    char answer = '1';
    int err = write_maps(mid, p->uid, p->gid, &file);
    if (err == EPERM && geteuid() != 0 && (p->allow_degraded || p->probe)) {
        /* Not root: the only map allowed is the caller's own ids, so the app
         * shares the caller's host uid. A namespace, but not a separate uid. */
        char text[160];
        err = write_maps(mid, geteuid(), getegid(), &file);
        snprintf(text, sizeof text, "user namespace: not root, the app runs as the caller's uid %u",
                 (unsigned)geteuid());
        if (err == 0) {
            outcome_missing(o, NACRE_SANDBOX_USERNS, text);
            answer = '2';
        }
    }
    if (err != 0) {
        nacre_sandbox_status st = (err == EPERM) ? NACRE_SANDBOX_ERR_UNSUPPORTED : NACRE_SANDBOX_ERR_SYSTEM;
        outcome_fail(o, st, "user namespace: writing /proc/%ld/%s for uid %u: %s", (long)mid, file,
                     (unsigned)p->uid, errtext(err));
        answer = '0';
    }
    ssize_t n;
    do {
        n = write(go_fd, &answer, 1);
    } while (n < 0 && errno == EINTR);
}

static long ms_since(const struct timespec *start)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - start->tv_sec) * 1000L + (now.tv_nsec - start->tv_nsec) / 1000000L;
}

/* Read messages until every write end is closed (EOF). */
static void converse(struct outcome *o, const struct plan *p, pid_t mid, int status_fd, int go_fd)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        long left = SETUP_TIMEOUT_MS - ms_since(&start);
        if (left <= 0) {
            outcome_fail(o, NACRE_SANDBOX_ERR_SYSTEM, "sandbox set-up timed out after %d ms",
                         SETUP_TIMEOUT_MS);
            return;
        }
        struct pollfd pfd = {.fd = status_fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            outcome_fail(o, NACRE_SANDBOX_ERR_SYSTEM, "poll: %s", errtext(errno));
            return;
        }
        if (r == 0) {
            continue;
        }
        struct msg m;
        size_t got = 0;
        while (got < sizeof m) {
            ssize_t n = read(status_fd, (char *)&m + got, sizeof m - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        if (got == 0) {
            return; /* EOF */
        }
        if (got != sizeof m) {
            outcome_fail(o, NACRE_SANDBOX_ERR_SYSTEM, "sandbox status pipe: short message");
            return;
        }
        m.text[sizeof m.text - 1] = '\0';
        switch (m.kind) {
        case MSG_MAPS:
            answer_maps(o, p, mid, go_fd);
            break;
        case MSG_PID:
            o->app = (pid_t)m.value;
            break;
        case MSG_MISSING:
            outcome_missing(o, m.bits & ALL_MECHANISMS, m.text);
            break;
        case MSG_ERROR:
            if (!o->failed && (m.bits & ALL_MECHANISMS) != 0) {
                outcome_missing(o, m.bits & ALL_MECHANISMS, m.text);
            }
            outcome_fail(o, (nacre_sandbox_status)m.status, "%s", m.text);
            break;
        case MSG_READY:
            o->ready = 1;
            o->applied = m.bits & ALL_MECHANISMS;
            break;
        default:
            outcome_fail(o, NACRE_SANDBOX_ERR_SYSTEM, "sandbox status pipe: unknown message %u", m.kind);
            break;
        }
    }
}

static void reap(pid_t pid, int *status)
{
    int st = 0;
    pid_t r;
    do {
        r = waitpid(pid, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (status != NULL) {
        *status = (r == pid) ? st : -1;
    }
}

/*
 * The sealed memfd holding the executable, written once, here, in the
 * caller: from this point on no one (not even the caller) can change it, and
 * the exec takes no path. MFD_EXEC is asked for first because a kernel with
 * vm.memfd_noexec=1 would otherwise create it non-executable.
 */
static int make_exe_memfd(const char *name, const uint8_t *bytes, size_t len, int *sealed, int *err)
{
    *sealed = 0;
    int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_EXEC);
    if (fd < 0 && errno == EINVAL) {
        fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING); /* before Linux 6.3 */
    }
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, bytes + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            *err = n < 0 ? errno : EIO;
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    const int seals = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
    if (fcntl(fd, F_ADD_SEALS, seals) == 0 && (fcntl(fd, F_GET_SEALS) & seals) == seals) {
        *sealed = 1;
    } else {
        *err = errno;
    }
    return fd;
}

static int elf_interp(const uint8_t *e, size_t len, char *out, size_t out_max);

static atomic_uint uid_counter;

static nacre_sandbox_status launch(int probe, const struct nacre_app_manifest *m, const uint8_t *exe,
                                   size_t exe_len, int channel_fd, const struct nacre_sandbox_options *opts,
                                   pid_t *pid_out, struct nacre_sandbox_report *report, char *error,
                                   size_t error_max)
{
    struct nacre_sandbox_options defaults;
    memset(&defaults, 0, sizeof defaults);
    defaults.stdio_fd = -1;
    if (opts == NULL) {
        opts = &defaults;
    }
    struct plan *p = calloc(1, sizeof *p);
    if (p == NULL) {
        sandbox_error(error, error_max, "out of memory");
        return NACRE_SANDBOX_ERR_SYSTEM;
    }
    p->probe = probe;
    p->allow_degraded = probe || opts->allow_degraded;
    unsigned n = atomic_fetch_add(&uid_counter, 1u);
    p->uid = opts->uid_base != 0 ? (uid_t)opts->uid_base : (uid_t)(DEFAULT_UID_FIRST + n % DEFAULT_UID_COUNT);
    p->gid = (gid_t)p->uid;
    p->memory_bytes = opts->memory_bytes != 0 ? (rlim_t)opts->memory_bytes : (rlim_t)DEFAULT_MEMORY_BYTES;
    p->processes = opts->max_processes != 0 ? opts->max_processes : DEFAULT_PROCESSES;
    p->files = opts->max_files != 0 ? opts->max_files : DEFAULT_FILES;
    p->cpu_seconds = opts->cpu_seconds != 0 ? opts->cpu_seconds : DEFAULT_CPU_SECONDS;
    p->stdio_fd = opts->stdio_fd;
    p->channel_fd = channel_fd;
    p->landlock_fd = -1;
    p->status_fd = p->go_fd = p->null_fd = p->exe_fd = -1;
    const char *name = (m != NULL && m->name[0] != '\0' && memchr(m->name, '\0', sizeof m->name) != NULL)
                           ? m->name
                           : "app";
    snprintf(p->argv0, sizeof p->argv0, "%s", name);

    struct outcome o;
    memset(&o, 0, sizeof o);
    o.app = -1;
    int status_pipe[2] = {-1, -1};
    int go_pipe[2] = {-1, -1};
    pid_t mid = -1;

    /* The executable. */
    static const uint8_t probe_bytes[64] = {0x7f, 'E', 'L', 'F'};
    if (probe) {
        exe = probe_bytes;
        exe_len = sizeof probe_bytes;
    } else if (elf_interp(exe, exe_len, p->interp, sizeof p->interp) < 0) {
        p->interp[0] = '\0';
    }
    char memfd_name[64];
    snprintf(memfd_name, sizeof memfd_name, "nacre-app:%s", name);
    int err = 0;
    p->exe_fd = make_exe_memfd(memfd_name, exe, exe_len, &p->exe_sealed, &err);
    if (p->exe_fd < 0 || !p->exe_sealed) {
        char text[128];
        snprintf(text, sizeof text, "memfd exec: %s: %s", p->exe_fd < 0 ? "memfd_create" : "F_ADD_SEALS",
                 errtext(err));
        outcome_missing(&o, NACRE_SANDBOX_MEMFD_EXEC, text);
        /* Without a memfd there is no fallback (an executable on a path is
         * exactly what this avoids); without seals, only when degraded. */
        if (!probe && (p->exe_fd < 0 || !p->allow_degraded || classify(err) != NACRE_SANDBOX_ERR_UNSUPPORTED)) {
            outcome_fail(&o, classify(err), "%s", text);
            goto done;
        }
    }

    p->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (p->null_fd < 0) {
        outcome_fail(&o, NACRE_SANDBOX_ERR_SYSTEM, "open /dev/null: %s", errtext(errno));
        goto done;
    }
    if (probe) {
        p->channel_fd = p->null_fd;
    }
    if (pipe2(status_pipe, O_CLOEXEC) != 0 || pipe2(go_pipe, O_CLOEXEC) != 0) {
        outcome_fail(&o, NACRE_SANDBOX_ERR_SYSTEM, "pipe2: %s", errtext(errno));
        goto done;
    }
    p->status_fd = status_pipe[1];
    p->go_fd = go_pipe[0];
    p->caller_fds[0] = status_pipe[0];
    p->caller_fds[1] = go_pipe[1];

    /* All signals blocked across the fork: the children must not run the
     * caller's handlers; the app unblocks them just before its exec. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    mid = fork();
    if (mid == 0) {
        run_intermediate(p);
    }
    int fork_err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(status_pipe[1]);
    status_pipe[1] = -1;
    close(go_pipe[0]);
    go_pipe[0] = -1;
    if (mid < 0) {
        outcome_fail(&o, NACRE_SANDBOX_ERR_SYSTEM, "fork: %s", errtext(fork_err));
        goto done;
    }

    converse(&o, p, mid, status_pipe[0], go_pipe[1]);
    if (o.failed) {
        /* Timed out or refused: nothing of this launch may keep running. */
        kill(mid, SIGKILL);
        if (o.app > 0) {
            kill(o.app, SIGKILL);
        }
    }
    close(go_pipe[1]);
    go_pipe[1] = -1;
    int mid_status;
    reap(mid, &mid_status);
    if (!o.failed && o.app <= 0) {
        outcome_fail(&o, NACRE_SANDBOX_ERR_SYSTEM, "sandbox: the intermediate process died (status 0x%x)",
                     (unsigned)mid_status);
    }
    if (!o.failed && !o.ready) {
        /* EOF without READY: the app died before its exec without a word. */
        int app_status;
        reap(o.app, &app_status);
        o.app = -1;
        if (app_status != -1 && WIFSIGNALED(app_status)) {
            outcome_fail(&o, NACRE_SANDBOX_ERR_SYSTEM, "sandbox: the app was killed by signal %d before exec",
                         WTERMSIG(app_status));
        } else {
            outcome_fail(&o, NACRE_SANDBOX_ERR_SYSTEM, "sandbox: the app exited before exec (status 0x%x)",
                         (unsigned)app_status);
        }
    }
    if (o.app > 0 && (o.failed || probe)) {
        kill(o.app, SIGKILL);
        reap(o.app, NULL);
        o.app = -1;
    }

done:
    if (status_pipe[0] >= 0) {
        close(status_pipe[0]);
    }
    if (status_pipe[1] >= 0) {
        close(status_pipe[1]);
    }
    if (go_pipe[0] >= 0) {
        close(go_pipe[0]);
    }
    if (go_pipe[1] >= 0) {
        close(go_pipe[1]);
    }
    if (p->null_fd >= 0) {
        close(p->null_fd);
    }
    if (p->exe_fd >= 0) {
        close(p->exe_fd);
    }
    free(p);
    if (report != NULL) {
        report->applied = o.applied;
        report->missing = o.missing;
        snprintf(report->detail, sizeof report->detail, "%s", o.detail);
    }
    if (o.failed && !probe) {
        sandbox_error(error, error_max, "%s", o.error);
        return o.status;
    }
    if (probe) {
        if (!o.ready) {
            /* A probe that could not even run (fork, pipes) is a system error;
             * refusals of single mechanisms are in the report. */
            sandbox_error(error, error_max, "%s", o.failed ? o.error : "sandbox probe: no result");
            return NACRE_SANDBOX_ERR_SYSTEM;
        }
        if (report != NULL) {
            report->missing |= ALL_MECHANISMS & ~report->applied;
        }
        return NACRE_SANDBOX_OK;
    }
    *pid_out = o.app;
    sandbox_error(error, error_max, "%s", "");
    return NACRE_SANDBOX_OK;
}

/* ---- the ELF interpreter ------------------------------------------------------------------ */

static uint64_t elf_get(const uint8_t *p, size_t n, int big_endian)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        v |= (uint64_t)p[big_endian ? n - 1 - i : i] << (8 * i);
    }
    return v;
}

/*
 * PT_INTERP of an ELF file, bounds-checked against len: 1 and out filled,
 * 0 if there is none (a static program), -1 if the headers are malformed
 * (the kernel will refuse the exec with a precise errno anyway).
 */
static int elf_interp(const uint8_t *e, size_t len, char *out, size_t out_max)
{
    out[0] = '\0';
    if (len < 16 || e[0] != 0x7f || e[1] != 'E' || e[2] != 'L' || e[3] != 'F') {
        return -1;
    }
    int is64 = e[4] == 2;
    int big = e[5] == 2;
    if ((e[4] != 1 && e[4] != 2) || (e[5] != 1 && e[5] != 2) || len < (is64 ? 64u : 52u)) {
        return -1;
    }
    uint64_t phoff = is64 ? elf_get(e + 32, 8, big) : elf_get(e + 28, 4, big);
    size_t phentsize = (size_t)elf_get(e + (is64 ? 54 : 42), 2, big);
    size_t phnum = (size_t)elf_get(e + (is64 ? 56 : 44), 2, big);
    if (phnum == 0) {
        return 0;
    }
    if (phentsize < (is64 ? 56u : 32u) || phoff > len) {
        return -1;
    }
    size_t room = len - (size_t)phoff;
    for (size_t i = 0; i < phnum; i++) {
        if (i * phentsize > room || phentsize > room - i * phentsize) {
            return -1;
        }
        const uint8_t *ph = e + phoff + i * phentsize;
        if (elf_get(ph, 4, big) != 3) { /* PT_INTERP */
            continue;
        }
        uint64_t off = is64 ? elf_get(ph + 8, 8, big) : elf_get(ph + 4, 4, big);
        uint64_t size = is64 ? elf_get(ph + 32, 8, big) : elf_get(ph + 16, 4, big);
        if (off > len || size > len - off || size < 2 || size > out_max) {
            return -1;
        }
        const char *s = (const char *)e + off;
        if (s[0] != '/' || memchr(s, '\0', (size_t)size) != s + size - 1) {
            return -1;
        }
        memcpy(out, s, (size_t)size);
        return 1;
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------------------- */

nacre_sandbox_status nacre_sandbox_probe(struct nacre_sandbox_report *report)
{
    if (report == NULL) {
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    char error[sizeof report->detail];
    nacre_sandbox_status st = launch(1, NULL, NULL, 0, -1, NULL, NULL, report, error, sizeof error);
    if (st != NACRE_SANDBOX_OK) {
        snprintf(report->detail, sizeof report->detail, "%s", error);
    }
    return st;
}

static int fd_valid(int fd)
{
    return fd >= 0 && fcntl(fd, F_GETFD) >= 0;
}

nacre_sandbox_status nacre_sandbox_spawn(const struct nacre_app_manifest *m, const uint8_t *exe,
                                         size_t exe_len, int channel_fd,
                                         const struct nacre_sandbox_options *opts, pid_t *pid,
                                         struct nacre_sandbox_report *report, char *error,
                                         size_t error_max)
{
    sandbox_error(error, error_max, "%s", "");
    if (report != NULL) {
        memset(report, 0, sizeof *report);
    }
    if (pid != NULL) {
        *pid = -1;
    }
    const char *bad = NULL;
    if (m == NULL || pid == NULL) {
        bad = "manifest and pid are required";
    } else if (exe == NULL || exe_len < 4 || exe[0] != 0x7f || exe[1] != 'E' || exe[2] != 'L' || exe[3] != 'F') {
        bad = "exe is not an ELF file";
    } else if (!fd_valid(channel_fd)) {
        bad = "channel_fd is not an open descriptor";
    } else if (opts != NULL && opts->stdio_fd != -1 && !fd_valid(opts->stdio_fd)) {
        bad = "stdio_fd is neither -1 nor an open descriptor";
    } else if (opts != NULL && opts->max_files != 0 && opts->max_files < MIN_FILES) {
        bad = "max_files must be 0 or at least 4 (stdio and the channel)";
    } else if (opts != NULL && opts->uid_base == UINT_MAX) {
        bad = "uid_base (uid_t)-1 is not a uid";
    }
    if (bad != NULL) {
        sandbox_error(error, error_max, "sandbox: %s", bad);
        return NACRE_SANDBOX_ERR_ARGUMENT;
    }
    return launch(0, m, exe, exe_len, channel_fd, opts, pid, report, error, error_max);
}
