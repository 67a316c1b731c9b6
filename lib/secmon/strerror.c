/*
 * strerror.c - names for statuses, calls and event types.
 */
#include "secmon_priv.h"

const char *nacre_secmon_strerror(nacre_secmon_status status)
{
    switch (status) {
    case NACRE_SECMON_OK:
        return "success";
    case NACRE_SECMON_ERR_MALFORMED:
        return "malformed message (magic, version, length, padding or field)";
    case NACRE_SECMON_ERR_UNKNOWN_CALL:
        return "unknown call";
    case NACRE_SECMON_ERR_DENIED:
        return "denied: the app's manifest does not grant it";
    case NACRE_SECMON_ERR_RATE_LIMITED:
        return "rate limited: too many requests from this app";
    case NACRE_SECMON_ERR_QUOTA:
        return "mutable storage quota exceeded";
    case NACRE_SECMON_ERR_NOT_FOUND:
        return "not found";
    case NACRE_SECMON_ERR_VERIFY:
        return "verification failed";
    case NACRE_SECMON_ERR_INTERNAL:
        return "internal failure (pluton or flash)";
    case NACRE_SECMON_ERR_ARGUMENT:
        return "invalid argument";
    case NACRE_SECMON_ERR_IO:
        return "transport failure";
    case NACRE_SECMON_ERR_UNSUPPORTED:
        return "not supported on this board";
    case NACRE_SECMON_ERR_STATE:
        return "call out of order";
    }
    return "unknown status";
}

const char *nacre_secmon_call_name(unsigned call)
{
    /* At most 13 characters each: a refusal's event stores the call name in
     * a 13-byte detail field (docs/secmon.md), and every name fits whole. */
    switch (call) {
    case NACRE_SECMON_CALL_PING:
        return "ping";
    case NACRE_SECMON_CALL_IDENTITY:
        return "identity";
    case NACRE_SECMON_CALL_SIGN:
        return "sign";
    case NACRE_SECMON_CALL_CERTIFICATE:
        return "certificate";
    case NACRE_SECMON_CALL_SEAL:
        return "seal";
    case NACRE_SECMON_CALL_UNSEAL:
        return "unseal";
    case NACRE_SECMON_CALL_STORAGE_WRITE:
        return "storage_write";
    case NACRE_SECMON_CALL_STORAGE_READ:
        return "storage_read";
    case NACRE_SECMON_CALL_COUNTER_READ:
        return "counter_read";
    case NACRE_SECMON_CALL_LOG_EVENT:
        return "log_event";
    case NACRE_SECMON_CALL_CONNECT:
        return "connect";
    case NACRE_SECMON_CALL_PERIPHERAL:
        return "peripheral";
    case NACRE_SECMON_CALL_UPDATE_BEGIN:
        return "update_begin";
    case NACRE_SECMON_CALL_UPDATE_WRITE:
        return "update_write";
    case NACRE_SECMON_CALL_UPDATE_FINISH:
        return "update_finish";
    default:
        return "unknown";
    }
}

const char *nacre_secmon_event_type_name(unsigned type)
{
    switch (type) {
    case NACRE_SECMON_EVENT_REFUSED:
        return "refused";
    case NACRE_SECMON_EVENT_VERIFY_FAILED:
        return "verify_failed";
    case NACRE_SECMON_EVENT_APP_CRASH:
        return "app_crash";
    case NACRE_SECMON_EVENT_ROLLBACK:
        return "rollback";
    case NACRE_SECMON_EVENT_CONNECTION_DENIED:
        return "connection_denied";
    case NACRE_SECMON_EVENT_APP_LOG:
        return "app_log";
    case NACRE_SECMON_EVENT_APP_START:
        return "app_start";
    case NACRE_SECMON_EVENT_APP_EXIT:
        return "app_exit";
    case NACRE_SECMON_EVENT_SANDBOX_DEGRADED:
        return "sandbox_degraded";
    default:
        return "unknown";
    }
}

const char *nacre_secmon_status_name(nacre_secmon_status status)
{
    switch (status) {
    case NACRE_SECMON_OK:
        return "OK";
    case NACRE_SECMON_ERR_MALFORMED:
        return "MALFORMED";
    case NACRE_SECMON_ERR_UNKNOWN_CALL:
        return "UNKNOWN_CALL";
    case NACRE_SECMON_ERR_DENIED:
        return "DENIED";
    case NACRE_SECMON_ERR_RATE_LIMITED:
        return "RATE_LIMITED";
    case NACRE_SECMON_ERR_QUOTA:
        return "QUOTA";
    case NACRE_SECMON_ERR_NOT_FOUND:
        return "NOT_FOUND";
    case NACRE_SECMON_ERR_VERIFY:
        return "VERIFY";
    case NACRE_SECMON_ERR_INTERNAL:
        return "INTERNAL";
    case NACRE_SECMON_ERR_ARGUMENT:
        return "ARGUMENT";
    case NACRE_SECMON_ERR_IO:
        return "IO";
    case NACRE_SECMON_ERR_UNSUPPORTED:
        return "UNSUPPORTED";
    case NACRE_SECMON_ERR_STATE:
        return "STATE";
    default:
        return NULL;
    }
    return NULL;
}
