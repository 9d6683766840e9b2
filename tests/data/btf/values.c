/* Initialised globals with known values for pretty-printing tests (the .data section). */
typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))

enum proto { PROTO_TCP = 6, PROTO_UDP = 17, PROTO_NEG = -1 };
enum wide { WIDE_A = 0x100000000ULL, WIDE_B = 2 };

struct bits {
	unsigned int low : 4;
	int neg : 5;
	unsigned int flag : 1;
	enum proto p : 8;
	unsigned long long wide : 36;
	__u8 tail;
};

struct point {
	short x;
	short y;
};

struct record {
	__u32 id;
	char name[12];
	char raw[4];
	unsigned char tag[3];
	__u8 bytes[3];
	struct point pts[2];
	enum proto proto;
	enum wide w;
	struct bits b;
	union {
		__u32 as_u32;
		__u16 as_u16[2];
	};
	struct {
		long long big;
		double ratio;
	};
	void *ptr;
	_Bool ok;
	char letter;
	signed char sc;
	unsigned __int128 u128;
	float f;
};

struct record rec = {
	.id = 0xdeadbeef,
	.name = "eth0",
	.raw = { 1, 2, 3, 4 },
	.tag = "ab",
	.bytes = { 'a', 'b', 0 },
	.pts = { { -1, 2 }, { 300, -400 } },
	.proto = PROTO_UDP,
	.w = WIDE_A,
	.b = { .low = 9, .neg = -7, .flag = 1, .p = PROTO_TCP, .wide = 0xabcdef123ULL, .tail = 0x5a },
	.as_u32 = 0x00020001,
	.big = -5,
	.ratio = 0.5,
	.ptr = (void *)0,
	.ok = 1,
	.letter = 'Z',
	.sc = -2,
	.u128 = ((unsigned __int128)1 << 100) | 7,
	.f = -1.25f,
};

int other = -42;

/* No floating point: bpftool's btf_dumper cannot print it (tests compare with bpftool). */
struct kview {
	__u32 id;
	char name[8];
	unsigned char tag[3];
	struct point pts[2];
	enum proto proto;
	enum wide w;
	struct bits b;
	union {
		__u32 as_u32;
		__u16 as_u16[2];
	};
	long long big;
	void *ptr;
	_Bool ok;
	unsigned __int128 u128;
};

struct kview kv = {
	.id = 77,
	.name = "lo",
	.tag = { 200, 1, 0 },
	.pts = { { 1, -1 }, { -300, 400 } },
	.proto = PROTO_NEG,
	.w = WIDE_B,
	.b = { .low = 15, .neg = 3, .flag = 0, .p = PROTO_UDP, .wide = 0xfffffffffULL, .tail = 1 },
	.as_u32 = 0xfffe0003,
	.big = 0x7fffffffffffffffLL,
	.ptr = (void *)0,
	.ok = 0,
	.u128 = ((unsigned __int128)0xabcdULL << 64) | 0x1234,
};

SEC("xdp")
int prog(void *ctx)
{
	return rec.id + other + rec.b.neg + kv.id;
}

char LICENSE[] SEC("license") = "GPL";
