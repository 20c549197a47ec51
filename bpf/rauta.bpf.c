// SPDX-License-Identifier: Apache-2.0
/*
 * rauta Tier-1 data path: route HTTP/1.x requests to a backend in XDP.
 *
 * Ethernet -> IPv4 -> TCP -> request line; {method, FNV-1a(path)} -> ROUTES;
 * backend from FLOW_CACHE (same connection, same route gen) or the route's
 * Maglev table; rewrite MACs, dst IP and dst port with incremental checksums
 * and XDP_TX. Anything it does not handle is XDP_PASS, never a drop, and a
 * PASS leaves the frame untouched. Every packet counts TOTAL; every PASS
 * counts exactly one reason (enum rauta_metric).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rauta.h"
#include "rauta_maps.h"
#include "rauta_parse.h"

static __always_inline void count(enum rauta_metric slot)
{
	__u32 key = slot;
	__u64 *v = bpf_map_lookup_elem(&metrics, &key);

	if (v)
		*v += 1; /* per-CPU slot: no atomic needed */
}

static __always_inline int pass(enum rauta_metric reason)
{
	count(reason);
	return XDP_PASS;
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

	struct listener_key lk = {
		.addr = pk.ip->daddr,
		.port = pk.tcp->dest,
	};
	if (!bpf_map_lookup_elem(&listeners, &lk))
		return pass(RAUTA_M_PASS_NOT_LISTENER);

	if (pk.payload_len == 0)
		return pass(RAUTA_M_PASS_NO_PAYLOAD);
	if (pk.payload_len < RAUTA_MIN_REQUEST || (void *)(pk.payload + 8) > data_end)
		return pass(RAUTA_M_PASS_BAD_REQUEST);

	__u64 first = load_u64(pk.payload);
	__u32 mlen = method_len(first);

	barrier_var(mlen); /* keep clang from folding it per method: one range for the verifier */
	__u32 method = parse_method(first);

	if (method == RAUTA_METHOD_INVALID)
		return pass(RAUTA_M_PASS_BAD_REQUEST);

	struct route_key rk = { .method = method };

	reason = scan_target(pk.payload + mlen, pk.payload_len - mlen, data_end, &rk.path_hash);
	if (reason)
		return pass(reason);

	struct backend_list *bl = bpf_map_lookup_elem(&routes, &rk);

	if (!bl)
		return pass(RAUTA_M_PASS_NO_ROUTE);
	__u32 nb = bl->count;
	__u32 gen = bl->gen;

	if (nb == 0 || nb > RAUTA_MAX_BACKENDS)
		return pass(RAUTA_M_PASS_NO_TABLE);

	struct flow_key fk = {
		.src_ip = pk.ip->saddr,
		.dst_ip = pk.ip->daddr,
		.src_port = pk.tcp->source,
		.dst_port = pk.tcp->dest,
		.proto = IPPROTO_TCP,
	};
	struct flow_value *fv = bpf_map_lookup_elem(&flow_cache, &fk);
	__u32 idx;
	int hit = 0;

	/* A cached index must still name a live slot: a route removed and re-added
	 * starts again at gen 1, and its old flows may point at what is now a hole. */
	if (fv && fv->route.method == rk.method && fv->route.path_hash == rk.path_hash &&
	    fv->gen == gen && fv->backend_idx < nb &&
	    bl->backends[fv->backend_idx & (RAUTA_MAX_BACKENDS - 1)].weight != 0) {
		idx = fv->backend_idx;
		hit = 1;
		count(RAUTA_M_FLOW_HIT);
	} else {
		struct maglev_key mk = { .route = rk, .gen = gen };
		struct maglev_table *t;
		__u32 slot;

		count(RAUTA_M_FLOW_MISS);
		t = bpf_map_lookup_elem(&maglev_tables, &mk);
		if (!t)
			return pass(RAUTA_M_PASS_NO_TABLE);
		slot = flow_hash(&fk) % RAUTA_MAGLEV_SIZE;
		barrier_var(slot);
		if (slot >= RAUTA_MAGLEV_SIZE)
			return pass(RAUTA_M_PASS_NO_TABLE);
		idx = t->slots[slot];
		if (idx >= nb || bl->backends[idx & (RAUTA_MAX_BACKENDS - 1)].weight == 0)
			return pass(RAUTA_M_PASS_NO_TABLE); /* the table and the list disagree */
	}

	struct backend *be = &bl->backends[idx & (RAUTA_MAX_BACKENDS - 1)];
	__u32 be_ip = be->ip;
	__u16 be_port = be->port;
	struct nexthop *nh = bpf_map_lookup_elem(&nexthops, &be_ip);

	if (!nh)
		return pass(RAUTA_M_PASS_NO_NEXTHOP);

	if (!hit) {
		struct flow_value nv = { .route = rk, .gen = gen, .backend_idx = idx };

		bpf_map_update_elem(&flow_cache, &fk, &nv, BPF_ANY);
	}

	/* All checks done: rewrite. */
	__u32 old_daddr = pk.ip->daddr;
	__u16 old_dport = pk.tcp->dest;

	__builtin_memcpy(pk.eth->h_source, pk.eth->h_dest, ETH_ALEN);
	__builtin_memcpy(pk.eth->h_dest, nh->mac, ETH_ALEN);
	pk.ip->daddr = be_ip;
	pk.ip->check = csum_replace4(pk.ip->check, old_daddr, be_ip);
	/* TCP checksum covers the pseudo-header dst IP and the port. */
	__u16 tcheck = csum_replace4(pk.tcp->check, old_daddr, be_ip);

	pk.tcp->check = csum_replace2(tcheck, old_dport, be_port);
	pk.tcp->dest = be_port;

	count(RAUTA_M_ROUTED);
	return XDP_TX;
}

/*
 * BTF anchors: nothing reads these. They put enum rauta_metric and enum
 * rauta_method into the object's BTF so test/layout.test.ts can check the TS
 * mirrors; the section is not .data/.rodata/.bss, so libbpf creates no map for it.
 */
const enum rauta_metric rauta_btf_metric SEC(".rauta_btf") = RAUTA_M_COUNT;
const enum rauta_method rauta_btf_method SEC(".rauta_btf") = RAUTA_METHOD_OPTIONS;

char LICENSE[] SEC("license") = "GPL";
