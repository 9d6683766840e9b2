/* Times one benchmark program compiled for the host (see native_shim.h).
 *
 * Built by benchmarks/pybpf_bench/native.py into a temporary directory:
 *   gcc -O2 -Ibenchmarks/c/native -I<tmp> -DBENCH_SOURCE='"prog.c"' -DBENCH_ENTRY=fn \
 *       native_driver.c -o bench
 * The program's source is included here, so the map definitions are in scope of the
 * generated <tmp>/native_setup.h, which defines bench_setup(): the map entries the
 * benchmark preloads.
 *
 *   bench FRAMES 0 OUT     run each frame once; write u32 retval, u32 length and the
 *                          packet after the run, per frame, to OUT
 *   bench FRAMES REPS      run every frame REPS times; print the mean ns per run, in
 *                          CPU time of this thread (time given to other processes on a
 *                          busy machine is not counted)
 * FRAMES holds the input packets, each a little-endian u32 length and its bytes. As with
 * BPF_PROG_TEST_RUN's repeat, the repetitions run on the same packet buffer.
 */
#include BENCH_SOURCE
#include "native_setup.h"

#include <stdio.h>

struct frame {
	unsigned char *buf;
	uint32_t len;
};

static int (*volatile entry)(struct xdp_md *) = BENCH_ENTRY;

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "native driver: %s %s\n", what, path);
	return 2;
}

static int run(struct frame *f)
{
	struct xdp_md ctx = {
		.data = (uintptr_t)f->buf,
		.data_end = (uintptr_t)(f->buf + f->len),
		.data_meta = (uintptr_t)f->buf,
		.ingress_ifindex = 1,
	};

	return entry(&ctx);
}

static size_t read_frames(FILE *in, struct frame *frames, size_t max)
{
	size_t n = 0;
	uint32_t len;

	while (n < max && fread(&len, sizeof(len), 1, in) == 1) {
		frames[n].buf = aligned_alloc(64, (len + 63) & ~63u);
		frames[n].len = len;
		if (!frames[n].buf || fread(frames[n].buf, 1, len, in) != len)
			return 0;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	static struct frame frames[1 << 16];
	struct timespec t0, t1;
	size_t count, i;
	long reps, r;
	FILE *f;

	if (argc < 3)
		return fail("usage: bench FRAMES REPS [OUT]", "");
	f = fopen(argv[1], "rb");
	if (!f)
		return fail("cannot read", argv[1]);
	count = read_frames(f, frames, sizeof(frames) / sizeof(frames[0]));
	fclose(f);
	if (!count)
		return fail("no frames in", argv[1]);
	bench_setup();
	reps = strtol(argv[2], NULL, 10);
	if (reps == 0) {
		if (argc < 4 || !(f = fopen(argv[3], "wb")))
			return fail("cannot write", argc < 4 ? "(no OUT)" : argv[3]);
		for (i = 0; i < count; i++) {
			uint32_t retval = (uint32_t)run(&frames[i]);

			fwrite(&retval, sizeof(retval), 1, f);
			fwrite(&frames[i].len, sizeof(frames[i].len), 1, f);
			fwrite(frames[i].buf, 1, frames[i].len, f);
		}
		return fclose(f) ? fail("cannot write", argv[3]) : 0;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (i = 0; i < count; i++)
		for (r = 0; r < reps; r++) {
			run(&frames[i]);
			asm volatile("" ::: "memory");
		}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	printf("%.3f\n", ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) /
				 ((double)count * reps));
	return 0;
}
