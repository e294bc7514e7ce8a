"""Data in: HDF5 sets flattened into (n_x, m) columns, the embedded demo set, images."""
