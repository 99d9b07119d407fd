"""The workflow's library: everything the rule scripts in ``workflow/scripts/`` call.

Modules by concern (each owns one):

* config and cluster: :mod:`cluster` (which Dask cluster a job uses, and connecting to it),
  :mod:`shared_cluster` (one cluster per run), :mod:`errors` (every refusal);
* files: :mod:`download`, :mod:`atomic_output`, :mod:`rule_log`, :mod:`run_info`;
* tables: :mod:`encoding`, :mod:`csv_blocks`, :mod:`averages`, :mod:`plot_averages`;
* rasters: :mod:`spectral_indices` (the registry of spectral indices), :mod:`spectral_rasters` (any
  index, read and written in one Dask pass), :mod:`raster_kernels`, :mod:`raster_stats`, :mod:`cog_writer`,
  :mod:`plot_spectral` (map and histogram of any index);
The benchmark, the sample-data generator and cluster launchers are a separate package,
``snakedask_tools`` (beside this one), so workers never import or receive them.

Importing the package is cheap: modules import their heavy dependencies themselves.
"""
