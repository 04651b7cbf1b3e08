# Databricks notebook source
# MAGIC %md
# MAGIC # Daily sales
# MAGIC
# MAGIC Per calendar day (UTC) of the order time: orders, units, revenue and distinct customers, cancelled
# MAGIC orders excluded, MERGEd into `daily_sales` on `order_date`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

COLUMNS = [
    ("order_date", "DATE"),
    ("orders", "BIGINT"),
    ("units", "BIGINT"),
    ("revenue", "DECIMAL(18,2)"),
    ("customers", "BIGINT"),
]

SOURCE_SQL = """
SELECT CAST(order_ts AS DATE) AS order_date,
       COUNT(*) AS orders,
       CAST(SUM(quantity) AS BIGINT) AS units,
       CAST(SUM(quantity * unit_price) AS DECIMAL(18,2)) AS revenue,
       COUNT(DISTINCT customer_id) AS customers
FROM {orders}
WHERE status <> 'CANCELLED'
GROUP BY CAST(order_ts AS DATE)
"""

# COMMAND ----------

summary = run_merge_worker("daily_sales", "daily_sales", COLUMNS, ["order_date"], SOURCE_SQL)
dbutils.notebook.exit(json.dumps(summary))
