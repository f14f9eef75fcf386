/* Microbenchmark of one relay packet's SRTP work: unprotect with the receiving leg's session,
 * protect with the sending leg's, for libsrtp (called as the relay calls it: through
 * pylibsrtp's function pointers) and for the relay's precomputed transform (fs_*, the same
 * source the relay compiles). Only the time inside the two calls is counted; between two
 * packets `pollute` bytes of other memory can be read, standing for what the kernel and the
 * other legs put into the cache between two packets of one leg in the relay. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "srtp_aescm.c"

typedef int (*sm_fn)(void *ctx, void *hdr, int *len);

static double sm_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static volatile unsigned char sm_sink;

double sm_run(uintptr_t unprotect, void **rx, uintptr_t protect, void **tx, int sessions,
              const unsigned char *packets, int stride, const int *lens, int n, int pollute,
              int *fails) {
    static unsigned char *junk;
    const unsigned mask = (8u << 20) - 1;
    if (!junk && !(junk = calloc(1, mask + 1))) return -1.0;
    unsigned char buf[2048];
    unsigned off = 0;
    double spent = 0.0;
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int len = lens[i];
        memcpy(buf, packets + (size_t)stride * (size_t)i, (size_t)len);
        unsigned char acc = 0;
        for (int k = 0; k < pollute; k += 64) { acc ^= junk[off]; off = (off + 64) & mask; }
        sm_sink = acc;
        double t0 = sm_now();
        int st = ((sm_fn)unprotect)(rx[i % sessions], buf, &len);
        if (!st) st = ((sm_fn)protect)(tx[i % sessions], buf, &len);
        spent += sm_now() - t0;
        if (st) bad++;
    }
    *fails = bad;
    return spent;
}

uintptr_t sm_fs_unprotect(void) { return (uintptr_t)fs_unprotect; }
uintptr_t sm_fs_protect(void) { return (uintptr_t)fs_protect; }
