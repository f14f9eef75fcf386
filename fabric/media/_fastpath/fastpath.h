/* cdef of the compiled data plane (fabric/media/_fastpath/fastpath.c); read by build.py. */
typedef struct {
    int active, fd, npeers;
    int peers[8];
    void *rx, *tx;   /* libsrtp sessions (srtp_t): SRTCP, and RTP when frx/ftx are NULL */
    void *frx, *ftx; /* the precomputed AES_CM_128_HMAC_SHA1_80 RTP transforms (fs_new) */
    unsigned int remote_ip; unsigned short remote_port; int has_remote, heard;
    unsigned int cand_ip; unsigned short cand_port; int has_cand, cand_packets;
    double created, last_rx, relatched_at, jitter, last_transit;
    long long base_seq, max_seq, cycles;
    unsigned long long packets_in, bytes_in, packets_out, bytes_out, rtcp_in, rtcp_out;
    unsigned long long drop_auth, drop_replay, drop_source, drop_malformed, drop_no_peer;
    unsigned long long relatches;
    int queued; /* in the loop's list of sockets to read again */
} fp_leg;

void *fp_new(int capacity, uintptr_t protect, uintptr_t unprotect,
             uintptr_t protect_rtcp, uintptr_t unprotect_rtcp);
int fp_start(void *engine);
void fp_stop(void *engine);
int fp_leg_add(void *engine, int fd, void *rx, void *tx, void *frx, void *ftx,
               unsigned int declared_ip, unsigned short declared_port);
fp_leg *fp_leg_get(void *engine, int handle);
int fp_set_peers(void *engine, int handle, int *peers, int n);
void fp_detach(void *engine, int *handles, int n);
unsigned long long fp_batches(void *engine);
unsigned long long fp_wakeups(void *engine);
int fp_nocrypto(void *ctx, void *hdr, int *len);
int fs_init(const char *lib);
void *fs_new(const unsigned char *master_key, const unsigned char *master_salt);
void fs_free(void *transform);
int fs_protect(void *transform, void *packet, int *len);
int fs_unprotect(void *transform, void *packet, int *len);
int fs_derive(const unsigned char *master_key, const unsigned char *master_salt,
              unsigned char *key, unsigned char *auth, unsigned char *salt);
