"""Tests of the tools in snakedask.tools: the benchmark's baselines, its product checks and a --quick run."""
