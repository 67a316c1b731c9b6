/*
 * rollout.c - staged rollouts and threat alerts.
 *
 * Wave order: the group's devices sorted by BLAKE2b-256(deployment id as 8
 * bytes big-endian || the 32 bytes of the device id); wave k offers the
 * update to the first ceil(waves[k] / 100 * N) of them (N: the group's
 * devices when the wave opens). Offers are stored, so a device never loses
 * an offer when the group grows.
 *
 * The open wave's devices are all devices offered so far. A device is bad
 * if it reported failed / refused / reverted, failed attestation after the
 * offer, or uploaded an app_crash after it confirmed; good if it confirmed
 * and is not bad. The deployment halts as soon as the wave can no longer
 * end within bounds: bad / offered > max_failure_rate, where offered counts
 * the devices that have not reported yet too (so one early failure in a big
 * wave does not halt it, and a wave that went bad halts without waiting for
 * its stragglers); when every offered device is good or bad, the next wave
 * opens (or the deployment is done).
 *
 * A device claimed into the group (or moved into it) while a deployment
 * rolls is ranked in at once: rollout_group_changed re-evaluates, and the
 * open wave offers the update to its share of the grown group; after a
 * deployment is done, the last wave's share is offered the same way.
 *
 * Callers hold svc.rollout_lock around rollout_evaluate, so two reports
 * never open the same wave twice.
 */
#include "service.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

struct ranked {
    uint8_t key[32];
    char id[65];
};

static int by_key(const void *a, const void *b)
{
    return memcmp(((const struct ranked *)a)->key, ((const struct ranked *)b)->key, 32);
}

/* Offer wave `wave` of d: the first ceil(waves[wave]% x N) devices. */
static enum store_status open_wave(struct store *st, const struct st_deployment *d, unsigned wave)
{
    char(*ids)[65] = NULL;
    size_t n = 0;
    enum store_status s = store_group_device_ids(st, d->tenant_id, d->group, &ids, &n);
    if (s != STORE_OK || n == 0) {
        free(ids);
        return s;
    }
    struct ranked *rk = malloc(n * sizeof *rk);
    char(*chosen)[65] = malloc(n * sizeof *chosen);
    if (rk == NULL || chosen == NULL) {
        free(ids);
        free(rk);
        free(chosen);
        return STORE_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t in[8 + 32];
        for (int b = 0; b < 8; b++) {
            in[b] = (uint8_t)((uint64_t)d->id >> (56 - 8 * b));
        }
        svc_hex_decode(ids[i], in + 8, 32);
        crypto_generichash(rk[i].key, 32, in, sizeof in, NULL, 0);
        memcpy(rk[i].id, ids[i], 65);
    }
    qsort(rk, n, sizeof *rk, by_key);
    size_t k = ((size_t)d->waves[wave] * n + 99) / 100;
    if (k > n) {
        k = n;
    }
    for (size_t i = 0; i < k; i++) {
        memcpy(chosen[i], rk[i].id, 65);
    }
    s = store_offer_add(st, d->id, (const char(*)[65])chosen, k, wave, d->version);
    free(ids);
    free(rk);
    free(chosen);
    return s;
}

void rollout_evaluate(struct store *st, int64_t tenant_id, int64_t deployment_id)
{
    for (int guard = 0; guard < (int)SVC_WAVES_MAX + 2; guard++) {
        struct st_deployment d;
        if (store_deployment_get(st, tenant_id, deployment_id, &d) != STORE_OK ||
            strcmp(d.state, "rolling") != 0 || d.wave >= d.nwaves) {
            return;
        }
        /* Make sure the open wave is offered (new devices in the group included). */
        if (open_wave(st, &d, d.wave) != STORE_OK) {
            return;
        }
        int64_t good = 0;
        int64_t bad = 0;
        int64_t undecided = 0;
        if (store_offer_tally(st, d.id, &good, &bad, &undecided) != STORE_OK) {
            return;
        }
        int64_t offered = good + bad + undecided;
        if (bad > 0 && offered > 0) {
            double rate = (double)bad / (double)offered;
            if (rate > d.max_failure_rate) {
                char reason[128];
                snprintf(reason, sizeof reason,
                         "wave %u (%u%%): failure rate %.2f exceeds %.2f (%lld bad of %lld offered)",
                         d.wave, d.waves[d.wave], rate, d.max_failure_rate, (long long)bad,
                         (long long)offered);
                store_deployment_set_state(st, d.id, "halted", d.wave, reason);
                fprintf(stderr, "nacre-service: deployment %lld halted: %s\n",
                        (long long)d.id, reason);
                return;
            }
        }
        if (undecided > 0 || good + bad == 0) {
            return;
        }
        if (d.wave + 1 >= d.nwaves) {
            store_deployment_set_state(st, d.id, "done", d.wave, "");
            return;
        }
        store_deployment_set_state(st, d.id, "rolling", d.wave + 1, "");
    }
}

void rollout_group_changed(struct store *st, int64_t tenant_id, const char *group)
{
    struct st_deployment dep;
    if (group == NULL || group[0] == '\0') {
        return;
    }
    pthread_mutex_lock(&svc.rollout_lock);
    if (store_deployment_current(st, tenant_id, group, &dep) == STORE_OK) {
        if (strcmp(dep.state, "rolling") == 0) {
            rollout_evaluate(st, tenant_id, dep.id);
        } else if (strcmp(dep.state, "done") == 0 && dep.nwaves > 0) {
            /* The rollout is over: a newcomer gets what the last wave
             * offered (its share of the grown group). */
            (void)open_wave(st, &dep, dep.nwaves - 1);
        }
    }
    pthread_mutex_unlock(&svc.rollout_lock);
}

int rollout_current_offer(struct store *st, const struct st_device *d, struct st_deployment *dep,
                          struct st_offer *offer)
{
    if (d->group[0] == '\0' ||
        store_deployment_current(st, d->tenant_id, d->group, dep) != STORE_OK ||
        store_offer_get(st, dep->id, d->device_id, offer) != STORE_OK) {
        return -1;
    }
    return 0;
}

void rollout_mark_bad(struct store *st, const struct st_device *d, int crashed_only)
{
    pthread_mutex_lock(&svc.rollout_lock);
    struct st_deployment dep;
    struct st_offer offer;
    if (rollout_current_offer(st, d, &dep, &offer) == 0) {
        int change = 0;
        if (crashed_only) {
            /* An app_crash counts only after the device confirmed the update. */
            if (strcmp(offer.status, "confirmed") == 0 && !offer.crashed) {
                offer.crashed = 1;
                offer.bad = 1;
                change = 1;
            }
        } else if (!offer.bad) {
            offer.bad = 1;
            change = 1;
        }
        if (change && store_offer_update(st, dep.id, d->device_id, &offer) == STORE_OK &&
            strcmp(dep.state, "rolling") == 0) {
            rollout_evaluate(st, d->tenant_id, dep.id);
        }
    }
    pthread_mutex_unlock(&svc.rollout_lock);
}

void threat_raise(struct store *st, int64_t tenant_id, const char *device_id, const char *rule,
                  const char *detail)
{
    int raised = 0;
    if (store_alert_raise(st, tenant_id, device_id, rule, detail, (int64_t)svc_now(), &raised) ==
            STORE_OK &&
        raised) {
        fprintf(stderr, "nacre-service: alert %s: device %s\n", rule, device_id);
    }
}
