"""End-to-end tests: snakemake runs in copies of the checkout (marked `workflow`)."""
