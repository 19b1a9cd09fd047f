"""`make bench`: product timings beside plain DuckDB doing the same work in the same run."""
