# Databricks notebook source
# MAGIC %md
# MAGIC # Customer totals
# MAGIC
# MAGIC Per customer: number of orders, units, revenue (cancelled orders excluded) and the first and last
# MAGIC order time, MERGEd into `customer_totals` on `customer_id`.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

summary = run_worker("customer_totals")
dbutils.notebook.exit(json.dumps(summary))
