"""Exporting certwatch's state: Prometheus metrics at scrape time, the HTTP endpoints."""
