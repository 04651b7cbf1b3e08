# Databricks notebook source
# MAGIC %md
# MAGIC # Asynchronous fan-out: dispatcher
# MAGIC
# MAGIC Scheduled every few minutes. Each run is one pass over the state table: it marks finished runs
# MAGIC `DONE` or `FAILED` (appending a row to the run log), counts the job runs active in the workspace,
# MAGIC submits `PENDING` entries (and `FAILED` ones with attempts left) to the worker job up to the cap,
# MAGIC and prints what it did. Nothing waits for a worker: a pass takes seconds however long the work.
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
WORKER_JOB_ID = int({{ worker_job_id }})
STATE_TABLE = {{ state_table }}
RUN_LOG_TABLE = {{ run_log_table }}
WORKER_NAMES = {{ worker_names }}
CONCURRENCY_CAP = {{ concurrency_cap }}
MAX_ATTEMPTS = {{ max_attempts }}
API_TOKEN_SOURCE = {{ api_token_source }}
SECRET_SCOPE = {{ secret_scope }}
API_TOKEN_SECRET = {{ api_token_secret }}
WORKSPACE_URL = {{ workspace_url }}

# COMMAND ----------

# DBTITLE 1,Credentials
from datetime import datetime, timezone


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


def log_run(worker, run, status, error, attempts):
    """Append the finished job run to the run log, as the workers do for their own runs."""
    start, end = run.get("start_time"), run.get("end_time")
    spark.sql(
        f"""
        INSERT INTO {RUN_LOG_TABLE}
            (notebook, orchestration_mode, run_id, attempt, started_at, finished_at, duration_seconds, rows_merged, status, error)
        VALUES (:notebook, 'async', :run_id, :attempt, CAST(:started_at AS TIMESTAMP), CAST(:finished_at AS TIMESTAMP),
                :duration, NULL, :status, :error)
        """,
        args={
            "notebook": worker,
            "run_id": str(run.get("run_id", "")),
            "attempt": int(attempts),
            "started_at": datetime.fromtimestamp(start / 1000, timezone.utc).isoformat() if start else None,
            "finished_at": datetime.fromtimestamp(end / 1000, timezone.utc).isoformat() if end else None,
            "duration": (run.get("run_duration") or 0) / 1000,
            "status": "SUCCEEDED" if status == DONE else "FAILED",
            "error": error,
        },
    )

# COMMAND ----------

# DBTITLE 1,One pass
report = run_pass(
    DeltaStateStore(spark, STATE_TABLE),
    JobsApiClient(api_host, api_token),
    WORKER_JOB_ID,
    CONCURRENCY_CAP,
    MAX_ATTEMPTS,
    set(WORKER_NAMES),
    log_run=log_run,
)
dbutils.notebook.exit(json.dumps(report))
