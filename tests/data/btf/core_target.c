/* A made-up "kernel" whose BTF is a CO-RE target for core.o: same names, other layouts.
 * Only its .BTF matters; the globals make clang emit the types. Build: see build.sh. */
struct thread_info {
	int cpu;
	unsigned long flags;
};

struct task_struct {
	struct thread_info thread_info;
	unsigned int sched_reset_on_fork : 1;
	unsigned int sched_migrated : 1;
	long state;
	char comm[8];             /* shorter than core.c's comm[16]: comm[3] still fits */
	int tgid;
	int pid;                  /* after tgid here */
	unsigned int flags;
	struct task_struct *real_parent;
};

struct net_device;

struct sk_buff {
	unsigned int len;
	union {
		struct {
			struct sk_buff *next;
			struct net_device *dev;
		};
		unsigned long rb;
	};
	struct {
		unsigned short protocol;
		unsigned short pad;
	};
	unsigned int other : 13;
	unsigned int pkt_type : 7;  /* straddles a byte boundary: needs a wider load */
	unsigned char cloned : 1;
};

struct list_head {
	struct list_head *next, *prev;
};

enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_RINGBUF = 99,
};

struct cgroup {
	long pad;
	int level;
	struct cgroup *ancestors[];
};

enum blake2b_iv {
	BLAKE2B_IV0 = 0x6a09e667f3bcc908ULL,
	BLAKE2B_IV1 = 0xbb67ae8584caa73bULL,
};

struct sbits {
	int pad : 3;
	int val : 5;
};

struct task_struct target_task;
struct cgroup *target_cgroup;
enum blake2b_iv target_iv;
struct sbits target_sbits;
struct sk_buff target_skb;
struct list_head target_list;
enum bpf_map_type target_map_type;
