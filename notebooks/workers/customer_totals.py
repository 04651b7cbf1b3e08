# Databricks notebook source
# MAGIC %md
# MAGIC # Customer totals
# MAGIC
# MAGIC Per customer: number of orders, units, revenue (cancelled orders excluded) and the first and last
# MAGIC order time, MERGEd into `customer_totals` on `customer_id`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

COLUMNS = [
    ("customer_id", "STRING"),
    ("order_count", "BIGINT"),
    ("units", "BIGINT"),
    ("revenue", "DECIMAL(18,2)"),
    ("first_order_ts", "TIMESTAMP"),
    ("last_order_ts", "TIMESTAMP"),
]

SOURCE_SQL = """
SELECT customer_id,
       COUNT(*) AS order_count,
       CAST(SUM(quantity) AS BIGINT) AS units,
       CAST(SUM(quantity * unit_price) AS DECIMAL(18,2)) AS revenue,
       MIN(order_ts) AS first_order_ts,
       MAX(order_ts) AS last_order_ts
FROM {orders}
WHERE status <> 'CANCELLED'
GROUP BY customer_id
"""

# COMMAND ----------

summary = run_merge_worker("customer_totals", "customer_totals", COLUMNS, ["customer_id"], SOURCE_SQL)
dbutils.notebook.exit(json.dumps(summary))
