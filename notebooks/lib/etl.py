# Databricks notebook source
# MAGIC %md
# MAGIC # ETL worker helpers
# MAGIC
# MAGIC Shared by the four worker notebooks (`%run ../lib/etl`) and setup. A worker declares its output columns,
# MAGIC its merge key and a SQL query over the deduplicated input; `run_merge_worker` then
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
    appends the attempt's wall time (`wall_seconds`, start-up included) in a row `recorded_by` orchestrator."""
    spark.sql(
        f"""
        INSERT INTO {table_name(widget("run_log_table"))}
            (notebook, orchestration_mode, run_id, attempt, started_at, finished_at, duration_seconds, rows_merged, status, error, recorded_by)
        VALUES (:notebook, :mode, :run_id, :attempt, CAST(:started_at AS TIMESTAMP), CAST(:finished_at AS TIMESTAMP),
                :duration, :rows_merged, :status, :error, 'worker')
        """,
        args={
            "notebook": worker,
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
