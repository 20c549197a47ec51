/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rauta_maps.h: the maps of the XDP and TC programs (one object, shared maps). Layouts come from rauta.h.
 * Maps are pinned by the TypeScript loader (src/dataplane/libbpf.ts) under one
 * directory per agent, not by LIBBPF_PIN_BY_NAME, so several agents can share a
 * machine and a restart reuses the maps.
 */
#ifndef RAUTA_MAPS_H
#define RAUTA_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "rauta.h"

/* ROUTES: {method, path hash} -> the route's backends and its current Maglev gen. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RAUTA_MAX_ROUTES);
	__type(key, struct route_key);
	__type(value, struct backend_list);
} routes SEC(".maps");

/* ROUTE_SHAPES: one entry, the key kinds ROUTES holds (struct route_shapes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct route_shapes);
} route_shapes SEC(".maps");

/* MAGLEV_TABLES: {route, gen} -> slot table; a new gen is written before ROUTES flips to it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RAUTA_MAX_TABLES);
	__type(key, struct maglev_key);
	__type(value, struct maglev_table);
} maglev_tables SEC(".maps");

/* FLOW_CACHE: 4-tuple -> connection, two entries per connection (its client side
 * and its backend side), so any established segment costs one lookup. LRU: an
 * evicted live flow shows as NO_FLOW_RST / NO_FLOW_BACKEND. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 2 * RAUTA_MAX_FLOWS);
	__type(key, struct flow_key);
	__type(value, struct flow_value);
} flow_cache SEC(".maps");

/* REQUESTS: client 4-tuple -> the first segment, until the backend's SYN-ACK (TC sends it). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RAUTA_MAX_HANDSHAKES);
	__type(key, struct flow_key);
	__type(value, struct saved_request);
} requests SEC(".maps");

/* PARSE: per CPU, a request's parse (struct request_info) and the headers the
 * Host header is searched in: too large for the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct parse_scratch);
} parse SEC(".maps");

/* SCRATCH: one saved_request per CPU to build a REQUESTS value in (the stack holds 512 B). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct saved_request);
} scratch SEC(".maps");

/* METRICS: one per-CPU u64 counter per enum rauta_metric slot (lock-free increments). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RAUTA_M_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} metrics SEC(".maps");

/* LISTENERS: VIP:port pairs this program answers -> flags (0 today); others pass untouched. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RAUTA_MAX_LISTENERS);
	__type(key, struct listener_key);
	__type(value, __u32);
} listeners SEC(".maps");

/* NEXTHOPS: backend IPv4 (network order) -> destination MAC for the rewritten frame. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RAUTA_MAX_NEXTHOPS);
	__type(key, __u32);
	__type(value, struct nexthop);
} nexthops SEC(".maps");

/* BACKEND_STATS: health-checked backend -> handshake counters. The agent
 * creates and deletes the entries (one per backend with a healthCheck); the
 * programs only count into entries that exist. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RAUTA_MAX_CHECKED);
	__type(key, struct backend_key);
	__type(value, struct backend_stats);
} backend_stats SEC(".maps");

#endif /* RAUTA_MAPS_H */
