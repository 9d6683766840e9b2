// SPDX-License-Identifier: GPL-2.0
/* A heavier program for the verifier's exploration and pruning: keeps a per-CPU window of
 * the last 16 packet sizes in a map value, sorts a copy with insertion sort (nested bounded
 * loops) and reports the median and a percentile, plus a byte histogram of the first 64
 * packet bytes.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define WINDOW 16

struct window {
	__u32 next;
	__u32 sizes[WINDOW];
	__u32 median;
	__u32 p90;
	__u32 hist[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct window);
	__uint(max_entries, 1);
} win SEC(".maps");

static __noinline void sort16(__u32 *a)
{
	for (int i = 1; i < WINDOW; i++) {
		__u32 v = a[i];
		int j = i - 1;
		for (; j >= 0 && j < WINDOW; j--) {
			if (a[j] <= v)
				break;
			a[j + 1] = a[j];
		}
		if (j + 1 >= 0 && j + 1 < WINDOW)
			a[j + 1] = v;
	}
}

SEC("xdp")
int size_stats(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 zero = 0, copy[WINDOW];
	struct window *w = bpf_map_lookup_elem(&win, &zero);
	__u8 *p = data;

	if (!w)
		return XDP_PASS;
	w->sizes[w->next & (WINDOW - 1)] = end - data;
	w->next++;
	for (int i = 0; i < WINDOW; i++)
		copy[i] = w->sizes[i];
	sort16(copy);
	w->median = copy[WINDOW / 2];
	w->p90 = copy[(WINDOW * 9) / 10];
	for (int i = 0; i < 64; i++) {
		if ((void *)(p + i + 1) > end)
			break;
		w->hist[p[i] >> 4]++;
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
