/* cdef of the load generator (loadgen.c); read by loadgen.py. */
typedef struct {
    int nlegs, frames, stride, warm, slots, efd, tfd;
    double frame_s;
    const int *fds;
    const int *peer;
    const void *remote;
    const unsigned char *packets;
    const int *lens;
    double *sent_at;
    float *latency;
    long long *received;
    long long *passthrough;
} gen_t;
int gen_init(gen_t *g);
void gen_close(gen_t *g);
void gen_pump(gen_t *g, double until);
double gen_send(gen_t *g, int f0, int f1, double start);
double gen_clock(void);
