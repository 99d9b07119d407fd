"""Tools around the workflow: benchmark, sample-data generator, rule-overhead probe, SLURM launcher."""
