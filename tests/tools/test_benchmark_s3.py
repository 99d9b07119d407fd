"""``--s3``: the pieces of the in-place case without a server (config entries, environment, request
counts, disk plan, report). A run against moto's server on 127.0.0.1 is in test_benchmark_quick.py."""

from types import SimpleNamespace

import pytest
import yaml

from snakedask_tools.benchmark import __main__ as command_line
from snakedask_tools.benchmark import cases, inputs, report, s3
from snakedask_tools.benchmark.inputs import Scene
from snakedask_tools.benchmark.measure import Measurement, Run


def test_each_scene_read_in_place_is_its_own_entry_with_the_local_chunks(tmp_path):
    chunks = {"x": 1024, "y": 1024}
    path = s3.write_s3_config(
        tmp_path, ["raster_1x_tiled", "raster_4x_tiled-deflate"], ("red", "nir"), chunks
    )
    assert path == tmp_path / "bench-s3.yaml"
    text = path.read_text()
    assert "&" not in text and "*" not in text  # no YAML anchors or aliases
    assert yaml.safe_load(text) == {
        "scenes": {
            f"{scene}_s3": {
                "red": {"url": f"s3://snakedask-bench/{scene}/red.tif"},
                "nir": {"url": f"s3://snakedask-bench/{scene}/nir.tif"},
                "read_in_place": True,
                "chunks": chunks,
            }
            for scene in ("raster_1x_tiled", "raster_4x_tiled-deflate")
        }
    }


def test_the_commands_environment_holds_only_the_local_stores_aws_variables():
    aws = s3.aws_environment("http://127.0.0.1:4567", "secret")
    base = {
        "PATH": "/usr/bin",
        "AWS_PROFILE": "someone",
        "AWS_SESSION_TOKEN": "token",
        "AWS_ENDPOINT_URL": "https://s3.example.org",
        "aws_ca_bundle": "/etc/ca.pem",
        "NO_PROXY": "example.org",
    }
    environment = s3.command_environment(base, aws)
    assert {name for name in environment if name.upper().startswith("AWS_")} == set(aws)
    assert environment["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:4567"
    assert environment["AWS_EC2_METADATA_DISABLED"] == "true"
    assert environment["AWS_CONFIG_FILE"].startswith("/nonexistent/")
    assert environment["AWS_SHARED_CREDENTIALS_FILE"].startswith("/nonexistent/")
    assert environment["NO_PROXY"] == environment["no_proxy"] == "127.0.0.1,localhost,example.org"
    assert environment["PATH"] == "/usr/bin" and "AWS_PROFILE" in base  # base left as it was


def test_range_requests_count_the_scenes_206_gets_in_moto_s_colored_log():
    log = "\n".join(
        [
            '127.0.0.1 - - [03/Dec/2026 15:21:05] "PUT /snakedask-bench/raster_1x_tiled/red.tif HTTP/1.1" 200 -',
            '127.0.0.1 - - [03/Dec/2026 15:21:05] "GET /snakedask-bench/raster_1x_tiled/red.tif HTTP/1.1" 200 -',
            '127.0.0.1 - - [03/Dec/2026 15:21:05] "\x1b[35m\x1b[1mGET /snakedask-bench/raster_1x_tiled/red.tif '
            'HTTP/1.1\x1b[0m" 206 -',
            '127.0.0.1 - - [03/Dec/2026 15:21:05] "GET /snakedask-bench/raster_1x_tiled/nir.tif HTTP/1.1" 206 -',
            '127.0.0.1 - - [03/Dec/2026 15:21:06] "GET /snakedask-bench/raster_1x_tiled-deflate/nir.tif HTTP/1.1" 206 -',
            '127.0.0.1 - - [03/Dec/2026 15:21:06] "HEAD /snakedask-bench/raster_1x_tiled/nir.tif HTTP/1.1" 200 -',
        ]
    )
    assert s3.range_requests(log, "raster_1x_tiled") == 2
    assert s3.range_requests(log, "raster_1x_tiled-deflate") == 1
    assert s3.range_requests("", "raster_1x_tiled") == 0


def test_with_s3_the_disk_plan_holds_the_stores_copy_and_the_in_place_outputs(tmp_path):
    scene = Scene(0.25, "tiled")
    for path in scene.bands(tmp_path).values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    local = inputs.disk_plan(tmp_path, [], [scene])
    both = inputs.disk_plan(tmp_path, [], [scene], s3=True)
    assert local.working == 2000 + 2 * scene.pixel_bytes
    assert both.working == local.working + 2000 + scene.pixel_bytes
    assert "with --s3 also the S3 server's copy" in both.summary(tmp_path)
    assert "--s3" not in local.summary(tmp_path)


def test_s3_needs_the_raster_path():
    with pytest.raises(SystemExit):
        command_line.parse_args(["--s3", "--only", "csv"])
    assert command_line.parse_args(["--s3", "--only", "raster"]).s3


def test_the_in_place_table_sits_beside_the_local_run_and_says_the_servers_memory_is_not_counted():
    def measured(label, seconds, rss):
        return Measurement(label, ["snakemake", "--configfile", "bench-s3.yaml"], runs=[Run(seconds, rss, 0)])

    in_place = cases.InPlace(
        measured("ndvi 4x tiled-deflate workflow in place (s3)", 90.0, 1_500_000_000),
        "raster_4x_tiled-deflate_s3",
        range_requests=1234,
        store_peak_rss=900_000_000,
        notes=["read in place and local-file NDVI agree pixel for pixel (grid, dtype, nodata, every pixel)"],
    )
    row = cases.Comparison(
        "ndvi",
        "raster 4x",
        "tiled-deflate",
        measured("ndvi 4x tiled-deflate workflow", 60.0, 1_200_000_000),
        None,
        in_place=in_place,
    )
    bench = SimpleNamespace(
        rows=[row],
        tiny=[],
        args=SimpleNamespace(keep_scratch=False),
        checkout="/x",
        store=SimpleNamespace(endpoint="http://127.0.0.1:4567"),
    )
    bench.measurements = row.measurements
    text = "\n".join(report.report_in_place(bench))
    assert "## NDVI read in place from S3 (moto on 127.0.0.1)" in text
    assert "| raster 4x | tiled-deflate | 60.00 | 1200 | 90.00 | 1500 | 1.50 | 1.25 | 1234 | 900 |" in text
    assert "**The S3 server's memory is not part of the workflow's peak**" in text
    assert "AWS_ENDPOINT_URL_S3=http://127.0.0.1:4567" in text
    assert "snakemake --configfile bench-s3.yaml" in text
    details = "\n".join(report.report_details(bench))
    assert "- **ndvi 4x tiled-deflate workflow in place (s3)**: " in details
    assert "- read in place and local-file NDVI agree pixel for pixel" in details
    assert (
        report.report_in_place(SimpleNamespace(rows=[cases.Comparison("ndvi", "r", "t", row.workflow, None)]))
        == []
    )
