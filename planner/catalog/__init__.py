"""GPU and model catalogs and rental offers: loading, validation and lookup with did-you-mean.

``catalog`` reads the GPU and model catalog files (and checks a scenario's ids against them); ``offers`` the
rental offers of the cloud snapshot.
"""

from .catalog import DEFAULT_NODE_NETWORK_GB_PER_S, Catalog, GpuSpec, ModelEntry, builtin_catalog_dir, default_catalog  # noqa: F401
