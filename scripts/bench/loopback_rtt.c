/* Loopback TCP round trip between two threads of one process: what one
 * request/answer over 127.0.0.1 costs on this machine before any server
 * work (socket calls and the wake-ups of both sides). Used by
 * scripts/bench/disk-limit.sh. Prints p50 and p99 in microseconds. */
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { SAMPLES = 50000, MESSAGE = 300 };

static void *echo(void *arg) {
    int listener = *(int *)arg, one = 1;
    int conn = accept(listener, 0, 0);
    char buf[512];
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    for (;;) {
        ssize_t n = read(conn, buf, sizeof buf);
        if (n <= 0 || write(conn, buf, (size_t)n) != n)
            break;
    }
    return 0;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    static double micros[SAMPLES];
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof addr;
    int listener = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listener, (void *)&addr, sizeof addr) || listen(listener, 1) ||
        getsockname(listener, (void *)&addr, &len)) {
        perror("listen");
        return 1;
    }
    pthread_t server;
    pthread_create(&server, 0, echo, &listener);
    int conn = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(conn, (void *)&addr, sizeof addr)) {
        perror("connect");
        return 1;
    }
    setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char msg[MESSAGE];
    memset(msg, 'x', sizeof msg);
    for (int i = 0; i < SAMPLES; i++) {
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        if (write(conn, msg, sizeof msg) != sizeof msg)
            return 1;
        for (size_t got = 0; got < sizeof msg;) {
            ssize_t n = read(conn, msg + got, sizeof msg - got);
            if (n <= 0)
                return 1;
            got += (size_t)n;
        }
        clock_gettime(CLOCK_MONOTONIC, &end);
        micros[i] = (double)(end.tv_sec - start.tv_sec) * 1e6 +
                    (double)(end.tv_nsec - start.tv_nsec) / 1e3;
    }
    qsort(micros, SAMPLES, sizeof *micros, by_value);
    printf("loopback_rtt_us p50 %.1f p99 %.1f samples %d bytes %d\n", micros[SAMPLES / 2],
           micros[SAMPLES * 99 / 100], SAMPLES, MESSAGE);
    return 0;
}
