"""The config checks: every bad config is refused with a line naming the key, the problem, what is
expected and the file that set it (as Snakemake shows it, before any job); defaults are filled in."""

import re
import shutil
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from snakedask import config_checks
from snakedask.config_checks import ConfigSources, control_characters
from tests.helpers import ROOT, SCENE, TABLE

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"

CONFIG_CASES = {
    # name: (config given with --configfile, pattern the user must see)
    "checksums that do not match the files": (
        {"tables": {"bad": {"url": ["a.csv", "b.csv"], "checksum": ["md5:" + "0" * 32]}}},
        r"- tables.bad.checksum: 2 files in `url` but 1 in `checksum`; give one checksum per file",
    ),
    "unknown config key": (
        {"tables": {"bad": {"url": "x.csv", "group_by": "year"}}},
        r"- tables.bad: Additional properties are not allowed \('group_by' was unexpected\) "
        r"\(did you mean 'groupby' for 'group_by'\?\) \[set in bad.yaml\]",
    ),
    "wrong type": (
        {"compute": {"threads": "four"}},
        r"- compute.threads: 'four' is not of type 'integer'. Expected: most cores",
    ),
    "dataset name with /": (
        {"tables": {"a/b": {"url": "x.csv"}}},
        r"- tables: 'a/b' does not match .*Expected: dataset names become folder names",
    ),
    "dataset name with ..": (
        {"scenes": {"..": {"red": {"url": "r.tif"}, "nir": {"url": "n.tif"}}}},
        r"- scenes: '\.\.' does not match",
    ),
    "a line break in an #SBATCH directive": (
        {"dask": {"jobqueue": {"job_extra": ["--qos=x\ncurl http://127.0.0.1:9/x | sh"]}}},
        r"- dask.jobqueue.job_extra.0: '--qos=x\\ncurl.*does not match .*Expected: one sbatch option on one line",
    ),
    "a trailing line break in a directive": (
        {"dask": {"jobqueue": {"job_extra": ["--qos=short\n"]}}},
        r"- dask.jobqueue.job_extra\[0\]: '--qos=short\\n' holds the control character U\+000A",
    ),
    "shell characters in a partition": (
        {"dask": {"jobqueue": {"queue": "short; rm -rf ~"}}},
        r"- dask.jobqueue.queue: 'short; rm -rf ~' does not match .*Expected: the partition to submit to",
    ),
    "forbidden URL scheme": (
        {"tables": {"bad": {"url": "ftp://example.org/x.csv"}}},
        r"- tables.bad.url: 'ftp://example.org/x.csv' does not match .*Expected: where the raw file comes from",
    ),
    "s3 URL without a bucket": (
        {"tables": {"bad": {"url": "s3:///x.csv"}}},
        r"- tables.bad.url: url 's3:///x.csv': no bucket; write s3://BUCKET/KEY. Fix the `url:`.",
    ),
    "s3 bucket name that cannot be": (
        {
            "scenes": {
                "bad": {"red": {"url": "s3://My_Bucket/red.tif"}, "nir": {"url": "s3://ok-bucket/n.tif"}}
            }
        },
        r"- scenes.bad.red.url: url 's3://My_Bucket/red.tif': 'My_Bucket' is not a valid bucket name",
    ),
    "a local file read in place": (
        {
            "scenes": {
                "bad": {
                    "red": {"url": "r.tif"},
                    "nir": {"url": "s3://lesson-data/n.tif"},
                    "read_in_place": True,
                }
            }
        },
        r"- scenes.bad.red.url: 'r.tif' cannot be read in place \(`read_in_place: true`\): give an s3:// or "
        r"http\(s\):// url, or set `read_in_place: false` to copy it.",
    ),
    "a checksum on a scene read in place": (
        {
            "scenes": {
                "bad": {
                    "red": {"url": "s3://lesson-data/r.tif", "checksum": "md5:" + "0" * 32},
                    "nir": {"url": "https://example.org/n.tif"},
                    "read_in_place": True,
                }
            }
        },
        r"- scenes.bad.red.checksum: a scene read in place is never read whole, so no checksum can be checked",
    ),
    "a scene downloaded for workers that share no filesystem": (
        {"dask": {"shared_filesystem": False, "address": "tls://10.0.0.5:8786"}},
        r"- scenes.RU_ANS_TR2_FL005M: `dask.shared_filesystem: false` says the Dask workers cannot read this "
        r"machine's files, and this scene would be downloaded here; set its `read_in_place: true`",
    ),
    "a table read in place from https": (
        {"tables": {"bad": {"url": "https://example.org/t.csv", "read_in_place": True}}},
        r"- tables.bad.url: 'https://example.org/t.csv' cannot be read in place \(`read_in_place: true`\): "
        r"give one s3:// url",
    ),
    "a compressed table read in place": (
        {"tables": {"bad": {"url": "s3://lesson-data/t.csv.gz", "read_in_place": True}}},
        r"- tables.bad.url: 's3://lesson-data/t.csv.gz' is compressed, and a compressed table cannot be read "
        r"by byte ranges",
    ),
    "a checksum on a table read in place": (
        {
            "tables": {
                "bad": {"url": "s3://lesson-data/t.csv", "read_in_place": True, "checksum": "md5:" + "0" * 32}
            }
        },
        r"- tables.bad.checksum: a table read in place is not downloaded, so no checksum is checked",
    ),
    "s3 URL naming a folder": (
        {"tables": {"bad": {"url": "s3://lesson-data/tables/"}}},
        r"- tables.bad.url: .*names no object",
    ),
    "scheduler address not a URL": (
        {"dask": {"address": "127.0.0.1:8786"}},
        r"- dask.address: '127.0.0.1:8786' does not match .*Expected: tcp://HOST:PORT",
    ),
    "malformed checksum": (
        {"tables": {"bad": {"url": "x.csv", "checksum": "md5:xyz"}}},
        r"- tables.bad.checksum: 'md5:xyz' does not match",
    ),
    "unknown dask key": (
        {"dask": {"adress": "tcp://127.0.0.1:8786"}},
        r"- dask: Additional properties .*'adress' was unexpected.*Expected: ",
    ),
    "blocksize a bare number": (
        {"tables": {TABLE: {"blocksize": 3.5}}},
        r"blocksize: 3\.5 is not a string or integer. Expected: bytes per block \(one Dask task each\)",
    ),
    "blocksize not a size": (
        {"tables": {TABLE: {"blocksize": "twenty"}}},
        r"blocksize: 'twenty' does not match .*Expected: bytes per block \(one Dask task each\)",
    ),
    "dataset name with ../": (
        {"tables": {"../escape": {"url": "x.csv"}}},
        r"'\.\./escape' does not match.*Expected: ",
    ),
    "forbidden URL scheme for a band": (
        {"scenes": {SCENE: {"red": {"url": "ftp://example.org/red.tif"}, "nir": {"url": "n.tif"}}}},
        r"'ftp://example.org/red.tif' does not match.*Expected: ",
    ),
    "gateway address not http(s)": (
        {"dask": {"gateway": {"enabled": True, "address": "tcp://gateway.example.org:8786"}}},
        r"- dask.gateway.address: 'tcp://gateway.example.org:8786' does not match .*Expected: http\(s\)://HOST",
    ),
    "a password in the gateway address": (
        {"dask": {"gateway": {"enabled": True, "address": "https://me:secret@gateway.example.org"}}},
        r"- dask.gateway.address: 'https://me:secret@gateway.example.org' does not match",
    ),
    "gateway proxy address not gateway://": (
        {"dask": {"gateway": {"enabled": True, "proxy_address": "tls://gateway.example.org:8786"}}},
        r"- dask.gateway.proxy_address: .* does not match .*Expected: gateway://HOST:PORT",
    ),
    "unknown gateway auth": (
        {"dask": {"gateway": {"enabled": True, "auth": "password"}}},
        r"- dask.gateway.auth: 'password' is not one of \['basic', 'kerberos', 'jupyterhub', None\]",
    ),
    "a gateway address that nothing uses": (
        {"dask": {"gateway": {"address": "https://gateway.example.org"}}},
        r"- dask.gateway.address: 'https://gateway.example.org' is set but dask.gateway.enabled is false",
    ),
    "more gateway workers kept than allowed": (
        {"dask": {"gateway": {"enabled": True, "min_workers": 3, "max_workers": 2}}},
        r"- dask.gateway.min_workers: 3 is more than dask.gateway.max_workers = 2",
    ),
    "a line break in a gateway cluster option": (
        {"dask": {"gateway": {"enabled": True, "cluster_options": {"image": "pangeo/x\nrm -rf ~"}}}},
        r"- dask.gateway.cluster_options.image: 'pangeo/x\\nrm -rf ~' holds the control character U\+000A",
    ),
    "scheduler address without a scheme": (
        {"dask": {"address": "localhost:8786"}},
        r"'localhost:8786' does not match.*Expected: ",
    ),
}


def run_checks(folder: Path, given: dict) -> tuple[dict, str]:
    """Snakemake's way: config/config.yaml, then ``given`` as bad.yaml (--configfile), merged and checked
    in ``folder``; (the checked config, what was printed)."""
    (folder / "config").mkdir()
    shutil.copy(ROOT / "config" / "config.yaml", folder / "config" / "config.yaml")
    (folder / "bad.yaml").write_text(yaml.safe_dump(given))
    config = yaml.safe_load((folder / "config" / "config.yaml").read_text())
    update_config(config, given)
    sources = ConfigSources([Path("config/config.yaml"), Path("bad.yaml")])
    config_checks.check_config(config, SCHEMA, sources, base=folder)
    return config, ""


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_is_refused(tmp_path, monkeypatch, capsys, case):
    given, pattern = CONFIG_CASES[case]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        run_checks(tmp_path, given)
    assert stopped.value.code == 1
    message = capsys.readouterr().err
    assert message.startswith(
        "Invalid configuration (config/config.yaml and any --configfile/--config given)"
    )
    assert re.search(pattern, message), message
    assert message.rstrip().endswith("Every key is described in config/README.md.")


def test_the_sample_config_passes_and_gets_the_schemas_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / "resources" / "sample", tmp_path / "resources" / "sample")
    config, _ = run_checks(tmp_path, {})
    schema = yaml.safe_load(SCHEMA.read_text())
    compute = schema["properties"]["compute"]["properties"]
    assert "mb_per_thread" not in yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["compute"]
    assert config["compute"]["mb_per_thread"] == compute["mb_per_thread"]["default"]
    assert config["tables"][TABLE]["engine"] == "pyarrow"  # a nested default: every table gets one
    assert config["scenes"][SCENE]["indices"] == ["ndvi"]


def test_where_a_bad_key_was_set_is_the_last_file_that_sets_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("compute: {threads: two}\n")
    (tmp_path / "b.yaml").write_text("compute: {threads: three}\n")
    sources = ConfigSources(["a.yaml", "b.yaml"])
    assert config_checks.set_in(["compute", "threads"], sources) == " [set in b.yaml]"
    assert config_checks.set_in(
        ["compute", "threads"], ConfigSources(["a.yaml"], {"compute": {"threads": 1}})
    ) == (" [set in --config]")
    assert config_checks.set_in(["dask"], sources) == ""


def test_config_digest_changes_with_any_value_and_not_with_key_order():
    one = {"a": 1, "b": {"c": [1, 2]}}
    assert config_checks.config_digest(one) == config_checks.config_digest({"b": {"c": [1, 2]}, "a": 1})
    assert config_checks.config_digest(one) != config_checks.config_digest({"a": 1, "b": {"c": [2, 1]}})


def test_control_characters_are_refused_wherever_they_are():
    config = {
        "tables": {"t": {"read_options": {"sep": "\t", "na_values": ["NA", "n.d.\r"]}}},
        "dask": {"jobqueue": {"job_extra": ["--qos=x\ncurl http://127.0.0.1:9/x | sh"], "queue": "short"}},
        "scenes": {"bad\x1bname": {}},
    }
    problems = control_characters(config)
    assert len(problems) == 3, problems
    assert problems[0].startswith(
        "  - tables.t.read_options.na_values[1]: 'n.d.\\r' holds the control character U+000D"
    )
    assert problems[1].startswith("  - dask.jobqueue.job_extra[0]: '--qos=x\\ncurl")
    assert problems[2].startswith(
        "  - scenes.bad\\x1bname (the key itself): 'bad\\x1bname' holds the control character U+001B"
    )
    assert (
        control_characters({"tables": {"t": {"read_options": {"sep": "\t"}}}}) == []
    )  # a tab separator is fine
