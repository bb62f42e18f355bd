"""The read side: delivery reports from the BigQuery table the pop-events subscription writes."""
