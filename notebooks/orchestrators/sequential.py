# Databricks notebook source
# MAGIC %md
# MAGIC # Sequential orchestration
# MAGIC
# MAGIC Runs the ETL worker notebooks one after another with `dbutils.notebook.run`, in their declared
# MAGIC order, each with a timeout and its arguments. A failed worker is retried with backoff; if it still
# MAGIC fails, the run stops there, reports what ran and what was skipped, and fails.
# MAGIC
# MAGIC Rendered by Pulumi from `notebooks/orchestrators/sequential.py`: change the template or the stack's
# MAGIC config, not this notebook. Job parameters (`timeout_seconds`, `max_retries`,
# MAGIC `retry_backoff_seconds`, `workers`) override the rendered values for one run.

# COMMAND ----------

# MAGIC %run ../lib/orchestration

# COMMAND ----------

# DBTITLE 1,Rendered by Pulumi from the stack's configuration
WORKERS = {{ workers }}
TIMEOUT_SECONDS = {{ timeout_seconds }}
MAX_RETRIES = {{ max_retries }}
RETRY_BACKOFF_SECONDS = {{ retry_backoff_seconds }}

# COMMAND ----------

# DBTITLE 1,Job parameters
parameters = run_parameters("sequential", WORKERS, TIMEOUT_SECONDS, MAX_RETRIES, RETRY_BACKOFF_SECONDS)

# COMMAND ----------

# DBTITLE 1,Run the workers in order
started_at, started = utc_now(), time.monotonic()
outcomes = {}
for position, worker in enumerate(parameters.workers):
    outcomes[worker["name"]] = run_worker(worker, parameters)
    if outcomes[worker["name"]]["status"] != SUCCEEDED:
        for later in parameters.workers[position + 1:]:
            outcomes[later["name"]] = skipped_outcome(later, f"not run: {worker['name']} {outcomes[worker['name']]['status']}")
        break

# COMMAND ----------

# DBTITLE 1,Summary
summary = build_summary(
    parameters,
    outcomes,
    started_at,
    started,
    {"order_source": "declared", "dispatch_order": [worker["name"] for worker in parameters.workers]},
)
finish(summary)
