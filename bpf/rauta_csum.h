/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rauta_csum.h: Internet checksums. Sums run over 16-bit words as they sit in
 * memory (a one's complement sum does not care about byte order), so a sum of
 * network-order fields is itself network order.
 */
#ifndef RAUTA_CSUM_H
#define RAUTA_CSUM_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Fold a 32-bit (or bpf_csum_diff 64-bit) accumulator to 16 bits, not inverted. */
static __always_inline __u16 csum_fold16(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* RFC 1624 incremental update, eqn. 3: HC' = ~(~HC + ~m + m'). */
static __always_inline __u32 csum_add_word(__u32 sum, __u16 old, __u16 new)
{
	return sum + (__u16)~old + new;
}

static __always_inline __u16 csum_finish(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Replace a 32-bit field (as two memory words) in a checksum. */
static __always_inline __u16 csum_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum = csum_add_word(sum, (__u16)from, (__u16)to);
	sum = csum_add_word(sum, (__u16)(from >> 16), (__u16)(to >> 16));
	return csum_finish(sum);
}

static __always_inline __u16 csum_replace2(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check;

	sum = csum_add_word(sum, from, to);
	return csum_finish(sum);
}

/* The TCP pseudo-header's sum (addresses network order, length host order). */
static __always_inline __u32 pseudo_sum(__u32 saddr, __u32 daddr, __u32 tcp_len)
{
	return (saddr & 0xffff) + (saddr >> 16) + (daddr & 0xffff) + (daddr >> 16) +
	       bpf_htons(IPPROTO_TCP) + bpf_htons((__u16)tcp_len);
}

#endif /* RAUTA_CSUM_H */
