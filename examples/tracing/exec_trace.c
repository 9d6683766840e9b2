// SPDX-License-Identifier: GPL-2.0
/* Tracing: count execve() calls per process and stream an event for each through a ring
 * buffer. Attached to the syscalls:sys_enter_execve tracepoint; the context is the raw
 * tracepoint record (common header, syscall nr, then the filename pointer).
 * Build: see ../build.sh
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define TASK_COMM_LEN 16

struct execve_args {          /* /sys/kernel/tracing/events/syscalls/sys_enter_execve/format */
	__u64 common;         /* common_type, flags, preempt_count, pid */
	__s32 syscall_nr;
	__u32 pad;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

struct event {
	__u32 pid;
	__u32 tgid;
	__u64 count;
	char comm[TASK_COMM_LEN];
	char filename[64];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);          /* tgid */
	__type(value, __u64);
	__uint(max_entries, 10240);
} exec_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int trace_execve(struct execve_args *args)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u64 one = 1, *count;
	struct event *e;

	count = bpf_map_lookup_elem(&exec_count, &tgid);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&exec_count, &tgid, &one, BPF_ANY);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = (__u32)id;
	e->tgid = tgid;
	e->count = count ? *count : 1;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), args->filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
