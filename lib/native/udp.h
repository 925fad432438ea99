/* UDP for the addon: socket addresses, finding this process's socket bound to one, sending: see udp.c. */
#ifndef WEBGEAR_UDP_H
#define WEBGEAR_UDP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The socket address of an IPv4 or IPv6 literal (an IPv6 one may carry a %scope) and a port; 0, or -1 if it is not one. */
int udp_address(const char *literal, int port, struct sockaddr_storage *address, socklen_t *length);

/* The descriptor of the one UDP socket of this process bound to `address`; -1 if there is none, or several. */
int udp_find_socket(const struct sockaddr_storage *address, int hint);

/* One datagram from socket `fd` to `target`: the bytes sent, or -errno. */
int udp_send(int fd, const unsigned char *data, size_t length, const struct sockaddr *target, socklen_t target_length);

/*
 * Several datagrams from socket `fd`, each described by a msghdr (its own destination, iovecs and control):
 * sendmmsg(2) where there is one (Linux), else one sendmsg(2) each, never blocking (MSG_DONTWAIT: a full
 * socket buffer is -EAGAIN, whatever the descriptor's mode). Returns how many left (the first
 * `count` or fewer: a later call reports the error of the one that did not), or -errno when the first did not.
 */
int udp_send_messages(int fd, struct msghdr *messages, unsigned count);

/*
 * Whether the kernel segments UDP (UDP_SEGMENT, Linux 4.18+): one sendmsg of several equal-size datagrams
 * to one destination (the last may be shorter) goes down the stack once and is cut late. Probed once on a
 * socket of its own; 0 where it is not there.
 */
int udp_gso_supported(void);

/* Writes the UDP_SEGMENT control message for segments of `size` bytes into `control` (UDP_GSO_CONTROL_LENGTH bytes). */
void udp_gso_control(struct msghdr *message, void *control, uint16_t size);

/* Room for the UDP_SEGMENT control message, and the most segments the kernel takes in one send. */
#define UDP_GSO_CONTROL_LENGTH 32
#define UDP_GSO_MAX_SEGMENTS 64

#endif
