/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rauta_tcp.h: TCP segments the data path writes itself: a SYN-ACK carrying a
 * SYN cookie, the SYN to a backend, a RST, a canned HTTP answer, a bare ACK.
 * Each replaces the IPv4 and TCP headers (and payload) of the frame in hand,
 * keeping its Ethernet header (and VLAN tag), resizing the frame as needed
 * (shrinking at the tail, growing at the head: veth cannot grow a frame's tail),
 * with both checksums computed from scratch.
 */
#ifndef RAUTA_TCP_H
#define RAUTA_TCP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rauta.h"
#include "rauta_csum.h"

/* TCP flag bits (byte 13 of the header). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

static __always_inline __u8 tcp_flags(const struct tcphdr *th)
{
	return ((const __u8 *)th)[13];
}

/* The headers of a segment the program writes, as they go on the wire after L2. */
struct seg_hdr {
	struct iphdr ip;
	struct tcphdr tcp;
	__u8 mss_opt[4];      /* used when opt_len is 4 */
};

/* What the caller fills; emit_segment does the rest (lengths, checksums). */
struct seg {
	__u32 saddr, daddr;   /* network order */
	__u16 sport, dport;   /* network order */
	__u32 seq, ack;       /* host order */
	__u16 window;         /* network order */
	__u8 flags;           /* TCP_* */
	__u8 mss;             /* 1: carry an MSS option of RAUTA_MSS */
};

/* Canned answers for first segments that cannot be routed. Sizes are padded to
 * a multiple of 4 with zeros so bpf_csum_diff can sum them. */
#define REPLY_404_TEXT "HTTP/1.1 404 Not Found\r\nServer: rauta\r\nContent-Type: text/plain\r\nContent-Length: 9\r\nConnection: close\r\n\r\nno route\n"
#define REPLY_503_TEXT "HTTP/1.1 503 Service Unavailable\r\nServer: rauta\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\nno backend\n"
#define PAD4(n) (((n) + 3) & ~3u)
#define REPLY_404_LEN (sizeof(REPLY_404_TEXT) - 1)
#define REPLY_503_LEN (sizeof(REPLY_503_TEXT) - 1)
static const char reply_404[PAD4(REPLY_404_LEN)] = REPLY_404_TEXT;
static const char reply_503[PAD4(REPLY_503_LEN)] = REPLY_503_TEXT;

static __always_inline __u32 reply_len(__u32 kind)
{
	return kind == RAUTA_REPLY_NOT_FOUND ? REPLY_404_LEN : REPLY_503_LEN;
}

/*
 * Replace everything after the L2 header (l3_off bytes, kept; its MACs set to
 * dmac/smac) with a fresh IPv4 + TCP header described by s, then payload
 * (plen bytes, or none) whose one's complement sum is payload_sum. dmac and smac
 * must not point into the packet. Returns XDP_TX, or XDP_DROP if the frame could
 * not be resized.
 */
static __always_inline int emit_segment(struct xdp_md *ctx, __u32 l3_off, const struct seg *s,
					 const __u8 *dmac, const __u8 *smac,
					 const void *payload, __u32 plen, __u32 payload_sum)
{
	struct seg_hdr h = {};
	__u8 l2[18];
	__u32 opt_len = s->mss ? 4 : 0;
	__u32 tcp_len = 20 + opt_len;
	__u32 l4_len = tcp_len + plen;

	if (l3_off != 14 && l3_off != 18)
		return XDP_DROP;
	l3_off &= 0x1f; /* the verifier loses the range above across spills */
	if (plen > RAUTA_REQUEST_BUF)
		return XDP_DROP;
	if (bpf_xdp_load_bytes(ctx, 0, l2, l3_off))
		return XDP_DROP;
	__builtin_memcpy(l2, dmac, ETH_ALEN);
	__builtin_memcpy(l2 + ETH_ALEN, smac, ETH_ALEN);

	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.tot_len = bpf_htons(20 + l4_len);
	h.ip.frag_off = bpf_htons(0x4000); /* DF */
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_TCP;
	h.ip.saddr = s->saddr;
	h.ip.daddr = s->daddr;
	h.ip.check = ~csum_fold16(bpf_csum_diff(0, 0, (__be32 *)&h.ip, sizeof(h.ip), 0));

	h.tcp.source = s->sport;
	h.tcp.dest = s->dport;
	h.tcp.seq = bpf_htonl(s->seq);
	h.tcp.ack_seq = bpf_htonl(s->ack);
	((__u8 *)&h.tcp)[12] = (__u8)((tcp_len / 4) << 4);
	((__u8 *)&h.tcp)[13] = s->flags;
	h.tcp.window = s->window;
	if (opt_len) {
		h.mss_opt[0] = 2; /* kind MSS */
		h.mss_opt[1] = 4;
		h.mss_opt[2] = RAUTA_MSS >> 8;
		h.mss_opt[3] = RAUTA_MSS & 0xff;
	}
	__u64 sum = pseudo_sum(s->saddr, s->daddr, l4_len) + payload_sum;

	h.tcp.check = ~csum_fold16(bpf_csum_diff(0, 0, (__be32 *)&h.tcp, tcp_len, sum));

	/* Resize: the frame becomes l3_off + 20 + l4_len bytes. */
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int delta = (int)(l3_off + 20 + l4_len) - (int)(data_end - data);

	if (delta > 0) {
		if (bpf_xdp_adjust_head(ctx, -delta))
			return XDP_DROP;
	} else if (delta < 0) {
		if (bpf_xdp_adjust_tail(ctx, delta))
			return XDP_DROP;
	}
	if (bpf_xdp_store_bytes(ctx, 0, l2, l3_off))
		return XDP_DROP;
	if (bpf_xdp_store_bytes(ctx, l3_off, &h, 20 + tcp_len))
		return XDP_DROP;
	if (plen > 0 && payload && bpf_xdp_store_bytes(ctx, l3_off + 20 + tcp_len, (void *)payload, plen))
		return XDP_DROP;
	return XDP_TX;
}

/* One's complement sum of n bytes (a multiple of 4, at most RAUTA_REQUEST_BUF) in chunks bpf_csum_diff takes. */
static __always_inline __u32 sum_bytes(const __u8 *buf, __u32 n)
{
	__u64 sum = 0;

	for (__u32 off = 0; off < RAUTA_REQUEST_BUF; off += 512) {
		if (off >= n)
			break;
		__u32 chunk = n - off;

		if (chunk > 512)
			chunk = 512;
		chunk &= ~3u;
		if (chunk == 0)
			break;
		sum = bpf_csum_diff(0, 0, (__be32 *)(buf + off), chunk, csum_fold16(sum));
	}
	return csum_fold16(sum);
}

#endif /* RAUTA_TCP_H */
