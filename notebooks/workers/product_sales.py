# Databricks notebook source
# MAGIC %md
# MAGIC # Product sales
# MAGIC
# MAGIC Per product: units sold, revenue, average unit price (NULL when no unit was sold: ANSI mode, the
# MAGIC default from Spark 4.0, fails a division by zero) and distinct buyers, cancelled orders excluded,
# MAGIC MERGEd into `product_sales` on `product_id`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

COLUMNS = [
    ("product_id", "STRING"),
    ("units", "BIGINT"),
    ("revenue", "DECIMAL(18,2)"),
    ("average_unit_price", "DECIMAL(10,2)"),
    ("buyers", "BIGINT"),
]

SOURCE_SQL = """
SELECT product_id,
       CAST(SUM(quantity) AS BIGINT) AS units,
       CAST(SUM(quantity * unit_price) AS DECIMAL(18,2)) AS revenue,
       CAST(SUM(quantity * unit_price) / NULLIF(SUM(quantity), 0) AS DECIMAL(10,2)) AS average_unit_price,
       COUNT(DISTINCT customer_id) AS buyers
FROM {orders}
WHERE status <> 'CANCELLED'
GROUP BY product_id
"""

# COMMAND ----------

summary = run_merge_worker("product_sales", "product_sales", COLUMNS, ["product_id"], SOURCE_SQL)
dbutils.notebook.exit(json.dumps(summary))
