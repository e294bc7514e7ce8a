"""``dnn sweep``: many runs of one config over a search space, on this machine or a Dask cluster.

* :mod:`dnncli.sweep.spec` — the sweep file (pydantic, strict), its search space and the course's
  scales, and each trial's config;
* :mod:`dnncli.sweep.driver` — the Optuna study (ask and tell, SQLite in the sweep's directory),
  dispatching trials, resuming an interrupted sweep;
* :mod:`dnncli.sweep.worker` — one trial, run through the library (the same code in a local
  worker process and on a Dask worker);
* :mod:`dnncli.sweep.local` and :mod:`dnncli.sweep.cluster` — where trials run;
* :mod:`dnncli.sweep.shipping` — ``--ship-data``: the arrays sent to Dask workers that do not
  share the driver's disk, and the trial directories they send back;
* :mod:`dnncli.sweep.results` — ``results.csv``, the JSON records, ``best.yaml``, ``sweep.png``;
* :mod:`dnncli.sweep.display` — the live table on stderr.

Optuna and Dask are optional (``pip install 'dnncli[sweep]'``); nothing here imports them until a
sweep runs.
"""
