/* kprobe, kretprobe, tracepoint and raw tracepoint programs; two programs in one section. */
#include "bpf_elf.h"

__u64 calls;
__u64 writes;

SEC("kprobe/do_sys_openat2")
int open_entry(struct pt_regs *regs)
{
	calls++;
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int open_exit(struct pt_regs *regs)
{
	return regs->ax != 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int write_enter(void *ctx)
{
	writes += 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int write_enter_pid(void *ctx)
{
	return bpf_get_current_pid_tgid() >> 32 == 1;
}

SEC("raw_tp/sched_switch")
int on_switch(void *ctx)
{
	return bpf_ktime_get_ns() & 1;
}

char _license[] SEC("license") = "Dual BSD/GPL";
