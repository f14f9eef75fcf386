/* cdef of the SRTP transform microbenchmark (srtp_micro.c); read by srtp_micro.py. */
double sm_run(uintptr_t unprotect, void **rx, uintptr_t protect, void **tx, int sessions,
              const unsigned char *packets, int stride, const int *lens, int n, int pollute,
              int *fails);
uintptr_t sm_fs_unprotect(void);
uintptr_t sm_fs_protect(void);
int fs_init(const char *lib);
void *fs_new(const unsigned char *master_key, const unsigned char *master_salt);
void fs_free(void *transform);
