"""The stream's own steps: feed polls on a schedule, keyed-state dedup, windowed exactly-once commits."""
