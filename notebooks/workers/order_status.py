# Databricks notebook source
# MAGIC %md
# MAGIC # Order status
# MAGIC
# MAGIC The latest status of every order (the input keeps each version of an order; the newest
# MAGIC `updated_at` wins), MERGEd into `order_status` on `order_id`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

summary = run_worker("order_status")
dbutils.notebook.exit(json.dumps(summary))
