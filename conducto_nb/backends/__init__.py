"""Backends run one Exec each: local processes, Docker worker pools, Dask."""
