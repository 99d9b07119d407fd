"""End to end: snakemake on a copy of the checkout, products checked independently."""

import re

import pandas as pd
import pytest
import yaml

from tests.helpers import DASK_PRODUCTS, SCENE, TABLE, check_products, copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, sample):
    workdir = copy_workflow(tmp_path_factory.mktemp("local") / "checkout")
    result = run_snakemake(workdir)
    return workdir, result


def test_local_cluster_run_makes_every_product(local_run, sample):
    workdir, _ = local_run
    check_products(workdir, sample)
    for rule_log in ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log"):
        text = (workdir / "logs" / rule_log).read_text()
        assert "Dask scheduler: inproc://" in text
        assert re.search(r"Dask dashboard: http://127\.0\.0\.1:\d+/status", text)
        # Inputs far below compute.mb_per_thread: one core each, so the two jobs could run side by side.
        assert "'threads_per_worker': 1" in text
    for benchmark in ("tables/dg_soil_moisture/averages.tsv", "scenes/RU_ANS_TR2_FL005M/ndvi.tsv"):
        assert (workdir / "benchmarks" / benchmark).is_file()


def test_process_workers_reimport_the_scripts_safely(tmp_path, sample):
    # Process workers re-import the rule script as __mp_main__: only the
    # `if __name__ == "__main__"` block may do work.
    workdir = copy_workflow(tmp_path / "checkout")
    # 0.1 MB per thread: the ~0.6 MB inputs ask for every core the config allows (2), so two processes.
    (workdir / "procs.yaml").write_text(
        yaml.safe_dump({"dask": {"local": {"processes": True}}, "compute": {"mb_per_thread": 0.1}})
    )
    run_snakemake(workdir, *DASK_PRODUCTS, "--configfile", "config/config.yaml", "procs.yaml")
    check_products(workdir, sample, figures=False)
    log = (workdir / f"logs/scenes/{SCENE}/ndvi.log").read_text()
    assert re.search(r"Dask scheduler: tls://127\.0\.0\.1:\d+", log)  # other users cannot connect
    assert "'n_workers': 2, 'threads_per_worker': 1, 'processes': True" in log


def test_counts_equal_pandas_and_logs_are_quiet(local_run, sample):
    workdir, _ = local_run
    counts = pd.read_csv(workdir / f"results/tables/{TABLE}/counts.csv", index_col="year")
    frame = pd.read_csv(sample["csv"], encoding="latin-1")
    numeric = list(frame.groupby("year").mean(numeric_only=True).columns)
    expected = frame.groupby("year")[numeric].count().assign(rows=frame.groupby("year").size())
    pd.testing.assert_frame_equal(counts, expected[["rows", *numeric]], check_dtype=False)
    # No warning of the workflow's own making (GDAL's COG DTYPE option, ...) in any rule's log.
    for log in (workdir / "logs").rglob("*.log"):
        text = log.read_text()
        assert "Warning" not in text and "CPLE_" not in text and " WARNING " not in text, (log, text)
    assert " 620 x 292 px" in (workdir / f"logs/scenes/{SCENE}/ndvi.log").read_text()  # width x height


def test_second_run_does_nothing(local_run):
    workdir, _ = local_run
    result = run_snakemake(workdir)
    assert "Nothing to be done" in result.stdout + result.stderr


def test_lint_passes(local_run):
    workdir, _ = local_run
    result = run_snakemake(workdir, "--lint")
    assert "Congratulations" in result.stdout + result.stderr


def test_run_record_names_its_config_and_survives_a_failed_run(local_run):
    # Last of the tests on local_run: Snakemake removes the outputs of the job this run fails.
    workdir, _ = local_run
    run = yaml.safe_load((workdir / "results/run_info/run.yaml").read_text())
    assert run["config_files"] == ["config/config.yaml"]
    assert run["dask_cluster"]["kind"] == "local" and run["dask_cluster"]["chosen_by"] == "dask.local"
    before = {p.name: p.read_bytes() for p in (workdir / "results/run_info").iterdir()}
    # A run with another config that fails (a groupby column the table lacks) leaves the record alone.
    (workdir / "broken.yaml").write_text(yaml.safe_dump({"tables": {TABLE: {"groupby": "Year"}}}))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "broken.yaml", check=False)
    assert result.returncode != 0
    assert {p.name: p.read_bytes() for p in (workdir / "results/run_info").iterdir()} == before


def scheduler_task_prefixes(address):
    from distributed import Client

    with Client(address, timeout=30) as client:
        return set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))


def test_existing_scheduler_by_address_and_by_file(tmp_path, sample, dask_scheduler):
    address, scheduler_file = dask_scheduler
    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "remote.yaml").write_text(yaml.safe_dump({"dask": {"address": address}}))
    before = scheduler_task_prefixes(address)
    run_snakemake(workdir, *DASK_PRODUCTS, "--configfile", "config/config.yaml", "remote.yaml")
    check_products(workdir, sample, figures=False)
    for rule_log in ("tables/dg_soil_moisture/averages.log", "scenes/RU_ANS_TR2_FL005M/ndvi.log"):
        assert f"Dask scheduler: {address}" in (workdir / "logs" / rule_log).read_text()
    prefixes = scheduler_task_prefixes(address) - before
    assert "group_sums" in prefixes, prefixes  # the averages' per-block tasks (csv_blocks.group_sums)
    assert any("store" in p or "open_rasterio" in p or "truediv" in p for p in prefixes), prefixes

    # The same scheduler through the file HPC launchers write.
    (workdir / "remote.yaml").write_text(yaml.safe_dump({"dask": {"scheduler_file": str(scheduler_file)}}))
    run_snakemake(
        workdir, DASK_PRODUCTS[1], "--forcerun", "ndvi", "--configfile", "config/config.yaml", "remote.yaml"
    )
    assert f"Dask scheduler: {address}" in (workdir / f"logs/scenes/{SCENE}/ndvi.log").read_text()


def test_environment_variable_points_rules_at_the_scheduler(tmp_path, dask_scheduler):
    address, _ = dask_scheduler
    workdir = copy_workflow(tmp_path / "checkout")
    run_snakemake(workdir, f"results/tables/{TABLE}/averages.csv", env={"DASK_SCHEDULER_ADDRESS": address})
    assert f"Dask scheduler: {address}" in (workdir / f"logs/tables/{TABLE}/averages.log").read_text()


def test_tls_scheduler_from_config(tmp_path, sample, tls_scheduler):
    address, certs = tls_scheduler
    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "tls.yaml").write_text(yaml.safe_dump({"dask": {"address": address, "security": certs}}))
    run_snakemake(workdir, *DASK_PRODUCTS, "--configfile", "config/config.yaml", "tls.yaml")
    check_products(workdir, sample, figures=False)
    assert f"Dask scheduler: {address}" in (workdir / f"logs/scenes/{SCENE}/ndvi.log").read_text()
