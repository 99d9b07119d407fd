"""Tests of the tools in snakedask_tools: the benchmark's baselines, its product checks and a --quick run."""
