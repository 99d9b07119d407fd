"""The benchmark's many-datasets case without running it: its config and its report table."""

from types import SimpleNamespace

import pytest
import yaml
from snakemake.utils import update_config

from snakedask_tools.benchmark import cases, report, scratch
from snakedask_tools.benchmark.measure import Measurement, Run
from snakedask_tools.checkout import ROOT


@pytest.fixture(scope="module")
def base():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_the_extra_pairs_config_has_n_plus_one_pairs_with_the_samples_settings(base, tmp_path):
    [(table, table_entry)], [(scene, scene_entry)] = base["tables"].items(), base["scenes"].items()
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text((ROOT / "config" / "config.yaml").read_text())

    written = yaml.safe_load(scratch.write_many_config(tmp_path, 3).read_text())
    assert written == scratch.many_datasets_config(base, 3)
    assert list(written) == ["tables", "scenes"]
    assert list(written["tables"]) == [table, "t01", "t02", "t03"]
    assert list(written["scenes"]) == [scene, "s01", "s02", "s03"]
    assert all(entry == table_entry for entry in written["tables"].values())
    assert all(entry == scene_entry for entry in written["scenes"].values())
    # As Snakemake merges it over config/config.yaml: 4 pairs, every other setting as it was.
    merged = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    update_config(merged, written)
    assert len(merged["tables"]) == len(merged["scenes"]) == 4
    assert {key: value for key, value in merged.items() if key not in ("tables", "scenes")} == {
        key: value for key, value in base.items() if key not in ("tables", "scenes")
    }


def test_the_copies_are_not_shared_objects_and_names_widen_past_99(base):
    config = scratch.many_datasets_config(base, 120)
    assert len(config["tables"]) == len(config["scenes"]) == 121
    assert list(config["tables"])[1:3] == ["t001", "t002"] and list(config["scenes"])[-1] == "s120"
    assert scratch.extra_pair(7, 12) == ("t07", "s07")
    assert config["scenes"]["s001"] is not config["scenes"]["s002"]  # no YAML anchors when written
    assert "&" not in yaml.safe_dump(scratch.many_datasets_config(base, 2))
    assert scratch.many_datasets_config(base, 0) == {
        "tables": dict(base["tables"]),
        "scenes": dict(base["scenes"]),
    }


def test_the_commands_put_no_target_after_configfile():
    assert scratch.many_command(2, 12)[-4:] == ["2", "--configfile", "config/config.yaml", "many-12.yaml"]
    assert scratch.many_command(2, 0)[-3:] == ["2", "--configfile", "config/config.yaml"]


def test_the_report_gives_the_cost_per_extra_pair():
    def measured(label, *seconds):
        return Measurement(label, ["true"], runs=[Run(s, 500_000_000, 0) for s in seconds])

    case = cases.ManyDatasets(
        12,
        measured("datasets 12 workflow", 70.0, 60.0, 64.0),  # median 64
        measured("datasets 12 eager loop", 9.0),
        measured("datasets 0 workflow", 16.0),
        measured("datasets 0 eager loop", 3.0),
    )
    bench = SimpleNamespace(datasets=[case], datasets_notes=["a note"], checkout="/x")
    table = report.report_datasets(bench)
    assert "| workflow | 12 | 64.00 | 16.00 | 4.00 | 500 | `true` |" in table
    assert "| eager loop | 12 | 9.00 | 3.00 | 0.50 | 500 | `true` |" in table
    assert table[-1] == "- a note"
