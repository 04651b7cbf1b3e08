# Databricks notebook source
# MAGIC %md
# MAGIC # Parallel orchestration
# MAGIC
# MAGIC Runs the ETL worker notebooks concurrently on this cluster: at most `max_workers`
# MAGIC `dbutils.notebook.run` calls in flight, each in a thread of a `ThreadPoolExecutor`.
# MAGIC Workers are dispatched longest expected first (from the wall times in the run log, else the
# MAGIC configured estimates), so that a long worker never starts last while the other slots sit idle.
# MAGIC A failed worker is retried after a backoff that it waits out in a queue, not in a slot; a timed-out
# MAGIC one is not retried, since its child run may still be running. Every attempt is appended to the run
# MAGIC log with its wall time, and the run fails at the end if any worker did not succeed, after printing
# MAGIC the summary.
# MAGIC
# MAGIC Rendered by Pulumi from `notebooks/orchestrators/parallel.py`: change the template or the stack's
# MAGIC config, not this notebook. Job parameters (`max_workers`, `timeout_seconds`, `max_retries`,
# MAGIC `retry_backoff_seconds`, `workers`) override the rendered values for one run.

# COMMAND ----------

# MAGIC %run ../lib/orchestration

# COMMAND ----------

# DBTITLE 1,Rendered by Pulumi from the stack's configuration
WORKERS = {{ workers }}
MAX_WORKERS = {{ max_workers }}
MAX_WORKERS_LIMIT = {{ max_workers_limit }}
TIMEOUT_SECONDS = {{ timeout_seconds }}
MAX_RETRIES = {{ max_retries }}
RETRY_BACKOFF_SECONDS = {{ retry_backoff_seconds }}
RUN_LOG_TABLE = {{ run_log_table }}
HISTORY_RUNS = {{ history_runs }}

# COMMAND ----------

# DBTITLE 1,Job parameters
max_workers = int_parameter("max_workers", MAX_WORKERS, 1, MAX_WORKERS_LIMIT)
parameters = run_parameters("parallel", WORKERS, TIMEOUT_SECONDS, MAX_RETRIES, RETRY_BACKOFF_SECONDS)

# COMMAND ----------

# DBTITLE 1,Fan out
started_at, started = utc_now(), time.monotonic()
history = read_run_log_history(RUN_LOG_TABLE, [worker["name"] for worker in parameters.workers], HISTORY_RUNS)
dispatch, order_source, estimates, estimate_sources = plan_dispatch(parameters.workers, history)
log(f"Dispatching {len(dispatch)} workers on {max_workers} slots, order from {order_source}: " + ", ".join(
    f"{worker['name']} (~{estimates[worker['name']]:.0f}s, {estimate_sources[worker['name']]})" if worker["name"] in estimates else worker["name"]
    for worker in dispatch
))
outcomes = run_workers(dispatch, parameters, slots=max_workers)

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
        "dispatch_order": [worker["name"] for worker in dispatch],
        "expected_seconds": estimates,
        "estimate_sources": estimate_sources,
    },
)
finish(summary)
