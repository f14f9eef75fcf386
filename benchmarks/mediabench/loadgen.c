/* The media benchmark's load generator in C (benchmarks/mediabench/loadgen.py builds it):
 * every simulated phone has its own UDP socket; pre-encrypted packets are sent on a fixed
 * schedule (frame every 20 ms, spread over `slots` sub-slots) while whatever comes back is
 * read with recvmmsg and timed. One thread, epoll + a timerfd for the schedule, so the
 * generator costs little CPU next to the relay it measures. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define GBATCH 32
#define GBUF 2048

/* gen_t: see loadgen.h (the cdef, prepended by the build) */

static double gen_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int gen_init(gen_t *g) {
    g->efd = epoll_create1(EPOLL_CLOEXEC);
    g->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (g->efd < 0 || g->tfd < 0) return -1;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = 0xFFFFFFFFu};
    if (epoll_ctl(g->efd, EPOLL_CTL_ADD, g->tfd, &ev) != 0) return -2;
    for (int i = 0; i < g->nlegs; i++) {
        struct epoll_event e2 = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (epoll_ctl(g->efd, EPOLL_CTL_ADD, g->fds[i], &e2) != 0) return -3;
    }
    return 0;
}

void gen_close(gen_t *g) {
    if (g->efd >= 0) close(g->efd);
    if (g->tfd >= 0) close(g->tfd);
    g->efd = g->tfd = -1;
}

static void gen_read(gen_t *g, int leg) {
    static struct mmsghdr msg[GBATCH];
    static struct iovec iov[GBATCH];
    static unsigned char buf[GBATCH][GBUF];
    for (int round = 0; round < 8; round++) {
        for (int i = 0; i < GBATCH; i++) {
            iov[i].iov_base = buf[i];
            iov[i].iov_len = GBUF;
            memset(&msg[i].msg_hdr, 0, sizeof(msg[i].msg_hdr));
            msg[i].msg_hdr.msg_iov = &iov[i];
            msg[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(g->fds[leg], msg, GBATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) return;
        double now = gen_now();
        int p = g->peer[leg];
        for (int i = 0; i < n; i++) {
            unsigned char *d = buf[i];
            int len = (int)msg[i].msg_len;
            if (len <= 12 || d[1] >= 192) continue; /* RTCP (the latching reports) */
            g->received[leg]++;
            int seq = (d[2] << 8) | d[3];
            if (seq >= g->warm && seq < g->frames) {
                size_t k = (size_t)p * (size_t)g->frames + (size_t)seq;
                g->latency[(size_t)leg * (size_t)g->frames + (size_t)seq] =
                    (float)(now - g->sent_at[k]);
                if (seq == g->warm && len == g->lens[k] &&
                    memcmp(d, g->packets + k * (size_t)g->stride, (size_t)len) == 0)
                    g->passthrough[leg]++;
            }
        }
        if (n < GBATCH) return;
    }
}

/* read whatever arrives until `until` (CLOCK_MONOTONIC seconds) */
static void gen_pump_until(gen_t *g, double until) {
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)until;
    its.it_value.tv_nsec = (long)((until - (double)(time_t)until) * 1e9);
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(g->tfd, TFD_TIMER_ABSTIME, &its, NULL);
    struct epoll_event ev[256];
    for (;;) {
        int n = epoll_wait(g->efd, ev, 256, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return;
        }
        int fired = 0;
        for (int i = 0; i < n; i++) {
            uint32_t h = ev[i].data.u32;
            if (h == 0xFFFFFFFFu) {
                uint64_t x;
                if (read(g->tfd, &x, sizeof x) < 0) { /* spurious: checked below */ }
                fired = 1;
            } else {
                gen_read(g, (int)h);
            }
        }
        if (fired || gen_now() >= until) return;
    }
}

void gen_pump(gen_t *g, double until) { gen_pump_until(g, until); }

/* send frames [f0, f1) on the schedule that starts at `start`; returns the lateness of the
 * last send against its slot (seconds) */
double gen_send(gen_t *g, int f0, int f1, double start) {
    double late = 0.0;
    for (int f = f0; f < f1; f++) {
        for (int s = 0; s < g->slots; s++) {
            double due = start + f * g->frame_s + s * g->frame_s / g->slots;
            if (gen_now() < due) gen_pump_until(g, due);
            double now = gen_now();
            late = now - due;
            for (int leg = s; leg < g->nlegs; leg += g->slots) {
                size_t k = (size_t)leg * (size_t)g->frames + (size_t)f;
                g->sent_at[k] = gen_now();
                sendto(g->fds[leg], g->packets + k * (size_t)g->stride, (size_t)g->lens[k],
                       MSG_DONTWAIT, (const struct sockaddr *)((const struct sockaddr_in *)g->remote + leg),
                       sizeof(struct sockaddr_in));
            }
        }
    }
    return late;
}

double gen_clock(void) { return gen_now(); }
