# Databricks notebook source
# MAGIC %md
# MAGIC # Order status
# MAGIC
# MAGIC The latest status of every order (the input keeps each version of an order; the newest
# MAGIC `updated_at` wins), MERGEd into `order_status` on `order_id`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

COLUMNS = [
    ("order_id", "BIGINT"),
    ("customer_id", "STRING"),
    ("status", "STRING"),
    ("order_ts", "TIMESTAMP"),
    ("status_updated_at", "TIMESTAMP"),
]

SOURCE_SQL = """
SELECT order_id, customer_id, status, order_ts, updated_at AS status_updated_at
FROM {orders}
"""

# COMMAND ----------

summary = run_merge_worker("order_status", "order_status", COLUMNS, ["order_id"], SOURCE_SQL)
dbutils.notebook.exit(json.dumps(summary))
