/* BTF type coverage: every kind clang-19 emits, bitfields, anonymous members, globals, maps,
 * func/line info. Build: see build.sh. No headers needed. */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) __typeof__(val) *name
#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __user __attribute__((btf_type_tag("user")))

enum color { RED, GREEN = 5, BLUE = -3 };
enum big { SMALL = 1, HUGE = 0x123456789aULL };
enum __attribute__((packed)) tiny { T0, T1, T2 = 200 };

struct flags {
	unsigned int a : 3;
	unsigned int b : 5;
	int c : 7;
	unsigned long long d : 40;
	__u8 e;
};

struct inner {
	__u16 x;
	__u16 y;
};

struct sample {
	__u32 id;
	char name[16];
	struct inner pos;
	struct inner path[3];
	enum color col;
	union {
		__u32 word;
		__u8 bytes[4];
	};
	struct {
		int lo;
		int hi;
	} range;
	const volatile __u64 *ptr;
	int (*callback)(struct sample *s, int n) __tag("cb");
	double ratio;
	float fr;
	_Bool ok;
	__s64 matrix[2][3];
	struct flags fl;
	enum tiny t;
	enum big bg;
	char __user *uptr;
	struct opaque *op;
} __tag("sample_tag");

struct {
	__uint(type, 2);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct sample);
} samples SEC(".maps");

struct sample global_sample = { .id = 7, .name = "hello" };
__u32 counter;
const char message[] = "pybpf";

static __attribute__((noinline)) int helper_sum(int a, int b __tag("arg"))
{
	return a + b * 3;
}

__attribute__((noinline)) int global_func(struct sample *s)
{
	if (!s)
		return 0;
	return s->id + s->fl.b;
}

SEC("xdp")
int prog_main(void *ctx)
{
	__u32 key = 0;
	struct sample *s = &global_sample;

	counter += 1;
	if (s->col == GREEN)
		return helper_sum(1, 2);
	return global_func(s) + message[0];
}

SEC("tc")
int prog_second(void *ctx)
{
	return helper_sum(counter, 4);
}

char LICENSE[] SEC("license") = "GPL";
