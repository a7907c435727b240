"""Scanning file stores (local folders, SMB shares, S3 buckets) with the detection engine."""
