/* SRTP (RFC 3711) for AES_CM_128_HMAC_SHA1_80 RTP packets, precomputed per session, on
 * OpenSSL's libcrypto (loaded with dlopen: no headers, no link-time dependency; when it is
 * missing fs_init fails and every leg keeps libsrtp). Included by fastpath.c; the reasons and
 * the measured figures are in fabric/media/srtp_aescm.py.
 *
 * Per session, once: the RFC 3711 4.3 key derivation (AES-CM PRF, key derivation rate 0),
 * an AES-128-ECB EVP context keyed with the session key, and the SHA-1 states of HMAC's
 * inner and outer pads. Per packet: the counter blocks of the packet encrypted in one
 * EVP_EncryptUpdate and XORed into the payload; the HMAC from copies of the two states.
 * Sequence numbers, rollover counter and replay window follow libsrtp's rdbx exactly
 * (index estimate of RFC 3711 Appendix A as libsrtp 2 does it, a 128-packet window, the
 * same status codes), per SSRC, for up to FS_SSRCS SSRCs per direction (the least recently
 * used is forgotten beyond that). SRTCP and every other suite stay with libsrtp. */
#include <dlfcn.h>

#define FS_TAG 10
#define FS_SSRCS 8
#define FS_WINDOW 128
#define FS_MAX_BLOCKS 96 /* 1536 bytes of payload: more than the relay's largest packet */
#define FS_OK 0
#define FS_AUTH_FAIL 7
#define FS_REPLAY_FAIL 9
#define FS_REPLAY_OLD 10
#define FS_PARSE_ERR 21

typedef struct { /* OpenSSL's SHA_CTX (stable since 0.9.8) */
    unsigned int h[5], Nl, Nh, data[16], num;
} fs_sha_ctx;

typedef struct { /* a SHA_CTX after whole blocks: its chaining value and length only */
    unsigned int h[5], Nl, Nh;
} fs_sha_state;

static struct {
    int state; /* 1: loaded */
    void *(*ctx_new)(void);
    void (*ctx_free)(void *);
    const void *(*aes_128_ecb)(void);
    int (*enc_init)(void *, const void *, void *, const unsigned char *, const unsigned char *);
    int (*set_padding)(void *, int);
    int (*enc_update)(void *, unsigned char *, int *, const unsigned char *, int);
    int (*cipher)(void *, unsigned char *, const unsigned char *, unsigned int);
    int (*sha1_init)(fs_sha_ctx *);
    int (*sha1_update)(fs_sha_ctx *, const void *, size_t);
    int (*sha1_final)(unsigned char *, fs_sha_ctx *);
} C;

typedef struct {
    uint32_t ssrc;
    uint32_t last_use; /* 0: a free entry */
    uint64_t index;    /* highest packet index (ROC << 16 | SEQ) */
    uint64_t lo, hi;   /* bit k set: index - k was seen (k < 128) */
} fs_stream;

/* laid out for the cache (the state of 1,000 legs does not stay in it between two packets of
 * a leg): what every packet reads is in the first two lines, the first SSRC's entry with it */
typedef struct {
    void *aes; /* AES-128-ECB keyed with the session key */
    unsigned char salt[14];
    uint32_t tick;
    fs_sha_state inner, outer; /* HMAC-SHA1 after the key XOR ipad / opad block */
    uint32_t spare;
    fs_stream s[FS_SSRCS];
} fs_t;

/* 1 when libcrypto `lib` (e.g. "libcrypto.so.3") loaded with every function needed; a failed
 * attempt leaves an earlier successful one in place (the caller decides per leg) */
int fs_init(const char *lib) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) return 0;
    __typeof__(C) c = {.state = 1};
#define SYM(field, name) if (!(*(void **)&c.field = dlsym(h, name))) { dlclose(h); return 0; }
    SYM(ctx_new, "EVP_CIPHER_CTX_new");
    SYM(ctx_free, "EVP_CIPHER_CTX_free");
    SYM(aes_128_ecb, "EVP_aes_128_ecb");
    SYM(enc_init, "EVP_EncryptInit_ex");
    SYM(set_padding, "EVP_CIPHER_CTX_set_padding");
    SYM(enc_update, "EVP_EncryptUpdate");
    SYM(cipher, "EVP_Cipher");
    SYM(sha1_init, "SHA1_Init");
    SYM(sha1_update, "SHA1_Update");
    SYM(sha1_final, "SHA1_Final");
#undef SYM
    if (C.state <= 0) C = c; /* once: transforms made earlier keep their functions */
    return 1;
}

static void *fs_ecb(const unsigned char *key) {
    void *ctx = C.ctx_new();
    if (!ctx) return NULL;
    if (C.enc_init(ctx, C.aes_128_ecb(), NULL, key, NULL) != 1 || C.set_padding(ctx, 0) != 1) {
        C.ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

/* the AES-CM PRF of RFC 3711 4.3.3 with r = 0: n bytes for `label` */
static int fs_prf(void *master, const unsigned char *msalt, int label, unsigned char *out, int n) {
    unsigned char ctr[48], ks[48];
    int blocks = (n + 15) / 16;
    for (int b = 0; b < blocks; b++) {
        memset(ctr + 16 * b, 0, 16);
        memcpy(ctr + 16 * b, msalt, 14);
        ctr[16 * b + 7] ^= (unsigned char)label;
        ctr[16 * b + 15] = (unsigned char)b;
    }
    int outl = 0;
    if (C.enc_update(master, ks, &outl, ctr, 16 * blocks) != 1) return -1;
    memcpy(out, ks, (size_t)n);
    return 0;
}

/* the session keys of labels 0, 1, 2 (RFC 3711 4.3.1), for tests against Appendix B.3 */
int fs_derive(const unsigned char *mkey, const unsigned char *msalt, unsigned char *key,
              unsigned char *auth, unsigned char *salt) {
    if (C.state <= 0) return -1;
    void *master = fs_ecb(mkey);
    if (!master) return -1;
    int r = fs_prf(master, msalt, 0, key, 16) | fs_prf(master, msalt, 1, auth, 20) |
            fs_prf(master, msalt, 2, salt, 14);
    C.ctx_free(master);
    return r;
}

void fs_free(void *tp) {
    fs_t *t = tp;
    if (!t) return;
    if (t->aes) C.ctx_free(t->aes);
    memset(t, 0, sizeof(*t));
    free(t);
}

/* a transform for one direction of a leg (master key 16 bytes, master salt 14 bytes) */
void *fs_new(const unsigned char *mkey, const unsigned char *msalt) {
    if (C.state <= 0) return NULL;
    fs_t *t = aligned_alloc(64, (sizeof(fs_t) + 63) / 64 * 64);
    if (!t) return NULL;
    memset(t, 0, sizeof(*t));
    unsigned char key[16], auth[20], pad[64];
    if (fs_derive(mkey, msalt, key, auth, t->salt) != 0 || !(t->aes = fs_ecb(key))) {
        fs_free(t);
        return NULL;
    }
    fs_sha_ctx c;
    fs_sha_state *states[2] = {&t->inner, &t->outer};
    for (int k = 0; k < 2; k++) {
        memset(pad, k ? 0x5c : 0x36, sizeof pad);
        for (int i = 0; i < 20; i++) pad[i] ^= auth[i];
        C.sha1_init(&c);
        C.sha1_update(&c, pad, 64);
        memcpy(states[k]->h, c.h, sizeof c.h);
        states[k]->Nl = c.Nl;
        states[k]->Nh = c.Nh;
    }
    memset(&c, 0, sizeof c);
    memset(key, 0, sizeof key); memset(auth, 0, sizeof auth); memset(pad, 0, sizeof pad);
    return t;
}

/* RTP header length (CSRCs, extension), or -1 when it does not fit in len */
static int fs_header(const unsigned char *p, int len) {
    if (len < 12) return -1;
    int hl = 12 + 4 * (p[0] & 0x0F);
    if (p[0] & 0x10) {
        if (hl + 4 > len) return -1;
        hl += 4 + 4 * ((p[hl + 2] << 8) | p[hl + 3]);
    }
    return hl > len ? -1 : hl;
}

static fs_stream *fs_find(fs_t *t, uint32_t ssrc) {
    for (int i = 0; i < FS_SSRCS; i++)
        if (t->s[i].last_use && t->s[i].ssrc == ssrc) return &t->s[i];
    return NULL;
}

static void fs_touch(fs_t *t, fs_stream *st) {
    if (++t->tick == 0) { /* 2^32 packets: restart the ages, keeping their order roughly */
        for (int i = 0; i < FS_SSRCS; i++) if (t->s[i].last_use) t->s[i].last_use = 1;
        t->tick = 2;
    }
    st->last_use = t->tick;
}

static fs_stream *fs_add(fs_t *t, uint32_t ssrc) {
    fs_stream *v = &t->s[0];
    for (int i = 0; i < FS_SSRCS; i++) {
        if (!t->s[i].last_use) { v = &t->s[i]; break; }
        if (t->s[i].last_use < v->last_use) v = &t->s[i];
    }
    memset(v, 0, sizeof(*v));
    v->ssrc = ssrc;
    fs_touch(t, v);
    return v;
}

/* libsrtp's srtp_rdbx_estimate_index: the packet index of seq s, and its distance to the
 * highest index seen */
static int fs_estimate(const fs_stream *st, uint16_t s, uint64_t *guess) {
    if (st->index <= 0x8000) {
        *guess = s;
        return (int)s - (int)(uint16_t)st->index;
    }
    uint32_t roc = (uint32_t)(st->index >> 16);
    uint16_t lseq = (uint16_t)st->index;
    int diff;
    if (lseq < 0x8000) {
        if ((int)s - (int)lseq > 0x8000) { roc -= 1; diff = (int)s - (int)lseq - 0x10000; }
        else diff = (int)s - (int)lseq;
    } else {
        if ((int)lseq - 0x8000 > (int)s) { roc += 1; diff = (int)s - (int)lseq + 0x10000; }
        else diff = (int)s - (int)lseq;
    }
    *guess = ((uint64_t)roc << 16) | s;
    return diff;
}

static int fs_check(const fs_stream *st, int delta) {
    if (delta > 0) return FS_OK;
    if (-delta >= FS_WINDOW) return FS_REPLAY_OLD;
    int k = -delta;
    uint64_t bit = k < 64 ? (st->lo >> k) & 1 : (st->hi >> (k - 64)) & 1;
    return bit ? FS_REPLAY_FAIL : FS_OK;
}

static void fs_note(fs_stream *st, int delta, uint64_t guess) {
    if (delta > 0) {
        if (delta >= FS_WINDOW) st->lo = st->hi = 0;
        else if (delta >= 64) { st->hi = st->lo << (delta - 64); st->lo = 0; }
        else { st->hi = (st->hi << delta) | (st->lo >> (64 - delta)); st->lo <<= delta; }
        st->lo |= 1;
        st->index = guess;
    } else {
        int k = -delta;
        if (k < 64) st->lo |= 1ULL << k;
        else st->hi |= 1ULL << (k - 64);
    }
}

/* XOR the AES-CM keystream of (ssrc, index) into data[0:n] */
static int fs_crypt(fs_t *t, uint32_t ssrc, uint64_t index, unsigned char *data, int n) {
    unsigned char ctr[FS_MAX_BLOCKS * 16], ks[FS_MAX_BLOCKS * 16], iv[16];
    int blocks = (n + 15) / 16;
    if (blocks == 0) return FS_OK; /* an RTP packet without payload (a keep-alive) */
    if (blocks > FS_MAX_BLOCKS) return FS_PARSE_ERR;
    memcpy(iv, t->salt, 14);
    iv[14] = iv[15] = 0;
    iv[4] ^= (unsigned char)(ssrc >> 24); iv[5] ^= (unsigned char)(ssrc >> 16);
    iv[6] ^= (unsigned char)(ssrc >> 8); iv[7] ^= (unsigned char)ssrc;
    for (int i = 0; i < 6; i++) iv[8 + i] ^= (unsigned char)(index >> (8 * (5 - i)));
    for (int b = 0; b < blocks; b++) {
        memcpy(ctr + 16 * b, iv, 14);
        ctr[16 * b + 14] = (unsigned char)(b >> 8);
        ctr[16 * b + 15] = (unsigned char)b;
    }
    /* EVP_Cipher: the provider's cipher call without EVP_EncryptUpdate's buffering (ECB,
     * whole blocks, no padding); > 0 on success */
    if (C.cipher(t->aes, ks, ctr, (unsigned int)(16 * blocks)) <= 0) return 8; /* cipher_fail */
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t a, b;
        memcpy(&a, data + i, 8);
        memcpy(&b, ks + i, 8);
        a ^= b;
        memcpy(data + i, &a, 8);
    }
    for (; i < n; i++) data[i] ^= ks[i];
    return FS_OK;
}

static void fs_resume(fs_sha_ctx *c, const fs_sha_state *s) {
    memcpy(c->h, s->h, sizeof c->h);
    c->Nl = s->Nl;
    c->Nh = s->Nh;
    c->num = 0;
}

/* HMAC-SHA1 of p[0:n] || ROC into out (20 bytes); p[n:n+4] is scratch (the tag's place) */
static void fs_tag(fs_t *t, unsigned char *p, int n, uint32_t roc, unsigned char *out) {
    p[n] = (unsigned char)(roc >> 24); p[n + 1] = (unsigned char)(roc >> 16);
    p[n + 2] = (unsigned char)(roc >> 8); p[n + 3] = (unsigned char)roc;
    unsigned char inner[20];
    fs_sha_ctx c;
    fs_resume(&c, &t->inner);
    C.sha1_update(&c, p, (size_t)n + 4);
    C.sha1_final(inner, &c);
    fs_resume(&c, &t->outer);
    C.sha1_update(&c, inner, 20);
    C.sha1_final(out, &c);
}

/* as srtp_protect of a session with allow_repeat_tx: *len grows by the 10-byte tag */
int fs_protect(void *tp, void *pkt, int *len) {
    fs_t *t = tp;
    unsigned char *p = pkt;
    int n = *len, hl = fs_header(p, n);
    if (hl < 0) return FS_PARSE_ERR;
    uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
    fs_stream *st = fs_find(t, ssrc);
    if (st) fs_touch(t, st);
    else st = fs_add(t, ssrc);
    uint64_t index;
    int delta = fs_estimate(st, (uint16_t)((p[2] << 8) | p[3]), &index);
    int status = fs_check(st, delta);
    if (status == FS_REPLAY_OLD) return status;
    if (status == FS_OK) fs_note(st, delta, index); /* a repeated index is allowed (repeat_tx) */
    status = fs_crypt(t, ssrc, index, p + hl, n - hl);
    if (status) return status;
    unsigned char tag[20];
    fs_tag(t, p, n, (uint32_t)(index >> 16), tag);
    memcpy(p + n, tag, FS_TAG);
    *len = n + FS_TAG;
    return FS_OK;
}

/* as srtp_unprotect: verify, decrypt, *len shrinks by the tag; libsrtp's status codes */
int fs_unprotect(void *tp, void *pkt, int *len) {
    fs_t *t = tp;
    unsigned char *p = pkt;
    int n = *len - FS_TAG;
    if (n < 12) return FS_PARSE_ERR;
    int hl = fs_header(p, n);
    if (hl < 0) return FS_PARSE_ERR;
    uint32_t ssrc = ((uint32_t)p[8] << 24) | ((uint32_t)p[9] << 16) | ((uint32_t)p[10] << 8) | p[11];
    uint16_t seq = (uint16_t)((p[2] << 8) | p[3]);
    fs_stream *st = fs_find(t, ssrc);
    uint64_t index;
    int delta;
    if (st) {
        delta = fs_estimate(st, seq, &index);
        int status = fs_check(st, delta);
        if (status) return status;
    } else { /* a new SSRC: its first packet sets the index (ROC 0), as libsrtp's template */
        index = seq;
        delta = seq;
    }
    unsigned char tag[20], got[FS_TAG];
    memcpy(got, p + n, FS_TAG);
    fs_tag(t, p, n, (uint32_t)(index >> 16), tag);
    unsigned char diff = 0;
    for (int i = 0; i < FS_TAG; i++) diff |= (unsigned char)(tag[i] ^ got[i]);
    if (diff) return FS_AUTH_FAIL;
    int status = fs_crypt(t, ssrc, index, p + hl, n - hl);
    if (status) return status;
    if (st) fs_touch(t, st);
    else st = fs_add(t, ssrc);
    fs_note(st, delta, index);
    *len = n;
    return FS_OK;
}
