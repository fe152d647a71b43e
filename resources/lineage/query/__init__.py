"""The read side of lineage: trace and impact queries, listings, text formatting, the asset graph, OpenLineage export."""
