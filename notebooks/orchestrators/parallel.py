# Databricks notebook source
# MAGIC %md
# MAGIC # Parallel orchestration
# MAGIC
# MAGIC Runs the work items concurrently on this cluster: each item is a notebook and its arguments, at most
# MAGIC `max_workers` `dbutils.notebook.run` calls in flight, each in a thread of a `ThreadPoolExecutor`. The
# MAGIC items are the job parameter `items` when given (a JSON array), else the rows of the rendered work-items
# MAGIC query when there is one, else the rendered items; all are checked before any item starts.
# MAGIC Items are dispatched longest expected first (from the wall times in the run log for the same notebook
# MAGIC and arguments, else for the notebook, else the configured estimates), so that a long item never starts
# MAGIC last while the other slots sit idle. A failed item is retried after a backoff that it waits out in a
# MAGIC queue, not in a slot; a timed-out one is not retried, since its child run may still be running. Every
# MAGIC attempt is appended to the run log (created if missing) with its wall time, and the run fails at the
# MAGIC end if any item did not succeed, after printing the summary.
# MAGIC
# MAGIC Rendered by Pulumi from `notebooks/orchestrators/parallel.py`: change the template or the stack's
# MAGIC config, not this notebook. Job parameters (`items`, `workers`, `max_workers`, `timeout_seconds`,
# MAGIC `max_retries`, `retry_backoff_seconds`) override the rendered values for one run.

# COMMAND ----------

# MAGIC %run ../lib/orchestration

# COMMAND ----------

# DBTITLE 1,Rendered by Pulumi from the stack's configuration
ITEMS = {{ items }}
COMMON_ARGUMENTS = {{ common_arguments }}
NOTEBOOK_FOLDER = {{ notebook_folder }}
KNOWN_NOTEBOOKS = {{ known_notebooks }}
WORK_ITEMS_QUERY = {{ work_items_query }}
MAX_WORKERS = {{ max_workers }}
MAX_WORKERS_LIMIT = {{ max_workers_limit }}
TIMEOUT_SECONDS = {{ timeout_seconds }}
MAX_RETRIES = {{ max_retries }}
RETRY_BACKOFF_SECONDS = {{ retry_backoff_seconds }}
RUN_LOG_TABLE = {{ run_log_table }}
HISTORY_RUNS = {{ history_runs }}

# COMMAND ----------

# DBTITLE 1,Job parameters and work items
max_workers = int_parameter("max_workers", MAX_WORKERS, 1, MAX_WORKERS_LIMIT)
parameters = run_parameters(
    "parallel", ITEMS, COMMON_ARGUMENTS, NOTEBOOK_FOLDER, KNOWN_NOTEBOOKS, WORK_ITEMS_QUERY, TIMEOUT_SECONDS, MAX_RETRIES, RETRY_BACKOFF_SECONDS
)
prepare_run_log(RUN_LOG_TABLE)

# COMMAND ----------

# DBTITLE 1,Fan out
started_at, started = utc_now(), time.monotonic()
history = read_run_log_history(RUN_LOG_TABLE, parameters.items, HISTORY_RUNS)
dispatch, order_source, estimates, estimate_sources = plan_dispatch(parameters.items, history, HISTORY_RUNS)
log(f"Dispatching {len(dispatch)} items ({parameters.items_source}) on {max_workers} slots, order from {order_source}: " + ", ".join(
    f"{item['name']} (~{estimates[item['name']]:.0f}s, {estimate_sources[item['name']]})" if item["name"] in estimates else item["name"]
    for item in dispatch
))
outcomes = run_items(dispatch, parameters, slots=max_workers)

# COMMAND ----------

# DBTITLE 1,Run log and summary
append_to_run_log(RUN_LOG_TABLE, parameters, outcomes)
summary = build_summary(
    parameters,
    outcomes,
    started_at,
    started,
    {
        "max_workers": max_workers,
        "order_source": order_source,
        "dispatch_order": [item["name"] for item in dispatch],
        "expected_seconds": estimates,
        "estimate_sources": estimate_sources,
    },
)
finish(summary)
