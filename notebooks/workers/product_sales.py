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

summary = run_worker("product_sales")
dbutils.notebook.exit(json.dumps(summary))
