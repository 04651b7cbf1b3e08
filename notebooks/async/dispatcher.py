# Databricks notebook source
# MAGIC %md
# MAGIC # Asynchronous fan-out: dispatcher
# MAGIC
# MAGIC One pass over the state table per run. The dispatcher job starts when the state table or the run
# MAGIC log is updated (a table update trigger: a producer's INSERT, a worker logging its end, a pass's own
# MAGIC writes), and a scheduled safety-net job runs it every few minutes whatever happened. A pass takes
# MAGIC the lease, marks finished runs `DONE` or `FAILED` (appending a row to the run log), cancels runs
# MAGIC past their deadline (`TIMED_OUT`), counts what is active, submits entries to their worker job up
# MAGIC to the cap, gives the lease back and prints what it did. Nothing waits for a worker.
# MAGIC
# MAGIC There is one worker job per notebook among the stack's work items; an entry's `worker` names it by
# MAGIC the notebook's last path segment (`daily_sales`, `ingest_table`) and its `parameters` may set the
# MAGIC common arguments and the arguments that notebook's items use.
# MAGIC
# MAGIC Producers add work with a plain INSERT into the state table, for example:
# MAGIC ```sql
# MAGIC INSERT INTO main.notebook_orchestration_dev.etl_work_queue
# MAGIC   (entry_key, worker, parameters, status, attempts, created_at, updated_at)
# MAGIC VALUES ('daily_sales/2026-11-21', 'daily_sales', '{"input_table": "orders"}', 'PENDING', 0, current_timestamp(), current_timestamp())
# MAGIC ```
# MAGIC
# MAGIC Rendered by Pulumi from `notebooks/async/dispatcher.py`.

# COMMAND ----------

# MAGIC %run ../lib/dispatch

# COMMAND ----------

# DBTITLE 1,Rendered by Pulumi from the stack's configuration
# Each worker job by its key: its id, the notebook that is its one task, and the parameters an entry may set.
WORKER_JOBS = {{ worker_jobs }}
# The shared cluster whose execution contexts are counted; None when every job has its own job cluster.
CLUSTER_ID = {{ cluster_id }}
CONTEXT_LIMIT = {{ context_limit }}
WORKSPACE_TASK_RUN_LIMIT = {{ workspace_task_run_limit }}
STATE_TABLE = {{ state_table }}
LEASE_TABLE = {{ lease_table }}
RUN_LOG_TABLE = {{ run_log_table }}
CONCURRENCY_CAP = {{ concurrency_cap }}
MAX_ATTEMPTS = {{ max_attempts }}
DEADLINE_SECONDS = {{ deadline_seconds }}
LEASE_SECONDS = {{ lease_seconds }}
API_TOKEN_SOURCE = {{ api_token_source }}
SECRET_SCOPE = {{ secret_scope }}
API_TOKEN_SECRET = {{ api_token_secret }}
WORKSPACE_URL = {{ workspace_url }}

# COMMAND ----------

# DBTITLE 1,Credentials
def notebook_credentials():
    """The notebook's own identity: the job's run-as user or service principal, nothing to store or rotate.

    The Databricks SDK's runtime authentication works in every access mode; older runtimes without
    the SDK fall back to the notebook context's token.
    """
    try:
        from databricks.sdk import WorkspaceClient
    except ImportError:
        context = dbutils.notebook.entry_point.getDbutils().notebook().getContext()
        return context.apiUrl().get(), context.apiToken().get()
    config = WorkspaceClient().config
    return config.host, config.authenticate()["Authorization"].split(" ", 1)[1]


if API_TOKEN_SOURCE == "secretScope":
    # A service principal's token kept in Key Vault, read through the secret scope.
    api_host, api_token = WORKSPACE_URL, dbutils.secrets.get(SECRET_SCOPE, API_TOKEN_SECRET)
else:
    api_host, api_token = notebook_credentials()

dbutils.widgets.text("run_id", "")
# The job run's id names the lease holder; an interactive run gets a random one.
lease_holder = f"run {dbutils.widgets.get('run_id').strip()}" if dbutils.widgets.get("run_id").strip() else f"interactive {new_submission_token()[:12]}"


def log_runs(ended):
    """Append the runs that ended this pass (finished, lost or cancelled) to the run log in one INSERT.

    Each row names the job's notebook, the item as the orchestrators would name the same notebook and
    arguments, and the entry's parameters as canonical JSON, so history is keyed alike in every mode.
    """
    rows, args = [], {}
    for i, entry in enumerate(ended):
        run, status, attempts = entry["run"], entry["status"], entry["attempts"]
        start, end = run.get("start_time"), run.get("end_time")
        rows.append(f"(:notebook{i}, :item{i}, CAST(:arguments{i} AS STRING), 'async', :run_id{i}, :attempt{i}, CAST(:started_at{i} AS TIMESTAMP), "
                    f"CAST(:finished_at{i} AS TIMESTAMP), CAST(:duration{i} AS DOUBLE), NULL, :status{i}, CAST(:error{i} AS STRING))")
        args.update({
            f"notebook{i}": entry["notebook"],
            f"item{i}": entry["item"],
            f"arguments{i}": entry["arguments"],
            f"run_id{i}": str(run.get("run_id", "")),
            f"attempt{i}": int(attempts),
            f"started_at{i}": datetime.fromtimestamp(start / 1000, timezone.utc).isoformat() if start else None,
            f"finished_at{i}": datetime.fromtimestamp(end / 1000, timezone.utc).isoformat() if end else None,
            f"duration{i}": (run.get("run_duration") or 0) / 1000,
            f"status{i}": {DONE: "SUCCEEDED", TIMED_OUT: "TIMED_OUT"}.get(status, "FAILED"),
            f"error{i}": entry["error"],
        })
    spark.sql(
        f"""
        INSERT INTO {RUN_LOG_TABLE}
            (notebook, item, arguments, orchestration_mode, run_id, attempt, started_at, finished_at, duration_seconds, rows_merged, status, error)
        VALUES {", ".join(rows)}
        """,
        args=args,
    )

# COMMAND ----------

# DBTITLE 1,One pass
report = run_pass(
    DeltaStateStore(spark, STATE_TABLE),
    JobsApiClient(api_host, api_token),
    DeltaLease(spark, LEASE_TABLE, lease_holder, LEASE_SECONDS),
    {
        "worker_jobs": {key: {"job_id": int(job["job_id"]), "notebook": job["notebook"], "parameters": job["parameters"]} for key, job in WORKER_JOBS.items()},
        "cap": CONCURRENCY_CAP,
        "max_attempts": MAX_ATTEMPTS,
        "deadline_seconds": DEADLINE_SECONDS,
        "cluster_id": CLUSTER_ID,
        "context_limit": CONTEXT_LIMIT,
        "workspace_task_run_limit": WORKSPACE_TASK_RUN_LIMIT,
    },
    log_runs=log_runs,
)
dbutils.notebook.exit(json.dumps(report))
