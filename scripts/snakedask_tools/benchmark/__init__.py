"""Benchmark the workflow's Dask rules against eager baselines and the hardware's floors.

For each input size (and, for rasters, each input layout) this measures, in one run on one machine:

* **workflow**: the rule itself (``averages`` or ``ndvi``) run through
  ``snakemake --cores N <product> --forcerun <rule>`` in a scratch copy of the
  checkout, with a benchmark config pointing at generated stand-in inputs. The
  download and encoding rules run beforehand and are not timed;
* **eager**: the same product from a plain script that holds everything in
  memory (``pd.read_csv(engine="pyarrow")`` + ``groupby().mean()``; rasterio +
  numpy for NDVI, written as the workflow's product: a ZSTD COG);
* **bytes floor**: read the inputs' bytes and write as many bytes as the
  workflow's output has (plain reads and writes: no decoding, compute or
  compression), so the workflow is measured first;
* **compute floor**: the computation alone, on all cores, inputs already in
  memory, timed inside the process: the NDVI kernel with numpy over row bands
  in a thread pool; pyarrow's ``read_csv`` + ``group_by().aggregate()`` means;
* **peers**: the tools a scientist would use instead, each its own process in the same rounds:
  Polars (``scan_csv`` ... ``collect(engine="streaming")``) and DuckDB (``read_csv`` ... ``GROUP
  BY year``) for the averages, GDAL's command line (``gdal_calc.py`` then ``gdal_translate -of
  COG``, Debian's gdal-bin) for NDVI; their products are checked against the workflow's, and a
  peer that is not installed is a row saying so;

and, at the smallest CSV and raster sizes (1x by default), the whole workflow
(``--forceall`` on the products ``rule all`` makes for one table and one
scene, downloads included) against one eager script making all products, and
the rules on the bundled tiny sample, which shows their fixed overhead.

Raster inputs come in three layouts of the same pixels (``--layouts``):
``tiled`` (256-px tiles, uncompressed), ``tiled-deflate`` (the generator's and
the lesson's: tiles, DEFLATE + predictor 3) and ``stripped`` (GDAL's default
GTiff: uncompressed, no tiles). ``--big`` adds 8 per side (64x the pixels,
27992 x 59544 px), measured for the workflow alone in ``tiled-deflate`` and
reported as a ratio to its 16x time: the eager script's memory at 16x (see
results/benchmark.md) does not fit 64x on the benchmark's machine, and the
report says so instead of running it.

``--s3`` also measures, for every raster scale and layout measured, the ``ndvi`` rule with the
scene read in place (``read_in_place: true``, every block through GDAL's ``/vsis3/``) from a local
S3 server: moto's ``moto_server`` on 127.0.0.1, started and stopped by the benchmark, the bands
uploaded once per input (untimed). It runs in the same rounds as the local-file workflow
(workflow, workflow in place, eager, ...), its product is checked against the local one pixel for
pixel, and the report gives it its own table beside the local run. The server's memory is sampled
on its own: it is the store, not part of the workflow's peak (see :mod:`.s3`).

Every command runs ``--repeats`` times, its input files read once just before
each run (untimed): every command starts with its inputs in the page cache.
A workflow and its eager baseline run in turn (workflow, eager, workflow, ...),
and the report notes each round's ratio: this machine drifts by 15-25 % within
minutes, which would otherwise go into the ratio.
The report gives the median wall time (the compute floors: the in-process
time they print) and the peak resident memory of the whole process tree (the
command and all its descendants: Snakemake's job scripts, Dask workers),
summed and sampled every 0.05 s.

Inputs come from ``snakedask_tools.make_sample_data`` and are kept under ``--data``
(the larger ones take minutes to generate; later runs reuse them). Before generating
anything the disk space the run needs is estimated and checked against ``--data``'s
free space. Each dataset's copies and outputs in the scratch checkout are deleted
once it is measured.

The benchmark fails (exit code 1, naming the case and the difference) when the
workflow's product differs from the eager baseline's: the ratios would mean nothing.

Usage (from the checkout, after ``make setup``)::

    make bench                                     # CSV 1x, 10x; raster 1x, 4x per side, 3 layouts; 3 repeats
    make bench BENCH_ARGS="--big"                  # ... and the workflow at 8x per side (64x the pixels)
    make bench BENCH_ARGS="--quick"                # smallest sizes, one repeat: a smoke test
    make bench BENCH_ARGS="--only datasets --datasets 12 50"  # N more sample pairs vs an eager loop: (t(N)-t(0))/N
    .venv/bin/python -m snakedask_tools.benchmark --only raster --raster-scales 1,2 --layouts tiled --chunks 1024
    .venv/bin/python -m snakedask_tools.benchmark --quick --csv-scales 0.1 --raster-scales 0.25
    .venv/bin/python -m snakedask_tools.benchmark --only raster --raster-scales 4 --layouts tiled-deflate --s3

The report is printed and written to ``--out`` (markdown); measurements are in results/benchmark*.md.

Modules: :mod:`.measure` (running commands, sampling process-tree memory), :mod:`.inputs`
(generated inputs, the disk-space plan), :mod:`.scratch` (the scratch checkout and its config),
:mod:`.cases` (what is measured), :mod:`.checks` (comparing products), :mod:`.report` (the
markdown), :mod:`.baselines` (the eager, floor and peer scripts), :mod:`.s3` (``--s3``'s local S3
server and in-place config), ``__main__`` (the command line).
"""
