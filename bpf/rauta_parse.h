/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rauta_parse.h: packet parsing for rauta.bpf.c. Every helper only reads the
 * packet; the program writes nothing until it has decided, so a PASS leaves
 * the frame byte-identical.
 */
#ifndef RAUTA_PARSE_H
#define RAUTA_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rauta.h"

/* One loop covers path, query and the space that ends them; keep it small (verifier time). */
#define RAUTA_SCAN_MAX (RAUTA_MAX_PATH + RAUTA_MAX_QUERY + 1)

#define FNV1A64_OFFSET 0xcbf29ce484222325ULL
#define FNV1A64_PRIME 0x100000001b3ULL


/* barrier_var (bpf_helpers.h) makes a value opaque to clang, so the verifier
 * sees the bounds re-check clang would otherwise drop. */

/* Little-endian word of the first n payload bytes, to match methods with one load. */
#define B(c, n) ((__u64)(__u8)(c) << (8 * (n)))
#define W4(a, b, c, d) (B(a, 0) | B(b, 1) | B(c, 2) | B(d, 3))
#define W5(a, b, c, d, e) (W4(a, b, c, d) | B(e, 4))
#define W6(a, b, c, d, e, f) (W5(a, b, c, d, e) | B(f, 5))
#define W7(a, b, c, d, e, f, g) (W6(a, b, c, d, e, f) | B(g, 6))
#define W8(a, b, c, d, e, f, g, h) (W7(a, b, c, d, e, f, g) | B(h, 7))
#define MASK(n) ((n) == 8 ? ~0ULL : ((1ULL << (8 * (n))) - 1))

/* " HTTP/1." as a little-endian u64. */
#define HTTP1_WORD W8(' ', 'H', 'T', 'T', 'P', '/', '1', '.')

/* The headers of a TCP/IPv4 frame, found by parse_headers. */
struct pkt {
	__u32 l3_off;         /* bytes before the IPv4 header: 14, or 18 with a VLAN tag */
	struct ethhdr *eth;
	struct iphdr *ip;
	struct tcphdr *tcp;
	__u8 *payload;        /* first TCP payload byte */
	__u32 payload_len;    /* from the IPv4 total length, not the frame (ignores Ethernet padding) */
};

/* 1 when a == b, else 0, without a branch (a, b < 2^63). */
static __always_inline __u64 is_equal(__u64 a, __u64 b)
{
	return ((a ^ b) - 1) >> 63;
}

/* 1 when byte c is not a space, else 0, without a branch. */
static __always_inline __u64 not_space(__u64 c)
{
	return (((c & 0xff) ^ ' ') + 0xff) >> 8;
}

static __always_inline __u64 load_u64(const void *p)
{
	__u64 w;

	__builtin_memcpy(&w, p, sizeof(w));
	return w;
}

/*
 * Ethernet (at most one 802.1Q/802.1ad tag) -> IPv4 (IHL 5..15, not a fragment,
 * total length within the frame) -> TCP (data offset 5..15). Returns 0 or the
 * PASS reason (enum rauta_metric).
 */
static __always_inline int parse_headers(void *data, void *data_end, struct pkt *pk)
{
	struct ethhdr *eth = data;
	__u64 vlan;
	__be16 *ptype;

	if ((void *)(eth + 1) > data_end)
		return RAUTA_M_PASS_NOT_IPV4;
	/* Branch-free tag test: the verifier then walks one path, not one per layout. */
	vlan = is_equal(eth->h_proto, bpf_htons(ETH_P_8021Q)) | is_equal(eth->h_proto, bpf_htons(ETH_P_8021AD));
	__u32 l3_off = sizeof(struct ethhdr) + 4 * (__u32)vlan;

	__u32 type_off = l3_off - 2; /* h_proto, or the tag's inner type after the TCI */

	barrier_var(type_off); /* keep the -2 out of the pointer's fixed offset: the verifier refuses a negative one */
	ptype = data + type_off;
	if ((void *)(ptype + 1) > data_end)
		return RAUTA_M_PASS_NOT_IPV4;
	if (*ptype != bpf_htons(ETH_P_IP)) /* includes a second tag */
		return RAUTA_M_PASS_NOT_IPV4;

	struct iphdr *ip = data + l3_off;

	if ((void *)(ip + 1) > data_end)
		return RAUTA_M_PASS_BAD_IPV4;
	__u32 ihl = (__u32)ip->ihl * 4;
	__u32 tot_len = (__u32)bpf_ntohs(ip->tot_len);

	if (ip->version != 4 || ihl < 20 || ihl > 60 || tot_len < ihl)
		return RAUTA_M_PASS_BAD_IPV4;
	if ((void *)ip + tot_len > data_end) /* truncated: the stack decides */
		return RAUTA_M_PASS_BAD_IPV4;
	if (ip->frag_off & bpf_htons(0x3fff)) /* MF or an offset */
		return RAUTA_M_PASS_FRAGMENT;
	if (ip->protocol != IPPROTO_TCP)
		return RAUTA_M_PASS_NOT_TCP;

	struct tcphdr *tcp = (void *)ip + ihl;

	if ((void *)(tcp + 1) > data_end || tot_len < ihl + 20)
		return RAUTA_M_PASS_BAD_TCP;
	__u32 doff = (__u32)tcp->doff * 4;

	if (doff < 20 || tot_len < ihl + doff || (void *)tcp + doff > data_end)
		return RAUTA_M_PASS_BAD_TCP;

	pk->l3_off = l3_off;
	pk->eth = eth;
	pk->ip = ip;
	pk->tcp = tcp;
	pk->payload = (void *)tcp + doff;
	pk->payload_len = tot_len - ihl - doff;
	return 0;
}

/* Method at the start of the payload (w: its first 8 bytes). 0 = none we serve. */
static __always_inline __u32 parse_method(__u64 w)
{
	if ((w & MASK(4)) == W4('G', 'E', 'T', ' ')) return RAUTA_METHOD_GET;
	if ((w & MASK(5)) == W5('P', 'O', 'S', 'T', ' ')) return RAUTA_METHOD_POST;
	if ((w & MASK(4)) == W4('P', 'U', 'T', ' ')) return RAUTA_METHOD_PUT;
	if ((w & MASK(7)) == W7('D', 'E', 'L', 'E', 'T', 'E', ' ')) return RAUTA_METHOD_DELETE;
	if ((w & MASK(6)) == W6('P', 'A', 'T', 'C', 'H', ' ')) return RAUTA_METHOD_PATCH;
	if ((w & MASK(5)) == W5('H', 'E', 'A', 'D', ' ')) return RAUTA_METHOD_HEAD;
	if (w == W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' ')) return RAUTA_METHOD_OPTIONS;
	return RAUTA_METHOD_INVALID;
}

/*
 * Length of a matched method including its space (4..8), computed without
 * branches from the bytes: the verifier sees one range instead of one constant
 * per method, so the request-line loop is walked once, not once per method.
 */
static __always_inline __u32 method_len(__u64 w)
{
	__u64 n3 = not_space(w >> 24), n4 = not_space(w >> 32);
	__u64 n5 = not_space(w >> 40), n6 = not_space(w >> 48);

	return (__u32)(4 + n3 + n3 * n4 + n3 * n4 * n5 + n3 * n4 * n5 * n6);
}

/*
 * The request line after the method: "/path[?query] HTTP/1." Hashes the path
 * (FNV-1a 64, the query excluded) into ri->path_hash and, at each "/", the
 * path before it into ri->prefix (RAUTA_MAX_PREFIX_DEPTH + 1 of them). Returns
 * 0 or RAUTA_M_REPLY_BAD_REQUEST. ONE bounded loop with a state flag: the
 * verifier walks it once per byte position instead of once per combination
 * of nested loops.
 */
static __always_inline int scan_target(__u8 *target, __u32 remaining, void *data_end, struct request_info *ri)
{
	__u64 h = FNV1A64_OFFSET;
	__u32 in_query = 0;
	__u32 slashes = 0;
	__u32 last_slash = 0;
	int ok = 0;

	if ((void *)(target + 1) > data_end || remaining < 1 || target[0] != '/')
		return RAUTA_M_REPLY_BAD_REQUEST;

	for (__u32 i = 0; i < RAUTA_SCAN_MAX; i++) {
		__u8 *p = target + i;

		barrier_var(p); /* one pointer for the check and the loads, as the verifier needs */

		if (i >= remaining || (void *)(p + 1) > data_end)
			break; /* truncated */
		__u8 c = *p;

		if (c == ' ') {
			/* end of the target: " HTTP/1." must follow, within the payload */
			if (i + 8 <= remaining && (void *)(p + 8) <= data_end && load_u64(p) == HTTP1_WORD) {
				ok = 1;
				ri->target_end = i;
			}
			break;
		}
		if (c == '\r' || c == '\n')
			break; /* HTTP/0.9 or garbage */
		if (in_query)
			continue;
		if (c == '?') {
			in_query = 1;
			continue;
		}
		if (i >= RAUTA_MAX_PATH)
			break; /* path too long */
		/* At a "/", the hash so far is the prefix of `slashes` segments. Branch-free:
		 * every byte stores into a slot, the last one (a spare) unless it is a "/"
		 * of depth <= RAUTA_MAX_PREFIX_DEPTH, so the verifier tracks no new state. */
		__u32 slash = (__u32)is_equal(c, '/');
		__u32 keep = slash & ((slashes - (RAUTA_MAX_PREFIX_DEPTH + 1)) >> 31); /* slashes <= depth */
		__u32 at = (slashes & -keep) | ((RAUTA_PREFIX_SLOTS - 1) & (keep - 1));

		ri->prefix[at & (RAUTA_PREFIX_SLOTS - 1)] = h;
		slashes += slash;
		last_slash = slash;
		h ^= c;
		h *= FNV1A64_PRIME;
	}
	if (!ok)
		return RAUTA_M_REPLY_BAD_REQUEST;
	ri->path_hash = h;
	ri->segments = slashes;
	ri->ends_slash = last_slash;
	return 0;
}

/*
 * Open-coded numeric iterator (kernel 6.4+ kfuncs): the verifier checks a loop
 * body per distinct state instead of per iteration, so a 512-byte scan with a
 * byte-state machine verifies in thousands of instructions, not a million.
 * (The struct is the kernel's uapi one; this system's headers predate it.)
 */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

/* Header scan states (scan_host). */
enum { HS_LINE, HS_START, HS_H, HS_O, HS_S, HS_T, HS_SPACE, HS_VALUE, HS_DONE };

/*
 * The Host header in buf (n bytes from the end of the request line's
 * version digit): its name lower-cased and hashed up to a ":" (the port), a
 * space or the line end, and the same from the name's first dot. ONE bounded
 * loop over a byte state; it stops at the host's end or the headers' end.
 */
static __always_inline void scan_host(const __u8 *buf, __u32 n, struct request_info *ri)
{
	__u64 h = FNV1A64_OFFSET, w = FNV1A64_OFFSET;
	__u32 state = HS_LINE, dot = 0, named = 0;
	struct bpf_iter_num it;
	int *v;

	_Static_assert((RAUTA_HEADER_SCAN & (RAUTA_HEADER_SCAN - 1)) == 0, "the scan masks its index with RAUTA_HEADER_SCAN - 1");
	bpf_iter_num_new(&it, 0, RAUTA_HEADER_SCAN);
	while ((v = bpf_iter_num_next(&it))) {
		__u32 i = (__u32)*v;

		if (i >= n || state == HS_DONE)
			break;
		__u32 c = buf[i & (RAUTA_HEADER_SCAN - 1)];
		__u32 lc = c | 0x20;

		if (state == HS_SPACE) {
			if (c == ' ' || c == '\t')
				continue;
			state = HS_VALUE; /* this byte is the value's first */
		}
		if (state == HS_VALUE) {
			if (c == ':' || c == '\r' || c == '\n' || c == ' ' || c == '\t') {
				state = HS_DONE;
				continue;
			}
			if (c >= 'A' && c <= 'Z')
				c = lc;
			if (c == '.')
				dot = 1;
			if (dot) {
				w ^= c;
				w *= FNV1A64_PRIME;
			}
			h ^= c;
			h *= FNV1A64_PRIME;
			named = 1;
			continue;
		}
		if (c == '\n') {
			state = state == HS_START ? HS_DONE : HS_START; /* an empty line ends the headers */
			continue;
		}
		if (state == HS_START && c == '\r')
			continue; /* the empty line's CR */
		if (state == HS_START)
			state = lc == 'h' ? HS_H : HS_LINE;
		else if (state == HS_H)
			state = lc == 'o' ? HS_O : HS_LINE;
		else if (state == HS_O)
			state = lc == 's' ? HS_S : HS_LINE;
		else if (state == HS_S)
			state = lc == 't' ? HS_T : HS_LINE;
		else if (state == HS_T)
			state = c == ':' ? HS_SPACE : HS_LINE;
	}
	bpf_iter_num_destroy(&it);
	if (!named)
		return;
	ri->host = 1 | (dot << 1);
	ri->host_hash = h;
	ri->wild_hash = w;
}

/* 5-tuple mix for the Maglev slot (murmur3 fmix64 over the packed tuple). */
static __always_inline __u32 flow_hash(const struct flow_key *fk)
{
	__u64 h = ((__u64)fk->src_ip << 32) | fk->dst_ip;

	h ^= ((__u64)fk->src_port << 32) | ((__u64)fk->dst_port << 16) | fk->proto;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return (__u32)h;
}

#endif /* RAUTA_PARSE_H */
