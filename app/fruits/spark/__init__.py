"""The Spark session for every target (local, standalone, Kubernetes) with S3A set up in one place,
and the S3A jars fetched to match pip's pyspark.
"""
