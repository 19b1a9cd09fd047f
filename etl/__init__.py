"""The ETL: the only writer of the warehouse.

Extract, validate, stage, upsert, aggregate, publish.
"""
