/* .kconfig externs and a kfunc (__ksym) call. */
#include "bpf_elf.h"

extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern int CONFIG_HZ __kconfig __weak;
extern enum libbpf_tristate CONFIG_PYBPF_NOT_A_REAL_OPTION __kconfig __weak;
extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

__u64 seen;

SEC("tp_btf/sched_switch")
int kconf(void *ctx)
{
	bpf_rcu_read_lock();
	if (CONFIG_BPF_SYSCALL)
		seen = LINUX_KERNEL_VERSION + CONFIG_HZ;
	if (CONFIG_PYBPF_NOT_A_REAL_OPTION == TRI_MODULE)
		seen = 0;
	bpf_rcu_read_unlock();
	return 0;
}

char _license[] SEC("license") = "GPL";
