"""The run record is readable: UTF-8 text, no YAML anchors, each config file once in merge order."""

import yaml

from snakedask.run_info import merge_order, yaml_text


def test_yaml_text_is_utf8_without_anchors():
    units = {"m_soil": "m³/m³ VWC"}
    data = {"tables": {"a": {"units": units}, "b": {"units": units}}}  # one dict in two places
    text = yaml_text(data)
    assert "m³/m³ VWC" in text and "\\x" not in text
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == data
    assert list(yaml.safe_load(yaml_text({"z": 1, "a": 2}))) == ["z", "a"]  # keys stay in their order


def test_merge_order_lists_each_file_once_where_it_counts(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config").mkdir()
    config, mine = tmp_path / "config/config.yaml", tmp_path / "a.yaml"
    # As Snakemake lists them: the command line's (absolute) first, then the Snakefile's configfile.
    assert merge_order(["config/config.yaml"]) == ["config/config.yaml"]
    read = [str(config), str(mine), "config/config.yaml"]
    assert merge_order(read, [str(config), str(mine)]) == ["config/config.yaml", "a.yaml"]
    # Given again after a.yaml, config.yaml's values win over a.yaml's: it counts last.
    read = [str(mine), str(config), "config/config.yaml"]
    assert merge_order(read, [str(mine), str(config)]) == ["a.yaml", "config/config.yaml"]
    assert merge_order(["/elsewhere/b.yaml", "config/config.yaml"], ["/elsewhere/b.yaml"]) == [
        "config/config.yaml",
        "/elsewhere/b.yaml",
    ]


def test_a_report_with_other_config_files_than_the_run_is_warned_about(tmp_path):
    from snakedask.run_info import report_config_mismatch

    record = tmp_path / "run.yaml"
    assert report_config_mismatch(record, "abc", ["config/config.yaml"]) is None  # no run yet
    record.write_text(
        yaml.safe_dump({"config_digest": "abc", "config_files": ["config/config.yaml", "lesson.yaml"]})
    )
    assert report_config_mismatch(record, "abc", ["config/config.yaml", "lesson.yaml"]) is None
    warning = report_config_mismatch(record, "def", ["config/config.yaml"])
    assert (
        "made with the config files ['config/config.yaml', 'lesson.yaml'], not with ['config/config.yaml']"
        in (warning)
    )
