"""Model and dataset card templates and their rendering."""
