// SPDX-License-Identifier: Apache-2.0
/* The floor: an XDP program that passes every packet. Benchmarks measure
 * rauta's data path beside it in the same run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
