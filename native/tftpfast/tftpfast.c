// tftpfast: the DATA/ACK loop of TFTP read transfers, off the JavaScript thread.
//
// JavaScript keeps everything before the first packet of a transfer (request parsing, the resolver,
// option negotiation, limits, events) and hands over: the client address, the negotiated block and
// window size, the OACK bytes (or none), the file's bytes (a Buffer, kept alive by a reference
// until the transfer ends) or an open file descriptor (read with pread; JavaScript closes it after
// the completion), and the retransmission limits. One engine = one thread with one epoll set for
// all its transfers; each transfer has its own UDP socket (its own TID), created here.
//
// The protocol logic is src/tftp/session.ts ported line for line (same states, same counters,
// same decisions): RTO from RTT (RFC 6298, Karn's rule), retries cap, duplicate ACKs ignored in
// lock-step, window go-back, stall probe, OACK resent on the timer only after 6 s, ERROR from the
// client ends the transfer, error 5 to packets from other TIDs, block numbers wrap at 65535.
// When a transfer ends, the JavaScript callback gets: id, outcome, bytes, retransmits,
// duplicate ACKs, packets sent, smoothed RTT, and the client's error or our reason.
#define _GNU_SOURCE
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { OP_RRQ = 1, OP_WRQ = 2, OP_DATA = 3, OP_ACK = 4, OP_ERROR = 5, OP_OACK = 6 };
enum { ST_OACK, ST_DATA, ST_DONE };
enum { OUT_OK = 0, OUT_ABORTED = 1, OUT_FAILED = 2 };
// the same reasons (and names, in JS) as parsePacket() and Session.onMessage
enum { DR_SHORT, DR_BAD_OPCODE, DR_MALFORMED_REQUEST, DR_MALFORMED_OPTIONS, DR_UNEXPECTED_OPCODE, DR_UNKNOWN_TID, DR_PRE_ACK_BUDGET, DR_COUNT };
// messages to the main thread
enum { MSG_DONE, MSG_FIRST_ACK };

#define OACK_TIMER_RESEND_MS 6000.0
#define RING 64
#define MAX_STRING 512
#define MAX_BLKSIZE 65464

typedef struct { uint64_t block; double t; uint8_t resent; } sent_t;

struct xfer;
typedef struct msg { int kind; double id; struct xfer *x; } msg;

typedef struct xfer {
  struct xfer *next_active;
  struct engine *eng;
  double id;
  int fd;
  struct sockaddr_storage peer;
  socklen_t peerlen;
  const uint8_t *data; // memory source, or NULL
  int file_fd;         // file source, or -1
  uint64_t size;
  uint32_t blksize, window;
  uint64_t last_block, base, next, highest_sent;
  int state;
  uint8_t *oack;
  size_t oack_len;
  double oack_sent_at;
  int oack_resent;
  int retries, max_retries;
  // before the first ACK (session.ts PreAckLimits): only OACK / DATA 1, at most pre_max_sends sends,
  // silent end after pre_timeout_ms. has_pre_ack 0: not given (the older rule: OACK resent on the
  // timer after 6 s, DATA 1 under the usual retries)
  int has_pre_ack, acked, pre_sends, pre_max_sends;
  double pre_timeout_ms, started_at;
  int fast_retx, probe;
  double deadline;
  int armed;
  // RTO estimator (src/tftp/rto.ts)
  int has_srtt;
  double srtt, rttvar, backoff, rto_initial, rto_min, rto_max;
  unsigned timeouts; // in a row (rto_timed_out)
  sent_t ring[RING];
  double retransmits, dup_acks, packets_sent;
  uint8_t *chunk;    // file sources: read-ahead buffer (readChunkBytes, at least one block)
  size_t chunk_cap, chunk_len;
  uint64_t chunk_off;
  // result
  int outcome, err_code;
  char err_msg[MAX_STRING + 1];
  size_t err_len;
  napi_ref buf_ref; // main thread only
  // optional 1-byte Buffer the thread sets to 1 at the first ACK, so JavaScript can tell at once
  // (the MSG_FIRST_ACK post arrives a loop turn later) that the transfer is no longer unproven
  uint8_t *acked_flag;
  napi_ref flag_ref; // main thread only
  msg done_msg;     // the completion message (no allocation when the transfer ends)
} xfer;

typedef struct cmd {
  struct cmd *next;
  int kind; // 0 add, 1 duplicate request, 2 cancel, 3 cancel without an ERROR to the client
  double id;
  xfer *x;
  char reason[201];
} cmd;



typedef struct engine {
  int ep, evfd;
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  cmd *head, *tail;
  atomic_int quit;
  xfer *active;
  xfer *done; // ended in this loop round; handed to the main thread after the round
  // no armed transfer has a deadline before this (a lower bound: deadlines that moved later are
  // found by the next full pass); INFINITY when none is armed
  double next_deadline;
  napi_threadsafe_function tsfn;
  int js_active; // main thread: transfers not yet completed
  atomic_ullong drops[DR_COUNT];
  uint8_t rbuf[65536];
} engine;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

// ---- RTO (rto.ts) ----
static void rto_sample(xfer *x, double ms) {
  double r = ms < 0 ? 0 : ms;
  if (!x->has_srtt) { x->srtt = r; x->rttvar = r / 2; x->has_srtt = 1; }
  else { x->rttvar = 0.75 * x->rttvar + 0.25 * fabs(x->srtt - r); x->srtt = 0.875 * x->srtt + 0.125 * r; }
}
// LOSS_GRACE timeouts in a row keep the RTO; later ones double it (rto.ts says why)
#define LOSS_GRACE 2
static void rto_progress(xfer *x) { x->backoff = 1; x->timeouts = 0; }
static void rto_timed_out(xfer *x) {
  if (++x->timeouts > LOSS_GRACE) x->backoff = x->backoff * 2 > 1024 ? 1024 : x->backoff * 2;
}
static double rto_value(xfer *x) {
  double base = x->has_srtt ? x->srtt + fmax(1, 4 * x->rttvar) : x->rto_initial;
  double clamped = fmin(fmax(base, x->rto_min), x->rto_max);
  return fmin(clamped * x->backoff, x->rto_max);
}

// ---- sending ----
static void send_raw(xfer *x, const void *buf, size_t len) {
  x->packets_sent++;
  (void)sendto(x->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&x->peer, x->peerlen);
}

static size_t error_packet(uint8_t *out, int code, const char *msg) {
  size_t n = strnlen(msg, 200);
  out[0] = 0; out[1] = OP_ERROR; out[2] = (uint8_t)(code >> 8); out[3] = (uint8_t)code;
  memcpy(out + 4, msg, n);
  out[4 + n] = 0;
  return n + 5;
}

static void send_error(xfer *x, int code, const char *msg) {
  uint8_t pkt[208];
  send_raw(x, pkt, error_packet(pkt, code, msg));
}

static void send_oack(xfer *x) {
  x->oack_sent_at = now_ms();
  x->pre_sends++;
  send_raw(x, x->oack, x->oack_len);
}

static void set_deadline(xfer *x, double d) {
  x->deadline = d;
  x->armed = 1;
  if (d < x->eng->next_deadline) x->eng->next_deadline = d;
}

static void arm(xfer *x) { set_deadline(x, now_ms() + rto_value(x)); }

static void finish(xfer *x, int outcome, int code, const char *msg, size_t len);

static void finish_failed(xfer *x, const char *reason) { finish(x, OUT_FAILED, 0, reason, strlen(reason)); }

/** File sources: makes [off, off+len) readable from x->chunk (one read-ahead chunk, as FileSource). */
static int load_chunk(xfer *x, uint64_t off, size_t len) {
  if (off >= x->chunk_off && off + len <= x->chunk_off + x->chunk_len) return 0;
  size_t want = x->chunk_cap;
  if (want > x->size - off) want = (size_t)(x->size - off);
  size_t got = 0;
  x->chunk_len = 0;
  while (got < want) {
    ssize_t r = pread(x->file_fd, x->chunk + got, want - got, (off_t)(off + got));
    if (r < 0) { if (errno == EINTR) continue; return errno; }
    if (r == 0) break;
    got += (size_t)r;
  }
  if (got < len) return -1; // file shrank
  x->chunk_off = off;
  x->chunk_len = got;
  return 0;
}

/** Sends block b (absolute numbering from 1); 0 on success, else errno of a failed read (-1: shrank). */
static int send_block(xfer *x, uint64_t b) {
  uint64_t off = (b - 1) * (uint64_t)x->blksize;
  size_t len = off < x->size ? (size_t)(x->size - off < x->blksize ? x->size - off : x->blksize) : 0;
  uint8_t hdr[4] = { 0, OP_DATA, (uint8_t)((b >> 8) & 0xff), (uint8_t)(b & 0xff) };
  const uint8_t *payload = hdr;
  if (len > 0 && x->data) payload = x->data + off;
  else if (len > 0) {
    int err = load_chunk(x, off, len);
    if (err) return err;
    payload = x->chunk + (off - x->chunk_off);
  }
  x->packets_sent++;
  struct iovec iov[2] = { { hdr, 4 }, { (void *)payload, len } };
  struct msghdr m = { .msg_name = &x->peer, .msg_namelen = x->peerlen, .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
  (void)sendmsg(x->fd, &m, MSG_DONTWAIT);
  return 0;
}

/** Sends what the window allows (session.ts pump). */
static void pump(xfer *x) {
  while (x->state == ST_DATA) {
    uint64_t end = x->base + x->window - 1;
    if (end > x->last_block) end = x->last_block;
    if (x->has_pre_ack && !x->acked) {
      // unproven client: DATA 1 only, within the send budget
      if (x->pre_sends >= x->pre_max_sends) return;
      end = 1;
      x->probe = 0;
    } else if (x->probe) {
      uint64_t p = end > x->highest_sent + 1 ? end : x->highest_sent + 1;
      end = p < x->last_block ? p : x->last_block;
    }
    if (x->next > end) return;
    uint64_t from = x->next;
    x->probe = 0;
    double t = now_ms();
    for (uint64_t b = from; b <= end; b++) {
      int resent = b <= x->highest_sent;
      if (resent) x->retransmits++;
      sent_t *s = &x->ring[b % RING];
      s->block = b; s->t = t; s->resent = (uint8_t)resent;
      if (!x->acked) x->pre_sends++;
      int err = send_block(x, b);
      if (err) {
        char reason[160];
        snprintf(reason, sizeof reason, "read error: %s", err < 0 ? "file shrank during transfer" : strerror(err));
        send_error(x, 0, "Read error");
        finish_failed(x, reason);
        return;
      }
    }
    x->next = end + 1;
    if (end > x->highest_sent) x->highest_sent = end;
    arm(x);
  }
}

static void post(engine *e, int kind, xfer *x);

static void first_ack(xfer *x) {
  if (x->acked) return;
  x->acked = 1;
  if (x->acked_flag) __atomic_store_n(x->acked_flag, 1, __ATOMIC_RELEASE);
  if (x->has_pre_ack) post(x->eng, MSG_FIRST_ACK, x);
}

static void on_ack(xfer *x, unsigned wire) {
  double t = now_ms();
  if (x->state == ST_OACK) {
    if (wire != 0) { x->dup_acks++; return; }
    if (!x->oack_resent && x->retries == 0) rto_sample(x, t - x->oack_sent_at);
    rto_progress(x);
    x->retries = 0;
    x->state = ST_DATA;
    first_ack(x);
    pump(x);
    return;
  }
  int64_t lo = (int64_t)x->base - 1, k = -1;
  for (int64_t c = (int64_t)x->highest_sent; c >= lo; c--) {
    if ((unsigned)(c & 0xffff) == wire) { k = c; break; }
  }
  if (k < 0) { x->dup_acks++; return; }
  if (k == lo) {
    x->dup_acks++;
    if (x->window > 1 && !x->fast_retx && (int64_t)x->highest_sent > lo) {
      x->fast_retx = 1;
      x->next = x->base;
      pump(x);
    }
    return;
  }
  sent_t *s = &x->ring[(uint64_t)k % RING];
  if (s->block == (uint64_t)k && !s->resent) rto_sample(x, t - s->t);
  x->base = (uint64_t)k + 1;
  first_ack(x);
  rto_progress(x);
  x->retries = 0;
  x->fast_retx = 0;
  if ((uint64_t)k >= x->last_block) { finish(x, OUT_OK, 0, NULL, 0); return; }
  if (x->next < x->base || (uint64_t)k < x->highest_sent) x->next = x->base;
  pump(x);
}

/** Nothing acknowledged yet (session.ts onPreAckTimeout): DATA 1 again within the budget, the OACK
 * never; at the deadline the transfer ends without an ERROR. */
static void on_pre_ack_timeout(xfer *x) {
  double t = now_ms();
  double left = x->started_at + x->pre_timeout_ms - t;
  if (left <= 1) {
    const char *r = x->state == ST_OACK ? "no ACK for the OACK" : "no ACK";
    finish(x, OUT_FAILED, 0, r, strlen(r));
    return;
  }
  x->retries++;
  rto_timed_out(x);
  if (x->state == ST_DATA && x->pre_sends < x->pre_max_sends) {
    x->next = 1;
    pump(x);
  }
  set_deadline(x, now_ms() + fmin(rto_value(x), left));
}

static void on_timeout(xfer *x) {
  x->armed = 0;
  if (x->has_pre_ack && !x->acked) { on_pre_ack_timeout(x); return; }
  if (++x->retries > x->max_retries) {
    send_error(x, 0, "Transfer timed out");
    int last = x->state == ST_DATA && x->base == x->last_block && x->highest_sent == x->last_block;
    finish_failed(x, last ? "no ACK for the last block" : "timeout");
    return;
  }
  rto_timed_out(x);
  if (x->state == ST_OACK) {
    if (now_ms() - x->oack_sent_at >= OACK_TIMER_RESEND_MS) {
      x->retransmits++;
      x->oack_resent = 1;
      send_oack(x);
    }
    arm(x);
    return;
  }
  x->next = x->base;
  x->fast_retx = 0;
  if (x->retries >= 2 && x->highest_sent < x->last_block) x->probe = 1;
  pump(x);
  if (x->state != ST_DONE && !x->armed) arm(x);
}

/** NUL-terminated strings from `start`, as packet.ts cstrings(); -1 if malformed, else the count. */
static int cstrings(const uint8_t *p, size_t n, size_t start, size_t *first_len, int *empty_name) {
  int count = 0;
  size_t i = start;
  *empty_name = 0;
  while (i < n) {
    const uint8_t *e = memchr(p + i, 0, n - i);
    if (!e) return -1;
    size_t len = (size_t)(e - (p + i));
    if (len > MAX_STRING) return -1;
    if (count == 0) *first_len = len;
    if (count >= 2 && count % 2 == 0 && len == 0) *empty_name = 1;
    count++;
    i += len + 1;
  }
  return count;
}

static void drop(xfer *x, int reason) { atomic_fetch_add(&x->eng->drops[reason], 1); }

static int same_peer(xfer *x, const struct sockaddr_storage *from) {
  if (from->ss_family != x->peer.ss_family) return 0;
  if (from->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const void *)from, *b = (const void *)&x->peer;
    return a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
  }
  const struct sockaddr_in6 *a = (const void *)from, *b = (const void *)&x->peer;
  return a->sin6_port == b->sin6_port && memcmp(&a->sin6_addr, &b->sin6_addr, 16) == 0;
}

static void on_packet(xfer *x, const uint8_t *p, size_t n, struct sockaddr_storage *from, socklen_t fromlen) {
  if (!same_peer(x, from)) {
    drop(x, DR_UNKNOWN_TID);
    uint8_t pkt[64];
    size_t len = error_packet(pkt, 5, "Unknown transfer ID");
    (void)sendto(x->fd, pkt, len, MSG_DONTWAIT, (struct sockaddr *)from, fromlen);
    return;
  }
  if (n < 2) { drop(x, DR_SHORT); return; }
  unsigned op = ((unsigned)p[0] << 8) | p[1];
  size_t first = 0;
  int empty = 0, c;
  switch (op) {
    case OP_RRQ:
    case OP_WRQ:
      c = cstrings(p, n, 2, &first, &empty);
      // the order of parsePacket's checks
      if (c < 2) { drop(x, DR_MALFORMED_REQUEST); return; }
      if (c % 2 != 0) { drop(x, DR_MALFORMED_OPTIONS); return; }
      if (first == 0) { drop(x, DR_MALFORMED_REQUEST); return; }
      drop(x, empty ? DR_MALFORMED_OPTIONS : DR_UNEXPECTED_OPCODE);
      return;
    case OP_DATA:
      drop(x, n < 4 ? DR_SHORT : DR_UNEXPECTED_OPCODE);
      return;
    case OP_ACK:
      if (n < 4) { drop(x, DR_SHORT); return; }
      on_ack(x, ((unsigned)p[2] << 8) | p[3]);
      return;
    case OP_ERROR: {
      if (n < 4) { drop(x, DR_SHORT); return; }
      const uint8_t *e = memchr(p + 4, 0, n - 4);
      size_t len = e ? (size_t)(e - (p + 4)) : n - 4;
      if (len > MAX_STRING) len = MAX_STRING;
      finish(x, OUT_ABORTED, ((int)p[2] << 8) | p[3], (const char *)p + 4, len);
      return;
    }
    case OP_OACK:
      c = cstrings(p, n, 2, &first, &empty);
      drop(x, c < 0 || c % 2 != 0 ? DR_MALFORMED_OPTIONS : DR_UNEXPECTED_OPCODE);
      return;
    default:
      drop(x, DR_BAD_OPCODE);
  }
}

static void finish(xfer *x, int outcome, int code, const char *msg, size_t len) {
  if (x->state == ST_DONE) return;
  x->state = ST_DONE;
  x->outcome = outcome;
  x->err_code = code;
  if (len > MAX_STRING) len = MAX_STRING;
  if (msg) memcpy(x->err_msg, msg, len);
  x->err_len = msg ? len : 0;
  engine *e = x->eng;
  epoll_ctl(e->ep, EPOLL_CTL_DEL, x->fd, NULL);
  close(x->fd);
  x->fd = -1;
  for (xfer **pp = &e->active; *pp; pp = &(*pp)->next_active) {
    if (*pp == x) { *pp = x->next_active; break; }
  }
  // handed to the main thread (which builds the result and frees x) at the end of this loop
  // round: a later event of the same epoll batch may still name x
  x->next_active = e->done;
  e->done = x;
}

/** Queues a message for the main thread (in order: a transfer's first-ACK message comes before its end). */
static void post(engine *e, int kind, xfer *x) {
  msg *m = kind == MSG_DONE ? &x->done_msg : malloc(sizeof *m);
  if (!m) return; // a lost first-ACK note only delays slot accounting; the completion never allocates
  m->kind = kind;
  m->id = x->id;
  m->x = kind == MSG_DONE ? x : NULL;
  napi_call_threadsafe_function(e->tsfn, m, napi_tsfn_blocking);
}

static void start_xfer(xfer *x) {
  x->started_at = now_ms();
  if (x->oack_len > 0) { send_oack(x); arm(x); }
  else { x->state = ST_DATA; pump(x); }
}

static xfer *find(engine *e, double id) {
  for (xfer *x = e->active; x; x = x->next_active) if (x->id == id) return x;
  return NULL;
}

static void run_commands(engine *e) {
  uint64_t v;
  (void)!read(e->evfd, &v, sizeof v);
  pthread_mutex_lock(&e->mu);
  cmd *c = e->head;
  e->head = e->tail = NULL;
  pthread_mutex_unlock(&e->mu);
  while (c) {
    cmd *nx = c->next;
    if (c->kind == 0) {
      xfer *x = c->x;
      x->next_active = e->active;
      e->active = x;
      struct epoll_event ev = { .events = EPOLLIN, .data.ptr = x };
      if (epoll_ctl(e->ep, EPOLL_CTL_ADD, x->fd, &ev) < 0) finish_failed(x, "epoll_ctl failed");
      else start_xfer(x);
    } else {
      xfer *x = find(e, c->id);
      if (x && c->kind == 1) {
        if (x->has_pre_ack && !x->acked && x->pre_sends >= x->pre_max_sends) drop(x, DR_PRE_ACK_BUDGET);
        else if (x->state == ST_OACK) {
          x->oack_resent = 1;
          x->retransmits++;
          send_oack(x);
          arm(x);
        } else if (x->state == ST_DATA && x->base == 1 && x->highest_sent >= 1) {
          x->next = 1;
          pump(x);
        }
      } else if (x && (c->kind == 2 || c->kind == 3)) {
        if (c->kind == 2) send_error(x, 0, c->reason);
        finish_failed(x, c->reason);
      }
    }
    free(c);
    c = nx;
  }
}

static void *worker(void *arg) {
  engine *e = arg;
  struct epoll_event evs[64];
  e->next_deadline = INFINITY;
  while (!atomic_load(&e->quit)) {
    int timeout = -1;
    if (e->next_deadline != INFINITY) {
      double left = e->next_deadline - now_ms();
      timeout = left <= 0 ? 0 : (int)ceil(left);
    }
    int n = epoll_wait(e->ep, evs, 64, timeout);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      if (evs[i].data.ptr == NULL) { run_commands(e); continue; }
      xfer *x = evs[i].data.ptr;
      if (x->state == ST_DONE) continue; // ended earlier in this batch (freed only on the main thread)
      struct sockaddr_storage from;
      socklen_t fromlen = sizeof from;
      ssize_t r = recvfrom(x->fd, e->rbuf, sizeof e->rbuf, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
      if (r < 0) continue;
      on_packet(x, e->rbuf, (size_t)r, &from, fromlen);
    }
    // timers: one pass over the transfers only when the earliest known deadline is due (most
    // packets only move their transfer's deadline later); the pass fires what is due and finds
    // the real earliest deadline
    double t = now_ms();
    if (e->next_deadline - t <= 1) {
      e->next_deadline = INFINITY;
      for (xfer *x = e->active, *nx; x; x = nx) {
        nx = x->next_active; // on_timeout may unlink x
        if (x->armed && x->deadline - t <= 1) on_timeout(x); // re-arms through set_deadline
        else if (x->armed && x->deadline < e->next_deadline) e->next_deadline = x->deadline;
      }
    }
    while (e->done) {
      xfer *x = e->done;
      e->done = x->next_active;
      post(e, MSG_DONE, x);
    }
  }
  return NULL;
}

// ---- JavaScript side ----
static napi_value throw_msg(napi_env env, const char *msg) { napi_throw_error(env, NULL, msg); return NULL; }

static void free_xfer(napi_env env, xfer *x) {
  if (x->buf_ref) napi_delete_reference(env, x->buf_ref);
  if (x->flag_ref) napi_delete_reference(env, x->flag_ref);
  free(x->oack);
  free(x->chunk);
  free(x);
}

static void call_js(napi_env env, napi_value cb, void *ctx, void *data) {
  engine *e = ctx;
  msg *m = data;
  xfer *x = m->x;
  if (m->kind == MSG_FIRST_ACK) {
    if (env && cb) {
      napi_value argv[2], undef, ignored;
      napi_get_undefined(env, &undef);
      napi_create_double(env, m->id, &argv[0]);
      napi_create_int32(env, -1, &argv[1]); // outcome -1: first ACK, the transfer goes on
      napi_call_function(env, undef, cb, 2, argv, &ignored);
    }
    free(m);
    return;
  }
  if (env && cb) {
    napi_value argv[9], undef;
    napi_get_undefined(env, &undef);
    napi_create_double(env, x->id, &argv[0]);
    napi_create_int32(env, x->outcome, &argv[1]);
    uint64_t bytes = x->outcome == OUT_OK ? x->size : (x->base - 1) * (uint64_t)x->blksize;
    if (bytes > x->size) bytes = x->size;
    napi_create_double(env, (double)bytes, &argv[2]);
    napi_create_double(env, x->retransmits, &argv[3]);
    napi_create_double(env, x->dup_acks, &argv[4]);
    napi_create_double(env, x->packets_sent, &argv[5]);
    if (x->has_srtt) napi_create_double(env, x->srtt, &argv[6]);
    else napi_get_null(env, &argv[6]);
    napi_create_int32(env, x->err_code, &argv[7]);
    napi_create_string_latin1(env, x->err_msg, x->err_len, &argv[8]);
    if (--e->js_active == 0) napi_unref_threadsafe_function(env, e->tsfn);
    free_xfer(env, x);
    napi_value ignored;
    napi_call_function(env, undef, cb, 9, argv, &ignored);
    return;
  }
  free(x->oack); free(x->chunk); free(x); // environment going away
}

static void engine_cleanup(void *arg) {
  engine *e = arg;
  atomic_store(&e->quit, 1);
  uint64_t one = 1;
  (void)!write(e->evfd, &one, sizeof one);
  if (e->thread_started) pthread_join(e->thread, NULL);
  e->thread_started = 0;
}

static void engine_finalize(napi_env env, void *data, void *hint) {
  (void)env; (void)hint;
  engine *e = data;
  close(e->ep);
  close(e->evfd);
  pthread_mutex_destroy(&e->mu);
  free(e);
}

static void push_cmd(engine *e, cmd *c) {
  pthread_mutex_lock(&e->mu);
  if (e->tail) e->tail->next = c; else e->head = c;
  e->tail = c;
  pthread_mutex_unlock(&e->mu);
  uint64_t one = 1;
  (void)!write(e->evfd, &one, sizeof one);
}

static engine *get_engine(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok) return NULL;
  return p;
}

// createEngine(onDone(id, outcome, bytes, retransmits, dupAcks, packetsSent, rttMs, errCode, message)):
// outcome 0 ok, 1 aborted by the client, 2 failed; -1 (only id and outcome given): the transfer's
// first ACK (sent only when preAck limits were given), the transfer goes on
static napi_value create_engine(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_valuetype t;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_typeof(env, argv[0], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, NULL, "createEngine(onDone: function)");
    return NULL;
  }
  engine *e = calloc(1, sizeof *e);
  if (!e) return throw_msg(env, "out of memory");
  pthread_mutex_init(&e->mu, NULL);
  e->ep = epoll_create1(EPOLL_CLOEXEC);
  e->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->ep < 0 || e->evfd < 0) { free(e); return throw_msg(env, "epoll/eventfd failed"); }
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
  epoll_ctl(e->ep, EPOLL_CTL_ADD, e->evfd, &ev);
  napi_value name;
  napi_create_string_utf8(env, "tftpfast", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, e, engine_finalize, e, call_js, &e->tsfn) != napi_ok) {
    close(e->ep); close(e->evfd); free(e);
    return throw_msg(env, "napi_create_threadsafe_function failed");
  }
  napi_unref_threadsafe_function(env, e->tsfn);
  if (pthread_create(&e->thread, NULL, worker, e) != 0) return throw_msg(env, "pthread_create failed");
  e->thread_started = 1;
  napi_add_env_cleanup_hook(env, engine_cleanup, e);
  napi_value ext;
  napi_create_external(env, e, NULL, NULL, &ext);
  return ext;
}

static int prop_double(napi_env env, napi_value obj, const char *name, double *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_double(env, v, out) == napi_ok;
}

static int prop_string(napi_env env, napi_value obj, const char *name, char *buf, size_t size) {
  napi_value v;
  size_t len = 0;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return 0;
  return napi_get_value_string_utf8(env, v, buf, size, &len) == napi_ok && len > 0 && len < size - 1;
}

static int parse_addr(const char *s, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *a4 = (void *)ss;
  struct sockaddr_in6 *a6 = (void *)ss;
  if (inet_pton(AF_INET, s, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET; a4->sin_port = htons((uint16_t)port); *len = sizeof *a4; return AF_INET;
  }
  if (inet_pton(AF_INET6, s, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6; a6->sin6_port = htons((uint16_t)port); *len = sizeof *a6; return AF_INET6;
  }
  return 0;
}

// start(engine, { id, bindAddress, clientAddress, clientPort, data?: Buffer, fd?: number, readChunkBytes?, size,
//   blksize, windowsize, oack?: Buffer, rtoInitialMs, rtoMinMs, rtoMaxMs, maxRetries,
//   preAckMaxSends?, preAckTimeoutMs? }): creates
// the transfer's socket (throws if it cannot) and starts the transfer on the engine's thread.
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_msg(env, "start(engine, options)");
  engine *e = get_engine(env, argv[0]);
  if (!e) return throw_msg(env, "not an engine");
  napi_value o = argv[1];
  double id, port, size, blksize, window, ri, rmin, rmax, retries, fdv = -1, chunk = 256 << 10;
  char bind_s[64], client_s[64];
  if (!prop_double(env, o, "id", &id) || !prop_double(env, o, "clientPort", &port) || !prop_double(env, o, "size", &size) ||
      !prop_double(env, o, "blksize", &blksize) || !prop_double(env, o, "windowsize", &window) ||
      !prop_double(env, o, "rtoInitialMs", &ri) || !prop_double(env, o, "rtoMinMs", &rmin) ||
      !prop_double(env, o, "rtoMaxMs", &rmax) || !prop_double(env, o, "maxRetries", &retries) ||
      !prop_string(env, o, "bindAddress", bind_s, sizeof bind_s) || !prop_string(env, o, "clientAddress", client_s, sizeof client_s)) {
    napi_throw_type_error(env, NULL, "start: missing or invalid option");
    return NULL;
  }
  if (port < 1 || port > 65535 || blksize < 8 || blksize > MAX_BLKSIZE || window < 1 || window > 65535 ||
      size < 0 || size > 9007199254740991.0 || retries < 0 || retries > 1000) {
    napi_throw_range_error(env, NULL, "start: option out of range");
    return NULL;
  }
  xfer *x = calloc(1, sizeof *x);
  if (!x) return throw_msg(env, "out of memory");
  x->eng = e;
  x->id = id;
  x->file_fd = -1;
  x->fd = -1;
  x->size = (uint64_t)size;
  x->blksize = (uint32_t)blksize;
  x->window = (uint32_t)window;
  x->last_block = x->size / x->blksize + 1;
  x->base = 1; x->next = 1;
  x->state = ST_OACK;
  x->backoff = 1;
  x->rto_initial = ri; x->rto_min = rmin; x->rto_max = rmax;
  x->max_retries = (int)retries;
  for (int i = 0; i < RING; i++) x->ring[i].block = UINT64_MAX;
  double pms, pto;
  if (prop_double(env, o, "preAckMaxSends", &pms) && prop_double(env, o, "preAckTimeoutMs", &pto) && pms >= 0 && pms <= 1000 && pto >= 0) {
    x->has_pre_ack = 1;
    x->pre_max_sends = (int)pms;
    x->pre_timeout_ms = pto;
  }

  napi_value v;
  bool is_buf = false;
  if (napi_get_named_property(env, o, "data", &v) == napi_ok && napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf) {
    void *p; size_t len;
    napi_get_buffer_info(env, v, &p, &len);
    if (len != x->size) { free(x); napi_throw_range_error(env, NULL, "start: data length differs from size"); return NULL; }
    x->data = p;
    napi_create_reference(env, v, 1, &x->buf_ref);
  } else if (prop_double(env, o, "fd", &fdv) && fdv >= 0) {
    x->file_fd = (int)fdv;
    (void)prop_double(env, o, "readChunkBytes", &chunk);
    x->chunk_cap = chunk > x->blksize && chunk <= (64 << 20) ? (size_t)chunk : x->blksize;
    x->chunk = malloc(x->chunk_cap);
    if (!x->chunk) { free(x); return throw_msg(env, "out of memory"); }
    (void)posix_fadvise(x->file_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  } else if (x->size > 0) {
    free(x); napi_throw_type_error(env, NULL, "start: data (Buffer) or fd required"); return NULL;
  }
  if (napi_get_named_property(env, o, "ackedFlag", &v) == napi_ok && napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf) {
    void *p; size_t len;
    napi_get_buffer_info(env, v, &p, &len);
    if (len >= 1) { x->acked_flag = p; napi_create_reference(env, v, 1, &x->flag_ref); }
  }
  is_buf = false;
  if (napi_get_named_property(env, o, "oack", &v) == napi_ok && napi_is_buffer(env, v, &is_buf) == napi_ok && is_buf) {
    void *p; size_t len;
    napi_get_buffer_info(env, v, &p, &len);
    if (len > 0) {
      x->oack = malloc(len);
      if (!x->oack) { free_xfer(env, x); return throw_msg(env, "out of memory"); }
      memcpy(x->oack, p, len);
      x->oack_len = len;
    }
  }
  struct sockaddr_storage bindaddr;
  socklen_t bindlen;
  int fam = parse_addr(bind_s, 0, &bindaddr, &bindlen);
  int cfam = parse_addr(client_s, (int)port, &x->peer, &x->peerlen);
  if (!fam || !cfam || fam != cfam) { free_xfer(env, x); napi_throw_type_error(env, NULL, "start: bad address"); return NULL; }
  x->fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (x->fd < 0 || bind(x->fd, (struct sockaddr *)&bindaddr, bindlen) < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "transfer socket: %s", strerror(errno));
    if (x->fd >= 0) close(x->fd);
    free_xfer(env, x);
    return throw_msg(env, msg);
  }
  if (e->js_active++ == 0) napi_ref_threadsafe_function(env, e->tsfn);
  cmd *c = calloc(1, sizeof *c);
  if (!c) { close(x->fd); free_xfer(env, x); return throw_msg(env, "out of memory"); }
  c->kind = 0;
  c->x = x;
  push_cmd(e, c);
  return NULL;
}

static napi_value id_command(napi_env env, napi_callback_info info, int kind) {
  size_t argc = 4;
  napi_value argv[4];
  double id;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) return throw_msg(env, "engine, id required");
  engine *e = get_engine(env, argv[0]);
  if (!e || napi_get_value_double(env, argv[1], &id) != napi_ok) return throw_msg(env, "engine, id required");
  cmd *c = calloc(1, sizeof *c);
  if (!c) return throw_msg(env, "out of memory");
  c->kind = kind;
  c->id = id;
  if (kind == 2 || kind == 3) {
    size_t len = 0;
    if (argc < 3 || napi_get_value_string_latin1(env, argv[2], c->reason, sizeof c->reason, &len) != napi_ok) strcpy(c->reason, "cancelled");
  }
  push_cmd(e, c);
  return NULL;
}

static napi_value duplicate_request(napi_env env, napi_callback_info info) { return id_command(env, info, 1); }
// cancel(engine, id, reason, notify = true): notify false ends it without an ERROR to the client
static napi_value cancel(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  bool notify = true;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 4) napi_get_value_bool(env, argv[3], &notify);
  return id_command(env, info, notify ? 2 : 3);
}

// close(engine): stops the engine's thread; only once every transfer has completed (JavaScript
// waits for that), else it throws. The engine must not be used afterwards.
static napi_value close_engine(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_msg(env, "close(engine)");
  engine *e = get_engine(env, argv[0]);
  if (!e) return throw_msg(env, "not an engine");
  if (e->js_active > 0) return throw_msg(env, "close: transfers still running");
  if (!e->thread_started) return NULL; // closed already
  engine_cleanup(e);
  napi_remove_env_cleanup_hook(env, engine_cleanup, e);
  napi_release_threadsafe_function(e->tsfn, napi_tsfn_release); // frees e (engine_finalize)
  return NULL;
}

// drops(engine): counts by reason, in the order of the DR_ enum
static napi_value drops(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], arr, v;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return throw_msg(env, "drops(engine)");
  engine *e = get_engine(env, argv[0]);
  if (!e) return throw_msg(env, "not an engine");
  napi_create_array_with_length(env, DR_COUNT, &arr);
  for (uint32_t i = 0; i < DR_COUNT; i++) {
    napi_create_double(env, (double)atomic_load(&e->drops[i]), &v);
    napi_set_element(env, arr, i, v);
  }
  return arr;
}

NAPI_MODULE_INIT() {
  struct { const char *name; napi_callback fn; } fns[] = {
    { "createEngine", create_engine }, { "start", start }, { "duplicateRequest", duplicate_request },
    { "cancel", cancel }, { "drops", drops }, { "close", close_engine },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
