"""The ``pybpf`` command line (click + rich). Uses only the public API."""
