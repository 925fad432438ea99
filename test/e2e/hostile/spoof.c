/*
 * Sends UDP datagrams with a forged source address, for the hostile-input tests (as root only):
 *   spoof <source ip> <source port> <destination ip> <destination port> < frames
 * where frames is a sequence of [2-byte big-endian length][datagram]. A raw socket (IP_HDRINCL) lets
 * the test send from a viewer's own address and port, which no ordinary socket can. The tests use it
 * on loopback only. Prints how many datagrams it sent.
 */
#include <arpa/inet.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int read_exactly(unsigned char *buffer, size_t length) {
  size_t done = 0;
  while (done < length) {
    ssize_t got = read(0, buffer + done, length - done);
    if (got <= 0) return -1;
    done += (size_t)got;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: spoof <source ip> <source port> <destination ip> <destination port> < frames\n");
    return 2;
  }
  struct sockaddr_in destination = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[4]))};
  struct in_addr source;
  if (inet_pton(AF_INET, argv[1], &source) != 1 || inet_pton(AF_INET, argv[3], &destination.sin_addr) != 1) {
    fprintf(stderr, "spoof: IPv4 addresses only\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* IPPROTO_RAW implies IP_HDRINCL */
  if (fd < 0) {
    perror("spoof: socket");
    return 1;
  }
  static unsigned char packet[65535];
  struct iphdr *ip = (struct iphdr *)packet;
  struct udphdr *udp = (struct udphdr *)(packet + sizeof *ip);
  unsigned char *payload = packet + sizeof *ip + sizeof *udp;
  const size_t room = sizeof packet - sizeof *ip - sizeof *udp;
  unsigned long sent = 0;
  for (;;) {
    unsigned char prefix[2];
    if (read_exactly(prefix, 2) != 0) break;
    size_t length = (size_t)prefix[0] << 8 | prefix[1];
    if (length > room || read_exactly(payload, length) != 0) break;
    memset(ip, 0, sizeof *ip + sizeof *udp);
    ip->version = 4;
    ip->ihl = 5;
    ip->ttl = 64;
    ip->protocol = IPPROTO_UDP;
    ip->saddr = source.s_addr;
    ip->daddr = destination.sin_addr.s_addr;
    ip->tot_len = htons((unsigned short)(sizeof *ip + sizeof *udp + length)); /* the kernel fills the checksum and id */
    udp->source = htons((unsigned short)atoi(argv[2]));
    udp->dest = destination.sin_port;
    udp->len = htons((unsigned short)(sizeof *udp + length));
    udp->check = 0; /* no UDP checksum: allowed over IPv4 */
    if (sendto(fd, packet, sizeof *ip + sizeof *udp + length, 0, (struct sockaddr *)&destination, sizeof destination) < 0) {
      perror("spoof: sendto");
      return 1;
    }
    sent++;
  }
  printf("%lu\n", sent);
  return 0;
}
