/*
 * memtab.c - generational hash table (see memtab.h).
 */
#include "memtab.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct node {
    struct node *next;
    uint8_t key[32];
    uint8_t value[]; /* value_size bytes */
};

struct gen {
    struct node **buckets;
    size_t count;
};

struct memtab {
    pthread_mutex_t lock;
    size_t value_size;
    uint64_t period;
    uint64_t rotated_at;
    size_t mask;
    size_t max; /* entries in both generations together; 0 = no limit */
    struct gen gens[2]; /* [0] current, [1] previous */
};

static void gen_clear(struct memtab *t, struct gen *g)
{
    if (g->count == 0) {
        return;
    }
    for (size_t i = 0; i <= t->mask; i++) {
        struct node *n = g->buckets[i];
        while (n != NULL) {
            struct node *next = n->next;
            free(n);
            n = next;
        }
        g->buckets[i] = NULL;
    }
    g->count = 0;
}

struct memtab *memtab_new(size_t value_size, uint64_t period, size_t buckets_log2, uint64_t now)
{
    struct memtab *t = calloc(1, sizeof *t);
    if (t == NULL) {
        return NULL;
    }
    t->value_size = value_size;
    t->period = period;
    t->rotated_at = now;
    t->mask = ((size_t)1 << buckets_log2) - 1;
    t->gens[0].buckets = calloc(t->mask + 1, sizeof(struct node *));
    t->gens[1].buckets = calloc(t->mask + 1, sizeof(struct node *));
    if (t->gens[0].buckets == NULL || t->gens[1].buckets == NULL ||
        pthread_mutex_init(&t->lock, NULL) != 0) {
        free(t->gens[0].buckets);
        free(t->gens[1].buckets);
        free(t);
        return NULL;
    }
    return t;
}

void memtab_free(struct memtab *t)
{
    if (t == NULL) {
        return;
    }
    gen_clear(t, &t->gens[0]);
    gen_clear(t, &t->gens[1]);
    free(t->gens[0].buckets);
    free(t->gens[1].buckets);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

static size_t slot(const struct memtab *t, const uint8_t key[32])
{
    size_t h;
    memcpy(&h, key, sizeof h); /* keys are hashes or random: any bytes spread well */
    return h & t->mask;
}

static void rotate(struct memtab *t, uint64_t now)
{
    if (now < t->rotated_at + t->period) {
        return;
    }
    gen_clear(t, &t->gens[1]);
    struct gen old = t->gens[1];
    t->gens[1] = t->gens[0];
    t->gens[0] = old;
    if (now >= t->rotated_at + 2 * t->period) {
        gen_clear(t, &t->gens[1]); /* idle for two periods: everything expired */
    }
    t->rotated_at = now;
}

static struct node **find(struct memtab *t, struct gen *g, const uint8_t key[32])
{
    struct node **p = &g->buckets[slot(t, key)];
    while (*p != NULL && memcmp((*p)->key, key, 32) != 0) {
        p = &(*p)->next;
    }
    return p;
}

int memtab_get(struct memtab *t, const uint8_t key[32], void *value, uint64_t now)
{
    pthread_mutex_lock(&t->lock);
    rotate(t, now);
    int found = 0;
    for (int g = 0; g < 2 && !found; g++) {
        struct node **p = find(t, &t->gens[g], key);
        if (*p != NULL) {
            found = 1;
            if (value != NULL) {
                memcpy(value, (*p)->value, t->value_size);
            }
        }
    }
    pthread_mutex_unlock(&t->lock);
    return found;
}

static int insert(struct memtab *t, const uint8_t key[32], const void *value, int replace)
{
    for (int g = 0; g < 2; g++) {
        struct node **p = find(t, &t->gens[g], key);
        if (*p != NULL) {
            if (!replace) {
                return 0;
            }
            struct node *n = *p;
            *p = n->next;
            t->gens[g].count--;
            free(n);
        }
    }
    if (t->max != 0 && t->gens[0].count + t->gens[1].count >= t->max) {
        return -2; /* full: refuse, never evict */
    }
    struct node *n = malloc(sizeof *n + t->value_size);
    if (n == NULL) {
        return -1;
    }
    memcpy(n->key, key, 32);
    if (t->value_size > 0) {
        memcpy(n->value, value, t->value_size);
    }
    struct node **head = &t->gens[0].buckets[slot(t, key)];
    n->next = *head;
    *head = n;
    t->gens[0].count++;
    return 1;
}

int memtab_put(struct memtab *t, const uint8_t key[32], const void *value, uint64_t now)
{
    pthread_mutex_lock(&t->lock);
    rotate(t, now);
    int rc = insert(t, key, value, 1);
    pthread_mutex_unlock(&t->lock);
    return rc < 0 ? rc : 0;
}

int memtab_add(struct memtab *t, const uint8_t key[32], const void *value, uint64_t now)
{
    pthread_mutex_lock(&t->lock);
    rotate(t, now);
    int rc = insert(t, key, value, 0);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

void memtab_del(struct memtab *t, const uint8_t key[32])
{
    pthread_mutex_lock(&t->lock);
    for (int g = 0; g < 2; g++) {
        struct node **p = find(t, &t->gens[g], key);
        if (*p != NULL) {
            struct node *n = *p;
            *p = n->next;
            t->gens[g].count--;
            free(n);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

size_t memtab_count(struct memtab *t)
{
    pthread_mutex_lock(&t->lock);
    size_t n = t->gens[0].count + t->gens[1].count;
    pthread_mutex_unlock(&t->lock);
    return n;
}

void memtab_set_max(struct memtab *t, size_t max)
{
    pthread_mutex_lock(&t->lock);
    t->max = max;
    pthread_mutex_unlock(&t->lock);
}

uint64_t memtab_next_expiry(struct memtab *t, uint64_t now)
{
    pthread_mutex_lock(&t->lock);
    rotate(t, now);
    /* The next rotation frees the previous generation; if that one is empty,
     * nothing is freed before the rotation after it. */
    uint64_t at = t->rotated_at + (t->gens[1].count > 0 ? t->period : 2 * t->period);
    pthread_mutex_unlock(&t->lock);
    return at > now ? at - now : 1;
}
