/* The relay's compiled data plane: one thread per relay engine, epoll over the sockets of
 * its fast legs, recvmmsg/sendmmsg in batches, libsrtp called through the function pointers
 * of the libsrtp pylibsrtp ships (no second copy of libsrtp). Python keeps control: it
 * creates the sockets and libsrtp sessions, adds/wires/detaches legs (under the mutex) and
 * reads the counters. The per-packet rules repeat fabric/media/legs.py (SdesLeg). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "srtp_aescm.c" /* the precomputed AES_CM_128_HMAC_SHA1_80 RTP transform (fs_*) */

typedef int (*srtp_fn)(void *ctx, void *hdr, int *len);

#define BATCH 64
#define BUFSZ 2048
#define MAX_PACKET (1500 - 148)
#define RELATCH_QUIET_S 1.0
#define RELATCH_PACKETS 5
#define RELATCH_INTERVAL_S 10.0
#define CLOCK_HZ 8000.0
#define ST_AUTH 7
#define ST_REPLAY 9
#define ST_REPLAY_OLD 10
#define MAX_OUT (BATCH * 8)

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    int efd, running, capacity, nfree, npending;
    int *free_slots;
    int *pending; /* legs whose socket may still hold packets (edge-triggered: no new event) */
    fp_leg *legs;
    srtp_fn protect, unprotect, protect_rtcp, unprotect_rtcp;
    unsigned long long batches, wakeups;
    /* receive side */
    struct mmsghdr rmsg[BATCH];
    struct iovec riov[BATCH];
    struct sockaddr_in raddr[BATCH];
    unsigned char rbuf[BATCH][BUFSZ];
    /* send side */
    struct mmsghdr smsg[MAX_OUT];
    struct iovec siov[MAX_OUT];
    struct sockaddr_in saddr[MAX_OUT];
    int sfd[MAX_OUT];
    unsigned char sbuf[MAX_OUT][BUFSZ];
    int nout;
} engine_t;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void *fp_new(int capacity, uintptr_t protect, uintptr_t unprotect,
             uintptr_t protect_rtcp, uintptr_t unprotect_rtcp) {
    engine_t *e = calloc(1, sizeof(engine_t));
    if (!e) return NULL;
    e->legs = calloc((size_t)capacity, sizeof(fp_leg));
    e->free_slots = calloc((size_t)capacity, sizeof(int));
    e->pending = calloc(2 * (size_t)capacity, sizeof(int)); /* a round: carried + new */
    e->efd = epoll_create1(EPOLL_CLOEXEC);
    if (!e->legs || !e->free_slots || !e->pending || e->efd < 0) {
        free(e->legs); free(e->free_slots); free(e->pending); free(e);
        return NULL;
    }
    e->capacity = capacity;
    for (int i = 0; i < capacity; i++) e->free_slots[i] = capacity - 1 - i;
    e->nfree = capacity;
    e->protect = (srtp_fn)protect;
    e->unprotect = (srtp_fn)unprotect;
    e->protect_rtcp = (srtp_fn)protect_rtcp;
    e->unprotect_rtcp = (srtp_fn)unprotect_rtcp;
    pthread_mutex_init(&e->mu, NULL);
    for (int i = 0; i < BATCH; i++) {
        e->riov[i].iov_base = e->rbuf[i];
        e->riov[i].iov_len = BUFSZ;
        e->rmsg[i].msg_hdr.msg_iov = &e->riov[i];
        e->rmsg[i].msg_hdr.msg_iovlen = 1;
        e->rmsg[i].msg_hdr.msg_name = &e->raddr[i];
    }
    for (int i = 0; i < MAX_OUT; i++) {
        e->siov[i].iov_base = e->sbuf[i];
        e->smsg[i].msg_hdr.msg_iov = &e->siov[i];
        e->smsg[i].msg_hdr.msg_iovlen = 1;
        e->smsg[i].msg_hdr.msg_name = &e->saddr[i];
        e->smsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
    }
    return e;
}

static void flush(engine_t *e) {
    int i = 0;
    while (i < e->nout) {
        int j = i + 1;
        while (j < e->nout && e->sfd[j] == e->sfd[i]) j++;
        int off = i;
        while (off < j) {
            int n = sendmmsg(e->sfd[i], &e->smsg[off], (unsigned)(j - off), MSG_DONTWAIT);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) continue;
                off++; /* this datagram failed (e.g. ICMP error queued): skip it, like sendto */
            } else {
                off += n;
            }
        }
        i = j;
    }
    e->nout = 0;
}

static void count_failure(fp_leg *l, int st) {
    if (st == ST_AUTH) l->drop_auth++;
    else if (st == ST_REPLAY || st == ST_REPLAY_OLD) l->drop_replay++;
    else l->drop_malformed++;
}

/* RTP of a leg: its precomputed transform when it has one (fs_*), else libsrtp */
static int rtp_unprotect(engine_t *e, fp_leg *l, unsigned char *data, int *len) {
    return l->frx ? fs_unprotect(l->frx, data, len) : e->unprotect(l->rx, data, len);
}

static int rtp_protect(engine_t *e, fp_leg *l, unsigned char *data, int *len) {
    return l->ftx ? fs_protect(l->ftx, data, len) : e->protect(l->tx, data, len);
}

/* queue plain (len) to peer p protected with p's key; 1 if queued */
static int send_to(engine_t *e, fp_leg *p, const unsigned char *plain, int len, int rtcp) {
    if (!p->active || !p->has_remote) return 0;
    if (e->nout >= MAX_OUT) flush(e);
    int k = e->nout;
    memcpy(e->sbuf[k], plain, (size_t)len);
    int out = len;
    int st = rtcp ? e->protect_rtcp(p->tx, e->sbuf[k], &out) : rtp_protect(e, p, e->sbuf[k], &out);
    if (st) return 0;
    e->siov[k].iov_len = (size_t)out;
    e->saddr[k].sin_family = AF_INET;
    e->saddr[k].sin_addr.s_addr = p->remote_ip;
    e->saddr[k].sin_port = p->remote_port;
    e->sfd[k] = p->fd;
    e->nout = k + 1;
    return 1;
}

static void relatch(engine_t *e, fp_leg *l, unsigned char *data, int n, unsigned ip,
                    unsigned short port, double now) {
    if (now - l->last_rx < RELATCH_QUIET_S || now - l->relatched_at < RELATCH_INTERVAL_S) {
        l->drop_source++;
        return;
    }
    if (n < 12 || (data[0] & 0xC0) != 0x80 || n > MAX_PACKET) {
        l->drop_malformed++;
        return;
    }
    int len = n;
    int st = (data[1] >= 192 && data[1] <= 223) ? e->unprotect_rtcp(l->rx, data, &len)
                                                  : rtp_unprotect(e, l, data, &len);
    if (st) {
        count_failure(l, st);
        l->has_cand = 0;
        return;
    }
    l->drop_source++;
    if (!l->has_cand || l->cand_ip != ip || l->cand_port != port) {
        l->cand_ip = ip; l->cand_port = port; l->has_cand = 1; l->cand_packets = 0;
    }
    if (++l->cand_packets >= RELATCH_PACKETS) {
        l->remote_ip = ip; l->remote_port = port; l->has_remote = 1;
        l->has_cand = 0; l->relatched_at = now; l->last_rx = now; l->relatches++;
    }
}

static void on_packet(engine_t *e, fp_leg *l, unsigned char *data, int n, unsigned ip,
                      unsigned short port, double now) {
    if (l->heard && (ip != l->remote_ip || port != l->remote_port)) {
        relatch(e, l, data, n, ip, port, now);
        return;
    }
    if (n < 12 || (data[0] & 0xC0) != 0x80 || n > MAX_PACKET) {
        l->drop_malformed++;
        return;
    }
    int len = n;
    if (data[1] >= 192 && data[1] <= 223) {
        int st = e->unprotect_rtcp(l->rx, data, &len);
        if (st) { count_failure(l, st); return; }
        if (!l->heard) { l->remote_ip = ip; l->remote_port = port; l->has_remote = 1; l->heard = 1; }
        l->last_rx = now;
        l->rtcp_in++;
        for (int i = 0; i < l->npeers; i++) {
            fp_leg *p = &e->legs[l->peers[i]];
            if (send_to(e, p, data, len, 1)) p->rtcp_out++;
        }
        return;
    }
    int st = rtp_unprotect(e, l, data, &len);
    if (st) { count_failure(l, st); return; }
    if (!l->heard) { l->remote_ip = ip; l->remote_port = port; l->has_remote = 1; l->heard = 1; }
    l->last_rx = now;
    unsigned long long count = ++l->packets_in;
    l->bytes_in += (unsigned)len;
    long long seq = (data[2] << 8) | data[3];
    uint32_t ts = ((uint32_t)data[4] << 24) | ((uint32_t)data[5] << 16) |
                  ((uint32_t)data[6] << 8) | data[7];
    if (l->base_seq < 0) {
        l->base_seq = l->max_seq = seq;
    } else {
        long long delta = (seq - l->max_seq) & 0xFFFF;
        if (delta > 0 && delta < 3000) {
            if (seq < l->max_seq) l->cycles += 65536;
            l->max_seq = seq;
        }
    }
    double transit = now * CLOCK_HZ - (double)ts;
    if (count > 1) {
        double d = transit - l->last_transit;
        if (d < 0) d = -d;
        l->jitter += (d - l->jitter) * 0.0625;
    }
    l->last_transit = transit;
    int sent = 0;
    for (int i = 0; i < l->npeers; i++) {
        fp_leg *p = &e->legs[l->peers[i]];
        if (send_to(e, p, data, len, 0)) {
            p->packets_out++;
            p->bytes_out += (unsigned)len;
            sent = 1;
        }
    }
    if (!sent) l->drop_no_peer++;
}

/* read the leg's socket until it is empty (recvmmsg returned fewer than a batch: the next
 * datagram raises a new edge) or for at most 4 batches; 1 when it may still hold packets */
static int drain(engine_t *e, int handle) {
    fp_leg *l = &e->legs[handle];
    for (int round = 0; round < 4 && l->active; round++) {
        for (int i = 0; i < BATCH; i++) e->rmsg[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
        int n = recvmmsg(l->fd, e->rmsg, BATCH, MSG_DONTWAIT, NULL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            continue; /* an error queued on the socket (ICMP, EINTR): the data is behind it */
        }
        if (n == 0) return 0;
        e->batches++;
        double now = mono();
        for (int i = 0; i < n; i++) {
            struct sockaddr_in *a = &e->raddr[i];
            if (a->sin_family != AF_INET) { l->drop_malformed++; continue; }
            on_packet(e, l, e->rbuf[i], (int)e->rmsg[i].msg_len, a->sin_addr.s_addr,
                      a->sin_port, now);
        }
        if (n < BATCH) return 0;
    }
    return l->active;
}

static void serve(engine_t *e, int h) {
    if (h < 0 || h >= e->capacity || !e->legs[h].active) return;
    if (drain(e, h) && !e->legs[h].queued) {
        e->legs[h].queued = 1;
        e->pending[e->npending++] = h;
    }
}

static void *run(void *arg) {
    engine_t *e = arg;
    struct epoll_event ev[64];
    while (__atomic_load_n(&e->running, __ATOMIC_ACQUIRE)) {
        /* sockets are edge-triggered (a level-triggered set polls every ready socket again
         * at the next epoll_wait): a socket left with packets (a flood) waits in `pending`
         * and is served on the next round without sleeping */
        int n = epoll_wait(e->efd, ev, 64, e->npending ? 0 : 100);
        if (n < 0) n = 0;
        if (n == 0 && !e->npending) continue;
        pthread_mutex_lock(&e->mu);
        e->wakeups++;
        int carried = e->npending;
        for (int i = 0; i < carried; i++) e->legs[e->pending[i]].queued = 0;
        for (int i = 0; i < n; i++) serve(e, (int)ev[i].data.u32);
        /* the carried-over legs after this round's events; serve() re-queues behind them */
        for (int i = 0; i < carried; i++) serve(e, e->pending[i]);
        memmove(e->pending, e->pending + carried, (size_t)(e->npending - carried) * sizeof(int));
        e->npending -= carried;
        /* one flush per wake-up, not per socket: the datagrams of the whole round leave
         * back to back (a receiver woken by the first finds the rest queued; measured:
         * the wake-ups of receivers were ~27% of the loop's CPU at 500 calls when each
         * socket's packet was sent right after it was read). send_to flushes early when
         * the MAX_OUT queue is full; the added delay is one round's processing time. */
        flush(e);
        pthread_mutex_unlock(&e->mu);
    }
    return NULL;
}

int fp_start(void *engine) {
    engine_t *e = engine;
    e->running = 1;
    if (pthread_create(&e->thread, NULL, run, e) != 0) { e->running = 0; return -1; }
    return 0;
}

void fp_stop(void *engine) {
    engine_t *e = engine;
    if (__atomic_exchange_n(&e->running, 0, __ATOMIC_ACQ_REL)) pthread_join(e->thread, NULL);
}

int fp_leg_add(void *engine, int fd, void *rx, void *tx, void *frx, void *ftx,
               unsigned int declared_ip, unsigned short declared_port) {
    engine_t *e = engine;
    pthread_mutex_lock(&e->mu);
    if (e->nfree == 0) { pthread_mutex_unlock(&e->mu); return -1; }
    int h = e->free_slots[--e->nfree];
    fp_leg *l = &e->legs[h];
    memset(l, 0, sizeof(*l));
    l->fd = fd; l->rx = rx; l->tx = tx; l->frx = frx; l->ftx = ftx;
    l->created = mono();
    l->relatched_at = -RELATCH_INTERVAL_S;
    l->base_seq = -1;
    if (declared_port) { l->remote_ip = declared_ip; l->remote_port = declared_port; l->has_remote = 1; }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = (uint32_t)h};
    if (epoll_ctl(e->efd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        e->free_slots[e->nfree++] = h;
        pthread_mutex_unlock(&e->mu);
        return -2;
    }
    l->active = 1;
    pthread_mutex_unlock(&e->mu);
    return h;
}

fp_leg *fp_leg_get(void *engine, int handle) {
    engine_t *e = engine;
    if (handle < 0 || handle >= e->capacity) return NULL;
    return &e->legs[handle];
}

int fp_set_peers(void *engine, int handle, int *peers, int n) {
    engine_t *e = engine;
    if (n > 8 || handle < 0 || handle >= e->capacity) return -1;
    pthread_mutex_lock(&e->mu);
    fp_leg *l = &e->legs[handle];
    for (int i = 0; i < n; i++) l->peers[i] = peers[i];
    l->npeers = n;
    pthread_mutex_unlock(&e->mu);
    return 0;
}

/* stop serving these legs (closed, or handed to the Python path): counters stay readable
 * until the slot is reused by a later fp_leg_add; no peer of theirs sends to them again */
void fp_detach(void *engine, int *handles, int n) {
    engine_t *e = engine;
    pthread_mutex_lock(&e->mu);
    for (int k = 0; k < n; k++) {
        int h = handles[k];
        if (h < 0 || h >= e->capacity || !e->legs[h].active) continue;
        fp_leg *l = &e->legs[h];
        for (int i = 0; i < l->npeers; i++) { /* wiring is symmetric: unlink h from its peers */
            fp_leg *p = &e->legs[l->peers[i]];
            int m = 0;
            for (int j = 0; j < p->npeers; j++)
                if (p->peers[j] != h) p->peers[m++] = p->peers[j];
            p->npeers = m;
        }
        epoll_ctl(e->efd, EPOLL_CTL_DEL, l->fd, NULL);
        if (l->queued) { /* out of the pending list: a reused slot is queued afresh */
            int m = 0;
            for (int j = 0; j < e->npending; j++)
                if (e->pending[j] != h) e->pending[m++] = e->pending[j];
            e->npending = m;
            l->queued = 0;
        }
        l->active = 0;
        l->npeers = 0;
        e->free_slots[e->nfree++] = h;
    }
    pthread_mutex_unlock(&e->mu);
}

unsigned long long fp_batches(void *engine) { return ((engine_t *)engine)->batches; }
unsigned long long fp_wakeups(void *engine) { return ((engine_t *)engine)->wakeups; }

/* A "crypto" that changes nothing: the benchmark's batched forwarder without crypto (the
 * physical limit of this loop: same sockets, same bookkeeping, no SRTP). Never used by a relay. */
int fp_nocrypto(void *ctx, void *hdr, int *len) {
    (void)ctx; (void)hdr; (void)len;
    return 0;
}
