"""Benchmark decontamination: the one n-gram index, its checks, the leakage report, the benchmark-folder lookup."""
