"""What the job reads, and which entries it will not: the per-entry rules (image or not, label,
split, the reason an entry is skipped), the listing of a folder or S3 prefix as a DataFrame built
by the workers, an input given as a list of files (or an S3 Inventory), and image packs.
"""
