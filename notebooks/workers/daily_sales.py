# Databricks notebook source
# MAGIC %md
# MAGIC # Daily sales
# MAGIC
# MAGIC Per calendar day (UTC) of the order time: orders, units, revenue and distinct customers, cancelled
# MAGIC orders excluded, MERGEd into `daily_sales` on `order_date`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

summary = run_worker("daily_sales")
dbutils.notebook.exit(json.dumps(summary))
