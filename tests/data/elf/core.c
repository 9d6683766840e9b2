/* CO-RE field accesses (main program and an appended .text function) and a typed __ksym. */
#include "bpf_elf.h"

struct task_struct {
	int pid;
	int tgid;
	struct task_struct *parent;
} __attribute__((preserve_access_index));

extern const int bpf_prog_active __ksym;

static __noinline int parent_tgid(struct task_struct *t)
{
	return t->parent->tgid;
}

SEC("tp_btf/sched_process_fork")
int fork_probe(__u64 *ctx)
{
	struct task_struct *child = (void *)ctx[1];
	if (child->pid == 1)
		return parent_tgid(child) + *(int *)&bpf_prog_active;
	return 0;
}

char _license[] SEC("license") = "GPL";
