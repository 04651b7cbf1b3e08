# Databricks notebook source
# MAGIC %md
# MAGIC # Sequential orchestration
# MAGIC
# MAGIC Runs the work items one after another with `dbutils.notebook.run`, in their declared order, each
# MAGIC with a timeout and its arguments. The items are the job parameter `items` when given (a JSON array),
# MAGIC else the rows of the rendered work-items query when there is one, else the rendered items; all are
# MAGIC checked before any item starts. A failed item is retried after a backoff (a timed-out one is not:
# MAGIC its child run may still be running); if it still fails, the run stops there, reports what ran and
# MAGIC what was skipped, and fails. Every attempt is appended to the run log (created if missing) with its
# MAGIC wall time.
# MAGIC
# MAGIC Rendered by Pulumi from `notebooks/orchestrators/sequential.py`: change the template or the stack's
# MAGIC config, not this notebook. Job parameters (`items`, `workers`, `timeout_seconds`, `max_retries`,
# MAGIC `retry_backoff_seconds`) override the rendered values for one run.

# COMMAND ----------

# MAGIC %run ../lib/orchestration

# COMMAND ----------

# DBTITLE 1,Rendered by Pulumi from the stack's configuration
ITEMS = {{ items }}
COMMON_ARGUMENTS = {{ common_arguments }}
NOTEBOOK_FOLDER = {{ notebook_folder }}
KNOWN_NOTEBOOKS = {{ known_notebooks }}
WORK_ITEMS_QUERY = {{ work_items_query }}
TIMEOUT_SECONDS = {{ timeout_seconds }}
MAX_RETRIES = {{ max_retries }}
RETRY_BACKOFF_SECONDS = {{ retry_backoff_seconds }}
RUN_LOG_TABLE = {{ run_log_table }}

# COMMAND ----------

# DBTITLE 1,Job parameters and work items
parameters = run_parameters(
    "sequential", ITEMS, COMMON_ARGUMENTS, NOTEBOOK_FOLDER, KNOWN_NOTEBOOKS, WORK_ITEMS_QUERY, TIMEOUT_SECONDS, MAX_RETRIES, RETRY_BACKOFF_SECONDS
)
prepare_run_log(RUN_LOG_TABLE)

# COMMAND ----------

# DBTITLE 1,Run the items in order
started_at, started = utc_now(), time.monotonic()
log(f"Running {len(parameters.items)} items ({parameters.items_source}) in declared order: " + ", ".join(item["name"] for item in parameters.items))
outcomes = run_items(parameters.items, parameters, slots=1, in_order=True)

# COMMAND ----------

# DBTITLE 1,Run log and summary
append_to_run_log(RUN_LOG_TABLE, parameters, outcomes)
summary = build_summary(
    parameters,
    outcomes,
    started_at,
    started,
    {"order_source": "declared", "dispatch_order": [item["name"] for item in parameters.items]},
)
finish(summary)
