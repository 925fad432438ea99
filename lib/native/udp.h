/* UDP for the addon: socket addresses, finding this process's socket bound to one, sending: see udp.c. */
#ifndef WEBGEAR_UDP_H
#define WEBGEAR_UDP_H

#include <stddef.h>
#include <sys/socket.h>

/* The socket address of an IPv4 or IPv6 literal (an IPv6 one may carry a %scope) and a port; 0, or -1 if it is not one. */
int udp_address(const char *literal, int port, struct sockaddr_storage *address, socklen_t *length);

/* The descriptor of the one UDP socket of this process bound to `address`; -1 if there is none, or several. */
int udp_find_socket(const struct sockaddr_storage *address);

/* One datagram from socket `fd` to `target`: the bytes sent, or -errno. */
int udp_send(int fd, const unsigned char *data, size_t length, const struct sockaddr *target, socklen_t target_length);

#endif
