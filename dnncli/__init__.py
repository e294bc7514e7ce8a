"""dnn: train, evaluate and check deep neural networks written in plain, vectorized NumPy.

The library is usable without the command line::

    from dnncli import load_config, run_training            # a config to a run directory
    from dnncli import Network, TrainData, TrainSettings, train   # the engine alone

Imports are lazy so that ``dnn --help`` starts without loading NumPy, h5py or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "DnnError": "dnncli.errors",
    "Config": "dnncli.config",
    "load_config": "dnncli.config",
    "Dataset": "dnncli.data.hdf5",
    "load_dataset": "dnncli.data.hdf5",
    "make_demo": "dnncli.data.demo",
    "Network": "dnncli.network.model",
    "gradient_check": "dnncli.network.gradcheck",
    "train": "dnncli.training.loop",
    "TrainData": "dnncli.training.settings",
    "TrainSettings": "dnncli.training.settings",
    "Hooks": "dnncli.training.settings",
    "TrainState": "dnncli.training.state",
    "TrainResult": "dnncli.training.state",
    "ModelBundle": "dnncli.model.file",
    "save_model": "dnncli.model.file",
    "load_model": "dnncli.model.file",
    "run_training": "dnncli.run.training",
    "resume_training": "dnncli.run.training",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dnncli' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
