# Databricks notebook source
# MAGIC %md
# MAGIC # Asynchronous fan-out: worker job task
# MAGIC
# MAGIC The one task of the worker job. The dispatcher submits a run of that job per state-table entry,
# MAGIC with job parameters `worker` (which ETL worker), `parameters` (a JSON object of widget values that
# MAGIC override the worker's defaults, e.g. `{"input_table": "orders_2026_11_21"}`) and `entry_key`.
# MAGIC This notebook checks them and runs the worker with `dbutils.notebook.run`; its exit value is
# MAGIC the worker's, so the job run's output is the worker's summary.
# MAGIC
# MAGIC Rendered by Pulumi from `notebooks/async/run_worker.py`.

# COMMAND ----------

# DBTITLE 1,Rendered by Pulumi from the stack's configuration
WORKERS = {{ workers }}
TIMEOUT_SECONDS = {{ timeout_seconds }}

# COMMAND ----------

import json

for _name in ("worker", "parameters", "entry_key", "run_id"):
    dbutils.widgets.text(_name, "")

worker_name = dbutils.widgets.get("worker").strip()
workers = {worker["name"]: worker for worker in WORKERS}
if worker_name not in workers:
    raise ValueError(f"Job parameter worker={worker_name!r} is not a worker; expected one of {', '.join(workers)}")

raw_parameters = dbutils.widgets.get("parameters").strip() or "{}"
try:
    parameters = json.loads(raw_parameters)
except ValueError as error:
    raise ValueError(f"Job parameter parameters={raw_parameters!r} is not JSON ({error}); expected an object of strings") from None
if not isinstance(parameters, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parameters.items()):
    raise ValueError(f"Job parameter parameters={raw_parameters!r}; expected a JSON object of string values")

worker = workers[worker_name]
arguments = {
    **worker["arguments"],
    **parameters,
    "orchestration_mode": "async_task",
    "run_id": dbutils.widgets.get("run_id").strip(),
}
print(f"Entry {dbutils.widgets.get('entry_key')!r}: running {worker['path']} with {json.dumps(arguments)}")
result = dbutils.notebook.run(worker["path"], TIMEOUT_SECONDS, arguments)
dbutils.notebook.exit(result)
