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
timeout_seconds = int_parameter("timeout_seconds", TIMEOUT_SECONDS, 0, 7 * 24 * 3600)
max_retries = int_parameter("max_retries", MAX_RETRIES, 0, 10)
retry_backoff_seconds = int_parameter("retry_backoff_seconds", RETRY_BACKOFF_SECONDS, 0, 3600)
workers = select_workers(WORKERS, text_parameter("workers"))
run_id = text_parameter("run_id")
run_arguments = {"orchestration_mode": "sequential", "run_id": run_id}

# COMMAND ----------

# DBTITLE 1,Run the workers in order
started_at, started = utc_now(), time.monotonic()
outcomes = {}
for position, worker in enumerate(workers):
    outcomes[worker["name"]] = run_worker(worker, timeout_seconds, max_retries, retry_backoff_seconds, run_arguments)
    if outcomes[worker["name"]]["status"] != SUCCEEDED:
        for later in workers[position + 1:]:
            outcomes[later["name"]] = skipped_outcome(later, f"not run: {worker['name']} {outcomes[worker['name']]['status']}")
        break

# COMMAND ----------

# DBTITLE 1,Summary
summary = build_summary(
    "sequential",
    workers,
    outcomes,
    run_id,
    started_at,
    started,
    {"order_source": "declared", "dispatch_order": [worker["name"] for worker in workers]},
)
finish(summary)
