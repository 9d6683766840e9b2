/* Host build of the benchmark programs: what libbpf's <bpf/bpf_helpers.h> and the kernel
 * give a BPF program, as plain C for gcc, so the same source gives the physical limit.
 *
 * gcc -O2 -Ibenchmarks/c/native ... puts benchmarks/c/native first on the include path:
 * its bpf/bpf_helpers.h includes this file and its linux/bpf.h widens struct xdp_md to
 * 64-bit pointers. Modelled: SEC() (ignored), BTF-style map definitions, array, per-CPU
 * array (one CPU) and hash maps (LRU hash as a plain hash: no eviction, a full map answers
 * -E2BIG), bpf_map_lookup_elem/update_elem/delete_elem, bpf_ktime_get_ns, and can_loop
 * (always true: nothing bounds a host loop). Nothing else of the kernel is.
 */
#ifndef PYBPF_NATIVE_SHIM_H
#define PYBPF_NATIVE_SHIM_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <linux/bpf.h>

#define SEC(name)
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#define can_loop 1

/* A BTF-style map definition is a struct of typed pointers that only carry sizes; each
 * __uint() also adds a pointer member that holds the map's storage once it is used. */
#define __uint(name, val) int (*name)[val]; void *shim_##name
#define __type(name, val) typeof(val) *name

#define SHIM_MAP(m)                                                                  \
	&(m)->shim_type, sizeof(*(m)->type) / sizeof(int), sizeof(*(m)->key),         \
		sizeof(*(m)->value), sizeof(*(m)->max_entries) / sizeof(int)
#define bpf_map_lookup_elem(m, key) shim_lookup(SHIM_MAP(m), (key))
#define bpf_map_update_elem(m, key, value, flags) shim_update(SHIM_MAP(m), (key), (value), (flags))
#define bpf_map_delete_elem(m, key) shim_delete(SHIM_MAP(m), (key))

/* Hash maps: open addressing with linear probing over a power-of-two table at least
 * twice max_entries; a slot is a state byte, the key, then the value at an 8-byte
 * aligned offset (programs use atomic adds on values). */
enum { SLOT_FREE, SLOT_USED, SLOT_DELETED };

struct shim_hash {
	size_t key_size, value_offset, slot_size, mask, count, max_entries;
	unsigned char slots[];
};

static inline int shim_is_array(unsigned type)
{
	return type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static inline void *shim_storage(void **store, unsigned type, size_t key_size,
				 size_t value_size, size_t max_entries)
{
	struct shim_hash *h;
	size_t capacity = 16;

	if (*store)
		return *store;
	if (shim_is_array(type)) {
		*store = calloc(max_entries, value_size);
		return *store;
	}
	while (capacity < 2 * max_entries)
		capacity *= 2;
	h = calloc(1, sizeof(*h) + capacity * (((1 + key_size + 7) & ~7ul) + ((value_size + 7) & ~7ul)));
	h->key_size = key_size;
	h->value_offset = (1 + key_size + 7) & ~7ul;
	h->slot_size = h->value_offset + ((value_size + 7) & ~7ul);
	h->mask = capacity - 1;
	h->max_entries = max_entries;
	*store = h;
	return h;
}

static inline size_t shim_hash_key(const unsigned char *key, size_t size)
{
	uint32_t h = 0x811c9dc5;	/* FNV-1a */

	while (size--)
		h = (h ^ *key++) * 0x01000193;
	return h;
}

/* The slot holding `key`, else the first free slot of its probe sequence (`*found` = 0). */
static inline unsigned char *shim_probe(struct shim_hash *h, const void *key, int *found)
{
	size_t i = shim_hash_key(key, h->key_size) & h->mask, probes;
	unsigned char *spare = NULL;

	for (probes = 0; probes <= h->mask; probes++, i = (i + 1) & h->mask) {
		unsigned char *slot = h->slots + i * h->slot_size;

		if (slot[0] == SLOT_FREE) {
			*found = 0;
			return spare ? spare : slot;
		}
		if (slot[0] == SLOT_DELETED) {
			if (!spare)
				spare = slot;
		} else if (!memcmp(slot + 1, key, h->key_size)) {
			*found = 1;
			return slot;
		}
	}
	*found = 0;	/* no free slot left: count <= max_entries < capacity, so a deleted one */
	return spare;
}

static inline void *shim_lookup(void **store, unsigned type, size_t key_size, size_t value_size,
				size_t max_entries, const void *key)
{
	void *s = shim_storage(store, type, key_size, value_size, max_entries);
	int found;

	if (shim_is_array(type)) {
		uint32_t index;

		memcpy(&index, key, sizeof(index));
		return index < max_entries ? (unsigned char *)s + (size_t)index * value_size : NULL;
	}
	unsigned char *slot = shim_probe(s, key, &found);
	return found ? slot + ((struct shim_hash *)s)->value_offset : NULL;
}

static inline long shim_update(void **store, unsigned type, size_t key_size, size_t value_size,
			       size_t max_entries, const void *key, const void *value,
			       uint64_t flags)
{
	struct shim_hash *h;
	unsigned char *slot;
	int found;

	if (shim_is_array(type)) {
		void *dst = shim_lookup(store, type, key_size, value_size, max_entries, key);

		if (!dst)
			return -E2BIG;
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		memcpy(dst, value, value_size);
		return 0;
	}
	h = shim_storage(store, type, key_size, value_size, max_entries);
	slot = shim_probe(h, key, &found);
	if (found && flags == BPF_NOEXIST)
		return -EEXIST;
	if (!found && flags == BPF_EXIST)
		return -ENOENT;
	if (!found) {
		if (h->count == h->max_entries)
			return -E2BIG;
		h->count++;
		slot[0] = SLOT_USED;
		memcpy(slot + 1, key, key_size);
	}
	memcpy(slot + h->value_offset, value, value_size);
	return 0;
}

static inline long shim_delete(void **store, unsigned type, size_t key_size, size_t value_size,
			       size_t max_entries, const void *key)
{
	struct shim_hash *h;
	unsigned char *slot;
	int found;

	if (shim_is_array(type))
		return -EINVAL;
	h = shim_storage(store, type, key_size, value_size, max_entries);
	slot = shim_probe(h, key, &found);
	if (!found)
		return -ENOENT;
	slot[0] = SLOT_DELETED;
	h->count--;
	return 0;
}

static inline uint64_t bpf_ktime_get_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

#endif
