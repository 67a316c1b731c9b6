/*
 * ingest.c - group commit of uploaded events.
 *
 * POST /v1/device/events acknowledges events only once they are committed
 * (the kill -9 test in tests/service relies on it). One transaction per
 * request made the commit a quarter of the request's cost, so requests are
 * batched: the request's connection is suspended (libmicrohttpd keeps
 * serving the worker's other connections) and its batch is queued; one
 * committer thread takes everything queued, writes it in one transaction,
 * and resumes the connections, whose handlers then reply. There is no
 * timer: whatever arrives while a commit runs goes into the next one, so a
 * lone request waits for nothing and a busy service commits in groups.
 *
 * If the shared transaction fails, each batch is retried in a transaction
 * of its own, so one bad batch cannot fail the others.
 *
 * At shutdown (ingest_stop) new requests commit on their own thread, the
 * queue is drained, and every suspended connection has been resumed before
 * libmicrohttpd stops (it must not stop with connections suspended).
 */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#define GROUP_MAX 256u /* batches per transaction */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle = PTHREAD_COND_INITIALIZER;
static struct svc_ingest *head;
static struct svc_ingest *tail;
static size_t outstanding; /* queued or being committed: connections suspended */
static int stopping;
static int quit;
static int running;
static pthread_t committer;
static uint64_t n_uploads; /* statistics, printed at shutdown */
static uint64_t n_commits;

static void commit_group(struct svc_ingest *jobs, size_t n)
{
    struct st_event_batch b[GROUP_MAX];
    struct svc_ingest *j = jobs;
    for (size_t i = 0; i < n; i++, j = j->next) {
        b[i] = j->b;
    }
    struct store *st = svc_store();
    enum store_status all = st != NULL ? store_events_insert_batches(st, b, n) : STORE_ERROR;
    j = jobs;
    for (size_t i = 0; i < n; i++) {
        struct svc_ingest *next = j->next;
        enum store_status s = all;
        if (s != STORE_OK && n > 1 && st != NULL) {
            s = store_events_insert_batches(st, &b[i], 1);
        }
        j->b.accepted = b[i].accepted;
        j->b.last_seq = b[i].last_seq;
        j->status = s;
        j->done = 1;
        /* The last touch of j: its handler may run (and free it) at once. */
        MHD_resume_connection(j->conn);
        j = next;
    }
    pthread_mutex_lock(&mu);
    n_uploads += n;
    n_commits++;
    outstanding -= n;
    if (outstanding == 0) {
        pthread_cond_broadcast(&idle);
    }
    pthread_mutex_unlock(&mu);
}

static void *run(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (head == NULL && !quit) {
            pthread_cond_wait(&work, &mu);
        }
        if (head == NULL) {
            break;
        }
        struct svc_ingest *jobs = head;
        struct svc_ingest *last = head;
        size_t n = 1;
        while (last->next != NULL && n < GROUP_MAX) {
            last = last->next;
            n++;
        }
        head = last->next;
        if (head == NULL) {
            tail = NULL;
        }
        last->next = NULL;
        pthread_mutex_unlock(&mu);
        commit_group(jobs, n);
        pthread_mutex_lock(&mu);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

int ingest_start(void)
{
    if (pthread_create(&committer, NULL, run, NULL) != 0) {
        return -1;
    }
    running = 1;
    return 0;
}

int ingest_submit(struct svc_req *r, struct svc_ingest *job)
{
    pthread_mutex_lock(&mu);
    if (!running || stopping) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    /* Suspend before queueing: the committer may resume it at once. */
    job->conn = r->conn;
    job->next = NULL;
    r->suspended = 1;
    MHD_suspend_connection(r->conn);
    if (tail != NULL) {
        tail->next = job;
    } else {
        head = job;
    }
    tail = job;
    outstanding++;
    pthread_cond_signal(&work);
    pthread_mutex_unlock(&mu);
    return 0;
}

void ingest_stop(void)
{
    pthread_mutex_lock(&mu);
    stopping = 1;
    while (outstanding > 0) {
        pthread_cond_wait(&idle, &mu);
    }
    quit = 1;
    pthread_cond_signal(&work);
    pthread_mutex_unlock(&mu);
    if (running) {
        pthread_join(committer, NULL);
        running = 0;
    }
    if (n_commits > 0) {
        fprintf(stderr, "nacre-service: %llu event uploads in %llu group commits\n",
                (unsigned long long)n_uploads, (unsigned long long)n_commits);
    }
}

void ingest_free(struct svc_ingest *job)
{
    if (job != NULL) {
        free(job->evs);
        free(job->inserted);
        free(job);
    }
}
