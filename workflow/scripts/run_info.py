"""Rule run_info: the run's merged configuration, its config files and Dask cluster, and software versions."""

from snakedask.rule_log import log_to_file


def main(smk) -> None:
    log_to_file(smk.log[0])
    from snakedask.atomic_output import write_text
    from snakedask.run_info import merge_order, software_versions, yaml_text

    run = {
        "config_files": merge_order(smk.params.configfiles, smk.params.given_configfiles),
        "config_given_with_--config": dict(smk.params.config_args),
        "config_digest": smk.params.config_digest,
        "dask_cluster": dict(smk.params.cluster),
    }
    write_text(smk.output.config, yaml_text(dict(smk.config)))
    write_text(smk.output.run, yaml_text(run))
    write_text(smk.output.versions, software_versions())


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - provided by Snakemake's script directive
