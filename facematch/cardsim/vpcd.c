/* The virtual card as a vsmartcard vpcd client (domain.md §2): TCP to vpcd (loopback), 2-byte big-endian length
 * framing; 1-byte control messages 00 power off, 01 power on, 02 reset, 04 get ATR; longer payloads are APDUs. */
#include "sim_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* Reads exactly n bytes; 1 ok, 0 closed, -1 error, -2 stopped. */
static int read_full(int fd, uint8_t *b, size_t n, volatile sig_atomic_t *stop)
{
    size_t o = 0;
    while (o < n) {
        if (stop && *stop)
            return -2;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, 200);
        if (pr < 0 && errno != EINTR)
            return -1;
        if (pr <= 0)
            continue;
        ssize_t r = read(fd, b + o, n - o);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return -1;
        }
        o += (size_t)r;
    }
    return 1;
}

static int write_full(int fd, const uint8_t *b, size_t n)
{
    size_t o = 0;
    while (o < n) {
        ssize_t w = write(fd, b + o, n - o);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        o += (size_t)w;
    }
    return 1;
}

static int send_msg(int fd, const uint8_t *d, size_t n)
{
    uint8_t h[2] = {(uint8_t)(n >> 8), (uint8_t)n};
    return write_full(fd, h, 2) && write_full(fd, d, n);
}

static int connect_to(const char *host, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

fm_status fm_cardsim_vpcd_run(fm_ctx *ctx, fm_cardsim *sim, const char *host, int port, int connect_timeout_ms,
                              int once, volatile sig_atomic_t *stop)
{
    if (!sim || !host || port <= 0 || port > 65535)
        return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "vpcd: bad host or port");
    for (;;) {
        long t0 = now_ms();
        int fd;
        for (;;) {
            fd = connect_to(host, port);
            if (fd == -2)
                return fm_fail(ctx, FM_ERR_INVALID_ARGUMENT, "vpcd: host must be an IPv4 address such as 127.0.0.1");
            if (fd >= 0)
                break;
            if (stop && *stop)
                return FM_OK;
            if (now_ms() - t0 > connect_timeout_ms)
                return fm_fail(ctx, FM_ERR_CARD_TRANSPORT,
                               "vpcd: cannot connect to %s:%d (is pcscd with the vpcd driver running?)", host, port);
            struct timespec nap = {0, 100 * 1000000L};
            nanosleep(&nap, NULL);
        }
        fm_cardsim_reset(sim);
        uint8_t msg[65536 + 2], resp[1024];
        int rc;
        for (;;) {
            uint8_t h[2];
            rc = read_full(fd, h, 2, stop);
            if (rc != 1)
                break;
            size_t n = ((size_t)h[0] << 8) | h[1];
            rc = read_full(fd, msg, n, stop);
            if (rc != 1)
                break;
            if (n == 1) {
                if (msg[0] == 0x00 || msg[0] == 0x01 || msg[0] == 0x02) {
                    fm_cardsim_reset(sim); /* power off / on / reset: no reply */
                } else if (msg[0] == 0x04) {
                    size_t al;
                    const uint8_t *atr = fm_cardsim_atr(&al);
                    if (!send_msg(fd, atr, al)) {
                        rc = -1;
                        break;
                    }
                }
                continue;
            }
            size_t rl = 0;
            if (fm_cardsim_transmit(sim, msg, n, resp, sizeof resp, &rl) != 0) {
                resp[0] = 0x6F;
                resp[1] = 0x00;
                rl = 2;
            }
            memset(msg, 0, n); /* may hold a PIN */
            int ok = send_msg(fd, resp, rl);
            memset(resp, 0, sizeof resp);
            if (!ok) {
                rc = -1;
                break;
            }
        }
        close(fd);
        if (rc == -2 || (stop && *stop))
            return FM_OK;
        if (once)
            return rc == 0 ? FM_OK : fm_fail(ctx, FM_ERR_CARD_TRANSPORT, "vpcd: connection error");
    }
}
