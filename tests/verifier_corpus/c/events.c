// SPDX-License-Identifier: GPL-2.0
/* Tracepoint programs that report events through a ring buffer and through a perf event
 * array: reserve/submit with an early discard, a helper-filled record, a subprogram that
 * fills the common part of the record.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct event {
	__u32 pid;
	__u32 tgid;
	__u64 ts;
	char comm[16];
	__s64 arg;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 16);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 128);
} perf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} filter_pid SEC(".maps");

struct sys_enter_args {
	__u64 common;
	__s64 id;
	__u64 args[6];
};

static __noinline void fill_common(struct event *e)
{
	__u64 id = bpf_get_current_pid_tgid();
	e->pid = (__u32)id;
	e->tgid = id >> 32;
	e->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
}

SEC("tracepoint/raw_syscalls/sys_enter")
int ringbuf_events(struct sys_enter_args *ctx)
{
	__u32 zero = 0, *want = bpf_map_lookup_elem(&filter_pid, &zero);
	struct event *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);

	if (!e)
		return 0;
	fill_common(e);
	if (want && *want && *want != e->tgid) {
		bpf_ringbuf_discard(e, 0);
		return 0;
	}
	e->arg = ctx->id;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_enter")
int perf_events(struct sys_enter_args *ctx)
{
	struct event e = {};

	fill_common(&e);
	e.arg = ctx->args[0];
	bpf_perf_event_output(ctx, &perf, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
