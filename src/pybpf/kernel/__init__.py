"""pybpf's backend for the live Linux kernel: bpf() and netlink from Python.

``pybpf.kernel.sys`` is the thin bpf(2) syscall layer (ctypes structures and one function
per command); loaders, links, attach points and feature probes build on it.
"""
