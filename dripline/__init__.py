"""dripline: works purchased aged non-QM mortgage leads on Prefect."""
