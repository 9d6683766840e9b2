"""ctypes mirrors of the ``union bpf_attr`` members and info structs pybpf passes to bpf(2).

Each class is one anonymous struct of ``union bpf_attr`` in include/uapi/linux/bpf.h, with the
kernel's field names; offsets were checked against the BTF of Linux 6.18 (see the tests). A
``__aligned_u64`` is ``c_uint64``, which ctypes aligns to 8 on every 64-bit ABI pybpf supports.

The kernel copies ``min(size, sizeof(union bpf_attr))`` bytes and requires any bytes past its
own ``sizeof`` to be zero (``bpf_check_uarg_tail_zero()``), so a zero-initialised structure
passed with its own ``sizeof`` is valid on older and newer kernels alike as long as the
fields a kernel does not know stay zero. Pointers are stored as integers (``addressof``).
"""

from __future__ import annotations

import ctypes

__all__ = [
    "BPF_OBJ_NAME_LEN",
    "BPF_TAG_SIZE",
    "BpfBtfLoadAttr",
    "BpfMapCreateAttr",
    "BpfMapElemAttr",
    "BpfMapInfo",
    "BpfObjInfoAttr",
    "BpfProgInfo",
    "BpfProgLoadAttr",
    "BpfProgTestRunAttr",
    "encode_obj_name",
]

BPF_OBJ_NAME_LEN = 16
"""Size of ``map_name``/``prog_name`` including the terminating NUL."""
BPF_TAG_SIZE = 8
"""Size of ``bpf_prog_info.tag``."""

_u32 = ctypes.c_uint32
_s32 = ctypes.c_int32
_u64 = ctypes.c_uint64
_name = ctypes.c_char * BPF_OBJ_NAME_LEN


def encode_obj_name(name: str) -> bytes:
    """Encode a program or map name for ``prog_name``/``map_name`` (at most 15 bytes).

    The kernel accepts only ``[A-Za-z0-9_.]`` (bpf_obj_name_cpy()); other characters are left
    for it to refuse with ``EINVAL``.
    """
    raw = name.encode("ascii", errors="strict")
    if len(raw) >= BPF_OBJ_NAME_LEN:
        raise ValueError(f"object name {name!r} longer than {BPF_OBJ_NAME_LEN - 1} bytes")
    return raw


class BpfMapCreateAttr(ctypes.Structure):
    """``union bpf_attr`` for ``BPF_MAP_CREATE`` (96 bytes on 6.18)."""

    _fields_ = [
        ("map_type", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("inner_map_fd", _u32),
        ("numa_node", _u32),
        ("map_name", _name),
        ("map_ifindex", _u32),
        ("btf_fd", _u32),
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_value_type_id", _u32),
        ("map_extra", _u64),
        ("value_type_btf_obj_fd", _s32),
        ("map_token_fd", _s32),
        ("excl_prog_hash", _u64),
        ("excl_prog_hash_size", _u32),
    ]


class _ValueOrNextKey(ctypes.Union):
    """The ``value`` / ``next_key`` union inside the ``BPF_MAP_*_ELEM`` struct."""

    _fields_ = [("value", _u64), ("next_key", _u64)]


class BpfMapElemAttr(ctypes.Structure):
    """``union bpf_attr`` for ``BPF_MAP_{LOOKUP,UPDATE,DELETE}_ELEM`` and ``BPF_MAP_GET_NEXT_KEY``."""

    _anonymous_ = ("_u",)
    _fields_ = [
        ("map_fd", _u32),
        ("key", _u64),
        ("_u", _ValueOrNextKey),
        ("flags", _u64),
    ]


class BpfProgLoadAttr(ctypes.Structure):
    """``union bpf_attr`` for ``BPF_PROG_LOAD`` (168 bytes on 6.18, the whole union)."""

    _fields_ = [
        ("prog_type", _u32),
        ("insn_cnt", _u32),
        ("insns", _u64),
        ("license", _u64),
        ("log_level", _u32),
        ("log_size", _u32),
        ("log_buf", _u64),
        ("kern_version", _u32),
        ("prog_flags", _u32),
        ("prog_name", _name),
        ("prog_ifindex", _u32),
        ("expected_attach_type", _u32),
        ("prog_btf_fd", _u32),
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("func_info_cnt", _u32),
        ("line_info_rec_size", _u32),
        ("line_info", _u64),
        ("line_info_cnt", _u32),
        ("attach_btf_id", _u32),
        ("attach_prog_fd", _u32),  # union with attach_btf_obj_fd
        ("core_relo_cnt", _u32),
        ("fd_array", _u64),
        ("core_relos", _u64),
        ("core_relo_rec_size", _u32),
        ("log_true_size", _u32),
        ("prog_token_fd", _s32),
        ("fd_array_cnt", _u32),
        ("signature", _u64),
        ("signature_size", _u32),
        ("keyring_id", _s32),
    ]

    @property
    def attach_btf_obj_fd(self) -> int:
        """Alias of ``attach_prog_fd`` (the two share storage in the UAPI)."""
        return int(self.attach_prog_fd)

    @attach_btf_obj_fd.setter
    def attach_btf_obj_fd(self, value: int) -> None:
        self.attach_prog_fd = value


class BpfBtfLoadAttr(ctypes.Structure):
    """``BPF_BTF_LOAD``."""

    _fields_ = [
        ("btf", _u64),
        ("btf_log_buf", _u64),
        ("btf_size", _u32),
        ("btf_log_size", _u32),
        ("btf_log_level", _u32),
        ("btf_log_true_size", _u32),
        ("btf_flags", _u32),
        ("btf_token_fd", _s32),
    ]


class BpfProgTestRunAttr(ctypes.Structure):
    """``union bpf_attr``'s ``test`` member, for ``BPF_PROG_TEST_RUN`` (alias ``BPF_PROG_RUN``)."""

    _fields_ = [
        ("prog_fd", _u32),
        ("retval", _u32),
        ("data_size_in", _u32),
        ("data_size_out", _u32),
        ("data_in", _u64),
        ("data_out", _u64),
        ("repeat", _u32),
        ("duration", _u32),
        ("ctx_size_in", _u32),
        ("ctx_size_out", _u32),
        ("ctx_in", _u64),
        ("ctx_out", _u64),
        ("flags", _u32),
        ("cpu", _u32),
        ("batch_size", _u32),
    ]


class BpfObjInfoAttr(ctypes.Structure):
    """``union bpf_attr``'s ``info`` member, for ``BPF_OBJ_GET_INFO_BY_FD``."""

    _fields_ = [
        ("bpf_fd", _u32),
        ("info_len", _u32),
        ("info", _u64),
    ]


class BpfProgInfo(ctypes.Structure):
    """``struct bpf_prog_info`` (232 bytes on 6.18), filled by ``BPF_OBJ_GET_INFO_BY_FD``."""

    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("tag", ctypes.c_uint8 * BPF_TAG_SIZE),
        ("jited_prog_len", _u32),
        ("xlated_prog_len", _u32),
        ("jited_prog_insns", _u64),
        ("xlated_prog_insns", _u64),
        ("load_time", _u64),
        ("created_by_uid", _u32),
        ("nr_map_ids", _u32),
        ("map_ids", _u64),
        ("name", _name),
        ("ifindex", _u32),
        ("gpl_compatible", _u32),
        ("netns_dev", _u64),
        ("netns_ino", _u64),
        ("nr_jited_ksyms", _u32),
        ("nr_jited_func_lens", _u32),
        ("jited_ksyms", _u64),
        ("jited_func_lens", _u64),
        ("btf_id", _u32),
        ("func_info_rec_size", _u32),
        ("func_info", _u64),
        ("nr_func_info", _u32),
        ("nr_line_info", _u32),
        ("line_info", _u64),
        ("jited_line_info", _u64),
        ("nr_jited_line_info", _u32),
        ("line_info_rec_size", _u32),
        ("jited_line_info_rec_size", _u32),
        ("nr_prog_tags", _u32),
        ("prog_tags", _u64),
        ("run_time_ns", _u64),
        ("run_cnt", _u64),
        ("recursion_misses", _u64),
        ("verified_insns", _u32),
        ("attach_btf_obj_id", _u32),
        ("attach_btf_id", _u32),
    ]


class BpfMapInfo(ctypes.Structure):
    """``struct bpf_map_info`` (104 bytes on 6.18), filled by ``BPF_OBJ_GET_INFO_BY_FD``."""

    _fields_ = [
        ("type", _u32),
        ("id", _u32),
        ("key_size", _u32),
        ("value_size", _u32),
        ("max_entries", _u32),
        ("map_flags", _u32),
        ("name", _name),
        ("ifindex", _u32),
        ("btf_vmlinux_value_type_id", _u32),
        ("netns_dev", _u64),
        ("netns_ino", _u64),
        ("btf_id", _u32),
        ("btf_key_type_id", _u32),
        ("btf_value_type_id", _u32),
        ("btf_vmlinux_id", _u32),
        ("map_extra", _u64),
        ("hash", _u64),
        ("hash_size", _u32),
    ]
