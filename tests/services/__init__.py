"""The real services the tests run against, started on this machine and stopped afterwards.

http_server     an HTTP server on 127.0.0.1 whose routes misbehave on purpose
dask_processes  a `dask scheduler` and `dask worker` as separate processes on 127.0.0.1
certificates    a test CA and a certificate for 127.0.0.1 (openssl), for TLS schedulers
local_slurm     a single-node SLURM on localhost (munged, slurmctld, slurmd; needs root)
dask_gateway    a dask-gateway-server on 127.0.0.1 whose clusters are local processes
chromium        headless Chromium with the network blocked, for the HTML reports

Each module that needs something from the system has ``missing_reason()``;
tests pass it to ``tests.helpers.require_service`` (a skip, or in CI a failure).
"""
