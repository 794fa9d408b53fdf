/* restore_loader — one thread, a queue of restores to read and a queue of
 * restores read.
 *
 * The thread runs restore_new and nothing else: it touches no socket, no
 * conversation and no daemon state, so the only shared data are the two
 * queues under one mutex. Results cross to the loop thread in the done
 * queue; jansson values made by the thread are used by the loop only after
 * the mutex hands them over. The eventfd is written once per finished
 * restore and drained by restore_loader_take. */
#include "restore_loader.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util.h"

typedef struct job {
    char *given;      /* a journal of the folder, or the name of |data| */
    const void *data; /* a journal sent as bytes (borrowed), or NULL */
    size_t len;
    void *tag;
    restore_t *result;
    char why[1024];
    struct job *next;
} job_t;

struct restore_loader {
    char dir[PATH_MAX];
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job_t *todo, **todo_tail; /* waiting, oldest first */
    job_t *done, **done_tail; /* read, oldest first */
    size_t held;              /* jobs waiting, running or done and not taken */
    bool started, stop;
    pthread_t thread;
};

static void s_push(job_t ***tail, job_t *job)
{
    job->next = NULL;
    **tail = job;
    *tail = &job->next;
}

static job_t *s_pop(job_t **head, job_t ***tail)
{
    job_t *job = *head;
    if (job) {
        *head = job->next;
        if (!*head)
            *tail = head;
    }
    return job;
}

static void *s_run(void *arg)
{
    restore_loader_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->stop && !self->todo)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->stop)
            break;
        job_t *job = s_pop(&self->todo, &self->todo_tail);
        pthread_mutex_unlock(&self->mu);
        job->result = job->data ? restore_new_bytes(job->given, job->data, job->len, job->why,
                                                    sizeof job->why)
                                : restore_new(self->dir, job->given, job->why, sizeof job->why);
        pthread_mutex_lock(&self->mu);
        s_push(&self->done_tail, job);
        uint64_t one = 1;
        if (write(self->efd, &one, sizeof one) < 0) {
            /* the counter cannot overflow at 32 restores; nothing to do */
        }
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

restore_loader_t *restore_loader_new(const char *journal_dir)
{
    restore_loader_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    snprintf(self->dir, sizeof self->dir, "%s", journal_dir);
    self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->efd < 0) {
        free(self);
        return NULL;
    }
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    self->todo_tail = &self->todo;
    self->done_tail = &self->done;
    return self;
}

static void s_free_jobs(job_t *job, void (*drop)(void *tag))
{
    while (job) {
        job_t *next = job->next;
        if (drop)
            drop(job->tag);
        restore_destroy(&job->result);
        free(job->given);
        free(job);
        job = next;
    }
}

void restore_loader_destroy(restore_loader_t **self_p, void (*drop)(void *tag))
{
    restore_loader_t *self = *self_p;
    if (!self)
        return;
    if (self->started) {
        pthread_mutex_lock(&self->mu);
        self->stop = true;
        pthread_cond_signal(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL);
    }
    s_free_jobs(self->todo, drop);
    s_free_jobs(self->done, drop);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    close(self->efd);
    free(self);
    *self_p = NULL;
}

int restore_loader_fd(const restore_loader_t *self)
{
    return self->efd;
}

static int s_start(restore_loader_t *self, const char *given, const void *data, size_t len,
                   void *tag, char *why, size_t why_len)
{
    if (self->held >= RESTORE_LOADER_QUEUE) {
        snprintf(why, why_len, "%d restores are being read already; try again when one has "
                               "started", RESTORE_LOADER_QUEUE);
        return -1;
    }
    job_t *job = calloc(1, sizeof *job);
    if (!job || !(job->given = strdup(given))) {
        free(job);
        snprintf(why, why_len, "out of memory in the daemon");
        return -1;
    }
    job->data = data;
    job->len = len;
    job->tag = tag;
    if (!self->started) {
        int rc = pthread_create(&self->thread, NULL, s_run, self);
        if (rc != 0) {
            free(job->given);
            free(job);
            snprintf(why, why_len, "cannot start the thread that reads journals: %s",
                     strerror(rc));
            return -1;
        }
        self->started = true;
    }
    pthread_mutex_lock(&self->mu);
    s_push(&self->todo_tail, job);
    self->held++;
    pthread_cond_signal(&self->cv);
    pthread_mutex_unlock(&self->mu);
    return 0;
}

int restore_loader_start(restore_loader_t *self, const char *given, void *tag, char *why,
                         size_t why_len)
{
    return s_start(self, given, NULL, 0, tag, why, why_len);
}

int restore_loader_start_bytes(restore_loader_t *self, const char *name, const void *data,
                               size_t len, void *tag, char *why, size_t why_len)
{
    return s_start(self, name, data ? data : "", len, tag, why, why_len);
}

bool restore_loader_take(restore_loader_t *self, void **tag, restore_t **restore, char *why,
                         size_t why_len)
{
    uint64_t count;
    if (read(self->efd, &count, sizeof count) < 0 && errno != EAGAIN) {
        /* nothing to drain */
    }
    pthread_mutex_lock(&self->mu);
    job_t *job = s_pop(&self->done, &self->done_tail);
    if (job)
        self->held--;
    pthread_mutex_unlock(&self->mu);
    if (!job)
        return false;
    *tag = job->tag;
    *restore = steal_pointer(&job->result);
    snprintf(why, why_len, "%s", job->why);
    free(job->given);
    free(job);
    return true;
}
