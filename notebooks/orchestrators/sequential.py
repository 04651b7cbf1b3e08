# Databricks notebook source
# MAGIC %md
# MAGIC # Sequential orchestration
# MAGIC
# MAGIC Runs the ETL worker notebooks one after another with `dbutils.notebook.run`, in their declared
# MAGIC order, each with a timeout and its arguments. A failed worker is retried after a backoff (a
# MAGIC timed-out one is not: its child run may still be running); if it still fails, the run stops there,
# MAGIC reports what ran and what was skipped, and fails. Every attempt is appended to the run log with its
# MAGIC wall time.
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
RUN_LOG_TABLE = {{ run_log_table }}

# COMMAND ----------

# DBTITLE 1,Job parameters
parameters = run_parameters("sequential", WORKERS, TIMEOUT_SECONDS, MAX_RETRIES, RETRY_BACKOFF_SECONDS)

# COMMAND ----------

# DBTITLE 1,Run the workers in order
started_at, started = utc_now(), time.monotonic()
outcomes = run_workers(parameters.workers, parameters, slots=1, in_order=True)

# COMMAND ----------

# DBTITLE 1,Run log and summary
append_to_run_log(RUN_LOG_TABLE, parameters, outcomes)
summary = build_summary(
    parameters,
    outcomes,
    started_at,
    started,
    {"order_source": "declared", "dispatch_order": [worker["name"] for worker in parameters.workers]},
)
finish(summary)
