// SPDX-License-Identifier: Apache-2.0
/*
 * rauta data path: HTTP/1.x connections routed by their request line, every
 * packet handled in the kernel (delayed binding, as an L7 load balancer must:
 * the path is known only after the handshake).
 *
 *   client SYN           -> SYN-ACK with a SYN cookie as ISN (XDP_TX; no state)
 *   handshake ACK        -> cookie checked, dropped
 *   first data segment   -> cookie checked, request line -> ROUTES -> Maglev
 *                           table -> backend; the segment is saved (REQUESTS),
 *                           the flow recorded (FLOW_CACHE: its client side and
 *                           its backend side) and the frame becomes a SYN to
 *                           the backend (seq = the client's ISN, source = the
 *                           client)
 *   backend SYN-ACK      -> XDP_PASS; the TC program (rauta_tc) grows it into
 *                           ACK + the saved request and sends it back out
 *   established          -> one FLOW_CACHE lookup: client->backend: dst and
 *                           ack += delta; backend->client: src = VIP:port,
 *                           seq -= delta; RFC 1624 checksums, XDP_TX
 *   FIN/RST              -> translated; the flow is removed after the last ACK
 *                           or a RST; half-open flows expire
 *   no route / no backend / not HTTP -> 404 / 503 built in place / RST
 *
 * Backends reply through this node (it is their gateway for client addresses,
 * LVS-NAT style), on the same interface. Anything else is XDP_PASS untouched.
 * Every packet counts TOTAL and exactly one outcome (enum rauta_metric).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rauta.h"
#include "rauta_maps.h"
#include "rauta_parse.h"
#include "rauta_csum.h"
#include "rauta_tcp.h"

static __always_inline void count(enum rauta_metric slot)
{
	__u32 key = slot;
	__u64 *v = bpf_map_lookup_elem(&metrics, &key);

	if (v)
		*v += 1; /* per-CPU slot: no atomic needed */
}

/* One BACKEND_STATS counter of a health-checked backend (others have no entry). */
static __always_inline void backend_count(__u32 ip, __u16 port, enum rauta_backend_stat what)
{
	struct backend_key k = { .ip = ip, .port = port };
	struct backend_stats *s = bpf_map_lookup_elem(&backend_stats, &k);

	if (s && what < RAUTA_BS_COUNT)
		__sync_fetch_and_add(&s->count[what], 1);
}

static __always_inline int pass(enum rauta_metric reason)
{
	count(reason);
	return XDP_PASS;
}

static __always_inline int drop(enum rauta_metric reason)
{
	count(reason);
	return XDP_DROP;
}

/* The key of a client side's backend side: backend -> client. */
static __always_inline struct flow_key backend_key_of(const struct flow_key *ck, const struct flow_value *cf)
{
	struct flow_key bk = {
		.src_ip = cf->peer_ip,
		.dst_ip = ck->src_ip,
		.src_port = cf->peer_port,
		.dst_port = ck->src_port,
		.proto = IPPROTO_TCP,
	};
	return bk;
}

/* The key of a backend side's client side: client -> VIP:port. */
static __always_inline struct flow_key client_key_of(const struct flow_key *bk, const struct flow_value *bf)
{
	struct flow_key ck = {
		.src_ip = bk->dst_ip,
		.dst_ip = bf->peer_ip,
		.src_port = bk->dst_port,
		.dst_port = bf->peer_port,
		.proto = IPPROTO_TCP,
	};
	return ck;
}

/* Remove a flow (both sides) and everything kept for it; cf is its client side. */
static __always_inline void forget_flow(const struct flow_key *ck, const struct flow_value *cf)
{
	struct flow_key bk = backend_key_of(ck, cf);

	if (cf->peer_ip)
		bpf_map_delete_elem(&flow_cache, &bk);
	bpf_map_delete_elem(&requests, ck);
	bpf_map_delete_elem(&flow_cache, ck);
}

/* RST for a client segment we cannot carry (RFC 793, "Reset Generation"). */
static __always_inline int reset_client(struct xdp_md *ctx, struct pkt *pk)
{
	__u8 fl = tcp_flags(pk->tcp);
	__u8 mac_src[ETH_ALEN], mac_dst[ETH_ALEN];
	struct seg s = {
		.saddr = pk->ip->daddr,
		.daddr = pk->ip->saddr,
		.sport = pk->tcp->dest,
		.dport = pk->tcp->source,
	};

	if (fl & TCP_ACK) {
		s.seq = bpf_ntohl(pk->tcp->ack_seq);
		s.flags = TCP_RST;
	} else {
		s.ack = bpf_ntohl(pk->tcp->seq) + pk->payload_len + ((fl & TCP_SYN) ? 1 : 0) + ((fl & TCP_FIN) ? 1 : 0);
		s.flags = TCP_RST | TCP_ACK;
	}
	__builtin_memcpy(mac_src, pk->eth->h_source, ETH_ALEN);
	__builtin_memcpy(mac_dst, pk->eth->h_dest, ETH_ALEN);
	return emit_segment(ctx, pk->l3_off, &s, mac_src, mac_dst, 0, 0, 0);
}

/* SYN -> SYN-ACK, ISN = SYN cookie, MSS option only (no window scaling, SACK or timestamps). */
static __always_inline int syn_cookie_reply(struct xdp_md *ctx, struct pkt *pk)
{
	void *data = (void *)(long)ctx->data;
	struct {
		struct tcphdr th;
		__u8 opts[40];
	} tb;
	struct iphdr iph;
	__u32 tlen = (__u32)pk->tcp->doff * 4;
	__u32 toff = (__u32)((void *)pk->tcp - data);
	__u8 mac_src[ETH_ALEN], mac_dst[ETH_ALEN];

	if (tlen < 20 || tlen > 60)
		return pass(RAUTA_M_PASS_BAD_TCP);
	if (bpf_xdp_load_bytes(ctx, toff, &tb, tlen))
		return pass(RAUTA_M_PASS_BAD_TCP);
	__builtin_memcpy(&iph, pk->ip, sizeof(iph));
	__s64 r = bpf_tcp_raw_gen_syncookie_ipv4(&iph, &tb.th, tlen);

	if (r < 0)
		return pass(RAUTA_M_PASS_BAD_TCP);

	struct seg s = {
		.saddr = pk->ip->daddr,
		.daddr = pk->ip->saddr,
		.sport = pk->tcp->dest,
		.dport = pk->tcp->source,
		.seq = (__u32)r,
		.ack = bpf_ntohl(pk->tcp->seq) + 1,
		.window = bpf_htons(RAUTA_SYNACK_WINDOW),
		.flags = TCP_SYN | TCP_ACK,
		.mss = 1,
	};
	__builtin_memcpy(mac_src, pk->eth->h_source, ETH_ALEN);
	__builtin_memcpy(mac_dst, pk->eth->h_dest, ETH_ALEN);
	count(RAUTA_M_SYN_COOKIE);
	return emit_segment(ctx, pk->l3_off, &s, mac_src, mac_dst, 0, 0, 0);
}

/* The SYN to the flow's backend, from the client's address with the client's ISN (cf: client side). */
static __always_inline int backend_syn(struct xdp_md *ctx, struct pkt *pk, const struct flow_value *cf)
{
	__u8 mac_dst[ETH_ALEN], mac_src[ETH_ALEN];
	struct seg s = {
		.saddr = pk->ip->saddr,
		.daddr = cf->peer_ip,
		.sport = pk->tcp->source,
		.dport = cf->peer_port,
		.seq = cf->client_isn,
		.window = pk->tcp->window,
		.flags = TCP_SYN,
		.mss = 1,
	};
	__builtin_memcpy(mac_dst, cf->peer_mac, ETH_ALEN);
	__builtin_memcpy(mac_src, pk->eth->h_dest, ETH_ALEN);
	return emit_segment(ctx, pk->l3_off, &s, mac_dst, mac_src, 0, 0, 0);
}

/* A canned answer with FIN, as the segment after the client's request. */
static __always_inline int send_reply(struct xdp_md *ctx, struct pkt *pk, __u32 kind, __u32 cookie)
{
	__u8 mac_src[ETH_ALEN], mac_dst[ETH_ALEN];
	const char *body = kind == RAUTA_REPLY_NOT_FOUND ? reply_404 : reply_503;
	__u32 len = reply_len(kind);
	__u32 padded = kind == RAUTA_REPLY_NOT_FOUND ? sizeof(reply_404) : sizeof(reply_503);
	struct seg s = {
		.saddr = pk->ip->daddr,
		.daddr = pk->ip->saddr,
		.sport = pk->tcp->dest,
		.dport = pk->tcp->source,
		.seq = cookie + 1,
		.ack = bpf_ntohl(pk->tcp->seq) + pk->payload_len,
		.window = bpf_htons(RAUTA_SYNACK_WINDOW),
		.flags = TCP_ACK | TCP_PSH | TCP_FIN,
	};
	__u32 sum = csum_fold16(bpf_csum_diff(0, 0, (__be32 *)body, padded, 0));

	__builtin_memcpy(mac_src, pk->eth->h_source, ETH_ALEN);
	__builtin_memcpy(mac_dst, pk->eth->h_dest, ETH_ALEN);
	return emit_segment(ctx, pk->l3_off, &s, mac_src, mac_dst, body, len, sum);
}

/* Record a flow answered in place (a client side only: no backend) and send the answer. */
static __always_inline int reply_in_place(struct xdp_md *ctx, struct pkt *pk, const struct flow_key *ck,
					   const struct route_key *rk, __u32 kind, enum rauta_metric why)
{
	__u32 cookie = bpf_ntohl(pk->tcp->ack_seq) - 1;
	struct flow_value nv = {
		.side = RAUTA_SIDE_CLIENT,
		.state = RAUTA_FLOW_REPLIED,
		.reply = (__u8)kind,
		.route = *rk,
		.client_isn = bpf_ntohl(pk->tcp->seq) - 1,
		.cookie = cookie,
		.changed_ns = bpf_ktime_get_ns(),
	};

	__builtin_memcpy(nv.client_mac, pk->eth->h_source, ETH_ALEN);
	bpf_map_update_elem(&flow_cache, ck, &nv, BPF_ANY);
	count(why);
	return send_reply(ctx, pk, kind, cookie);
}

/*
 * The request line at payload offset off (len bytes): method, path hash and
 * prefix hashes, then the Host header among the next RAUTA_HEADER_SCAN bytes.
 * 0 or RAUTA_M_REPLY_BAD_REQUEST. A global function: the verifier checks its
 * scan loops once, not once per caller (the first segment, a kept-alive request).
 */
__noinline int rauta_parse_request(struct xdp_md *ctx, __u32 off, __u32 len, struct request_info *ri)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	if (!ri || off > 256 || len < RAUTA_MIN_REQUEST || len > 0xffff)
		return RAUTA_M_REPLY_BAD_REQUEST;
	/* the mask repeats the bound for the verifier (clang tests a copy of off and
	 * uses a reload from a 32-bit spill, which carries no bound); the barrier
	 * keeps clang from dropping the mask as redundant */
	barrier_var(off);
	__u8 *payload = data + (off & 511);

	if ((void *)(payload + 8) > data_end)
		return RAUTA_M_REPLY_BAD_REQUEST;

	__u64 first = load_u64(payload);
	__u32 mlen = method_len(first);

	barrier_var(mlen); /* keep clang from folding it per method: one range for the verifier */
	__u32 method = parse_method(first);

	if (method == RAUTA_METHOD_INVALID)
		return RAUTA_M_REPLY_BAD_REQUEST;
	ri->method = method;
	ri->host = 0;
	int bad = scan_target(payload + mlen, len - mlen, data_end, ri);

	if (bad)
		return bad;
	/* the headers: from after the version digit (" HTTP/1.x") to at most RAUTA_HEADER_SCAN bytes */
	__u32 hoff = mlen + ri->target_end + 9;
	__u32 zero = 0;
	struct parse_scratch *ps = bpf_map_lookup_elem(&parse, &zero);
	struct route_shapes *shapes = bpf_map_lookup_elem(&route_shapes, &zero);

	if (!ps || !shapes || hoff >= len)
		return 0;
	/* no rule names a host: the Host header cannot change the match (~10 ns a byte saved) */
	if (!shapes->host[RAUTA_HOST_EXACT].methods && !shapes->host[RAUTA_HOST_WILDCARD].methods)
		return 0;
	__u32 n = len - hoff;

	if (n > RAUTA_HEADER_SCAN)
		n = RAUTA_HEADER_SCAN;
	if (n < 1 || bpf_xdp_load_bytes(ctx, off + hoff, ps->headers, n))
		return 0;
	scan_host(ps->headers, n, ri);
	return 0;
}

/* This CPU's request_info (PARSE), filled from the segment's request line; null when it is not one we serve (*reason says why). */
static __always_inline struct request_info *parse_request(struct xdp_md *ctx, const struct pkt *pk, int *reason)
{
	__u32 zero = 0;
	struct parse_scratch *ps = bpf_map_lookup_elem(&parse, &zero);

	*reason = RAUTA_M_REPLY_BAD_REQUEST;
	if (!ps)
		return 0;
	__builtin_memset(&ps->ri, 0, sizeof(ps->ri));
	*reason = rauta_parse_request(ctx, (__u32)((void *)pk->payload - (void *)(long)ctx->data), pk->payload_len, &ps->ri);
	return *reason ? 0 : &ps->ri;
}

/* ROUTES has k, for this method or (methods bit 1) any: 1 and *out = the key found. */
static __always_inline int try_methods(struct route_key *k, __u32 method, __u32 methods, struct route_key *out)
{
	if (methods & 1) {
		k->method = method;
		if (bpf_map_lookup_elem(&routes, k)) {
			*out = *k;
			return 1;
		}
	}
	if (methods & 2) {
		k->method = 0;
		if (bpf_map_lookup_elem(&routes, k)) {
			*out = *k;
			return 1;
		}
	}
	return 0;
}

/*
 * The rule a request matches, in Gateway API's precedence: an exact host,
 * then a wildcard host, then rules without a host; within those the exact
 * path, then prefixes longest first; within those the request's method, then
 * any method. Only keys ROUTE_SHAPES says exist are looked up. 1 and *out =
 * the rule's key, or 0 (no rule). A global function: verified once.
 */
__noinline int rauta_match_route(const struct request_info *ri, struct route_key *out)
{
	__u32 zero = 0;
	struct route_shapes *shapes = bpf_map_lookup_elem(&route_shapes, &zero);

	if (!ri || !out || !shapes)
		return 0;
	static const __u8 order[RAUTA_HOST_KINDS] = { RAUTA_HOST_EXACT, RAUTA_HOST_WILDCARD, RAUTA_HOST_ANY };

#pragma unroll
	for (__u32 t = 0; t < RAUTA_HOST_KINDS; t++) {
		__u32 hm = order[t];
		struct route_shape s = shapes->host[hm];
		struct route_key k = { .host_match = hm };

		if (hm == RAUTA_HOST_EXACT) {
			if (!(ri->host & 1))
				continue;
			k.host_hash = ri->host_hash;
		} else if (hm == RAUTA_HOST_WILDCARD) {
			if (!(ri->host & 2))
				continue;
			k.host_hash = ri->wild_hash;
		}
		if (s.exact) {
			k.path_match = RAUTA_PATH_EXACT;
			k.path_hash = ri->path_hash;
			if (try_methods(&k, ri->method, s.methods, out))
				return 1;
		}
		k.path_match = RAUTA_PATH_PREFIX;
#pragma unroll
		for (int d = RAUTA_MAX_PREFIX_DEPTH; d >= 0; d--) {
			if (!(s.prefixes & (1u << d)))
				continue;
			if ((__u32)d == ri->segments && !ri->ends_slash)
				k.path_hash = ri->path_hash; /* the whole path is this prefix */
			else if ((__u32)d < ri->segments)
				k.path_hash = ri->prefix[d];
			else
				continue;
			if (try_methods(&k, ri->method, s.methods, out))
				return 1;
		}
	}
	return 0;
}

/* May this connection's backend side take the backend 4-tuple bk? It may unless
 * the entry there is the live backend side of another client side. */
static __always_inline int backend_tuple_free(const struct flow_key *bk, const struct flow_key *ck)
{
	struct flow_value *other = bpf_map_lookup_elem(&flow_cache, bk);

	if (!other || other->side != RAUTA_SIDE_BACKEND)
		return 1;
	struct flow_key ok = client_key_of(bk, other);

	if (ok.dst_ip == ck->dst_ip && ok.dst_port == ck->dst_port)
		return 1; /* a stale backend side of this very 4-tuple */
	return bpf_map_lookup_elem(&flow_cache, &ok) == 0; /* another VIP's flow: free only if it is gone */
}

/*
 * The first data segment of a connection whose cookie checked out: route it,
 * save it, record the flow (both sides), and turn the frame into the SYN to the backend.
 */
static __always_inline int first_segment(struct xdp_md *ctx, struct pkt *pk, const struct flow_key *ck)
{
	int reason;
	struct request_info *ri = parse_request(ctx, pk, &reason);

	if (!ri) {
		count(reason);
		return reset_client(ctx, pk);
	}
	/* no rule: the request's own exact key, for the record */
	struct route_key rk = { .method = ri->method, .path_hash = ri->path_hash };
	struct backend_list *bl = rauta_match_route(ri, &rk) ? bpf_map_lookup_elem(&routes, &rk) : 0;

	if (!bl)
		return reply_in_place(ctx, pk, ck, &rk, RAUTA_REPLY_NOT_FOUND, RAUTA_M_REPLY_NO_ROUTE);
	__u32 nb = bl->count;
	__u32 gen = bl->gen;

	if (nb == 0 || nb > RAUTA_MAX_BACKENDS)
		return reply_in_place(ctx, pk, ck, &rk, RAUTA_REPLY_UNAVAILABLE, RAUTA_M_REPLY_NO_TABLE);

	struct maglev_key mk = { .route = rk, .gen = gen };
	struct maglev_table *t = bpf_map_lookup_elem(&maglev_tables, &mk);

	if (!t)
		return reply_in_place(ctx, pk, ck, &rk, RAUTA_REPLY_UNAVAILABLE, RAUTA_M_REPLY_NO_TABLE);
	__u32 slot = flow_hash(ck) % RAUTA_MAGLEV_SIZE;

	barrier_var(slot);
	if (slot >= RAUTA_MAGLEV_SIZE)
		return reply_in_place(ctx, pk, ck, &rk, RAUTA_REPLY_UNAVAILABLE, RAUTA_M_REPLY_NO_TABLE);
	__u32 idx = t->slots[slot];

	/* A slot must name a live backend: removed backends leave holes (weight 0). */
	if (idx >= nb || bl->backends[idx & (RAUTA_MAX_BACKENDS - 1)].weight == 0)
		return reply_in_place(ctx, pk, ck, &rk, RAUTA_REPLY_UNAVAILABLE, RAUTA_M_REPLY_NO_TABLE);

	struct backend *be = &bl->backends[idx & (RAUTA_MAX_BACKENDS - 1)];
	__u32 be_ip = be->ip;
	__u16 be_port = be->port;
	struct nexthop *nh = bpf_map_lookup_elem(&nexthops, &be_ip);

	if (!nh)
		return reply_in_place(ctx, pk, ck, &rk, RAUTA_REPLY_UNAVAILABLE, RAUTA_M_REPLY_NO_NEXTHOP);

	__u32 len = pk->payload_len;

	if (len > RAUTA_MAX_REQUEST) {
		count(RAUTA_M_REPLY_TOO_LARGE);
		return reset_client(ctx, pk);
	}

	__u64 now = bpf_ktime_get_ns();
	__u32 zero = 0;
	struct parse_scratch *ps = bpf_map_lookup_elem(&parse, &zero);

	if (!ps)
		return drop(RAUTA_M_HANDSHAKE_WAIT);
	struct flow_value *cv = &ps->client;
	struct flow_value *bv = &ps->backend;

	__builtin_memset(cv, 0, sizeof(*cv));
	cv->side = RAUTA_SIDE_CLIENT;
	cv->state = RAUTA_FLOW_SYN_SENT;
	cv->peer_ip = be_ip;
	cv->peer_port = be_port;
	cv->route = rk;
	cv->gen = gen;
	cv->backend_idx = idx;
	cv->client_isn = bpf_ntohl(pk->tcp->seq) - 1;
	cv->cookie = bpf_ntohl(pk->tcp->ack_seq) - 1;
	cv->changed_ns = now;
	__builtin_memcpy(cv->peer_mac, nh->mac, ETH_ALEN);
	__builtin_memcpy(cv->client_mac, pk->eth->h_source, ETH_ALEN);
	__builtin_memset(bv, 0, sizeof(*bv));
	bv->side = RAUTA_SIDE_BACKEND;
	bv->state = RAUTA_FLOW_SYN_SENT;
	bv->peer_ip = ck->dst_ip;
	bv->peer_port = ck->dst_port;
	bv->changed_ns = now;
	__builtin_memcpy(bv->peer_mac, pk->eth->h_source, ETH_ALEN);

	/* The backend side's 4-tuple must be ours alone: the same client ip:port may
	 * reach the same backend through another VIP. */
	struct flow_key bk = backend_key_of(ck, cv);

	if (!backend_tuple_free(&bk, ck)) {
		count(RAUTA_M_TUPLE_BUSY);
		return reset_client(ctx, pk);
	}

	/* Save the segment for the TC step, with its checksum sum and the client's window. */
	struct saved_request *req = bpf_map_lookup_elem(&scratch, &zero);

	if (!req)
		return drop(RAUTA_M_HANDSHAKE_WAIT);
	__u32 off = (__u32)((void *)pk->payload - (void *)(long)ctx->data);

	if (len < 1 || bpf_xdp_load_bytes(ctx, off, req->data, len))
		return drop(RAUTA_M_HANDSHAKE_WAIT);
	/* zero up to the next multiple of 4 so the sum covers exactly the payload
	 * (len <= RAUTA_MAX_REQUEST, checked above: len + 2 is inside data) */
	__u32 end = len;

	if (end > RAUTA_MAX_REQUEST)
		return drop(RAUTA_M_HANDSHAKE_WAIT);
	req->data[end] = 0;
	req->data[end + 1] = 0;
	req->data[end + 2] = 0;
	req->len = (__u16)len;
	req->csum = (__u16)sum_bytes(req->data, PAD4(len));
	req->window = pk->tcp->window;
	req->pad = 0;
	/* The flow before its request: a reaper that reads REQUESTS first then finds the flow. */
	bpf_map_update_elem(&flow_cache, &bk, bv, BPF_ANY);
	bpf_map_update_elem(&flow_cache, ck, cv, BPF_ANY);
	bpf_map_update_elem(&requests, ck, req, BPF_ANY);

	count(RAUTA_M_ROUTED);
	backend_count(be_ip, be_port, RAUTA_BS_SYNS);
	return backend_syn(ctx, pk, cv);
}

/* Count a later request line on a kept-alive connection that another route would take. */
static __always_inline void check_keepalive(struct xdp_md *ctx, const struct pkt *pk, const struct flow_value *cf)
{
	struct route_key rk = {};
	void *data_end = (void *)(long)ctx->data_end;
	int reason;

	/* most segments are bodies or answers' ACKs: look for a method before the full parse */
	if (pk->payload_len < RAUTA_MIN_REQUEST || (void *)(pk->payload + 8) > data_end ||
	    parse_method(load_u64(pk->payload)) == RAUTA_METHOD_INVALID)
		return;
	struct request_info *ri = parse_request(ctx, pk, &reason);

	if (!ri)
		return; /* a body, or a request line we would not route anyway */
	rauta_match_route(ri, &rk);
	if (rk.method != cf->route.method || rk.path_match != cf->route.path_match || rk.host_match != cf->route.host_match ||
	    rk.path_hash != cf->route.path_hash || rk.host_hash != cf->route.host_hash)
		count(RAUTA_M_KEEPALIVE_OTHER_ROUTE);
}

/*
 * Translate a segment of an established flow towards its peer, in place:
 * client side -> the backend (destination, ack += delta), backend side -> the
 * client (source = VIP:port, seq -= delta). One FLOW_CACHE entry is all it needs.
 */
static __always_inline int translate(struct pkt *pk, const struct flow_value *fv)
{
	__u16 tcheck = pk->tcp->check;

	__builtin_memcpy(pk->eth->h_source, pk->eth->h_dest, ETH_ALEN);
	__builtin_memcpy(pk->eth->h_dest, fv->peer_mac, ETH_ALEN);
	if (fv->side == RAUTA_SIDE_CLIENT) {
		__u32 old_daddr = pk->ip->daddr;
		__u16 old_dport = pk->tcp->dest;

		pk->ip->daddr = fv->peer_ip;
		pk->ip->check = csum_replace4(pk->ip->check, old_daddr, fv->peer_ip);
		tcheck = csum_replace4(tcheck, old_daddr, fv->peer_ip);
		tcheck = csum_replace2(tcheck, old_dport, fv->peer_port);
		pk->tcp->dest = fv->peer_port;
		if (tcp_flags(pk->tcp) & TCP_ACK) {
			__u32 old_ack = pk->tcp->ack_seq;
			__u32 new_ack = bpf_htonl(bpf_ntohl(old_ack) + fv->seq_delta);

			tcheck = csum_replace4(tcheck, old_ack, new_ack);
			pk->tcp->ack_seq = new_ack;
		}
		count(RAUTA_M_TO_BACKEND);
	} else {
		__u32 old_saddr = pk->ip->saddr;
		__u16 old_sport = pk->tcp->source;
		__u32 old_seq = pk->tcp->seq;
		__u32 new_seq = bpf_htonl(bpf_ntohl(old_seq) - fv->seq_delta);

		pk->ip->saddr = fv->peer_ip;
		pk->ip->check = csum_replace4(pk->ip->check, old_saddr, fv->peer_ip);
		tcheck = csum_replace4(tcheck, old_saddr, fv->peer_ip);
		tcheck = csum_replace2(tcheck, old_sport, fv->peer_port);
		tcheck = csum_replace4(tcheck, old_seq, new_seq);
		pk->tcp->source = fv->peer_port;
		pk->tcp->seq = new_seq;
		count(RAUTA_M_TO_CLIENT);
	}
	pk->tcp->check = tcheck;
	return XDP_TX;
}

/* Mark the other side of a closing flow, so its segments leave the fast path too. */
static __always_inline void mark_peer(const struct flow_key *peer_key, __u32 bit)
{
	struct flow_value *peer = bpf_map_lookup_elem(&flow_cache, peer_key);

	if (peer)
		__sync_fetch_and_or(&peer->flags, bit);
}

/* a >= b in sequence space */
static __always_inline int seq_geq(__u32 a, __u32 b)
{
	return (__s32)(a - b) >= 0;
}

/*
 * Close bookkeeping on the client side cf for a segment of an established flow
 * (host-order seq in the client's space): a FIN records where it ends; an ACK
 * that covers the other side's FIN records that. Returns 1 when this segment
 * completed the close (both FINs acknowledged): the caller removes the flow.
 */
static __always_inline int close_step(struct flow_value *cf, __u8 fl, __u32 seq, __u32 ack, __u32 len, int from_client,
				      const struct flow_key *peer_key, struct flow_value *self)
{
	__u32 acked_bit = 0;

	if (fl & TCP_FIN) {
		__u32 fin_bit = from_client ? RAUTA_FLOW_F_CLIENT_FIN : RAUTA_FLOW_F_BACKEND_FIN;

		if (from_client)
			cf->client_fin_end = seq + len + 1;
		else
			cf->backend_fin_end = seq + len + 1;
		__sync_fetch_and_or(&cf->flags, fin_bit);
		/* the other entry leaves the fast path too */
		if (self != cf)
			__sync_fetch_and_or(&self->flags, fin_bit);
		else
			mark_peer(peer_key, fin_bit);
	}
	if (!(fl & TCP_ACK))
		return 0;
	if (from_client && (cf->flags & RAUTA_FLOW_F_BACKEND_FIN) && seq_geq(ack, cf->backend_fin_end))
		acked_bit = RAUTA_FLOW_F_BACKEND_FIN_ACKED;
	else if (!from_client && (cf->flags & RAUTA_FLOW_F_CLIENT_FIN) && seq_geq(ack, cf->client_fin_end))
		acked_bit = RAUTA_FLOW_F_CLIENT_FIN_ACKED;
	if (!acked_bit)
		return 0;
	__u32 other = acked_bit == RAUTA_FLOW_F_BACKEND_FIN_ACKED ? RAUTA_FLOW_F_CLIENT_FIN_ACKED : RAUTA_FLOW_F_BACKEND_FIN_ACKED;
	__u32 old = __sync_fetch_and_or(&cf->flags, acked_bit);

	/* atomic: of two segments completing the pair at once, exactly one sees the other's bit */
	return (old & other) && !(old & acked_bit);
}

/* Client -> backend on an established flow, the full path: FIN and RST bookkeeping. */
static __always_inline int to_backend(struct pkt *pk, const struct flow_key *ck, struct flow_value *cf, __u8 fl)
{
	struct flow_key bk = backend_key_of(ck, cf);
	int closed = close_step(cf, fl, bpf_ntohl(pk->tcp->seq), bpf_ntohl(pk->tcp->ack_seq), pk->payload_len, 1, &bk, cf);

	translate(pk, cf);
	if (fl & TCP_RST) {
		count(RAUTA_M_RESET);
		forget_flow(ck, cf);
	} else if (closed) {
		count(RAUTA_M_CLOSED);
		forget_flow(ck, cf);
	}
	return XDP_TX;
}

/* A flow that no longer stands: half-open too long, or its 4-tuple reused by a new connection. */
static __always_inline int flow_gone(const struct pkt *pk, const struct flow_value *cf)
{
	if (cf->state != RAUTA_FLOW_ESTABLISHED && bpf_ktime_get_ns() - cf->changed_ns > RAUTA_HALF_OPEN_NS)
		return 1;
	if ((cf->flags & RAUTA_FLOW_F_NEW_SYN) && bpf_ntohl(pk->tcp->seq) - 1 != cf->client_isn &&
	    bpf_tcp_raw_check_syncookie_ipv4(pk->ip, pk->tcp) == 0)
		return 1;
	return 0;
}

/* Segments of a flow we answered in place (404/503 + FIN). */
static __always_inline int replied_segment(struct xdp_md *ctx, struct pkt *pk, const struct flow_key *ck, struct flow_value *cf)
{
	__u8 fl = tcp_flags(pk->tcp);
	__u32 seq = bpf_ntohl(pk->tcp->seq);

	count(RAUTA_M_REPLIED_SEGMENT);
	if (fl & TCP_RST) {
		forget_flow(ck, cf);
		return XDP_DROP;
	}
	if (fl & TCP_FIN) {
		/* ACK the client's FIN; our FIN went with the answer. */
		__u8 mac_src[ETH_ALEN], mac_dst[ETH_ALEN];
		struct seg s = {
			.saddr = pk->ip->daddr,
			.daddr = pk->ip->saddr,
			.sport = pk->tcp->dest,
			.dport = pk->tcp->source,
			.seq = cf->cookie + 1 + reply_len(cf->reply) + 1,
			.ack = seq + pk->payload_len + 1,
			.window = bpf_htons(RAUTA_SYNACK_WINDOW),
			.flags = TCP_ACK,
		};
		__builtin_memcpy(mac_src, pk->eth->h_source, ETH_ALEN);
		__builtin_memcpy(mac_dst, pk->eth->h_dest, ETH_ALEN);
		count(RAUTA_M_CLOSED);
		forget_flow(ck, cf);
		return emit_segment(ctx, pk->l3_off, &s, mac_src, mac_dst, 0, 0, 0);
	}
	if (pk->payload_len > 0 && seq == cf->client_isn + 1)
		return send_reply(ctx, pk, cf->reply, cf->cookie); /* our answer was lost */
	return XDP_DROP;
}

/* A client segment to a listener with no flow standing: the handshake, or a connection's first segment. */
static __always_inline int new_connection(struct xdp_md *ctx, struct pkt *pk, const struct flow_key *ck, __u8 fl)
{
	if ((fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN)
		return syn_cookie_reply(ctx, pk);
	if (fl & TCP_RST)
		return drop(RAUTA_M_DROP_CLIENT_RST);
	if (!(fl & TCP_ACK) || (fl & TCP_SYN) || bpf_tcp_raw_check_syncookie_ipv4(pk->ip, pk->tcp) != 0) {
		count(RAUTA_M_NO_FLOW_RST);
		return reset_client(ctx, pk);
	}
	if (pk->payload_len == 0) {
		if (fl & TCP_FIN) { /* closed before sending anything: there is nothing to keep */
			count(RAUTA_M_NO_FLOW_RST);
			return reset_client(ctx, pk);
		}
		return drop(RAUTA_M_HANDSHAKE_ACK);
	}
	return first_segment(ctx, pk, ck);
}

/* client_flow: the flow is gone; handle the segment as one with no flow. */
#define AS_NEW_CONNECTION (-1)

/* A client segment of a flow (cf: its client side) that the fast path did not take. */
static __always_inline int client_flow(struct xdp_md *ctx, struct pkt *pk, const struct flow_key *ck, struct flow_value *cf, __u8 fl)
{
	if ((fl & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
		__sync_fetch_and_or(&cf->flags, RAUTA_FLOW_F_NEW_SYN);
		return syn_cookie_reply(ctx, pk);
	}
	if (flow_gone(pk, cf)) {
		forget_flow(ck, cf);
		return AS_NEW_CONNECTION;
	}
	if (cf->state == RAUTA_FLOW_ESTABLISHED)
		return to_backend(pk, ck, cf, fl);
	if (cf->state == RAUTA_FLOW_REPLIED)
		return replied_segment(ctx, pk, ck, cf);
	/* SYN_SENT: the backend has not answered yet */
	if (fl & TCP_RST) {
		count(RAUTA_M_RESET);
		forget_flow(ck, cf);
		return drop(RAUTA_M_HANDSHAKE_WAIT);
	}
	if (pk->payload_len > 0 && bpf_ntohl(pk->tcp->seq) == cf->client_isn + 1) {
		count(RAUTA_M_FLOW_HIT); /* the first segment again: same SYN, same backend */
		if (cf->syn_retries == 0)
			backend_count(cf->peer_ip, cf->peer_port, RAUTA_BS_STALLED);
		if (cf->syn_retries < 255)
			cf->syn_retries++;
		return backend_syn(ctx, pk, cf);
	}
	return drop(RAUTA_M_HANDSHAKE_WAIT);
}

/* A backend segment of a flow (bf: its backend side) that the fast path did not take. */
static __always_inline int backend_flow(struct xdp_md *ctx, struct pkt *pk, const struct flow_key *bk, struct flow_value *bf, __u8 fl)
{
	struct flow_key ck = client_key_of(bk, bf);
	struct flow_value *cf = bpf_map_lookup_elem(&flow_cache, &ck);

	if (!cf || cf->side != RAUTA_SIDE_CLIENT || cf->peer_ip != bk->src_ip || cf->peer_port != bk->src_port) {
		bpf_map_delete_elem(&flow_cache, bk);
		return drop(RAUTA_M_NO_FLOW_BACKEND);
	}
	if (cf->state == RAUTA_FLOW_SYN_SENT) {
		if ((fl & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK))
			return pass(RAUTA_M_PASS_BACKEND_SYNACK);
		if (fl & TCP_RST) {
			__u8 mac_dst[ETH_ALEN], mac_src[ETH_ALEN];
			struct seg s = {
				.saddr = ck.dst_ip,
				.daddr = ck.src_ip,
				.sport = ck.dst_port,
				.dport = ck.src_port,
				.seq = cf->cookie + 1,
				.flags = TCP_RST,
			};
			__builtin_memcpy(mac_dst, bf->peer_mac, ETH_ALEN);
			__builtin_memcpy(mac_src, pk->eth->h_dest, ETH_ALEN);
			count(RAUTA_M_BACKEND_REFUSED);
			backend_count(bk->src_ip, bk->src_port, RAUTA_BS_REFUSED);
			forget_flow(&ck, cf);
			return emit_segment(ctx, pk->l3_off, &s, mac_dst, mac_src, 0, 0, 0);
		}
		if ((fl & (TCP_SYN | TCP_ACK | TCP_FIN)) == TCP_ACK && bpf_ntohl(pk->tcp->ack_seq) != cf->client_isn + 1) {
			/* The backend still has an older connection on this 4-tuple (TIME_WAIT,
			 * e.g. the client's port reached it through another VIP) and did not take
			 * our SYN as a new one. A client's stack in SYN_SENT answers such an ACK
			 * with a RST (RFC 793, seq = its ack), which clears the TIME_WAIT. The TC
			 * program sends that RST and the SYN again right behind it. */
			return pass(RAUTA_M_BACKEND_STALE_ACK);
		}
		return drop(RAUTA_M_HANDSHAKE_WAIT);
	}
	if (cf->state != RAUTA_FLOW_ESTABLISHED || bf->state != RAUTA_FLOW_ESTABLISHED) {
		bpf_map_delete_elem(&flow_cache, bk);
		return drop(RAUTA_M_NO_FLOW_BACKEND);
	}
	if (fl & TCP_SYN)
		return drop(RAUTA_M_DROP_BACKEND_SYN);

	/* the backend's sequence numbers in the client's space */
	int closed = close_step(cf, fl, bpf_ntohl(pk->tcp->seq) - bf->seq_delta, bpf_ntohl(pk->tcp->ack_seq),
				pk->payload_len, 0, bk, bf);

	translate(pk, bf);
	if (fl & TCP_RST) {
		count(RAUTA_M_RESET);
		forget_flow(&ck, cf);
	} else if (closed) {
		count(RAUTA_M_CLOSED);
		forget_flow(&ck, cf);
	}
	return XDP_TX;
}

SEC("xdp")
int rauta_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pkt pk = {};
	int reason;

	count(RAUTA_M_TOTAL);

	reason = parse_headers(data, data_end, &pk);
	if (reason)
		return pass(reason);

	__u8 fl = tcp_flags(pk.tcp);
	struct flow_key key = {
		.src_ip = pk.ip->saddr,
		.dst_ip = pk.ip->daddr,
		.src_port = pk.tcp->source,
		.dst_port = pk.tcp->dest,
		.proto = IPPROTO_TCP,
	};
	struct flow_value *fv = bpf_map_lookup_elem(&flow_cache, &key);

	if (fv) {
		/* The fast path: an established flow, nothing closing, no SYN/FIN/RST. */
		if (fv->flags == 0 && fv->state == RAUTA_FLOW_ESTABLISHED && !(fl & (TCP_SYN | TCP_FIN | TCP_RST))) {
			if (fv->side == RAUTA_SIDE_CLIENT)
				check_keepalive(ctx, &pk, fv);
			return translate(&pk, fv);
		}
		if (fv->side != RAUTA_SIDE_CLIENT)
			return backend_flow(ctx, &pk, &key, fv, fl);
		int verdict = client_flow(ctx, &pk, &key, fv, fl);

		if (verdict != AS_NEW_CONNECTION)
			return verdict;
	} else {
		struct listener_key lk = {
			.addr = pk.ip->daddr,
			.port = pk.tcp->dest,
		};
		if (!bpf_map_lookup_elem(&listeners, &lk))
			return pass(RAUTA_M_PASS_NOT_LISTENER);
	}
	return new_connection(ctx, &pk, &key, fl);
}

/*
 * TC ingress, same device, for the two steps XDP cannot do (it cannot grow a
 * small frame by a request's size, nor send two frames for one):
 * - a backend's SYN-ACK for a flow in SYN_SENT becomes the ACK that completes
 *   the backend handshake, carrying the saved request, and goes back out;
 * - a backend's ACK of an older connection on the 4-tuple (see backend_flow)
 *   becomes a RST (sent as a clone) and then the SYN again.
 * Everything else continues untouched.
 */
struct tc_frame {
	__u8 pad[2]; /* so the IPv4 header is 4-byte aligned after the 14-byte Ethernet header */
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
	__u8 mss_opt[4]; /* when the TCP header is 24 bytes */
} __attribute__((aligned(4)));

/* MACs of a frame from the client to the backend: the backend's frame reversed (copied: a write moves the packet). */
struct tc_macs {
	__u8 backend[ETH_ALEN];
	__u8 node[ETH_ALEN];
};

/* Fill f (no payload, or len bytes of payload summing to payload_sum) from the client to the flow's backend. */
static __always_inline void tc_segment(struct tc_frame *f, const struct tc_macs *macs, const struct flow_key *ck, const struct flow_key *bk,
				       __u32 seq, __u32 ack, __u8 flags, __u16 window, __u32 opt_len, __u32 len, __u32 payload_sum)
{
	__u32 tcp_len = 20 + opt_len;

	__builtin_memcpy(f->eth.h_dest, macs->backend, ETH_ALEN);
	__builtin_memcpy(f->eth.h_source, macs->node, ETH_ALEN);
	f->eth.h_proto = bpf_htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.tot_len = bpf_htons(20 + tcp_len + len);
	f->ip.frag_off = bpf_htons(0x4000);
	f->ip.ttl = 64;
	f->ip.protocol = IPPROTO_TCP;
	f->ip.saddr = ck->src_ip;
	f->ip.daddr = bk->src_ip;
	f->ip.check = ~csum_fold16(bpf_csum_diff(0, 0, (__be32 *)&f->ip, sizeof(f->ip), 0));
	f->tcp.source = ck->src_port;
	f->tcp.dest = bk->src_port;
	f->tcp.seq = bpf_htonl(seq);
	f->tcp.ack_seq = bpf_htonl(ack);
	((__u8 *)&f->tcp)[12] = (__u8)((tcp_len / 4) << 4);
	((__u8 *)&f->tcp)[13] = flags;
	f->tcp.window = window;
	if (opt_len) {
		f->mss_opt[0] = 2;
		f->mss_opt[1] = 4;
		f->mss_opt[2] = RAUTA_MSS >> 8;
		f->mss_opt[3] = RAUTA_MSS & 0xff;
	}
	__u64 sum = pseudo_sum(ck->src_ip, bk->src_ip, tcp_len + len) + payload_sum;

	f->tcp.check = ~csum_fold16(bpf_csum_diff(0, 0, (__be32 *)&f->tcp, opt_len ? 24 : 20, sum));
}

/* The frame becomes f's headers (40 + opt_len bytes after Ethernet) and len bytes of payload from the map. */
static __always_inline int tc_write(struct __sk_buff *skb, struct tc_frame *f, __u32 opt_len, const __u8 *payload, __u32 len)
{
	__u32 hdr = sizeof(struct ethhdr) + 40 + (opt_len ? 4 : 0);

	if (bpf_skb_change_tail(skb, hdr + len, 0))
		return -1;
	if (bpf_skb_store_bytes(skb, 0, &f->eth, hdr, 0))
		return -1;
	if (len > 0 && payload && bpf_skb_store_bytes(skb, hdr, payload, len, 0))
		return -1;
	return 0;
}

SEC("tc")
int rauta_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct pkt pk = {};

	if (parse_headers(data, data_end, &pk))
		return TC_ACT_OK;
	__u8 fl = tcp_flags(pk.tcp) & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN);

	if (fl != (TCP_SYN | TCP_ACK) && fl != TCP_ACK)
		return TC_ACT_OK;
	if (pk.l3_off != sizeof(struct ethhdr))
		return TC_ACT_OK; /* VLAN-tagged in the frame: not ours to rebuild */

	struct flow_key bk = {
		.src_ip = pk.ip->saddr,
		.dst_ip = pk.ip->daddr,
		.src_port = pk.tcp->source,
		.dst_port = pk.tcp->dest,
		.proto = IPPROTO_TCP,
	};
	struct flow_value *bf = bpf_map_lookup_elem(&flow_cache, &bk);

	if (!bf || bf->side != RAUTA_SIDE_BACKEND || bf->state != RAUTA_FLOW_SYN_SENT)
		return TC_ACT_OK;
	struct flow_key ck = client_key_of(&bk, bf);
	struct flow_value *cf = bpf_map_lookup_elem(&flow_cache, &ck);

	if (!cf || cf->state != RAUTA_FLOW_SYN_SENT)
		return TC_ACT_OK;
	__u32 ack = bpf_ntohl(pk.tcp->ack_seq);
	struct saved_request *req = bpf_map_lookup_elem(&requests, &ck);
	__u16 window = req ? req->window : bpf_htons(RAUTA_SYNACK_WINDOW);
	struct tc_frame f = {};
	struct tc_macs macs;

	__builtin_memcpy(macs.backend, pk.eth->h_source, ETH_ALEN);
	__builtin_memcpy(macs.node, pk.eth->h_dest, ETH_ALEN);

	if (fl == TCP_ACK) {
		if (ack == cf->client_isn + 1)
			return TC_ACT_OK;
		/* A stale ACK: the RST that clears the backend's TIME_WAIT, then our SYN again. */
		tc_segment(&f, &macs, &ck, &bk, ack, 0, TCP_RST, 0, 0, 0, 0);
		if (tc_write(skb, &f, 0, 0, 0))
			return TC_ACT_SHOT;
		bpf_clone_redirect(skb, skb->ifindex, 0);
		struct tc_frame syn = {};

		tc_segment(&syn, &macs, &ck, &bk, cf->client_isn, 0, TCP_SYN, window, 4, 0, 0);
		if (tc_write(skb, &syn, 4, 0, 0))
			return TC_ACT_SHOT;
		return bpf_redirect(skb->ifindex, 0);
	}
	if (ack != cf->client_isn + 1)
		return TC_ACT_OK;

	/* The backend's SYN-ACK: ACK + the saved request. A lost request (evicted)
	 * still completes the handshake: the client's retransmission then travels
	 * as an established segment. */
	__u32 backend_isn = bpf_ntohl(pk.tcp->seq);
	__u32 len = req ? req->len : 0;
	__u32 payload_sum = req ? req->csum : 0;

	if (len > RAUTA_MAX_REQUEST)
		len = 0; /* cannot be: XDP saves at most that */
	tc_segment(&f, &macs, &ck, &bk, cf->client_isn + 1, backend_isn + 1, len ? (TCP_ACK | TCP_PSH) : TCP_ACK, window, 0, len, payload_sum);
	if (tc_write(skb, &f, 0, req ? req->data : 0, len))
		return TC_ACT_SHOT;
	bpf_map_delete_elem(&requests, &ck);
	/* seq_delta before state: XDP reads state first */
	__u32 delta = backend_isn - cf->cookie;
	__u64 now = bpf_ktime_get_ns();

	cf->seq_delta = delta;
	bf->seq_delta = delta;
	cf->changed_ns = now;
	bf->changed_ns = now;
	cf->state = RAUTA_FLOW_ESTABLISHED;
	bf->state = RAUTA_FLOW_ESTABLISHED;
	count(RAUTA_M_BACKEND_ACK);
	backend_count(bk.src_ip, bk.src_port, RAUTA_BS_ESTABLISHED);
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * BTF anchors: nothing reads these. They put the enums into the object's BTF
 * so test/layout.test.ts can check the TS mirrors; the section is not
 * .data/.rodata/.bss, so libbpf creates no map for it.
 */
const enum rauta_metric rauta_btf_metric SEC(".rauta_btf") = RAUTA_M_COUNT;
const enum rauta_method rauta_btf_method SEC(".rauta_btf") = RAUTA_METHOD_OPTIONS;
const enum rauta_flow_state rauta_btf_flow_state SEC(".rauta_btf") = RAUTA_FLOW_ESTABLISHED;
const enum rauta_flow_side rauta_btf_flow_side SEC(".rauta_btf") = RAUTA_SIDE_CLIENT;
const enum rauta_flow_flag rauta_btf_flow_flag SEC(".rauta_btf") = RAUTA_FLOW_F_NEW_SYN;
const enum rauta_limits rauta_btf_limits SEC(".rauta_btf") = RAUTA_LIMIT_MSS;
const enum rauta_reply rauta_btf_reply SEC(".rauta_btf") = RAUTA_REPLY_NONE;
const enum rauta_backend_stat rauta_btf_backend_stat SEC(".rauta_btf") = RAUTA_BS_COUNT;
const enum rauta_path_match rauta_btf_path_match SEC(".rauta_btf") = RAUTA_PATH_PREFIX;
const enum rauta_host_match rauta_btf_host_match SEC(".rauta_btf") = RAUTA_HOST_KINDS;

char LICENSE[] SEC("license") = "GPL";
