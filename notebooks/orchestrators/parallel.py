# Databricks notebook source
# MAGIC %md
# MAGIC # Parallel orchestration
# MAGIC
# MAGIC Runs the ETL worker notebooks concurrently on this cluster with a bounded `ThreadPoolExecutor`:
# MAGIC at most `max_workers` notebook runs are in flight, each with `dbutils.notebook.run`.
# MAGIC Workers are dispatched longest expected first (from the run log, else the configured estimates),
# MAGIC so that a long worker never starts last while the other slots sit idle.
# MAGIC Every worker's outcome is collected, failures are retried with backoff, and the run fails at the
# MAGIC end if any worker did not succeed, after printing the summary.
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
from concurrent.futures import ThreadPoolExecutor, as_completed

max_workers = int_parameter("max_workers", MAX_WORKERS, 1, MAX_WORKERS_LIMIT)
parameters = run_parameters("parallel", WORKERS, TIMEOUT_SECONDS, MAX_RETRIES, RETRY_BACKOFF_SECONDS)

# COMMAND ----------

# DBTITLE 1,Fan out
started_at, started = utc_now(), time.monotonic()
history = read_run_log_history(RUN_LOG_TABLE, [worker["name"] for worker in parameters.workers], HISTORY_RUNS)
dispatch, order_source, estimates = plan_dispatch(parameters.workers, history)
log(f"Dispatching {len(dispatch)} workers on {max_workers} slots, order from {order_source}: " + ", ".join(
    f"{worker['name']} (~{estimates[worker['name']]:.0f}s)" if worker["name"] in estimates else worker["name"] for worker in dispatch
))

outcomes = {}
# The executor's queue is first-in first-out, so submitting in dispatch order is dispatching in that order.
with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="worker") as pool:
    futures = {pool.submit(run_worker, worker, parameters): worker for worker in dispatch}
    for future in as_completed(futures):
        worker = futures[future]
        try:
            outcomes[worker["name"]] = future.result()
        except Exception as failure:
            outcomes[worker["name"]] = crashed_outcome(worker, failure)
        log(f"{len(outcomes)}/{len(dispatch)} workers finished")

# COMMAND ----------

# DBTITLE 1,Summary
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
    },
)
finish(summary)
