/*
 * nacre/sandbox.h - libsandbox: app manifests, app packages, and isolated
 * app processes on Linux (host board and Cortex-A Linux).
 *
 * Manifest: JSON in the spirit of Azure Sphere's app_manifest.json:
 *
 *   { "SchemaVersion": 1,
 *     "Name": "thermostat",
 *     "ComponentId": "7a2b1c9e-3f4d-4e5a-9b6c-0d1e2f3a4b5c",
 *     "EntryPoint": "/bin/thermostat",
 *     "Capabilities": {
 *       "AllowedConnections": ["127.0.0.1:8080", "localhost:9000"],
 *       "MutableStorage": { "SizeKB": 8 },
 *       "Gpio": [1, 2], "Uart": [0], "I2cMaster": [1],
 *       "DeviceAuthentication": true,
 *       "SoftwareUpdate": false } }
 *
 * Parsed with jansson; unknown keys, wrong types and out-of-range values are
 * refused with a precise message ("Capabilities.MutableStorage.SizeKB: must
 * be 1..64"). Nothing is allowed that the manifest does not grant.
 *
 * Package: the payload of a signed app image (libupdate):
 *   "NAPP" | u32 LE manifest length | manifest JSON | u32 LE executable
 *   length | executable (ELF) — docs/sandbox.md.
 *
 * Sandbox: the executable runs from a sealed memfd holding exactly the
 * verified bytes (fexecve), in new user, mount, pid, net, ipc and uts
 * namespaces, with no_new_privs, no capabilities, a seccomp allowlist
 * (libseccomp), landlock (read-only view of the system libraries only, no
 * writes anywhere: storage goes through secmon), rlimits (memory, processes,
 * files, CPU) and an empty network namespace (connections only through
 * secmon's broker). A mechanism the kernel refuses makes the launch fail,
 * loudly, unless allow_degraded is set.
 */
#ifndef NACRE_SANDBOX_H
#define NACRE_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nacre_sandbox_status {
    NACRE_SANDBOX_OK = 0,
    NACRE_SANDBOX_ERR_ARGUMENT = 1,
    NACRE_SANDBOX_ERR_MANIFEST = 2,   /**< manifest refused: see the error text */
    NACRE_SANDBOX_ERR_PACKAGE = 3,    /**< malformed app package */
    NACRE_SANDBOX_ERR_UNSUPPORTED = 4, /**< the kernel refused a mechanism (not degraded) */
    NACRE_SANDBOX_ERR_SYSTEM = 5,     /**< a system call failed (errno in the error text) */
} nacre_sandbox_status;

const char *nacre_sandbox_strerror(nacre_sandbox_status status);

#define NACRE_MANIFEST_CONNECTIONS_MAX 16u
#define NACRE_MANIFEST_HOST_MAX 253u
#define NACRE_MANIFEST_PERIPHERALS_MAX 16u
#define NACRE_MANIFEST_STORAGE_KB_MAX 64u
#define NACRE_MANIFEST_BYTES_MAX 16384u

struct nacre_manifest_connection {
    char host[NACRE_MANIFEST_HOST_MAX + 1];
    uint16_t port;
};

struct nacre_app_manifest {
    char name[33];
    char component_id[37];           /**< lower-case UUID text */
    char entry_point[129];
    unsigned connection_count;
    struct nacre_manifest_connection connections[NACRE_MANIFEST_CONNECTIONS_MAX];
    uint32_t storage_kb;             /**< 0 = no MutableStorage */
    uint32_t gpio_mask, uart_mask, i2c_mask; /**< bit n = id n (ids 0..31) */
    int device_authentication;
    int software_update;
};

/** \brief Parse and validate a manifest. error gets a one-line reason. */
nacre_sandbox_status nacre_manifest_parse(const char *json, size_t len, struct nacre_app_manifest *out,
                                          char *error, size_t error_max);

/** \brief 1 if host:port is in AllowedConnections (exact host match, case-insensitive). */
int nacre_manifest_allows_connection(const struct nacre_app_manifest *m, const char *host, uint16_t port);

/** \brief Split an app package (no copies: pointers into payload). */
nacre_sandbox_status nacre_app_package_parse(const uint8_t *payload, size_t len, const char **manifest,
                                             size_t *manifest_len, const uint8_t **exe, size_t *exe_len);

/** \brief Build a package (malloc'd; free()). */
nacre_sandbox_status nacre_app_package_build(uint8_t **out, size_t *out_len, const char *manifest,
                                             size_t manifest_len, const uint8_t *exe, size_t exe_len);

/** Mechanisms, as bits of nacre_sandbox_report.applied / .missing. */
enum nacre_sandbox_mechanism {
    NACRE_SANDBOX_USERNS = 1u << 0,
    NACRE_SANDBOX_MOUNTNS = 1u << 1,
    NACRE_SANDBOX_PIDNS = 1u << 2,
    NACRE_SANDBOX_NETNS = 1u << 3,
    NACRE_SANDBOX_IPCNS = 1u << 4,
    NACRE_SANDBOX_UTSNS = 1u << 5,
    NACRE_SANDBOX_NO_NEW_PRIVS = 1u << 6,
    NACRE_SANDBOX_SECCOMP = 1u << 7,
    NACRE_SANDBOX_LANDLOCK = 1u << 8,
    NACRE_SANDBOX_RLIMITS = 1u << 9,
    NACRE_SANDBOX_NO_CAPS = 1u << 10,
    NACRE_SANDBOX_MEMFD_EXEC = 1u << 11,
};

struct nacre_sandbox_report {
    uint32_t applied;
    uint32_t missing;
    char detail[256];  /**< what was missing and why */
};

/** \brief Which mechanisms this kernel supports (probes in a throwaway child). */
nacre_sandbox_status nacre_sandbox_probe(struct nacre_sandbox_report *report);

struct nacre_sandbox_options {
    int allow_degraded;       /**< run even if a mechanism is missing */
    uint64_t memory_bytes;    /**< RLIMIT_AS (0 = 256 MiB) */
    unsigned max_processes;   /**< RLIMIT_NPROC (0 = 1: no fork) */
    unsigned max_files;       /**< RLIMIT_NOFILE (0 = 16) */
    unsigned cpu_seconds;     /**< RLIMIT_CPU (0 = 60) */
    int stdio_fd;             /**< the app's stdout/stderr (-1 = /dev/null) */
    unsigned uid_base;        /**< host uid the app's root maps to (0 = 200000 + n) */
};

/**
 * \brief Run exe (the verified bytes) in a new sandbox. channel_fd becomes
 * the app's fd NACRE_SECMON_APP_FD (3); every other fd is closed.
 * On success *pid is the app (init of its pid namespace).
 */
nacre_sandbox_status nacre_sandbox_spawn(const struct nacre_app_manifest *m, const uint8_t *exe,
                                         size_t exe_len, int channel_fd,
                                         const struct nacre_sandbox_options *opts, pid_t *pid,
                                         struct nacre_sandbox_report *report, char *error,
                                         size_t error_max);

#ifdef __cplusplus
}
#endif

#endif /* NACRE_SANDBOX_H */
