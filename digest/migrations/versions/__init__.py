"""The revisions, oldest first: 0001 the first released schema, 0002 the schema before issue
9, 0003 feed leases (issue 9)."""
