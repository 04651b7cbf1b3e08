# Databricks notebook source
# MAGIC %md
# MAGIC # For each: one worker
# MAGIC
# MAGIC The nested task of the For each job's `for_each_task`. A nested task's notebook path is fixed; only its
# MAGIC parameters take the iteration's `{{input}}` (https://learn.microsoft.com/azure/databricks/jobs/for-each).
# MAGIC So every iteration runs this notebook with `worker` = `{{input}}` (a worker's name), and it runs that
# MAGIC worker's MERGE in-process with `run_worker`, exactly as the worker's own notebook does: one execution
# MAGIC context per worker run, no `dbutils.notebook.run` (which would hold a second one). The job's parameters
# MAGIC reach it as widgets; `orchestration_mode` is `for_each`, `attempt` the task's retry count plus one.

# COMMAND ----------

# MAGIC %run ../lib/etl

# COMMAND ----------

dbutils.widgets.text("worker", "")
summary = run_worker(widget("worker"))
dbutils.notebook.exit(json.dumps(summary))
