"""Security, end to end: dataset names are kept in their folders (no path, no shell).

The static checks and loopback-only listeners are tests/unit/test_security.py.
"""

import pytest
import yaml

from tests.helpers import copy_workflow, run_snakemake

pytestmark = pytest.mark.workflow


@pytest.mark.parametrize("name", ["../../outside", "a/../../b", "x;touch pwned", "$(touch pwned)", "résumé"])
def test_a_malicious_dataset_name_writes_nothing_anywhere(tmp_path, name):
    workdir = copy_workflow(tmp_path / "checkout")
    (workdir / "evil.yaml").write_text(
        yaml.safe_dump({"tables": {name: {"url": "resources/sample/dg_soil_moisture.csv"}}})
    )
    before = set(tmp_path.rglob("*"))
    result = run_snakemake(workdir, "--configfile", "config/config.yaml", "evil.yaml", check=False)
    assert result.returncode != 0 and "dataset names become folder names" in result.stdout + result.stderr
    created = set(tmp_path.rglob("*")) - before
    assert all(".snakemake" in p.parts for p in created), created  # only Snakemake's own bookkeeping
    assert not list(tmp_path.rglob("pwned")) and not (workdir / "results").exists()
