"""Every byte the job reads or writes from Python goes through here: listing a folder or an S3
prefix, reading many files at a time (one GET per object, no HEAD when the listing knows the size),
conditional creates and replaces (the lock, the commit), copies and deletes, on a local disk and on
S3, without the JVM (a Spark Connect client has none). Retries and their counts live here too.
Spark's own tables are read and written by Spark (S3A); nothing above this package opens a file or
talks to S3 itself.
"""
