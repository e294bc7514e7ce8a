"""Files on disk: written atomically (``atomic``), with dnn's format header (``fileformat``), a run
directory's lock (``lock``); the HDF5 files a user hands us opened without letting them reach
outside themselves (``hdf5safe``). Nothing is imported here: each command imports only what it uses."""
