# Databricks notebook source
# MAGIC %md
# MAGIC # ETL worker helpers
# MAGIC
# MAGIC Shared by the four worker notebooks and the For each entry notebook (`%run ../lib/etl`) and setup. A worker
# MAGIC declares its output columns, its merge key and a SQL query over the deduplicated input (`WORKER_DEFINITIONS`,
# MAGIC at the end); `run_merge_worker` then
# MAGIC 1. creates the output Delta table if it is missing,
# MAGIC 2. MERGEs the query's rows into it on the key: inserts new keys, updates only rows whose values
# MAGIC    changed and deletes the rows whose key is no longer in the query's result (a day whose orders
# MAGIC    were all cancelled, a customer whose only order was cancelled), so the table always equals a
# MAGIC    recomputation from scratch, and a re-run over the same input merges nothing,
# MAGIC 3. appends one row to the run-log table (also on failure), and
# MAGIC 4. returns a JSON summary with `dbutils.notebook.exit`.
# MAGIC
# MAGIC Parameters arrive as widgets, set by the orchestrators' `dbutils.notebook.run` arguments.

# COMMAND ----------

import json
import time
from datetime import datetime, timezone

for _name, _default in [
    ("catalog", "main"),
    ("schema", "default"),
    ("input_table", "orders"),
    ("run_log_table", "etl_run_log"),
    ("orchestration_mode", "manual"),
    ("run_id", ""),
    ("attempt", "1"),
    ("work_item", ""),
]:
    dbutils.widgets.text(_name, _default)


def widget(name):
    return dbutils.widgets.get(name).strip()


def quote_identifier(name):
    return "`" + name.replace("`", "``") + "`"


def table_name(table):
    """Fully qualified, quoted name of a table in this environment's catalog and schema."""
    return ".".join(quote_identifier(part) for part in (widget("catalog"), widget("schema"), table))


# The input keeps every version of an order; the latest version (by updated_at) is the order, however
# late it arrives. Versions with the same updated_at are ordered on their other columns, so that every
# run picks the same one and a re-run merges nothing.
LATEST_ORDERS_SQL = """(
    SELECT order_id, customer_id, product_id, order_ts, status, quantity, unit_price, updated_at
    FROM (
        SELECT *, ROW_NUMBER() OVER (
            PARTITION BY order_id
            ORDER BY updated_at DESC NULLS LAST, status DESC NULLS LAST, quantity DESC NULLS LAST, unit_price DESC NULLS LAST,
                     customer_id DESC NULLS LAST, product_id DESC NULLS LAST, order_ts DESC NULLS LAST
        ) AS version_rank
        FROM {input_table}
    )
    WHERE version_rank = 1
)"""


def merge_statement(target, source_sql, key_columns, value_columns):
    """MERGE that makes `target` equal to the source's rows, touching only the rows that differ.

    Inserts new keys, updates a row only when one of its values changed (`<=>` treats NULLs as equal)
    and deletes the rows whose key the source no longer has (Delta's WHEN NOT MATCHED BY SOURCE,
    Databricks Runtime 12.2 LTS and above). Every worker's source is its complete output, computed
    from the whole input table, so the deletion has no condition.
    """
    on = " AND ".join(f"target.{quote_identifier(c)} = source.{quote_identifier(c)}" for c in key_columns)
    changed = " OR ".join(f"NOT (target.{quote_identifier(c)} <=> source.{quote_identifier(c)})" for c in value_columns)
    return (
        f"MERGE INTO {target} AS target\n"
        f"USING ({source_sql}) AS source\n"
        f"ON {on}\n"
        f"WHEN MATCHED AND ({changed}) THEN UPDATE SET *\n"
        f"WHEN NOT MATCHED THEN INSERT *\n"
        f"WHEN NOT MATCHED BY SOURCE THEN DELETE"
    )


def append_run_log(worker, started_at, finished_at, duration, rows_merged, status, error):
    """The worker's own row: `duration` is its SQL time (create and MERGE). The orchestrator that called it
    appends the attempt's wall time (`wall_seconds`, start-up included) in a row `recorded_by` orchestrator.
    The row names the worker's notebook as the orchestrators do (`workers/<name>`) and the work item it ran
    as (the `work_item` widget the orchestrators set, else the worker's name); its arguments are the
    orchestrator's to record."""
    spark.sql(
        f"""
        INSERT INTO {table_name(widget("run_log_table"))}
            (notebook, orchestration_mode, run_id, attempt, started_at, finished_at, duration_seconds, rows_merged, status, error, recorded_by,
             item, arguments)
        VALUES (:notebook, :mode, :run_id, :attempt, CAST(:started_at AS TIMESTAMP), CAST(:finished_at AS TIMESTAMP),
                :duration, :rows_merged, :status, :error, 'worker', :item, NULL)
        """,
        args={
            "notebook": f"workers/{worker}",
            "item": widget("work_item") or worker,
            "mode": widget("orchestration_mode"),
            "run_id": widget("run_id"),
            "attempt": int(widget("attempt") or "1"),
            "started_at": started_at.isoformat(),
            "finished_at": finished_at.isoformat(),
            "duration": round(duration, 3),
            "rows_merged": rows_merged,
            "status": status,
            "error": error,
        },
    )


def run_merge_worker(worker, output_table, columns, key_columns, source_sql):
    """Create, merge, log; returns the summary the notebook exits with. A failure is logged, then re-raised."""
    target = table_name(output_table)
    source = source_sql.format(orders=LATEST_ORDERS_SQL.format(input_table=table_name(widget("input_table"))))
    value_columns = [name for name, _ in columns if name not in key_columns]
    started_at, started = datetime.now(timezone.utc), time.monotonic()
    try:
        spark.sql(f"CREATE TABLE IF NOT EXISTS {target} ({', '.join(f'{quote_identifier(n)} {t}' for n, t in columns)}) USING DELTA")
        metrics = spark.sql(merge_statement(target, source, key_columns, value_columns)).first()
        rows_merged = int(metrics["num_affected_rows"]) if metrics is not None else 0
    except Exception as failure:
        try:
            append_run_log(worker, started_at, datetime.now(timezone.utc), time.monotonic() - started, 0, "FAILED", f"{type(failure).__name__}: {failure}")
        except Exception as log_failure:  # keep the original failure as the one the run reports
            print(f"Could not append to the run log: {log_failure}")
        raise
    duration = time.monotonic() - started
    append_run_log(worker, started_at, datetime.now(timezone.utc), duration, rows_merged, "SUCCEEDED", None)
    return {
        "worker": worker,
        "status": "SUCCEEDED",
        "output_table": target.replace("`", ""),
        "rows_merged": rows_merged,
        "duration_seconds": round(duration, 3),
        "orchestration_mode": widget("orchestration_mode"),
        "run_id": widget("run_id"),
    }

# COMMAND ----------

# MAGIC %md
# MAGIC ## The workers
# MAGIC
# MAGIC What each worker computes: its output columns, its merge key and its SQL query over the deduplicated
# MAGIC input (`{orders}`). A worker's own notebook (`workers/<name>`, run by the sequential and parallel
# MAGIC orchestrators) and the For each job's entry notebook (`for_each/worker`, told the worker's name by
# MAGIC the iteration's `{{input}}`) both run it with `run_worker(name)`, in their own execution context:
# MAGIC one definition per worker, however it is orchestrated.

# COMMAND ----------


from collections import namedtuple

WorkerDefinition = namedtuple("WorkerDefinition", ["output_table", "columns", "key_columns", "source_sql"])

WORKER_DEFINITIONS = {
    "customer_totals": WorkerDefinition(
        output_table="customer_totals",
        columns=[
            ("customer_id", "STRING"),
            ("order_count", "BIGINT"),
            ("units", "BIGINT"),
            ("revenue", "DECIMAL(18,2)"),
            ("first_order_ts", "TIMESTAMP"),
            ("last_order_ts", "TIMESTAMP"),
        ],
        key_columns=["customer_id"],
        source_sql="""
SELECT customer_id,
       COUNT(*) AS order_count,
       CAST(SUM(quantity) AS BIGINT) AS units,
       CAST(SUM(quantity * unit_price) AS DECIMAL(18,2)) AS revenue,
       MIN(order_ts) AS first_order_ts,
       MAX(order_ts) AS last_order_ts
FROM {orders}
WHERE status <> 'CANCELLED'
GROUP BY customer_id
""",
    ),
    "daily_sales": WorkerDefinition(
        output_table="daily_sales",
        columns=[
            ("order_date", "DATE"),
            ("orders", "BIGINT"),
            ("units", "BIGINT"),
            ("revenue", "DECIMAL(18,2)"),
            ("customers", "BIGINT"),
        ],
        key_columns=["order_date"],
        source_sql="""
SELECT CAST(order_ts AS DATE) AS order_date,
       COUNT(*) AS orders,
       CAST(SUM(quantity) AS BIGINT) AS units,
       CAST(SUM(quantity * unit_price) AS DECIMAL(18,2)) AS revenue,
       COUNT(DISTINCT customer_id) AS customers
FROM {orders}
WHERE status <> 'CANCELLED'
GROUP BY CAST(order_ts AS DATE)
""",
    ),
    "product_sales": WorkerDefinition(
        output_table="product_sales",
        columns=[
            ("product_id", "STRING"),
            ("units", "BIGINT"),
            ("revenue", "DECIMAL(18,2)"),
            ("average_unit_price", "DECIMAL(10,2)"),
            ("buyers", "BIGINT"),
        ],
        key_columns=["product_id"],
        source_sql="""
SELECT product_id,
       CAST(SUM(quantity) AS BIGINT) AS units,
       CAST(SUM(quantity * unit_price) AS DECIMAL(18,2)) AS revenue,
       CAST(SUM(quantity * unit_price) / NULLIF(SUM(quantity), 0) AS DECIMAL(10,2)) AS average_unit_price,
       COUNT(DISTINCT customer_id) AS buyers
FROM {orders}
WHERE status <> 'CANCELLED'
GROUP BY product_id
""",
    ),
    "order_status": WorkerDefinition(
        output_table="order_status",
        columns=[
            ("order_id", "BIGINT"),
            ("customer_id", "STRING"),
            ("status", "STRING"),
            ("order_ts", "TIMESTAMP"),
            ("status_updated_at", "TIMESTAMP"),
        ],
        key_columns=["order_id"],
        source_sql="""
SELECT order_id, customer_id, status, order_ts, updated_at AS status_updated_at
FROM {orders}
""",
    ),
}


def run_worker(name):
    """Run the named worker's MERGE (create, merge, log) and return its summary."""
    if name not in WORKER_DEFINITIONS:
        raise ValueError(f"Unknown worker {name!r}; expected one of {', '.join(WORKER_DEFINITIONS)}")
    definition = WORKER_DEFINITIONS[name]
    return run_merge_worker(name, definition.output_table, definition.columns, definition.key_columns, definition.source_sql)
