"""The benchmark's baselines, each run as its own process so its time and memory are measured
like the workflow's: ``python -m snakedask_tools.benchmark.baselines.eager ...`` and
``python -m snakedask_tools.benchmark.baselines.floor ...`` (see each module's usage); the peers
(Polars, DuckDB) as ``python -m snakedask_tools.benchmark.baselines.peers ...``, GDAL's command line
as the shell command :func:`.peers.gdal_command` builds.

They import only what they use, so starting one costs what starting the script by hand would.
"""
