"""The test suite: tests/unit (library modules), tests/workflow (snakemake end to end), tests/services."""
